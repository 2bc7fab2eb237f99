"""Damaged, foreign or crafted checkpoints fail with one clear message (issue 11 campaign).

Around item 1: truncated files, pickled code, metadata that is not a JSON object, weights that do
not fit the network, NaN weights, malformed dataset configs.
"""

from __future__ import annotations

import json
import os
import pickle

import pytest
import torch

from deeprank_like.data import GraphDataset
from deeprank_like.errors import TrainingError
from deeprank_like.nn import GINENet, model_config
from deeprank_like.training import Trainer, load_model, save_checkpoint
from deeprank_like.training.checkpoint import FORMAT, load_checkpoint

SMALL = {"hidden_size": 8, "num_layers": 1, "head_hidden_size": 8}


@pytest.fixture
def good(tmp_path):
    """A valid checkpoint of a small GINENet, and its payload."""
    model = GINENet(4, 2, **SMALL)
    meta = {"model": {"name": "gine", "config": model_config(model)}}
    path = save_checkpoint(tmp_path / "good.pt", model, meta)
    return path, torch.load(path, weights_only=True)


def _write(path, payload):
    torch.save(payload, path)
    return path


def test_truncated_and_empty_files(good, tmp_path):
    path, _ = good
    data = path.read_bytes()
    for name, content in (("half.pt", data[: len(data) // 2]), ("empty.pt", b"")):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(TrainingError, match=r"truncated or damaged checkpoint"):
            load_model(tmp_path / name)
    with pytest.raises(TrainingError, match="is a directory"):
        load_model(tmp_path)
    with pytest.raises(TrainingError, match="no such checkpoint"):
        load_model(tmp_path / "missing.pt")


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickled_code_is_refused_without_advising_weights_only_false(tmp_path):
    marker = tmp_path / "pwned"
    with open(tmp_path / "evil.pt", "wb") as fh:
        pickle.dump({"format": FORMAT, "x": _Exploit(marker)}, fh, protocol=2)
    with pytest.raises(TrainingError, match="objects other than tensors") as info:
        load_model(tmp_path / "evil.pt")
    assert "weights_only=False" not in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ('["model"]', "metadata must be a JSON object, got list"),
        ("{not json", "metadata is not valid JSON"),
        ({"model": "gine"}, "metadata must be a JSON string, got dict"),
        ("null", "metadata must be a JSON object, got NoneType"),
        ('{"model": "gine"}', "metadata has no 'model' record"),
        ('{"model": {"name": "gine", "config": [1, 2]}}', "model.config must be a JSON object"),
        ('{"model": {"name": ["gine"], "config": {}}}', "model.name must be a network name"),
    ],
)
def test_malformed_metadata(good, tmp_path, metadata, message):
    _, payload = good
    bad = _write(tmp_path / "bad.pt", {**payload, "metadata": metadata})
    with pytest.raises(TrainingError, match=message):
        load_model(bad)


def test_wrong_format_fields(good, tmp_path):
    _, payload = good
    for change, message in (
        ({"format": "other"}, "not a deeprank_like checkpoint"),
        ({"format_version": "1"}, "format_version must be an integer"),
        ({"format_version": 99}, "newer than supported"),
        ({"state_dict": {"w": [1.0]}}, "state_dict must map parameter names to tensors"),
    ):
        with pytest.raises(TrainingError, match=message):
            load_checkpoint(_write(tmp_path / "bad.pt", {**payload, **change}))


def test_weights_that_do_not_fit_the_network(good, tmp_path):
    _, payload = good
    state = dict(payload["state_dict"])
    key = next(k for k, v in state.items() if v.dim() == 2)
    state[key] = torch.zeros(3, 3)
    del state[next(k for k in state if k != key)]
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(TrainingError) as info:
        load_model(_write(tmp_path / "bad.pt", {**payload, "state_dict": state}))
    text = str(info.value)
    assert "do not fit the network 'gine'" in text
    assert f"{key} (3, 3)" in text and "missing" in text and "'extra.weight'" in text


def test_config_that_does_not_build(good, tmp_path):
    _, payload = good
    meta = json.loads(payload["metadata"])
    meta["model"]["config"]["no_such_argument"] = 1
    with pytest.raises(TrainingError, match="cannot build network 'gine'"):
        load_model(_write(tmp_path / "bad.pt", {**payload, "metadata": json.dumps(meta)}))


def test_nan_weights_are_refused_on_load(good, tmp_path):
    _, payload = good
    state = {k: v.clone() for k, v in payload["state_dict"].items()}
    next(iter(state.values())).fill_(float("nan"))
    bad = _write(tmp_path / "nan.pt", {**payload, "state_dict": state})
    with pytest.raises(TrainingError, match=r"non-finite weights \(NaN/inf\) in 1 tensor"):
        load_model(bad)
    with pytest.raises(TrainingError, match="non-finite weights"):
        Trainer.from_checkpoint(bad, device="cpu", output_dir=tmp_path)


def test_malformed_sections_for_trainer_and_dataset(graph_file, tmp_path):
    ds = GraphDataset(graph_file, target="binary", standardize=True)
    model = GINENet(ds.num_node_features, ds.num_edge_features, output_size=2, **SMALL)
    trainer = Trainer(model, ds, output_dir=tmp_path, device="cpu")
    path = trainer.save(tmp_path / "m.pt")
    payload = torch.load(path, weights_only=True)
    meta = json.loads(payload["metadata"])
    cases = [
        ({"classes": 5}, "classes must be a list"),
        ({"task": "import os"}, "task must be 'regress' or 'classif'"),
        ({"training": [1]}, "metadata 'training' must be a JSON object"),
    ]
    for change, message in cases:
        bad = _write(tmp_path / "bad.pt", {**payload, "metadata": json.dumps({**meta, **change})})
        with pytest.raises(TrainingError, match=message):
            Trainer.from_checkpoint(bad, device="cpu", output_dir=tmp_path)
    data = dict(meta["data"])
    data["node_widths"] = {k: "wide" for k in data["node_widths"]}
    data["grid_shape"] = "ignored for graphs"
    bad = _write(tmp_path / "bad.pt", {**payload, "metadata": json.dumps({**meta, "data": data})})
    with pytest.raises(TrainingError, match=r"malformed data config: node_widths must be"):
        GraphDataset(graph_file, train_source=bad)
    no_data = _write(
        tmp_path / "nodata.pt", {**payload, "metadata": json.dumps({**meta, "data": None})}
    )
    loaded = Trainer.from_checkpoint(no_data, device="cpu", output_dir=tmp_path)
    with pytest.raises(TrainingError, match="holds no dataset config"):
        loaded.predict([graph_file])


def test_config_asking_for_a_huge_network_fails_before_allocating(good, tmp_path):
    _, payload = good
    meta = json.loads(payload["metadata"])
    meta["model"]["config"]["hidden_size"] = 10**6  # ~10^12 parameters if it were built
    bad = _write(tmp_path / "huge.pt", {**payload, "metadata": json.dumps(meta)})
    with pytest.raises(TrainingError, match=r"wrong shapes .*\(network: \(1000000, "):
        load_model(bad)
