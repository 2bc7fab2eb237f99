"""The β-GM eigenvalue-prediction experiment (Giulini & Potestio 2019, with a GNN beside the CNN).

Protocol in :mod:`experiments.betagm.protocol`, reports in :mod:`experiments.betagm.report`,
command line in :mod:`experiments.betagm.__main__` (``python -m experiments.betagm``). See
``docs/betagm_experiment.md``.
"""

from experiments.betagm.protocol import (
    LOSS_CHOICES,
    OPTIMIZER_CHOICES,
    ExperimentConfig,
    ExperimentResult,
    fit_predict,
    log_target_stats,
    run_experiment,
    summarise,
)
from experiments.betagm.report import results_markdown, scatter_plot, write_results

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
