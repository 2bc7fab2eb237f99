"""Rotation/translation invariance of every core feature, with hypothesis."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from deeprank_like import ProteinProteinInterfaceQuery, SingleResidueVariantQuery
from deeprank_like.testing import assert_rigid_invariant, random_rotation

PDB = Path(__file__).parents[1] / "data" / "pdb"

QUERIES = [
    ProteinProteinInterfaceQuery(pdb_path=str(PDB / "3C8P.pdb"), chain_ids=["A", "B"]),
    ProteinProteinInterfaceQuery(pdb_path=str(PDB / "3C8P.pdb"), chain_ids=["A", "B"], resolution="atom"),
    SingleResidueVariantQuery(
        pdb_path=str(PDB / "101M.pdb"), chain_ids="A", variant_residue_number=139,
        wildtype_amino_acid="R", variant_amino_acid="E",
    ),
    SingleResidueVariantQuery(
        pdb_path=str(PDB / "101M.pdb"), chain_ids="A", variant_residue_number=139,
        wildtype_amino_acid="R", variant_amino_acid="E", resolution="atom",
    ),
]  # fmt: skip


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shift=st.lists(st.floats(-100, 100), min_size=3, max_size=3),
    which=st.integers(0, len(QUERIES) - 1),
)
def test_core_features_rigid_invariant(seed, shift, which):
    assert_rigid_invariant(
        QUERIES[which], ["components", "contact"], random_rotation(seed), np.array(shift),
        rtol=1e-7, atol=1e-7,
    )  # fmt: skip
