"""Reusable property-test helpers (for our tests and for authors of feature modules).

Example
-------
>>> from deeprank_like.testing import assert_rigid_invariant, random_rotation
>>> assert_rigid_invariant(query, ["components", "contact"], random_rotation(0), [1.0, 2.0, 3.0])
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from deeprank_like.structure import Structure

__all__ = ["assert_rigid_invariant", "random_rotation", "transformed_structure"]


def random_rotation(seed: int | np.random.Generator) -> np.ndarray:
    """A uniformly random proper rotation matrix (3, 3) from a seed (QR of a Gaussian matrix)."""
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def transformed_structure(
    structure: Structure, rotation: np.ndarray, translation: Any
) -> Structure:
    """A copy of ``structure`` with coordinates ``x @ rotation.T + translation`` (Å)."""
    coords = structure.coords @ np.asarray(rotation, dtype=np.float64).T + np.asarray(translation)
    return replace(structure, coords=coords, _cache={})


def assert_rigid_invariant(
    query: Any,
    feature_modules: Any,
    rotation: np.ndarray,
    translation: Any,
    rtol: float = 1e-6,
    atol: float = 1e-6,
    skip: tuple[str, ...] = (),
) -> None:
    """Assert that every feature and target of ``query`` is invariant under a rigid motion.

    Node/edge sets must be identical; positions and centre must move with the structure.
    ``skip`` names features that are legitimately not invariant.
    """
    structure = query.load_structure()
    moved = transformed_structure(structure, rotation, translation)
    g1 = query.build(feature_modules, structure=structure)
    g2 = query.build(feature_modules, structure=moved)
    np.testing.assert_array_equal(g1.node_ids, g2.node_ids)
    np.testing.assert_array_equal(g1.edge_index, g2.edge_index)
    r = np.asarray(rotation)
    np.testing.assert_allclose(g1.positions @ r.T + translation, g2.positions, atol=1e-6)
    np.testing.assert_allclose(g1.center @ r.T + translation, g2.center, atol=1e-6)
    for kind, f1, f2 in (
        ("node", g1.node_features, g2.node_features),
        ("edge", g1.edge_features, g2.edge_features),
        ("target", g1.targets, g2.targets),
    ):
        assert f1.keys() == f2.keys(), f"{kind} features differ: {sorted(f1)} vs {sorted(f2)}"
        for name in f1:
            if name in skip:
                continue
            np.testing.assert_allclose(
                np.asarray(f1[name], dtype=np.float64),
                np.asarray(f2[name], dtype=np.float64),
                rtol=rtol,
                atol=atol,
                err_msg=f"{kind} feature {name!r} is not invariant under a rigid motion",
            )
