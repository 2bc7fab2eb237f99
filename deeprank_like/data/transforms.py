"""Feature transforms and standardisation (fitted on a training set, stored as plain numbers).

* Named transforms (``"log"``, ``"log1p"``, ``"sqrt"``, ``"abs"``, ``"signed_log1p"``,
  ``{"name": "clip", "min": a, "max": b}``) are data, so checkpoints store them as JSON and a
  validation/test/inference dataset re-applies them exactly. A Python callable also works but is
  recorded only by name: whoever loads the checkpoint must pass the same callable again.
* :class:`RunningStats` accumulates exact per-column means and (population) standard deviations
  in float64 with Chan's pairwise update; NaNs are ignored per column.
* :class:`Standardizer` holds the fitted ``mean``/``std`` arrays per feature name;
  ``apply(name, values)`` computes ``(values - mean) / std`` per column. A column whose std is
  0 (constant in the training set) or that had no finite value is left as it is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from deeprank_like.errors import TrainingError

__all__ = [
    "NAMED_TRANSFORMS",
    "InheritsStandardization",
    "RunningStats",
    "Standardizer",
    "apply_transform",
    "transform_to_json",
    "validate_transform",
]

NAMED_TRANSFORMS: dict[str, Callable[..., np.ndarray]] = {
    "log": np.log,
    "log1p": np.log1p,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "signed_log1p": lambda x: np.sign(x) * np.log1p(np.abs(x)),
    "clip": lambda x, min=None, max=None: np.clip(x, min, max),
}


def validate_transform(spec: Any, feature: str = "?") -> Any:
    """Check a transform spec (name, ``{"name": ..., **params}`` or callable); return it."""
    if callable(spec):
        return spec
    if isinstance(spec, str):
        spec = {"name": spec}
    if isinstance(spec, Mapping) and spec.get("name") in NAMED_TRANSFORMS:
        params = {k: v for k, v in spec.items() if k != "name"}
        if spec["name"] == "clip":
            if set(params) - {"min", "max"}:
                raise TrainingError(
                    f"transform 'clip' of {feature!r} takes only min/max, got {params}"
                )
        elif params:
            raise TrainingError(f"transform {spec['name']!r} of {feature!r} takes no parameters")
        return dict(spec)
    raise TrainingError(
        f"unknown transform {spec!r} for feature {feature!r}; use a callable or one of "
        f"{sorted(NAMED_TRANSFORMS)} (clip as {{'name': 'clip', 'min': a, 'max': b}})"
    )


def transform_to_json(spec: Any) -> Any:
    """JSON form of a validated spec (callables become ``{"callable": "module:qualname"}``)."""
    if callable(spec):
        return {
            "callable": f"{getattr(spec, '__module__', '?')}:{getattr(spec, '__qualname__', repr(spec))}"
        }
    return spec


def apply_transform(spec: Any, values: np.ndarray, feature: str = "?") -> np.ndarray:
    """Apply a validated transform spec to ``values`` (float64); numpy warnings are errors."""
    try:
        with np.errstate(all="raise"):
            if callable(spec):
                out = spec(values)
            else:
                params = {k: v for k, v in spec.items() if k != "name"}
                out = NAMED_TRANSFORMS[spec["name"]](values, **params)
    except FloatingPointError as exc:
        raise TrainingError(
            f"transform {transform_to_json(spec)} of feature {feature!r} failed: {exc}"
        ) from exc
    out = np.asarray(out, dtype=np.float64)
    if out.shape != values.shape:
        raise TrainingError(
            f"transform {transform_to_json(spec)} of feature {feature!r} changed the shape "
            f"{values.shape} -> {out.shape}"
        )
    return out


class RunningStats:
    """Exact per-column count, mean and M2 (sum of squared deviations), mergeable.

    ``update(values)`` takes (rows, columns) arrays; NaN entries are skipped per column.
    """

    def __init__(self, width: int) -> None:
        self.count = np.zeros(width, dtype=np.float64)
        self.mean = np.zeros(width, dtype=np.float64)
        self.m2 = np.zeros(width, dtype=np.float64)

    def update(self, values: np.ndarray) -> None:
        """Add the rows of ``values`` (rows, width)."""
        v = np.asarray(values, dtype=np.float64)
        if v.ndim == 1:
            v = v[:, None]
        if v.shape[0] == 0:
            return
        finite = ~np.isnan(v)
        n_b = finite.sum(axis=0).astype(np.float64)
        vz = np.where(finite, v, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_b = np.where(n_b > 0, vz.sum(axis=0) / np.maximum(n_b, 1), 0.0)
        m2_b = (np.where(finite, v - mean_b, 0.0) ** 2).sum(axis=0)
        self._merge(n_b, mean_b, m2_b)

    def _merge(self, n_b: np.ndarray, mean_b: np.ndarray, m2_b: np.ndarray) -> None:
        n_a = self.count
        n = n_a + n_b
        safe = np.maximum(n, 1)
        delta = mean_b - self.mean
        self.mean = np.where(n > 0, self.mean + delta * n_b / safe, 0.0)
        self.m2 = self.m2 + m2_b + delta**2 * n_a * n_b / safe
        self.count = n

    def merge(self, other: RunningStats) -> None:
        """Fold another accumulator into this one."""
        self._merge(other.count, other.mean, other.m2)

    @property
    def std(self) -> np.ndarray:
        """Population standard deviation per column (0 where count is 0)."""
        return np.sqrt(np.where(self.count > 0, self.m2 / np.maximum(self.count, 1), 0.0))


class Standardizer:
    """Fitted per-column ``mean``/``std`` of named features.

    Parameters
    ----------
    stats : dict of str to (mean, std)
        1-D float64 arrays, one value per column of the feature.
    """

    def __init__(self, stats: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None) -> None:
        self.stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, (mean, std) in (stats or {}).items():
            self.stats[name] = (
                np.atleast_1d(np.asarray(mean, dtype=np.float64)),
                np.atleast_1d(np.asarray(std, dtype=np.float64)),
            )

    @classmethod
    def from_running(cls, running: Mapping[str, RunningStats]) -> Standardizer:
        """Finalise accumulators."""
        return cls({name: (r.mean.copy(), r.std) for name, r in running.items()})

    def __contains__(self, name: str) -> bool:
        return name in self.stats

    def __repr__(self) -> str:
        return f"Standardizer({sorted(self.stats)})"

    def scale(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(shift, divisor) per column: (mean, std), or (0, 1) where std is 0 or undefined."""
        mean, std = self.stats[name]
        usable = np.isfinite(std) & (std > 0) & np.isfinite(mean)
        return np.where(usable, mean, 0.0), np.where(usable, std, 1.0)

    def apply(self, name: str, values: np.ndarray) -> np.ndarray:
        """Standardise ``values`` ((rows,) or (rows, width)) of feature ``name``."""
        if name not in self.stats:
            return values
        shift, div = self.scale(name)
        if values.ndim == 1:
            return (values - shift[0]) / div[0]
        return (values - shift) / div

    def to_dict(self) -> dict[str, dict[str, list[float]]]:
        """JSON-serialisable form (full float64 precision, no rounding)."""
        return {
            name: {"mean": [float(v) for v in m], "std": [float(v) for v in s]}
            for name, (m, s) in self.stats.items()
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping[str, list[float]]]) -> Standardizer:
        """Inverse of :meth:`to_dict`."""
        return cls(
            {name: (np.asarray(d["mean"]), np.asarray(d["std"])) for name, d in data.items()}
        )


