"""`Structure`: one model of a macromolecular structure as a struct of numpy arrays.

Invariants
----------
* Atoms are grouped by residue: the atoms of residue ``i`` are
  ``residue_atom_start[i]:residue_atom_start[i + 1]``, in file order within the residue.
* Residues are ordered by chain (order of first appearance in the file), then residue
  number, then insertion code (``''`` sorts first).
* Coordinates are float64, in Å. Residue names are standardised (``MSE`` → ``MET``, ``HSD`` → ``HIS``,
  …); the name read from the file is kept in ``original_res_names``.
* Waters are never present; hydrogens are present if the file has them
  (``is_hydrogen`` tells them apart).
* When read from a file (:func:`~deeprank_like.structure.load_structure`): every atom site
  (chain, residue number, insertion code, atom name) occurs once, coordinates, occupancies
  and B-factors are finite, and no coordinate is a placeholder (``|x| >= 9999`` Å).
* ``residue_aa`` is the amino-acid index (0..19, order ``ACDEFGHIKLMNPQRSTVWY``) or -1 for
  residues that are not amino acids (ligands, nucleotides, ions); those never enter graphs.

The arrays are never modified after construction (they are made read-only).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

__all__ = ["Structure"]


@dataclass(frozen=True, eq=False, kw_only=True)
class Structure:
    """An immutable struct-of-arrays view of one structure model.

    Attributes
    ----------
    name : str
        Identifier (file stem without ``.pdb``/``.cif``/``.gz``).
    path : str
        The file the structure was read from ('' when built in memory).
    coords : ndarray, shape (n, 3), float64
        Atom positions in Å.
    chain_ids, atom_names, elements, res_names, original_res_names, insertion_codes : ndarray of str, shape (n,)
        Per-atom annotations. ``elements`` are upper case (``"C"``, ``"SE"``); insertion
        codes are ``''`` when absent.
    res_numbers : ndarray, shape (n,), int64
        Author residue numbers.
    occupancies, b_factors : ndarray, shape (n,), float64
    is_hetero : ndarray, shape (n,), bool
        True for HETATM records.
    residue_index : ndarray, shape (n,), int64
        Index of each atom's residue in the per-residue arrays.
    residue_atom_start : ndarray, shape (r + 1,), int64
        Offsets of each residue's atoms.
    chains : tuple of str
        Chain ids in order of first appearance.
    """

    name: str
    path: str
    coords: np.ndarray
    chain_ids: np.ndarray
    res_numbers: np.ndarray
    insertion_codes: np.ndarray
    res_names: np.ndarray
    original_res_names: np.ndarray
    atom_names: np.ndarray
    elements: np.ndarray
    occupancies: np.ndarray
    b_factors: np.ndarray
    is_hetero: np.ndarray
    residue_index: np.ndarray
    residue_atom_start: np.ndarray
    chains: tuple[str, ...]
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for value in self.__dict__.values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)

    # ---- sizes -------------------------------------------------------------------------
    @property
    def num_atoms(self) -> int:
        """Number of atoms."""
        return int(self.coords.shape[0])

    @property
    def num_residues(self) -> int:
        """Number of residues."""
        return int(self.residue_atom_start.shape[0] - 1)

    def __repr__(self) -> str:
        return (
            f"Structure(name={self.name!r}, atoms={self.num_atoms}, residues={self.num_residues}, "
            f"chains={list(self.chains)})"
        )

    # ---- per-residue arrays ------------------------------------------------------------
    @cached_property
    def residue_first_atom(self) -> np.ndarray:
        """ndarray (r,) int64: index of the first atom of each residue."""
        return self.residue_atom_start[:-1]

    @cached_property
    def residue_chain_ids(self) -> np.ndarray:
        """ndarray (r,) str: chain id of each residue."""
        return self.chain_ids[self.residue_first_atom]

    @cached_property
    def residue_numbers(self) -> np.ndarray:
        """ndarray (r,) int64: residue number of each residue."""
        return self.res_numbers[self.residue_first_atom]

    @cached_property
    def residue_icodes(self) -> np.ndarray:
        """ndarray (r,) str: insertion code of each residue ('' when none)."""
        return self.insertion_codes[self.residue_first_atom]

    @cached_property
    def residue_names(self) -> np.ndarray:
        """ndarray (r,) str: standardised three-letter residue name."""
        return self.res_names[self.residue_first_atom]

    @cached_property
    def residue_aa(self) -> np.ndarray:
        """ndarray (r,) int64: amino-acid index 0..19, or -1 for non-amino-acid residues."""
        from deeprank_like.domain.aminoacids import residue_name_indices

        aa = residue_name_indices(self.residue_names)
        # A residue named like an amino acid but without backbone atoms (e.g. a free ligand
        # copy) is still treated as an amino acid only when it has CA.
        has_ca = self.residue_atom_index("CA") >= 0
        aa = np.where(has_ca, aa, -1)
        aa.setflags(write=False)
        return aa

    @cached_property
    def is_hydrogen(self) -> np.ndarray:
        """ndarray (n,) bool: hydrogen or deuterium atoms."""
        mask = (self.elements == "H") | (self.elements == "D")
        mask.setflags(write=False)
        return mask

    @cached_property
    def residue_chain_index(self) -> np.ndarray:
        """ndarray (r,) int64: index of each residue's chain in :attr:`chains`."""
        lookup = {c: i for i, c in enumerate(self.chains)}
        return np.array([lookup[c] for c in self.residue_chain_ids], dtype=np.int64)

    @cached_property
    def chain_index(self) -> np.ndarray:
        """ndarray (n,) int64: index of each atom's chain in :attr:`chains`."""
        return self.residue_chain_index[self.residue_index]

    def residue_atom_index(self, atom_name: str) -> np.ndarray:
        """Index of the atom called ``atom_name`` in every residue, -1 where absent.

        Parameters
        ----------
        atom_name : str
            PDB atom name, e.g. ``"CA"``.

        Returns
        -------
        ndarray, shape (r,), int64
        """
        key = ("atom_index", atom_name)
        if key not in self._cache:
            out = np.full(self.num_residues, -1, dtype=np.int64)
            hits = np.flatnonzero(self.atom_names == atom_name)
            # keep the first hit per residue
            res = self.residue_index[hits]
            first = np.unique(res, return_index=True)[1]
            out[res[first]] = hits[first]
            out.setflags(write=False)
            self._cache[key] = out
        return self._cache[key]

    def residue_centers(self) -> np.ndarray:
        """Representative position of every residue: CB, else CA, else the mean of its atoms.

        Returns
        -------
        ndarray, shape (r, 3), float64, Å
        """
        if "centers" not in self._cache:
            cb = self.residue_atom_index("CB")
            ca = self.residue_atom_index("CA")
            counts = np.diff(self.residue_atom_start)
            mean = np.add.reduceat(self.coords, self.residue_first_atom, axis=0) / counts[:, None]
            centers = np.where((cb >= 0)[:, None], self.coords[np.maximum(cb, 0)], mean)
            centers = np.where(
                ((cb < 0) & (ca >= 0))[:, None], self.coords[np.maximum(ca, 0)], centers
            )
            centers.setflags(write=False)
            self._cache["centers"] = centers
        return self._cache["centers"]

    def residue_labels(self, residues: np.ndarray | None = None) -> list[str]:
        """Human-readable labels ``"A 25A GLY"`` for residues (all when ``residues`` is None)."""
        idx = np.arange(self.num_residues) if residues is None else np.asarray(residues)
        return [
            f"{self.residue_chain_ids[i]} {self.residue_numbers[i]}{self.residue_icodes[i]} "
            f"{self.residue_names[i]}"
            for i in idx
        ]

    def find_residue(self, chain_id: str, number: int, insertion_code: str | None = "") -> int:
        """Index of a residue, or -1 if the structure has no such residue."""
        icode = (insertion_code or "").strip()
        hit = np.flatnonzero(
            (self.residue_chain_ids == chain_id)
            & (self.residue_numbers == int(number))
            & (self.residue_icodes == icode)
        )
        return int(hit[0]) if hit.size else -1
