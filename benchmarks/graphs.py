"""Graph-building speed: seconds per query and milliseconds per module, on one core.

Prints ``name: value unit`` lines:

* ``<kind>_<resolution>_core_s_per_query`` / ``..._all_s_per_query``: median seconds per query
  over the 1ATN and 3C8P example queries (file loading included) for residue- and atom-level
  PPI and SRV graphs, with the core modules (``components`` + ``contact``) and with ``"all"``
  modules. Every query is *cold*: the per-structure cache (``deeprank_like.features.cache``,
  when this version has it) is off, so nothing is reused between queries.
* ``<kind>_<resolution>_module_ms_<stage>``: mean milliseconds per query of each stage of an
  ``"all"`` build (``load``: parsing the file; ``skeleton``: nodes and edges; then one line per
  feature module), cold; ``..._share_<stage>`` is the same as a share of the sum.
* ``small_<resolution>_all_s_per_query``: the small 3C8P PPI query alone (fixed costs), and
  ``small_<resolution>_module_ms_<stage>``: its milliseconds per stage.
* ``variant_scan_*``: a saturation scan of one protein (``--scan-positions`` positions of chain A
  of 1ATN_1w × the 19 other amino acids, residue graphs, all modules): seconds per query
  processed one by one without reuse (``cold``), and with the per-structure cache on, as one
  worker processing the scan does (``warm``), and their ratio.

Run: ``python benchmarks/graphs.py [--repeats 5] [--only ppi_residue,scan] [--clock cpu]``
(``--clock cpu``: CPU seconds of this process instead of wall seconds, steadier on a busy
machine). To compare two versions on the same machine state, run this file with ``PYTHONPATH``
pointing at the other version's source tree (it works without the cache module, measuring
everything cold).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from deeprank_like import ProteinProteinInterfaceQuery, SingleResidueVariantQuery  # noqa: E402
from deeprank_like.domain.aminoacids import THREE_LETTER  # noqa: E402
from deeprank_like.features.apply import apply_modules  # noqa: E402
from deeprank_like.features.base import FeatureContext  # noqa: E402
from deeprank_like.features.registry import resolve_modules  # noqa: E402

try:  # absent in versions before the per-structure cache
    from deeprank_like.features import cache as structure_cache
except ImportError:  # pragma: no cover - older versions
    structure_cache = None

PDB = Path(__file__).resolve().parents[1] / "tests" / "data" / "pdb"
PSSM = Path(__file__).resolve().parents[1] / "tests" / "data" / "pssm"

# (file, chain) for variant queries (middle residue of the chain) on the same two complexes
SRV_SITES = [("1ATN_1w.pdb", "A"), ("1ATN_1w.pdb", "B"), ("3C8P.pdb", "A"), ("3C8P.pdb", "B")]


#: The clock of every measurement: ``time.perf_counter`` (wall, default) or
#: ``time.process_time`` (CPU seconds of this process, ``--clock cpu``: steadier on a busy machine).
_clock = time.perf_counter


def cold():
    """Context in which no per-structure result is reused between queries."""
    if structure_cache is None:
        return contextlib.nullcontext()
    return structure_cache.disabled()


def warm():
    """Context with a fresh, enabled per-structure cache (the worker default)."""
    if structure_cache is None:
        return contextlib.nullcontext()
    structure_cache.clear()
    return structure_cache.enabled()


def _pssms(name: str, chains: list[str]) -> dict[str, str]:
    stem = name.split("_")[0].split(".")[0]
    return {c: str(PSSM / f"{stem}.{c}.pdb.pssm") for c in chains}


def _ppi(name: str, resolution: str) -> ProteinProteinInterfaceQuery:
    return ProteinProteinInterfaceQuery(
        pdb_path=str(PDB / name), chain_ids=["A", "B"], resolution=resolution,
        pssm_paths=_pssms(name, ["A", "B"]),
    )  # fmt: skip


def _chain_residues(name: str, chain: str) -> tuple[object, list[int]]:
    from deeprank_like.structure import load_structure

    s = load_structure(PDB / name)
    residues = [
        i for i in range(s.num_residues) if s.residue_chain_ids[i] == chain and s.residue_aa[i] >= 0
    ]
    return s, residues


def _srv(s, name: str, chain: str, res: int, variant: str, resolution: str):
    return SingleResidueVariantQuery(
        pdb_path=str(PDB / name), chain_ids=chain,
        variant_residue_number=int(s.residue_numbers[res]),
        insertion_code=str(s.residue_icodes[res]),
        wildtype_amino_acid=str(s.residue_names[res]), variant_amino_acid=variant,
        resolution=resolution, pssm_paths=_pssms(name, ["A", "B"]),
    )  # fmt: skip


def _srv_queries(resolution: str) -> list[SingleResidueVariantQuery]:
    out = []
    for name, chain in SRV_SITES:
        s, residues = _chain_residues(name, chain)
        res = residues[len(residues) // 2]
        variant = "ALA" if s.residue_names[res] != "ALA" else "GLY"
        out.append(_srv(s, name, chain, res, variant, resolution))
    return out


def scan_queries(positions: int) -> list[SingleResidueVariantQuery]:
    """``positions`` evenly spaced residues of 1ATN_1w chain A × the 19 other amino acids."""
    name = "1ATN_1w.pdb"
    s, residues = _chain_residues(name, "A")
    picks = [residues[(k + 1) * len(residues) // (positions + 1)] for k in range(positions)]
    out = []
    for res in picks:
        for variant in THREE_LETTER:
            if variant != s.residue_names[res]:
                out.append(_srv(s, name, "A", res, variant, "residue"))
    return out


def queries(kind: str, resolution: str) -> list:
    """The benchmark queries of one kind and resolution."""
    if kind == "ppi":
        return [_ppi(n, resolution) for n in ("1ATN_1w.pdb", "1ATN_2w.pdb", "3C8P.pdb")]
    return _srv_queries(resolution)


def median_seconds(qs: list, modules, repeats: int) -> float:
    """Median cold wall time of ``query.build(modules)`` (structure loading included)."""
    with cold():
        for q in qs:  # warm-up: imports, force-field tables
            q.build(modules)
        times = []
        for _ in range(repeats):
            for q in qs:
                t0 = _clock()
                q.build(modules)
                times.append(_clock() - t0)
    return statistics.median(times)


def module_ms(qs: list, repeats: int) -> dict[str, float]:
    """Mean cold milliseconds per query of each stage (load, skeleton, each module)."""
    mods, _ = resolve_modules("all")
    totals: dict[str, float] = {"load": 0.0, "skeleton": 0.0}
    count = 0
    with cold():
        for _ in range(repeats):
            for q in qs:
                t0 = _clock()
                s = q.load_structure()
                t1 = _clock()
                g = q._build_skeleton(s)
                g.metadata["query"] = q.to_dict()
                totals["load"] += t1 - t0
                totals["skeleton"] += _clock() - t1
                ctx = FeatureContext(structure=s, graph=g, query=q)
                for m in mods:
                    t = _clock()
                    apply_modules(ctx, [m], skip_inapplicable=True)
                    totals[m.name] = totals.get(m.name, 0.0) + _clock() - t
                count += 1
    return {k: 1000.0 * v / count for k, v in totals.items()}


def variant_scan(positions: int) -> tuple[float, float, int]:
    """Seconds per query of the scan: (cold, warm, number of queries)."""
    qs = scan_queries(positions)
    qs[0].build("all")  # imports
    with cold():
        t0 = _clock()
        for q in qs:
            q.build("all")
        cold_s = (_clock() - t0) / len(qs)
    with warm():
        t0 = _clock()
        for q in qs:
            q.build("all")
        warm_s = (_clock() - t0) / len(qs)
    return cold_s, warm_s, len(qs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scan-positions", type=int, default=5)
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall seconds (default) or CPU seconds of this process (steadier under load)",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated parts: ppi_residue, ppi_atom, srv_residue, srv_atom, small, scan",
    )
    args = parser.parse_args()
    global _clock
    _clock = time.process_time if args.clock == "cpu" else time.perf_counter
    print(f"clock: {args.clock}", flush=True)
    only = {p.strip() for p in args.only.split(",") if p.strip()}

    def wanted(part: str) -> bool:
        return not only or part in only

    for kind in ("ppi", "srv"):
        for resolution in ("residue", "atom"):
            if not wanted(f"{kind}_{resolution}"):
                continue
            qs = queries(kind, resolution)
            core = median_seconds(qs, ["components", "contact"], args.repeats)
            print(f"{kind}_{resolution}_core_s_per_query: {core:.4f} s", flush=True)
            full = median_seconds(qs, "all", args.repeats)
            print(f"{kind}_{resolution}_all_s_per_query: {full:.4f} s", flush=True)
            ms = module_ms(qs, max(1, args.repeats // 2))
            total = sum(ms.values())
            for name, value in sorted(ms.items(), key=lambda kv: -kv[1]):
                print(f"{kind}_{resolution}_module_ms_{name}: {value:.2f} ms")
            for name, value in sorted(ms.items(), key=lambda kv: -kv[1]):
                print(f"{kind}_{resolution}_share_{name}: {100 * value / total:.1f} %", flush=True)
    if wanted("small"):
        for resolution in ("residue", "atom"):
            small_q = [_ppi("3C8P.pdb", resolution)]
            small = median_seconds(small_q, "all", args.repeats)
            print(f"small_{resolution}_all_s_per_query: {small:.4f} s", flush=True)
            ms = module_ms(small_q, max(3, args.repeats))
            for name, value in sorted(ms.items(), key=lambda kv: -kv[1]):
                print(f"small_{resolution}_module_ms_{name}: {value:.2f} ms", flush=True)
    if wanted("scan"):
        cold_s, warm_s, n = variant_scan(args.scan_positions)
        print(f"variant_scan_queries: {n} queries")
        print(f"variant_scan_cold_s_per_query: {cold_s:.4f} s")
        print(f"variant_scan_warm_s_per_query: {warm_s:.4f} s")
        print(f"variant_scan_speedup: {cold_s / warm_s:.1f} x", flush=True)


if __name__ == "__main__":
    main()
