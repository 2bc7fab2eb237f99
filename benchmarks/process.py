"""Throughput of ``process()`` with 1 and 2 worker processes, and bytes per entry.

Usage::

    python benchmarks/process.py [--queries 16] [--repeats 3] [--resolution residue]

Prints::

    queries_per_s_1proc: <v> queries/s
    queries_per_s_2proc: <v> queries/s
    speedup_2proc: <v>x
    entry_bytes: <v> B            (1ATN_1w residue interface graph, marginal size per entry)

The queries are PPI interfaces of the example structures shipped in ``deeprank_like.examples``
(1ATN_1w, 1ATN_2w, 3C8P, cycled, renamed apart). Each worker pool is started once and reused:
a warm-up run is not timed, then the best of ``--repeats`` timed runs is reported. A timed
run is a full ``process()`` call: featurisation, shard writing and the final merge.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def collection(n: int, resolution: str):
    from deeprank_like import ProteinProteinInterfaceQuery, QueryCollection
    from deeprank_like.examples import example_structures

    files = example_structures()
    qc = QueryCollection()
    for i in range(n):
        path = files[i % len(files)]
        qc.add(
            ProteinProteinInterfaceQuery(
                pdb_path=path,
                chain_ids=["A", "B"],
                resolution=resolution,
                model_id=f"{path.name.split('.')[0]}_{i}",
            )
        )
    return qc


def timed_runs(executor, qc, workdir: Path, label: str, repeats: int) -> list[float]:
    from deeprank_like.processing import Execution, FeaturizeConfig, process

    quiet = Execution(verbose=False)
    config = FeaturizeConfig(output=workdir / f"{label}-warmup", processing=quiet)
    process(qc, config, executor=executor)
    times = []
    for r in range(repeats):
        t0 = time.perf_counter()
        s = process(qc, config.replace(output=workdir / f"{label}-{r}"), executor=executor)
        times.append(time.perf_counter() - t0)
        assert s.processed == len(qc), s.failures
    return times


def entry_bytes(workdir: Path) -> float:
    """Marginal file bytes of one 1ATN_1w residue entry (11 copies minus 1, divided by 10)."""
    from deeprank_like import ProteinProteinInterfaceQuery
    from deeprank_like.examples import example_path
    from deeprank_like.storage import merge_files, open_h5, write_graph

    graph = ProteinProteinInterfaceQuery(
        pdb_path=example_path("1ATN_1w"), chain_ids=["A", "B"]
    ).build()
    sizes = []
    for n in (1, 11):
        shard = workdir / f"bytes-{n}.shard.hdf5"
        with open_h5(shard, "a") as f:
            for i in range(n):
                graph.id = f"copy{i}"
                write_graph(f, graph)
        final = workdir / f"bytes-{n}.hdf5"
        merge_files([shard], final)  # what process() leaves: a merged file
        sizes.append(final.stat().st_size)
    print(f"# 1ATN_1w residue graph: {graph.num_nodes} nodes, {graph.num_edges} edges", flush=True)
    return (sizes[1] - sizes[0]) / 10


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queries", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--resolution", choices=["residue", "atom"], default="residue")
    args = parser.parse_args()

    from deeprank_like.processing import ProcessExecutor
    from deeprank_like.processing.executors import available_cpus

    qc = collection(args.queries, args.resolution)
    print(
        f"# {len(qc)} {args.resolution} PPI queries, {available_cpus()} CPUs available, "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rates = {}
        for n in (1, 2):
            with ProcessExecutor(n) as ex:
                times = timed_runs(ex, qc, workdir, f"p{n}", args.repeats)
            best = min(times)
            rates[n] = len(qc) / best
            print(
                f"# {n} process(es): runs {', '.join(f'{t:.2f}' for t in times)} s "
                f"(median {statistics.median(times):.2f} s)",
                flush=True,
            )
        print(f"queries_per_s_1proc: {rates[1]:.2f} queries/s")
        print(f"queries_per_s_2proc: {rates[2]:.2f} queries/s")
        print(f"speedup_2proc: {rates[2] / rates[1]:.2f}x")
        print(f"entry_bytes: {entry_bytes(workdir):.0f} B")
        print(f"# load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
