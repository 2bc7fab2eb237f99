"""`components`: residue identity and physico-chemical properties (and atom identity).

Residue features go on every node (atom nodes inherit their residue's values). Atom graphs
also get the element one-hot, the force-field partial charge and the occupancy. Variant
queries get the variant one-hot and variant − wild-type differences on the variant node(s)
— for residue graphs too (DeepRank2 issue #511).
"""

from __future__ import annotations

import numpy as np

from deeprank_like.domain import aminoacids as aa
from deeprank_like.domain.elements import ELEMENT_ONEHOT, element_indices
from deeprank_like.domain.forcefield import atom_parameters
from deeprank_like.features.base import FeatureContext, FeatureModule, FeatureSpec

__all__ = ["Components"]

_RESIDUE_SPECS = (
    FeatureSpec(name="res_type", kind="node", width=20, description="one-hot amino acid (order ACDEFGHIKLMNPQRSTVWY)"),
    FeatureSpec(name="res_charge", kind="node", unit="e", description="formal residue charge (HIS +1)"),
    FeatureSpec(name="polarity", kind="node", width=4, description="one-hot polarity: nonpolar, polar, negative, positive"),
    FeatureSpec(name="res_size", kind="node", unit="atoms", description="number of side-chain heavy atoms"),
    FeatureSpec(name="res_mass", kind="node", unit="Da", description="average residue mass"),
    FeatureSpec(name="res_pI", kind="node", unit="pH", description="isoelectric point"),
    FeatureSpec(name="hb_donors", kind="node", unit="count", description="side-chain H-bond donors"),
    FeatureSpec(name="hb_acceptors", kind="node", unit="count", description="side-chain H-bond acceptors"),
)  # fmt: skip
_ATOM_SPECS = (
    FeatureSpec(name="atom_type", kind="node", width=len(ELEMENT_ONEHOT), description="one-hot element: C, O, N, S, P, H, other"),
    FeatureSpec(name="atom_charge", kind="node", unit="e", description="force-field partial charge"),
    FeatureSpec(name="pdb_occupancy", kind="node", description="occupancy from the structure file"),
)  # fmt: skip
_VARIANT_SPECS = (
    FeatureSpec(name="variant_res", kind="node", width=20, description="one-hot variant amino acid on the variant node, own type elsewhere"),
    FeatureSpec(name="diff_charge", kind="node", unit="e", description="variant − wild-type charge (variant node, 0 elsewhere)"),
    FeatureSpec(name="diff_polarity", kind="node", width=4, description="variant − wild-type polarity one-hot"),
    FeatureSpec(name="diff_size", kind="node", unit="atoms", description="variant − wild-type side-chain size"),
    FeatureSpec(name="diff_mass", kind="node", unit="Da", description="variant − wild-type mass"),
    FeatureSpec(name="diff_pI", kind="node", unit="pH", description="variant − wild-type isoelectric point"),
    FeatureSpec(name="diff_hb_donors", kind="node", unit="count", description="variant − wild-type H-bond donors"),
    FeatureSpec(name="diff_hb_acceptors", kind="node", unit="count", description="variant − wild-type H-bond acceptors"),
)  # fmt: skip


def _onehot(index: np.ndarray, width: int) -> np.ndarray:
    out = np.zeros((index.shape[0], width), dtype=np.float64)
    out[np.arange(index.shape[0]), index] = 1.0
    return out


class Components(FeatureModule):
    """Residue type, charge, polarity, size, mass, pI, H-bond donors/acceptors (+ atom, variant)."""

    name = "components"
    description = "residue and atom identity and physico-chemical properties"

    def specs(self, context: FeatureContext) -> tuple[FeatureSpec, ...]:
        out = _RESIDUE_SPECS
        if context.resolution == "atom":
            out += _ATOM_SPECS
        if context.query_kind == "srv":
            out += _VARIANT_SPECS
        return out

    def compute(self, context: FeatureContext) -> dict[str, np.ndarray]:
        s, g = context.structure, context.graph
        idx = s.residue_aa[g.residue_index]
        values = {
            "res_type": _onehot(idx, 20),
            "res_charge": aa.CHARGE[idx],
            "polarity": _onehot(aa.POLARITY[idx], 4),
            "res_size": aa.SIZE[idx],
            "res_mass": aa.MASS[idx],
            "res_pI": aa.PI[idx],
            "hb_donors": aa.HB_DONORS[idx],
            "hb_acceptors": aa.HB_ACCEPTORS[idx],
        }
        if context.resolution == "atom":
            atoms = g.atom_index
            values["atom_type"] = _onehot(element_indices(s.elements[atoms]), len(ELEMENT_ONEHOT))
            values["atom_charge"] = atom_parameters(s).charge[atoms]
            values["pdb_occupancy"] = s.occupancies[atoms].astype(np.float64)
        if context.query_kind == "srv":
            values.update(self._variant(context, idx))
        return values

    @staticmethod
    def _variant(context: FeatureContext, idx: np.ndarray) -> dict[str, np.ndarray]:
        g, q = context.graph, context.query
        on = g.residue_index == g.metadata["variant_residue"]
        wt, var = q.wildtype_index, q.variant_index
        variant_type = np.where(on, var, idx)

        def diff(table: np.ndarray) -> np.ndarray:
            return np.where(on, table[var] - table[wt], 0.0)

        pol = np.zeros((g.num_nodes, 4))
        pol[on] = _onehot(np.array([aa.POLARITY[var]]), 4) - _onehot(np.array([aa.POLARITY[wt]]), 4)
        return {
            "variant_res": _onehot(variant_type, 20),
            "diff_charge": diff(aa.CHARGE),
            "diff_polarity": pol,
            "diff_size": diff(aa.SIZE),
            "diff_mass": diff(aa.MASS),
            "diff_pI": diff(aa.PI),
            "diff_hb_donors": diff(aa.HB_DONORS),
            "diff_hb_acceptors": diff(aa.HB_ACCEPTORS),
        }
