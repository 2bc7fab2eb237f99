"""Rigid-body rotations shared by the structure and grid stages (imports only numpy).

Uniformly random rotations are drawn as unit quaternions uniform on the 3-sphere (four
independent standard normals, normalised), whose rotation matrices are then Haar-distributed
on SO(3). Any number of them can be drawn; with probability 1 they are all distinct.
:mod:`deeprank_like.grid.rotation` (grid augmentation) and
:mod:`deeprank_like.structure.docking_decoys` (decoy orientations) both draw them here.
"""

from __future__ import annotations

import numpy as np

__all__ = ["quaternions_to_matrices", "random_rotations"]


def quaternions_to_matrices(q: np.ndarray) -> np.ndarray:
    """Rotation matrices of unit quaternions.

    Parameters
    ----------
    q : ndarray, shape (n, 4)
        Unit quaternions ``(w, x, y, z)``.

    Returns
    -------
    ndarray, shape (n, 3, 3), float64
    """
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    out = np.empty((q.shape[0], 3, 3), dtype=np.float64)
    out[:, 0, 0] = 1 - 2 * (y * y + z * z)
    out[:, 0, 1] = 2 * (x * y - w * z)
    out[:, 0, 2] = 2 * (x * z + w * y)
    out[:, 1, 0] = 2 * (x * y + w * z)
    out[:, 1, 1] = 1 - 2 * (x * x + z * z)
    out[:, 1, 2] = 2 * (y * z - w * x)
    out[:, 2, 0] = 2 * (x * z - w * y)
    out[:, 2, 1] = 2 * (y * z + w * x)
    out[:, 2, 2] = 1 - 2 * (x * x + y * y)
    return out


def random_rotations(n: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """``n`` rotation matrices drawn uniformly (Haar measure) from SO(3).

    Parameters
    ----------
    n : int
        Number of rotations (0 gives an empty (0, 3, 3) array).
    seed : int, numpy Generator or None
        The same int seed always gives the same rotations; a Generator is advanced (its next
        ``4 n`` standard normals are used); None draws fresh entropy.

    Returns
    -------
    ndarray, shape (n, 3, 3), float64
        Proper rotations (orthonormal, determinant +1).

    Raises
    ------
    ValueError
        If ``n`` is not a non-negative integer.
    """
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValueError(f"the number of rotations must be a non-negative integer, got {n!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    q = rng.standard_normal((int(n), 4))
    norms = np.linalg.norm(q, axis=1, keepdims=True)
    # A zero 4-vector has probability 0; guard anyway.
    q = np.where(norms > 1e-12, q / np.maximum(norms, 1e-12), np.array([1.0, 0.0, 0.0, 0.0]))
    return quaternions_to_matrices(q)
