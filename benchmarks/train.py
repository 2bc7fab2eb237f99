"""Benchmark: GNN training throughput on CPU (graphs per second), in memory and from HDF5.

Data: residue interface graphs of the 1ATN docking decoys shipped in ``tests/data`` (1ATN_1w,
1ATN_2w, chains A/B, PSSMs 1ATN.A/B) built with ``feature_modules="all"`` at influence radii
8, 9 and 10 Å (110-153 nodes, 1.3-2.1 k edges, 71 node-feature and 5 edge-feature columns),
replicated with different ``irmsd`` targets to ``--graphs`` entries of one HDF5 file written by
``deeprank_like.storage.write_graph`` (gzip, as ``process`` writes them).

Training: ``GINENet`` with its defaults (hidden 32, 3 GINEConv layers, mean+max pooling, head 64;
about the size of DeepRank2's GINet), Adam, MSE, standardised features, batch 16,
``torch.set_num_threads(--threads)``, one process, ``num_workers=0``. Throughput is the median
over epochs 2… of the Trainer's own train-phase rate (data loading, collation, forward,
backward, optimiser step, metrics).

Headline lines::

    train_graphs_per_s: <v> graphs/s          (in_memory=True)
    train_graphs_per_s_hdf5: <v> graphs/s     (in_memory=False: every epoch reads the file)
    hdf5_read_graphs_per_s: <v> graphs/s      (GraphDataset.get from the file, no training)
    in_memory_kb_per_graph: <v> kB            (cached arrays of one entry)
    model_parameters: <n> count
    ginet_parameters: <n> count               (DeepRank2 GINet at the same widths, by formula)

OpenMP keeps its default (spinning) wait policy, the fastest on a machine of its own: 878
graphs/s here when idle, against 536 with ``OMP_WAIT_POLICY=PASSIVE``. On a machine shared with
other jobs spinning threads collapse the 2-thread rate (76-110 graphs/s measured under load,
333-407 with ``PASSIVE``): there, run with ``OMP_WAIT_POLICY=PASSIVE``.

Streaming (``--stream``): data larger than memory. The 200-entry file above is packed
(:func:`deeprank_like.storage.packed.pack_graphs`) and its entries replicated, with new random
targets, into a packed file of ``--n`` graphs (default 100,000; about 90 kB per graph, written
to the temporary folder and removed at the end). Then, in this order and in one process:

    read_graphs_per_s: <v> graphs/s     PackedGraphDataset through a DataLoader (batch 16,
                                        shuffled, --workers processes, collation included), all N
    read_per_item_graphs_per_s          a pass just before over --compare-items random graphs
                                        through the earlier path (``get`` per item, every tensor
                                        of a batch through shared memory): the gain, measured
                                        under the same load
    stream_graphs_per_s: <v> graphs/s   Trainer train-phase rate on the N graphs, --workers
                                        DataLoader workers, --stream-epochs epochs (median)
    peak_rss_mb: <v> MB                 peak of the summed resident memory (RSS) of this process
                                        and its workers during the runs above (sampled every
                                        0.25 s); counts pages shared after fork once per process
    peak_pss_mb: <v> MB                 the same with PSS (shared pages split, sampled every
                                        1 s): the real total
    baseline_rss_mb, baseline_pss_mb    the same sums just before the packed dataset was opened
    train_graphs_per_s: <v> graphs/s    the in-memory rate (as above, same run: the mean of one
                                        measurement before and one after the streaming runs)
    stream_vs_memory: <v> ratio
    read_cpu_ms_per_graph, read_per_item_cpu_ms_per_graph, stream_cpu_ms_per_graph,
    memory_cpu_ms_per_graph
                                        CPU time (user + system) per graph of the training process
                                        and of its workers: what the rates cost, whatever the load
                                        (the memory sampler's own CPU left out)

plus the per-entry HDF5 read rate, the packing rate and the standardisation fit time. The file
of N graphs is in the page cache after writing unless ``--cold`` (then its pages are dropped
with ``posix_fadvise(DONTNEED)`` before each run, so that reads come from disk).

Usage: ``python benchmarks/train.py [--graphs 200] [--epochs 4] [--threads 2]``;
``python benchmarks/train.py --stream [--n 100000] [--workers 2] [--stream-epochs 1] [--cold]
[--stream-train-items K]`` (K: train on K random items of the N-graph file, for loaded machines;
the read pass and the dataset index still cover all N).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"


def build_graphs(data_dir: Path) -> list:
    """The 6 distinct benchmark graphs."""
    from deeprank_like import ProteinProteinInterfaceQuery

    pssm = {
        "A": str(data_dir / "pssm" / "1ATN.A.pdb.pssm"),
        "B": str(data_dir / "pssm" / "1ATN.B.pdb.pssm"),
    }
    graphs = []
    for model in ("1ATN_1w", "1ATN_2w"):
        for radius in (8.0, 9.0, 10.0):
            query = ProteinProteinInterfaceQuery(
                pdb_path=str(data_dir / "pdb" / f"{model}.pdb"),
                chain_ids=["A", "B"],
                influence_radius=radius,
                pssm_paths=pssm,
                model_id=f"{model}_r{radius:g}",
            )
            graphs.append(query.build("all"))
    return graphs


def write_file(graphs: list, n: int, path: Path, seed: int = 0) -> None:
    """``n`` entries cycling through ``graphs`` with random irmsd targets."""
    import h5py

    from deeprank_like.storage import write_graph

    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        for i in range(n):
            g = copy.copy(graphs[i % len(graphs)])
            g.id = f"{g.id}_copy{i:04d}"
            g.targets = {"irmsd": float(rng.uniform(0.5, 15.0))}
            write_graph(f, g)


def ginet_parameters(num_node_features: int, num_edge_features: int, output_size: int = 1) -> int:
    """Parameters of DeepRank2's GINet (two branches of GINetConvLayer 16→32, fc 64→128→out)."""
    e = num_edge_features

    def conv(i: int, o: int) -> int:  # fc (no bias) + fc_edge_attr + fc_attention (no bias)
        return i * o + e * e + (2 * o + e)

    branch = conv(num_node_features, 16) + conv(16, 32)
    return 2 * branch + (64 * 128 + 128) + (128 * output_size + output_size)


