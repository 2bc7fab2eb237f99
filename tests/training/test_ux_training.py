"""Training a new user can trust (issue 16, items 4, 5, 11).

* an untrained GINE network gives a binary cross-entropy near ln 2 on real example data, with
  or without standardisation (it gave 6-560 before LayerNorm became the default);
* per-epoch progress lines (Trainer ``verbose=True`` / INFO logs; ``deeprank-like train``);
* bounded targets (DockQ, Fnat) get a sigmoid output, so predictions stay in (0, 1);
* predictions carry the source structure path and, with targets, metrics;
* DeepRank2's Trainer arguments work with a DeprecationWarning naming ours, or fail naming
  what to do.
"""

from __future__ import annotations

import json
import logging
import math
import warnings

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from torch import nn
from torch_geometric.data import Batch

from deeprank_like import ProteinProteinInterfaceQuery
from deeprank_like.cli import main
from deeprank_like.data import GraphDataset, split_dataset
from deeprank_like.errors import TrainingError
from deeprank_like.examples import example_path
from deeprank_like.nn import GINENet, build_model
from deeprank_like.storage import write_graph
from deeprank_like.training import Trainer, build_model_for, load_model

SMALL = {"hidden_size": 8, "num_layers": 2, "head_hidden_size": 16}
MODULES = ["components", "contact", "surfacearea"]


@pytest.fixture(scope="module")
def example_file(tmp_path_factory):
    """8 residue interfaces of the package's example complexes, with binary and DockQ-like
    targets (4 of each class)."""
    graphs = []
    for name in ("1ATN_1w", "1ATN_2w", "3C8P"):
        for radius in (8.0, 10.0, 12.0):
            query = ProteinProteinInterfaceQuery(
                pdb_path=str(example_path(name)),
                chain_ids=["A", "B"],
                influence_radius=radius,
                model_id=f"{name}_r{radius:g}",
            )
            graphs.append(query.build(MODULES))
    graphs = graphs[:8]
    for i, g in enumerate(graphs):
        g.targets = {"binary": i % 2, "dockq": 0.1 + 0.1 * i}
    path = tmp_path_factory.mktemp("ux_training") / "examples.hdf5"
    with h5py.File(path, "w") as f:
        for g in graphs:
            write_graph(f, g)
    return str(path)


@pytest.fixture(scope="module")
def unlabelled_file(tmp_path_factory):
    query = ProteinProteinInterfaceQuery(
        pdb_path=str(example_path("1ATN_1w")), chain_ids=["A", "B"], model_id="new"
    )
    path = tmp_path_factory.mktemp("ux_training_new") / "new.hdf5"
    with h5py.File(path, "w") as f:
        write_graph(f, query.build(MODULES))
    return str(path)


# ---- item 5: a sane start ------------------------------------------------------------------
@pytest.mark.parametrize("standardize", [False, True])
def test_initial_binary_loss_is_near_ln2(example_file, standardize):
    ds = GraphDataset(example_file, target="binary", standardize=standardize)
    batch = Batch.from_data_list([ds[i] for i in range(len(ds))])
    target = batch.y.reshape(-1)
    losses = []
    for seed in range(5):
        torch.manual_seed(seed)
        model = build_model_for("gine", ds)  # default sizes, as a user would
        with torch.no_grad():
            out = model(batch)
        losses.append(float(nn.functional.cross_entropy(out, target)))
        assert float(out.abs().max()) < 3.0, out  # logits near 0, not 10-500
    assert all(abs(v - math.log(2)) < 0.3 for v in losses), losses


def test_first_epoch_loss_is_near_ln2(example_file, tmp_path):
    ds = GraphDataset(example_file, target="binary")
    torch.manual_seed(0)
    trainer = Trainer(build_model_for("gine", ds), ds, lr=1e-3, output_dir=tmp_path, device="cpu")
    history = trainer.train(1, batch_size=4)
    assert abs(float(history.loss.iloc[0]) - math.log(2)) < 0.3, history


def test_old_checkpoint_configs_keep_their_network():
    # a config recorded before these defaults (norm "none", no output_activation) builds the
    # same network as then: no LayerNorm, raw outputs
    model = build_model("gine", {"num_node_features": 5, "num_edge_features": 2, "norm": "none"})
    assert not any(isinstance(m, nn.LayerNorm) for m in model.modules())
    assert model.output_activation == "none"
    assert any(isinstance(m, nn.LayerNorm) for m in GINENet(5, 2).modules())


