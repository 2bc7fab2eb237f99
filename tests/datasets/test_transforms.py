"""RunningStats / Standardizer: exact, mergeable, NaN-aware; named transforms."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deeprank_like.data import RunningStats, Standardizer
from deeprank_like.data.transforms import apply_transform, validate_transform
from deeprank_like.errors import TrainingError


def test_running_stats_exact_in_chunks():
    rng = np.random.default_rng(0)
    values = rng.normal(1e3, 5.0, size=(1000, 3))
    stats = RunningStats(3)
    for chunk in np.array_split(values, 37):
        stats.update(chunk)
    np.testing.assert_allclose(stats.mean, values.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(stats.std, values.std(axis=0), rtol=1e-10)
    other = RunningStats(3)
    other.update(values[:10])
    merged = RunningStats(3)
    merged.update(values[10:])
    merged.merge(other)
    np.testing.assert_allclose(merged.std, values.std(axis=0), rtol=1e-10)


def test_running_stats_nan_and_constant():
    stats = RunningStats(2)
    stats.update(np.array([[1.0, 5.0], [np.nan, 5.0], [3.0, 5.0]]))
    np.testing.assert_allclose(stats.mean, [2.0, 5.0])
    np.testing.assert_allclose(stats.std, [1.0, 0.0])
    s = Standardizer.from_running({"f": stats})
    out = s.apply("f", np.array([[3.0, 7.0]]))
    np.testing.assert_allclose(out, [[1.0, 7.0]])  # std 0: column left as is


def test_standardizer_json_round_trip_is_exact():
    s = Standardizer({"a": (np.array([0.1 + 0.2, 1 / 3]), np.array([np.pi, 2.0]))})
    back = Standardizer.from_dict(json.loads(json.dumps(s.to_dict())))
    assert back.stats["a"][0].tolist() == s.stats["a"][0].tolist()
    assert back.stats["a"][1].tolist() == s.stats["a"][1].tolist()


def test_named_transforms():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(
        apply_transform(validate_transform("signed_log1p"), x), np.sign(x) * np.log1p(np.abs(x))
    )
    clip = validate_transform({"name": "clip", "min": -1, "max": 1})
    np.testing.assert_allclose(apply_transform(clip, x), [-1, 0, 1])
    with pytest.raises(TrainingError, match="failed"):
        apply_transform(validate_transform("log"), x, "f")  # log of a negative value
    with pytest.raises(TrainingError, match="takes no parameters"):
        validate_transform({"name": "sqrt", "base": 2})
