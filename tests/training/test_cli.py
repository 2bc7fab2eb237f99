"""deeprank-like train CONFIG / deeprank-like predict --model CKPT FILES -o CSV."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from deeprank_like.cli import main
from deeprank_like.errors import TrainingError
from deeprank_like.training.config import load_config


def test_train_then_predict(graph_file, unlabelled_file, tmp_path, capsys):
    config = {
        "data": {
            "kind": "graph",
            "train": [str(graph_file)],
            "split": [0.67, 0.33],
            "group_by": {"regex": r":(\w+?)_r"},
            "node_features": ["res_type", "res_charge", "polarity"],
            "edge_features": "all",
            "target": "binary",
            "standardize": True,
        },
        "network": {"name": "gine", "kwargs": {"hidden_size": 8, "num_layers": 2}},
        "training": {"epochs": 2, "batch_size": 4, "lr": 0.01, "device": "cpu"},
        "output_dir": "run",
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["train", str(path)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["epochs_run"] == 2 and summary["items"]["train"] + summary["items"]["val"] == 9
    checkpoint = tmp_path / "run" / "model.pt"
    assert checkpoint.is_file() and (tmp_path / "run" / "metrics.csv").is_file()
    out = tmp_path / "pred.csv"
    assert (
        main(
            [
                "predict",
                "--model",
                str(checkpoint),
                str(graph_file),
                str(unlabelled_file),
                "-o",
                str(out),
            ]
        )
        == 0
    )
    pred = pd.read_csv(out)
    assert len(pred) == 11 and pred["target"].isna().sum() == 2
    assert {"entry", "file", "predicted_class", "probability_0", "probability_1"} <= set(
        pred.columns
    )


def test_config_errors(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('[data]\ntrain = ["x.hdf5"]\ntarget = "binary"\n[training]\nepoch = 3\n')
    with pytest.raises(TrainingError, match=r"unknown key\(s\) \['epoch'\] in section 'training'"):
        load_config(path)
    assert main(["train", str(path)]) == 2
    assert "unknown key(s) ['epoch']" in capsys.readouterr().err
