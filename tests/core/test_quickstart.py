"""The quickstart job end to end, at a tiny size."""

from __future__ import annotations

import h5py

from deeprank_like.quickstart import run_quickstart


def test_quickstart_tiny(tmp_path):
    result = run_quickstart(tmp_path / "qs", n_decoys=8, epochs=2, cpu_count=1, plots=False, seed=1)
    assert result.n_entries == 9 and result.n_failed == 0
    with h5py.File(result.features_file, "r") as f:
        entry = f["residue-ppi:A-B:3C8P"]
        assert float(entry["targets/dockq"][()]) == 1.0  # the native against itself
    for name in ("metrics.csv", "model.pt", "predictions_test.csv", "ranking_test.csv"):
        assert (tmp_path / "qs" / name).is_file()
    assert list(result.ranking.columns) == ["entry", "target", "output"]
    assert result.ranking["output"].is_monotonic_decreasing