class InheritsStandardization(ABC):
    """Standardisation owned by a training set and inherited by the sets built from it.

    A dataset fits its own :class:`Standardizer` (``_fit_standardizer``) unless it has a
    ``train_source``: another dataset (its statistics are used, fitted lazily) or a data config
    read from a checkpoint (its stored ``standardization``). Shared by the per-entry datasets and
    :class:`~deeprank_like.data.packed.PackedGraphDataset`.
    """

    standardize: list[str]
    _stats: Standardizer | None
    _source_dataset: Any
    _source_config: dict[str, Any] | None

    @abstractmethod
    def _fit_standardizer(self) -> Standardizer:
        """Statistics of this dataset's own items (a training set)."""

    @property
    def standardizer(self) -> Standardizer | None:
        """Fitted standardisation (own for a training set, inherited otherwise), or None."""
        if self._source_dataset is not None:
            return self._source_dataset.standardizer
        if self._source_config is not None:
            data = self._source_config.get("standardization")
            if data and self._stats is None:
                self._stats = Standardizer.from_dict(data)
            return self._stats
        if not self.standardize:
            return None
        if self._stats is None:
            self._stats = self._fit_standardizer()
        return self._stats

    @property
    def is_training_source(self) -> bool:
        """True if this dataset fits its own standardisation (no ``train_source``)."""
        return self._source_dataset is None and self._source_config is None

    @property
    def train_source(self) -> Any:
        """The dataset or checkpoint config this dataset inherits from (None for a training set)."""
        return self._source_dataset if self._source_dataset is not None else self._source_config
