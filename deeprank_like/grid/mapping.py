"""Map graph features onto a 3D grid around the graph centre.

The mapping is linear in the values. For ``P`` points (node positions) and ``G`` grid points we
build the sparse weight matrix ``W`` (P x G) once, then all ``C`` channels at once as
``channels = Wᵀ V`` with ``V`` the (P x C) value matrix: no Python loop over points or channels.

Edge features are mapped at both end points of each edge (as in DeepRank2). Since the end
points are node positions, the edge values are first summed onto their end nodes
(``V_edge_nodes = B E`` with the N x E incidence matrix ``B``), so ``W`` only has N rows.

Grid points are symmetric around the centre: ``x_i = c_x + (i - (n_x - 1)/2) h_x``.

Kernel weights (``d``: distance from the point to a grid point, ``h``: spacing):

* ``GAUSSIAN``: ``exp(-d²/2σ²)`` for ``d <= truncate·σ`` (default 4σ, where the kernel is
  exp(-8) = 3.4e-4 of its peak), normalised by its sum over the unclipped lattice. For σ >= h
  this equals ``h_x h_y h_z (2πσ²)^(-3/2) exp(-d²/2σ²) / (1 - tail)`` (Poisson summation; to
  ~1e-5 relative at 4σ, where the sharp truncation edge limits it, and ~1e-8 at 5.77σ), i.e.
  the value density times the voxel volume, with ``tail`` the mass of a 3D Gaussian beyond the
  truncation radius (1.1e-3 at 4σ).
* ``FAST_GAUSSIAN``: the same kernel truncated at 3σ by default, normalised the same way.
* ``NEAREST``: trilinear weights on the 8 corners of the cell holding the point.
* ``EXP_DEEPRANK2``: ``exp(-d)``, d in Å, on every grid point, not normalised.

With the normalised methods, a point whose kernel lies inside the box contributes exactly its
value to the channel's sum over the grid; the part of a kernel that falls outside the box is lost
(it is not folded back inside).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from deeprank_like.errors import GridError
from deeprank_like.grid.rotation import check_rotation, rotate_about_center
from deeprank_like.grid.settings import GridSettings, MapMethod

__all__ = [
    "DEFAULT_SIGMA",
    "FAST_GAUSSIAN_CUTOFF",
    "FLOAT32_EXACT_CUTOFF",
    "GAUSSIAN_CUTOFF",
    "Grid",
    "graph_channel_values",
    "kernel_radius",
    "map_graph_to_grid",
    "map_graph_to_grids",
    "map_points",
    "point_weights",
]

#: Default width σ (Å) of the GAUSSIAN / FAST_GAUSSIAN kernels.
DEFAULT_SIGMA = 1.0
#: Default GAUSSIAN truncation radius in units of σ (kernel exp(-8) = 3.4e-4 of its peak; the
#: default of scipy.ndimage.gaussian_filter). ``truncate=FLOAT32_EXACT_CUTOFF`` (5.77σ, kernel
#: below 2⁻²⁴ of its peak) is exact to float32 resolution but stores ~1.6x more bytes.
GAUSSIAN_CUTOFF = 4.0
#: Default FAST_GAUSSIAN truncation radius in units of σ (kernel 1.1 % of its peak).
FAST_GAUSSIAN_CUTOFF = 3.0
#: exp(-c²/2) = 2⁻²⁴.
FLOAT32_EXACT_CUTOFF = math.sqrt(2.0 * 24.0 * math.log(2.0))

_CHUNK_ENTRIES = 4_000_000  # bound on (points x stencil) temporaries per chunk


@dataclass(eq=False, kw_only=True)
class Grid:
    """Feature channels on a regular grid.

    Attributes
    ----------
    data : ndarray, shape (C, nx, ny, nz), float32
        One channel per feature column; ``data[c, i, j, k]`` is at ``(x[i], y[j], z[k])``.
    channel_names : tuple of str
        ``feat`` for a single-column feature, ``feat_000``, ``feat_001``... otherwise.
    center : ndarray, shape (3,)
        Grid centre in Å (``graph.center``).
    x, y, z : ndarray
        Grid point coordinates per axis, Å.
    rotation : ndarray, shape (3, 3)
        The rotation applied to the positions around ``center`` before mapping (identity for
        the unrotated grid).
    method : MapMethod
    sigma : float
        Gaussian σ in Å (unused by NEAREST and EXP_DEEPRANK2).
    truncate : float or None
        Gaussian truncation radius in units of σ (None for NEAREST and EXP_DEEPRANK2).
    settings : GridSettings
    """

    data: np.ndarray
    channel_names: tuple[str, ...]
    center: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    rotation: np.ndarray = field(default_factory=lambda: np.eye(3))
    method: MapMethod = MapMethod.GAUSSIAN
    sigma: float = DEFAULT_SIGMA
    truncate: float | None = None
    settings: GridSettings | None = None

    @property
    def channels(self) -> dict[str, np.ndarray]:
        """Channel name → (nx, ny, nz) float32 view into :attr:`data`."""
        return {name: self.data[i] for i, name in enumerate(self.channel_names)}

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(nx, ny, nz)``."""
        return tuple(self.data.shape[1:])  # type: ignore[return-value]

    def __repr__(self) -> str:
        return (
            f"Grid(channels={len(self.channel_names)}, shape={self.shape}, "
            f"center={np.round(self.center, 3).tolist()}, method={self.method.name})"
        )


