"""A variant-effect network that is antisymmetric by construction.

For a single-residue-variant graph ``x`` (wild type A, variant B, environment E) the network
returns

    f(x) = g(x) − g(swap(x))

where ``swap`` exchanges the wild-type and variant columns of the node features and negates
the variant − wild-type difference columns: ``swap(x)`` is the graph of B→A on the same
structure. ``swap`` is an exact involution (column exchange and sign flip), and IEEE
subtraction is exactly antisymmetric, so ``f(swap(x)) == −f(x)`` to the bit: the prediction for
the reverse mutation is exactly minus the prediction for the direct one (Pancotti et al.,
Brief. Bioinform. 2022, on why this matters for ΔΔG predictors).

A corollary: training on reverse mutations ``(swap(x), −y)`` gives the same squared (or any
odd-symmetric) loss as ``(x, y)``, so reverse augmentation is implicit.

Input normalisation (``node_mean``/``node_scale``, ``edge_mean``/``edge_scale``) is applied
*after* the swap, inside the network, so standardised inputs cannot break the symmetry; the
datasets must therefore deliver raw (unstandardised) columns.

Shapes: a PyG batch with ``x`` (N, F), ``edge_index`` (2, 2E), ``edge_attr`` (2E, Fe), ``batch``
(N,); output (B, output_size).
"""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import torch
from torch import Tensor, nn
from torch_geometric.nn import GINConv, GINEConv, global_add_pool, global_max_pool, global_mean_pool

from deeprank_like.errors import TrainingError
from deeprank_like.nn.registry import record_config, register_model

__all__ = ["AntisymmetricVariantNet", "reverse_variant", "swap_columns"]


def swap_columns(
    node_features: Sequence[str],
    widths: dict[str, int],
    *,
    wildtype: str = "res_type",
    variant: str = "variant_res",
    odd_prefix: str = "diff_",
) -> dict[str, list[int]]:
    """Column indices that :class:`AntisymmetricVariantNet` swaps, for a node-feature layout.

    Parameters
    ----------
    node_features : list of str
        Node feature names in column order (multi-column features expand to ``width`` columns).
    widths : dict of str to int
        Columns of each feature.
    wildtype, variant : str
        Features whose columns are exchanged (same width): by default the ``components``
        module's ``res_type`` and ``variant_res`` one-hots.
    odd_prefix : str
        Features whose name starts with this prefix change sign (``diff_charge`` …).

    Returns
    -------
    dict
        ``wildtype_columns``, ``variant_columns``, ``odd_columns`` (lists of int), ready to
        pass to :class:`AntisymmetricVariantNet`.

    Raises
    ------
    TrainingError
        If ``wildtype`` or ``variant`` is missing or their widths differ.
    """
    start: dict[str, int] = {}
    col = 0
    for name in node_features:
        start[name] = col
        col += int(widths[name])
    for name in (wildtype, variant):
        if name not in start:
            raise TrainingError(
                f"node feature {name!r} needed for the variant swap is not selected; "
                f"selected: {list(node_features)}"
            )
    if widths[wildtype] != widths[variant]:
        raise TrainingError(
            f"{wildtype!r} ({widths[wildtype]} columns) and {variant!r} "
            f"({widths[variant]} columns) must have the same width"
        )
    odd = [
        start[n] + i for n in node_features if n.startswith(odd_prefix) for i in range(widths[n])
    ]
    return {
        "wildtype_columns": [start[wildtype] + i for i in range(widths[wildtype])],
        "variant_columns": [start[variant] + i for i in range(widths[variant])],
        "odd_columns": odd,
    }


def _swap(x: Tensor, wt: Tensor, var: Tensor, odd: Tensor) -> Tensor:
    out = x.clone()
    out[:, wt] = x[:, var]
    out[:, var] = x[:, wt]
    if odd.numel():
        out[:, odd] = -x[:, odd]
    return out


def reverse_variant(data: Any, model: AntisymmetricVariantNet) -> Any:
    """A copy of a PyG graph/batch with wild type and variant exchanged (B→A for A→B).

    ``y`` (if present) is negated. Uses ``model``'s column lists.
    """
    out = data.clone()
    out.x = model.swap(data.x)
    if getattr(data, "y", None) is not None:
        out.y = -data.y
    return out


def _as_tensor(values: Sequence[float] | None, size: int, default: float, what: str) -> Tensor:
    if values is None:
        return torch.full((size,), default, dtype=torch.float32)
    t = torch.as_tensor(list(values), dtype=torch.float32)
    if t.shape != (size,):
        raise TrainingError(f"{what} has {t.numel()} values, expected {size}")
    if what.endswith("scale") and bool((t <= 0).any()):
        raise TrainingError(f"{what} must be > 0")
    return t


