"""Graph neural networks on pure torch-geometric layers (no compiled add-ons).

Both networks take a PyG batch with ``x`` (N, F), ``edge_index`` (2, 2E) (both directions, as the
datasets deliver), ``edge_attr`` (2E, Fe) and ``batch`` (N,), and return (B, output_size) raw
outputs: values for regression, logits for classification.

* :class:`GINENet` (``"gine"``): edge-aware GIN (GINEConv) stack with a shared edge-feature
  encoder, residual connections, global mean + max pooling and an MLP head.
* :class:`GCNNet` (``"gcn"``): a GCN baseline that ignores edge features.

No BatchNorm: batch statistics would make data-parallel training differ from single-process
training (each rank would normalise with its own shard); ``norm="layer"`` is per node.

Speed on CPU is dominated by the edge-wise ops (gather, ReLU, scatter-add), which are more
cache-friendly when edges are sorted by destination node, as the datasets deliver them.
"""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn
from torch_geometric.nn import GCNConv, GINConv, GINEConv, global_max_pool, global_mean_pool

from deeprank_like.errors import TrainingError
from deeprank_like.nn.registry import record_config, register_model

__all__ = ["GCNNet", "GINENet"]

_POOLS = {"mean": global_mean_pool, "max": global_max_pool}


def _batch_vector(data) -> Tensor:
    batch = getattr(data, "batch", None)
    if batch is None:
        batch = torch.zeros(data.x.size(0), dtype=torch.long, device=data.x.device)
    return batch


def _num_graphs(data, batch: Tensor) -> int:
    n = getattr(data, "num_graphs", None)
    return int(n) if n is not None else int(batch.max()) + 1 if batch.numel() else 1


def _check_pooling(pooling) -> list[str]:
    pooling = [pooling] if isinstance(pooling, str) else list(pooling)
    bad = [p for p in pooling if p not in _POOLS]
    if bad or not pooling:
        raise TrainingError(f"pooling must be a subset of {sorted(_POOLS)}, got {pooling}")
    return pooling


def _head(in_size: int, hidden: int, out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(in_size, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, out)
    )


@register_model("gine")
class GINENet(nn.Module):
    """Edge-aware GIN network.

    ``x → ReLU(Linear(F→H))``; edge features ``→ Linear(Fe→H)`` once (shared by all layers);
    ``num_layers`` × GINEConv(MLP H→H→H, learnable ε) with residual connections
    (``x ← x + ReLU(conv(x))``); per-graph pooling (mean ‖ max) → MLP head.

    Parameters
    ----------
    num_node_features : int
        Node feature columns F.
    num_edge_features : int
        Edge feature columns Fe (0: plain GINConv layers, edge features ignored).
    output_size : int
        1 for regression or binary BCE, number of classes for cross-entropy.
    hidden_size : int
        H.
    num_layers : int
        Message-passing layers.
    head_hidden_size : int
        Width of the head's hidden layer.
    dropout : float
        Dropout in the head (0 keeps data-parallel runs bit-comparable to single-process ones).
    pooling : list of {"mean", "max"}
    norm : {"none", "layer"}
        Per-node LayerNorm after each layer.
    """

    def __init__(
        self,
        num_node_features: int,
        num_edge_features: int = 0,
        output_size: int = 1,
        hidden_size: int = 32,
        num_layers: int = 3,
        head_hidden_size: int = 64,
        dropout: float = 0.0,
        pooling: list[str] | tuple[str, ...] = ("mean", "max"),
        norm: str = "none",
    ) -> None:
        super().__init__()
        record_config(self, locals())
        if norm not in ("none", "layer"):
            raise TrainingError(f"norm must be 'none' or 'layer', got {norm!r}")

        self.num_node_features = int(num_node_features)
        self.num_edge_features = int(num_edge_features)
        self.output_size = int(output_size)
        self.pooling = _check_pooling(pooling)
        h = int(hidden_size)
        self.node_encoder = nn.Linear(self.num_node_features, h)
        self.edge_encoder = nn.Linear(self.num_edge_features, h) if self.num_edge_features else None
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(int(num_layers)):
            mlp = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h))
            if self.edge_encoder is not None:
                self.convs.append(GINEConv(mlp, train_eps=True))
            else:
                self.convs.append(GINConv(mlp, train_eps=True))
            self.norms.append(nn.LayerNorm(h) if norm == "layer" else nn.Identity())
        self.head = _head(h * len(self.pooling), int(head_hidden_size), self.output_size, dropout)

    def forward(self, data) -> Tensor:
        """(B, output_size) outputs for a PyG batch."""
        x = torch.relu(self.node_encoder(data.x))
        e = self.edge_encoder(data.edge_attr) if self.edge_encoder is not None else None
        edge_index = data.edge_index
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = conv(x, edge_index, e) if e is not None else conv(x, edge_index)
            x = norm(x + torch.relu(h))
        batch = _batch_vector(data)
        size = _num_graphs(data, batch)
        pooled = torch.cat([_POOLS[p](x, batch, size) for p in self.pooling], dim=1)
        return self.head(pooled)


@register_model("gcn")
class GCNNet(nn.Module):
    """GCN baseline: ``num_layers`` × GCNConv(+ReLU), mean pooling, MLP head; ignores edges' features.

    Parameters are as :class:`GINENet` (``num_edge_features`` is accepted and recorded, unused).
    """

    def __init__(
        self,
        num_node_features: int,
        num_edge_features: int = 0,
        output_size: int = 1,
        hidden_size: int = 32,
        num_layers: int = 2,
        head_hidden_size: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        record_config(self, locals())
        self.num_node_features = int(num_node_features)
        self.num_edge_features = int(num_edge_features)
        self.output_size = int(output_size)
        sizes = [self.num_node_features] + [int(hidden_size)] * int(num_layers)
        self.convs = nn.ModuleList(GCNConv(a, b) for a, b in itertools.pairwise(sizes))
        self.head = _head(sizes[-1], int(head_hidden_size), self.output_size, dropout)

    def forward(self, data) -> Tensor:
        """(B, output_size) outputs for a PyG batch."""
        x = data.x
        for conv in self.convs:
            x = torch.relu(conv(x, data.edge_index))
        batch = _batch_vector(data)
        return self.head(global_mean_pool(x, batch, _num_graphs(data, batch)))
