"""``deeprank-like train CONFIG``: train a GNN or 3D CNN from a YAML/TOML config."""

from __future__ import annotations

import argparse
import json
from typing import Any

from deeprank_like.cli import add_command


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = add_command(
        subparsers,
        "train",
        help="train a network on feature files (YAML/TOML config)",
        description="""\
            Train the network named in CONFIG on the HDF5 feature files it lists, validate and
            test, and write OUTPUT_DIR/metrics.csv (per epoch), OUTPUT_DIR/model.pt (checkpoint:
            state_dict + JSON metadata) and OUTPUT_DIR/predictions_test.csv. The config holds
            only data (files, features, target, task, network name and kwargs, epochs, batch
            size, lr, output dir); see docs/training.md for every key. Under torchrun or srun
            the run is data-parallel (DDP) across the launched processes. One line per epoch
            goes to stderr (losses, metrics, time; '*' marks a new best epoch) unless
            --quiet; the JSON summary goes to stdout.""",
        example="""\
            deeprank-like train config.yaml
            deeprank-like train config.toml --epochs 5 --output-dir run2
            torchrun --nproc-per-node 4 -m deeprank_like.cli train config.yaml""",
        func=run,
    )
    p.add_argument("config", help="YAML (.yaml/.yml) or TOML (.toml) training config")
    p.add_argument("--epochs", type=int, help="override training.epochs")
    p.add_argument("--output-dir", help="override output_dir")
    p.add_argument("--device", help="override training.device (auto, cpu, cuda)")
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no per-epoch lines (only the JSON summary)"
    )
    return p


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from deeprank_like.training.config import load_config, run_training

    cfg = load_config(args.config)
    training = cfg.training
    if args.epochs is not None:
        training = dataclasses.replace(training, epochs=args.epochs)
    if args.device is not None:
        training = dataclasses.replace(training, device=args.device)
    cfg = dataclasses.replace(cfg, training=training)
    if args.output_dir is not None:
        cfg = dataclasses.replace(cfg, output_dir=args.output_dir)
    summary = run_training(cfg, verbose=not args.quiet)
    if summary["rank"] == 0:
        print(json.dumps(summary, indent=2, default=str))
    return 0
