"""`Trainer`: fit, validate, test and predict with a GNN or 3D CNN.

>>> trainer = Trainer(GINENet(ds.num_node_features, ds.num_edge_features), train, val, test,
...                   lr=1e-3, seed=0, output_dir="run1")
>>> history = trainer.train(epochs=20, batch_size=32, early_stopping_patience=5)
>>> trainer.test()
>>> Trainer.from_checkpoint("run1/model.pt").predict(["new.hdf5"]).to_csv("pred.csv")

The Trainer only orchestrates: datasets come from :mod:`deeprank_like.data`, networks from
:mod:`deeprank_like.nn`, losses/metrics/checkpoints/exports from this package. Outputs in
``output_dir`` (rank 0 only): ``metrics.csv`` (one row per epoch and phase), ``model.pt``
(checkpoint), ``predictions_<phase>.csv``, and with ``plots=True`` ``loss.png`` and
``predictions_<phase>.png``.
"""

from __future__ import annotations

import copy
import inspect
import logging
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn
from torch.utils.data import Dataset as TorchDataset
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader

from deeprank_like.errors import DeeprankLikeError, TrainingError
from deeprank_like.nn.registry import build_model, model_config, model_name
from deeprank_like.training.checkpoint import (
    load_checkpoint,
    restore_model,
    save_checkpoint,
)
from deeprank_like.training.distributed import (
    DistContext,
    GlobalBatchSampler,
    all_gather_objects,
    all_reduce_sum,
    current_context,
)
from deeprank_like.training.exporters import MetricsCSV, plot_loss_curves, plot_predictions
from deeprank_like.training.losses import BCEWithLogitsLoss, Loss, make_loss
from deeprank_like.training.metrics import compute_metrics

__all__ = ["Trainer", "build_model_for", "resolve_device"]

log = logging.getLogger(__name__)

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
    "rmsprop": torch.optim.RMSprop,
}
SCHEDULERS = ("plateau", "cosine", "step", "exponential")


def resolve_device(device: str | torch.device, ctx: DistContext | None = None) -> torch.device:
    """``"auto"`` → CUDA if available (``cuda:LOCAL_RANK`` under DDP), else CPU."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError("device='cuda' requested but CUDA is not available")
        index = ctx.local_rank if ctx is not None and ctx.enabled else torch.cuda.current_device()
        return torch.device("cuda", index)
    return torch.device(device)


def build_model_for(
    name: str,
    dataset: Any,
    task: str | None = None,
    loss: Any = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered network sized for ``dataset`` (feature widths, grid, task).

    ``output_size`` defaults to the target width (regression), the number of classes
    (cross-entropy) or 1 (``loss="bce_with_logits"``). A regression on a bounded target
    (:data:`~deeprank_like.data.base.BOUNDED_TARGETS`: DockQ, Fnat) gets
    ``output_activation="sigmoid"`` when the network takes it, so that its predictions stay
    in (0, 1) (recorded in the checkpoint); pass ``output_activation="none"`` to opt out.
    """
    from deeprank_like.data.base import BOUNDED_TARGETS
    from deeprank_like.nn.registry import get_model_class

    task = task or getattr(dataset, "task", None)
    config = dict(kwargs)
    target = getattr(dataset, "target", None)
    if (
        task == "regress"
        and target in BOUNDED_TARGETS
        and BOUNDED_TARGETS[target] == (0.0, 1.0)
        and "output_activation" not in config
        and "output_activation" in inspect.signature(get_model_class(name).__init__).parameters
    ):
        config["output_activation"] = "sigmoid"
    if "output_size" not in config:
        if task == "classif":
            config["output_size"] = 1 if loss == "bce_with_logits" else len(dataset.classes)
        else:
            config["output_size"] = int(getattr(dataset, "target_width", 1) or 1)
    if getattr(dataset, "kind", "") == "grid":
        config.setdefault("num_channels", dataset.num_channels)
        config.setdefault("grid_shape", list(dataset.grid_shape))
    else:
        config.setdefault("num_node_features", dataset.num_node_features)
        config.setdefault("num_edge_features", dataset.num_edge_features)
    return build_model(name, config)


def _batches(loader: DataLoader) -> Any:
    """Iterate ``loader``; a package error raised in a worker keeps its own one-line message.

    PyTorch re-raises a worker's exception as ``"Caught X in DataLoader worker process 0.
    Original Traceback ..."``; the reason (file, entry, feature) would be buried at its end.
    """
    it = iter(loader)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except DeeprankLikeError as exc:
            text = str(exc).rstrip()
            prefix = f"{type(exc).__module__}.{type(exc).__qualname__}: "
            last = text.splitlines()[-1] if text else ""
            if text.startswith("Caught ") and last.startswith(prefix):
                raise type(exc)(last[len(prefix) :]) from exc
            raise
        yield batch


