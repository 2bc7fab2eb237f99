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
* ``edge_distance`` (E,) float64 in Å: the distance :func:`~deeprank_like.graph.build.build_graph`
  found for each edge (atom graphs: interatomic; residue graphs: minimum atom-atom distance);
  None for a graph read from a file (the ``contact`` module's ``distance`` feature is stored).

Mutability
----------
The *skeleton* (:data:`SKELETON_FIELDS`: resolution, nodes, edges, positions, centre, index maps,
edge distances) is fixed when the graph is made: its arrays are read-only numpy views and the
attributes cannot be re-bound (``dataclasses.replace(graph, positions=...)`` makes a new graph).
Feature modules therefore get the read-only graph they are promised; they add features only by
returning arrays from ``compute``, which :func:`deeprank_like.features.apply.apply_modules`
checks and stores in ``node_features`` / ``edge_features`` / ``targets`` / ``feature_specs``.
Those dicts, ``metadata`` (JSON values only: it is written to the HDF5 file) and ``id`` stay
assignable.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

__all__ = ["NODE_ID_DTYPE", "SKELETON_FIELDS", "Graph", "make_node_ids"]

#: Fields fixed when a :class:`Graph` is made (arrays read-only, attributes not re-bindable).
SKELETON_FIELDS: tuple[str, ...] = (
    "resolution",
    "node_ids",
    "positions",
    "edge_index",
    "center",
    "residue_index",
    "atom_index",
    "edge_distance",
)


def _read_only(value: Any) -> np.ndarray:
    """A read-only view of ``value`` (the caller's array itself is left writable)."""
    view = np.asarray(value).view()
    view.flags.writeable = False
    return view


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
    edge_distance : ndarray or None, shape (E,), float64, Å
        Length of each edge as found when the graph was built (None when read from a file).
    metadata : dict
        Query parameters and provenance; JSON values only (it is stored in the HDF5 file).

    Raises
    ------
    AttributeError
        On re-binding a skeleton field (:data:`SKELETON_FIELDS`) after construction.
    ValueError
        When writing into a skeleton array (they are read-only).
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
    edge_distance: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in SKELETON_FIELDS:
            value = self.__dict__[name]
            if value is not None and name != "resolution":
                self.__dict__[name] = _read_only(value)
        if self.edge_distance is not None and self.edge_distance.shape != (self.num_edges,):
            raise ValueError(
                f"graph {self.id}: edge_distance has shape {self.edge_distance.shape}, "
                f"expected ({self.num_edges},) (one value per edge)"
            )
        self.__dict__["_sealed"] = True

    def __setattr__(self, name: str, value: Any) -> None:
        if name in SKELETON_FIELDS and self.__dict__.get("_sealed", False):
            raise AttributeError(
                f"Graph.{name} is part of the read-only graph skeleton; make a new graph with "
                f"dataclasses.replace(graph, {name}=...)"
            )
        super().__setattr__(name, value)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # unpickled arrays are writable again: restore the read-only views
        self.__dict__.update(state)
        for name in SKELETON_FIELDS:
            value = self.__dict__.get(name)
            if isinstance(value, np.ndarray):
                self.__dict__[name] = _read_only(value)

    def copy(self) -> Graph:
        """A new graph with its own feature, target, spec and metadata dicts.

        The skeleton arrays are shared (they are read-only); feature arrays are shared too, so
        replace entries rather than writing into them. ``dataclasses.replace(graph, ...)``
        instead shares the dicts themselves.
        """
        return replace(
            self,
            node_features=dict(self.node_features),
            edge_features=dict(self.edge_features),
            targets=dict(self.targets),
            feature_specs=dict(self.feature_specs),
            metadata=copy.deepcopy(self.metadata),
        )

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
