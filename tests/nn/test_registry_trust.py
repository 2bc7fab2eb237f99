"""A model file is data: only registered networks can be built from a checkpoint or config.

Regression tests for issue 11, item 1: a checkpoint naming ``subprocess:Popen`` ran the command
in ``load_model()`` and ``deeprank-like predict``; a training config naming ``this:s`` imported
an arbitrary module.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import sys
import textwrap

import pytest
import torch
from torch import nn

from deeprank_like.errors import TrainingError
from deeprank_like.nn import (
    GCNNet,
    available_models,
    build_model,
    model_config,
    model_name,
    record_config,
    register_model,
    registry,
)
from deeprank_like.training import load_model, save_checkpoint
from deeprank_like.training.checkpoint import FORMAT


def _crafted(path, model_record: dict) -> None:
    """A checkpoint written by hand: valid container, arbitrary model record."""
    payload = {
        "format": FORMAT,
        "format_version": 1,
        "state_dict": {},
        "metadata": json.dumps({"model": model_record, "data": None}),
    }
    torch.save(payload, path)


@pytest.fixture
def marker(tmp_path):
    path = tmp_path / "pwned"
    yield path
    assert not path.exists(), "a command named in a checkpoint was run"


@pytest.mark.parametrize(
    "record",
    [
        {"name": "subprocess:Popen", "config": {"args": ["touch", "MARKER"]}},
        # unregistered short name: the "class" fallback must not import either
        {"name": "popen", "class": "subprocess:Popen", "config": {"args": ["touch", "MARKER"]}},
        {"name": "os:system", "config": {"command": "touch MARKER"}},
    ],
)
def test_crafted_checkpoint_does_not_run_code_in_load_model(tmp_path, marker, record):
    record = json.loads(json.dumps(record).replace("MARKER", str(marker)))
    _crafted(tmp_path / "evil.pt", record)
    with pytest.raises(TrainingError, match=r"not a registered network") as info:
        load_model(tmp_path / "evil.pt")
    text = str(info.value)
    assert "register_model" in text and "deeprank_like.networks" in text
    assert str(tmp_path / "evil.pt") in text


def test_crafted_checkpoint_does_not_run_code_in_cli_predict(tmp_path, marker, capsys):
    from deeprank_like.cli import main

    _crafted(
        tmp_path / "evil.pt",
        {"name": "subprocess:Popen", "config": {"args": ["touch", str(marker)]}},
    )
    out = tmp_path / "pred.csv"
    status = main(["predict", "--model", str(tmp_path / "evil.pt"), "x.hdf5", "-o", str(out)])
    assert status == 2
    err = capsys.readouterr().err
    assert "'subprocess:Popen' is not a registered network" in err
    assert not out.exists()


def test_config_with_module_path_fails_without_importing(tmp_path):
    from deeprank_like.training.config import load_config

    sys.modules.pop("this", None)  # `import this` prints the Zen of Python
    (tmp_path / "f.hdf5").write_bytes(b"")
    cfg = tmp_path / "c.yaml"
    cfg.write_text('data: {train: [f.hdf5], target: irmsd}\nnetwork: {name: "this:s"}\n')
    with pytest.raises(TrainingError, match=r"'this:s' is not a registered network"):
        load_config(cfg)
    assert "this" not in sys.modules


def test_config_with_python_yaml_tag_is_refused(tmp_path, marker):
    from deeprank_like.training.config import load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"data: {{train: [f.hdf5]}}\nnetwork: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    with pytest.raises(TrainingError, match="not a valid data-only YAML config"):
        load_config(cfg)


@pytest.mark.parametrize(
    ("section", "value", "message"),
    [
        ("network: {name: 7}", None, "network.name must be a network name"),
        ("training: {optimizer: 'torch.optim:LBFGS'}", None, "training.optimizer must be one of"),
        ("training: {loss: 'os:system'}", None, "training.loss must be null or one of"),
        ("training: {scheduler: 'builtins:eval'}", None, "training.scheduler must be null"),
        ("training: {lr: .nan}", None, "training.lr must be a finite number"),
        ("training: {lr: '1e-3', epochs: 2}", 1e-3, None),
        ("training: {class_weights: [1, .inf]}", None, "class_weights must be true/false"),
    ],
)
def test_config_names_come_from_fixed_tables(tmp_path, section, value, message):
    from deeprank_like.training.config import load_config

    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: {{train: [f.hdf5], target: irmsd}}\n{section}\n")
    if message is None:
        assert load_config(cfg).training.lr == value  # YAML 1.1 reads 1e-3 as a string
    else:
        with pytest.raises(TrainingError, match=message):
            load_config(cfg)


class _Tiny(nn.Module):
    """An unregistered network (defined in a test module)."""

    def __init__(self, width: int = 3) -> None:
        super().__init__()
        record_config(self, locals())
        self.lin = nn.Linear(width, 1)

    def forward(self, batch):  # pragma: no cover - not called
        return self.lin(batch.x)


def test_user_network_loads_only_once_registered(tmp_path, monkeypatch, caplog):
    model = _Tiny(4)
    meta = {"model": {"name": model_name(model), "config": model_config(model)}}
    assert meta["model"]["name"] == f"{__name__}:_Tiny"
    with caplog.at_level(logging.WARNING):
        save_checkpoint(tmp_path / "m.pt", model, meta)
    assert "not a registered network" in caplog.text
    with pytest.raises(TrainingError, match=rf"'{__name__}:_Tiny' is not a registered network"):
        load_model(tmp_path / "m.pt")
    monkeypatch.setitem(registry._MODELS, "tiny_test_net", _Tiny)
    loaded = load_model(tmp_path / "m.pt")  # by its class path, now registered
    assert type(loaded) is _Tiny
    assert torch.equal(loaded.lin.weight, model.lin.weight)
    assert model_name(loaded) == "tiny_test_net"
    assert "tiny_test_net" in available_models()


def test_entry_point_network(tmp_path, monkeypatch):
    (tmp_path / "ep_nets_for_test.py").write_text(
        textwrap.dedent(
            """
            from torch import nn
            from deeprank_like.nn import record_config

            class EpNet(nn.Module):
                def __init__(self, width=2):
                    super().__init__()
                    record_config(self, locals())
                    self.lin = nn.Linear(width, 1)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    ep = importlib.metadata.EntryPoint(
        name="ep_net", value="ep_nets_for_test:EpNet", group=registry.ENTRY_POINT_GROUP
    )
    monkeypatch.setattr(registry, "_entry_points", lambda: {"ep_net": ep})
    assert "ep_net" in available_models()
    model = build_model("ep_net", {"width": 5})
    assert model_name(model) == "ep_net" and model.lin.in_features == 5
    assert type(build_model("ep_nets_for_test:EpNet", {})) is type(model)


def test_builtin_by_name_and_by_class_path_even_if_not_imported(monkeypatch):
    monkeypatch.delitem(registry._MODELS, "gcn")  # as if deeprank_like.nn.gnn were not imported
    assert type(build_model("gcn", {"num_node_features": 3, "num_edge_features": 0})) is GCNNet
    model = build_model(
        "deeprank_like.nn.gnn:GCNNet", {"num_node_features": 3, "num_edge_features": 0}
    )
    assert type(model) is GCNNet and model_name(model) == "gcn"


def test_register_model_checks_its_argument():
    import subprocess

    with pytest.raises(TrainingError, match="not an nn.Module subclass"):
        register_model("popen")(subprocess.Popen)
    with pytest.raises(TrainingError, match="without ':'"):
        register_model("a:b")
    with pytest.raises(TrainingError, match="must be a mapping"):
        build_model("gcn", ["num_node_features", 3])
