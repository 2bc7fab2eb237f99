"""The feature-module protocol: what a module declares and what it is given.

A feature module is an object with

* ``name`` (str): the registry name, e.g. ``"components"``;
* ``resolutions`` (tuple of ``"residue"``/``"atom"``) and ``query_kinds`` (tuple of ``"ppi"``/``"srv"``):
  where it applies;
* ``specs(context) -> tuple[FeatureSpec, ...]``: the outputs it will produce for this context;
* ``compute(context) -> dict[str, ndarray]``: one array per declared output;
* optionally ``target_module = True`` for modules that only produce targets: they are left out
  of ``feature_modules="all"`` and must be named;
* optionally ``unavailable_reason(context) -> str | None``: why it cannot run for this query
  (e.g. no PSSM files). ``feature_modules="all"`` skips such modules; naming them explicitly
  makes the reason an error.

The framework checks every returned array against its spec (rows, width, finite values) and
raises :class:`~deeprank_like.errors.FeatureError` naming the module, the feature and the query.
Modules never modify the structure or the graph they are given.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from deeprank_like.domain.specs import FeatureKind, FeatureSpec

if TYPE_CHECKING:
    from deeprank_like.graph import Graph
    from deeprank_like.structure import Structure

# FeatureSpec and FeatureKind live in deeprank_like.domain.specs (below features and storage);
# they stay importable from here.
__all__ = ["FeatureContext", "FeatureKind", "FeatureModule", "FeatureSpec"]


@dataclass(frozen=True, eq=False, kw_only=True)
class FeatureContext:
    """Read-only inputs of a feature module for one query.

    Attributes
    ----------
    structure : Structure
        The whole structure model the query refers to.
    graph : Graph
        The graph being featurised (nodes, edges, positions, ids).
    query : Query
        The query (``query.kind`` is ``"ppi"`` or ``"srv"``).
    cache : dict
        Scratch space shared by the modules of one build (e.g. per-structure SASA).
    """

    structure: Structure
    graph: Graph
    query: Any
    cache: dict = field(default_factory=dict)

    @property
    def resolution(self) -> str:
        """``"residue"`` or ``"atom"``."""
        return self.graph.resolution

    @property
    def query_kind(self) -> str:
        """``"ppi"`` or ``"srv"``."""
        return self.query.kind

    def residue_values_to_nodes(self, values: np.ndarray) -> np.ndarray:
        """Map per-structure-residue values (r, ...) onto nodes (N, ...).

        Atom nodes inherit the value of their residue.
        """
        return np.asarray(values)[self.graph.residue_index]

    @property
    def eligible_atoms(self) -> np.ndarray:
        """(n,) bool: atoms that take part in contacts (amino acids; heavy unless asked)."""
        key = "_eligible_atoms"
        if key not in self.cache:
            from deeprank_like.graph.build import graph_atom_mask

            self.cache[key] = graph_atom_mask(
                self.structure, getattr(self.query, "include_hydrogens", False)
            )
        return self.cache[key]

    def node_atom_groups(self) -> tuple[np.ndarray, np.ndarray]:
        """Atoms of each node as CSR: ``atoms[start[i]:start[i+1]]`` belong to node i.

        Residue nodes own their eligible atoms; an atom node owns itself.

        Returns
        -------
        atoms : ndarray (m,), int64, structure atom indices
        start : ndarray (N + 1,), int64
        """
        key = "_node_atom_groups"
        if key not in self.cache:
            g = self.graph
            if g.atom_index is not None:
                atoms = g.atom_index.astype(np.int64)
                start = np.arange(g.num_nodes + 1, dtype=np.int64)
            else:
                s = self.structure
                elig = self.eligible_atoms
                lo = s.residue_atom_start[g.residue_index]
                hi = s.residue_atom_start[g.residue_index + 1]
                counts = hi - lo
                offsets = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
                atoms = np.arange(counts.sum(), dtype=np.int64) + offsets
                node_of = np.repeat(np.arange(g.num_nodes), counts)
                keep = elig[atoms]
                atoms, node_of = atoms[keep], node_of[keep]
                start = np.searchsorted(node_of, np.arange(g.num_nodes + 1)).astype(np.int64)
            self.cache[key] = (atoms, start)
        return self.cache[key]


class FeatureModule(ABC):
    """Base class for feature modules (subclassing is optional; the protocol is duck-typed).

    Subclasses set ``name``, ``resolutions``, ``query_kinds`` and implement :meth:`specs`
    and :meth:`compute`.
    """

    name: str = ""
    #: Target-only modules (e.g. ``docking``, ``betagm``) are not part of ``"all"``: name them.
    target_module: bool = False
    resolutions: tuple[str, ...] = ("residue", "atom")
    query_kinds: tuple[str, ...] = ("ppi", "srv")
    description: str = ""

    @abstractmethod
    def specs(self, context: FeatureContext) -> tuple[FeatureSpec, ...]:
        """The outputs this module produces for ``context``."""

    @abstractmethod
    def compute(self, context: FeatureContext) -> dict[str, np.ndarray]:
        """Compute every declared output for ``context``."""

    def unavailable_reason(self, context: FeatureContext) -> str | None:
        """Why this module cannot run for ``context`` (None when it can)."""
        if context.resolution not in self.resolutions:
            return f"module {self.name!r} does not support {context.resolution} graphs"
        if context.query_kind not in self.query_kinds:
            return f"module {self.name!r} does not apply to {context.query_kind} queries"
        return None

    def __repr__(self) -> str:
        return f"<feature module {self.name!r}>"