@register_model("antisymmetric_variant")
class AntisymmetricVariantNet(nn.Module):
    """f(A→B, E) = g(A, B, E) − g(B, A, E): exactly antisymmetric variant-effect regressor.

    ``g`` embeds nodes (``Linear`` + ReLU after per-column normalisation), runs
    ``num_layers`` residual GINE layers on shared edge embeddings, and reads out
    ``mean ‖ max`` over all nodes ‖ the sum over the variant node(s) (the nodes whose
    wild-type and variant columns differ) → MLP head.

    Parameters
    ----------
    num_node_features, num_edge_features : int
        F and Fe.
    wildtype_columns, variant_columns : list of int
        Columns exchanged by the swap (same length; see :func:`swap_columns`).
    odd_columns : list of int
        Columns negated by the swap (variant − wild-type differences). Must not overlap the
        swapped ones.
    output_size : int
    hidden_size, num_layers, head_hidden_size : int
    dropout : float
        Dropout in the head.
    node_mean, node_scale : list of float, optional
        Per-column normalisation ``(x − mean) / scale`` applied after the swap (default 0, 1).
    edge_mean, edge_scale : list of float, optional
        Same for the edge features.
    """

    def __init__(
        self,
        num_node_features: int,
        num_edge_features: int = 0,
        wildtype_columns: Sequence[int] = (),
        variant_columns: Sequence[int] = (),
        odd_columns: Sequence[int] = (),
        output_size: int = 1,
        hidden_size: int = 32,
        num_layers: int = 3,
        head_hidden_size: int = 64,
        dropout: float = 0.0,
        node_mean: Sequence[float] | None = None,
        node_scale: Sequence[float] | None = None,
        edge_mean: Sequence[float] | None = None,
        edge_scale: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        record_config(self, locals())
        f, fe = int(num_node_features), int(num_edge_features)
        wt, var, odd = (list(map(int, c)) for c in (wildtype_columns, variant_columns, odd_columns))
        if len(wt) != len(var) or not wt:
            raise TrainingError(
                "wildtype_columns and variant_columns must be non-empty and of equal length, "
                f"got {len(wt)} and {len(var)}"
            )
        used = wt + var + odd
        if len(set(used)) != len(used):
            raise TrainingError("wildtype, variant and odd columns must be distinct")
        if min(used) < 0 or max(used) >= f:
            raise TrainingError(f"swap columns must lie in 0..{f - 1}, got {sorted(used)}")
        self.num_node_features, self.num_edge_features = f, fe
        self.output_size = int(output_size)
        self.register_buffer("wt_cols", torch.tensor(wt, dtype=torch.long), persistent=False)
        self.register_buffer("var_cols", torch.tensor(var, dtype=torch.long), persistent=False)
        self.register_buffer("odd_cols", torch.tensor(odd, dtype=torch.long), persistent=False)
        self.register_buffer(
            "node_mean", _as_tensor(node_mean, f, 0.0, "node_mean"), persistent=False
        )
        self.register_buffer(
            "node_scale", _as_tensor(node_scale, f, 1.0, "node_scale"), persistent=False
        )
        self.register_buffer(
            "edge_mean", _as_tensor(edge_mean, fe, 0.0, "edge_mean"), persistent=False
        )
        self.register_buffer(
            "edge_scale", _as_tensor(edge_scale, fe, 1.0, "edge_scale"), persistent=False
        )
        h = int(hidden_size)
        self.node_encoder = nn.Linear(f, h)
        self.edge_encoder = nn.Linear(fe, h) if fe else None
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(int(num_layers)):
            mlp = nn.Sequential(nn.Linear(h, h), nn.ReLU(), nn.Linear(h, h))
            self.convs.append(GINEConv(mlp, train_eps=True) if fe else GINConv(mlp, train_eps=True))
            self.norms.append(nn.LayerNorm(h))
        self.head = nn.Sequential(
            nn.Linear(3 * h, int(head_hidden_size)),
            nn.ReLU(),
            nn.Dropout(float(dropout)),
            nn.Linear(int(head_hidden_size), self.output_size),
        )

    def swap(self, x: Tensor) -> Tensor:
        """(N, F) node features of the reverse mutation: wild type ↔ variant, differences negated."""
        return _swap(x, self.wt_cols, self.var_cols, self.odd_cols)

    def g(self, x: Tensor, data: Any) -> Tensor:
        """The un-symmetrised score of raw node features ``x`` (N, F) on ``data``'s graph: (B, out)."""
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        size = getattr(data, "num_graphs", None)
        size = int(size) if size is not None else (int(batch.max()) + 1 if batch.numel() else 1)
        on_variant = (x[:, self.wt_cols] != x[:, self.var_cols]).any(dim=1, keepdim=True)
        h = torch.relu(self.node_encoder((x - self.node_mean) / self.node_scale))
        e = None
        if self.edge_encoder is not None:
            e = self.edge_encoder((data.edge_attr - self.edge_mean) / self.edge_scale)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            m = conv(h, data.edge_index, e) if e is not None else conv(h, data.edge_index)
            h = norm(h + torch.relu(m))
        pooled = torch.cat(
            [
                global_mean_pool(h, batch, size),
                global_max_pool(h, batch, size),
                global_add_pool(h * on_variant, batch, size),
            ],
            dim=1,
        )
        return self.head(pooled)

    def forward(self, data: Any) -> Tensor:
        """(B, output_size) antisymmetric predictions for a PyG batch of variant graphs."""
        if data.x.size(1) != self.num_node_features:
            raise TrainingError(
                f"batch has {data.x.size(1)} node feature columns, network expects "
                f"{self.num_node_features}"
            )
        view = SimpleNamespace(
            edge_index=data.edge_index,
            edge_attr=getattr(data, "edge_attr", None),
            batch=getattr(data, "batch", None),
            num_graphs=getattr(data, "num_graphs", None),
        )
        return self.g(data.x, view) - self.g(self.swap(data.x), view)
