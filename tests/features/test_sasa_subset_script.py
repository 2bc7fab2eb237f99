"""``benchmarks/sasa_subset.py``: its numpy Lee–Richards is freesasa's, on needed atoms only."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("benchmarks/sasa_subset.py")


def test_numpy_areas_equal_freesasa_on_a_query(bench) -> None:
    q = bench.query_sets("3C8P")
    reference, computed = bench.freesasa_runs(q)
    ours = bench.numpy_runs(q)
    assert computed > sum(r.size for r in reference)  # freesasa computes the occluders too
    for mine, theirs in zip(ours, reference, strict=True):
        assert mine.shape == theirs.shape and mine.size > 0
        np.testing.assert_allclose(mine, theirs, rtol=0, atol=1e-9)


def test_numpy_areas_equal_freesasa_on_random_packings(bench) -> None:
    import freesasa

    rng = np.random.default_rng(7)
    for n in (2, 30, 120):
        coords = rng.uniform(0, 4.0 + n ** (1 / 3) * 2.5, size=(n, 3))
        radii = rng.choice([1.52, 1.55, 1.7, 1.8, 1.9], size=n)
        result = freesasa.calcCoord(coords.reshape(-1), radii.tolist())
        reference = np.array([result.atomArea(i) for i in range(n)])
        expanded = radii + 1.4
        i, j = np.triu_indices(n, 1)
        a, b = bench.neighbour_pairs(coords, expanded, i, j)
        targets = np.arange(0, n, 2)
        pt, po = np.concatenate([a, b]), np.concatenate([b, a])
        keep = np.isin(pt, targets)
        areas = bench.lee_richards(
            coords, expanded, targets, np.searchsorted(targets, pt[keep]), po[keep]
        )
        np.testing.assert_allclose(areas, reference[targets], rtol=0, atol=1e-9)


def test_main_prints_the_figures(bench, capsys) -> None:
    figures = bench.main(["--queries", "3C8P", "--repeats", "1", "--blocks", "16"])
    out = capsys.readouterr().out
    assert "3C8P_freesasa_ms:" in out and "3C8P_numpy_ms_block16:" in out
    assert figures["3C8P_needed_atoms"] == 258 and figures["3C8P_freesasa_atoms"] == 586
    assert figures["3C8P_max_abs_diff"] < 1e-9
