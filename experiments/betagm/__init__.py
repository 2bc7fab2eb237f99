"""The β-GM eigenvalue-prediction experiment (Giulini & Potestio 2019, with a GNN beside the CNN).

Protocol in :mod:`experiments.betagm.protocol`, reports in :mod:`experiments.betagm.report`,
command line in :mod:`experiments.betagm.__main__` (``python -m experiments.betagm``). See
``docs/betagm_experiment.md``.
"""

import os

# one BLAS thread per process (set before numpy/torch are imported by the modules below, which
# happens before ``python -m experiments.betagm[.pool]`` runs its own module): the eigen-solves
# are small, the machine is shared, and idle BLAS threads spin, inflating the CPU time
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from experiments.betagm.protocol import (  # noqa: E402
    LOSS_CHOICES,
    OPTIMIZER_CHOICES,
    ExperimentConfig,
    ExperimentResult,
    fit_predict,
    log_target_stats,
    run_experiment,
    summarise,
)
from experiments.betagm.report import results_markdown, scatter_plot, write_results  # noqa: E402

__all__ = [
    "LOSS_CHOICES",
    "OPTIMIZER_CHOICES",
    "ExperimentConfig",
    "ExperimentResult",
    "fit_predict",
    "log_target_stats",
    "results_markdown",
    "run_experiment",
    "scatter_plot",
    "summarise",
    "write_results",
]