def train_rate(
    path: Path, in_memory: bool, epochs: int, batch_size: int, out: Path
) -> tuple[float, int]:
    from deeprank_like.data import GraphDataset
    from deeprank_like.training import Trainer, build_model_for

    ds = GraphDataset(path, target="irmsd", standardize=True, in_memory=in_memory)
    torch.manual_seed(0)
    model = build_model_for("gine", ds)
    trainer = Trainer(model, ds, lr=1e-3, device="cpu", output_dir=out, seed=0)
    history = trainer.train(epochs, batch_size=batch_size, checkpoint=None)
    rows = history[history.phase == "train"]
    rates = rows["items_per_s"].to_numpy()[1:]
    losses = rows["loss"].to_numpy()
    print(
        f"#   in_memory={in_memory}: per-epoch graphs/s {np.round(rows['items_per_s'].to_numpy(), 1).tolist()}, "
        f"loss {np.round(losses, 2).tolist()}",
        file=sys.stderr,
    )
    return statistics.median(rates), sum(p.numel() for p in model.parameters())


def replicate_packed(small: Path, n: int, out: Path, seed: int = 0) -> None:
    """A packed file of ``n`` entries cycling through those of ``small``, new irmsd targets."""
    from deeprank_like.storage.packed import PackedFile, PackedWriter

    src = PackedFile(small)
    k = len(src)
    pick = np.arange(n) % k
    nodes = np.diff(src.node_offsets)[pick].sum()
    edges = np.diff(src.edge_offsets)[pick].sum()
    entries = [src.read_entry(j) for j in range(k)]
    queries = src.queries()
    rng = np.random.default_rng(seed)
    with PackedWriter(
        out,
        num_entries=n,
        num_nodes=int(nodes),
        num_edges=int(edges),
        node_columns=src.node_columns,
        edge_columns=src.edge_columns,
        float_dtype=entries[0]["node_features"].dtype,
        sources=src.sources,
        resolution=src.resolution,
    ) as writer:
        for i, j in enumerate(pick):
            a = entries[j]
            writer.add(
                f"{src.entry_ids[j]}_rep{i:06d}",
                a["node_features"],
                a["edge_features"],
                a["edge_index"],
                a["positions"],
                targets={"irmsd": float(rng.uniform(0.5, 15.0))},
                query=queries[j],
            )
        writer.commit()
    src.close()


