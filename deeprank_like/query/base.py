"""`Query`: what to featurise, and ``build()``: structure → graph → features.

A query is a small description (paths, chain ids, numbers); it can be turned into a plain
dict (:meth:`Query.to_dict`) and back, which is what parallel workers receive.
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, Literal

import numpy as np

from deeprank_like.errors import DeeprankLikeError, QueryError, StructureError
from deeprank_like.features.apply import apply_modules
from deeprank_like.features.base import FeatureContext
from deeprank_like.features.cache import cached_structure
from deeprank_like.features.registry import resolve_modules
from deeprank_like.graph import Graph
from deeprank_like.structure import Structure, load_structure, structure_name

__all__ = ["DEFAULT_RADII", "Query", "query_from_dict"]

log = logging.getLogger(__name__)

#: (influence_radius, max_edge_length) defaults in Å per resolution, as DeepRank2.
DEFAULT_RADII: dict[str, tuple[float, float]] = {"residue": (10.0, 10.0), "atom": (4.5, 4.5)}

_KINDS: dict[str, type[Query]] = {}


@dataclass(kw_only=True, eq=False)
class Query(ABC):
    """Common fields of every query.

    Parameters
    ----------
    pdb_path : str
        Structure file (.pdb/.ent/.cif/.mmcif, optionally .gz). Only read.
    resolution : {"residue", "atom"}
        Node type of the graph.
    chain_ids : str or list
        Chains the query refers to (meaning depends on the query kind).
    pssm_paths : dict of str to str
        Chain id → PSSM file, for the ``conservation`` module.
    targets : dict of str to float
        Values stored as training targets.
    influence_radius : float, optional
        Å; default 10 (residue) / 4.5 (atom).
    max_edge_length : float, optional
        Å; default 10 (residue) / 4.5 (atom).
    model : int
        0-based model index in the file.
    include_hydrogens : bool
        Use hydrogens as nodes/contacts (default: heavy atoms only).
    suppress_pssm_errors : bool
        Turn PSSM/structure mismatches into warnings.
    model_id : str, optional
        Name used in the query id (default: the file stem).
    """

    kind: ClassVar[str] = ""

    pdb_path: str
    resolution: Literal["residue", "atom"] = "residue"
    chain_ids: Any = field(default_factory=list)
    pssm_paths: dict[str, str] = field(default_factory=dict)
    targets: dict[str, Any] = field(default_factory=dict)
    influence_radius: float | None = None
    max_edge_length: float | None = None
    model: int = 0
    include_hydrogens: bool = False
    suppress_pssm_errors: bool = False
    model_id: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            _KINDS[cls.kind] = cls

    def __post_init__(self) -> None:
        self.pdb_path = os.fspath(self.pdb_path)
        if self.resolution not in DEFAULT_RADII:
            raise QueryError(
                f"{self.pdb_path}: resolution must be 'residue' or 'atom', got {self.resolution!r}"
            )
        radius, edge = DEFAULT_RADII[self.resolution]
        self.influence_radius = float(
            radius if self.influence_radius is None else self.influence_radius
        )
        self.max_edge_length = float(edge if self.max_edge_length is None else self.max_edge_length)
        if self.influence_radius <= 0 or self.max_edge_length <= 0:
            raise QueryError(f"{self.pdb_path}: influence_radius and max_edge_length must be > 0")
        self.pssm_paths = {str(k): os.fspath(v) for k, v in (self.pssm_paths or {}).items()}
        self.targets = dict(self.targets or {})
        if self.model_id is None:
            self.model_id = structure_name(self.pdb_path)

    # ---- identity ---------------------------------------------------------------------
    @abstractmethod
    def get_query_id(self) -> str:
        """Deterministic, unique id of the query (used as HDF5 entry name)."""

    @property
    def id(self) -> str:
        """Alias of :meth:`get_query_id`."""
        return self.get_query_id()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_query_id()!r})"

    # ---- transport --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description (``kind`` plus every field)."""
        data = asdict(self)
        data["kind"] = self.kind
        return data

    # ---- building ---------------------------------------------------------------------
    def load_structure(self) -> Structure:
        """Load the query's structure model (StructureError names the query on failure).

        Within one process, queries on the same file version share the loaded structure and
        the per-structure results memoised on it (:mod:`deeprank_like.features.cache`).
        """
        try:
            return cached_structure(self.pdb_path, model=self.model, loader=load_structure)
        except StructureError as exc:
            raise StructureError(f"query {self.get_query_id()}: {exc}") from exc

    @abstractmethod
    def _build_skeleton(self, structure: Structure) -> Graph:
        """Select nodes and edges (no features)."""

    def build(
        self,
        feature_modules: str | Any | list | None = None,
        structure: Structure | None = None,
    ) -> Graph:
        """Build the featurised graph of this query.

        Parameters
        ----------
        feature_modules : None, "all", a name, a module object, or a list of those
            None means ``["components", "contact"]``; ``"all"`` means every available module
            that applies to this query.
        structure : Structure, optional
            An already loaded structure of ``pdb_path`` (saves re-reading the file).

        Returns
        -------
        Graph

        Raises
        ------
        StructureError, QueryError, FeatureError
            With the query id and the cause in the message.
        """
        modules, lenient = resolve_modules(feature_modules)
        if structure is None:
            structure = self.load_structure()
        excluded = structure.residue_names[structure.residue_aa < 0]
        if excluded.size:
            kinds = ", ".join(
                f"{n}×{c}" for n, c in zip(*np.unique(excluded, return_counts=True), strict=True)
            )
            log.info(
                "query %s: %d non-amino-acid residue(s) excluded from the graph (%s)",
                self.get_query_id(), excluded.size, kinds,
            )  # fmt: skip
        graph = self._build_skeleton(structure)
        graph.metadata["query"] = self.to_dict()
        context = FeatureContext(structure=structure, graph=graph, query=self)
        apply_modules(context, modules, skip_inapplicable=lenient)
        for name, value in self.targets.items():
            graph.targets[name] = value
        return graph

    def _error(self, message: str) -> QueryError:
        return QueryError(f"query {self.get_query_id()}: {message}")


def query_from_dict(data: dict[str, Any]) -> Query:
    """Re-create a query from :meth:`Query.to_dict` output."""
    data = dict(data)
    kind = data.pop("kind", None)
    if kind not in _KINDS:
        raise DeeprankLikeError(f"unknown query kind {kind!r}; known: {sorted(_KINDS)}")
    cls = _KINDS[kind]
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})
