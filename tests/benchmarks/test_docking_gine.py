"""DockingGINE readouts: the edge readout sees one extreme edge; configs round-trip."""

from __future__ import annotations

import torch
from torch_geometric.data import Batch, Data

from deeprank_like.nn.registry import model_config
from deeprank_like.pretrained.docking import DockingGINE


def _graph(edge_attr: torch.Tensor) -> Data:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 5, generator=g)
    index = torch.tensor([[0, 1, 2, 3, 0, 2], [1, 0, 3, 2, 2, 0]])
    return Data(x=x, edge_index=index, edge_attr=edge_attr)


def test_edge_readout_is_recorded_and_defaults_off():
    assert model_config(DockingGINE(5, 3))["edge_readout"] is False
    on = DockingGINE(5, 3, edge_readout=True)
    assert model_config(on)["edge_readout"] is True
    # the saved config rebuilds the same network
    again = DockingGINE(**model_config(on))
    again.load_state_dict(on.state_dict())


def test_edge_readout_passes_one_extreme_edge_to_the_head():
    torch.manual_seed(0)
    model = DockingGINE(5, 3, edge_readout=True).eval()
    attr = torch.zeros(6, 3)
    clash = attr.clone()
    clash[4, 2] = 8.0  # one edge with a large (standardised) energy
    with torch.no_grad():
        base = model.edge_mlp(attr)
        bumped = model.edge_mlp(clash)
    # the max over edges carries the single edge's change unchanged by averaging
    edge_batch = torch.zeros(6, dtype=torch.long)
    assert torch.equal(bumped.max(0).values, bumped[edge_batch == 0].max(0).values)
    assert not torch.allclose(base.max(0).values, bumped.max(0).values)
    with torch.no_grad():
        a = model(Batch.from_data_list([_graph(attr)]))
        b = model(Batch.from_data_list([_graph(clash)]))
    assert a.shape == (1, 1) and not torch.allclose(a, b)


def test_graph_without_edges_scores_finitely():
    model = DockingGINE(5, 3, edge_readout=True).eval()
    empty = Data(
        x=torch.randn(2, 5), edge_index=torch.zeros(2, 0, dtype=torch.long),
        edge_attr=torch.zeros(0, 3),
    )  # fmt: skip
    with torch.no_grad():
        out = model(Batch.from_data_list([_graph(torch.zeros(6, 3)), empty]))
    assert out.shape == (2, 1) and torch.isfinite(out).all()
