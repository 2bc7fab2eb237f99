"""``deeprank-like quickstart``: the end-to-end example on shipped data."""

from __future__ import annotations

import argparse
from typing import Any

from deeprank_like.cli import add_command


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = add_command(
        subparsers,
        "quickstart",
        help="end-to-end example: decoys → DockQ → graphs → trained GNN → ranking",
        description="""\
            Make rigid-body docking decoys of the shipped 3C8P complex, compute their DockQ
            against the native, featurise residue graphs in parallel into HDF5, train a GNN to
            predict DockQ and rank held-out decoys. Writes features.hdf5, metrics.csv, loss.png,
            predictions_test.csv/.png, ranking_test.csv and model.pt to the output folder.""",
        example="""\
            deeprank-like quickstart --output quickstart-output
            deeprank-like quickstart --decoys 120 --epochs 80 --cpus 4 --output bigger-run""",
        func=run,
    )
    p.add_argument("--output", default="quickstart-output", help="output folder")
    p.add_argument("--decoys", type=int, default=60, help="number of decoys (default 60)")
    p.add_argument("--epochs", type=int, default=40, help="training epochs (default 40)")
    p.add_argument("--cpus", type=int, default=None, help="featurisation processes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-plots", action="store_true", help="skip matplotlib plots")
    return p


def run(args: argparse.Namespace) -> int:
    from deeprank_like.quickstart import run_quickstart

    result = run_quickstart(
        args.output,
        n_decoys=args.decoys,
        epochs=args.epochs,
        cpu_count=args.cpus,
        seed=args.seed,
        plots=not args.no_plots,
    )
    print(f"graphs: {result.n_entries} entries, {result.n_failed} failed -> {result.features_file}")
    shown = ", ".join(f"{k} {v:.3f}" for k, v in result.test_metrics.items())
    print(f"test set: {shown}")
    print("held-out decoys ranked by predicted DockQ:")
    print(result.ranking.head(10).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"outputs in {result.output}/ ({result.seconds:.0f} s)")
    return 0