def test_train_prints_one_line_per_epoch(example_file, tmp_path, capsys, caplog):
    ds = GraphDataset(example_file, target="binary", standardize=True)
    train, val = split_dataset(ds, (0.5, 0.5), seed=0)
    torch.manual_seed(0)
    trainer = Trainer(build_model_for("gine", train, **SMALL), train, val, output_dir=tmp_path)
    trainer.train(3, batch_size=4, verbose=True)
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("epoch ")]
    assert len(lines) == 3, lines
    assert lines[0].startswith("epoch 1/3 | train loss ") and "| val loss " in lines[0]
    assert "accuracy" in lines[0] and lines[0].endswith("*")  # first epoch is a new best
    with caplog.at_level(logging.INFO, logger="deeprank_like.training.trainer"):
        trainer.train(2, batch_size=4)  # not verbose: logged
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("epoch ")]
    assert [m.split(" |")[0] for m in logged] == ["epoch 4/5", "epoch 5/5"]
    assert capsys.readouterr().err.count("epoch ") == 0


def test_train_command_shows_progress(example_file, tmp_path, capsys):
    config = {
        "data": {"train": [example_file], "split": [0.5, 0.5], "target": "binary"},
        "network": {"name": "gine", "kwargs": SMALL},
        "training": {"epochs": 2, "batch_size": 4, "device": "cpu"},
        "output_dir": str(tmp_path / "run"),
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(path)]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["epochs_run"] == 2  # stdout: the JSON summary only
    assert [x.split(" |")[0] for x in out.err.splitlines() if x.startswith("epoch")] == [
        "epoch 1/2",
        "epoch 2/2",
    ]
    assert main(["train", str(path), "--quiet"]) == 0
    assert "epoch 1/2" not in capsys.readouterr().err


# ---- item 4: predictions a user can join and trust -----------------------------------------
def test_bounded_target_gets_a_sigmoid_output(example_file, unlabelled_file, tmp_path):
    ds = GraphDataset(example_file, target="dockq", standardize=True)
    torch.manual_seed(0)
    model = build_model_for("gine", ds, **SMALL)
    assert model.output_activation == "sigmoid" and model.config["output_activation"] == "sigmoid"
    # a large learning rate would push a linear output far outside [0, 1]
    trainer = Trainer(model, ds, lr=0.05, output_dir=tmp_path, device="cpu")
    trainer.train(15, batch_size=2)
    loaded = load_model(tmp_path / "model.pt")
    assert loaded.output_activation == "sigmoid"
    scorer = Trainer.from_checkpoint(tmp_path / "model.pt", device="cpu", output_dir=tmp_path)
    pred = scorer.predict([example_file, unlabelled_file])
    assert ((pred.output > 0) & (pred.output < 1)).all(), pred.output
    # opting out, and refusing a sigmoid in front of a classification loss
    assert build_model_for("gine", ds, output_activation="none").output_activation == "none"
    unbounded = GraphDataset(example_file, target="dockq", task="regress")
    unbounded.target = "irmsd"  # same data under an unbounded target name: no sigmoid
    assert build_model_for("gine", unbounded, **SMALL).output_activation == "none"
    binary = GraphDataset(example_file, target="binary")
    bad = GINENet(
        binary.num_node_features, binary.num_edge_features, 2, output_activation="sigmoid"
    )
    with pytest.raises(TrainingError, match="classification loss takes logits"):
        Trainer(bad, binary, output_dir=tmp_path, device="cpu").train(1)


def test_predictions_carry_pdb_path_and_metrics(example_file, unlabelled_file, tmp_path, capsys):
    ds = GraphDataset(example_file, target="dockq", standardize=True)
    torch.manual_seed(0)
    trainer = Trainer(build_model_for("gine", ds, **SMALL), ds, output_dir=tmp_path, device="cpu")
    trainer.train(2, batch_size=4)
    frame = trainer.predict([example_file, unlabelled_file])
    with h5py.File(example_file) as f:
        entries = [f[k] for k in f if not k.startswith("_")]  # "_tmp": reserved scratch group
        stored = {e.attrs["id"]: json.loads(e.attrs["query"])["pdb_path"] for e in entries}
    stored["residue-ppi:A-B:new"] = str(example_path("1ATN_1w"))
    assert frame.pdb_path.tolist() == [stored[e] for e in frame.entry]
    metrics = frame.attrs["metrics"]
    assert metrics["n_labelled"] == len(ds) and {"loss", "mae", "rmse", "r2"} <= set(metrics)
    labelled = frame.dropna(subset=["target"])
    assert metrics["mae"] == pytest.approx(float((labelled.output - labelled.target).abs().mean()))
    assert trainer.predict([unlabelled_file]).attrs["metrics"] == {}

    # the command line: CSV with pdb_path, metrics printed and written as JSON
    out = tmp_path / "pred.csv"
    argv = ["predict", "--model", str(tmp_path / "model.pt"), example_file, "-o", str(out)]
    assert main(argv) == 0
    assert "metrics over the 8 entries with a target: loss" in capsys.readouterr().out
    csv = pd.read_csv(out)
    assert csv.pdb_path.notna().all()
    written = json.loads(out.with_suffix(".metrics.json").read_text())
    assert written["n_labelled"] == 8 and np.isfinite(written["rmse"])
    out2 = tmp_path / "new.csv"
    argv = ["predict", "--model", str(tmp_path / "model.pt"), unlabelled_file, "-o", str(out2)]
    assert main(argv) == 0
    assert not out2.with_suffix(".metrics.json").exists()


