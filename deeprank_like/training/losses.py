"""Losses as per-sample values and weights.

A :class:`Loss` returns ``(values, weights)`` for a batch; the batch (and epoch) loss is
``sum(values) / sum(weights)``. This is the usual mean (weighted mean with class weights, as
``torch.nn.CrossEntropyLoss(weight=...)``), and it is what makes data-parallel training exact:
every rank sums its samples' values and the sums of all ranks are divided by the global weight.

Built-in names: ``"mse"``, ``"mae"`` (``"l1"``), ``"huber"``, ``"mape"``, ``"log_l1"``,
``"mape+log_l1"`` (regression; the last two need positive outputs and targets, as the β-GM
eigenvalues);
``"cross_entropy"``, ``"bce_with_logits"`` (classification; BCE takes a single logit per sample,
binary only). A custom loss is any callable ``loss(output, target) -> scalar`` that averages
over the samples of the batch (``torch.nn.HuberLoss()``, a function…); it is weighted by the
batch size.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from deeprank_like.errors import TrainingError
from deeprank_like.resolve import resolve

__all__ = [
    "LOSSES",
    "LogL1Loss",
    "Loss",
    "MAPELogL1Loss",
    "log_l1_loss",
    "make_loss",
    "mape_log_l1_loss",
]


class Loss(ABC):
    """Base class: ``__call__(output, target, class_weights=None) -> (values, weights)``.

    ``output``: (B, k) network outputs; ``target``: (B, k) float (regression) or (B,) int64
    class indices (classification).
    """

    name: str = ""
    task: str | None = None

    @abstractmethod
    def __call__(
        self, output: Tensor, target: Tensor, class_weights: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        """Per-sample loss values (B,) and their weights (B,)."""

    def check_output(self, output_size: int, num_classes: int | None, target_width: int) -> None:
        """TrainingError if the network's output size does not fit this loss."""
        if self.task == "regress" and output_size != target_width:
            raise TrainingError(
                f"regression loss {self.name!r} needs output_size == target width "
                f"({target_width}), the network outputs {output_size}"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class _Regression(Loss):
    task = "regress"

    @abstractmethod
    def elementwise(self, output: Tensor, target: Tensor) -> Tensor:
        """Loss per sample and output column, shape (B, k)."""

    def __call__(self, output, target, class_weights=None):
        out = output.reshape(output.size(0), -1)
        tgt = target.reshape(target.size(0), -1).to(out.dtype)
        values = self.elementwise(out, tgt).mean(dim=1)
        return values, torch.ones_like(values)


class MSELoss(_Regression):
    """Mean squared error."""

    name = "mse"

    def elementwise(self, output, target):
        return (output - target) ** 2


class MAELoss(_Regression):
    """Mean absolute error."""

    name = "mae"

    def elementwise(self, output, target):
        return (output - target).abs()


class HuberLoss(_Regression):
    """Huber loss with ``delta`` = 1 (as ``torch.nn.HuberLoss``)."""

    name = "huber"

    def __init__(self, delta: float = 1.0) -> None:
        self.delta = float(delta)

    def elementwise(self, output, target):
        return F.huber_loss(output, target, reduction="none", delta=self.delta)


class MAPELoss(_Regression):
    """Mean absolute percentage error, ``100 · |output − target| / max(|target|, eps)``."""

    name = "mape"

    def __init__(self, eps: float = 1e-8) -> None:
        self.eps = float(eps)

    def elementwise(self, output, target):
        return 100.0 * (output - target).abs() / target.abs().clamp_min(self.eps)


class LogL1Loss(_Regression):
    """Absolute error of the logarithms, ``|log(output) − log(target)|`` (scale-free).

    Needs positive outputs and targets (e.g. a network with a log-scaled output such as
    :class:`~deeprank_like.nn.ResidueGraphGNN`); a non-positive one gives NaN, which the Trainer
    reports with the entry names.
    """

    name = "log_l1"

    def elementwise(self, output, target):
        return (torch.log(output) - torch.log(target)).abs()


class MAPELogL1Loss(_Regression):
    """MAPE as a fraction plus :class:`LogL1Loss`: ``|o − t| / |t| + |log o − log t|``."""

    name = "mape+log_l1"

    def elementwise(self, output, target):
        return (output - target).abs() / target.abs() + (
            torch.log(output) - torch.log(target)
        ).abs()


def log_l1_loss(pred: Tensor, true: Tensor) -> Tensor:
    """Batch mean of ``|log(pred) − log(true)|`` over samples and outputs (a scalar).

    The functional form of :class:`LogL1Loss`, as a plain callable (a :class:`CustomLoss` when
    given to the Trainer). Both have the same value; the reduction order differs, so training
    with one or the other agrees to float32 rounding only.
    """
    return (torch.log(pred) - torch.log(true)).abs().mean()


def mape_log_l1_loss(pred: Tensor, true: Tensor) -> Tensor:
    """Batch mean of MAPE (a fraction) plus :func:`log_l1_loss` (functional :class:`MAPELogL1Loss`)."""
    return ((pred - true).abs() / true.abs()).mean() + log_l1_loss(pred, true)


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy over ``len(classes)`` logits; class weights as ``weight=``."""

    name = "cross_entropy"
    task = "classif"

    def __call__(self, output, target, class_weights=None):
        values = F.cross_entropy(output, target, reduction="none")
        if class_weights is None:
            return values, torch.ones_like(values)
        w = class_weights.to(output.dtype)[target]
        return values * w, w

    def check_output(self, output_size, num_classes, target_width):
        if output_size != num_classes:
            raise TrainingError(
                f"cross_entropy needs one logit per class ({num_classes} classes), the network "
                f"outputs {output_size}"
            )


class BCEWithLogitsLoss(Loss):
    """Binary cross-entropy on a single logit (class index 1 is the positive class)."""

    name = "bce_with_logits"
    task = "classif"

    def __call__(self, output, target, class_weights=None):
        logit = output.reshape(-1)
        values = F.binary_cross_entropy_with_logits(logit, target.to(logit.dtype), reduction="none")
        if class_weights is None:
            return values, torch.ones_like(values)
        w = class_weights.to(logit.dtype)[target]
        return values * w, w

    def check_output(self, output_size, num_classes, target_width):
        if num_classes != 2:
            raise TrainingError(f"bce_with_logits is for 2 classes, the task has {num_classes}")
        if output_size != 1:
            raise TrainingError(
                f"bce_with_logits needs a single logit (output_size=1), the network outputs "
                f"{output_size}"
            )


class CustomLoss(Loss):
    """A user callable ``fn(output, target) -> mean over the batch``, weighted by batch size."""

    def __init__(self, fn: Callable[[Tensor, Tensor], Tensor], task: str | None = None) -> None:
        self.fn = fn
        self.task = task
        self.name = getattr(fn, "__name__", type(fn).__name__)

    def __call__(self, output, target, class_weights=None):
        if self.task == "regress":
            target = target.reshape(output.shape).to(output.dtype)
        value = self.fn(output, target)
        if value.dim() != 0:
            raise TrainingError(
                f"custom loss {self.name!r} must return a scalar (mean over the batch), "
                f"got shape {tuple(value.shape)}"
            )
        n = torch.tensor(float(output.size(0)), dtype=value.dtype, device=value.device)
        return (value * n).reshape(1), n.reshape(1)

    def check_output(self, output_size, num_classes, target_width):
        return None

    def __repr__(self) -> str:
        return f"CustomLoss({self.name})"


LOSSES: dict[str, type[Loss]] = {
    "mse": MSELoss,
    "mae": MAELoss,
    "l1": MAELoss,
    "huber": HuberLoss,
    "mape": MAPELoss,
    "log_l1": LogL1Loss,
    "mape+log_l1": MAPELogL1Loss,
    "cross_entropy": CrossEntropyLoss,
    "bce_with_logits": BCEWithLogitsLoss,
}


def make_loss(loss: Any, task: str) -> Loss:
    """Resolve ``loss`` (None, a name, a :class:`Loss` or a callable) for ``task``."""
    if loss is None:
        loss = "mse" if task == "regress" else "cross_entropy"
    if isinstance(loss, str):
        loss = resolve(
            loss, LOSSES, what="loss", suffixes=("loss",), hint="or a callable", error=TrainingError
        )()
    elif isinstance(loss, type) and issubclass(loss, Loss):
        loss = loss()
    elif not isinstance(loss, Loss):
        if not callable(loss):
            raise TrainingError(f"loss must be a name or a callable, got {loss!r}")
        loss = CustomLoss(loss, task)
    if loss.task is not None and loss.task != task:
        raise TrainingError(f"loss {loss.name!r} is a {loss.task} loss; the task is {task!r}")
    return loss