def drop_cache(path: Path) -> None:
    """Evict the file's pages from the page cache (reads then come from disk)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


class RssSampler:
    """Peaks of the summed RSS and PSS of this process and its children (sampled in a thread).

    RSS counts a page shared by forked workers once per process (an upper bound); PSS splits
    it among them (the real total). RSS is sampled every ``interval`` seconds (cheap: statm),
    PSS every ``pss_every`` samples (it reads smaps: 7-30 ms per process). ``cpu_s`` is the
    CPU time the sampling thread itself used, which the CPU figures of the training process
    leave out.
    """

    def __init__(self, interval: float = 0.25, pss_every: int = 4) -> None:
        import threading

        import psutil

        self.proc = psutil.Process()
        self.interval = interval
        self.pss_every = pss_every
        self.peak_rss = self.peak_pss = 0
        self.cpu_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def current(self, pss: bool = True) -> tuple[int, int]:
        import psutil

        rss_sum = pss_sum = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):  # a worker that just exited
                if pss:
                    info = p.memory_full_info()
                    rss_sum += info.rss
                    pss_sum += info.pss
                else:
                    rss_sum += p.memory_info().rss
        return rss_sum, pss_sum

    def _sample(self, pss: bool = True) -> None:
        rss, pss_value = self.current(pss)
        self.peak_rss = max(self.peak_rss, rss)
        if pss:
            self.peak_pss = max(self.peak_pss, pss_value)

    def _run(self) -> None:
        k = 0
        while not self._stop.wait(self.interval):
            t = time.thread_time()
            k += 1
            self._sample(pss=k % self.pss_every == 0)
            self.cpu_s += time.thread_time() - t

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def cpu_seconds() -> tuple[float, float]:
    """(this process, its reaped children) user + system CPU seconds."""
    import resource

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


class PerItem(torch.utils.data.Dataset):
    """A dataset's items one ``__getitem__`` at a time (hides a ``__getitems__``)."""

    def __init__(self, dataset: object) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> object:
        return self.dataset[index]


def read_pass(
    packed: object, args: argparse.Namespace, per_item: bool, sampler: RssSampler
) -> tuple:
    """``(graphs/s, [CPU ms per graph of this process, of the workers], graphs)`` of one
    shuffled DataLoader pass over ``packed``; ``per_item``: the path before batched reads
    (``get`` per item, every tensor of a batch through shared memory)."""
    from torch_geometric.loader import DataLoader

    from deeprank_like.data import packed_workers

    small = packed_workers.SMALL_TENSOR_BYTES
    packed_workers.SMALL_TENSOR_BYTES = 0 if per_item else small  # workers fork with it
    try:
        dataset = PerItem(packed) if per_item else packed
        n = min(args.compare_items, len(packed)) if per_item else len(packed)
        loader = DataLoader(
            dataset,
            batch_size=args.batch_size,
            sampler=torch.utils.data.RandomSampler(dataset, num_samples=n),
            num_workers=args.workers,
        )
        t = time.perf_counter()
        cpu0, s0 = cpu_seconds(), sampler.cpu_s
        count = 0
        for batch in loader:
            count += batch.num_graphs
        rate = count / (time.perf_counter() - t)
        del loader, batch
        gc.collect()  # the workers exit and are reaped: their CPU counts
        cpu1, s1 = cpu_seconds(), sampler.cpu_s
    finally:
        packed_workers.SMALL_TENSOR_BYTES = small
    cpu = [(b - a) / count * 1e3 for a, b in zip(cpu0, cpu1, strict=True)]
    cpu[0] -= (s1 - s0) / count * 1e3  # not the memory sampler's
    print(
        f"#   read ({'per item, before' if per_item else 'batched'}): {rate:.0f} graphs/s, "
        f"CPU ms/graph {sum(cpu):.3f} (training process {cpu[0]:.3f}, workers {cpu[1]:.3f})",
        file=sys.stderr,
    )
    return rate, cpu, count


