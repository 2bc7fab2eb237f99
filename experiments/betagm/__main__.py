"""Run the β-GM eigenvalue-prediction experiment (CNN vs GNN vs baseline) and write its results.

Example (the committed full-size run, see docs/betagm_experiment.md), from the repository root::

    python -m experiments.betagm --data ../shared/data/proteins --out docs/results/betagm

Writes ``results.csv``, ``results.md``, ``scatter.png``, ``skipped.csv``, ``windows.csv`` and
``predictions.csv.gz`` to ``--out``. Runs on CPU with ``--threads`` torch threads.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shlex
import sys
import time

# one BLAS thread per process: the eigen-solves are small and the machine is shared
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from deeprank_like.enm import chains_from_folder  # noqa: E402
from experiments.betagm.protocol import LOSS_CHOICES, ExperimentConfig, run_experiment  # noqa: E402
from experiments.betagm.report import write_results  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    defaults = ExperimentConfig()
    p = argparse.ArgumentParser(
        prog="python -m experiments.betagm",
        description=__doc__,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    p.add_argument("--data", required=True, help="folder of structures (index.json optional)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--window", type=int, default=defaults.window)
    p.add_argument("--step", type=int, default=defaults.step, help="stride between windows")
    p.add_argument("--max-length", type=int, default=None, help="skip longer chains")
    p.add_argument("--limit", type=int, default=None, help="read at most this many files")
    p.add_argument("--folds", type=int, default=defaults.n_folds)
    p.add_argument("--seeds", type=int, nargs="+", default=list(defaults.seeds))
    p.add_argument("--models", nargs="+", default=list(defaults.models), choices=["cnn", "gnn"])
    losses = list(LOSS_CHOICES)
    p.add_argument("--cnn-loss", default=defaults.cnn_loss, choices=losses)
    p.add_argument("--gnn-loss", default=defaults.gnn_loss, choices=losses)
    p.add_argument("--no-log-output", action="store_true", help="raw linear network outputs")
    p.add_argument("--cnn-epochs", type=int, default=defaults.cnn_epochs)
    p.add_argument("--cnn-batch-size", type=int, default=defaults.cnn_batch_size)
    p.add_argument("--cnn-lr", type=float, default=defaults.cnn_lr)
    p.add_argument("--cnn-optimizer", default=defaults.cnn_optimizer)
    p.add_argument("--gnn-epochs", type=int, default=defaults.gnn_epochs)
    p.add_argument("--gnn-batch-size", type=int, default=defaults.gnn_batch_size)
    p.add_argument("--gnn-lr", type=float, default=defaults.gnn_lr)
    p.add_argument("--gnn-optimizer", default=defaults.gnn_optimizer)
    p.add_argument("--no-whole-chains", action="store_true")
    p.add_argument("--threads", type=int, default=defaults.threads)
    p.add_argument("--no-predictions", action="store_true", help="skip predictions.csv.gz")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    config = ExperimentConfig(
        window=args.window, step=args.step, min_length=args.window, n_folds=args.folds,
        seeds=tuple(args.seeds), models=tuple(args.models),
        cnn_loss=args.cnn_loss, gnn_loss=args.gnn_loss,
        log_output=not args.no_log_output,
        cnn_epochs=args.cnn_epochs, cnn_batch_size=args.cnn_batch_size, cnn_lr=args.cnn_lr,
        cnn_optimizer=args.cnn_optimizer,
        gnn_epochs=args.gnn_epochs, gnn_batch_size=args.gnn_batch_size, gnn_lr=args.gnn_lr,
        gnn_optimizer=args.gnn_optimizer,
        whole_chains=not args.no_whole_chains, threads=args.threads,
    )  # fmt: skip
    t0 = time.perf_counter()
    chains, skipped = chains_from_folder(
        args.data, min_length=args.window, max_length=args.max_length, limit=args.limit
    )
    print(f"read {len(chains)} single chains ({len(skipped)} entries left out) "
          f"in {time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
    result = run_experiment(
        chains, config, skipped_chains=skipped, progress=lambda m: print(m, flush=True)
    )
    result.timings["wall_s"] = time.perf_counter() - t0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.timings["cpu_s"] = usage.ru_utime + usage.ru_stime
    command = "python -m experiments.betagm " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    paths = write_results(result, args.out, command=command, predictions=not args.no_predictions)
    print(result.mape_table("windows").round(1).to_string())
    print(f"wrote {', '.join(str(p) for p in paths.values())} "
          f"({result.timings['wall_s']:.0f} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
