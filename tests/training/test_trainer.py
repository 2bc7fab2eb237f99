"""Trainer: losses fall (GNN/CNN, regression/classification), checkpoints, preflight, determinism."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from deeprank_like.data import GraphDataset, GridDataset, split_dataset
from deeprank_like.errors import TrainingError
from deeprank_like.nn import GINENet
from deeprank_like.training import Trainer, build_model_for, load_model, read_metadata

SMALL_GNN = {"hidden_size": 8, "num_layers": 2, "head_hidden_size": 16}
SMALL_CNN = {"channels": [4, 8], "hidden_size": 16}


def _fit(dataset, name, tmp_path, epochs=8, batch_size=3, loss=None, lr=1e-2, **kwargs):
    torch.manual_seed(0)
    model = build_model_for(
        name, dataset, loss=loss, **(SMALL_CNN if name == "cnn3d" else SMALL_GNN)
    )
    trainer = Trainer(model, dataset, lr=lr, loss=loss, output_dir=tmp_path, device="cpu", **kwargs)
    history = trainer.train(epochs, batch_size=batch_size)
    return trainer, history[history.phase == "train"]["loss"].to_numpy()


def _falls(losses, factor):
    return losses[-1] < factor * losses[0] and min(losses[-3:]) < factor * losses[0]


def test_gnn_regression_loss_falls(graph_file, tmp_path):
    ds = GraphDataset(graph_file, target="irmsd", standardize=True)
    _, losses = _fit(ds, "gine", tmp_path)
    assert _falls(losses, 0.3), losses
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert {"epoch", "phase", "loss", "mae", "rmse", "r2", "mape", "lr"} <= set(metrics.columns)
    assert len(metrics) == 8


@pytest.mark.parametrize("loss", ["cross_entropy", "bce_with_logits"])
def test_gnn_classification_loss_falls(graph_file, tmp_path, loss):
    ds = GraphDataset(graph_file, target="binary", standardize=True)
    trainer, losses = _fit(ds, "gine", tmp_path, loss=loss, class_weights=True, epochs=10)
    assert _falls(losses, 0.7), losses
    assert trainer.class_weights is not None
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert {"accuracy", "auc", "f1", "mcc"} <= set(metrics.columns)
    pred = trainer.predict(ds)
    assert {"entry", "target", "predicted_class", "probability_0", "probability_1"} <= set(
        pred.columns
    )
    np.testing.assert_allclose(pred[["probability_0", "probability_1"]].sum(axis=1), 1, rtol=1e-6)


def test_cnn_regression_and_classification_loss_falls(grid_file, tmp_path):
    reg = GridDataset(grid_file, target="irmsd", standardize=True, in_memory=True)
    _, losses = _fit(reg, "cnn3d", tmp_path / "reg", epochs=6, batch_size=6, lr=3e-3)
    assert _falls(losses, 0.5), losses
    cls = GridDataset(grid_file, target="binary", standardize=True, in_memory=True)
    trainer, losses = _fit(cls, "cnn3d", tmp_path / "cls", epochs=6, batch_size=6, lr=3e-3)
    assert _falls(losses, 0.9), losses
    assert trainer.predict(cls)["grid_number"].tolist()[:3] == [0, 1, 2]


def test_checkpoint_round_trip_and_prediction_without_training_data(
    graph_file, graph_files_split, tmp_path
):
    train = GraphDataset(
        graph_files_split[0], target="irmsd", standardize=True, transforms={"res_mass": "log1p"}
    )
    val = GraphDataset(graph_files_split[1], train_source=train)
    torch.manual_seed(0)
    model = build_model_for("gine", train, **SMALL_GNN)
    trainer = Trainer(
        model, train, val, val, lr=1e-2, output_dir=tmp_path, device="cpu", plots=True
    )
    trainer.train(4, batch_size=3)
    path = tmp_path / "model.pt"
    payload = torch.load(path, weights_only=True)  # no pickled code
    meta = json.loads(payload["metadata"])
    assert meta["model"]["name"] == "gine" and meta["model"]["config"]["hidden_size"] == 8
    assert meta["data"]["transforms"] == {"res_mass": {"name": "log1p"}}
    mean, std = train.standardizer.stats["res_mass"]
    assert meta["data"]["standardization"]["res_mass"] == {
        "mean": mean.tolist(),
        "std": std.tolist(),
    }
    assert meta["training"]["best_epoch"] == trainer.best_epoch
    # the model in memory is the best one, identical to the saved one
    reloaded = load_model(path)
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(v, reloaded.state_dict()[k])
    expected = trainer.predict(val)
    fresh = Trainer.from_checkpoint(path, device="cpu", output_dir=tmp_path / "p")
    got = fresh.predict([graph_files_split[1]])
    pd.testing.assert_frame_equal(expected, got)
    assert len(fresh.optimizer.state) > 0  # Adam moments restored for fine-tuning
    # a dataset can inherit the reading config from the checkpoint file
    inherited = GraphDataset(graph_files_split[1], train_source=path)
    assert inherited.standardizer.to_dict() == train.standardizer.to_dict()
    assert torch.equal(inherited[0].x, val[0].x)
    test = trainer.test(batch_size=2)
    assert test["mae"] == pytest.approx(
        np.abs(expected["output"] - expected["target"]).mean(), rel=1e-5
    )
    assert (tmp_path / "predictions_test.csv").is_file()
    assert (tmp_path / "loss.png").is_file() and (tmp_path / "predictions_test.png").is_file()
    assert read_metadata(path)["package_version"]


def test_unlabelled_prediction(graph_file, unlabelled_file, tmp_path):
    ds = GraphDataset(graph_file, target="binary")
    trainer, _ = _fit(ds, "gcn", tmp_path, epochs=1)
    pred = trainer.predict(unlabelled_file)
    assert len(pred) == 2 and pred["target"].isna().all()
    assert set(pred["predicted_class"]) <= {0, 1}


def test_grid_channel_mismatch_fails_in_first_batch(grid_file, tmp_path):
    ds = GridDataset(grid_file, features=["res_charge", "distance"], target="irmsd")
    model = build_model_for("cnn3d", ds, num_channels=3, **SMALL_CNN)
    with pytest.raises(
        TrainingError,
        match=r"data has 2 grid channels of shape \(8, 8, 8\), the network expects 3 channels",
    ):
        Trainer(model, ds, output_dir=tmp_path, device="cpu").train(1)


def test_width_mismatch_fails_in_first_batch(graph_file, tmp_path):
    ds = GraphDataset(graph_file, target="irmsd")
    model = GINENet(ds.num_node_features + 3, ds.num_edge_features, hidden_size=8)
    trainer = Trainer(model, ds, output_dir=tmp_path, device="cpu")
    with pytest.raises(
        TrainingError,
        match=r"data has 30 node-feature columns and 5 edge-feature columns, the network expects 33 node-feature columns and 5",
    ):
        trainer.train(1, batch_size=2)
    assert not (tmp_path / "metrics.csv").exists()  # failed before any epoch
    two = GINENet(ds.num_node_features, ds.num_edge_features, output_size=2)
    with pytest.raises(TrainingError, match="target width"):
        Trainer(two, ds, output_dir=tmp_path, device="cpu").train(1)


def test_validation_set_must_inherit(graph_files_split, tmp_path):
    train = GraphDataset(graph_files_split[0], target="irmsd", standardize=True)
    other = GraphDataset(graph_files_split[1], target="irmsd", standardize=True)
    model = build_model_for("gine", train, **SMALL_GNN)
    with pytest.raises(TrainingError, match="train_source=dataset_train"):
        Trainer(model, train, other, output_dir=tmp_path)


def test_seeded_runs_are_identical_and_options_work(graph_file, tmp_path):
    ds = GraphDataset(graph_file, target="irmsd", standardize=True)
    train, val = split_dataset(ds, (0.67, 0.33), seed=0)
    runs = []
    for i in range(2):
        torch.manual_seed(0)
        model = build_model_for("gine", train, dropout=0.2, **SMALL_GNN)
        trainer = Trainer(
            model,
            train,
            val,
            optimizer="adamw",
            loss="mape",
            scheduler="plateau",
            # an epoch counts as better only below half the best loss: a plateau is certain
            scheduler_kwargs={"patience": 0, "factor": 0.5, "threshold": 0.5},
            seed=5,
            output_dir=tmp_path / str(i),
            device="cpu",
        )
        runs.append(trainer.train(6, batch_size=2, early_stopping_patience=2))
    pd.testing.assert_frame_equal(
        runs[0].drop(columns=["time_s", "items_per_s"]),
        runs[1].drop(columns=["time_s", "items_per_s"]),
    )
    # the plateau scheduler sets each epoch's rate from the validation losses before it
    val = runs[0][runs[0]["phase"] == "val"]
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=float(val["lr"].iloc[0]))
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, patience=0, factor=0.5, threshold=0.5
    )
    expected = []
    for loss in val["loss"]:
        expected.append(optimizer.param_groups[0]["lr"])
        plateau.step(loss)
    np.testing.assert_allclose(val["lr"].to_numpy(), expected)
    assert len(set(expected)) > 1, "no plateau in this run: the test would not see the scheduler"


def test_custom_loss_callable(graph_file, tmp_path):
    ds = GraphDataset(graph_file, target="irmsd", standardize=True)

    def half_mse(output, target):
        return 0.5 * ((output - target) ** 2).mean()

    trainer, losses = _fit(ds, "gine", tmp_path, loss=half_mse, epochs=6)
    assert _falls(losses, 0.5), losses
    assert trainer.metadata()["loss"]["name"] == "half_mse"


def test_outputs_move_to_the_host_once_per_epoch_not_per_batch(graph_file, tmp_path, monkeypatch):
    """Per-batch `.cpu()` transfers are host syncs that idle a GPU: their count must not grow
    with the number of batches (checked on CPU, where `Tensor.cpu` is the same call)."""
    ds = GraphDataset(graph_file, target="irmsd", standardize=True)
    calls = {"n": 0}
    real_cpu = torch.Tensor.cpu

    def counting_cpu(self, *args, **kwargs):
        calls["n"] += 1
        return real_cpu(self, *args, **kwargs)

    counts = []
    for batch_size in (len(ds), 1):  # one batch per epoch, then one batch per entry
        torch.manual_seed(0)
        model = build_model_for("gine", ds, **SMALL_GNN)
        trainer = Trainer(model, ds, output_dir=tmp_path / str(batch_size), device="cpu")
        monkeypatch.setattr(torch.Tensor, "cpu", counting_cpu)
        calls["n"] = 0
        trainer.train(1, batch_size=batch_size)
        monkeypatch.setattr(torch.Tensor, "cpu", real_cpu)
        counts.append(calls["n"])
    assert len(ds) >= 4
    assert counts[1] == counts[0], counts
