"""Kyte-Doolittle hydropathy and B-factors per node: a complete deeprank_like feature module.

This is the module written in tutorial 3 (``tutorials/03_custom_feature_module.ipynb``), saved
in an importable file so that worker processes can import it by its path
``my_features.hydropathy:HydropathyBFactor``.
"""

from __future__ import annotations

import numpy as np

from deeprank_like.domain.aminoacids import ONE_LETTER
from deeprank_like.features import FeatureContext, FeatureModule, FeatureSpec

__all__ = ["KYTE_DOOLITTLE", "HydropathyBFactor"]

#: Kyte & Doolittle (1982) hydropathy index per amino acid (one-letter code).
KYTE_DOOLITTLE = {
    "A": 1.8, "R": -4.5, "N": -3.5, "D": -3.5, "C": 2.5, "Q": -3.5, "E": -3.5,
    "G": -0.4, "H": -3.2, "I": 4.5, "L": 3.8, "K": -3.9, "M": 1.9, "F": 2.8,
    "P": -1.6, "S": -0.8, "T": -0.7, "W": -0.9, "Y": -1.3, "V": 4.2,
}  # fmt: skip

# The same values indexed like Structure.residue_aa (0..19 in the order of ONE_LETTER).
_KD_BY_INDEX = np.array([KYTE_DOOLITTLE[c] for c in ONE_LETTER])


class HydropathyBFactor(FeatureModule):
    """Node features ``kd_hydropathy`` (-) and ``bfactor`` (Å²), ``bfactor_z`` (-).

    * ``kd_hydropathy``: Kyte-Doolittle index of the node's residue (atom nodes inherit it).
    * ``bfactor``: mean B-factor of the node's heavy atoms (residue graphs) or the atom's own
      B-factor (atom graphs), as in the file.
    * ``bfactor_z``: ``bfactor`` standardised over all amino-acid heavy atoms of the structure,
      0 when every B-factor is the same (e.g. models written with B = 0).
    """

    name = "hydropathy_bfactor"
    resolutions = ("residue", "atom")
    query_kinds = ("ppi", "srv")

    def specs(self, context: FeatureContext) -> tuple[FeatureSpec, ...]:
        return (
            FeatureSpec(
                name="kd_hydropathy", kind="node", unit="-",
                description="Kyte-Doolittle hydropathy index of the node's residue",
            ),
            FeatureSpec(
                name="bfactor", kind="node", unit="Å²",
                description="mean B-factor of the node's heavy atoms",
            ),
            FeatureSpec(
                name="bfactor_z", kind="node", unit="-",
                description="bfactor standardised over the structure's amino-acid heavy atoms",
            ),
        )  # fmt: skip

    def compute(self, context: FeatureContext) -> dict[str, np.ndarray]:
        s = context.structure
        aa = s.residue_aa  # (residues,): 0..19 for amino acids, -1 otherwise
        kd = np.where(aa >= 0, _KD_BY_INDEX[np.maximum(aa, 0)], 0.0)

        # CSR: the atoms of node i are atoms[start[i]:start[i + 1]]
        atoms, start = context.node_atom_groups()
        counts = np.diff(start)
        node_of_atom = np.repeat(np.arange(counts.size), counts)
        b = s.b_factors[atoms].astype(np.float64)
        bfactor = np.bincount(node_of_atom, weights=b, minlength=counts.size) / counts

        b_all = s.b_factors[context.eligible_atoms].astype(np.float64)
        sd = b_all.std()
        bfactor_z = (bfactor - b_all.mean()) / sd if sd > 1e-6 else np.zeros_like(bfactor)
        return {
            "kd_hydropathy": context.residue_values_to_nodes(kd),
            "bfactor": bfactor,
            "bfactor_z": bfactor_z,
        }
