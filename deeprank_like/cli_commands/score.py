"""``deeprank-like score --ppi A,B -o scores.csv models/*.pdb``: rank docking models."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from deeprank_like.cli import add_command, fail


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = add_command(
        subparsers,
        "score",
        help="rank docking models by predicted DockQ (shipped model, no training needed)",
        description="""\
            Predict the DockQ of every docking model (pose) with the pretrained scorer shipped
            with the package (a graph network trained on decoys of the 185 complexes of Docking
            Benchmark 5; see deeprank_like/pretrained/docking/MODEL_CARD.md) and write a CSV
            sorted best first: file, predicted_dockq (0-1, higher is better),
            predicted_capri_class (DockQ thresholds 0.23/0.49/0.80), rank, error. A file that
            cannot be scored (unreadable, a chain missing, no interface) is a row with the
            reason in 'error' and no rank; the other files are still scored.

            Exit status: 0 every file scored; 1 some files failed; 2 usage or fatal error.""",
        example="""\
            deeprank-like score --ppi A,B -o scores.csv models/*.pdb
            deeprank-like score --ppi H+L,A -o scores.csv run1/*.pdb.gz""",
        func=run,
    )
    p.add_argument(
        "files", nargs="+", metavar="FILE", help="model files (.pdb/.cif, optionally .gz)"
    )
    p.add_argument(
        "--ppi",
        required=True,
        metavar="CHAINS",
        help="the two sides of the interface, e.g. A,B or H+L,A (chains of a side joined by +)",
    )
    p.add_argument("-o", "--output", required=True, help="CSV file to write")
    p.add_argument("--cpu-count", type=int, default=1, help="featurisation processes (default 1)")
    p.add_argument("--model", metavar="DIR", help="scorer folder (default: the shipped model)")
    return p


def run(args: argparse.Namespace) -> int:
    from deeprank_like.pretrained.docking import parse_sides, score_models

    sides = parse_sides(args.ppi)  # QueryError → one-line usage error
    if args.cpu_count < 1:
        fail(f"--cpu-count must be >= 1, got {args.cpu_count}")
    frame = score_models(args.files, sides, model_dir=args.model, cpu_count=args.cpu_count)
    frame.to_csv(args.output, index=False)
    failed = int((frame["error"] != "").sum())
    print(f"{len(frame) - failed} models scored, {failed} failed; written to {args.output}")
    if failed:
        for row in frame[frame["error"] != ""].itertuples():
            sys.stderr.write(f"  {row.file}: {row.error}\n")
    return 1 if failed else 0
