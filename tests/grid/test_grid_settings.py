"""GridSettings validation, resolutions, axes; MapMethod parsing."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from deeprank_like.errors import GridError
from deeprank_like.grid import GridSettings, MapMethod


def test_resolutions_are_sizes_over_counts():
    s = GridSettings((35, 30, 20), (35.0, 15.0, 40.0))
    np.testing.assert_allclose(s.resolutions, [1.0, 0.5, 2.0])
    assert s.points_counts == (35, 30, 20)
    assert s.sizes == (35.0, 15.0, 40.0)
    assert s.shape == (35, 30, 20)
    assert s.num_points == 35 * 30 * 20


def test_accepts_lists_and_numpy_values():
    s = GridSettings([np.int64(4), 4, 4.0], np.array([4, 4, 4]))
    assert s.points_counts == (4, 4, 4)
    assert all(isinstance(c, int) for c in s.points_counts)
    assert s == GridSettings((4, 4, 4), (4.0, 4.0, 4.0))


def test_frozen():
    s = GridSettings((4, 4, 4), (4.0, 4.0, 4.0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.sizes = (1.0, 1.0, 1.0)


@pytest.mark.parametrize(
    ("counts", "sizes", "match"),
    [
        ((20, 20), (20.0, 20.0, 20.0), "3 values"),
        ((20, 20, 20, 20), (20.0, 20.0, 20.0), "3 values"),
        ((20, 20, 20), (20.0, 20.0), "3 values"),
        ((20, 0, 20), (20.0, 20.0, 20.0), "positive"),
        ((20, -2, 20), (20.0, 20.0, 20.0), "positive"),
        ((20, 20, 20), (20.0, 0.0, 20.0), "positive"),
        ((20, 20, 20), (20.0, -1.0, 20.0), "positive"),
        ((20, 20, 20), (20.0, float("nan"), 20.0), "positive"),
        ((20, 20, 20), (20.0, float("inf"), 20.0), "positive"),
        ((20, 20.5, 20), (20.0, 20.0, 20.0), "integers"),
        ((20, "a", 20), (20.0, 20.0, 20.0), "numbers"),
        ((20, True, 20), (20.0, 20.0, 20.0), "numbers"),
        (20, (20.0, 20.0, 20.0), "sequence"),
    ],
)
def test_invalid_settings_raise_grid_error(counts, sizes, match):
    with pytest.raises(GridError, match=match):
        GridSettings(counts, sizes)


def test_deeprank2_docs_trap_warns(caplog):
    # DeepRank2's documented GridSettings([20,20,20],[1.0,1.0,1.0]) is a 1 Å box.
    with caplog.at_level(logging.WARNING, logger="deeprank_like.grid.settings"):
        s = GridSettings((20, 20, 20), (1.0, 1.0, 1.0))
    np.testing.assert_allclose(s.resolutions, 0.05)
    assert "box edge lengths" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="deeprank_like.grid.settings"):
        GridSettings((20, 20, 20), (20.0, 20.0, 20.0))
    assert caplog.text == ""


def test_axes_symmetric_around_center():
    s = GridSettings((4, 5, 2), (4.0, 2.5, 3.0))
    c = np.array([1.0, -2.0, 10.0])
    x, y, z = s.axes(c)
    np.testing.assert_allclose(x, [-0.5, 0.5, 1.5, 2.5])
    np.testing.assert_allclose(y, [-3.0, -2.5, -2.0, -1.5, -1.0])
    np.testing.assert_allclose(z, [9.25, 10.75])
    for ax, ci in zip((x, y, z), c, strict=True):
        np.testing.assert_allclose(ax + ax[::-1], 2 * ci)


def test_settings_dict_round_trip():
    s = GridSettings((35, 30, 30), (35.0, 30.0, 30.0))
    assert GridSettings.from_dict(s.to_dict()) == s


def test_map_method_parse():
    assert MapMethod.parse("GAUSSIAN") is MapMethod.GAUSSIAN
    assert MapMethod.parse("fast_gaussian") is MapMethod.FAST_GAUSSIAN
    assert MapMethod.parse(MapMethod.NEAREST) is MapMethod.NEAREST
    assert MapMethod.parse("EXP_DEEPRANK2") is MapMethod.EXP_DEEPRANK2
    with pytest.raises(GridError, match="unknown grid map method"):
        MapMethod.parse("bsp_line")


def test_coerce():
    s = GridSettings((4, 5, 6), (4.0, 5.0, 6.0))
    assert GridSettings.coerce(s) is s
    assert GridSettings.coerce(s.to_dict()) == s
    assert GridSettings.coerce(([4, 5, 6], [4.0, 5.0, 6.0])) == s
    with pytest.raises(GridError, match="points_counts"):
        GridSettings.coerce({"sizes": [1, 2, 3]})
    with pytest.raises(GridError, match="must be a GridSettings"):
        GridSettings.coerce("20x20x20")
