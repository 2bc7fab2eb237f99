"""The Trainer's passes over a dataset: batches, per-sample losses, NaN/inf checks, one epoch.

:class:`EpochRunner` is the part of :class:`~deeprank_like.training.Trainer` that runs a
DataLoader through the network once (:meth:`EpochRunner._run`), in training (loss, backward,
optimiser step) or evaluation mode, and gathers ids, outputs and targets over DDP ranks.
Every step is checked: a non-finite loss, target or gradient stops training before it changes
the weights and names the entries responsible.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader

from deeprank_like.errors import TrainingError
from deeprank_like.training.batches import (
    TaggedDataset,
    declared_mismatch,
    describe_widths,
    expected_widths,
    iterate_batches,
)
from deeprank_like.training.distributed import (
    DistContext,
    GlobalBatchSampler,
    all_gather_objects,
    all_reduce_sum,
)
from deeprank_like.training.exporters import MetricsCSV
from deeprank_like.training.losses import BCEWithLogitsLoss, Loss
from deeprank_like.training.metrics import compute_metrics

__all__ = ["EpochRunner", "epoch_line"]


def epoch_line(epoch: int, last_epoch: int, rows: dict[str, Any], improved: bool) -> str:
    """The progress line of an epoch: losses, task metrics, time, ``*`` if it improved.

    Parameters
    ----------
    epoch, last_epoch : int
        This epoch and the last one of the run.
    rows : dict
        ``"train"``/``"val"`` → the metrics row logged for the phase (rows of other epochs
        are left out).
    improved : bool
        The monitored loss improved in this epoch.
    """
    parts = [f"epoch {epoch}/{last_epoch}"]
    elapsed = 0.0
    for phase in ("train", "val"):
        row = rows.get(phase)
        if row is None or row.get("epoch") != epoch:
            continue
        shown = [f"loss {row['loss']:.4g}"]
        for key in ("mae", "r2", "accuracy", "auc"):
            value = row.get(key)
            if value is not None and np.isfinite(value):
                shown.append(f"{key} {value:.3g}")
        parts.append(f"{phase} " + " ".join(shown))
        elapsed += float(row.get("time_s") or 0.0)
    parts.append(f"{elapsed:.1f} s" + (" *" if improved else ""))
    return " | ".join(parts)


def _host(parts: list[Tensor]) -> np.ndarray:
    """The per-batch tensors of an epoch, concatenated and moved to the host once."""
    return torch.cat(parts).cpu().numpy()


class EpochRunner:
    """Mixin of :class:`~deeprank_like.training.Trainer`: one pass over a dataset.

    It reads the Trainer's state declared below and changes only the model's weights, the
    optimiser, ``history`` and the DDP wrapper ``_ddp``.
    """

    model: nn.Module
    device: torch.device
    ctx: DistContext
    task: str | None
    classes: list[Any] | None
    loss_fn: Loss | None
    class_weights: Tensor | None
    optimizer: torch.optim.Optimizer
    history: MetricsCSV
    seed: int
    lr: float
    epoch: int
    best_epoch: int | None
    dataset_train: Any
    _class_weights_arg: Any
    _ddp: nn.Module | None

    def _loader(
        self, dataset: Any, batch_size: int, shuffle: bool, num_workers: int
    ) -> tuple[DataLoader, GlobalBatchSampler]:
        if hasattr(dataset, "prepare"):
            dataset.prepare(num_workers)
            if num_workers > 0 and hasattr(dataset, "close"):
                dataset.close()  # workers open their own handles
        sampler = GlobalBatchSampler(len(dataset), batch_size, shuffle, self.seed, self.ctx)
        loader = DataLoader(
            TaggedDataset(dataset),
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

    def _loss(self) -> Loss:
        """The loss function (TrainingError without one: a dataset without a task)."""
        if self.loss_fn is None:
            raise TrainingError("the training set has no target/task")
        return self.loss_fn

    def _batch_loss(self, out: Tensor, target: Tensor, weight: Tensor) -> tuple[Tensor, Tensor]:
        """Sum of per-sample loss values and of their weights over the real, labelled samples."""
        keep = (weight > 0) & self._labelled(target)
        if bool(keep.all()):
            values, weights = self._loss()(out, target, self.class_weights)
        elif bool(keep.any()):
            values, weights = self._loss()(out[keep], target[keep], self.class_weights)
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
        if (
            loss_sum is not None
            and target is not None
            and not bool(torch.isfinite(loss_sum.detach()))
        ):
            # the loss overflowed with finite outputs: find the samples, one at a time
            keep = (weight > 0) & self._labelled(target)
            for i in torch.nonzero(keep & ~bad).reshape(-1).tolist():
                values, _ = self._loss()(out[i : i + 1], target[i : i + 1], self.class_weights)
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

    def _postprocess(self, out: Tensor) -> Tensor:
        """Regression outputs, or class probabilities (B, C), on the model's device."""
        out = out.detach().float()
        if self.task != "classif":
            return out
        if out.size(1) == 1 or isinstance(self.loss_fn, BCEWithLogitsLoss):
            p1 = torch.sigmoid(out[:, :1])
            return torch.cat([1 - p1, p1], dim=1)
        return torch.softmax(out, dim=1)

    def _compute_class_weights(self) -> Tensor | None:
        arg = self._class_weights_arg
        if arg is False or arg is None or self.task != "classif":
            return None
        classes = self.classes or []
        n_classes = len(classes)
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
                missing = [classes[i] for i in np.flatnonzero(counts == 0)]
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
        for number, batch in enumerate(iterate_batches(loader)):
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
                    # world / global_w, or 0 for a batch without weight, with no host sync
                    tiny = torch.finfo(global_w.dtype).tiny
                    scale = torch.where(global_w > 0, world / global_w.clamp(min=tiny), 0.0)
                    step_loss = loss_sum * scale
                    self.optimizer.zero_grad(set_to_none=True)
                    step_loss.backward()
                    self._check_gradients(phase, number, batch)
                    self.optimizer.step()
                elif bool(bad.any()):
                    bad_entries += self._entry_names(batch, bad)
            if loss_sum is not None:
                sum_loss += loss_sum.detach().double()
                sum_w += w_sum.double()
            # kept on the device: one transfer per epoch, not five per batch (each a host sync)
            ids.append(batch.sample_id.reshape(-1))
            weights.append(weight.detach())
            outputs.append(self._postprocess(out))
            raw.append(out.detach().float())
            if target is not None:
                targets.append(target.detach())
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
                _host(ids),
                _host(weights),
                _host(outputs),
                _host(raw),
                _host(targets) if targets else None,
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

    def _wrap_ddp(self) -> None:
        """Wrap the model in ``DistributedDataParallel`` once, under DDP."""
        if self.ctx.enabled and self._ddp is None:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._ddp = DistributedDataParallel(self.model, device_ids=ids)

    def _check_first_batch(self, dataset: Any, batch_size: int) -> None:
        """The checks of :meth:`Trainer.preflight <deeprank_like.training.Trainer.preflight>`."""
        n = min(len(dataset), max(1, batch_size))
        batch = Batch.from_data_list([dataset[i] for i in range(n)]).to(self.device)
        if declared_mismatch(self.model, batch):
            raise TrainingError(
                f"the first batch does not fit {type(self.model).__name__}: the data has "
                f"{describe_widths(batch)}, the network expects {expected_widths(self.model)}"
            )
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                out = self._forward(self.model, batch)
        except (RuntimeError, IndexError, ValueError, TypeError) as exc:
            raise TrainingError(
                f"the first batch does not fit {type(self.model).__name__}: the data has "
                f"{describe_widths(batch)}, the network expects {expected_widths(self.model)} ({exc})"
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

    # ---- public API -----------------------------------------------------------------------------------
