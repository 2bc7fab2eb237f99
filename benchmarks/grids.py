"""Benchmark of the grid stage of one residue-level PPI query.

Headline lines (for ``--method``, default ``FAST_GAUSSIAN``; see below why):

* ``grid_s_per_query``: median wall time that grids add to one query. It covers mapping every
  node and edge feature of the residue-level 1ATN_1w A-B interface graph onto a 35 x 30 x 30
  grid with 1 Å spacing (σ = 1 Å), then writing it as float32, gzip level 4, into the query's
  entry group of an HDF5 file on disk (flushed). Graph building and the graph arrays are not
  counted.
* ``grid_bytes_per_entry``: bytes the grid adds to the file. That is the chunk storage of
  ``grids/000`` plus its group, attributes and chunk index, measured as the file-size
  difference.

Feature modules: ``"all"`` (every available module, skipping those that need extra inputs such
as PSSMs) when more than the two core modules are registered, else ``components`` + ``contact``.
The line ``grid_channels`` says how many channels were mapped.

Why FAST_GAUSSIAN is the headline: with the "all" modules (55 channels) a GAUSSIAN grid
truncated at 4σ stores 1.7 MB, because its non-zero float32 values hardly compress. That is
above the 1.5 MB budget. FAST_GAUSSIAN (3σ) stores 1.0 MB. The comparison lines
``...[METHOD]`` give the other methods. DeepRank2 adds about 0.9 s and 5 MB per such query; the
targets are <= 0.1 s and <= 1.5 MB.

Usage: ``python benchmarks/grids.py [--repeats 15] [--method FAST_GAUSSIAN] [--augmentations 0]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import h5py  # noqa: E402

import deeprank_like  # noqa: E402
from deeprank_like.features.registry import available_modules  # noqa: E402
from deeprank_like.grid import GridSettings, MapMethod, add_grids  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PDB = ROOT / "tests" / "data" / "pdb" / "1ATN_1w.pdb"


def measure(graph, settings, method, sigma, augmentations, repeats):
    """(median seconds, median bytes added, channels, compressed chunk bytes, grids)."""
    times, sizes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(repeats + 1):  # the first run is a warm-up
            path = Path(tmp) / f"bench{rep}.hdf5"
            with h5py.File(path, "w") as f:
                entry = f.create_group("entry")
                entry.create_dataset("positions", data=graph.positions)
                f.flush()
                empty = path.stat().st_size
                t0 = time.perf_counter()
                n = add_grids(
                    entry,
                    graph,
                    settings,
                    method,
                    sigma=sigma,
                    augmentations=augmentations,
                    seed=rep,
                )
                f.flush()
                elapsed = time.perf_counter() - t0
                channels = entry["grids/000"].shape[0]
                stored = sum(entry[f"grids/{i:03d}"].id.get_storage_size() for i in range(n))
            if rep:
                times.append(elapsed)
                sizes.append(path.stat().st_size - empty)
    return statistics.median(times), int(statistics.median(sizes)), channels, stored, n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--method", default="FAST_GAUSSIAN", choices=[m.name for m in MapMethod])
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument("--augmentations", type=int, default=0)
    parser.add_argument(
        "--compare",
        default="GAUSSIAN,NEAREST",
        help="comma-separated other methods to report (empty: none)",
    )
    args = parser.parse_args(argv)

    query = deeprank_like.ProteinProteinInterfaceQuery(pdb_path=str(PDB), chain_ids=["A", "B"])
    modules = "all" if len(set(available_modules()) - {"components", "contact"}) else None
    try:
        graph = query.build(modules)
    except Exception as exc:  # a registered module may not be importable yet
        print(
            f"note: feature_modules={modules!r} failed ({type(exc).__name__}: {exc}); "
            "using components + contact"
        )
        modules = None
        graph = query.build(modules)
    settings = GridSettings((35, 30, 30), (35.0, 30.0, 30.0))
    method = MapMethod[args.method]

    seconds, size, channels, stored, n = measure(
        graph, settings, method, args.sigma, args.augmentations, args.repeats
    )
    print(
        f"graph: {graph.id}, {graph.num_nodes} nodes, {graph.num_edges} edges, "
        f"modules={modules or 'components+contact'}"
    )
    print(
        f"grid: {settings.points_counts} points, {settings.sizes} Å, {method.name}, "
        f"sigma={args.sigma}, grids per entry={n}"
    )
    print(f"grid_channels: {channels}")
    print(f"grid_chunk_bytes: {stored} B (compressed channel data only)")
    print(f"grid_s_per_query: {seconds:.4f} s")
    print(f"grid_bytes_per_entry: {size} B")
    for other in filter(None, args.compare.split(",")):
        m = MapMethod[other.strip()]
        if m is method:
            continue
        s, b, *_ = measure(graph, settings, m, args.sigma, args.augmentations, args.repeats)
        print(f"grid_s_per_query[{m.name}]: {s:.4f} s")
        print(f"grid_bytes_per_entry[{m.name}]: {b} B")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
