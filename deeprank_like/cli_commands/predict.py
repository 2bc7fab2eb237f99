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
            column empty). Output columns: entry, file, pdb_path (the structure the entry was
            built from), target, then output (regression) or predicted_class and
            probability_<class> (classification). When some entries have the target, the
            loss and metrics over them (regression: mae, rmse, r2, mape; classification:
            accuracy, auc, f1, mcc) are printed and written as JSON next to the CSV
            (OUTPUT with the suffix .metrics.json, or --metrics). A regression model of a
            bounded target (DockQ, Fnat) built by build_model_for has a sigmoid output, so
            its predictions stay in (0, 1). Only registered networks
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
    p.add_argument(
        "--metrics",
        metavar="JSON",
        help="where to write the metrics when the files have targets "
        "(default: OUTPUT with the suffix .metrics.json)",
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--num-workers", type=int, default=0, help="DataLoader worker processes")
    return p


def _write_atomic(path: Any, write: Any) -> None:
    """``write(tmp_path)`` then rename over ``path``: the file is complete or absent."""
    import os
    from pathlib import Path

    out = Path(path)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    try:
        write(partial)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    import json
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
    metrics = dict(frame.attrs.get("metrics") or {})
    # complete or absent: written next to the target, then renamed over it
    _write_atomic(args.output, lambda path: frame.to_csv(path, index=False))
    print(f"{len(frame)} predictions written to {args.output}")
    if metrics:
        out = Path(args.output)
        metrics_path = Path(args.metrics) if args.metrics else out.with_suffix(".metrics.json")
        record = {"model": str(args.model), "files": [str(f) for f in args.files], **metrics}
        text = json.dumps(record, indent=2, default=float) + "\n"
        _write_atomic(metrics_path, lambda path: Path(path).write_text(text))
        shown = ", ".join(
            f"{k} {v:.4g}" for k, v in metrics.items() if k != "n_labelled" and v == v
        )
        print(
            f"metrics over the {metrics['n_labelled']} entries with a target: {shown} "
            f"(written to {metrics_path})"
        )
    return 0
