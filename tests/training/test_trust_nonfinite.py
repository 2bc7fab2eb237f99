"""NaN/inf never go silently through datasets, training or prediction (issue 11, item 4).

Before: a NaN feature gave a checkpoint whose every weight was NaN (exit 0), and ``predict``
wrote NaN rows as class 0.
"""

from __future__ import annotations

import copy
import functools

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.data import Data

from deeprank_like.data import GraphDataset, GridDataset
from deeprank_like.errors import StorageError, TrainingError
from deeprank_like.nn import GINENet
from deeprank_like.training import Trainer, build_model_for

SMALL = {"hidden_size": 8, "num_layers": 1, "head_hidden_size": 8}


def _write(path, graphs, grids: bool = False):
    from deeprank_like.storage import write_graph

    with h5py.File(path, "w") as f:
        for g in graphs:
            extra = None
            if grids:
                from deeprank_like.grid.hdf5 import add_grids
                from deeprank_like.grid.settings import GridSettings

                settings = GridSettings(points_counts=(4, 4, 4), sizes=(16.0, 16.0, 16.0))
                extra = functools.partial(add_grids, graph=g, settings=settings, augmentations=0)
            write_graph(f, g, extra=extra)
    return path


def _poisoned(builders, *, node=None, edge=None, target=None, value=np.nan, index=2):
    """Copies of three test graphs; graph ``index`` gets ``value`` in one array."""
    graphs = [copy.copy(g) for g in builders.graphs()[:3]]
    g = graphs[index]
    if node is not None:
        g.node_features = dict(g.node_features)
        arr = np.array(g.node_features[node], dtype=np.float64)
        arr.reshape(arr.shape[0], -1)[5, 0] = value
        g.node_features[node] = arr
    if edge is not None:
        g.edge_features = dict(g.edge_features)
        arr = np.array(g.edge_features[edge], dtype=np.float64)
        arr.reshape(arr.shape[0], -1)[1, 0] = value
        g.edge_features[edge] = arr
    if target is not None:
        g.targets = {**g.targets, target: value}
    return graphs, g.id


def test_nan_node_feature_in_hdf5_is_a_clear_error_and_no_checkpoint(builders, tmp_path):
    graphs, bad = _poisoned(builders, node="res_charge")
    path = _write(tmp_path / "nan.hdf5", graphs)
    ds = GraphDataset(path, target="irmsd", standardize=True)
    torch.manual_seed(0)
    trainer = Trainer(
        build_model_for("gine", ds, **SMALL), ds, output_dir=tmp_path / "run", device="cpu"
    )
    with pytest.raises(StorageError) as info:
        trainer.train(2, batch_size=3)
    text = str(info.value)
    assert f"entry {bad!r}" in text and "node feature 'res_charge'" in text
    assert "1 non-finite value(s) (NaN" in text and "row 5" in text and str(path) in text
    assert not (tmp_path / "run" / "model.pt").exists()


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_non_finite_edge_feature_and_target(builders, tmp_path, value):
    graphs, bad = _poisoned(builders, edge="distance", value=value)
    ds = GraphDataset(_write(tmp_path / "e.hdf5", graphs), target="irmsd")
    with pytest.raises(StorageError, match=rf"entry '{bad}': edge feature 'distance' has 1 non"):
        [ds[i] for i in range(len(ds))]
    graphs, bad = _poisoned(builders, target="irmsd", value=value)
    ds = GraphDataset(_write(tmp_path / "t.hdf5", graphs), target="irmsd")
    with pytest.raises(StorageError, match=rf"entry '{bad}'.*target 'irmsd'"):
        [ds[i] for i in range(len(ds))]


def test_non_finite_classification_target_is_not_dropped(builders, tmp_path):
    graphs, bad = _poisoned(builders, target="label", value=np.nan)
    for g in graphs:
        g.targets = {**g.targets, "label": g.targets.get("label", 1.0)}
    graphs[0].targets["label"] = 0.0
    path = _write(tmp_path / "c.hdf5", graphs)
    with pytest.raises(StorageError, match=rf"entry '{bad}': target 'label' is nan"):
        GraphDataset(path, target="label", task="classif")


