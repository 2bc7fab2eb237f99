"""`irc`: inter-residue contacts across a protein-protein interface, by polarity.

Two residues on different sides of the interface (``query.sides``: chains or chain groups) are
in contact when any of their heavy atoms are closer than :data:`IRC_CUTOFF` = 5.5 Å. For every
node residue:

* ``irc_total``: number of residues of the other side(s) it contacts;
* ``irc_<P>_<Q>`` for the 10 unordered polarity pairs (nonpolar, polar, negative, positive; names
  as DeepRank2): for a residue of polarity P, the feature of the pair {P, Q} holds its number of
  contacts with partner residues of polarity Q; the pairs not involving P are 0. Hence
  ``irc_total`` is the sum of the 10 pair features.

Atom nodes inherit their residue's counts. Residues are identified by structure index, so
insertion codes are respected; with three or more sides a contact with any other side counts.
PPI queries only (``query_kinds = ("ppi",)``).

Differences from DeepRank2
    * DeepRank2 (pdb2sql ``get_contact_residues``) keys residues by chain + number without the
      insertion code (residues 52 and 52A are merged), includes hydrogens when the file has
      them, supports exactly two chains (taken in arbitrary order), and fails on unknown residue
      names. Here: heavy atoms only (``distance < 5.5 Å``), every residue distinct, any number of
      sides, residue types standardised by the structure reader.
"""

from __future__ import annotations

from itertools import combinations_with_replacement

import numpy as np
from scipy.spatial import cKDTree

from deeprank_like.domain.aminoacids import POLARITY, POLARITY_NAMES
from deeprank_like.features.base import FeatureContext, FeatureModule, FeatureSpec
from deeprank_like.graph.build import interface_atoms

__all__ = ["IRC_CUTOFF", "IRC_PAIRS", "InterfaceContacts", "residue_contacts"]

IRC_CUTOFF = 5.5  # Å
#: The 10 unordered polarity pairs, in DeepRank2's order.
IRC_PAIRS: tuple[tuple[int, int], ...] = tuple(combinations_with_replacement(range(4), 2))
_PAIR_NAMES = tuple(f"irc_{POLARITY_NAMES[a]}_{POLARITY_NAMES[b]}" for a, b in IRC_PAIRS)


def residue_contacts(
    structure, sides: tuple[tuple[str, ...], ...], cutoff: float = IRC_CUTOFF
) -> np.ndarray:
    """Residue pairs on different sides with a heavy-atom pair closer than ``cutoff``.

    Parameters
    ----------
    structure : Structure
    sides : tuple of tuples of chain ids
    cutoff : float
        Å (strict).

    Returns
    -------
    ndarray (2, k), int64
        Unique residue index pairs ``(a, b)`` with ``a < b``.
    """
    s = structure
    side_of_chain = np.full(len(s.chains), -1, dtype=np.int64)
    for k, group in enumerate(sides):
        for c in group:
            if c in s.chains:
                side_of_chain[s.chains.index(c)] = k
    side = side_of_chain[s.chain_index]
    ok = (side >= 0) & ~s.is_hydrogen & (s.residue_aa[s.residue_index] >= 0)
    atoms = np.flatnonzero(ok)
    if atoms.size < 2:
        return np.zeros((2, 0), dtype=np.int64)
    # only atoms with a partner on another side can contribute
    atoms = np.flatnonzero(interface_atoms(s.coords, side, ok, cutoff))
    if atoms.size < 2:
        return np.zeros((2, 0), dtype=np.int64)
    pairs = cKDTree(s.coords[atoms]).query_pairs(cutoff, output_type="ndarray")
    a, b = atoms[pairs[:, 0]], atoms[pairs[:, 1]]
    diff = np.einsum("ij,ij->i", s.coords[a] - s.coords[b], s.coords[a] - s.coords[b])
    keep = (side[a] != side[b]) & (diff < cutoff * cutoff)
    ra, rb = s.residue_index[a[keep]], s.residue_index[b[keep]]
    lo, hi = np.minimum(ra, rb), np.maximum(ra, rb)
    key = np.unique(lo * s.num_residues + hi)
    return np.vstack([key // s.num_residues, key % s.num_residues]).astype(np.int64)


class InterfaceContacts(FeatureModule):
    """Inter-residue contact counts across the interface, split by polarity pair."""

    name = "irc"
    description = "inter-residue contacts across the interface by polarity (PPI only)"
    query_kinds = ("ppi",)

    def specs(self, context: FeatureContext) -> tuple[FeatureSpec, ...]:
        out = [
            FeatureSpec(name="irc_total", kind="node", unit="count", description=f"residues of the other side(s) with a heavy atom within {IRC_CUTOFF:g} Å")
        ]  # fmt: skip
        for name, (a, b) in zip(_PAIR_NAMES, IRC_PAIRS, strict=True):
            out.append(
                FeatureSpec(
                    name=name,
                    kind="node",
                    unit="count",
                    description=f"contacts of a {POLARITY_NAMES[a]} node with {POLARITY_NAMES[b]} partners (or vice versa)",
                )
            )
        return tuple(out)

    def compute(self, context: FeatureContext) -> dict[str, np.ndarray]:
        s = context.structure
        key = ("_irc", tuple(context.query.sides))
        if key not in s._cache:
            s._cache[key] = self._per_residue(s, context.query.sides)
        total, by_partner = s._cache[key]
        node_res = context.graph.residue_index
        own = POLARITY[s.residue_aa[node_res]]
        counts = by_partner[node_res]  # (N, 4): contacts with partners of each polarity
        out = {"irc_total": total[node_res]}
        for name, (a, b) in zip(_PAIR_NAMES, IRC_PAIRS, strict=True):
            value = np.where(own == a, counts[:, b], 0.0)
            if a != b:
                value = value + np.where(own == b, counts[:, a], 0.0)
            out[name] = value
        return out

    @staticmethod
    def _per_residue(s, sides) -> tuple[np.ndarray, np.ndarray]:
        a, b = residue_contacts(s, sides)
        pol = POLARITY[np.maximum(s.residue_aa, 0)]
        r = s.num_residues
        by_partner = np.zeros((r, 4))
        np.add.at(by_partner, (a, pol[b]), 1.0)
        np.add.at(by_partner, (b, pol[a]), 1.0)
        total = by_partner.sum(axis=1)
        by_partner.setflags(write=False)
        total.setflags(write=False)
        return total, by_partner
