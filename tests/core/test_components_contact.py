"""The `components` and `contact` modules against independent reference values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery, SingleResidueVariantQuery
from deeprank_like.domain.forcefield import atom_parameters
from deeprank_like.features.contact import COULOMB_CONSTANT, MIN_ENERGY_DISTANCE, pair_energies
from deeprank_like.structure import load_structure

PDB = Path(__file__).parents[1] / "data" / "pdb"
M101 = str(PDB / "101M.pdb")
C8P = str(PDB / "3C8P.pdb")

# (res_type index, charge, polarity index, size, mass, pI, donors, acceptors): spec §3.2 table
REFERENCE = {
    "GLY": (5, 0, 0, 0, 57.1, 5.97, 0, 0),
    "ARG": (14, 1, 3, 7, 156.2, 10.76, 5, 0),
    "GLU": (3, -1, 2, 5, 129.1, 3.22, 0, 4),
    "TYR": (19, 0, 1, 8, 163.2, 5.66, 1, 1),
    "HIS": (6, 1, 3, 6, 137.1, 7.59, 1, 1),
}


def _atom(s, chain, num, name):
    res = s.find_residue(chain, num)
    lo, hi = s.residue_atom_start[res], s.residue_atom_start[res + 1]
    return lo + s.atom_names[lo:hi].tolist().index(name)


def _srv(**kw):
    base = dict(pdb_path=M101, chain_ids="A", variant_residue_number=25, insertion_code=None,
                wildtype_amino_acid="G", variant_amino_acid="A")  # fmt: skip
    base.update(kw)
    return SingleResidueVariantQuery(**base)


@pytest.mark.parametrize("resolution", ["residue", "atom"])
def test_residue_properties_match_table(resolution):
    g = _srv(resolution=resolution).build(["components"])
    f = g.node_features
    seen = set()
    for i, name in enumerate(g.node_ids["residue_name"]):
        if name not in REFERENCE:
            continue
        seen.add(name)
        idx, charge, pol, size, mass, pi, don, acc = REFERENCE[name]
        assert f["res_type"][i].argmax() == idx and f["res_type"][i].sum() == 1
        assert f["res_charge"][i] == charge
        assert f["polarity"][i].argmax() == pol
        assert (f["res_size"][i], f["res_mass"][i], f["res_pI"][i]) == (size, mass, pi)
        assert (f["hb_donors"][i], f["hb_acceptors"][i]) == (don, acc)
    assert {"GLY", "HIS"} <= seen


def test_variant_features_on_variant_node_in_residue_graphs():
    g = _srv(variant_residue_number=139, wildtype_amino_acid="R", variant_amino_acid="E").build()
    f = g.node_features
    on = (g.node_ids["residue_number"] == 139) & (g.node_ids["chain"] == "A")
    assert on.sum() == 1
    assert f["variant_res"][on].argmax() == 3  # GLU
    assert f["diff_charge"][on][0] == -2.0  # GLU(-1) - ARG(+1)
    np.testing.assert_array_equal(f["diff_polarity"][on][0], [0, 0, 1, -1])
    assert f["diff_mass"][on][0] == pytest.approx(129.1 - 156.2)
    assert f["diff_size"][on][0] == -2.0
    assert (f["diff_charge"][~on] == 0).all()
    np.testing.assert_array_equal(f["variant_res"][~on], f["res_type"][~on])


def test_atom_features_and_forcefield_charges():
    s = load_structure(M101)
    p = atom_parameters(s)
    assert p.charge[_atom(s, "A", 139, "CZ")] == pytest.approx(0.64)
    assert p.charge[_atom(s, "A", 136, "OE2")] == pytest.approx(-0.80)
    g = _srv(resolution="atom", variant_residue_number=139, wildtype_amino_acid="R",
             variant_amino_acid="A").build(["components"])  # fmt: skip
    f = g.node_features
    cz = np.flatnonzero((g.node_ids["residue_number"] == 139) & (g.node_ids["atom_name"] == "CZ"))[
        0
    ]
    assert f["atom_charge"][cz] == pytest.approx(0.64)
    assert f["atom_type"][cz].argmax() == 0  # carbon
    assert f["pdb_occupancy"][cz] == pytest.approx(s.occupancies[_atom(s, "A", 139, "CZ")])


def test_c_terminal_patch_changes_only_named_atoms():
    s = load_structure(C8P)
    p = atom_parameters(s)
    expect = {"O": -0.80, "OXT": -0.80, "C": 0.70, "CA": 0.10, "NZ": -0.30, "CE": 0.31, "N": -0.57}
    for name, charge in expect.items():
        assert p.charge[_atom(s, "A", 46, name)] == pytest.approx(charge), name


def test_contact_reference_values_101M():
    s = load_structure(M101)
    i, j = _atom(s, "A", 139, "CZ"), _atom(s, "A", 136, "OE2")
    elec, vdw, r = pair_energies(s, np.array([i]), np.array([j]))
    assert r[0] == pytest.approx(5.59872, abs=1e-5)
    assert elec[0] == pytest.approx(-30.36705, abs=1e-4)
    # LJ by hand: CZ is type C (0.105, 3.75), OE2 type OC (0.21, 2.96); r > 4.2 so normal params
    eps, sig = np.sqrt(0.105 * 0.21), (3.75 + 2.96) / 2
    assert vdw[0] == pytest.approx(4 * eps * ((sig / r[0]) ** 12 - (sig / r[0]) ** 6))
    # and inside an atom graph
    g = _srv(resolution="atom", variant_residue_number=139, wildtype_amino_acid="R",
             variant_amino_acid="A", max_edge_length=6.0).build(["contact"])  # fmt: skip
    ids = g.node_ids
    a = np.flatnonzero((ids["residue_number"] == 139) & (ids["atom_name"] == "CZ"))[0]
    b = np.flatnonzero((ids["residue_number"] == 136) & (ids["atom_name"] == "OE2"))[0]
    e = np.flatnonzero((g.edge_index[0] == min(a, b)) & (g.edge_index[1] == max(a, b)))[0]
    assert g.edge_features["distance"][e] == pytest.approx(5.59872, abs=1e-5)
    assert g.edge_features["electrostatic"][e] == pytest.approx(-30.36705, abs=1e-4)
    assert g.edge_features["same_chain"][e] == 1.0 and g.edge_features["same_res"][e] == 0.0


def test_same_chain_covalent_and_13_exclusion_atom_graph():
    g = ProteinProteinInterfaceQuery(pdb_path=C8P, chain_ids=["A", "B"], resolution="atom").build()
    ef = g.edge_features
    chain = g.node_ids["chain"]
    same = chain[g.edge_index[0]] == chain[g.edge_index[1]]
    np.testing.assert_array_equal(ef["same_chain"], same.astype(float))
    assert (ef["same_chain"] == 0).any() and (ef["same_chain"] == 1).any()
    cov = (ef["distance"] < 2.1) & same
    np.testing.assert_array_equal(ef["covalent"], cov.astype(float))
    close_same = same & (ef["distance"] < 3.6)
    assert (ef["electrostatic"][close_same] == 0).all() and (
        ef["vanderwaals"][close_same] == 0
    ).all()


def test_residue_edges_sum_atom_pairs():
    g = ProteinProteinInterfaceQuery(pdb_path=C8P, chain_ids=["A", "B"]).build()
    s = load_structure(C8P)
    heavy = ~s.is_hydrogen
    rng = np.random.default_rng(0)
    for e in rng.choice(g.num_edges, size=10, replace=False):
        ri, rj = g.residue_index[g.edge_index[:, e]]
        ai = np.flatnonzero((s.residue_index == ri) & heavy)
        aj = np.flatnonzero((s.residue_index == rj) & heavy)
        ii, jj = np.meshgrid(ai, aj, indexing="ij")
        elec, vdw, r = pair_energies(s, ii.ravel(), jj.ravel())
        assert g.edge_features["electrostatic"][e] == pytest.approx(elec.sum())
        assert g.edge_features["vanderwaals"][e] == pytest.approx(vdw.sum())
        assert g.edge_features["distance"][e] == pytest.approx(r.min())
        same = s.chain_ids[ai[0]] == s.chain_ids[aj[0]]
        assert g.edge_features["same_chain"][e] == float(same)
        assert g.edge_features["covalent"][e] == float(same and r.min() < 2.1)


def test_overlapping_atoms_stay_finite(tmp_path):
    lines = []
    for k, chain in enumerate("AB"):
        for n, (name, el) in enumerate([("N", "N"), ("CA", "C"), ("C", "C"), ("O", "O")]):
            x = 0.01 * k + 1.4 * n
            lines.append(
                f"ATOM  {10 * k + n + 1:5d}  {name:<3} ALA {chain}   1    {x:8.3f}{0:8.3f}{0:8.3f}"
                f"  1.00 10.00           {el}"
            )
    path = tmp_path / "clash.pdb"
    path.write_text("\n".join(lines) + "\nEND\n")
    for res in ("residue", "atom"):
        # build() itself fails on a NaN or infinite feature (apply_modules checks every array)
        g = ProteinProteinInterfaceQuery(
            pdb_path=str(path), chain_ids=["A", "B"], resolution=res
        ).build()
        # ... and the energies also fit the float32 of the HDF5 file
        assert np.isfinite(g.edge_features["vanderwaals"].astype(np.float32)).all()
    # atom graph: the four pairs 0.01 Å apart get the energy at the floor distance, not at 0.01 Å
    p = atom_parameters(load_structure(path))
    i, j = g.atom_index[g.edge_index]
    close = g.edge_features["distance"] < MIN_ENERGY_DISTANCE
    assert close.sum() == 4
    eps = np.sqrt(p.epsilon[i] * p.epsilon[j])[close]
    sr6 = (0.5 * (p.sigma[i] + p.sigma[j])[close] / MIN_ENERGY_DISTANCE) ** 6
    np.testing.assert_allclose(g.edge_features["vanderwaals"][close], 4 * eps * (sr6 * sr6 - sr6))
    elec = p.charge[i] * p.charge[j] * COULOMB_CONSTANT / MIN_ENERGY_DISTANCE
    np.testing.assert_allclose(g.edge_features["electrostatic"][close], elec[close])
