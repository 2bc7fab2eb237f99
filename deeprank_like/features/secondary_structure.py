"""`secondary_structure`: 3-state secondary structure from backbone hydrogen bonds (pydssp).

Output ``sec_struct`` (3): one-hot ``(helix, strand, coil)``, DeepRank2's order: helix = DSSP
G, H, I; strand = B, E; coil = everything else (turns, bends, PPII, loops). Atom nodes inherit
their residue's value.

How it is computed
    `pydssp <https://github.com/ShintaroMinami/PyDSSP>`_ (0.9.1, numpy backend) is a vectorised
    re-implementation of the Kabsch–Sander hydrogen-bond energy and the DSSP helix/ladder rules;
    it needs only the N, Cα, C, O coordinates, which we pass as arrays — no file is written and
    no executable is called.

    * All amino-acid residues of the model that have the four backbone atoms are passed in one
      call (chain after chain), so β-ladders between chains or chain segments are found as DSSP
      does (9api: 98.4 % agreement with DSSP instead of 96.5 % chain by chain). Models with more
      than :data:`JOINT_LIMIT` such residues are processed one chain at a time (pydssp needs
      ≈ 184 bytes × L² of memory), losing inter-chain ladders.
    * pydssp places the amide hydrogen of residue *i* from the C of residue *i − 1*, i.e. it assumes
      one continuous chain. At every chain start and chain break (C(i−1)–N(i) > 2.5 Å, or a
      residue missing a backbone atom in between) residue *i* is therefore excluded as an H-bond
      donor (``donor_mask``); prolines are never donors, as in DSSP.
    * Residues missing N, Cα, C or O, non-amino-acid residues and chains of fewer than
      :data:`MIN_RESIDUES` complete residues are coil.

Why pydssp
    DeepRank2 calls the ``mkdssp`` executable through Biopython (and rewrites the input PDB so DSSP 4
    accepts it); that dependency was its most frequent installation problem. The pure-Python
    alternatives: pydssp (numpy/torch, pip-installable, ≈ 50 ms for 630 residues), rs-dssp / a Rust
    DSSP (fast and complete but a compiled extension with its own wheels), and P-SEA (Cα geometry
    only, installed with biotite; agrees with DSSP markedly less often because it ignores hydrogen
    bonds). On the DSSP reference files shipped with DeepRank2's tests pydssp agrees with
    ``mkdssp`` on 97.4 % (1ak4, 309 residues) and 98.4 % (9api, 375 residues) of residues in the
    3-state alphabet; 3-state output is all DeepRank2 uses, so pydssp's lack of the 8-state
    alphabet costs nothing.

Differences from DeepRank2
    * No ``mkdssp``, no rewrite of the user's file, no crash of the whole run when DSSP fails.
    * DeepRank2 looks up residues by chain and number (no insertion code); here every structure
      residue is distinct.
    * pydssp's helix and bridge rules are a close but not exact copy of DSSP's (e.g. its H-bond
      energy is continuous around the −0.5 kcal/mol cut-off), hence the 2–3 % disagreement above.
"""

from __future__ import annotations

import logging

import numpy as np

from deeprank_like.features.base import FeatureContext, FeatureModule, FeatureSpec

__all__ = [
    "COIL",
    "HELIX",
    "JOINT_LIMIT",
    "PEPTIDE_BOND_MAX",
    "STRAND",
    "SecondaryStructure",
    "secondary_structure",
]

log = logging.getLogger(__name__)

HELIX, STRAND, COIL = 0, 1, 2
JOINT_LIMIT = 1000  # residues per pydssp call at most (memory ≈ 184 B × L²)
MIN_RESIDUES = 5  # shorter chains (after removing incomplete residues) are coil
PEPTIDE_BOND_MAX = 2.5  # Å, longest C(i-1)–N(i) distance of a continuous chain (as DSSP)


def _assign(xyz: np.ndarray, donor: np.ndarray) -> np.ndarray:
    """pydssp 3-state index (0 loop, 1 helix, 2 strand) for an (L, 4, 3) backbone."""
    from pydssp.pydssp_numpy import assign

    onehot = assign(xyz, donor_mask=donor)
    return np.argmax(onehot, axis=-1)


def secondary_structure(structure) -> np.ndarray:
    """3-state secondary structure of every residue: 0 helix, 1 strand, 2 coil.

    Memoised in ``structure._cache``.

    Returns
    -------
    ndarray (r,), int64
    """
    key = "_sec_struct"
    if key in structure._cache:
        return structure._cache[key]
    s = structure
    out = np.full(s.num_residues, COIL, dtype=np.int64)
    atoms = np.stack([s.residue_atom_index(a) for a in ("N", "CA", "C", "O")], axis=1)
    complete = (atoms >= 0).all(axis=1) & (s.residue_aa >= 0)
    res = np.flatnonzero(complete)
    if res.size:
        chain = s.residue_chain_index[res]
        sizes = np.bincount(chain, minlength=len(s.chains))
        res = res[sizes[chain] >= MIN_RESIDUES]
    if res.size:
        chain = s.residue_chain_index[res]
        xyz = s.coords[atoms[res]]  # (L, 4, 3)
        gap = np.linalg.norm(xyz[1:, 0] - xyz[:-1, 2], axis=1)
        start = np.ones(res.size, dtype=bool)
        start[1:] = (chain[1:] != chain[:-1]) | (gap > PEPTIDE_BOND_MAX)
        donor = ~start & (s.residue_names[res] != "PRO")
        if res.size <= JOINT_LIMIT:
            blocks = [np.arange(res.size)]
        else:
            blocks = [np.flatnonzero(chain == c) for c in np.unique(chain)]
        mapping = np.array([COIL, HELIX, STRAND])
        for block in blocks:
            if block.size < MIN_RESIDUES:
                continue
            # a block's first residue has no preceding C inside the block
            d = donor[block].copy()
            d[0] = False
            out[res[block]] = mapping[_assign(xyz[block], d)]
    out.setflags(write=False)
    structure._cache[key] = out
    return out


class SecondaryStructure(FeatureModule):
    """3-state secondary structure one-hot (helix, strand, coil) from pydssp."""

    name = "secondary_structure"
    description = "DSSP-like 3-state secondary structure (pydssp)"

    def specs(self, context: FeatureContext) -> tuple[FeatureSpec, ...]:
        return (
            FeatureSpec(
                name="sec_struct",
                kind="node",
                width=3,
                description="one-hot secondary structure: helix (G,H,I), strand (B,E), coil",
            ),
        )

    def compute(self, context: FeatureContext) -> dict[str, np.ndarray]:
        ss = context.residue_values_to_nodes(secondary_structure(context.structure))
        onehot = np.zeros((ss.shape[0], 3))
        onehot[np.arange(ss.shape[0]), ss] = 1.0
        return {"sec_struct": onehot}
