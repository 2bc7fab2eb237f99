"""Grid settings and mapping methods.

``GridSettings(points_counts, sizes)``: ``points_counts`` is the number of grid points along x,
y and z, ``sizes`` the edge lengths of the box **in Å**. The spacing between neighbouring points
(the *resolution*) is ``sizes / points_counts`` Å. So ``GridSettings((35, 30, 30), (35.0, 30.0,
30.0))`` is a 35 x 30 x 30 Å box sampled every 1 Å, whereas ``GridSettings((20, 20, 20), (1.0,
1.0, 1.0))`` (the example in DeepRank2's documentation) is a 1 Å box sampled every 0.05 Å - almost
certainly not what its users meant. :class:`GridSettings` rejects values that cannot describe a
grid (wrong length, non-positive, non-finite or non-integer counts) with a
:class:`~deeprank_like.errors.GridError`, and logs a warning for a spacing finer than
:data:`SUSPICIOUS_RESOLUTION` Å, which usually means sizes were given as spacings.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from deeprank_like.errors import GridError
from deeprank_like.resolve import resolve

__all__ = ["SUSPICIOUS_RESOLUTION", "GridSettings", "MapMethod"]

log = logging.getLogger(__name__)

#: Spacings (Å) below this trigger a warning: ``sizes`` are box lengths, not spacings.
SUSPICIOUS_RESOLUTION = 0.1


class MapMethod(StrEnum):
    """How a value at a point is spread over the grid points.

    ``GAUSSIAN``
        ``w = exp(-d²/2σ²)`` on every lattice point with ``d <= truncate·σ`` (default 4σ, where
        the kernel is exp(-8) = 3.4e-4 of its peak; ``truncate=5.77`` makes it exact to float32
        resolution), divided by the sum of ``w`` over the whole (unclipped, infinite) lattice,
        so a point whose kernel lies inside the box keeps its value exactly: ``Σ_grid w·v = v``.
    ``FAST_GAUSSIAN``
        The same kernel truncated at 3σ by default (kernel 1.1 % of its peak), normalised the
        same way (over the truncated kernel), so mass is still exact; ~2x fewer non-zeros.
    ``NEAREST``
        Trilinear assignment ("cloud in cell"): the value is split over the 8 lattice points of
        the cell that holds the point, with weights ``Π_a (1 - |Δ_a|/h_a)``. Mass and the first
        moment (centroid) are preserved exactly.
    ``EXP_DEEPRANK2``
        DeepRank2's ``GAUSSIAN``: ``w = exp(-d)`` (d in Å) on every grid point, not normalised,
        infinite support. Only for comparison with DeepRank2 grids.
    """

    GAUSSIAN = "gaussian"
    FAST_GAUSSIAN = "fast_gaussian"
    NEAREST = "nearest"
    EXP_DEEPRANK2 = "exp_deeprank2"

    @classmethod
    def parse(cls, value: MapMethod | str) -> MapMethod:
        """Accept a member, its value (``"gaussian"``) or its name (``"GAUSSIAN"``).

        Case, ``_`` and ``-`` do not matter (:func:`deeprank_like.resolve.resolve`); an
        unknown name is a :class:`~deeprank_like.errors.GridError` listing the methods.
        """
        if isinstance(value, cls):
            return value
        return resolve(
            value,
            {m.value: m for m in cls},
            what="grid map method",
            aliases={m.name: m.value for m in cls},
            error=GridError,
        )


def _three(values: Any, what: str) -> tuple[float, ...]:
    try:
        seq = tuple(values)
    except TypeError:
        raise GridError(
            f"{what} must be a sequence of 3 values (x, y, z), got {values!r}"
        ) from None
    if len(seq) != 3:
        raise GridError(f"{what} must have 3 values (x, y, z), got {len(seq)}: {values!r}")
    out = []
    for v in seq:
        if isinstance(v, bool | np.bool_):
            raise GridError(f"{what} must be numbers, got {values!r}")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise GridError(f"{what} must be numbers, got {values!r}") from None
        if not math.isfinite(f) or f <= 0:
            raise GridError(f"{what} must be finite and positive, got {values!r}")
        out.append(f)
    return tuple(out)


@dataclass(frozen=True)
class GridSettings:
    """A box of ``points_counts`` grid points spanning ``sizes`` Å along x, y and z.

    Parameters
    ----------
    points_counts : 3 positive ints
        Grid points per axis (nx, ny, nz).
    sizes : 3 positive floats
        Box edge lengths in Å (sx, sy, sz). The spacing is ``sizes / points_counts``.

    Raises
    ------
    GridError
        If either has not exactly 3 finite positive values, or a count is not an integer.
    """

    points_counts: tuple[int, int, int]
    sizes: tuple[float, float, float]

    def __post_init__(self) -> None:
        counts = _three(self.points_counts, "points_counts")
        if any(c != int(c) for c in counts):
            raise GridError(f"points_counts must be integers, got {self.points_counts!r}")
        sizes = _three(self.sizes, "sizes (Å)")
        object.__setattr__(self, "points_counts", tuple(int(c) for c in counts))
        object.__setattr__(self, "sizes", sizes)
        if float(self.resolutions.min()) < SUSPICIOUS_RESOLUTION:
            log.warning(
                "GridSettings(points_counts=%s, sizes=%s) has a spacing of %s Å: sizes are the box "
                "edge lengths in Å, not spacings (a 1 Å spacing needs sizes == points_counts)",
                self.points_counts,
                self.sizes,
                np.round(self.resolutions, 4).tolist(),
            )

    @property
    def resolutions(self) -> np.ndarray:
        """Spacing between neighbouring grid points per axis, Å: ``sizes / points_counts``."""
        return np.asarray(self.sizes, dtype=np.float64) / np.asarray(self.points_counts)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(nx, ny, nz)``."""
        return self.points_counts  # type: ignore[return-value]

    @property
    def num_points(self) -> int:
        """``nx·ny·nz``."""
        nx, ny, nz = self.points_counts
        return nx * ny * nz

    def axes(self, center: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Grid point coordinates (Å) per axis, symmetric around ``center``.

        ``x_i = c_x + (i - (nx - 1)/2)·h_x`` for ``i = 0..nx-1`` (DeepRank2 uses
        ``c_x - s_x/2 + i·h_x``, which is shifted by ``-h_x/2``).
        """
        c = np.asarray(center, dtype=np.float64).reshape(3)
        h = self.resolutions
        return tuple(  # type: ignore[return-value]
            c[a] + (np.arange(n, dtype=np.float64) - (n - 1) / 2.0) * h[a]
            for a, n in enumerate(self.points_counts)
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {"points_counts": list(self.points_counts), "sizes": list(self.sizes)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GridSettings:
        """Inverse of :meth:`to_dict`."""
        try:
            return cls(points_counts=tuple(data["points_counts"]), sizes=tuple(data["sizes"]))
        except (KeyError, TypeError):
            raise GridError(
                f"grid settings need 'points_counts' and 'sizes' (Å), got {data!r}"
            ) from None

    @classmethod
    def coerce(cls, value: Any) -> GridSettings:
        """A GridSettings from itself, its :meth:`to_dict` form or a ``(counts, sizes)`` pair."""
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            return cls.from_dict(value)
        if isinstance(value, list | tuple) and len(value) == 2:
            return cls(value[0], value[1])
        raise GridError(
            "grid settings must be a GridSettings, a dict with 'points_counts' and 'sizes', or a "
            f"(points_counts, sizes) pair; got {value!r}"
        )
