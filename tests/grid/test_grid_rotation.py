"""Uniform random rotations: proper, seeded, distinct, Haar-distributed."""

from __future__ import annotations

import numpy as np
import pytest

from deeprank_like.errors import GridError
from deeprank_like.grid import query_rotations, random_rotations, rotation_about_axis


def test_proper_rotations():
    r = random_rotations(50, seed=1)
    assert r.shape == (50, 3, 3)
    np.testing.assert_allclose(
        r @ r.transpose(0, 2, 1), np.broadcast_to(np.eye(3), r.shape), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-12)
    assert random_rotations(0, seed=1).shape == (0, 3, 3)


def test_seeded_and_distinct():
    a = random_rotations(300, seed=42)
    np.testing.assert_array_equal(a, random_rotations(300, seed=42))
    assert not np.allclose(a, random_rotations(300, seed=43))
    flat = a.reshape(300, 9)
    dist = np.linalg.norm(flat[:, None] - flat[None], axis=-1)
    assert (dist + 10 * np.eye(300)).min() > 1e-3  # any number of distinct rotations
    # a prefix is stable: asking for more does not change the first ones
    np.testing.assert_array_equal(random_rotations(5, seed=42), a[:5])


def test_haar_moments():
    # For Haar-random R: E[R_ij] = 0, E[R_ij^2] = 1/3, E[tr R] = 0, E[(tr R)^2] = 1.
    r = random_rotations(20000, seed=0)
    np.testing.assert_allclose(r.mean(0), 0.0, atol=0.02)
    np.testing.assert_allclose((r**2).mean(0), 1 / 3, atol=0.01)
    tr = np.trace(r, axis1=1, axis2=2)
    assert abs(tr.mean()) < 0.03
    assert abs((tr**2).mean() - 1.0) < 0.05
    # rotation angle θ has density (1 - cos θ)/π: E[cos θ] = -1/2
    cos = (tr - 1) / 2
    assert abs(cos.mean() + 0.5) < 0.02


def test_query_rotations_depend_on_seed_and_id_only():
    a = query_rotations("q1", 3, seed=7)
    np.testing.assert_array_equal(a, query_rotations("q1", 3, seed=7))
    assert not np.allclose(a, query_rotations("q2", 3, seed=7))
    assert not np.allclose(a, query_rotations("q1", 3, seed=8))
    with pytest.raises(GridError):
        query_rotations("q1", 3, seed=-1)


def test_invalid_counts():
    with pytest.raises(GridError):
        random_rotations(-1)
    with pytest.raises(GridError):
        random_rotations(2.5)


def test_rotation_about_axis():
    r = rotation_about_axis([0, 0, 2], np.pi / 2)
    np.testing.assert_allclose(r @ [1, 0, 0], [0, 1, 0], atol=1e-15)
    with pytest.raises(GridError):
        rotation_about_axis([0, 0, 0], 1.0)
