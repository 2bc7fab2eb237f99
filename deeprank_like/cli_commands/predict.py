"""``deeprank-like predict --model CKPT FILES… -o predictions.csv``."""

from __future__ import annotations

import argparse
from typing import Any

from deeprank_like.cli import add_command


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = add_command(
        subparsers,
        "predict",
        help="predict with a trained model on feature files",
        description="""\
            Load a checkpoint written by 'deeprank-like train' (or Trainer.save) and predict
            every entry of FILES. The files are read exactly as the training data was: same
            features, transforms and standardisation (stored in the checkpoint), so the
            training data is not needed. Entries without the target are predicted too (target
            column empty). Output columns: entry, file, target, then output (regression) or
            predicted_class and probability_<class> (classification). Only registered networks
            are built from the checkpoint (it is data; nothing named in it is imported). A
            non-finite input value or network output is an error naming the entries, and then
            no CSV is written: no row is ever made up.""",
        example="""\
            deeprank-like predict --model run1/model.pt new.hdf5 -o predictions.csv""",
        func=run,
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="HDF5 feature files")
    p.add_argument("--model", required=True, metavar="CKPT", help="checkpoint (model.pt)")
    p.add_argument("-o", "--output", required=True, help="CSV file to write")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    return p


def run(args: argparse.Namespace) -> int:
    import os
    import tempfile
    from pathlib import Path

    from deeprank_like.training.trainer import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer.from_checkpoint(
            args.model, device=args.device, output_dir=tmp, distributed=False
        )
        frame = trainer.predict(
            args.files, batch_size=args.batch_size, num_workers=args.num_workers
        )
    # complete or absent: written next to the target, then renamed over it
    out = Path(args.output)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        frame.to_csv(partial, index=False)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    print(f"{len(frame)} predictions written to {args.output}")
    return 0
