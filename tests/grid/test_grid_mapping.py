"""Grid mapping: kernels against formulas, mass, rotations, channels of a real graph."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deeprank_like.errors import GridError
from deeprank_like.graph import Graph, make_node_ids
from deeprank_like.grid import (
    FLOAT32_EXACT_CUTOFF,
    GridSettings,
    MapMethod,
    map_graph_to_grid,
    map_graph_to_grids,
    map_points,
    point_weights,
    rotate_about_center,
    rotation_about_axis,
)

NORMALISED = [MapMethod.GAUSSIAN, MapMethod.FAST_GAUSSIAN, MapMethod.NEAREST]


def _gauss_tail(t: float) -> float:
    """Mass of a 3D standard Gaussian beyond radius t (chi distribution, 3 dof)."""
    return math.erfc(t / math.sqrt(2)) + math.sqrt(2 / math.pi) * t * math.exp(-t * t / 2)


def _grid_points(settings, center):
    x, y, z = settings.axes(center)
    return np.stack(np.meshgrid(x, y, z, indexing="ij"), axis=-1)


@pytest.mark.parametrize(
    ("truncate", "rtol"), [(None, 1e-4), (FLOAT32_EXACT_CUTOFF, 1e-7), (4.5, 1e-4)]
)
@pytest.mark.parametrize(("n", "size", "sigma"), [(24, 24.0, 1.0), (30, 18.0, 1.3)])
def test_single_point_is_the_analytic_gaussian(n, size, sigma, truncate, rtol):
    settings = GridSettings((n, n, n + 2), (size, size, size * (n + 2) / n))
    center = np.array([3.0, -1.0, 2.0])
    point = center + np.array([0.23, -0.41, 0.17])
    value = 2.5
    grid = map_points(point[None], [value], settings, center, MapMethod.GAUSSIAN, sigma, truncate)
    assert grid.shape == (1, n, n, n + 2)
    d2 = ((_grid_points(settings, center) - point) ** 2).sum(-1)
    t = 4.0 if truncate is None else truncate
    voxel = float(np.prod(settings.resolutions))
    analytic = (
        value
        * voxel
        * (2 * np.pi * sigma**2) ** -1.5
        * np.exp(-d2 / (2 * sigma**2))
        / (1 - _gauss_tail(t))
    )
    inside = d2 <= (t * sigma) ** 2
    np.testing.assert_allclose(grid[0][inside], analytic[inside], rtol=rtol)
    assert np.all(grid[0][~inside] == 0.0)  # exact zeros beyond the truncation radius
    assert grid[0].sum() == pytest.approx(value, rel=1e-12)


def test_gaussian_is_truncated_kernel_over_its_lattice_sum():
    # Point near the box edge: the kernel is clipped but keeps the unclipped normalisation.
    settings = GridSettings((10, 10, 10), (10.0, 10.0, 10.0))
    center = np.zeros(3)
    point = np.array([4.2, 0.3, -0.1])  # x axis ends at 4.5
    grid = map_points(point[None], [1.0], settings, center, "GAUSSIAN", 1.0)[0]
    big = GridSettings((40, 40, 40), (40.0, 40.0, 40.0))  # same lattice, large enough
    ref = map_points(point[None], [1.0], big, center, "GAUSSIAN", 1.0)[0]
    np.testing.assert_allclose(grid, ref[15:25, 15:25, 15:25], rtol=1e-12, atol=0)
    assert grid.sum() < 1.0  # mass outside the box is lost, not folded back


def test_fast_gaussian_zero_beyond_3_sigma():
    settings = GridSettings((20, 20, 20), (20.0, 20.0, 20.0))
    center = np.zeros(3)
    point = np.array([0.3, 0.1, -0.2])
    sigma = 1.5
    grid = map_points(point[None], [1.0], settings, center, "FAST_GAUSSIAN", sigma)[0]
    d2 = ((_grid_points(settings, center) - point) ** 2).sum(-1)
    inside = d2 <= (3 * sigma) ** 2
    assert np.all(grid[~inside] == 0.0)
    kernel = np.exp(-d2[inside] / (2 * sigma**2))
    np.testing.assert_allclose(grid[inside], kernel / kernel.sum(), rtol=1e-12)


def test_nearest_is_trilinear():
    settings = GridSettings((6, 6, 6), (6.0, 6.0, 6.0))
    center = np.zeros(3)  # axes -2.5 ... 2.5
    point = np.array([0.5 + 0.25, -0.5 + 0.5, 1.5 + 0.1])  # fractional (0.25, 0.5, 0.1)
    grid = map_points(point[None], [8.0], settings, center, "NEAREST")[0]
    nz = np.argwhere(grid != 0)
    assert len(nz) == 8
    i, j, k = 3, 2, 4  # lower corner: x=0.5, y=-0.5, z=1.5
    for di, wx in ((0, 0.75), (1, 0.25)):
        for dj, wy in ((0, 0.5), (1, 0.5)):
            for dk, wz in ((0, 0.9), (1, 0.1)):
                assert grid[i + di, j + dj, k + dk] == pytest.approx(8 * wx * wy * wz)
    on_point = map_points(np.array([[0.5, -0.5, 1.5]]), [3.0], settings, center, "NEAREST")[0]
    assert np.count_nonzero(on_point) == 1
    assert on_point[3, 2, 4] == 3.0


def test_exp_deeprank2_is_unnormalised_exp_minus_d():
    settings = GridSettings((8, 7, 6), (8.0, 7.0, 6.0))
    center = np.array([1.0, 2.0, 3.0])
    points = center + np.array([[0.1, 0.2, 0.3], [-2.0, 1.0, 0.5]])
    values = np.array([[1.0, 2.0], [3.0, -1.0]])
    grid = map_points(points, values, settings, center, "EXP_DEEPRANK2")
    gp = _grid_points(settings, center)
    for c in range(2):
        expected = sum(
            values[p, c] * np.exp(-np.sqrt(((gp - points[p]) ** 2).sum(-1))) for p in range(2)
        )
        np.testing.assert_allclose(grid[c], expected, rtol=1e-10)


@pytest.mark.parametrize("method", NORMALISED)
def test_mass_preserved_for_points_inside(method):
    rng = np.random.default_rng(0)
    settings = GridSettings((30, 28, 26), (24.0, 22.4, 20.8))  # 0.8 Å
    center = np.array([5.0, -3.0, 1.0])
    points = center + rng.uniform(-4.0, 4.0, size=(200, 3))  # >= 6 Å from the faces
    values = rng.normal(size=(200, 5))
    grid = map_points(points, values, settings, center, method, sigma=1.0)
    np.testing.assert_allclose(grid.sum(axis=(1, 2, 3)), values.sum(0), rtol=1e-10, atol=1e-10)


def test_points_outside_contribute_nothing():
    settings = GridSettings((10, 10, 10), (10.0, 10.0, 10.0))
    for method in MapMethod:
        if method is MapMethod.EXP_DEEPRANK2:
            continue
        grid = map_points(np.array([[30.0, 0.0, 0.0]]), [1.0], settings, np.zeros(3), method)
        assert not grid.any()


def test_weight_matrix_times_values_is_the_map():
    rng = np.random.default_rng(1)
    settings = GridSettings((12, 12, 12), (12.0, 12.0, 12.0))
    points = rng.uniform(-5, 5, size=(7, 3))
    values = rng.normal(size=(7, 3))
    w = point_weights(points, settings, np.zeros(3), "GAUSSIAN", 1.2)
    assert w.shape == (7, 12**3)
    direct = np.stack([w.T @ values[:, c] for c in range(3)]).reshape(3, 12, 12, 12)
    np.testing.assert_allclose(
        map_points(points, values, settings, np.zeros(3), "GAUSSIAN", 1.2), direct
    )


def test_invalid_parameters():
    settings = GridSettings((10, 10, 10), (10.0, 10.0, 10.0))
    p = np.zeros((1, 3))
    with pytest.raises(GridError, match="too small"):
        map_points(p, [1.0], settings, np.zeros(3), "FAST_GAUSSIAN", sigma=0.2)
    with pytest.raises(GridError, match="positive"):
        map_points(p, [1.0], settings, np.zeros(3), "GAUSSIAN", sigma=-1)
    with pytest.raises(GridError, match="non-finite"):
        map_points(p, [np.nan], settings, np.zeros(3), "GAUSSIAN")
    with pytest.raises(GridError, match="points"):
        map_points(np.zeros((2, 3)), [1.0, 2.0, 3.0], settings, np.zeros(3), "GAUSSIAN")


# --- rotations -------------------------------------------------------------------------------


def _synthetic_graph(rng, n=40, center=(2.0, -1.0, 0.5)):
    center = np.asarray(center)
    positions = center + rng.uniform(-6, 6, size=(n, 3))
    edge_index = np.array([[i, j] for i in range(n) for j in range(i + 1, min(n, i + 4))]).T
    return Graph(
        id="synthetic",
        resolution="residue",
        node_ids=make_node_ids(
            np.array(["A"] * n), np.arange(n), np.array([""] * n), np.array(["GLY"] * n)
        ),
        positions=positions,
        edge_index=edge_index,
        center=center,
        residue_index=np.arange(n),
        node_features={"a": rng.normal(size=n), "b": rng.normal(size=(n, 2))},
        edge_features={"e": rng.normal(size=edge_index.shape[1])},
        targets={"y": 1.5},
    )


@pytest.mark.parametrize("method", list(MapMethod))
def test_quarter_turn_rotates_the_grid_array(method):
    rng = np.random.default_rng(2)
    graph = _synthetic_graph(rng)
    settings = GridSettings((16, 16, 12), (16.0, 16.0, 12.0))
    base = map_graph_to_grid(graph, settings, method, sigma=1.1)
    rz = rotation_about_axis([0, 0, 1], np.pi / 2)
    rotated = map_graph_to_grid(graph, settings, method, rotation=rz, sigma=1.1)
    # A quarter turn about z maps grid point (i, j, k) to (n-1-j, i, k): exactly np.rot90.
    expected = np.rot90(base.data, k=1, axes=(1, 2))
    scale = np.abs(base.data).max()
    np.testing.assert_allclose(rotated.data, expected, rtol=0, atol=1e-5 * scale)
    assert rotated.channel_names == base.channel_names
    np.testing.assert_allclose(rotated.rotation, rz)


def test_quarter_turn_about_x_on_square_yz():
    rng = np.random.default_rng(3)
    graph = _synthetic_graph(rng)
    settings = GridSettings((12, 15, 15), (12.0, 15.0, 15.0))
    base = map_graph_to_grid(graph, settings, "GAUSSIAN")
    rx = rotation_about_axis([1, 0, 0], -np.pi / 2)
    rotated = map_graph_to_grid(graph, settings, "GAUSSIAN", rotation=rx)
    expected = np.rot90(base.data, k=-1, axes=(2, 3))
    np.testing.assert_allclose(rotated.data, expected, atol=1e-5 * np.abs(base.data).max())


def test_any_rotation_moves_the_trilinear_centroid_exactly():
    # Trilinear assignment reproduces linear functions: the mapped mass centroid equals the
    # value-weighted centroid of the points, so it rotates exactly with the input.
    rng = np.random.default_rng(4)
    graph = _synthetic_graph(rng)
    graph.node_features = {"m": rng.uniform(0.5, 2.0, size=graph.num_nodes)}
    graph.edge_features = {}
    settings = GridSettings((40, 40, 40), (30.0, 30.0, 30.0))
    r = rotation_about_axis([0.3, -1.0, 0.7], 1.234)
    grid = map_graph_to_grid(graph, settings, "NEAREST", rotation=r)
    gp = _grid_points(settings, graph.center)
    data = grid.data[0].astype(np.float64)
    centroid = (data[..., None] * gp).sum((0, 1, 2)) / data.sum()
    m = graph.node_features["m"]
    expected = rotate_about_center(
        (m[:, None] * graph.positions).sum(0, keepdims=True) / m.sum(), graph.center, r
    )[0]
    np.testing.assert_allclose(centroid, expected, atol=1e-4)  # float32 storage
    assert data.sum() == pytest.approx(m.sum(), rel=1e-6)


def test_rotation_does_not_touch_the_graph():
    rng = np.random.default_rng(5)
    graph = _synthetic_graph(rng)
    pos = graph.positions.copy()
    feats = {k: v.copy() for k, v in graph.node_features.items()}
    map_graph_to_grids(
        graph, GridSettings((10, 10, 10), (10.0, 10.0, 10.0)), rotations=np.eye(3)[None]
    )
    np.testing.assert_array_equal(graph.positions, pos)
    for k, v in feats.items():
        np.testing.assert_array_equal(graph.node_features[k], v)


def test_invalid_rotation():
    graph = _synthetic_graph(np.random.default_rng(6))
    settings = GridSettings((10, 10, 10), (10.0, 10.0, 10.0))
    with pytest.raises(GridError, match="orthonormal"):
        map_graph_to_grid(graph, settings, rotation=np.diag([1.0, 1.0, -1.0]))
    with pytest.raises(GridError, match="orthonormal"):
        map_graph_to_grid(graph, settings, rotation=2 * np.eye(3))


# --- channels of graphs ------------------------------------------------------------------


def test_edge_values_are_mapped_at_both_ends():
    n = 3
    graph = Graph(
        id="tiny",
        resolution="residue",
        node_ids=make_node_ids(
            np.array(["A"] * n), np.arange(n), np.array([""] * n), np.array(["ALA"] * n)
        ),
        positions=np.array([[0.5, 0.5, 0.5], [-1.5, 0.5, 0.5], [0.5, 2.5, -0.5]]),
        edge_index=np.array([[0, 0], [1, 2]]),
        center=np.zeros(3),
        residue_index=np.arange(n),
        node_features={"charge": np.array([1.0, -1.0, 0.0])},
        edge_features={"dist": np.array([3.0, 10.0]), "onehot": np.eye(2)},
    )
    settings = GridSettings((8, 8, 8), (8.0, 8.0, 8.0))  # axes -3.5..3.5, nodes on points
    grid = map_graph_to_grid(graph, settings, "NEAREST")
    assert grid.channel_names == ("charge", "dist", "onehot_000", "onehot_001")
    idx = [(4, 4, 4), (2, 4, 4), (4, 6, 3)]
    ch = grid.channels
    assert [ch["charge"][i] for i in idx] == [1.0, -1.0, 0.0]
    assert [ch["dist"][i] for i in idx] == [13.0, 3.0, 10.0]
    assert [ch["onehot_000"][i] for i in idx] == [1.0, 1.0, 0.0]
    assert [ch["onehot_001"][i] for i in idx] == [1.0, 0.0, 1.0]
    assert grid.data.sum() == pytest.approx(0 + 2 * 13 + 2 * 2)
    only = map_graph_to_grid(graph, settings, "NEAREST", node_features=[], edge_features=["dist"])
    assert only.channel_names == ("dist",)


def test_feature_name_clash_raises():
    graph = _synthetic_graph(np.random.default_rng(7))
    graph.edge_features["a"] = graph.edge_features["e"]
    with pytest.raises(GridError, match="both node and edge"):
        map_graph_to_grid(graph, GridSettings((10, 10, 10), (10.0, 10.0, 10.0)))
    with pytest.raises(GridError, match="no node feature"):
        map_graph_to_grid(
            graph, GridSettings((10, 10, 10), (10.0, 10.0, 10.0)), node_features=["zzz"]
        )


def test_real_graph_channels(ppi_graph):
    settings = GridSettings((35, 30, 30), (35.0, 30.0, 30.0))
    grid = map_graph_to_grid(ppi_graph, settings, "GAUSSIAN")
    widths = {
        name: (1 if np.ndim(v) == 1 else np.shape(v)[1])
        for feats in (ppi_graph.node_features, ppi_graph.edge_features)
        for name, v in feats.items()
    }
    assert len(grid.channel_names) == sum(widths.values())
    assert grid.data.shape == (sum(widths.values()), 35, 30, 30)
    assert grid.data.dtype == np.float32
    assert "res_type_000" in grid.channel_names and "res_type_019" in grid.channel_names
    assert "res_charge" in grid.channel_names and "distance" in grid.channel_names
    np.testing.assert_allclose(grid.center, ppi_graph.center)
    np.testing.assert_allclose((grid.x[0] + grid.x[-1]) / 2, ppi_graph.center[0])
    # one-hot residue types sum to (at most) the number of mapped residues: 153 nodes
    res_type = np.stack([grid.channels[f"res_type_{i:03d}"] for i in range(20)])
    assert 0 < res_type.sum() <= ppi_graph.num_nodes + 1e-3
    assert np.count_nonzero(grid.data) < 0.5 * grid.data.size  # truncated: compressible


@pytest.mark.parametrize(
    ("method", "sigma", "radius"),
    [("GAUSSIAN", 1.0, 4.0), ("FAST_GAUSSIAN", 1.7, 5.1), ("NEAREST", 1.0, None)],
)
def test_weights_match_brute_force_definition(method, sigma, radius):
    # Points inside, near the faces and outside the box; brute force over a large lattice.
    rng = np.random.default_rng(8)
    settings = GridSettings((12, 10, 9), (12.0, 10.0, 9.0))
    center = np.array([0.5, -0.2, 0.1])
    points = center + rng.uniform(-9, 9, size=(60, 3))
    w = point_weights(points, settings, center, method, sigma).toarray()
    gp = _grid_points(settings, center).reshape(-1, 3)
    x0 = np.array([ax[0] for ax in settings.axes(center)])
    k = np.arange(-30, 31)
    lattice = np.stack(np.meshgrid(k, k, k, indexing="ij"), axis=-1).reshape(-1, 3) + x0
    for i, p in enumerate(points):
        if radius is None:
            expected = np.prod(np.clip(1 - np.abs(gp - p), 0, None), axis=1)
        else:
            dl = ((lattice - p) ** 2).sum(1)
            z = np.exp(-dl / (2 * sigma**2))[dl <= radius**2].sum()
            d2 = ((gp - p) ** 2).sum(1)
            expected = np.where(d2 <= radius**2, np.exp(-d2 / (2 * sigma**2)), 0.0) / z
        np.testing.assert_allclose(w[i], expected, rtol=1e-12, atol=1e-15)
