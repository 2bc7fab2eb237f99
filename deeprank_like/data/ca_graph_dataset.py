"""Residue graphs of Cα traces for the β-GM GNN, and an in-memory dataset of them.

The graph counterpart of :class:`~deeprank_like.data.coulomb_dataset.CoulombMatrixDataset`: one
PyG ``Data`` per β-GM sample (:class:`~deeprank_like.enm.samples.EigenSamples`), built from
the Cα coordinates and residue types alone (:func:`residue_graph`). It is a self-contained,
dense builder for traces of up to a few thousand residues (O(N²) distances); it does not go
through :mod:`deeprank_like.graph` and the feature modules, whose graphs need a full structure.

Every feature is invariant under rigid motions and, up to the node order, under sequence
reversal, so a window and its reverse (``reverse=True``) are the same sample for the β-GM.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numpy.typing import NDArray
from torch_geometric.data import Data

from deeprank_like.domain.aminoacids import ONE_LETTER
from deeprank_like.enm.samples import EigenSamples

__all__ = [
    "EDGE_FEATURES",
    "NODE_FEATURES",
    "GraphSampleDataset",
    "ResidueGraphDataset",
    "residue_graph",
]


def residue_graph(ca: NDArray, aa: NDArray, cutoff: float = 10.0, reverse: bool = False) -> Data:
    """A residue graph of one Cα trace for the GNN (a ``torch_geometric.data.Data``).

    Nodes are residues (in chain order, or reversed with ``reverse=True``); edges join residues
    whose Cα are closer than ``cutoff`` Å (both directions). All features are invariant under rigid
    motions and under sequence reversal (up to the node order):

    * node ``x`` (F = 27, :data:`NODE_FEATURES`): residue-type one-hot (20; zeros for
      non-standard residues; glycines carry no Cβ in the β-GM), terminus flag (first/last
      residue: no Cβ either), Cα neighbours within 7.5 Å and 10 Å (/10), distance to the centroid
      (/10 Å and /R_g), and two graph-level values repeated on every node: ``log(N)/5`` and
      ``R_g/10 Å``;
    * edge ``edge_attr`` (Fe = 5, :data:`EDGE_FEATURES`): ``d/cutoff``, ``3.8 Å/d``, bonded
      (``|i − j| = 1``), ``min(|i − j|, 20)/20``, ``d < 7.5 Å`` (the β-GM cutoff).

    Parameters
    ----------
    ca : ndarray, shape (N, 3)
        Cα coordinates in Å, chain order.
    aa : ndarray, shape (N,), int
        Amino-acid index 0..19 (``ACDEFGHIKLMNPQRSTVWY``), -1 for non-standard residues.
    cutoff : float
        Edge cut-off in Å.
    reverse : bool
        Build the graph of the reversed chain.

    Returns
    -------
    torch_geometric.data.Data
        ``x`` (N, 27) float32, ``edge_index`` (2, E) int64, ``edge_attr`` (E, 5) float32.
    """
    ca = np.asarray(ca, dtype=np.float64)
    aa = np.asarray(aa, dtype=np.int64)
    if reverse:
        ca, aa = ca[::-1], aa[::-1]
    n = ca.shape[0]
    diff = ca[:, None, :] - ca[None, :, :]
    dist = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    adj = dist < cutoff
    np.fill_diagonal(adj, False)
    src, dst = np.nonzero(adj)
    d = dist[src, dst]
    sep = np.abs(src - dst)

    onehot = np.zeros((n, 20), dtype=np.float32)
    ok = aa >= 0
    onehot[np.flatnonzero(ok), aa[ok]] = 1.0
    terminus = np.zeros(n, dtype=np.float32)
    terminus[[0, -1]] = 1.0
    centre = ca.mean(axis=0)
    r_centre = np.linalg.norm(ca - centre, axis=1)
    rg = math.sqrt(float(np.mean(r_centre**2)))
    n_7 = (dist < 7.5).sum(axis=1) - 1
    n_10 = adj.sum(axis=1)
    x = np.column_stack(
        [
            onehot,
            terminus,
            n_7 / 10.0,
            n_10 / 10.0,
            r_centre / 10.0,
            r_centre / max(rg, 1e-6),
            np.full(n, math.log(n) / 5.0),
            np.full(n, rg / 10.0),
        ]
    ).astype(np.float32)
    edge_attr = np.column_stack(
        [
            d / cutoff,
            3.8 / d,
            (sep == 1).astype(np.float64),
            np.minimum(sep, 20) / 20.0,
            (d < 7.5).astype(np.float64),
        ]
    ).astype(np.float32)
    return Data(
        x=torch.from_numpy(x),
        edge_index=torch.from_numpy(np.stack([src, dst]).astype(np.int64)),
        edge_attr=torch.from_numpy(edge_attr),
        num_nodes=n,
    )


#: Node feature columns of :func:`residue_graph`.
NODE_FEATURES = [f"res_{c}" for c in ONE_LETTER] + [
    "terminus", "n_ca_7.5A/10", "n_ca_10A/10", "r_centroid/10A", "r_centroid/Rg", "log(N)/5",
    "Rg/10A",
]  # fmt: skip
#: Edge feature columns of :func:`residue_graph`.
EDGE_FEATURES = ["d/cutoff", "3.8A/d", "bonded", "min(|i-j|,20)/20", "d<7.5A"]


class ResidueGraphDataset:
    """Residue graphs (:func:`residue_graph`) of samples, optionally with their reverses.

    A minimal in-memory, map-style dataset of PyG ``Data`` (``y`` float32 (1, K), ``entry_id``
    ``"<protein>:<chain>:<start>"``, with ``":rev"`` for a reversed copy), the graph counterpart of
    :class:`~deeprank_like.data.coulomb_dataset.CoulombMatrixDataset`. With
    ``augment_reverse=True`` items ``0..n-1`` are the samples and ``n..2n-1`` their reverses.

    Parameters
    ----------
    samples : EigenSamples
        Cα traces (any lengths) with their targets.
    augment_reverse : bool
        Append the reversed graph of every sample (same targets).
    cutoff : float
        Edge cut-off in Å (:func:`residue_graph`).
    with_targets : bool
        Attach ``y`` (False for inference).
    """

    def __init__(
        self,
        samples: EigenSamples,
        augment_reverse: bool = False,
        cutoff: float = 10.0,
        with_targets: bool = True,
    ) -> None:
        self.items = []
        for reverse in (False, True) if augment_reverse else (False,):
            for i in range(len(samples)):
                g = residue_graph(samples.ca[i], samples.aa[i], cutoff=cutoff, reverse=reverse)
                if with_targets:
                    g.y = torch.tensor(samples.targets[i], dtype=torch.float32).unsqueeze(0)
                g.entry_id = _sample_id(samples, i) + (":rev" if reverse else "")
                self.items.append(g)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int) -> Data:
        return self.items[idx]


#: Former name of :class:`ResidueGraphDataset`.
GraphSampleDataset = ResidueGraphDataset


def _sample_id(samples: EigenSamples, i: int) -> str:
    return f"{samples.protein_ids[i]}:{samples.chain_ids[i]}:{samples.starts[i]}"
