"""benchmarks/interface_scoring.py: metrics, and the whole pipeline on 2 complexes × 10 decoys."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "dockq"


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("benchmarks/interface_scoring.py")


def _table() -> pd.DataFrame:
    # complex X: decoys 0..3 with DockQ 0.9, 0.5, 0.1, 0.0; complex Y: 0.3, 0.05, 0.0
    return pd.DataFrame(
        {
            "complex": ["X"] * 4 + ["Y"] * 3,
            "dockq": [0.9, 0.5, 0.1, 0.0, 0.3, 0.05, 0.0],
            "good": [4.0, 3.0, 2.0, 1.0, 3.0, 2.0, 1.0],
            "bad": [1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0],
        }
    )


def test_ranking_metrics_known_values(bench):
    t = _table()
    good = bench.ranking_metrics(t, "good")
    assert good["spearman_median"] == pytest.approx(1.0)
    assert good["top1"] == 1.0 and good["top10"] == 1.0
    assert good["auc"] == pytest.approx(1.0)
    bad = bench.ranking_metrics(t, "bad")
    assert bad["spearman_median"] == pytest.approx(-1.0)
    assert bad["top1"] == 0.0 and bad["top10"] == 1.0
    # acceptable decoys get bad scores 1, 2 (X) and 1 (Y); incorrect 3, 4, 2, 3 → AUC of -score
    assert bad["auc"] == pytest.approx(1 - bench.auc(-t["bad"].to_numpy(), t["dockq"] >= 0.23))
    curve = bench.success_curve(t, "bad", 4)
    np.testing.assert_allclose(curve, [0.0, 0.0, 1.0, 1.0])  # both at rank 3


def test_auc_ties_count_half(bench):
    assert bench.auc(np.array([1.0, 1.0]), np.array([True, False])) == pytest.approx(0.5)
    assert np.isnan(bench.auc(np.array([1.0, 2.0]), np.array([True, True])))


def test_random_baseline_is_near_chance(bench):
    t = _table()
    r = bench.random_metrics(t, seed=0, repeats=200)
    # expected top-1: X has 2 of 4 acceptable, Y 1 of 3
    assert r["top1"] == pytest.approx((0.5 + 1 / 3) / 2, abs=0.05)
    assert r["auc"] == pytest.approx(0.5, abs=0.05)


def test_decoy_tiers_take_each_kind_evenly(bench):
    labels = pd.DataFrame(
        {
            "complex": ["X"] * 10 + ["Y"] * 6,
            "kind": (["near_native"] * 5 + ["wrong_site"] * 5)
            + (["near_native"] * 3 + ["wrong_site"] * 3),
        }
    )
    tier = bench.decoy_tiers(labels, 4, seed=0)
    first = labels[tier == 0]
    assert first.groupby(["complex", "kind"]).size().tolist() == [2, 2, 2, 2]
    np.testing.assert_array_equal(tier, bench.decoy_tiers(labels, 4, seed=0))
    assert (bench.decoy_tiers(labels, 0, seed=0) == 0).all()


def test_training_rows_sample_each_complex_and_keep_order_free(bench):
    table = pd.DataFrame(
        {
            "entry": [f"X{i}" for i in range(10)] + [f"Y{i}" for i in range(6)],
            "complex": ["X"] * 10 + ["Y"] * 6,
            "kind": (["near_native"] * 5 + ["wrong_site"] * 5)
            + (["near_native"] * 3 + ["wrong_site"] * 3),
        }
    )
    s = bench.Settings(train_decoys=4, seed=0)
    entries = np.array(sorted(table["entry"], reverse=True))  # dataset order differs
    mask = bench.training_rows(s, table, entries)
    chosen = table.set_index("entry").loc[entries[mask]]
    assert chosen.groupby(["complex", "kind"]).size().tolist() == [2, 2, 2, 2]
    assert bench.training_rows(bench.Settings(train_decoys=0), table, entries).all()


def test_cnn_outputs_logits_for_the_logits_loss(bench):
    # regression: build_model_for gave the CNN a sigmoid output for the DockQ target, and
    # soft_bce (BCE with logits) on a sigmoid drove every output to 0 with zero gradient
    import torch

    class Grids:  # the attributes build_model_for reads from a grid dataset
        kind, task, target, target_width = "grid", "regress", "dockq", 1
        num_channels, grid_shape = 3, (8, 8, 8)

    torch.manual_seed(0)
    model = bench.cnn_model(Grids())
    assert model.output_activation == "none"
    x = torch.randn(16, 3, 8, 8, 8)
    y = torch.full((16, 1), 0.05)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)  # the benchmark's rate
    for _ in range(60):
        loss = bench.soft_bce(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        out = float(model(x).mean())
    assert out < -1.0  # logit of 0.05 is -2.9; a sigmoid output stays > 0


def test_complex_folds_group_and_repeat(bench):
    ids = [f"C{i}" for i in range(12)]
    a = bench.complex_folds(ids * 3, 5, seed=0)
    assert a == bench.complex_folds(list(reversed(ids)), 5, seed=0)
    assert set(a) == set(ids) and set(a.values()) == set(range(5))
    assert sorted(np.bincount(list(a.values()))) == [2, 2, 2, 3, 3]
    assert a != bench.complex_folds(ids, 5, seed=1)


def test_whole_pipeline_on_two_complexes(bench, tmp_path):
    from deeprank_like.pretrained.docking import load_scoring_model, score_models

    s = bench.Settings(
        seed=0,
        data=str(DATA),
        work=str(tmp_path / "work"),
        ids=["2OOB", "2X9A"],
        decoys=10,
        first_pass_decoys=6,
        cpu_count=1,
        epochs=2,
        batch_size=8,
        hidden=8,
        layers=2,
        threads=1,
        cnn_complexes=2,
        cnn_decoys=4,
        cnn_epochs=1,
        modules_complexes=2,
        modules_decoys=4,
        grid_points=8,
        grid_size=16.0,
        model_out=str(tmp_path / "model"),
        docs=str(tmp_path / "docs"),
    )
    results = bench.run(s)
    work = tmp_path / "work"
    labels = pd.read_csv(work / "labels.csv")
    assert len(labels) == 20 and set(labels["complex"]) == {"2OOB", "2X9A"}
    assert labels["dockq"].between(0, 1).all()
    assert set(labels["kind"]) == {"near_native", "wrong_site"}
    assert (labels["dockq"] >= 0.23).any() and (labels["dockq"] < 0.23).any()
    files = bench.feature_files(work)
    assert [p.name for p in files] == ["features-000.hdf5", "features-001.hdf5"]
    sizes = []
    for path in files:
        with h5py.File(path, "r") as f:
            entries = [k for k in f if not k.startswith("_")]
            sizes.append(len(entries))
            assert 0 <= float(f[entries[0]]["targets"]["dockq"][()]) <= 1
    assert sizes == [12, 8]  # first pass: 6 decoys of each complex, then the other 4
    assert results["features"]["failed"] == 0
    pooled = results["cv_metrics"]["pooled"]
    assert set(pooled) == set(bench.SCORES)
    for m in pooled.values():
        assert m["complexes"] == 2 and m["decoys"] == 20
        assert 0 <= m["top1"] <= m["top10"] <= 1
        assert 0 <= m["auc"] <= 1
    assert set(results["cv_metrics"]["folds"]) == {0, 1}
    assert "cnn" in results["cnn_metrics"]["pooled"]
    ablation = results["modules"]
    assert ablation["queries"] == 8 and ablation["modules"] == list(bench.ALL_MODULES)
    # all modules add exposure and secondary-structure columns to the scorer's node features
    assert (
        ablation["gnn_all_features_node_features"] > ablation["gnn_scorer_features_node_features"]
    )
    for name in ("gnn_scorer_features", "gnn_all_features"):
        assert ablation["pooled"][name]["decoys"] == 8
    table = pd.read_csv(work / "decoys_table.csv")
    assert table["gnn"].notna().all() and (table["contacts"] > 0).all()
    saved = json.loads((work / "results.json").read_text())
    assert saved["settings"]["ids"] == ["2OOB", "2X9A"]
    model = load_scoring_model(tmp_path / "model")
    card = (tmp_path / "model" / "MODEL_CARD.md").read_text()
    assert "2 complexes, 20 decoys" in card and "| random |" in card
    assert model.metadata["training"]["decoys"] == 20
    scored = score_models(labels["file"].map(lambda p: work / p)[:3], "A,B", model_dir=model.path)
    assert (scored["error"] == "").all() and list(scored["rank"]) == [1, 2, 3]
    doc = (tmp_path / "docs" / "interface-scoring.md").read_text()
    assert "### Feature modules (subset: 8 decoys, 2 complexes)" in doc
    assert bench.RESULTS_START in doc and "| GNN (GINE, mean+max+sum readout) | 2 | 20 |" in doc
    for png in ("interface-scoring-pred-vs-true.png", "interface-scoring-success.png"):
        assert (tmp_path / "docs" / "img" / png).stat().st_size > 1000
    # a second run reuses decoys and resumes the features (nothing recomputed)
    again = bench.run(bench.Settings(**{**vars(s), "stages": ["decoys", "features"]}))
    assert again["features"]["skipped"] == 20 and again["features"]["processed"] == 0


def test_run_flags_name_every_changed_setting(bench):
    # the model card's reproducing command must carry every training setting off its default
    base = json.loads(json.dumps(vars(bench.Settings())))
    assert bench.run_flags(base) == "--seed 0"
    changed = {**base, "seed": 3, "train_decoys": 0, "epochs": 8, "edge_readout": True}
    flags = bench.run_flags(changed)
    assert flags.split() == [
        "--seed", "3", "--train-decoys", "0", "--epochs", "8", "--edge-readout",
    ]  # fmt: skip
    assert bench.parse_args(flags.split()).edge_readout is True
