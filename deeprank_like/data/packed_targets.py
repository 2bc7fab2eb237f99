"""Targets of a :class:`~deeprank_like.data.packed.PackedGraphDataset`: classes, widths, ``y``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from deeprank_like.data.base import CLASSIFICATION_TARGETS, target_tensor
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
