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

import inspect
import logging
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from deeprank_like.errors import TrainingError
from deeprank_like.nn.registry import build_model, model_config, model_name
from deeprank_like.training.batches import (
    check_inherits,
)
from deeprank_like.training.checkpoint import (
    load_checkpoint,
    restore_model,
    save_checkpoint,
    trainer_settings,
)
from deeprank_like.training.distributed import DistContext, current_context, resolve_device
from deeprank_like.training.evaluation import dataset_for, labelled_metrics, predictions_frame
from deeprank_like.training.exporters import MetricsCSV, plot_loss_curves, plot_predictions
from deeprank_like.training.loop import EpochRunner, epoch_line
from deeprank_like.training.losses import BCEWithLogitsLoss, Loss, make_loss
from deeprank_like.training.optim import OPTIMIZERS as OPTIMIZERS  # moved; kept importable
from deeprank_like.training.optim import SCHEDULERS as SCHEDULERS
from deeprank_like.training.optim import (
    make_optimizer,
    make_scheduler,
    optimizer_name,
    scheduler_name,
)

__all__ = ["Trainer", "build_model_for", "resolve_device"]

log = logging.getLogger(__name__)


def build_model_for(
    name: str | type[nn.Module],
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
            bce = loss is not None and isinstance(make_loss(loss, task), BCEWithLogitsLoss)
            config["output_size"] = 1 if bce else len(dataset.classes)
        else:
            config["output_size"] = int(getattr(dataset, "target_width", 1) or 1)
    if getattr(dataset, "kind", "") == "grid":
        config.setdefault("num_channels", dataset.num_channels)
        config.setdefault("grid_shape", list(dataset.grid_shape))
    else:
        config.setdefault("num_node_features", dataset.num_node_features)
        config.setdefault("num_edge_features", dataset.num_edge_features)
    return build_model(name, config)


class Trainer(EpochRunner):
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
        Optimiser, loss and scheduler names ignore case and ``_``/``-`` and accept the
        PyTorch class names (``"AdamW"``, ``"MSELoss"``, ``"ReduceLROnPlateau"``); a typo is
        a TrainingError listing the choices (:mod:`deeprank_like.resolve`).
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
        self.optimizer = make_optimizer(
            self.model.parameters(), optimizer, lr, weight_decay, optimizer_kwargs
        )
        if scheduler is not None and not callable(scheduler) and not isinstance(scheduler, str):
            raise TrainingError(f"scheduler must be a name or a callable, got {scheduler!r}")
        # a name is checked now (fail in seconds) and stored in its canonical spelling
        self._scheduler_arg = scheduler_name(scheduler) if isinstance(scheduler, str) else scheduler
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
                check_inherits(dataset_train, ds, name)

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
        self.optimizer = make_optimizer(
            self.model.parameters(), optimizer, lr, weight_decay, optimizer_kwargs
        )

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

    def preflight(self, dataset: Any, batch_size: int = 2) -> None:
        """Run one small batch through the model: fail in seconds, not after an epoch.

        Parameters
        ----------
        dataset : dataset
            Its first ``batch_size`` items form the batch.
        batch_size : int
            Number of items.

        Raises
        ------
        TrainingError
            Input widths that differ from the network's (both named), an output of the wrong
            shape, an output activation on a classifier, or a loss that fails on the batch.
        """
        self._check_first_batch(dataset, batch_size)

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
        self._wrap_ddp()
        self.scheduler = make_scheduler(
            self._scheduler_arg, self.optimizer, epochs, self._scheduler_kwargs
        )
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
        line = epoch_line(self.epoch, last_epoch, rows, improved)
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
        frame = predictions_frame(self.dataset_test, res, self.task, self.classes)
        if self.ctx.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            frame.to_csv(self.output_dir / "predictions_test.csv", index=False)
            if self.plots and self.task is not None:
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
        dataset = dataset_for(data, self.dataset_train, self._checkpoint_meta)
        loader, _ = self._loader(dataset, batch_size, False, num_workers)
        self.preflight(dataset, 2)
        res = self._run(loader, train=False, phase="prediction")
        frame = predictions_frame(dataset, res, self.task, self.classes)
        frame.attrs["metrics"] = labelled_metrics(res, self.task)
        return frame

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
        return optimizer_name(arg) if isinstance(arg, str) else arg.__name__

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
        settings = trainer_settings(meta, source)
        loss = kwargs.pop("loss", settings["loss"])
        if loss is not None and not isinstance(loss, str):
            raise TrainingError(f"{source}: loss.name must be a loss name, got {loss!r}")
        trainer = cls(
            model,
            kwargs.pop("dataset_train", None),
            kwargs.pop("dataset_val", None),
            kwargs.pop("dataset_test", None),
            task=settings["task"],
            classes=settings["classes"],
            loss=loss,
            device=device,
            output_dir=output_dir,
            **kwargs,
        )
        trainer._checkpoint_meta = meta
        trainer.epoch = settings["epoch"]
        if "optimizer_state" in payload and settings["optimizer"] == trainer._optimizer_name():
            try:  # resume fine-tuning where training stopped
                trainer.optimizer.load_state_dict(payload["optimizer_state"])
            except (ValueError, KeyError, TypeError, RuntimeError, IndexError) as exc:
                log.warning("optimizer state of %s not restored: %s", path, exc)
        return trainer

    def close(self) -> None:
        """Drop the DDP wrapper (call before destroying the process group)."""
        self._ddp = None
