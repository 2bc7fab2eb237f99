"""`surfacearea`: SASA and BSA against freesasa run directly on the files."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import freesasa
import gemmi
import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery, SingleResidueVariantQuery
from deeprank_like.features.surfacearea import atom_sasa, sasa_atom_mask
from deeprank_like.structure import load_structure
from deeprank_like.testing import random_rotation, transformed_structure

DATA = Path(__file__).parents[1] / "data"
C8P = str(DATA / "pdb" / "3C8P.pdb")
M101 = str(DATA / "pdb" / "101M.pdb")
AK4 = str(DATA / "pdb" / "1ak4.pdb")

freesasa.setVerbosity(freesasa.silent)


def _freesasa_atoms(path: str) -> dict[tuple[str, int, str], float]:
    """Per-atom areas of ``freesasa.Structure(path)`` keyed by (chain, residue number, atom)."""
    fs = freesasa.Structure(path)
    result = freesasa.calc(fs)
    return {
        (fs.chainLabel(i), int(fs.residueNumber(i)), fs.atomName(i).strip()): result.atomArea(i)
        for i in range(fs.nAtoms())
    }


def _chain_only(path: str, chain: str, out: Path) -> str:
    st = gemmi.read_structure(path)
    st.remove_waters()
    st.remove_ligands_and_waters()
    for name in [ch.name for ch in st[0]]:
        if name != chain:
            st[0].remove_chain(name)
    st.write_pdb(str(out))
    return str(out)


def _ppi(path=C8P, resolution="residue", **kw):
    return ProteinProteinInterfaceQuery(
        pdb_path=path, chain_ids=["A", "B"], resolution=resolution, **kw
    )


@pytest.mark.parametrize("path", [C8P, M101, AK4])
def test_whole_model_sasa_equals_freesasa_on_the_file(path):
    s = load_structure(path)
    ref = _freesasa_atoms(path)
    atoms = np.flatnonzero(sasa_atom_mask(s))
    assert len(ref) == atoms.size
    ours = atom_sasa(s, atoms)
    expected = [ref[(s.chain_ids[a], int(s.res_numbers[a]), s.atom_names[a])] for a in atoms]
    np.testing.assert_allclose(ours, expected, rtol=1e-9, atol=1e-9)


def test_atom_and_residue_nodes_match_freesasa():
    ref = _freesasa_atoms(C8P)
    g_atom = _ppi(resolution="atom").build(["surfacearea"])
    ids = g_atom.node_ids
    expected = [
        ref[(c, int(n), a)] for c, n, a in zip(ids["chain"], ids["residue_number"], ids["atom_name"], strict=True)
    ]  # fmt: skip
    np.testing.assert_allclose(g_atom.node_features["sasa"], expected, rtol=1e-9)

    g_res = _ppi().build(["surfacearea"])
    per_res: dict[tuple[str, int], float] = {}
    for (c, n, _), area in ref.items():
        per_res[(c, n)] = per_res.get((c, n), 0.0) + area
    expected = [per_res[(c, int(n))] for c, n in zip(g_res.node_ids["chain"], g_res.node_ids["residue_number"], strict=True)]  # fmt: skip
    np.testing.assert_allclose(g_res.node_features["sasa"], expected, rtol=1e-9)
    assert g_res.feature_specs["sasa"].unit == "Å²"


def test_bsa_is_separated_minus_complex_area(tmp_path):
    complex_ref = _freesasa_atoms(C8P)
    alone = {}
    for chain in "AB":
        alone.update(_freesasa_atoms(_chain_only(C8P, chain, tmp_path / f"{chain}.pdb")))
    g = _ppi(resolution="atom").build(["surfacearea"])
    ids = g.node_ids
    keys = [(c, int(n), a) for c, n, a in zip(ids["chain"], ids["residue_number"], ids["atom_name"], strict=True)]  # fmt: skip
    expected = np.array([alone[k] - complex_ref[k] for k in keys])
    np.testing.assert_allclose(g.node_features["bsa"], expected, atol=1e-6)
    assert g.node_features["bsa"].sum() > 100.0  # an interface buries area
    assert (g.node_features["bsa"] >= -1e-6).all()

    g_res = _ppi().build(["surfacearea"])
    assert g_res.node_features["bsa"].max() > 10.0


def test_bsa_does_not_depend_on_the_graph_extent():
    # residue bsa is the sum of its atoms' bsa, computed with full chains (not graph atoms)
    g_res = _ppi(influence_radius=6.0).build(["surfacearea"])
    g_res_wide = _ppi(influence_radius=12.0).build(["surfacearea"])
    common = np.intersect1d(g_res.residue_index, g_res_wide.residue_index)
    a = g_res.node_features["bsa"][np.searchsorted(g_res.residue_index, common)]
    b = g_res_wide.node_features["bsa"][np.searchsorted(g_res_wide.residue_index, common)]
    np.testing.assert_allclose(a, b)  # independent of the graph's extent (DeepRank2's is not)


def test_srv_bsa_zero_for_single_chain_and_sasa_values():
    q = SingleResidueVariantQuery(
        pdb_path=M101, chain_ids="A", variant_residue_number=108,
        wildtype_amino_acid="S", variant_amino_acid="A",
    )  # fmt: skip
    g = q.build(["surfacearea"])
    assert np.all(g.node_features["bsa"] == 0.0)
    ids = g.node_ids
    sasa = dict(zip(ids["residue_number"].tolist(), g.node_features["sasa"], strict=True))
    assert sasa[105] > 25.0  # surface residue (DeepRank2 test)
    assert sasa[72] < 25.0  # buried residue (DeepRank2 test)


def test_hydrogen_nodes_get_zero():
    q = ProteinProteinInterfaceQuery(
        pdb_path=str(DATA / "pdb" / "1ATN_1w.pdb"), chain_ids=["A", "B"], resolution="atom",
        include_hydrogens=True, influence_radius=3.0,
    )  # fmt: skip
    g = q.build(["surfacearea"])
    is_h = np.char.startswith(g.node_ids["atom_name"], "H")
    assert is_h.any() and (~is_h).any()
    assert np.all(g.node_features["sasa"][is_h] == 0.0)
    assert g.node_features["sasa"][~is_h].max() > 0.0


def test_user_file_untouched(tmp_path):
    path = tmp_path / "3C8P.pdb"
    shutil.copy(C8P, path)
    before = path.read_bytes()
    mtime = os.stat(path).st_mtime_ns
    _ppi(str(path)).build(["surfacearea"])
    assert path.read_bytes() == before
    assert os.stat(path).st_mtime_ns == mtime
    assert sorted(os.listdir(tmp_path)) == ["3C8P.pdb"]


@pytest.mark.parametrize("resolution", ["residue", "atom"])
def test_rotation_invariance(resolution):
    # Lee–Richards slices along z, so areas move by about 1 Å² per atom with the orientation
    q = _ppi(resolution=resolution)
    s = load_structure(C8P)
    moved = transformed_structure(s, random_rotation(7), [3.0, -2.0, 1.0])
    g1 = q.build(["surfacearea"], structure=s)
    g2 = q.build(["surfacearea"], structure=moved)
    np.testing.assert_array_equal(g1.node_ids, g2.node_ids)
    for name in ("sasa", "bsa"):
        a, b = g1.node_features[name], g2.node_features[name]
        np.testing.assert_allclose(a, b, rtol=0.03, atol=2.0)
        assert abs(a.sum() - b.sum()) <= 0.01 * abs(a).sum()


def test_far_atoms_have_equal_area_alone_and_in_the_complex_and_lazy_bsa_is_exact():
    """An atom beyond probe reach of the other side has the same area alone and in the complex;
    so the lazily computed sasa/bsa (only atoms that can change, on neighbourhoods) equal the
    three whole-structure runs."""
    from scipy.spatial import cKDTree

    from deeprank_like.features.surfacearea import PROBE_RADIUS, _lee_richards, sasa_radii

    path = str(DATA / "pdb" / "1ATN_1w.pdb")
    s = load_structure(path)
    members = np.flatnonzero(sasa_atom_mask(s))
    radii = sasa_radii(s)
    chain = s.chain_index
    complex_area = np.zeros(s.num_atoms)
    complex_area[members] = _lee_richards(s.coords[members], radii[members])
    alone_area = np.zeros(s.num_atoms)
    for c in np.unique(chain[members]):
        own = members[chain[members] == c]
        alone_area[own] = _lee_richards(s.coords[own], radii[own])
    for c in np.unique(chain[members]):
        own = members[chain[members] == c]
        other = members[chain[members] != c]
        dist, _ = cKDTree(s.coords[other]).query(s.coords[own], k=1)
        far = own[dist >= radii[own] + radii[other].max() + 2 * PROBE_RADIUS]
        assert far.size > 0.8 * own.size
        np.testing.assert_allclose(alone_area[far], complex_area[far], rtol=0, atol=1e-9)
    bsa_full = alone_area - complex_area
    assert bsa_full.sum() > 500.0

    for resolution in ("residue", "atom"):
        g = _ppi(path, resolution=resolution).build(["surfacearea"])
        if resolution == "atom":
            atoms = g.atom_index
            np.testing.assert_allclose(g.node_features["sasa"], complex_area[atoms], atol=1e-9)
            np.testing.assert_allclose(g.node_features["bsa"], bsa_full[atoms], atol=1e-9)
        else:
            res = s.residue_index
            sasa_res = np.bincount(res, weights=complex_area, minlength=s.num_residues)
            bsa_res = np.bincount(res, weights=bsa_full, minlength=s.num_residues)
            np.testing.assert_allclose(
                g.node_features["sasa"], sasa_res[g.residue_index], atol=1e-8
            )
            np.testing.assert_allclose(g.node_features["bsa"], bsa_res[g.residue_index], atol=1e-8)


@pytest.mark.parametrize("path", [C8P, AK4])
def test_subset_areas_equal_whole_set_areas(path):
    """freesasa on the needed atoms plus their neighbours (|x_i - x_j| < R_i + R_j) gives the
    whole-model area of every needed atom, on neighbourhood-shaped and scattered subsets."""
    from deeprank_like.features.surfacearea import _lazy, _lee_richards, sasa_radii

    s = load_structure(path)
    members = np.flatnonzero(sasa_atom_mask(s))
    whole = _lee_richards(s.coords[members], sasa_radii(s)[members])
    rng = np.random.default_rng(1)
    centre = s.coords[members[rng.integers(members.size)]]
    patch = members[np.linalg.norm(s.coords[members] - centre, axis=1) < 9.0]
    for subset in (patch, np.sort(rng.choice(members, size=25, replace=False))):
        fresh = load_structure(path)
        calc = _lazy(fresh, None)
        env = calc.environment(subset)
        assert np.isin(subset, env).all() and env.size < members.size  # a real subset run
        got = calc.get(subset)
        np.testing.assert_allclose(got, whole[np.searchsorted(members, subset)], rtol=0, atol=1e-9)


def test_can_change_marks_exactly_the_atoms_whose_area_can_change():
    """Unmarked atoms have the same area alone and in the complex; each marked atom has a
    freesasa neighbour (R_i + R_j) on the other side, and no atom farther is marked."""
    from scipy.spatial import cKDTree

    from deeprank_like.features.surfacearea import (
        PROBE_RADIUS,
        _can_change,
        _lee_richards,
        sasa_radii,
    )

    s = load_structure(C8P)
    mask = sasa_atom_mask(s)
    members = np.flatnonzero(mask)
    unit_of_chain = np.arange(len(s.chains))
    changed = _can_change(s, unit_of_chain, None, mask)
    radii = sasa_radii(s)
    complex_area = np.zeros(s.num_atoms)
    complex_area[members] = _lee_richards(s.coords[members], radii[members])
    alone = np.zeros(s.num_atoms)
    expanded = radii + PROBE_RADIUS
    for c in range(len(s.chains)):
        own = members[s.chain_index[members] == c]
        other = members[s.chain_index[members] != c]
        alone[own] = _lee_richards(s.coords[own], radii[own])
        d = np.linalg.norm(s.coords[own][:, None] - s.coords[other][None], axis=2)
        expected = (d < expanded[own][:, None] + expanded[other][None]).any(axis=1)
        np.testing.assert_array_equal(changed[own], expected)
        reach = 2 * (radii[members].max() + PROBE_RADIUS)
        dist, _ = cKDTree(s.coords[other]).query(s.coords[own], k=1)
        assert changed[own].sum() < (dist < reach).sum()  # tighter than one reach for all
    fixed = members[~changed[members]]
    np.testing.assert_allclose(alone[fixed], complex_area[fixed], rtol=0, atol=1e-12)
    assert (alone[changed] - complex_area[changed]).max() > 1.0


def test_subset_areas_equal_whole_set_areas_on_random_atom_clouds():
    """Property: for random atom clouds and random needed subsets, the subset run equals the
    whole-cloud freesasa areas (1e-9 Å²)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from deeprank_like.features.surfacearea import _LazySasa, _lee_richards

    class _Cloud:  # the attributes _LazySasa reads from a structure
        def __init__(self, coords, radii):
            self.coords, self.num_atoms = coords, coords.shape[0]
            self._cache = {"_sasa_mask": np.ones(self.num_atoms, bool), "_sasa_radii": radii}

    @settings(max_examples=30, deadline=None)
    @given(
        seed=st.integers(0, 2**32 - 1),
        n=st.integers(2, 120),
        box=st.floats(4.0, 25.0),
        frac=st.floats(0.02, 0.6),
    )
    def check(seed, n, box, frac):
        rng = np.random.default_rng(seed)
        coords = rng.uniform(0.0, box, size=(n, 3))
        radii = rng.choice([1.4, 1.52, 1.64, 1.76, 1.88], size=n)
        whole = _lee_richards(coords, radii)
        need = np.flatnonzero(rng.random(n) < frac)
        if need.size == 0:
            need = np.array([int(rng.integers(n))])
        cloud = _Cloud(coords, radii)  # kept alive: the calculator holds it weakly
        got = _LazySasa(cloud, np.ones(n, bool)).get(need)
        np.testing.assert_allclose(got, whole[need], rtol=0, atol=1e-9)

    check()