def _meta_section(meta: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    """``meta[key]`` of checkpoint metadata as a dict ({} if absent; TrainingError if not a dict)."""
    value = meta.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TrainingError(f"{source}: metadata {key!r} must be a JSON object, got {value!r}")
    return value


class _Tagged(TorchDataset):
    """Items of a dataset tagged with ``sample_id`` and ``sample_weight`` (0: DDP padding)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, float]) -> Any:
        index, weight = key
        data = copy.copy(self.dataset[index])
        data.sample_id = torch.tensor([index], dtype=torch.long)
        data.sample_weight = torch.tensor([weight], dtype=torch.float32)
        return data


def _widths(batch: Any) -> str:
    x = getattr(batch, "x", None)
    if x is None:
        return "no x"
    if x.dim() == 5:
        return f"{x.size(1)} grid channels of shape {tuple(x.shape[2:])}"
    ea = getattr(batch, "edge_attr", None)
    edge = ea.size(1) if ea is not None and ea.dim() == 2 else 0
    return f"{x.size(1)} node-feature columns and {edge} edge-feature columns"


def _expects(model: nn.Module) -> str:
    if hasattr(model, "num_channels"):
        return f"{model.num_channels} channels of shape {tuple(getattr(model, 'grid_shape', ()))}"
    parts = []
    if hasattr(model, "num_node_features"):
        parts.append(f"{model.num_node_features} node-feature columns")
    if hasattr(model, "num_edge_features"):
        parts.append(f"{model.num_edge_features} edge-feature columns")
    return " and ".join(parts) if parts else "(unknown input widths)"


def _declared_mismatch(model: nn.Module, batch: Any) -> bool:
    """True if the model's declared input widths (if any) differ from the batch's."""
    x = getattr(batch, "x", None)
    if x is None:
        return False
    if x.dim() == 5:
        channels = getattr(model, "num_channels", None)
        shape = getattr(model, "grid_shape", None)
        return (channels is not None and channels != x.size(1)) or (
            shape is not None and tuple(shape) != tuple(x.shape[2:])
        )
    expected = getattr(model, "num_node_features", None)
    if expected is not None and expected != x.size(1):
        return True
    ea = getattr(batch, "edge_attr", None)
    edge = ea.size(1) if ea is not None and ea.dim() == 2 else 0
    expected_edge = getattr(model, "num_edge_features", None)
    # a network may ignore edge features (num_edge_features=0)
    return bool(expected_edge) and expected_edge != edge


class Trainer:
    """Train a network on a dataset, validate, test, checkpoint and predict.

    Parameters
    ----------
    model : nn.Module
        A network whose constructor kwargs are recorded (all of :mod:`deeprank_like.nn`).
    dataset_train, dataset_val, dataset_test : datasets, optional
        :class:`~deeprank_like.data.GraphDataset` / :class:`~deeprank_like.data.GridDataset`
        (validation/test sets must inherit from the training set: ``train_source``), or any
        sequence of PyG ``Data`` with ``y`` (then pass ``task``/``classes``).
    optimizer : {"adam", "adamw", "sgd", "rmsprop"} or optimizer class
    lr, weight_decay : float
    optimizer_kwargs : dict, optional
        Extra optimizer arguments (e.g. ``momentum``).
    loss : None, "mse", "mae", "huber", "mape", "cross_entropy", "bce_with_logits", or callable
        None: MSE (regression) / cross-entropy (classification).
    class_weights : bool or sequence of float
        True: inverse class frequencies of the training set; or explicit weights per class.
    scheduler : None, "plateau", "cosine", "step", "exponential" or callable(optimizer)
    scheduler_kwargs : dict, optional
        Passed to the scheduler (defaults: cosine ``T_max=epochs``, step ``step_size=10``,
        exponential ``gamma=0.95``).
    task, classes : optional
        Needed only for datasets that do not carry them.
    seed : int
        Seeds the model's randomness (dropout) and the batch order; a run is reproducible.
    device : {"auto", "cpu", "cuda"} or torch.device
    output_dir : path
    plots : bool
        Draw loss curves and prediction plots (needs matplotlib: the ``plot`` extra).
    distributed : {"auto", False}
        "auto": use DDP when a process group is initialised (see
        :func:`~deeprank_like.training.distributed.init_distributed`).
    **deeprank2_kwargs
        DeepRank2's ``neuralnet`` (a network class, built with :func:`build_model_for`
        from the training set, as ``model`` may also be) is accepted; ``cuda`` becomes
        ``device`` (DeprecationWarning); ``val_size``, ``test_size``, ``pretrained_model``,
        ``output_exporters`` and ``ngpu`` > 1 are a TypeError saying what to do instead
        (:mod:`deeprank_like.training.deeprank2_compat`).
    """

    def __init__(
        self,
        model: nn.Module | type[nn.Module] | None = None,
        dataset_train: Any = None,
        dataset_val: Any = None,
        dataset_test: Any = None,
        *,
        optimizer: str | type[torch.optim.Optimizer] = "adam",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        optimizer_kwargs: dict[str, Any] | None = None,
        loss: Any = None,
        class_weights: bool | Sequence[float] = False,
        scheduler: Any = None,
        scheduler_kwargs: dict[str, Any] | None = None,
        task: str | None = None,
        classes: Sequence[Any] | None = None,
        seed: int = 0,
        device: str | torch.device = "auto",
        output_dir: str | os.PathLike = "output",
        plots: bool = False,
        distributed: str | bool = "auto",
        **deeprank2_kwargs: Any,
    ) -> None:
        if deeprank2_kwargs:
            from deeprank_like.training.deeprank2_compat import init_kwargs

            neuralnet, device = init_kwargs(deeprank2_kwargs, device)
            if neuralnet is not None:
                if model is not None:
                    raise TypeError("Trainer: give model or neuralnet (DeepRank2's name), not both")
                model = neuralnet
        if isinstance(model, type) and issubclass(model, nn.Module):
            # DeepRank2 passes the class: build it sized for the training set
            if dataset_train is None:
                raise TrainingError(
                    f"a network class ({model.__name__}) is built from dataset_train; pass "
                    f"dataset_train, or an instance: model={model.__name__}(...)"
                )
            model = build_model_for(model, dataset_train, task=task, loss=loss)
        if not isinstance(model, nn.Module):
            raise TrainingError(
                f"model must be an nn.Module instance (e.g. GINENet(...) or "
                f"build_model_for('gine', dataset)), got {model!r}"
            )
        self.ctx = current_context() if distributed == "auto" else DistContext()
        self.device = resolve_device(device, self.ctx)
        self.model = model.to(self.device)
        self.dataset_train = dataset_train
        self.dataset_val = dataset_val
        self.dataset_test = dataset_test
        reference = next(
            (d for d in (dataset_train, dataset_test, dataset_val) if d is not None), None
        )
        self.task = getattr(reference, "task", None) or task
        self.classes = getattr(reference, "classes", None) or (list(classes) if classes else None)
        if task is not None and self.task != task:
            raise TrainingError(f"task={task!r} differs from the dataset's task {self.task!r}")
        if self.task not in (None, "regress", "classif"):
            raise TrainingError(f"task must be 'regress' or 'classif', got {self.task!r}")
        if self.task == "classif" and not self.classes:
            raise TrainingError("classification needs classes (from the dataset or classes=)")
        self.loss_fn: Loss | None = make_loss(loss, self.task) if self.task else None
        self._loss_spec = (
            loss
            if isinstance(loss, str) or loss is None
            else getattr(self.loss_fn, "name", "custom")
        )
        self._class_weights_arg = class_weights
        self.class_weights: Tensor | None = None
        self.seed = int(seed)
        self.output_dir = Path(output_dir)
        self.plots = bool(plots)
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self._optimizer_arg = optimizer
        self.optimizer = self._make_optimizer(optimizer, lr, weight_decay, optimizer_kwargs or {})
        self._scheduler_arg = scheduler
        self._scheduler_kwargs = dict(scheduler_kwargs or {})
        self.scheduler: Any = None
        self.history = MetricsCSV(self.output_dir / "metrics.csv", write=self.ctx.is_main)
        self.epoch = 0
        self.best_epoch: int | None = None
        self.best_loss = math.inf
        self._checkpoint_meta: dict[str, Any] | None = None
        self._ddp: nn.Module | None = None
        for name, ds in (("dataset_val", dataset_val), ("dataset_test", dataset_test)):
            if ds is not None and dataset_train is not None:
                self._check_inherits(ds, name)

    def configure_optimizers(
        self,
        optimizer: str | type[torch.optim.Optimizer] | None = None,
        lr: float = 1e-3,
        weight_decay: float = 1e-5,
        **optimizer_kwargs: Any,
    ) -> None:
        """Replace the optimiser (DeepRank2's method; same defaults as there).

        Parameters
        ----------
        optimizer : name or ``torch.optim.Optimizer`` class, optional
            Default ``"adam"``.
        lr, weight_decay : float
        **optimizer_kwargs
            Extra optimiser arguments (e.g. ``momentum``).
        """
        optimizer = optimizer or "adam"
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self._optimizer_arg = optimizer
        self.optimizer = self._make_optimizer(optimizer, lr, weight_decay, optimizer_kwargs)

    def set_lossfunction(self, lossfunction: Any = None, override_invalid: bool = False) -> None:
        """Replace the loss (DeepRank2's method).

        ``lossfunction`` is a ``torch.nn`` loss class or instance (``MSELoss``, ``L1Loss``,
        ``HuberLoss``, ``SmoothL1Loss``, ``CrossEntropyLoss``, ``BCEWithLogitsLoss`` map to
        our named losses; another one is called as ``loss(output, target)``), one of our
        loss names, or None (the task's default). A loss of the wrong task is a
        TrainingError; ``override_invalid`` is accepted for compatibility and changes
        nothing (a regression loss cannot train a classifier here).
        """
        from deeprank_like.training.deeprank2_compat import loss_name

        if self.task is None:
            raise TrainingError("set_lossfunction needs a task (a dataset with a target)")
        spec = loss_name(lossfunction) if not isinstance(lossfunction, str) else lossfunction
        self.loss_fn = make_loss(spec, self.task)
        self._loss_spec = (
            spec
            if isinstance(spec, str) or spec is None
            else getattr(self.loss_fn, "name", "custom")
        )

    # ---- construction helpers -----------------------------------------------------------------
    def _make_optimizer(
        self, optimizer: Any, lr: float, weight_decay: float, kwargs: dict
    ) -> torch.optim.Optimizer:
        if isinstance(optimizer, str):
            if optimizer.lower() not in OPTIMIZERS:
                raise TrainingError(
                    f"unknown optimizer {optimizer!r}; available: {sorted(OPTIMIZERS)}"
                )
            cls = OPTIMIZERS[optimizer.lower()]
        elif isinstance(optimizer, type) and issubclass(optimizer, torch.optim.Optimizer):
            cls = optimizer
        else:
            raise TrainingError(
                f"optimizer must be a name or an Optimizer class, got {optimizer!r}"
            )
        return cls(self.model.parameters(), lr=lr, weight_decay=weight_decay, **kwargs)

    def _make_scheduler(self, epochs: int) -> Any:
        spec, kw = self._scheduler_arg, dict(self._scheduler_kwargs)
        if spec is None:
            return None
        if callable(spec) and not isinstance(spec, str):
            return spec(self.optimizer)
        sched = torch.optim.lr_scheduler
        if spec == "plateau":
            return sched.ReduceLROnPlateau(self.optimizer, **kw)
        if spec == "cosine":
            kw.setdefault("T_max", max(1, epochs))
            return sched.CosineAnnealingLR(self.optimizer, **kw)
        if spec == "step":
            kw.setdefault("step_size", 10)
            return sched.StepLR(self.optimizer, **kw)
        if spec == "exponential":
            kw.setdefault("gamma", 0.95)
            return sched.ExponentialLR(self.optimizer, **kw)
        raise TrainingError(
            f"unknown scheduler {spec!r}; available: {list(SCHEDULERS)} or a callable"
        )

    def _check_inherits(self, ds: Any, name: str) -> None:
        from deeprank_like.data.base import HDF5Dataset

        train = self.dataset_train
        if not (isinstance(train, HDF5Dataset) and isinstance(ds, HDF5Dataset)):
            return
        mine = train.data_config(include_stats=False)
        theirs = ds.data_config(include_stats=False)
        diff = sorted(k for k in mine if mine.get(k) != theirs.get(k))
        if diff:
            raise TrainingError(
                f"{name} reads the data differently from dataset_train ({diff}); create it with "
                f"train_source=dataset_train"
            )
        mine_stats, theirs_stats = train.standardizer, ds.standardizer
        if (
            mine_stats is not None
            and theirs_stats is not mine_stats
            and (theirs_stats is None or theirs_stats.to_dict() != mine_stats.to_dict())
        ):
            raise TrainingError(
                f"{name} does not use the training set's standardisation; create it with "
                f"train_source=dataset_train"
            )

    # ---- data plumbing --------------------------------------------------------------------------
    def _loader(
        self, dataset: Any, batch_size: int, shuffle: bool, num_workers: int
    ) -> tuple[DataLoader, GlobalBatchSampler]:
        if hasattr(dataset, "prepare"):
            dataset.prepare(num_workers)
            if num_workers > 0 and hasattr(dataset, "close"):
                dataset.close()  # workers open their own handles
        sampler = GlobalBatchSampler(len(dataset), batch_size, shuffle, self.seed, self.ctx)
        loader = DataLoader(
            _Tagged(dataset),
            batch_sampler=sampler,
            num_workers=num_workers,
            pin_memory=self.device.type == "cuda",
            persistent_workers=num_workers > 0,
        )
        return loader, sampler

    def _forward(self, module: nn.Module, batch: Any) -> Tensor:
        out = module(batch)
        if out.dim() == 1:
            out = out.unsqueeze(1)
        return out

    def _target(self, batch: Any) -> Tensor | None:
        y = getattr(batch, "y", None)
        if y is None:
            return None
        if self.task == "classif":
            return y.reshape(-1).long()
        return y.reshape(y.size(0), -1).float()

    def _labelled(self, target: Tensor) -> Tensor:
        if self.task == "classif":
            return target >= 0
        return torch.isfinite(target).all(dim=1)

    def _batch_loss(self, out: Tensor, target: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
        """Sum of per-sample loss values and of their weights over the real, labelled samples."""
        keep = (weight > 0) & self._labelled(target)
        if bool(keep.all()):
            values, weights = self.loss_fn(out, target, self.class_weights)
        elif bool(keep.any()):
            values, weights = self.loss_fn(out[keep], target[keep], self.class_weights)
        else:
            zero = (out * 0).sum()
            return zero, zero.detach()
        return values.sum(), weights.sum().detach()

    def _non_finite_items(
        self, out: Tensor, target: Tensor | None, weight: Tensor, loss_sum: Tensor | None
    ) -> Tensor:
        """(B,) bool: real samples whose output, or whose loss, is NaN or infinite."""
        out = out.detach()
        bad = ~torch.isfinite(out).reshape(out.size(0), -1).all(dim=1)
        if loss_sum is not None and not bool(torch.isfinite(loss_sum.detach())):
            # the loss overflowed with finite outputs: find the samples, one at a time
            keep = (weight > 0) & self._labelled(target)
            for i in torch.nonzero(keep & ~bad).reshape(-1).tolist():
                values, _ = self.loss_fn(out[i : i + 1], target[i : i + 1], self.class_weights)
                if not bool(torch.isfinite(values).all()):
                    bad[i] = True
            if not bool(bad.any()):  # e.g. a custom loss over the whole batch
                bad = keep.clone()
        return bad & (weight > 0)

    @staticmethod
    def _entry_names(batch: Any, mask: Tensor) -> list[str]:
        index = torch.nonzero(mask.reshape(-1)).reshape(-1).tolist()
        names = getattr(batch, "entry_id", None)
        if isinstance(names, list | tuple) and len(names) == mask.numel():
            return [str(names[i]) for i in index]
        sample = batch.sample_id.reshape(-1).tolist()
        return [f"item {sample[i]}" for i in index]

    def _infinite_targets(self, target: Tensor | None, weight: Tensor) -> Tensor:
        """(B,) bool: real samples with a ±inf regression target (NaN means unlabelled)."""
        if target is None or self.task == "classif":
            return torch.zeros_like(weight, dtype=torch.bool)
        return torch.isinf(target).reshape(target.size(0), -1).any(dim=1) & (weight > 0)

    def _non_finite_error(
        self,
        phase: str,
        number: int,
        batch: Any,
        bad: Tensor,
        loss_sum: Tensor,
        inf_target: Tensor | None = None,
    ) -> TrainingError:
        names = self._entry_names(batch, bad)
        where = (
            f"entries {names[:10]}{' ...' if len(names) > 10 else ''}"
            if names
            else "entries of another process (DDP rank)"
        )
        if inf_target is not None and bool(inf_target.any()):
            where += f" (infinite target: {self._entry_names(batch, inf_target)[:10]})"
        saved = (
            f"the checkpoint keeps epoch {self.best_epoch}"
            if self.best_epoch is not None
            else "no checkpoint was written"
        )
        return TrainingError(
            f"epoch {self.epoch}, {phase} batch {number}: non-finite loss or target "
            f"(batch loss {float(loss_sum.detach())}) from {where}. Training stopped before this step "
            f"changed the weights; {saved}. Check these entries (deeprank-like inspect), the "
            f"transforms/standardisation, or lower the learning rate (lr={self.lr:g})"
        )

    def _check_gradients(self, phase: str, number: int, batch: Any) -> None:
        """TrainingError before the optimiser step if any gradient is NaN/inf."""
        grads = [p.grad.detach() for p in self.model.parameters() if p.grad is not None]
        if not grads:
            return
        # one fused pass (as clip_grad_norm_); NaN/inf in any gradient makes the sum non-finite
        foreach_norm = getattr(torch, "_foreach_norm", None)
        if foreach_norm is not None:
            total = torch.stack(foreach_norm(grads, 2.0)).sum()
        else:  # pragma: no cover - very old torch
            total = torch.stack([torch.linalg.vector_norm(g) for g in grads]).sum()
        if bool(torch.isfinite(total)):
            return
        names = self._entry_names(batch, batch.sample_weight.reshape(-1) > 0)
        raise TrainingError(
            f"epoch {self.epoch}, {phase} batch {number}: non-finite gradients (NaN/inf) for "
            f"the batch of entries {names[:10]}{' ...' if len(names) > 10 else ''}; training "
            f"stopped before this step changed the weights. Lower the learning rate "
            f"(lr={self.lr:g}) or check these entries"
        )

    def _postprocess(self, out: Tensor) -> np.ndarray:
        """Regression outputs, or class probabilities (B, C)."""
        out = out.detach().float()
        if self.task != "classif":
            return out.cpu().numpy()
        if out.size(1) == 1 or isinstance(self.loss_fn, BCEWithLogitsLoss):
            p1 = torch.sigmoid(out[:, :1])
            return torch.cat([1 - p1, p1], dim=1).cpu().numpy()
        return torch.softmax(out, dim=1).cpu().numpy()

    # ---- checks ---------------------------------------------------------------------------------
    def preflight(self, dataset: Any, batch_size: int = 2) -> None:
        """Run one small batch through the model; TrainingError on any mismatch, naming widths."""
        n = min(len(dataset), max(1, batch_size))
        batch = Batch.from_data_list([dataset[i] for i in range(n)]).to(self.device)
        if _declared_mismatch(self.model, batch):
            raise TrainingError(
                f"the first batch does not fit {type(self.model).__name__}: the data has "
                f"{_widths(batch)}, the network expects {_expects(self.model)}"
            )
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                out = self._forward(self.model, batch)
        except (RuntimeError, IndexError, ValueError, TypeError) as exc:
            raise TrainingError(
                f"the first batch does not fit {type(self.model).__name__}: the data has "
                f"{_widths(batch)}, the network expects {_expects(self.model)} ({exc})"
            ) from exc
        finally:
            self.model.train(was_training)
        if out.dim() != 2 or out.size(0) != n:
            raise TrainingError(
                f"{type(self.model).__name__} returned shape {tuple(out.shape)} for a batch of "
                f"{n}; expected ({n}, output_size)"
            )
        activation = getattr(self.model, "output_activation", "none")
        if self.task == "classif" and activation not in (None, "none"):
            raise TrainingError(
                f"{type(self.model).__name__} has output_activation={activation!r}, but a "
                f"classification loss takes logits: build it with output_activation='none'"
            )
        target = self._target(batch)
        if self.loss_fn is not None and target is not None:
            width = target.size(1) if target.dim() == 2 else 1
            self.loss_fn.check_output(out.size(1), len(self.classes or []), width)
            try:
                self._batch_loss(out, target, torch.ones(n, device=out.device))
            except (RuntimeError, IndexError, ValueError) as exc:
                raise TrainingError(
                    f"loss {self.loss_fn!r} fails on the first batch: {exc}"
                ) from exc

    def _compute_class_weights(self) -> Tensor | None:
        arg = self._class_weights_arg
        if arg is False or arg is None or self.task != "classif":
            return None
        n_classes = len(self.classes)
        if arg is True:
            ds = self.dataset_train
            if hasattr(ds, "class_counts"):
                counts = np.asarray(ds.class_counts(), dtype=np.float64)
            else:
                counts = np.zeros(n_classes)
                for i in range(len(ds)):
                    c = int(ds[i].y.reshape(-1)[0])
                    if c >= 0:
                        counts[c] += 1
            if (counts == 0).any():
                missing = [self.classes[i] for i in np.flatnonzero(counts == 0)]
                raise TrainingError(
                    f"class_weights=True but classes {missing} have no training item"
                )
            inv = 1.0 / counts
            weights = inv / inv.sum()
        else:
            weights = np.asarray(list(arg), dtype=np.float64)
            if weights.shape != (n_classes,):
                raise TrainingError(f"class_weights needs {n_classes} values, got {list(arg)}")
            if not (np.isfinite(weights).all() and (weights >= 0).all() and weights.sum() > 0):
                raise TrainingError(
                    f"class_weights must be finite, >= 0 and not all 0, got {list(arg)}"
                )
        return torch.tensor(weights, dtype=torch.float32, device=self.device)

    # ---- epochs -----------------------------------------------------------------------------------
    def _run(self, loader: DataLoader, train: bool, phase: str | None = None) -> dict[str, Any]:
        phase = phase or ("training" if train else "evaluation")
        module = self._ddp if (train and self._ddp is not None) else self.model
        module.train(train)
        sum_loss = torch.zeros((), dtype=torch.float64, device=self.device)
        sum_w = torch.zeros((), dtype=torch.float64, device=self.device)
        ids, weights, outputs, targets, raw = [], [], [], [], []
        bad_entries: list[str] = []
        world = float(self.ctx.world_size)
        start = time.perf_counter()
        for number, batch in enumerate(_batches(loader)):
            batch = batch.to(self.device, non_blocking=True)
            weight = batch.sample_weight.reshape(-1)
            target = self._target(batch)
            with torch.set_grad_enabled(train):
                out = self._forward(module, batch)
                if target is not None and self.loss_fn is not None:
                    loss_sum, w_sum = self._batch_loss(out, target, weight)
                else:
                    loss_sum = w_sum = None
                bad = self._non_finite_items(out, target, weight, loss_sum)
                inf_target = self._infinite_targets(target, weight)
                bad = bad | inf_target
                if train:
                    if loss_sum is None:
                        raise TrainingError("the training set has no target")
                    # one all-reduce carries the weight sum and the non-finite count
                    packed = torch.stack([w_sum.double(), bad.sum().double()])
                    reduced = all_reduce_sum(packed, self.ctx)
                    if float(reduced[1]) > 0:
                        raise self._non_finite_error(
                            phase, number, batch, bad, loss_sum, inf_target
                        )
                    global_w = reduced[0].to(w_sum.dtype)
                    step_loss = loss_sum * (world / global_w) if global_w > 0 else loss_sum * 0
                    self.optimizer.zero_grad(set_to_none=True)
                    step_loss.backward()
                    self._check_gradients(phase, number, batch)
                    self.optimizer.step()
                elif bool(bad.any()):
                    bad_entries += self._entry_names(batch, bad)
            if loss_sum is not None:
                sum_loss += loss_sum.detach().double()
                sum_w += w_sum.double()
            ids.append(batch.sample_id.reshape(-1).cpu().numpy())
            weights.append(weight.cpu().numpy())
            outputs.append(self._postprocess(out))
            raw.append(out.detach().float().cpu().numpy())
            if target is not None:
                targets.append(target.cpu().numpy())
        if not train:
            # every rank learns whether any rank met non-finite outputs (no rank waits alone)
            bad_lists = all_gather_objects(bad_entries, self.ctx)
            bad_all = [e for part in bad_lists for e in part]
            if bad_all:
                raise TrainingError(
                    f"{phase}: the network gives non-finite outputs (NaN/inf), or the target "
                    f"is infinite, for {len(bad_all)} entr{'y' if len(bad_all) == 1 else 'ies'}: "
                    f"{bad_all[:10]}{' ...' if len(bad_all) > 10 else ''}; nothing is reported "
                    f"for made-up values (HDF5 datasets check their values when read, so with "
                    f"them the network itself overflows on these entries)"
                )
        elapsed = time.perf_counter() - start
        totals = all_reduce_sum(torch.stack([sum_loss, sum_w]), self.ctx).cpu().numpy()
        gathered = all_gather_objects(
            (
                np.concatenate(ids),
                np.concatenate(weights),
                np.concatenate(outputs),
                np.concatenate(raw),
                np.concatenate(targets) if targets else None,
            ),
            self.ctx,
        )
        g_ids = np.concatenate([g[0] for g in gathered])
        keep = np.concatenate([g[1] for g in gathered]) > 0
        order = np.argsort(g_ids[keep], kind="stable")
        result: dict[str, Any] = {
            "ids": g_ids[keep][order],
            "outputs": np.concatenate([g[2] for g in gathered])[keep][order],
            "raw": np.concatenate([g[3] for g in gathered])[keep][order],
            "targets": None,
            "loss": float(totals[0] / totals[1]) if totals[1] > 0 else float("nan"),
            "time_s": elapsed,
        }
        if gathered[0][4] is not None:
            result["targets"] = np.concatenate([g[4] for g in gathered])[keep][order]
        if result["targets"] is not None and self.task is not None:
            result["metrics"] = compute_metrics(self.task, result["outputs"], result["targets"])
        else:
            result["metrics"] = {}
        return result

    def _log_row(self, epoch: int, phase: str, res: dict[str, Any], n_items: int) -> dict[str, Any]:
        row = {"epoch": epoch, "phase": phase, "loss": res["loss"], **res["metrics"]}
        row["lr"] = float(self.optimizer.param_groups[0]["lr"])
        row["time_s"] = res["time_s"]
        row["items_per_s"] = n_items / res["time_s"] if res["time_s"] > 0 else float("nan")
        self.history.add(row)  # every rank keeps the table; rank 0 writes it
        return row

    # ---- public API -----------------------------------------------------------------------------------
    def train(
        self,
        epochs: int | None = None,
        batch_size: int = 32,
        *,
        early_stopping_patience: int | None = None,
        min_delta: float = 0.0,
        max_gap: float | None = None,
        max_gap_min_epoch: int = 10,
        best_model: bool = True,
        num_workers: int = 0,
        shuffle: bool = True,
        eval_batch_size: int | None = None,
        checkpoint: str | None = "model.pt",
        verbose: bool = False,
        **deeprank2_kwargs: Any,
    ) -> pd.DataFrame:
        """Train for up to ``epochs`` epochs; returns the metrics table.

        Parameters
        ----------
        epochs : int
        batch_size : int
            Global batch size (split over DDP ranks).
        early_stopping_patience : int, optional
            Stop after this many epochs without an improvement of the monitored loss
            (validation if there is a validation set, else training) by more than ``min_delta``.
        max_gap : float, optional
            Also stop when the validation loss exceeds the training loss by more than this,
            after epoch ``max_gap_min_epoch`` (DeepRank2's ``earlystop_maxgap``/``min_epoch``).
        best_model : bool
            Keep (and checkpoint) the weights of the epoch with the lowest monitored loss;
            False keeps the last epoch's.
        num_workers : int
            DataLoader worker processes (each opens the HDF5 files itself).
        checkpoint : str or None
            File name in ``output_dir`` for the checkpoint (None: do not write one).
        verbose : bool
            Print one line per epoch to stderr (rank 0): losses, task metrics, time, and
            ``*`` on the epochs that improve the monitored loss. Without it the same line is
            logged at INFO level (logger ``deeprank_like.training.trainer``; ``-v`` on the
            command line).
        **deeprank2_kwargs
            DeepRank2's names (``nepoch``, ``earlystop_patience``, ``validate``,
            ``filename``, ...) are translated with a DeprecationWarning naming ours, or
            refused with a TypeError saying what to do instead (docs/coming-from-deeprank2.md).
        """
        from deeprank_like.training.deeprank2_compat import train_kwargs

        translated = train_kwargs(
            deeprank2_kwargs,
            {
                "epochs": epochs,
                "early_stopping_patience": early_stopping_patience,
                "min_delta": min_delta,
                "max_gap": max_gap,
                "max_gap_min_epoch": max_gap_min_epoch,
                "checkpoint": checkpoint,
            },
            has_validation=self.dataset_val is not None,
        )
        epochs = int(translated["epochs"])
        early_stopping_patience = translated["early_stopping_patience"]
        min_delta = translated["min_delta"]
        max_gap = translated["max_gap"]
        max_gap_min_epoch = int(translated["max_gap_min_epoch"])
        checkpoint = translated["checkpoint"]
        if self.dataset_train is None:
            raise TrainingError("no training dataset")
        if self.loss_fn is None:
            raise TrainingError("the training set has no target/task")
        torch.manual_seed(self.seed)
        self.class_weights = self._compute_class_weights()
        train_loader, train_sampler = self._loader(
            self.dataset_train, batch_size, shuffle, num_workers
        )
        eval_bs = eval_batch_size or batch_size
        val_loader = None
        if self.dataset_val is not None and translated["validate"]:
            val_loader, _ = self._loader(self.dataset_val, eval_bs, False, num_workers)
        self.preflight(self.dataset_train, min(batch_size, 4))
        if self.ctx.enabled and self._ddp is None:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._ddp = DistributedDataParallel(self.model, device_ids=ids)
        self.scheduler = self._make_scheduler(epochs)
        best_state = None
        stale = 0
        last_rows: dict[str, Any] = {}
        first_epoch = self.epoch
        for _ in range(int(epochs)):
            self.epoch += 1
            train_sampler.set_epoch(self.epoch)
            res = self._run(train_loader, train=True)
            last_rows["train"] = self._log_row(self.epoch, "train", res, len(self.dataset_train))
            monitor = res["loss"]
            if val_loader is not None:
                vres = self._run(val_loader, train=False, phase="validation")
                last_rows["val"] = self._log_row(self.epoch, "val", vres, len(self.dataset_val))
                monitor = vres["loss"]
            if self.scheduler is not None:
                if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    self.scheduler.step(monitor)
                else:
                    self.scheduler.step()
            if not math.isfinite(monitor):
                log.warning("epoch %d: loss is %s", self.epoch, monitor)
            if monitor < self.best_loss - min_delta:
                self.best_loss = monitor
                self.best_epoch = self.epoch
                stale = 0
                if best_model:
                    best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
                    if checkpoint:
                        self.save(self.output_dir / checkpoint, metrics=last_rows)
            else:
                stale += 1
            self._report_epoch(first_epoch + int(epochs), last_rows, stale == 0, verbose)
            if early_stopping_patience is not None and stale >= early_stopping_patience:
                log.info("early stopping at epoch %d (best %s)", self.epoch, self.best_epoch)
                break
            if (
                max_gap is not None
                and val_loader is not None
                and self.epoch > max_gap_min_epoch
                and monitor - res["loss"] > max_gap
            ):
                log.info(
                    "stopping at epoch %d: validation loss exceeds training loss by %.4g > %g",
                    self.epoch,
                    monitor - res["loss"],
                    max_gap,
                )
                break
        if best_model and best_state is not None:
            self.model.load_state_dict(best_state)
        elif checkpoint:
            self.best_epoch = self.epoch
            self.save(self.output_dir / checkpoint, metrics=last_rows)
        if self.plots and self.ctx.is_main:
            plot_loss_curves(self.history.frame(), self.output_dir / "loss.png")
        return self.history.frame()

    def _report_epoch(
        self, last_epoch: int, rows: dict[str, Any], improved: bool, verbose: bool
    ) -> None:
        """One line per epoch: printed to stderr (``verbose``) or logged at INFO."""
        parts = [f"epoch {self.epoch}/{last_epoch}"]
        elapsed = 0.0
        for phase in ("train", "val"):
            row = rows.get(phase)
            if row is None or row.get("epoch") != self.epoch:
                continue
            shown = [f"loss {row['loss']:.4g}"]
            for key in ("mae", "r2", "accuracy", "auc"):
                value = row.get(key)
                if value is not None and np.isfinite(value):
                    shown.append(f"{key} {value:.3g}")
            parts.append(f"{phase} " + " ".join(shown))
            elapsed += float(row.get("time_s") or 0.0)
        parts.append(f"{elapsed:.1f} s" + (" *" if improved else ""))
        line = " | ".join(parts)
        if verbose and self.ctx.is_main:
            print(line, file=sys.stderr, flush=True)
        else:
            log.info("%s", line)

    def test(self, batch_size: int = 32, num_workers: int = 0) -> dict[str, float]:
        """Evaluate ``dataset_test``: metrics (logged as phase "test") and ``predictions_test.csv``."""
        if self.dataset_test is None:
            raise TrainingError("no test dataset")
        loader, _ = self._loader(self.dataset_test, batch_size, False, num_workers)
        self.preflight(self.dataset_test, 2)
        res = self._run(loader, train=False, phase="test")
        self._log_row(self.epoch, "test", res, len(self.dataset_test))
        frame = self._frame(self.dataset_test, res)
        if self.ctx.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            frame.to_csv(self.output_dir / "predictions_test.csv", index=False)
            if self.plots:
                plot_predictions(frame, self.task, self.output_dir / "predictions_test.png", "test")
        return {"loss": res["loss"], **res["metrics"]}

    def predict(self, data: Any, batch_size: int = 64, num_workers: int = 0) -> pd.DataFrame:
        """Predictions for a dataset, or for HDF5 file path(s) read as the training data.

        Returns a DataFrame: ``entry`` (and ``file``, ``pdb_path`` — the structure the entry
        was built from — and ``grid_number`` for HDF5 datasets), ``target`` (NaN if absent),
        then ``output`` (regression; ``output_i`` for vector targets) or ``predicted_class``,
        ``probability_<class>`` and ``output_<i>`` logits.

        When some entries have the target, ``frame.attrs["metrics"]`` holds the loss and the
        task metrics over them, with their count ``n_labelled`` (``{}`` otherwise).
        """
        dataset = self._as_dataset(data)
        loader, _ = self._loader(dataset, batch_size, False, num_workers)
        self.preflight(dataset, 2)
        res = self._run(loader, train=False, phase="prediction")
        frame = self._frame(dataset, res)
        frame.attrs["metrics"] = self._labelled_metrics(res)
        return frame

    def _labelled_metrics(self, res: dict[str, Any]) -> dict[str, float]:
        """Loss and metrics of a run over its labelled items ({} if none is labelled)."""
        targets = res["targets"]
        if targets is None or self.task is None:
            return {}
        if self.task == "classif":
            n = int((targets.reshape(-1) >= 0).sum())
        else:
            n = int(np.isfinite(targets.reshape(len(targets), -1)).all(axis=1).sum())
        if n == 0:
            return {}
        return {"n_labelled": n, "loss": res["loss"], **res["metrics"]}

    def _as_dataset(self, data: Any) -> Any:
        if isinstance(data, str | os.PathLike) or (
            isinstance(data, Sequence)
            and data
            and all(isinstance(p, str | os.PathLike) for p in data)
        ):
            from deeprank_like.data import GraphDataset, GridDataset

            source: Any = None
            if self.dataset_train is not None and hasattr(self.dataset_train, "data_config"):
                source = self.dataset_train
            elif self._checkpoint_meta is not None:
                source = self._checkpoint_meta.get("data")
                if not isinstance(source, dict) or source.get("dataset") not in ("graph", "grid"):
                    raise TrainingError(
                        "the checkpoint holds no dataset config (metadata 'data' with dataset "
                        "'graph' or 'grid'); pass a dataset to predict instead of file paths"
                    )
            if source is None:
                raise TrainingError(
                    "predicting from files needs a training dataset or a checkpoint"
                )
            kind = source.kind if hasattr(source, "kind") else source["dataset"]
            cls = GridDataset if kind == "grid" else GraphDataset
            return cls(data, train_source=source)
        return data

    def _frame(self, dataset: Any, res: dict[str, Any]) -> pd.DataFrame:
        ids = res["ids"]
        cols: dict[str, Any] = {}
        if hasattr(dataset, "item_info"):
            infos = [dataset.item_info(int(i)) for i in ids]
            cols["entry"] = [d["entry"] for d in infos]
            cols["file"] = [d["file"] for d in infos]
            if infos and "pdb_path" in infos[0]:
                cols["pdb_path"] = [d["pdb_path"] for d in infos]
            if infos and "grid_number" in infos[0]:
                cols["grid_number"] = [d["grid_number"] for d in infos]
        else:
            cols["entry"] = [str(getattr(dataset[int(i)], "entry_id", int(i))) for i in ids]
        targets = res["targets"]
        outputs = res["outputs"]
        if self.task == "classif":
            classes = list(self.classes)
            if targets is not None:
                t = targets.reshape(-1).astype(int)
                cols["target"] = [classes[c] if c >= 0 else np.nan for c in t]
                cols["target_index"] = t
            else:
                cols["target"] = np.nan
            pred = outputs.argmax(axis=1)
            cols["predicted_class"] = [classes[c] for c in pred]
            for c, value in enumerate(classes):
                cols[f"probability_{value}"] = outputs[:, c]
            for j in range(res["raw"].shape[1]):
                cols[f"output_{j}"] = res["raw"][:, j]
        else:
            width = outputs.shape[1] if outputs.ndim == 2 else 1
            out2 = outputs.reshape(len(ids), width)
            t2 = targets.reshape(len(ids), -1) if targets is not None else None
            if width == 1:
                cols["target"] = t2[:, 0] if t2 is not None else np.nan
                cols["output"] = out2[:, 0]
            else:
                for j in range(width):
                    cols[f"target_{j}"] = t2[:, j] if t2 is not None else np.nan
                    cols[f"output_{j}"] = out2[:, j]
        return pd.DataFrame(cols)

    # ---- checkpoints ----------------------------------------------------------------------------------
    def metadata(self, metrics: dict[str, Any] | None = None) -> dict[str, Any]:
        """Checkpoint metadata (JSON-serialisable)."""
        data = None
        if self.dataset_train is not None and hasattr(self.dataset_train, "data_config"):
            data = self.dataset_train.data_config()
        elif self._checkpoint_meta is not None:
            data = self._checkpoint_meta.get("data")
        else:
            data = {"dataset": None, "task": self.task, "classes": self.classes}
        return {
            "model": {
                "name": model_name(self.model),
                "class": f"{type(self.model).__module__}:{type(self.model).__qualname__}",
                "config": model_config(self.model),
            },
            "data": data,
            "task": self.task,
            "classes": self.classes,
            "loss": {
                "name": self.loss_fn.name if self.loss_fn is not None else None,
                "class_weights": None
                if self.class_weights is None
                else self.class_weights.cpu().tolist(),
            },
            "training": {
                "epoch": self.epoch,
                "best_epoch": self.best_epoch,
                "seed": self.seed,
                "optimizer": self._optimizer_name(),
                "lr": self.lr,
                "weight_decay": self.weight_decay,
                "scheduler": self._scheduler_arg
                if isinstance(self._scheduler_arg, str | type(None))
                else "callable",
                "world_size": self.ctx.world_size,
            },
            "metrics": metrics or {},
        }

    def _optimizer_name(self) -> str:
        arg = self._optimizer_arg
        return arg.lower() if isinstance(arg, str) else arg.__name__

    def save(self, path: str | os.PathLike, metrics: dict[str, Any] | None = None) -> Path | None:
        """Write a checkpoint of the current model (rank 0 only; other ranks return None)."""
        if not self.ctx.is_main:
            return None
        return save_checkpoint(
            path, self.model, self.metadata(metrics), self.optimizer.state_dict()
        )

    @classmethod
    def from_checkpoint(
        cls,
        path: str | os.PathLike,
        *,
        device: str | torch.device = "auto",
        output_dir: str | os.PathLike = "output",
        **kwargs: Any,
    ) -> Trainer:
        """A Trainer holding the checkpoint's network (for ``predict``/``test``, or fine-tuning).

        ``kwargs`` go to the constructor (datasets, lr, ...); with the same optimiser as in
        training its saved state is restored too.
        """
        payload = load_checkpoint(path)
        meta = payload["metadata"]
        source = os.fspath(path)
        model = restore_model(payload, source)
        loss_info = _meta_section(meta, "loss", source)
        training = _meta_section(meta, "training", source)
        loss = kwargs.pop("loss", loss_info.get("name"))
        if loss is not None and not isinstance(loss, str):
            raise TrainingError(f"{source}: loss.name must be a loss name, got {loss!r}")
        classes = meta.get("classes")
        if classes is not None and not (
            isinstance(classes, list)
            and all(isinstance(c, int | float | str) and not isinstance(c, bool) for c in classes)
        ):
            raise TrainingError(
                f"{source}: classes must be a list of class values, got {classes!r}"
            )
        task = meta.get("task")
        if task not in (None, "regress", "classif"):
            raise TrainingError(f"{source}: task must be 'regress' or 'classif', got {task!r}")
        trainer = cls(
            model,
            kwargs.pop("dataset_train", None),
            kwargs.pop("dataset_val", None),
            kwargs.pop("dataset_test", None),
            task=task,
            classes=classes,
            loss=loss,
            device=device,
            output_dir=output_dir,
            **kwargs,
        )
        trainer._checkpoint_meta = meta
        epoch = training.get("epoch", 0) or 0
        trainer.epoch = epoch if isinstance(epoch, int) and epoch >= 0 else 0
        saved_opt = training.get("optimizer")
        if "optimizer_state" in payload and saved_opt == trainer._optimizer_name():
            try:  # resume fine-tuning where training stopped
                trainer.optimizer.load_state_dict(payload["optimizer_state"])
            except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as exc:
                log.warning("optimizer state of %s not restored: %s", path, exc)
        return trainer

    def close(self) -> None:
        """Drop the DDP wrapper (call before destroying the process group)."""
        self._ddp = None
