"""Seconds each feature module's ``compute`` takes on one query.

:func:`time_modules` builds the graph skeleton once, then times every module on a *fresh copy*
of the structure (empty per-structure caches: SASA, depths, secondary structure are computed
from scratch, as for a query on a structure not seen before). Per-structure lookups that loading
and the skeleton also need (``residue_aa``, chain indices, ...) are warmed outside the timer.
One untimed warm-up call per module absorbs imports (pydssp imports torch) and lookup tables.

Run ``python benchmarks/_feature_timing.py`` for the 1ATN_1w / 3C8P residue and atom tables.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from deeprank_like.features.base import FeatureContext
from deeprank_like.features.registry import resolve_modules

__all__ = ["time_modules"]


def _fresh(structure):
    """A copy of ``structure`` with empty caches and its shared lookups already computed."""
    s = dataclasses.replace(structure, _cache={})
    for name in ("residue_aa", "is_hydrogen", "chain_index", "residue_chain_index",
                 "residue_chain_ids", "residue_numbers", "residue_icodes", "residue_names"):  # fmt: skip
        getattr(s, name)
    s.residue_centers()
    return s


def time_modules(query: Any, modules: Any = "all", repeat: int = 3) -> dict[str, float]:
    """Time each module's ``compute`` on ``query``.

    Parameters
    ----------
    query : Query
        A PPI or SRV query (its structure file is loaded once).
    modules : "all", a name, a module object or a list of those
        Modules that do not apply to the query (``unavailable_reason``) are left out.
    repeat : int
        Timed runs per module; the minimum is reported.

    Returns
    -------
    dict of str to float
        Module name → seconds (cold per-structure caches), in resolution order.
    """
    mods, _ = resolve_modules(modules)
    structure = query.load_structure()
    graph = query._build_skeleton(structure)
    graph.metadata["query"] = query.to_dict()
    out: dict[str, float] = {}
    for module in mods:
        probe = FeatureContext(structure=_fresh(structure), graph=graph, query=query)
        reason = module.unavailable_reason(probe) if hasattr(module, "unavailable_reason") else None
        if reason is not None:
            continue
        module.compute(probe)  # warm-up: imports, lookup tables
        best = float("inf")
        for _ in range(max(1, repeat)):
            context = FeatureContext(structure=_fresh(structure), graph=graph, query=query)
            t0 = time.perf_counter()
            module.compute(context)
            best = min(best, time.perf_counter() - t0)
        out[module.name] = best
    return out


def _main() -> None:
    from pathlib import Path

    from deeprank_like.query import ProteinProteinInterfaceQuery

    root = Path(__file__).resolve().parents[1] / "tests" / "data"
    pssm = {
        "1ATN_1w": {c: root / "pssm" / f"1ATN.{c}.pdb.pssm" for c in "AB"},
        "3C8P": {c: root / "pssm" / f"3C8P.{c}.pdb.pssm" for c in "AB"},
    }
    for name in ("1ATN_1w", "3C8P"):
        for resolution in ("residue", "atom"):
            paths = {c: str(p) for c, p in pssm[name].items() if p.is_file()}
            q = ProteinProteinInterfaceQuery(
                pdb_path=str(root / "pdb" / f"{name}.pdb"),
                chain_ids=["A", "B"],
                resolution=resolution,
                pssm_paths=paths,
            )
            times = time_modules(q, "all")
            total = sum(t for m, t in times.items() if m != "docking")
            print(f"{name} {resolution}: total without docking {total:.4f} s")
            for module, seconds in times.items():
                print(f"  {module:22s} {seconds * 1000:8.1f} ms")


if __name__ == "__main__":
    _main()
