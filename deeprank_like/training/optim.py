"""Optimisers and learning-rate schedulers by name.

Names resolve through :func:`deeprank_like.resolve.resolve_name`: case, ``_`` and ``-`` do not
matter, the PyTorch class name works too (``"AdamW"``, ``"ReduceLROnPlateau"``,
``"StepLR"``/``"step_lr"``), and a typo is a :class:`~deeprank_like.errors.TrainingError`
listing the choices and the closest one.

=============  =====================================================================
optimizer      ``"adam"``, ``"adamw"``, ``"sgd"``, ``"rmsprop"`` (or an ``Optimizer`` class)
scheduler      ``"plateau"`` (``ReduceLROnPlateau``), ``"cosine"`` (``CosineAnnealingLR``,
               ``T_max`` = epochs), ``"step"`` (``StepLR``, ``step_size=10``),
               ``"exponential"`` (``ExponentialLR``, ``gamma=0.95``), or a callable
               ``scheduler(optimizer)``
=============  =====================================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch.optim import lr_scheduler

from deeprank_like.errors import TrainingError
from deeprank_like.resolve import resolve_name

__all__ = [
    "OPTIMIZERS",
    "SCHEDULERS",
    "SCHEDULER_CLASSES",
    "SCHEDULER_DEFAULTS",
    "make_optimizer",
    "make_scheduler",
    "optimizer_name",
    "scheduler_name",
]

#: Optimiser name → class.
OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}

#: Scheduler name → class.
SCHEDULER_CLASSES: dict[str, type] = {
    "plateau": lr_scheduler.ReduceLROnPlateau,
    "cosine": lr_scheduler.CosineAnnealingLR,
    "step": lr_scheduler.StepLR,
    "exponential": lr_scheduler.ExponentialLR,
}

#: The scheduler names (kept as a tuple for ``name in SCHEDULERS`` checks).
SCHEDULERS: tuple[str, ...] = tuple(SCHEDULER_CLASSES)

#: Defaults of each scheduler's arguments (``"epochs"`` stands for the number of epochs).
SCHEDULER_DEFAULTS: dict[str, dict[str, Any]] = {
    "plateau": {},
    "cosine": {"T_max": "epochs"},
    "step": {"step_size": 10},
    "exponential": {"gamma": 0.95},
}


def optimizer_name(name: str) -> str:
    """The canonical optimiser name for ``name`` (``"AdamW"`` → ``"adamw"``).

    Raises
    ------
    TrainingError
        Unknown name; the message lists the optimisers and the closest one.
    """
    return resolve_name(
        name, OPTIMIZERS, what="optimizer", hint="or an Optimizer class", error=TrainingError
    )


def scheduler_name(name: str) -> str:
    """The canonical scheduler name for ``name`` (``"ReduceLROnPlateau"`` → ``"plateau"``).

    Raises
    ------
    TrainingError
        Unknown name; the message lists the schedulers and the closest one.
    """
    return resolve_name(
        name,
        SCHEDULER_CLASSES,
        what="scheduler",
        suffixes=("lr",),
        aliases={"cosine_annealing": "cosine", "reduce_on_plateau": "plateau"},
        hint="or a callable(optimizer)",
        error=TrainingError,
    )


def make_optimizer(
    parameters: Iterable[torch.nn.Parameter],
    optimizer: str | type[torch.optim.Optimizer],
    lr: float,
    weight_decay: float,
    kwargs: dict[str, Any] | None = None,
) -> torch.optim.Optimizer:
    """An optimiser over ``parameters``.

    Parameters
    ----------
    parameters : iterable of parameters
        Usually ``model.parameters()``.
    optimizer : str or ``torch.optim.Optimizer`` subclass
        A name (see :func:`optimizer_name`) or a class.
    lr, weight_decay : float
        Learning rate and L2 penalty.
    kwargs : dict, optional
        Further arguments of the optimiser (e.g. ``momentum``).

    Raises
    ------
    TrainingError
        Unknown name, or neither a name nor an ``Optimizer`` subclass.
    """
    if isinstance(optimizer, str):
        cls = OPTIMIZERS[optimizer_name(optimizer)]
    elif isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
        cls = optimizer
    else:
        raise TrainingError(f"optimizer must be a name or an Optimizer class, got {optimizer!r}")
    return cls(parameters, lr=lr, weight_decay=weight_decay, **(kwargs or {}))


def make_scheduler(
    spec: Any,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    kwargs: dict[str, Any] | None = None,
) -> Any:
    """A learning-rate scheduler for ``optimizer``, or None for ``spec=None``.

    Parameters
    ----------
    spec : None, str or callable
        A scheduler name (see :func:`scheduler_name`), or ``callable(optimizer)`` returning
        a scheduler.
    optimizer : torch.optim.Optimizer
        The optimiser whose learning rate is scheduled.
    epochs : int
        Number of epochs of the run (``T_max`` of the cosine schedule by default).
    kwargs : dict, optional
        Arguments of the scheduler; they override :data:`SCHEDULER_DEFAULTS`.

    Raises
    ------
    TrainingError
        Unknown scheduler name or a spec that is neither a name nor a callable.
    """
    if spec is None:
        return None
    if callable(spec) and not isinstance(spec, str):
        return spec(optimizer)
    if not isinstance(spec, str):
        raise TrainingError(f"scheduler must be a name or a callable, got {spec!r}")
    name = scheduler_name(spec)
    args = {
        key: (max(1, int(epochs)) if value == "epochs" else value)
        for key, value in SCHEDULER_DEFAULTS[name].items()
    }
    args.update(kwargs or {})
    return SCHEDULER_CLASSES[name](optimizer, **args)
