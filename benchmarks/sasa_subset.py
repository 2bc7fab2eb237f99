"""Could Lee–Richards on only the atoms a query needs beat freesasa? Measured: no (issue #17).

``surfacearea`` runs freesasa's Lee–Richards (C) on the atoms whose areas a query needs plus
every atom that can occlude them, and freesasa computes the area of every atom it is given: on
the small 3C8P residue interface graph 586 areas for the 258 needed (assembled state: 200 graph
atoms + 178 occluders; each side alone: 58 atoms whose area changes + 150 occluders). This
script holds a vectorised numpy implementation of freesasa's algorithm that computes the needed
atoms only (:func:`lee_richards`, freesasa's ``sasa_lr.c`` step for step; the arcs of all slices
of a block of atoms are sorted at once) against freesasa on the same sets, and prints
``name: value unit`` lines per query:

* ``<query>_needed_atoms`` / ``<query>_freesasa_atoms``: areas needed / areas freesasa computes;
* ``<query>_max_abs_diff``: the largest difference of the needed areas (Å²), numpy − freesasa;
* ``<query>_freesasa_ms`` and ``<query>_numpy_ms_block<B>`` (median CPU ms of the three runs
  a query makes: assembled, and each side alone, alternating), and
  ``<query>_numpy_page_faults_block<B>`` (minor page faults per query: blocks whose arrays
  exceed glibc's mmap threshold pay for fresh pages on every call).

Run: ``python benchmarks/sasa_subset.py [--queries 3C8P,1ATN_1w] [--repeats 20]
[--blocks 8,16,32]``. To see the arithmetic without the page faults, give glibc a high mmap
threshold: ``GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728``.

The outcome (``docs/features.md``, surface area): the numpy version matches freesasa to ~3e-14
Å², and costs about what freesasa costs on the 2.1× larger set. With glibc's defaults: 1.6–2.1×
freesasa's time on 3C8P (thousands of page faults a query), 0.84–1.13× on 1ATN_1w; with the
high mmap threshold above: 0.8–1.0× (2026-12-02). A numpy step over the (slice,
neighbour) elements of a block costs about what freesasa's C loop costs per element, and the
per-slice sort of the arcs comes on top; so ``surfacearea`` keeps freesasa.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from deeprank_like import ProteinProteinInterfaceQuery  # noqa: E402
from deeprank_like.features import cache  # noqa: E402
from deeprank_like.features import surfacearea as sa  # noqa: E402
from deeprank_like.features.base import FeatureContext  # noqa: E402

PDB = Path(__file__).resolve().parents[1] / "tests" / "data" / "pdb"

TWO_PI = 2.0 * np.pi


def neighbour_pairs(
    coords: np.ndarray, expanded: np.ndarray, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The freesasa neighbours among candidate pairs ``(a, b)``.

    Parameters
    ----------
    coords : ndarray (n, 3), Å
    expanded : ndarray (n,), Å
        Probe-expanded radii ``R``.
    a, b : ndarray (p,), int
        Candidate pairs; must include every pair with ``|x_a − x_b| < R_a + R_b``.

    Returns
    -------
    a, b : ndarray (q,), int64
        The pairs with ``dx² + dy² + dz² < (R_a + R_b)²`` (freesasa's test, same arithmetic).
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    d2 = np.zeros(a.size)
    for k in range(3):  # x, then y, then z: the order freesasa sums in
        col = np.ascontiguousarray(coords[:, k])
        d = col[b] - col[a]
        d2 += d * d
    reach = expanded[a] + expanded[b]
    keep = d2 < reach * reach
    return a[keep], b[keep]


#: Targets per block (``--blocks``): a block's arrays stay in the CPU cache and under glibc's
#: mmap threshold when small; larger blocks wait on memory and page faults, smaller on Python.
BLOCK = 16


def lee_richards(
    coords: np.ndarray,
    expanded: np.ndarray,
    targets: np.ndarray,
    pair_target: np.ndarray,
    pair_other: np.ndarray,
    n_slices: int = 20,
) -> np.ndarray:
    """Lee–Richards areas (Å²) of ``targets`` (freesasa's algorithm, see the module docstring).

    Parameters
    ----------
    coords : ndarray (n, 3), Å
    expanded : ndarray (n,), Å
        Probe-expanded radii ``R = r + probe`` of every atom (only targets and their neighbours
        are read).
    targets : ndarray (t,), int
        Atoms whose areas are wanted.
    pair_target : ndarray (p,), int
        For each neighbour pair, the position in ``targets`` of its target atom.
    pair_other : ndarray (p,), int
        For each neighbour pair, the neighbour's atom index: every atom of the molecule with
        ``dx² + dy² + dz² < (R_i + R_j)²`` (:func:`neighbour_pairs`), once per target.
    n_slices : int
        Slices per atom (freesasa's default: 20).

    Returns
    -------
    ndarray (t,), float64
        Areas in Å², in the order of ``targets``.
    """
    targets = np.asarray(targets, dtype=np.int64)
    n_t, ns = targets.size, int(n_slices)
    if n_t == 0:
        return np.zeros(0)
    order = np.argsort(pair_target, kind="stable")
    pt = np.asarray(pair_target, dtype=np.int64)[order]
    pj = np.asarray(pair_other, dtype=np.int64)[order]
    x, y, z = (np.ascontiguousarray(coords[:, k]) for k in range(3))
    r_t = expanded[targets]
    z_t = z[targets]

    # slices of every target: z of each (a running sum, as freesasa), circle radius R'_i
    delta = 2.0 * r_t / ns
    steps = np.empty((n_t, ns + 1))
    steps[:, 0] = z_t - r_t - 0.5 * delta
    steps[:, 1:] = delta[:, None]
    z_slice = np.cumsum(steps, axis=1)[:, 1:]
    d_i = np.abs(z_t[:, None] - z_slice)
    ri2 = r_t[:, None] * r_t[:, None] - d_i * d_i
    with np.errstate(invalid="ignore"):
        rip = np.sqrt(ri2)
    valid = (ri2 >= 0) & (rip > 0)  # freesasa skips round-off slices

    # per pair: in-plane distance and direction of the neighbour, its z and radius
    at = targets[pt]
    dx = x[pj] - x[at]
    dy = y[pj] - y[at]
    pairs = {
        "t": pt,
        "dij": np.sqrt(dx * dx + dy * dy),
        "beta": np.arctan2(dy, dx) + np.pi,
        "zj": z[pj],
        "rj": expanded[pj],
    }
    slices = {"z": z_slice, "ri2": ri2, "rip": rip, "valid": valid}
    bounds = np.searchsorted(pt, np.arange(0, n_t + BLOCK, BLOCK).clip(max=n_t))
    exposed = np.empty((n_t, ns))
    for b, lo in enumerate(range(0, n_t, BLOCK)):
        hi = min(lo + BLOCK, n_t)
        part = slice(bounds[b], bounds[b + 1])
        exposed[lo:hi] = _exposed_arcs(
            {k: v[part] for k, v in pairs.items()}, {k: v[lo:hi] for k, v in slices.items()}, lo
        )
    per_slice = (delta * r_t)[:, None] * exposed
    return np.cumsum(per_slice, axis=1)[:, -1]  # slice by slice, as freesasa adds them


def _exposed_arcs(pairs: dict, slices: dict, first: int) -> np.ndarray:
    """Exposed arc length (rad) of every slice of a block of targets.

    ``pairs``: per neighbour pair of the block (sorted by target): target position ``t`` (from
    ``first``), in-plane distance ``dij``, direction ``beta``, neighbour ``zj`` and radius
    ``rj``. ``slices``: per target and slice (arrays (b, ns)): ``z``, ``ri2`` (R'_i²), ``rip``
    (R'_i), ``valid``. Returns (b, ns).
    """
    n_b, ns = slices["z"].shape
    t = pairs["t"] - first
    # (slice, pair) elements where the neighbour's sphere reaches the slice, slice-major: with
    # pairs sorted by target, the elements of one (slice k, target t) are contiguous and come
    # in the order of the group id k · n_b + t
    dj = np.abs(pairs["zj"][None, :] - slices["z"][t].T)  # (ns, p)
    near = (dj < pairs["rj"][None, :]) & slices["valid"][t].T
    k_e, pair = np.nonzero(near)
    dj = dj[k_e, pair]
    t_e = t[pair]
    cell = t_e * ns + k_e  # index into the block's (b, ns) slice arrays, raveled
    group = k_e * n_b + t_e  # ascending along the elements
    rj = pairs["rj"][pair]
    rj2 = rj * rj - dj * dj
    rjp = np.sqrt(rj2)
    d = pairs["dij"][pair]
    rip = slices["rip"].ravel()[cell]
    contact = d < rip + rjp
    covered_whole = contact & (d + rip < rjp)  # circle i inside circle j: the slice is buried
    arc = np.flatnonzero(contact & ~covered_whole & ~(d + rjp < rip))
    d, rip, rj2, cell, group = d[arc], rip[arc], rj2[arc], cell[arc], group[arc]
    alpha = np.arccos((slices["ri2"].ravel()[cell] + d * d - rj2) / (2.0 * rip * d))
    beta = pairs["beta"][pair[arc]]
    start = beta - alpha
    stop = beta + alpha
    start = np.where(start < 0, start + TWO_PI, start)
    stop = np.where(stop > TWO_PI, stop - TWO_PI, stop)
    wrap = stop < start  # the arc crosses 0: it covers [start, 2π] and [0, stop]

    # covered length per group: the arcs' ends sorted within the group, in a (groups, most
    # ends) table padded with 2π; the number of open arcs starts at the count of arcs
    # crossing 0 and steps +1 at a start, -1 at a stop; the covered length sums the gaps
    # between consecutive ends where it is positive
    covered = np.zeros(n_b * ns)
    if group.size:
        # group is ascending: each group's arcs are contiguous
        first_arc = np.flatnonzero(np.concatenate(([True], group[1:] != group[:-1])))
        per_group = np.diff(np.append(first_arc, group.size))
        rows, width = first_arc.size, 2 * int(per_group.max())
        row = np.repeat(np.arange(rows), per_group)
        at = row * width + 2 * (np.arange(group.size) - first_arc[row])
        # the kind of each end rides in the last bit of its angle (cleared: start, set: stop),
        # so sorting the values orders the ends; this moves an angle by at most 1 ulp
        # (< 1e-15 rad); the padding (2π) sorts last and adds no length
        angle = np.full((rows, width), TWO_PI)
        flat = angle.ravel()
        flat[at] = (start.view(np.int64) & ~1).view(np.float64)
        flat[at + 1] = (stop.view(np.int64) | 1).view(np.float64)
        angle.sort(axis=1)
        turn = 1 - 2 * (flat.view(np.int64) & 1).astype(np.int32)
        crossing = np.bincount(row, weights=wrap, minlength=rows)
        # open arcs after each end: a running sum over the whole table, less the rows before
        running = np.cumsum(turn).reshape(rows, width)
        before = np.empty(rows)
        before[0] = 0
        before[1:] = running[:-1, -1]
        open_after = running - (before - crossing)[:, None]
        gaps = np.empty((rows, width))
        gaps[:, 0] = angle[:, 0]  # from 0
        np.subtract(angle[:, 1:], angle[:, :-1], out=gaps[:, 1:])
        gaps[:, 0] *= crossing > 0
        gaps[:, 1:] *= open_after[:, :-1] > 0
        length = gaps.sum(axis=1)
        length += (TWO_PI - angle[:, -1]) * (crossing > 0)  # from the last end to 2π
        covered[group[first_arc]] = length
    buried = np.zeros(n_b * ns, dtype=bool)
    buried[(t_e * ns + k_e)[covered_whole]] = True
    exposed = TWO_PI - covered.reshape(ns, n_b).T  # group k · n_b + t -> (t, k)
    exposed[buried.reshape(n_b, ns) | ~slices["valid"]] = 0.0
    return exposed


# --------------------------------------------------------------------------------------------
# the comparison


def query_sets(name: str) -> dict:
    """The three Lee–Richards runs of the residue PPI query on ``name`` (chains A, B).

    Taken from ``surfacearea`` itself: the assembled model for the graph's atoms, and each side
    alone for the graph atoms whose area can change (``_can_change``). Returns the structure,
    expanded radii, freesasa neighbour pairs (both directions) and ``states``: per run, the
    needed atoms and ``surfacearea``'s area calculator of that atom set.
    """
    query = ProteinProteinInterfaceQuery(
        pdb_path=str(PDB / f"{name}.pdb"), chain_ids=["A", "B"], resolution="residue"
    )
    with cache.disabled():
        s = query.load_structure()
        graph = query._build_skeleton(s)
    context = FeatureContext(structure=s, graph=graph, query=query)
    atoms, _ = sa._node_atoms(context)
    needed = np.unique(atoms)
    unit_of_chain, assembly = sa._units(context)
    in_assembly = sa.sasa_atom_mask(s) & np.isin(s.chain_index, assembly)
    changes = sa._can_change(s, unit_of_chain, assembly, in_assembly)
    touched = needed[changes[needed]]
    unit = unit_of_chain[s.chain_index]
    states = [(needed, sa._lazy(s, assembly))]
    for k in range(len(query.sides)):
        alone = sa._lazy(s, np.flatnonzero(unit_of_chain == k))
        states.append((touched[unit[touched] == k], alone))
    expanded = sa.sasa_radii(s) + sa.PROBE_RADIUS
    a, b = neighbour_pairs(s.coords, expanded, *sa._touching(s))
    return {
        "structure": s,
        "expanded": expanded,
        "a": np.concatenate([a, b]),
        "b": np.concatenate([b, a]),
        "states": states,
    }


def freesasa_runs(q: dict) -> tuple[list[np.ndarray], int]:
    """What ``surfacearea`` does: freesasa on the needed atoms and their neighbours, per run."""
    s = q["structure"]
    out, computed = [], 0
    for need, calc in q["states"]:
        env = calc.environment(need, s)
        areas = sa._lee_richards(s.coords[env], sa.sasa_radii(s)[env])
        out.append(areas[np.searchsorted(env, need)])
        computed += env.size
    return out, computed


def numpy_runs(q: dict) -> list[np.ndarray]:
    """:func:`lee_richards` on the needed atoms only, per run."""
    s, a, b = q["structure"], q["a"], q["b"]
    out = []
    for need, calc in q["states"]:
        is_need = np.zeros(s.num_atoms, dtype=bool)
        is_need[need] = True
        member = np.zeros(s.num_atoms, dtype=bool)
        member[calc.members] = True
        sel = is_need[a] & member[b]
        out.append(
            lee_richards(s.coords, q["expanded"], need, np.searchsorted(need, a[sel]), b[sel])
        )
    return out


def _cpu_ms_and_faults(run: Callable[[dict], object], q: dict) -> tuple[float, int]:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    start = time.process_time()
    run(q)
    spent = 1000.0 * (time.process_time() - start)
    return spent, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def main(argv: list[str] | None = None) -> dict[str, float]:
    global BLOCK
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", default="3C8P,1ATN_1w", help="example structures (A-B PPI)")
    parser.add_argument("--repeats", type=int, default=20, help="timed runs of each engine")
    parser.add_argument("--blocks", default="8,16,32", help="numpy block sizes to time")
    args = parser.parse_args(argv)
    blocks = [int(x) for x in args.blocks.split(",") if x.strip()]
    figures: dict[str, float] = {}

    def show(name: str, value: float, unit: str, fmt: str = ".2f") -> None:
        figures[name] = value
        print(f"{name}: {value:{fmt}} {unit}", flush=True)

    for name in (x.strip() for x in args.queries.split(",") if x.strip()):
        q = query_sets(name)
        reference, computed = freesasa_runs(q)
        ours = numpy_runs(q)
        needed = sum(r.size for r in reference)
        show(f"{name}_needed_atoms", needed, "atoms", "d")
        show(f"{name}_freesasa_atoms", computed, "atoms", "d")
        diff = max(
            (float(np.abs(x - y).max(initial=0.0)) for x, y in zip(ours, reference, strict=True))
        )
        show(f"{name}_max_abs_diff", diff, "A^2", ".1e")
        times: dict[str, list[float]] = {"freesasa": []}
        faults: dict[str, list[int]] = {}
        for _ in range(args.repeats):  # alternating, so both see the same machine state
            times["freesasa"].append(_cpu_ms_and_faults(freesasa_runs, q)[0])
            for block in blocks:
                BLOCK = block
                ms, pf = _cpu_ms_and_faults(numpy_runs, q)
                times.setdefault(f"numpy_ms_block{block}", []).append(ms)
                faults.setdefault(f"numpy_page_faults_block{block}", []).append(pf)
        show(f"{name}_freesasa_ms", statistics.median(times.pop("freesasa")), "ms")
        for key, values in times.items():
            show(f"{name}_{key}", statistics.median(values), "ms")
        for key, values in faults.items():
            show(f"{name}_{key}", statistics.median(values), "faults", ".0f")
    return figures


if __name__ == "__main__":
    main()