def test_transform_that_makes_inf_is_caught(builders, tmp_path):
    graphs = [copy.copy(g) for g in builders.graphs()[:2]]
    path = _write(tmp_path / "ok.hdf5", graphs)
    ds = GraphDataset(path, target="irmsd", transforms={"res_mass": lambda v: v * 1e300})
    with pytest.raises(StorageError, match="node feature 'res_mass' after its transform"):
        ds[0]


def test_nan_grid_channel_is_named(builders, tmp_path):
    graphs = [copy.copy(g) for g in builders.graphs()[:2]]
    path = _write(tmp_path / "g.hdf5", graphs, grids=True)
    with h5py.File(path, "r+") as f:
        name = sorted(k for k in f if not k.startswith("_"))[1]
        grid = f[name]["grids/000"]
        channel = [c.decode() if isinstance(c, bytes) else c for c in grid.attrs["channel_names"]]
        data = grid[()]
        data[3, 1, 1, 1] = np.inf
        grid[...] = data
        checksum = f[name].attrs.get("checksum")
        if checksum is not None:  # keep the entry self-consistent: this is bad data, not damage
            from deeprank_like.storage.integrity import CHECKSUM_ATTR, entry_checksum

            f[name].attrs[CHECKSUM_ATTR] = entry_checksum(f[name])
    ds = GridDataset(path, target="irmsd", features="all")
    with pytest.raises(StorageError, match=rf"grid 000: grid channel '{channel[3]}' has 1 non"):
        [ds[i] for i in range(len(ds))]


def _data_list(bad_index: int | None = None, inf_target: int | None = None) -> list[Data]:
    gen = torch.Generator().manual_seed(0)
    items = []
    for i in range(6):
        x = torch.randn(5, 3, generator=gen)
        if i == bad_index:
            x[2, 1] = float("nan")
        ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
        items.append(
            Data(
                x=x,
                edge_index=torch.cat([ei, ei.flip(0)], 1),
                edge_attr=torch.ones(8, 2),
                y=torch.tensor([[float("inf") if i == inf_target else float(i)]]),
                entry_id=f"entry-{i}",
            )
        )
    return items


def test_non_finite_loss_stops_training_with_entry_ids(tmp_path):
    torch.manual_seed(0)
    model = GINENet(3, 2, **SMALL)
    trainer = Trainer(
        model, _data_list(bad_index=4), task="regress", output_dir=tmp_path, device="cpu"
    )
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(TrainingError) as info:
        trainer.train(3, batch_size=2, shuffle=False)
    text = str(info.value)
    assert "non-finite loss or target (batch loss nan)" in text and "['entry-4']" in text
    assert "epoch 1, training batch 2" in text and "no checkpoint was written" in text
    assert not (tmp_path / "model.pt").exists()
    # the step of the bad batch was not applied; earlier steps were, and are finite
    assert all(torch.isfinite(v).all() for v in model.state_dict().values())
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_exploding_gradients_stop_before_the_step(tmp_path):
    torch.manual_seed(0)
    model = GINENet(3, 2, **SMALL)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1e12)
    trainer = Trainer(model, _data_list(), task="regress", output_dir=tmp_path, device="cpu")
    with pytest.raises(TrainingError, match=r"non-finite (loss|gradients).*entr"):
        trainer.train(1, batch_size=6, checkpoint="model.pt")
    assert not (tmp_path / "model.pt").exists()


def test_predict_never_makes_up_rows(graph_file, tmp_path):
    ds = GraphDataset(graph_file, target="binary")
    torch.manual_seed(0)
    trainer = Trainer(build_model_for("gine", ds, **SMALL), ds, output_dir=tmp_path, device="cpu")
    assert len(trainer.predict(ds)) == len(ds)
    with torch.no_grad():
        trainer.model.head[-1].bias.fill_(float("nan"))  # a broken network: NaN logits
    with pytest.raises(TrainingError, match=r"prediction: the network gives non-finite outputs"):
        trainer.predict(ds)
    with pytest.raises(TrainingError, match="not saved: the model has non-finite weights"):
        trainer.save(tmp_path / "nan.pt")
    assert not (tmp_path / "nan.pt").exists()


