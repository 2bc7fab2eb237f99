"""Protein-protein interface queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from deeprank_like.graph import Graph
from deeprank_like.graph.build import build_graph, graph_atom_mask, interface_atoms
from deeprank_like.query.base import Query
from deeprank_like.structure import Structure

__all__ = ["ProteinProteinInterfaceQuery"]


def _normalise_sides(chain_ids: Any) -> tuple[tuple[str, ...], ...]:
    if isinstance(chain_ids, str):
        chain_ids = [chain_ids]
    sides = []
    for item in chain_ids:
        group = (item,) if isinstance(item, str) else tuple(str(c) for c in item)
        sides.append(group)
    return tuple(sides)


@dataclass(kw_only=True, eq=False, repr=False)
class ProteinProteinInterfaceQuery(Query):
    """The interface between two or more chains or chain groups.

    ``chain_ids=["A", "B"]`` is two sides; ``chain_ids=[["H", "L"], "A"]`` is two sides of
    which one is a group (antibody heavy + light chain vs antigen); three or more plain chains
    make every chain its own side. Interface nodes are the residues (atoms) of one side with
    a heavy atom closer than ``influence_radius`` to a heavy atom of another side.

    Parameters
    ----------
    reference_path : str, optional
        Native structure for docking-quality targets (i-RMSD, Fnat, DockQ, …).

    Notes
    -----
    See :class:`~deeprank_like.query.base.Query` for the common parameters.
    """

    kind: ClassVar[str] = "ppi"
    reference_path: str | None = None

    def __post_init__(self) -> None:
        sides = _normalise_sides(self.chain_ids)
        self.chain_ids = [list(s) if len(s) > 1 else s[0] for s in sides]
        super().__post_init__()
        if len(sides) < 2:
            raise self._error(
                f"a protein-protein interface needs at least two chains or chain groups, "
                f"got chain_ids={self.chain_ids!r}"
            )
        flat = [c for s in sides for c in s]
        if len(set(flat)) != len(flat):
            raise self._error(f"a chain appears in more than one side: {self.chain_ids!r}")

    @property
    def sides(self) -> tuple[tuple[str, ...], ...]:
        """The chain groups, one tuple per side."""
        return _normalise_sides(self.chain_ids)

    def get_query_id(self) -> str:
        """E.g. ``residue-ppi:A-B:1ATN_1w`` or ``residue-ppi:H+L-A:1igc``."""
        label = "-".join("+".join(side) for side in self.sides)
        return f"{self.resolution}-ppi:{label}:{self.model_id}"

    def _build_skeleton(self, structure: Structure) -> Graph:
        s = structure
        missing = [c for side in self.sides for c in side if c not in s.chains]
        if missing:
            raise self._error(
                f"chain(s) {missing} not found in {self.pdb_path} (chains present: {list(s.chains)})"
            )
        eligible = graph_atom_mask(s, self.include_hydrogens)
        side_of_chain = {c: i for i, side in enumerate(self.sides) for c in side}
        side = np.array([side_of_chain.get(c, -1) for c in s.chains], dtype=np.int64)[s.chain_index]
        for i, group in enumerate(self.sides):
            if not (eligible & (side == i)).any():
                raise self._error(f"chain(s) {list(group)} have no amino-acid atoms")
        contact = interface_atoms(s.coords, side, eligible, self.influence_radius)
        if not contact.any():
            raise self._error(
                f"no interface: no atoms of different sides within {self.influence_radius} Å"
            )
        contact_atoms = np.flatnonzero(contact)
        if self.resolution == "atom":
            node_atoms = contact_atoms
        else:
            residues = np.unique(s.residue_index[contact_atoms])
            node_atoms = np.flatnonzero(np.isin(s.residue_index, residues) & eligible)
        return build_graph(
            s,
            graph_id=self.get_query_id(),
            resolution=self.resolution,
            node_atoms=node_atoms,
            max_edge_length=self.max_edge_length,
            center=s.coords[contact_atoms].mean(axis=0),
            include_hydrogens=self.include_hydrogens,
        )
