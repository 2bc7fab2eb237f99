"""The β-GM experiment protocol (experiments/betagm, outside the package) and its reference run.

``tests/data/enm/betagm_experiment_tiny_summary.csv`` is the summary of a tiny run made with the
protocol as it was inside the library (``deeprank_like/enm/experiment.py`` at commit 57ea5b5,
``OMP_NUM_THREADS=1``), before it moved to ``experiments/betagm``: the same run from the new home
reproduces it (bit for bit on the machine that made it; the tolerances below only absorb BLAS and
CPU differences between machines).
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import deeprank_like
from deeprank_like.enm import load_chain
from deeprank_like.errors import EnmError

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # experiments/ is run from a checkout, not installed
    sys.path.insert(0, str(ROOT))

from experiments.betagm import (  # noqa: E402
    ExperimentConfig,
    fit_predict,
    run_experiment,
    write_results,
)

EXAMPLES = Path(deeprank_like.__file__).parent / "examples" / "betagm"
REFERENCE = ROOT / "tests" / "data" / "enm" / "betagm_experiment_tiny_summary.csv"
TINY = {
    "step": 10, "n_folds": 2, "seeds": (0,), "cnn_epochs": 1, "gnn_epochs": 1,
    "cnn_batch_size": 8, "gnn_batch_size": 8, "gnn_hidden_size": 8, "gnn_num_layers": 1,
    "threads": 1,
}  # fmt: skip


@pytest.fixture(scope="module")
def chains():
    # four proteins of four different families (105-130 residues)
    return [load_chain(EXAMPLES / f"{p}.pdb.gz") for p in ("1ert", "1a2p", "2fwf", "1lz1")]


@pytest.fixture(scope="module")
def tiny_result(chains):
    return run_experiment(chains, ExperimentConfig(**TINY))


def test_tiny_run_reproduces_the_reference_numbers(tiny_result) -> None:
    ref = pd.read_csv(REFERENCE)
    got = tiny_result.summary
    key = ["set", "model", "eigenvalue"]
    merged = ref.merge(got, on=key, how="outer", suffixes=("_ref", ""), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"][key]
    assert len(merged) == 70  # (4 models on windows + 3 on whole chains: no CNN) x 10 λ
    assert (merged["n"] == merged["n_ref"]).all()
    exact = merged["model"].isin(["baseline", "mape_constant"])  # numpy only
    for col in ("mape", "median_ape"):
        np.testing.assert_allclose(merged.loc[exact, col], merged.loc[exact, f"{col}_ref"],
                                   rtol=1e-9)  # fmt: skip
        # the two networks after one epoch: float32 training, same seed and data order
        np.testing.assert_allclose(merged.loc[~exact, col], merged.loc[~exact, f"{col}_ref"],
                                   rtol=1e-4)  # fmt: skip


def test_tiny_run_predictions_and_reports(tiny_result, tmp_path: Path) -> None:
    result = tiny_result
    n = len(result.windows)
    windows = result.predictions[result.predictions["set"] == "windows"]
    for model in ("cnn", "gnn", "baseline"):
        assert len(windows[windows["model"] == model]) == n * 10  # every window once per repeat
    assert set(result.summary["model"]) == {"cnn", "gnn", "baseline", "mape_constant"}
    whole = result.predictions[result.predictions["set"] == "whole_chains"]
    assert set(whole["length"]) == {105, 108, 123, 130}
    assert set(result.windows.groups.tolist()) == {0, 1, 2, 3}  # groups assigned by sequence
    paths = write_results(result, tmp_path, command="pytest")
    text = paths["results_md"].read_text()
    assert "| lambda_07 |" in text and "pytest" in text
    assert paths["scatter"].stat().st_size > 1000
    table = pd.read_csv(paths["results_csv"])
    assert len(table) == 70


def test_config_and_fit_predict_errors(chains) -> None:
    with pytest.raises(EnmError, match="unknown model"):
        ExperimentConfig(models=("cnn", "rf"))
    with pytest.raises(EnmError, match="gnn_loss must be one of"):
        ExperimentConfig(gnn_loss="mse")
    with pytest.raises(EnmError, match="optimizer must be one of"):
        fit_predict(None, [], [], epochs=1, batch_size=1, lr=0.1, optimizer="lbfgs")  # type: ignore[arg-type]
    cfg = ExperimentConfig(**TINY)
    assert ExperimentConfig(**{**cfg.to_dict(), "seeds": tuple(cfg.seeds),
                               "models": tuple(cfg.models)}) == cfg  # fmt: skip


def test_deprecated_module_resolves_every_old_name(chains) -> None:
    import deeprank_like.enm.experiment as old
    from deeprank_like.data.split import grouped_kfold
    from experiments.betagm import protocol

    for name in old.MOVED:
        with pytest.warns(DeprecationWarning, match=f"enm.experiment.{name} is deprecated"):
            assert getattr(old, name) is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert old.run_experiment is protocol.run_experiment
        assert old.grouped_kfold is grouped_kfold
        chains_old, _ = old.chains_from_folder(EXAMPLES, min_length=120, limit=5)
    assert [c.group for c in chains_old] == [0, 1, 2]  # the old function grouped the chains
    with pytest.raises(AttributeError):
        old.no_such_name  # noqa: B018
