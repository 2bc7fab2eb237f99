"""`Graph`: the featurised graph of one query, as plain numpy arrays.

Invariants
----------
* ``edge_index`` has shape (2, E), int64, one direction per edge with ``edge_index[0] < edge_index[1]``,
  sorted lexicographically; the networks add the reverse direction.
* Every array in ``node_features`` has ``num_nodes`` rows, every array in ``edge_features`` has
  ``num_edges`` rows; 1-D arrays are single-column features.
* ``node_ids`` is a structured array with one row per node and fields ``chain``,
  ``residue_number``, ``insertion_code``, ``residue_name`` and ``atom_name`` ('' in residue graphs).
* ``positions`` (N, 3) float64 in Å: the residue centre (CB, else CA, else mean) or the atom position.
* ``residue_index`` / ``atom_index`` map nodes back to the :class:`~deeprank_like.structure.Structure`
  the graph was built from (``atom_index`` is None for residue graphs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = ["NODE_ID_DTYPE", "Graph", "make_node_ids"]

NODE_ID_DTYPE = np.dtype(
    [
        ("chain", "U4"),
        ("residue_number", "i8"),
        ("insertion_code", "U1"),
        ("residue_name", "U3"),
        ("atom_name", "U4"),
    ]
)


def make_node_ids(
    chain: np.ndarray,
    residue_number: np.ndarray,
    insertion_code: np.ndarray,
    residue_name: np.ndarray,
    atom_name: np.ndarray | None = None,
) -> np.ndarray:
    """Build the structured ``node_ids`` array (see :data:`NODE_ID_DTYPE`)."""
    out = np.zeros(len(residue_number), dtype=NODE_ID_DTYPE)
    out["chain"] = chain
    out["residue_number"] = residue_number
    out["insertion_code"] = insertion_code
    out["residue_name"] = residue_name
    if atom_name is not None:
        out["atom_name"] = atom_name
    return out


@dataclass(eq=False, kw_only=True)
class Graph:
    """A query's graph: nodes, one-direction edges, features and targets.

    Attributes
    ----------
    id : str
        The query id.
    resolution : {"residue", "atom"}
    node_ids : ndarray, shape (N,), structured (:data:`NODE_ID_DTYPE`)
    positions : ndarray, shape (N, 3), float64, Å
    edge_index : ndarray, shape (2, E), int64
    center : ndarray, shape (3,), float64, Å
        Interface centroid (PPI) or variant residue centre (SRV); the grid centre.
    node_features, edge_features : dict of str to ndarray
    targets : dict of str to float or ndarray
    feature_specs : dict of str to FeatureSpec
        The spec of every feature and target present.
    residue_index : ndarray, shape (N,), int64
    atom_index : ndarray or None, shape (N,), int64
    metadata : dict
        Query parameters and provenance (JSON-serialisable).
    """

    id: str
    resolution: Literal["residue", "atom"]
    node_ids: np.ndarray
    positions: np.ndarray
    edge_index: np.ndarray
    center: np.ndarray
    residue_index: np.ndarray
    atom_index: np.ndarray | None = None
    node_features: dict[str, np.ndarray] = field(default_factory=dict)
    edge_features: dict[str, np.ndarray] = field(default_factory=dict)
    targets: dict[str, Any] = field(default_factory=dict)
    feature_specs: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def num_nodes(self) -> int:
        """Number of nodes N."""
        return int(self.node_ids.shape[0])

    @property
    def num_edges(self) -> int:
        """Number of (one-direction) edges E."""
        return int(self.edge_index.shape[1])

    def __repr__(self) -> str:
        return (
            f"Graph(id={self.id!r}, nodes={self.num_nodes}, edges={self.num_edges}, "
            f"node_features={sorted(self.node_features)}, "
            f"edge_features={sorted(self.edge_features)}, targets={sorted(self.targets)})"
        )

    def node_feature_matrix(self, names: list[str] | None = None) -> np.ndarray:
        """Stack node features column-wise (in ``names`` order, default sorted), float64 (N, F)."""
        names = sorted(self.node_features) if names is None else names
        cols = [
            np.asarray(self.node_features[n], dtype=np.float64).reshape(self.num_nodes, -1)
            for n in names
        ]
        return np.hstack(cols) if cols else np.zeros((self.num_nodes, 0))

    def edge_feature_matrix(self, names: list[str] | None = None) -> np.ndarray:
        """Stack edge features column-wise (in ``names`` order, default sorted), float64 (E, F)."""
        names = sorted(self.edge_features) if names is None else names
        cols = [
            np.asarray(self.edge_features[n], dtype=np.float64).reshape(self.num_edges, -1)
            for n in names
        ]
        return np.hstack(cols) if cols else np.zeros((self.num_edges, 0))

    def has_nan(self) -> bool:
        """True if any node or edge feature holds a NaN."""
        arrays = list(self.node_features.values()) + list(self.edge_features.values())
        return any(np.isnan(np.asarray(a, dtype=np.float64)).any() for a in arrays)

    def node_labels(self) -> list[str]:
        """Human-readable node labels, e.g. ``"A 25A GLY"`` or ``"A 25A GLY CA"``."""
        out = []
        for row in self.node_ids:
            label = f"{row['chain']} {row['residue_number']}{row['insertion_code']} {row['residue_name']}"
            out.append(f"{label} {row['atom_name']}" if self.resolution == "atom" else label)
        return out
