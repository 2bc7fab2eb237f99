"""Targets of a :class:`~deeprank_like.data.packed.PackedGraphDataset`: classes, widths, ``y``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from deeprank_like.data.base import CLASSIFICATION_TARGETS
from deeprank_like.errors import StorageError

if TYPE_CHECKING:
    from deeprank_like.data.packed import PackedGraphDataset

__all__ = ["first_target_width", "infer_classes", "target_tensor"]


def first_target_width(ds: PackedGraphDataset) -> int:
    """Width of the first present target of a regression (1 otherwise)."""
    if ds.target is None or ds.task != "regress":
        return 1
    for i in range(len(ds._items)):
        value = ds._target_of(i)
        if value is not None:
            return int(np.size(value))
    return 1


def infer_classes(ds: PackedGraphDataset) -> list[Any]:
    """The sorted class values of a classification target (known ones, else the stored ones)."""
    if ds.target in CLASSIFICATION_TARGETS:
        return list(CLASSIFICATION_TARGETS[ds.target])
    values = []
    for i, v in enumerate(ds.target_values()):
        if v is None:
            continue
        if not np.all(np.isfinite(v)):
            raise StorageError(
                f"{ds.path}: entry {ds.entry_ids()[i]!r}: target {ds.target!r} is {v} "
                f"(not finite); to mark an entry unlabelled leave the target out"
            )
        values.append(v)
    classes = sorted(set(float(v) for v in values))
    return [int(c) if float(c).is_integer() else c for c in classes]


def target_tensor(ds: PackedGraphDataset, value: Any, entry: str) -> torch.Tensor | None:
    """The ``y`` of one item.

    Parameters
    ----------
    ds : PackedGraphDataset
    value : Any
        The stored target (None where missing).
    entry : str
        Entry id, for error messages.

    Returns
    -------
    torch.Tensor or None
        (1,) int64 class index (-1: unlabelled) for classification, (1, target_width) float32
        for regression, None without a target.
    """
    if ds.target is None:
        return None
    if value is None:
        if ds.is_training_source:
            raise StorageError(
                f"entry {entry!r} has no target {ds.target!r} (required in a training set)"
            )
        if ds.task == "classif":
            return torch.tensor([-1], dtype=torch.long)
        return torch.full((1, ds.target_width), float("nan"))
    if not np.all(np.isfinite(value)):
        raise StorageError(
            f"entry {entry!r}: target {ds.target!r} is {value} (not finite); non-finite "
            f"targets are not accepted (to mark an entry unlabelled leave the target out)"
        )
    if ds.task == "classif":
        index = ds.class_to_index.get(float(value))
        if index is None:
            raise StorageError(
                f"entry {entry!r}: target {ds.target}={value} is not one of the classes "
                f"{ds.classes}"
            )
        return torch.tensor([index], dtype=torch.long)
    arr = np.atleast_1d(np.asarray(value, dtype=np.float32))
    return torch.from_numpy(arr.reshape(1, -1).copy())
