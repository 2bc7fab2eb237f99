"""Single-residue variant queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from deeprank_like.domain.aminoacids import NAMES, THREE_LETTER, amino_acid_index
from deeprank_like.errors import QueryError
from deeprank_like.graph import Graph
from deeprank_like.graph.build import build_graph, graph_atom_mask, residues_near
from deeprank_like.query.base import Query
from deeprank_like.structure import Structure

__all__ = ["SingleResidueVariantQuery"]


def _aa_index(value: Any, what: str, path: str) -> int:
    if isinstance(value, int | np.integer):
        if 0 <= int(value) < 20:
            return int(value)
        raise QueryError(f"{path}: {what} index {value} out of range 0..19")
    code = getattr(value, "three_letter_code", None) or getattr(value, "name", None) or value
    try:
        return amino_acid_index(str(code))
    except ValueError as exc:
        raise QueryError(f"{path}: {what}: {exc}") from None


@dataclass(kw_only=True, eq=False, repr=False)
class SingleResidueVariantQuery(Query):
    """A single amino-acid substitution at one residue.

    Nodes are the residues (atoms) with a heavy atom closer than ``influence_radius`` to a heavy
    atom of the variant residue, in any chain.

    Parameters
    ----------
    chain_ids : str or [str]
        The variant's chain (exactly one).
    variant_residue_number : int
    insertion_code : str or None
    wildtype_amino_acid, variant_amino_acid : str
        One-letter code, three-letter code or name (``"G"``, ``"GLY"``, ``"Glycine"``). The wild
        type must match the residue in the structure; the variant must differ from it.

    Raises
    ------
    QueryError
        On construction, for a chain list of more than one chain, an unknown amino-acid code,
        or a variant equal to the wild type.

    Notes
    -----
    See :class:`~deeprank_like.query.base.Query` for the common parameters.
    """

    kind: ClassVar[str] = "srv"
    variant_residue_number: int
    insertion_code: str | None = None
    wildtype_amino_acid: Any
    variant_amino_acid: Any

    def __post_init__(self) -> None:
        chains = [self.chain_ids] if isinstance(self.chain_ids, str) else list(self.chain_ids)
        if len(chains) != 1:
            raise QueryError(
                f"{self.pdb_path}: a single-residue variant needs exactly one chain, got {chains!r}"
            )
        self.chain_ids = str(chains[0])
        self.insertion_code = (self.insertion_code or "").strip()
        self.variant_residue_number = int(self.variant_residue_number)
        wt = _aa_index(self.wildtype_amino_acid, "wildtype_amino_acid", str(self.pdb_path))
        var = _aa_index(self.variant_amino_acid, "variant_amino_acid", str(self.pdb_path))
        self.wildtype_amino_acid = THREE_LETTER[wt]
        self.variant_amino_acid = THREE_LETTER[var]
        super().__post_init__()
        if wt == var:
            raise self._error(
                f"variant_amino_acid {NAMES[var]} equals wildtype_amino_acid: a single-residue "
                "variant must change the amino acid"
            )

    @property
    def wildtype_index(self) -> int:
        """Amino-acid index (0..19) of the wild type."""
        return amino_acid_index(self.wildtype_amino_acid)

    @property
    def variant_index(self) -> int:
        """Amino-acid index (0..19) of the variant."""
        return amino_acid_index(self.variant_amino_acid)

    @property
    def variant_chain_id(self) -> str:
        """The variant's chain id."""
        return str(self.chain_ids)

    def get_query_id(self) -> str:
        """E.g. ``residue-srv:A:25:Glycine->Alanine:101M``."""
        return (
            f"{self.resolution}-srv:{self.chain_ids}:{self.variant_residue_number}"
            f"{self.insertion_code}:{NAMES[self.wildtype_index]}->{NAMES[self.variant_index]}:"
            f"{self.model_id}"
        )

    def variant_residue(self, structure: Structure) -> int:
        """Index of the variant residue in ``structure`` (QueryError if absent or mismatched)."""
        s = structure
        if self.chain_ids not in s.chains:
            raise self._error(
                f"chain {self.chain_ids!r} not found in {self.pdb_path} (chains: {list(s.chains)})"
            )
        res = s.find_residue(self.chain_ids, self.variant_residue_number, self.insertion_code)
        if res < 0:
            raise self._error(
                f"residue {self.chain_ids} {self.variant_residue_number}{self.insertion_code} "
                f"not found in {self.pdb_path}"
            )
        aa = int(s.residue_aa[res])
        if aa < 0:
            raise self._error(f"residue {s.residue_labels([res])[0]} is not a standard amino acid")
        if aa != self.wildtype_index:
            raise self._error(
                f"wild type {self.wildtype_amino_acid} does not match residue "
                f"{s.residue_labels([res])[0]} in {self.pdb_path}"
            )
        return res

    def _build_skeleton(self, structure: Structure) -> Graph:
        s = structure
        res = self.variant_residue(s)
        eligible = graph_atom_mask(s, self.include_hydrogens)
        lo, hi = s.residue_atom_start[res], s.residue_atom_start[res + 1]
        center_atoms = np.arange(lo, hi)[eligible[lo:hi]]
        residues = residues_near(s, center_atoms, eligible, self.influence_radius)
        node_atoms = np.flatnonzero(np.isin(s.residue_index, residues) & eligible)
        graph = build_graph(
            s,
            graph_id=self.get_query_id(),
            resolution=self.resolution,
            node_atoms=node_atoms,
            max_edge_length=self.max_edge_length,
            center=s.residue_centers()[res],
            include_hydrogens=self.include_hydrogens,
        )
        graph.metadata["variant_residue"] = int(res)
        return graph
