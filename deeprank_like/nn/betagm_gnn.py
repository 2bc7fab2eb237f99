"""The residue-graph GNN of the β-GM experiment (``"residue_graph_gnn"``).

Input: batches of :func:`~deeprank_like.data.ca_graph_dataset.residue_graph` graphs (node ``x``
(N, 27), ``edge_attr`` (E, 5)); output (B, output_size) positive eigenvalue predictions. The
network is :class:`~deeprank_like.nn.GINENet` with the output scale of
:class:`~deeprank_like.nn.CoulombCNN`: ``exp(mean + std · z)`` with per-output statistics of
``log(target)`` over the training set, given as constructor lists so that checkpoints re-create
the network exactly. It takes graphs of any size (whole chains as well as 100-residue windows).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from deeprank_like.nn.gnn import GINENet
from deeprank_like.nn.registry import record_config

__all__ = ["ResidueGraphGNN"]


class ResidueGraphGNN(nn.Module):
    """:class:`~deeprank_like.nn.GINENet` with positive, log-scaled outputs.

    The output is ``exp(mean + std · z)`` of the GINENet output z (per eigenvalue), with
    ``mean``/``std`` of ``log λ`` over the training set given as constructor lists (so checkpoints
    re-create the network exactly). Predictions are positive and start near the geometric mean.

    Parameters
    ----------
    num_node_features, num_edge_features : int
        F and Fe of :func:`residue_graph` (27 and 5).
    output_size, hidden_size, num_layers, head_hidden_size, dropout, norm
        As :class:`~deeprank_like.nn.GINENet`.
    target_log_mean, target_log_std : sequence of float, optional
        Per-output mean and standard deviation of ``log(target)`` (default 0 and 1).
    """

    def __init__(
        self,
        num_node_features: int,
        num_edge_features: int,
        output_size: int = 10,
        hidden_size: int = 64,
        num_layers: int = 4,
        head_hidden_size: int = 128,
        dropout: float = 0.0,
        norm: str = "layer",
        target_log_mean: Sequence[float] | None = None,
        target_log_std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        record_config(self, locals())
        self.gnn = GINENet(
            num_node_features, num_edge_features, output_size=output_size,
            hidden_size=hidden_size, num_layers=num_layers,
            head_hidden_size=head_hidden_size, dropout=dropout, norm=norm,
        )  # fmt: skip
        mean = target_log_mean if target_log_mean is not None else [0.0] * output_size
        std = target_log_std if target_log_std is not None else [1.0] * output_size
        self.register_buffer("log_mean", torch.tensor(list(mean), dtype=torch.float32))
        self.register_buffer("log_std", torch.tensor(list(std), dtype=torch.float32))

    def forward(self, data: Any) -> torch.Tensor:
        """(B, output_size) positive predictions."""
        return torch.exp(self.log_mean + self.log_std * self.gnn(data))