def test_cli_predict_on_nan_feature_file_writes_nothing(builders, graph_file, tmp_path, capsys):
    from deeprank_like.cli import main

    ds = GraphDataset(graph_file, target="binary", standardize=True)
    torch.manual_seed(0)
    trainer = Trainer(build_model_for("gine", ds, **SMALL), ds, output_dir=tmp_path, device="cpu")
    trainer.save(tmp_path / "model.pt")
    graphs, bad = _poisoned(builders, node="res_type", value=np.nan)
    path = _write(tmp_path / "nan.hdf5", graphs)
    out = tmp_path / "pred.csv"
    assert main(["predict", "--model", str(tmp_path / "model.pt"), str(path), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"entry {bad!r}: node feature 'res_type' has 1 non-finite value(s)" in err
    assert not out.exists()
    # the good file still predicts, every row a real prediction
    assert (
        main(["predict", "--model", str(tmp_path / "model.pt"), str(graph_file), "-o", str(out)])
        == 0
    )
    pred = pd.read_csv(out)
    assert len(pred) == 9 and np.isfinite(pred[["probability_0", "probability_1"]].to_numpy()).all()


def test_cli_train_on_nan_file_fails_without_checkpoint(builders, tmp_path, capsys):
    import yaml

    from deeprank_like.cli import main

    graphs, bad = _poisoned(builders, node="res_mass", value=np.inf, index=0)
    path = _write(tmp_path / "inf.hdf5", graphs)
    config = {
        "data": {"train": [str(path)], "target": "irmsd", "standardize": True},
        "network": {"name": "gine", "kwargs": SMALL},
        "training": {"epochs": 1, "batch_size": 3, "device": "cpu"},
        "output_dir": str(tmp_path / "run"),
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    assert main(["train", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"entry {bad!r}: node feature 'res_mass' has 1 non-finite value(s) (inf" in err
    assert not (tmp_path / "run" / "model.pt").exists()


def test_infinite_target_in_a_plain_dataset_stops_training(tmp_path):
    torch.manual_seed(0)
    model = GINENet(3, 2, **SMALL)
    trainer = Trainer(model, _data_list(inf_target=1), task="regress", output_dir=tmp_path)
    with pytest.raises(
        TrainingError, match=r"training batch 0: .*\(infinite target: \['entry-1'\]\)"
    ):
        trainer.train(1, batch_size=3, shuffle=False)


def test_error_from_a_dataloader_worker_keeps_its_message(builders, tmp_path):
    graphs, bad = _poisoned(builders, node="res_charge")
    path = _write(tmp_path / "nan.hdf5", graphs)
    ds = GraphDataset(path, target="irmsd")
    torch.manual_seed(0)
    trainer = Trainer(build_model_for("gine", ds, **SMALL), ds, output_dir=tmp_path, device="cpu")
    with pytest.raises(StorageError) as info:  # preflight reads item 0; the worker meets item 2
        trainer.train(1, batch_size=1, num_workers=1, shuffle=False)
    assert str(info.value).startswith(f"{path}: entry {bad!r}: node feature 'res_charge'")


@pytest.mark.parametrize("fractions", [[float("nan"), 0.5], [0.5, float("nan")], [np.inf, 0.5]])
def test_nan_split_fractions_are_refused(fractions):
    from deeprank_like.data import split_dataset

    with pytest.raises(TrainingError, match="fractions must be"):
        split_dataset(list(range(10)), fractions, seed=0)


def test_non_finite_class_weights_are_refused(graph_file, tmp_path):
    ds = GraphDataset(graph_file, target="binary")
    model = build_model_for("gine", ds, **SMALL)
    trainer = Trainer(model, ds, class_weights=[float("nan"), 1.0], output_dir=tmp_path)
    with pytest.raises(TrainingError, match="class_weights must be finite"):
        trainer.train(1, batch_size=3)