def stream(args: argparse.Namespace, graphs: list, tmp: Path) -> None:

    from deeprank_like.data import GraphDataset, PackedGraphDataset
    from deeprank_like.storage.packed import pack_graphs
    from deeprank_like.training import Trainer, build_model_for

    small = tmp / "bench.hdf5"
    write_file(graphs, args.graphs, small)
    ds = GraphDataset(small, target="irmsd", standardize=True)
    _ = ds.standardizer
    t = time.perf_counter()
    for i in range(len(ds)):
        ds[i]
    h5_read = len(ds) / (time.perf_counter() - t)
    t = time.perf_counter()
    small_packed = pack_graphs(small, tmp / "bench.packed.h5")
    pack_rate = args.graphs / (time.perf_counter() - t)
    big = tmp / "big.packed.h5"
    t = time.perf_counter()
    replicate_packed(Path(small_packed), args.n, big)
    print(
        f"# packed file: {args.n} graphs, {big.stat().st_size / 1e9:.2f} GB "
        f"({big.stat().st_size / args.n / 1e3:.0f} kB/graph), written in "
        f"{time.perf_counter() - t:.0f} s; cold={args.cold}",
        file=sys.stderr,
    )

    mem_before, _ = train_rate(small, True, args.epochs, args.batch_size, tmp / "mem1")
    gc.collect()
    sampler = RssSampler()
    baseline = sampler.current()
    with sampler:
        packed = PackedGraphDataset(big, target="irmsd", standardize=True)
        t = time.perf_counter()
        packed.prepare()
        fit_s = time.perf_counter() - t
        packed.close()
        if args.cold:
            drop_cache(big)
        # the earlier path first (item by item, every tensor through shared memory), then
        # the current one (a batch in one pass, small tensors by value): same run, same load
        old_rate, old_cpu, _ = read_pass(packed, args, True, sampler)
        if args.cold:
            drop_cache(big)
        read_rate, read_cpu, count = read_pass(packed, args, False, sampler)
        print(
            f"# read {count} graphs with {args.workers} workers; standardisation fit "
            f"{fit_s:.0f} s; peak RSS so far {sampler.peak_rss / 1e6:.0f} MB",
            file=sys.stderr,
        )
        if args.cold:
            drop_cache(big)
        torch.manual_seed(0)
        model = build_model_for("gine", packed)
        train_set = packed
        if args.stream_train_items and args.stream_train_items < len(packed):
            # random items spread over the whole file; the standardisation is the full file's
            pick = np.random.default_rng(1).choice(len(packed), args.stream_train_items, False)
            train_set = packed.subset(np.sort(pick), train_source=packed)
        trainer = Trainer(
            model, train_set, lr=1e-3, device="cpu", output_dir=tmp / "stream", seed=0
        )
        cpu0, sampler_cpu0 = cpu_seconds(), sampler.cpu_s
        history = trainer.train(
            args.stream_epochs,
            batch_size=args.batch_size,
            checkpoint=None,
            num_workers=args.workers,
        )
        rows = history[history.phase == "train"]
        stream_rate = statistics.median(rows["items_per_s"].to_numpy())
        train_items = range(len(train_set))
        print(
            f"#   stream: per-epoch graphs/s {np.round(rows['items_per_s'].to_numpy(), 1).tolist()}, "
            f"loss {np.round(rows['loss'].to_numpy(), 2).tolist()}",
            file=sys.stderr,
        )
    del trainer, packed, train_set
    gc.collect()  # the persistent workers exit
    cpu1 = cpu_seconds()
    trained = len(train_items) * args.stream_epochs
    stream_cpu = [(b - a) / trained * 1e3 for a, b in zip(cpu0, cpu1, strict=True)]
    stream_cpu[0] -= (sampler.cpu_s - sampler_cpu0) / trained * 1e3  # not the sampler's
    big.unlink()
    cpu0 = cpu_seconds()
    mem_after, _ = train_rate(small, True, args.epochs, args.batch_size, tmp / "mem2")
    mem_cpu = (cpu_seconds()[0] - cpu0[0]) / (args.graphs * args.epochs) * 1e3
    mem_rate = (mem_before + mem_after) / 2

    print(f"read_graphs_per_s: {read_rate:.0f} graphs/s")
    print(f"read_per_item_graphs_per_s: {old_rate:.0f} graphs/s  (the path before, same run)")
    print(f"stream_graphs_per_s: {stream_rate:.0f} graphs/s")
    print(f"peak_rss_mb: {sampler.peak_rss / 1e6:.0f} MB")
    print(f"peak_pss_mb: {sampler.peak_pss / 1e6:.0f} MB")
    print(f"baseline_rss_mb: {baseline[0] / 1e6:.0f} MB")
    print(f"baseline_pss_mb: {baseline[1] / 1e6:.0f} MB")
    print(
        f"train_graphs_per_s: {mem_rate:.0f} graphs/s  (in memory: {mem_before:.0f} before, "
        f"{mem_after:.0f} after the streaming runs)"
    )
    print(f"stream_vs_memory: {stream_rate / mem_rate:.2f} ratio")
    print(f"stream_train_items: {len(train_items)} count")
    print(
        f"read_cpu_ms_per_graph: {sum(read_cpu):.2f} ms  (training process {read_cpu[0]:.2f}, "
        f"workers {read_cpu[1]:.2f})"
    )
    print(
        f"read_per_item_cpu_ms_per_graph: {sum(old_cpu):.2f} ms  (training process "
        f"{old_cpu[0]:.2f}, workers {old_cpu[1]:.2f})"
    )
    print(
        f"stream_cpu_ms_per_graph: {sum(stream_cpu):.2f} ms  (training process "
        f"{stream_cpu[0]:.2f}, workers {stream_cpu[1]:.2f})"
    )
    print(f"memory_cpu_ms_per_graph: {mem_cpu:.2f} ms  (in-memory training, all epochs)")
    print(f"hdf5_read_graphs_per_s: {h5_read:.0f} graphs/s")
    print(f"pack_graphs_per_s: {pack_rate:.0f} graphs/s")
    print(f"standardize_fit_s: {fit_s:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graphs", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--stream", action="store_true", help="data larger than memory")
    parser.add_argument("--n", type=int, default=100_000, help="graphs in the packed file")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--stream-epochs", type=int, default=1)
    parser.add_argument("--cold", action="store_true", help="drop the file from the page cache")
    parser.add_argument(
        "--compare-items",
        type=int,
        default=20_000,
        help="random graphs read through the per-item path (the comparison pass)",
    )
    parser.add_argument(
        "--stream-train-items",
        type=int,
        default=0,
        help="train on this many random items of the N-graph file (0: all)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    t0 = time.perf_counter()
    graphs = build_graphs(args.data)
    nodes = [g.num_nodes for g in graphs]
    edges = [g.num_edges for g in graphs]
    cols = graphs[0].node_feature_matrix().shape[1]
    ecols = graphs[0].edge_feature_matrix().shape[1]
    print(
        f"# graphs: {len(graphs)} distinct, nodes {min(nodes)}-{max(nodes)} (mean {np.mean(nodes):.0f}), "
        f"edges {min(edges)}-{max(edges)}, {cols} node / {ecols} edge feature columns "
        f"(built in {time.perf_counter() - t0:.1f} s); threads {args.threads}, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}",
        file=sys.stderr,
    )
    if args.stream:
        with tempfile.TemporaryDirectory() as tmp:
            stream(args, graphs, Path(tmp))
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.hdf5"
        write_file(graphs, args.graphs, path)
        print(f"# file: {args.graphs} entries, {path.stat().st_size / 1e6:.1f} MB", file=sys.stderr)

        from deeprank_like.data import GraphDataset

        ds = GraphDataset(path, target="irmsd", standardize=True)
        _ = ds.standardizer
        t = time.perf_counter()
        for i in range(len(ds)):
            ds[i]
        read_rate = len(ds) / (time.perf_counter() - t)
        mem = GraphDataset(path, target="irmsd", in_memory=True)
        mem.preload()
        cached = [v for raw in mem._cache.values() for v in raw.values() if hasattr(v, "nbytes")]
        per_graph_kb = sum(v.nbytes for v in cached) / len(mem) / 1e3

        mem_rate, n_params = train_rate(path, True, args.epochs, args.batch_size, Path(tmp) / "mem")
        h5_rate, _ = train_rate(path, False, args.epochs, args.batch_size, Path(tmp) / "h5")

    print(f"train_graphs_per_s: {mem_rate:.0f} graphs/s")
    print(f"train_graphs_per_s_hdf5: {h5_rate:.0f} graphs/s")
    print(f"hdf5_read_graphs_per_s: {read_rate:.0f} graphs/s")
    print(f"in_memory_kb_per_graph: {per_graph_kb:.0f} kB")
    print(f"model_parameters: {n_params} count")
    print(f"ginet_parameters: {ginet_parameters(cols, ecols)} count")


if __name__ == "__main__":
    main()
