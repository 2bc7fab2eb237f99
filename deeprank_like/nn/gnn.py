"""Graph neural networks on pure torch-geometric layers (no compiled add-ons).

Both networks take a PyG batch with ``x`` (N, F), ``edge_index`` (2, 2E) (both directions, as the
datasets deliver), ``edge_attr`` (2E, Fe) and ``batch`` (N,), and return (B, output_size) raw
outputs: values for regression, logits for classification.

* :class:`GINENet` (``"gine"``): edge-aware GIN (GINEConv) stack with a shared edge-feature
  encoder, residual connections, global mean + max pooling and an MLP head.
* :class:`GCNNet` (``"gcn"``): a GCN baseline that ignores edge features.

No BatchNorm: batch statistics would make data-parallel training differ from single-process
training (each rank would normalise with its own shard); ``norm="layer"`` (the default of
:class:`GINENet`) is per node.

**Why ``norm="layer"`` by default.** GINEConv *sums* its messages: with 10–20 neighbours per
residue node, each layer multiplies the activation scale by about the degree, and the
residual connections keep it; three layers made the pooled vector reach hundreds (thousands
with unstandardised inputs such as ``bsa`` in Å²). An untrained network then gave logits up
to 20–54 (standardised features) or 200–1,100 (raw), and an initial cross-entropy of 4–26 or
110–870 on a balanced binary task (ln 2 ≈ 0.69 expected). A per-node LayerNorm after each
layer keeps the scale at 1 whatever the degree or the input units: the initial loss was
0.68–0.77 in both cases (8 seeds; tests/training/test_ux_training.py checks 0.69 ± 0.3).

``output_activation="sigmoid"`` bounds regression outputs to (0, 1), for targets such as
DockQ and Fnat (:func:`~deeprank_like.training.build_model_for` sets it for them).

Speed on CPU is dominated by the edge-wise ops (gather, ReLU, scatter-add), which are more
cache-friendly when edges are sorted by destination node, as the datasets deliver them.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch_geometric.data import Batch
from torch_geometric.nn import GCNConv, GINConv, GINEConv, global_max_pool, global_mean_pool

from deeprank_like.errors import TrainingError
from deeprank_like.nn.registry import record_config, register_model

__all__ = [
    "OUTPUT_ACTIVATIONS",
    "GCNNet",
    "GINENet",
    "apply_output_activation",
    "check_output_activation",
]

_POOLS = {"mean": global_mean_pool, "max": global_max_pool}

#: Output activations: ``"none"`` (raw values / logits) or ``"sigmoid"`` (bounded to (0, 1)).
OUTPUT_ACTIVATIONS = ("none", "sigmoid")


def check_output_activation(name: str) -> str:
    """``name`` if it is one of :data:`OUTPUT_ACTIVATIONS`, else TrainingError listing them."""
    if name not in OUTPUT_ACTIVATIONS:
        raise TrainingError(
            f"output_activation must be one of {list(OUTPUT_ACTIVATIONS)}, got {name!r}"
        )
    return name


def apply_output_activation(out: Tensor, name: str) -> Tensor:
    """``out`` through the named output activation."""
    return torch.sigmoid(out) if name == "sigmoid" else out


def _batch_vector(data: Batch) -> Tensor:
    batch = getattr(data, "batch", None)
    if batch is None:
        batch = torch.zeros(data.x.size(0), dtype=torch.long, device=data.x.device)
    return batch


def _num_graphs(data: Batch, batch: Tensor) -> int:
    n = getattr(data, "num_graphs", None)
    return int(n) if n is not None else int(batch.max()) + 1 if batch.numel() else 1


def _check_pooling(pooling: str | Sequence[str]) -> list[str]:
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
    norm : {"layer", "none"}
        Per-node LayerNorm after each layer (default; keeps the initial outputs near 0 —
        see the module docstring). ``"none"`` is the network of checkpoints written before
        this default (their config records it).
    output_activation : {"none", "sigmoid"}
        ``"sigmoid"``: outputs in (0, 1), for bounded regression targets (DockQ, Fnat);
        never with classification losses, which take logits.
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
        norm: str = "layer",
        output_activation: str = "none",
    ) -> None:
        super().__init__()
        record_config(self, locals())
        if norm not in ("none", "layer"):
            raise TrainingError(f"norm must be 'none' or 'layer', got {norm!r}")
        self.output_activation = check_output_activation(output_activation)

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

    def forward(self, data: Batch) -> Tensor:
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
        return apply_output_activation(self.head(pooled), self.output_activation)


@register_model("gcn")
class GCNNet(nn.Module):
    """GCN baseline: ``num_layers`` × GCNConv(+ReLU), mean pooling, MLP head; ignores edges' features.

    Parameters are as :class:`GINENet` (``num_edge_features`` is accepted and recorded, unused).
    GCNConv normalises its sums by degree, so it needs no LayerNorm to start near 0.
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
        output_activation: str = "none",
    ) -> None:
        super().__init__()
        record_config(self, locals())
        self.num_node_features = int(num_node_features)
        self.num_edge_features = int(num_edge_features)
        self.output_size = int(output_size)
        self.output_activation = check_output_activation(output_activation)
        sizes = [self.num_node_features] + [int(hidden_size)] * int(num_layers)
        self.convs = nn.ModuleList(GCNConv(a, b) for a, b in itertools.pairwise(sizes))
        self.head = _head(sizes[-1], int(head_hidden_size), self.output_size, dropout)

    def forward(self, data: Batch) -> Tensor:
        """(B, output_size) outputs for a PyG batch."""
        x = data.x
        for conv in self.convs:
            x = torch.relu(conv(x, data.edge_index))
        batch = _batch_vector(data)
        out = self.head(global_mean_pool(x, batch, _num_graphs(data, batch)))
        return apply_output_activation(out, self.output_activation)