# ---- item 11: DeepRank2's Trainer arguments ------------------------------------------------
def test_deeprank2_trainer_script_runs(example_file, tmp_path):
    ds = GraphDataset(
        example_file,
        node_features=["res_type"],
        edge_features=["distance"],
        features_transform={"all": {"transform": np.cbrt, "standardize": True}},
        target="binary",
        task="classif",
    )
    train, val = split_dataset(ds, (0.5, 0.5), seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer = Trainer(
            neuralnet=GINENet, dataset_train=train, dataset_val=val, cuda=False,
            output_dir=tmp_path,
        )  # fmt: skip
        trainer.configure_optimizers(torch.optim.SGD, lr=1e-3, weight_decay=1e-3)
        trainer.train(
            nepoch=2, batch_size=4, earlystop_patience=5, earlystop_maxgap=0.1, min_epoch=10,
            validate=True, filename=str(tmp_path / "model.pth.tar"),
        )  # fmt: skip
    messages = " ".join(str(w.message) for w in caught if w.category is DeprecationWarning)
    for ours in ("device='cpu'", "epochs=", "early_stopping_patience=", "max_gap=", "checkpoint="):
        assert f"use {ours}" in messages, messages
    assert isinstance(trainer.model, GINENet) and isinstance(trainer.optimizer, torch.optim.SGD)
    assert (tmp_path / "model.pth.tar").is_file()
    trainer.set_lossfunction(nn.CrossEntropyLoss)
    assert trainer.loss_fn.name == "cross_entropy"


@pytest.mark.parametrize(
    ("kwargs", "advice"),
    [
        ({"val_size": 0.2}, "split_dataset"),
        ({"pretrained_model": "m.pth.tar"}, "Trainer.from_checkpoint"),
        ({"output_exporters": []}, "output_dir"),
        ({"ngpu": 2}, "torchrun"),
        ({"neuralnet_": 1}, "unexpected keyword argument 'neuralnet_'"),
    ],
)
def test_deeprank2_trainer_arguments_we_do_differently(example_file, tmp_path, kwargs, advice):
    ds = GraphDataset(example_file, target="binary")
    with pytest.raises(TypeError, match=advice):
        Trainer(build_model_for("gine", ds, **SMALL), ds, output_dir=tmp_path, **kwargs)


def test_deeprank2_train_arguments(example_file, tmp_path):
    ds = GraphDataset(example_file, target="binary", standardize=True)
    trainer = Trainer(build_model_for("gine", ds, **SMALL), ds, output_dir=tmp_path)
    with pytest.raises(TypeError, match="needs a validation set"):
        trainer.train(nepoch=1, validate=True)
    with pytest.raises(TypeError, match="epochs= or nepoch="):
        trainer.train(2, nepoch=1)
    with pytest.raises(TypeError, match="train\\(epochs=...\\)"):
        trainer.train()


def test_max_gap_stops_training(example_file, tmp_path):
    ds = GraphDataset(example_file, target="binary", standardize=True)
    train, val = split_dataset(ds, (0.5, 0.5), seed=0)
    torch.manual_seed(0)
    trainer = Trainer(build_model_for("gine", train, **SMALL), train, val, output_dir=tmp_path)
    # a gap threshold of -10 is always exceeded: training stops right after max_gap_min_epoch
    history = trainer.train(6, batch_size=4, max_gap=-10.0, max_gap_min_epoch=1)
    assert history.epoch.max() == 2


def test_quickstart_ranking_stays_within_dockq_range(tmp_path):
    from deeprank_like.quickstart import run_quickstart
    from deeprank_like.training import read_metadata

    result = run_quickstart(tmp_path / "qs", n_decoys=6, epochs=2, cpu_count=1, plots=False)
    assert read_metadata(tmp_path / "qs" / "model.pt")["model"]["config"]["output_activation"] == (
        "sigmoid"
    )
    assert ((result.ranking.output > 0) & (result.ranking.output < 1)).all()
    assert pd.read_csv(tmp_path / "qs" / "predictions_test.csv").pdb_path.notna().all()
