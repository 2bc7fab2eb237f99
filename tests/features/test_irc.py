"""`irc`: inter-residue contact counts against an all-atom-pairs brute force."""

from __future__ import annotations

import dataclasses
from itertools import combinations_with_replacement
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from deeprank_like import ProteinProteinInterfaceQuery, SingleResidueVariantQuery
from deeprank_like.domain.aminoacids import POLARITY, POLARITY_NAMES
from deeprank_like.errors import FeatureError
from deeprank_like.structure import load_structure
from deeprank_like.testing import assert_rigid_invariant, random_rotation

DATA = Path(__file__).parents[1] / "data"
C8P = str(DATA / "pdb" / "3C8P.pdb")
AK4 = str(DATA / "pdb" / "1ak4.pdb")
PAIRS = list(combinations_with_replacement(range(4), 2))
NAMES = [f"irc_{POLARITY_NAMES[a]}_{POLARITY_NAMES[b]}" for a, b in PAIRS]


def brute_force(s, sides, cutoff=5.5):
    """(total, pair counts) per residue from the full inter-side heavy-atom distance matrix."""
    side_of = {c: k for k, group in enumerate(sides) for c in group}
    side = np.array([side_of.get(c, -1) for c in s.chain_ids])
    heavy = ~s.is_hydrogen & (s.residue_aa[s.residue_index] >= 0) & (side >= 0)
    atoms = np.flatnonzero(heavy)
    d = cdist(s.coords[atoms], s.coords[atoms])
    close = (d < cutoff) & (side[atoms][:, None] != side[atoms][None])
    contacts = set()
    for i, j in zip(*np.nonzero(close), strict=True):
        contacts.add((s.residue_index[atoms[i]], s.residue_index[atoms[j]]))
    partners: dict[int, list[int]] = {}
    for a, b in contacts:
        partners.setdefault(a, []).append(b)
    total = np.zeros(s.num_residues)
    pairs = np.zeros((s.num_residues, len(PAIRS)))
    for r, others in partners.items():
        total[r] = len(others)
        p = POLARITY[s.residue_aa[r]]
        for q in POLARITY[s.residue_aa[others]]:
            pairs[r, PAIRS.index((min(p, q), max(p, q)))] += 1
    return total, pairs


@pytest.mark.parametrize("resolution", ["residue", "atom"])
def test_counts_match_brute_force(resolution):
    q = ProteinProteinInterfaceQuery(pdb_path=C8P, chain_ids=["A", "B"], resolution=resolution)
    g = q.build(["irc"])
    total, pairs = brute_force(load_structure(C8P), q.sides)
    np.testing.assert_array_equal(g.node_features["irc_total"], total[g.residue_index])
    for k, name in enumerate(NAMES):
        np.testing.assert_array_equal(
            g.node_features[name], pairs[g.residue_index, k], err_msg=name
        )
    summed = sum(g.node_features[name] for name in NAMES)
    np.testing.assert_array_equal(summed, g.node_features["irc_total"])
    assert g.node_features["irc_total"].max() >= 3


def test_three_sides_count_every_other_side():
    s = load_structure(AK4)
    # split chain D into two pseudo-chains to get three sides
    chains = s.chain_ids.copy()
    chains[(s.chain_ids == "D") & (s.res_numbers >= 80)] = "E"
    split = dataclasses.replace(s, chain_ids=chains, chains=("C", "D", "E"), _cache={})
    q = ProteinProteinInterfaceQuery(pdb_path=AK4, chain_ids=["C", "D", "E"])
    g = q.build(["irc"], structure=split)
    total, pairs = brute_force(split, q.sides)
    np.testing.assert_array_equal(g.node_features["irc_total"], total[g.residue_index])
    for k, name in enumerate(NAMES):
        np.testing.assert_array_equal(g.node_features[name], pairs[g.residue_index, k])
    # D–E contacts exist and are counted (they were intra-chain before the split)
    two_sides = ProteinProteinInterfaceQuery(pdb_path=AK4, chain_ids=["C", "D"]).build(["irc"])
    assert g.node_features["irc_total"].sum() > two_sides.node_features["irc_total"].sum()


def test_insertion_codes_keep_residues_apart():
    s = load_structure(C8P)
    g0 = ProteinProteinInterfaceQuery(pdb_path=C8P, chain_ids=["A", "B"]).build(["irc"])
    # give every residue of chain B the number 1 with a distinct insertion code: DeepRank2's
    # chain+number key would merge them; structure indices keep them apart
    numbers = s.res_numbers.copy()
    icodes = s.insertion_codes.copy()
    on_b = s.chain_ids == "B"
    order = s.residue_index[on_b] - s.residue_index[on_b].min()
    numbers[on_b] = 1
    icodes[on_b] = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))[order]
    renumbered = dataclasses.replace(s, res_numbers=numbers, insertion_codes=icodes, _cache={})
    g1 = ProteinProteinInterfaceQuery(pdb_path=C8P, chain_ids=["A", "B"]).build(
        ["irc"], structure=renumbered
    )
    for name in ["irc_total", *NAMES]:
        np.testing.assert_array_equal(g0.node_features[name], g1.node_features[name])


def test_ppi_only():
    q = SingleResidueVariantQuery(
        pdb_path=str(DATA / "pdb" / "101M.pdb"), chain_ids="A", variant_residue_number=139,
        wildtype_amino_acid="R", variant_amino_acid="E",
    )  # fmt: skip
    with pytest.raises(FeatureError, match="does not apply to srv"):
        q.build(["irc"])


def test_rotation_invariance():
    q = ProteinProteinInterfaceQuery(pdb_path=C8P, chain_ids=["A", "B"], resolution="atom")
    assert_rigid_invariant(q, ["irc"], random_rotation(5), [1.0, 2.0, 3.0], rtol=0, atol=0)
