"""Networks: shapes, registry round trip, permutation invariance, edge-feature use."""

from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from deeprank_like.errors import TrainingError
from deeprank_like.nn import (
    CNN3D,
    CnnClassification,
    GCNNet,
    GINENet,
    available_models,
    build_model,
    model_config,
    model_name,
)


def _graph(n=12, e=30, f=7, fe=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    ei = torch.cat([ei, ei.flip(0)], 1)
    ea = torch.randn(e, fe, generator=g)
    return Data(x=torch.randn(n, f, generator=g), edge_index=ei, edge_attr=torch.cat([ea, ea]))


@pytest.mark.parametrize("cls", [GINENet, GCNNet])
def test_gnn_shapes_and_registry_round_trip(cls):
    torch.manual_seed(0)
    model = cls(7, 3, output_size=2, hidden_size=8)
    batch = Batch.from_data_list([_graph(seed=i) for i in range(3)])
    out = model(batch)
    assert out.shape == (3, 2)
    clone = build_model(model_name(model), model_config(model))
    clone.load_state_dict(model.state_dict())
    assert torch.equal(clone(batch), out)
    assert model_name(model) in available_models()


def test_gine_is_permutation_invariant_and_uses_edges():
    torch.manual_seed(0)
    model = GINENet(7, 3, hidden_size=8).eval()
    g = _graph()
    perm = torch.randperm(g.num_nodes)
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(len(perm))
    h = Data(x=g.x[perm], edge_index=inv[g.edge_index], edge_attr=g.edge_attr)
    assert torch.allclose(model(g), model(h), atol=1e-5)
    h2 = Data(x=g.x, edge_index=g.edge_index, edge_attr=g.edge_attr * 2)
    assert not torch.allclose(model(g), model(h2))
    no_edges = GINENet(7, 0, hidden_size=8)
    assert no_edges(g).shape == (1, 1)


def test_cnn_shapes():
    model = CNN3D(5, (8, 8, 8), output_size=1, channels=(4, 8), hidden_size=16)
    assert model(torch.randn(2, 5, 8, 8, 8)).shape == (2, 1)
    cls = CnnClassification(5, [8, 6, 8])
    assert cls(torch.randn(3, 5, 8, 6, 8)).shape == (3, 2)
    assert model_config(cls)["output_size"] == 2 and model_name(cls) == "cnn_classification"
    with pytest.raises(TrainingError, match="too small"):
        CNN3D(5, (4, 4, 4), channels=(4, 8, 16))


def test_unknown_name_lists_choices():
    with pytest.raises(TrainingError, match=r"unknown network 'gin'; available: .*gine"):
        build_model("gin", {})


def test_checkpoint_falls_back_to_class_path(tmp_path, monkeypatch):
    from deeprank_like.nn import registry
    from deeprank_like.training import load_model, save_checkpoint

    model = GCNNet(7, 3, hidden_size=8)
    meta = {
        "model": {
            "name": "gcn",
            "class": "deeprank_like.nn.gnn:GCNNet",
            "config": model_config(model),
        }
    }
    save_checkpoint(tmp_path / "m.pt", model, meta)
    monkeypatch.delitem(registry._MODELS, "gcn")  # as if the defining module were not imported
    loaded = load_model(tmp_path / "m.pt")
    assert type(loaded) is GCNNet
    batch = Batch.from_data_list([_graph()])
    assert torch.equal(loaded(batch), model.eval()(batch))
