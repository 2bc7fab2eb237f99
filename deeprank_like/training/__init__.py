"""Training: the Trainer, losses, metrics, checkpoints, exporters and DDP helpers.

>>> from deeprank_like.training import Trainer, load_model

Modules: ``trainer`` (the :class:`Trainer`: set-up, epochs, test/predict, checkpoint
metadata), ``loop`` (one pass over a dataset: losses, NaN/inf checks, DDP gathering),
``batches`` (tagged items, input widths), ``evaluation`` (predictions tables), ``optim``
(optimisers and schedulers by name), ``losses``, ``metrics``, ``checkpoint`` (file format),
``distributed`` (DDP, devices), ``exporters`` (CSV, plots), ``config`` (YAML/TOML runs).
"""

from deeprank_like.training.checkpoint import (
    load_checkpoint,
    load_model,
    read_metadata,
    save_checkpoint,
)
from deeprank_like.training.distributed import (
    DistContext,
    GlobalBatchSampler,
    current_context,
    init_distributed,
)
from deeprank_like.training.losses import LOSSES, Loss, make_loss
from deeprank_like.training.metrics import (
    classification_metrics,
    compute_metrics,
    regression_metrics,
    roc_auc,
)
from deeprank_like.training.trainer import Trainer, build_model_for, resolve_device

__all__ = [
    "LOSSES",
    "DistContext",
    "GlobalBatchSampler",
    "Loss",
    "Trainer",
    "build_model_for",
    "classification_metrics",
    "compute_metrics",
    "current_context",
    "init_distributed",
    "load_checkpoint",
    "load_model",
    "make_loss",
    "read_metadata",
    "regression_metrics",
    "resolve_device",
    "roc_auc",
    "save_checkpoint",
]
