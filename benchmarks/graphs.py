"""Graph-building speed: seconds per query on one core.

Prints, as ``name: value unit`` lines, the median seconds per query over the 1ATN and 3C8P
example queries (file loading included) for residue- and atom-level PPI and SRV graphs,
with the core modules (``components`` + ``contact``) and with ``"all"`` modules, followed
by the share of the "all" time each module takes.

Run: ``python benchmarks/graphs.py [--repeats 5]``
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from deeprank_like import ProteinProteinInterfaceQuery, SingleResidueVariantQuery  # noqa: E402
from deeprank_like.features.apply import apply_modules  # noqa: E402
from deeprank_like.features.base import FeatureContext  # noqa: E402
from deeprank_like.features.registry import resolve_modules  # noqa: E402

PDB = Path(__file__).resolve().parents[1] / "tests" / "data" / "pdb"
PSSM = Path(__file__).resolve().parents[1] / "tests" / "data" / "pssm"

# (file, chain) for variant queries (middle residue of the chain) on the same two complexes
SRV_SITES = [("1ATN_1w.pdb", "A"), ("1ATN_1w.pdb", "B"), ("3C8P.pdb", "A"), ("3C8P.pdb", "B")]


def _pssms(name: str, chains: list[str]) -> dict[str, str]:
    stem = name.split("_")[0].split(".")[0]
    return {c: str(PSSM / f"{stem}.{c}.pdb.pssm") for c in chains}


def _ppi(name: str, resolution: str) -> ProteinProteinInterfaceQuery:
    return ProteinProteinInterfaceQuery(
        pdb_path=str(PDB / name), chain_ids=["A", "B"], resolution=resolution,
        pssm_paths=_pssms(name, ["A", "B"]),
    )  # fmt: skip


def _srv_queries(resolution: str) -> list[SingleResidueVariantQuery]:
    from deeprank_like.structure import load_structure

    out = []
    for name, chain in SRV_SITES:
        s = load_structure(PDB / name)
        residues = [
            i
            for i in range(s.num_residues)
            if s.residue_chain_ids[i] == chain and s.residue_aa[i] >= 0
        ]
        res = residues[len(residues) // 2]
        out.append(
            SingleResidueVariantQuery(
                pdb_path=str(PDB / name), chain_ids=chain,
                variant_residue_number=int(s.residue_numbers[res]),
                insertion_code=str(s.residue_icodes[res]),
                wildtype_amino_acid=str(s.residue_names[res]), variant_amino_acid="ALA",
                resolution=resolution, pssm_paths=_pssms(name, ["A", "B"]),
            )
        )  # fmt: skip
    return out


def queries(kind: str, resolution: str) -> list:
    """The benchmark queries of one kind and resolution."""
    if kind == "ppi":
        return [_ppi(n, resolution) for n in ("1ATN_1w.pdb", "1ATN_2w.pdb", "3C8P.pdb")]
    return _srv_queries(resolution)


def median_seconds(qs: list, modules, repeats: int) -> float:
    """Median wall time of ``query.build(modules)`` (structure loading included)."""
    for q in qs:  # warm-up: imports, force-field tables
        q.build(modules)
    times = []
    for _ in range(repeats):
        for q in qs:
            t0 = time.perf_counter()
            q.build(modules)
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def module_shares(qs: list, repeats: int) -> dict[str, float]:
    """Seconds spent per stage (load, skeleton, each module) summed over the queries."""
    mods, _ = resolve_modules("all")
    totals: dict[str, float] = {"load": 0.0, "skeleton": 0.0}
    for _ in range(repeats):
        for q in qs:
            t0 = time.perf_counter()
            s = q.load_structure()
            t1 = time.perf_counter()
            g = q._build_skeleton(s)
            g.metadata["query"] = q.to_dict()
            totals["load"] += t1 - t0
            totals["skeleton"] += time.perf_counter() - t1
            ctx = FeatureContext(structure=s, graph=g, query=q)
            for m in mods:
                t = time.perf_counter()
                apply_modules(ctx, [m], skip_inapplicable=True)
                totals[m.name] = totals.get(m.name, 0.0) + time.perf_counter() - t
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for kind in ("ppi", "srv"):
        for resolution in ("residue", "atom"):
            qs = queries(kind, resolution)
            core = median_seconds(qs, ["components", "contact"], args.repeats)
            print(f"{kind}_{resolution}_core_s_per_query: {core:.4f} s")
            full = median_seconds(qs, "all", args.repeats)
            print(f"{kind}_{resolution}_all_s_per_query: {full:.4f} s")
            totals = module_shares(qs, max(1, args.repeats // 2))
            total = sum(totals.values())
            for name, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
                print(f"{kind}_{resolution}_share_{name}: {100 * seconds / total:.1f} %")


if __name__ == "__main__":
    main()