def _positive(value, what: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise GridError(f"{what} must be a positive number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise GridError(f"{what} must be a positive number, got {value!r}")
    return v


def kernel_radius(
    method: MapMethod | str, sigma: float, truncate: float | None, h: np.ndarray
) -> tuple[float, float | None, float | None]:
    """Validate ``sigma``/``truncate``; return ``(sigma, truncate, radius Å)``.

    ``truncate`` (in σ) defaults to :data:`GAUSSIAN_CUTOFF` / :data:`FAST_GAUSSIAN_CUTOFF`;
    it and the radius are None for NEAREST and EXP_DEEPRANK2.
    """
    method = MapMethod.parse(method)
    s = _positive(sigma, "sigma (Å)")
    if method not in (MapMethod.GAUSSIAN, MapMethod.FAST_GAUSSIAN):
        return s, None, None
    if truncate is None:
        truncate = GAUSSIAN_CUTOFF if method is MapMethod.GAUSSIAN else FAST_GAUSSIAN_CUTOFF
    t = _positive(truncate, "truncate (in σ)")
    radius = t * s
    half_diag = 0.5 * float(np.linalg.norm(h))
    if radius <= half_diag * (1 + 1e-9):
        raise GridError(
            f"sigma={s} Å truncated at {t}σ is too small for a grid spacing of "
            f"{np.round(h, 4).tolist()} Å: a point could lie farther than {radius:.3g} Å from "
            f"every grid point; use sigma >= {half_diag / t:.3g} Å, a finer grid or "
            "MapMethod.NEAREST"
        )
    return s, t, radius


def _stencil(radius: float, h: np.ndarray) -> np.ndarray:
    """Integer offsets (S, 3) from a cell's lower corner that can lie within ``radius``."""
    m = np.floor(radius / h).astype(np.int64)
    ranges = [np.arange(-m[a], m[a] + 2) for a in range(3)]
    off = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, 3)
    # smallest distance from any point of the cell [0,1)^3 to the offset lattice point
    dmin = np.maximum(np.maximum(off - 1, -off), 0) * h
    return off[(dmin**2).sum(axis=1) <= radius**2 * (1 + 1e-12)]


def point_weights(
    points: np.ndarray,
    settings: GridSettings,
    center: np.ndarray,
    method: MapMethod | str = MapMethod.GAUSSIAN,
    sigma: float = DEFAULT_SIGMA,
    truncate: float | None = None,
) -> sp.csr_matrix:
    """The sparse weight matrix ``W`` (P x G) of points on the grid (G = nx·ny·nz, C order).

    Row ``p`` holds the weights with which a unit value at ``points[p]`` lands on each grid
    point; ``map = Wᵀ V``. Not available for EXP_DEEPRANK2 (dense; see :func:`map_points`).
    """
    method = MapMethod.parse(method)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    if not np.isfinite(pts).all():
        raise GridError("grid mapping got non-finite positions")
    h = settings.resolutions
    shape = np.asarray(settings.points_counts, dtype=np.int64)
    origin = np.array([ax[0] for ax in settings.axes(center)])
    if method is MapMethod.EXP_DEEPRANK2:
        raise GridError("EXP_DEEPRANK2 has infinite support; it has no sparse weight matrix")
    sigma, _, radius = kernel_radius(method, sigma, truncate, h)
    if method is MapMethod.NEAREST:
        offsets = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])
    else:
        offsets = _stencil(radius, h)

    n_pts, n_off = pts.shape[0], offsets.shape[0]
    strides = np.array([shape[1] * shape[2], shape[2], 1], dtype=np.int64)
    # The kernels are separable: per axis a, the stencil uses offsets lo_a..hi_a. Compute
    # per-axis factors on those (p, L_a) and combine them on the stencil by gathering, which
    # avoids (p, S, 3) temporaries and an exp per stencil entry.
    lo = offsets.min(axis=0)
    hi = offsets.max(axis=0)
    axis_offsets = [np.arange(lo[a], hi[a] + 1) for a in range(3)]
    gather = [offsets[:, a] - lo[a] for a in range(3)]  # (S,) index into axis_offsets[a]
    # points farther than the kernel reach from the box contribute nothing: skip them
    reach = (hi + 1) * h  # >= radius (Gaussians) or one spacing (trilinear)
    upper = origin + (shape - 1) * h
    near = np.nonzero(((pts > origin - reach) & (pts < upper + reach)).all(axis=1))[0]
    rows, cols, vals = [], [], []
    step = max(1, _CHUNK_ENTRIES // max(n_off, 1))
    for start in range(0, near.size, step):
        chunk = near[start : start + step]
        u = (pts[chunk] - origin) / h  # grid coordinates, (p, 3)
        base = np.floor(u).astype(np.int64)
        frac = u - base
        w = None
        d2 = None
        inside = None
        col = None
        for a in range(3):
            delta = axis_offsets[a][None, :] - frac[:, a : a + 1]  # (p, L_a) in spacings
            idx = base[:, a : a + 1] + axis_offsets[a][None, :]
            if radius is None:
                fa = np.clip(1.0 - np.abs(delta), 0.0, None)
            else:
                da2 = (delta * h[a]) ** 2
                fa = np.exp(-0.5 * da2 / (sigma * sigma))
                d2 = da2[:, gather[a]] if d2 is None else d2 + da2[:, gather[a]]
            ia = (idx >= 0) & (idx < shape[a])
            ca = idx * strides[a]
            w = fa[:, gather[a]] if w is None else w * fa[:, gather[a]]
            inside = ia[:, gather[a]] if inside is None else inside & ia[:, gather[a]]
            col = ca[:, gather[a]] if col is None else col + ca[:, gather[a]]
        if radius is not None:
            w[d2 > radius * radius] = 0.0
            w /= w.sum(axis=1, keepdims=True)  # lattice sum; > 0 by kernel_radius
        inside &= w > 0
        p_idx, s_idx = np.nonzero(inside)
        rows.append(chunk[p_idx])
        cols.append(col[p_idx, s_idx])
        vals.append(w[p_idx, s_idx])
    if rows:
        r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    else:
        r = c = np.zeros(0, dtype=np.int64)
        v = np.zeros(0)
    return sp.csr_matrix((v, (r, c)), shape=(n_pts, settings.num_points))


def _map_exp_deeprank2(
    pts: np.ndarray, values: np.ndarray, settings: GridSettings, center: np.ndarray
) -> np.ndarray:
    x, y, z = settings.axes(center)
    gp = np.stack(np.meshgrid(x, y, z, indexing="ij"), axis=-1).reshape(-1, 3)
    out = np.zeros((values.shape[1], gp.shape[0]))
    step = max(1, _CHUNK_ENTRIES // max(gp.shape[0], 1))
    for start in range(0, pts.shape[0], step):
        p = pts[start : start + step]
        d2 = (p**2).sum(1)[:, None] + (gp**2).sum(1)[None, :] - 2.0 * p @ gp.T
        w = np.exp(-np.sqrt(np.maximum(d2, 0.0)))
        out += values[start : start + step].T @ w
    return out


def map_points(
    points: np.ndarray,
    values: np.ndarray,
    settings: GridSettings,
    center: np.ndarray,
    method: MapMethod | str = MapMethod.GAUSSIAN,
    sigma: float = DEFAULT_SIGMA,
    truncate: float | None = None,
    *,
    as_float32: bool = False,
) -> np.ndarray:
    """Map values at points onto the grid.

    Parameters
    ----------
    points : (P, 3) Å
    values : (P,) or (P, C)
    settings, center : the grid (points symmetric around ``center``)
    method, sigma, truncate : see :class:`MapMethod`; ``truncate`` in units of σ

    Returns
    -------
    ndarray, shape (C, nx, ny, nz), float64 (float32 if ``as_float32``)
    """
    method = MapMethod.parse(method)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    vals = np.asarray(values, dtype=np.float64)
    if vals.ndim == 1:
        vals = vals[:, None]
    if vals.ndim != 2 or vals.shape[0] != pts.shape[0]:
        raise GridError(f"got {pts.shape[0]} points but {vals.shape[0]} value rows")
    if not np.isfinite(vals).all():
        raise GridError("grid mapping got non-finite feature values")
    if method is MapMethod.EXP_DEEPRANK2:
        if not np.isfinite(pts).all():
            raise GridError("grid mapping got non-finite positions")
        flat = _map_exp_deeprank2(pts, vals, settings, center)
    else:
        w = point_weights(pts, settings, center, method, sigma, truncate)
        flat = (w.T @ vals).T
    return np.ascontiguousarray(flat, dtype=np.float32 if as_float32 else np.float64).reshape(
        (vals.shape[1], *settings.points_counts)
    )


def _column_names(name: str, width: int) -> list[str]:
    return [name] if width == 1 else [f"{name}_{i:03d}" for i in range(width)]


def graph_channel_values(
    graph,
    node_features: list[str] | None = None,
    edge_features: list[str] | None = None,
) -> tuple[list[str], np.ndarray]:
    """Channel names and the (N, C) per-node value matrix of a graph.

    Node features come first (in ``node_features`` order, default sorted), then edge features
    (default sorted); each edge value is added to both of its end nodes. A node feature and an
    edge feature with the same name raise :class:`GridError` (DeepRank2 silently summed them).
    """
    n_names = sorted(graph.node_features) if node_features is None else list(node_features)
    e_names = sorted(graph.edge_features) if edge_features is None else list(edge_features)
    for name in n_names:
        if name not in graph.node_features:
            raise GridError(f"graph {graph.id!r} has no node feature {name!r}")
    for name in e_names:
        if name not in graph.edge_features:
            raise GridError(f"graph {graph.id!r} has no edge feature {name!r}")
    clash = set(n_names) & set(e_names)
    if clash:
        raise GridError(
            f"graph {graph.id!r}: {sorted(clash)} are both node and edge features; their grid "
            "channels would collide - map one of them only (node_features=/edge_features=)"
        )
    n = graph.num_nodes
    node_v = graph.node_feature_matrix(n_names) if n_names else np.zeros((n, 0))
    names = [c for f in n_names for c in _column_names(f, _width(graph.node_features[f]))]
    if e_names:
        edge_v = graph.edge_feature_matrix(e_names)
        ei = np.asarray(graph.edge_index, dtype=np.int64)
        n_e = ei.shape[1]
        incidence = sp.csr_matrix(
            (np.ones(2 * n_e), (np.concatenate([ei[0], ei[1]]), np.tile(np.arange(n_e), 2))),
            shape=(n, n_e),
        )
        edge_nodes = np.asarray(incidence @ edge_v)
        names += [c for f in e_names for c in _column_names(f, _width(graph.edge_features[f]))]
        values = np.hstack([node_v, edge_nodes])
    else:
        values = node_v
    return names, values


def _width(array: np.ndarray) -> int:
    """Number of columns of a feature array (1 for 1-D)."""
    a = np.asarray(array)
    return 1 if a.ndim == 1 else int(np.prod(a.shape[1:]))


def map_graph_to_grid(
    graph,
    settings: GridSettings,
    method: MapMethod | str = MapMethod.GAUSSIAN,
    rotation: np.ndarray | None = None,
    sigma: float = DEFAULT_SIGMA,
    *,
    truncate: float | None = None,
    node_features: list[str] | None = None,
    edge_features: list[str] | None = None,
) -> Grid:
    """Map a graph's node and edge features onto a grid centred on ``graph.center``.

    ``rotation`` (3x3) rotates the node positions around ``graph.center`` before mapping; the
    grid itself stays axis-aligned around the same centre. The graph is not modified.
    """
    return map_graph_to_grids(
        graph,
        settings,
        method,
        sigma,
        truncate=truncate,
        rotations=None if rotation is None else np.asarray(rotation)[None],
        include_unrotated=rotation is None,
        node_features=node_features,
        edge_features=edge_features,
    )[0]


def map_graph_to_grids(
    graph,
    settings: GridSettings,
    method: MapMethod | str = MapMethod.GAUSSIAN,
    sigma: float = DEFAULT_SIGMA,
    *,
    truncate: float | None = None,
    rotations: np.ndarray | None = None,
    include_unrotated: bool = True,
    node_features: list[str] | None = None,
    edge_features: list[str] | None = None,
) -> list[Grid]:
    """The unrotated grid (if ``include_unrotated``) followed by one grid per rotation.

    The channel values are gathered once and reused for every rotation.
    """
    settings = GridSettings.coerce(settings)
    method = MapMethod.parse(method)
    sigma, truncate, _ = kernel_radius(method, sigma, truncate, settings.resolutions)
    center = np.asarray(graph.center, dtype=np.float64).reshape(3)
    if not np.isfinite(center).all():
        raise GridError(f"graph {graph.id!r} has a non-finite centre")
    names, values = graph_channel_values(graph, node_features, edge_features)
    mats: list[np.ndarray] = [np.eye(3)] if include_unrotated else []
    if rotations is not None:
        rots = np.asarray(rotations, dtype=np.float64)
        if rots.ndim != 3 or rots.shape[1:] != (3, 3):
            raise GridError(f"rotations must have shape (n, 3, 3), got {rots.shape}")
        mats += [check_rotation(r) for r in rots]
    axes = settings.axes(center)
    grids = []
    for r in mats:
        pos = rotate_about_center(graph.positions, center, r)
        data = map_points(pos, values, settings, center, method, sigma, truncate, as_float32=True)
        grids.append(
            Grid(
                data=data,
                channel_names=tuple(names),
                center=center.copy(),
                x=axes[0].copy(),
                y=axes[1].copy(),
                z=axes[2].copy(),
                rotation=r.copy(),
                method=method,
                sigma=sigma,
                truncate=truncate,
                settings=settings,
            )
        )
    return grids
