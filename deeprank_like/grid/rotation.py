"""Rotations for grid augmentation.

Uniformly random rotations are drawn as unit quaternions uniform on the 3-sphere (four
independent standard normals, normalised), whose rotation matrices are then Haar-distributed
on SO(3). Any number of them can be drawn; with probability 1 they are all distinct.
"""

from __future__ import annotations

import zlib

import numpy as np

from deeprank_like import geometry
from deeprank_like.errors import GridError

__all__ = [
    "check_rotation",
    "query_rotations",
    "random_rotations",
    "rotate_about_center",
    "rotation_about_axis",
]


def random_rotations(n: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """``n`` rotation matrices drawn uniformly (Haar measure) from SO(3).

    :func:`deeprank_like.geometry.random_rotations` (shared with the docking decoys), with a
    :class:`~deeprank_like.errors.GridError` for a bad count.

    Parameters
    ----------
    n : int
        Number of rotations (0 gives an empty (0, 3, 3) array).
    seed : int, numpy Generator or None
        The same int seed always gives the same rotations; None draws fresh entropy.

    Returns
    -------
    ndarray, shape (n, 3, 3), float64
        Proper rotations (orthonormal, determinant +1).
    """
    try:
        return geometry.random_rotations(n, seed)
    except ValueError as exc:
        raise GridError(str(exc)) from None


def query_rotations(query_id: str, n: int, seed: int | None) -> np.ndarray:
    """The ``n`` augmentation rotations of one query.

    With an int ``seed`` the rotations depend only on ``(seed, query_id)``, not on the order in
    which queries are processed or on the worker that processes them.
    """
    if seed is None:
        return random_rotations(n, None)
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise GridError(f"the augmentation seed must be a non-negative integer, got {seed!r}")
    seq = np.random.SeedSequence([int(seed), zlib.crc32(str(query_id).encode("utf-8"))])
    return random_rotations(n, np.random.default_rng(seq))


def rotation_about_axis(axis: np.ndarray | list[float], angle: float) -> np.ndarray:
    """Right-handed rotation by ``angle`` radians about ``axis`` (Rodrigues' formula)."""
    a = np.asarray(axis, dtype=np.float64).reshape(3)
    norm = np.linalg.norm(a)
    if not np.isfinite(norm) or norm == 0:
        raise GridError(f"rotation axis must be a non-zero 3-vector, got {axis!r}")
    kx, ky, kz = a / norm
    k = np.array([[0.0, -kz, ky], [kz, 0.0, -kx], [-ky, kx, 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def check_rotation(rotation: np.ndarray | None, atol: float = 1e-6) -> np.ndarray:
    """Return ``rotation`` as a float64 (3, 3) array (identity for None) or raise GridError."""
    if rotation is None:
        return np.eye(3)
    r = np.asarray(rotation, dtype=np.float64)
    if r.shape != (3, 3) or not np.isfinite(r).all():
        raise GridError(f"a rotation must be a finite 3x3 matrix, got shape {r.shape}")
    if not np.allclose(r @ r.T, np.eye(3), atol=atol) or np.linalg.det(r) < 0:
        raise GridError("a rotation matrix must be orthonormal with determinant +1")
    return r


def rotate_about_center(
    positions: np.ndarray, center: np.ndarray, rotation: np.ndarray | None
) -> np.ndarray:
    """``center + R (p - center)`` for every row ``p`` of ``positions`` (new array)."""
    pos = np.asarray(positions, dtype=np.float64)
    if rotation is None:
        return pos.copy()
    c = np.asarray(center, dtype=np.float64).reshape(1, 3)
    return c + (pos - c) @ np.asarray(rotation, dtype=np.float64).T
