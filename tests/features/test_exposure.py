"""`exposure`: half-sphere exposure against brute force, residue depth against a grid SES."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from deeprank_like import ProteinProteinInterfaceQuery, SingleResidueVariantQuery
from deeprank_like.features.exposure import (
    DEPTH_PROBE_RADIUS,
    HSE_RADIUS,
    accessible_dots,
    atom_depths,
    half_sphere_exposure,
    residue_depths,
    sphere_points,
    virtual_cb,
)
from deeprank_like.features.surfacearea import sasa_atom_mask, sasa_radii
from deeprank_like.structure import load_structure
from deeprank_like.testing import random_rotation, transformed_structure

DATA = Path(__file__).parents[1] / "data"
C8P = str(DATA / "pdb" / "3C8P.pdb")
M101 = str(DATA / "pdb" / "101M.pdb")


def grid_ses_depth(xyz, radii, probe, spacing=0.4):
    """Reference depth: distance to the external solvent-excluded surface on a voxel grid.

    Voxels farther than r_j + probe from every atom are accessible probe centres; only those
    connected to the box boundary are kept (external surface); the SES exterior is every voxel
    within ``probe`` of one; the depth of a point is its distance to that exterior.
    """
    expanded = radii + probe
    lo = xyz.min(0) - expanded.max() - 2 * probe - 2 * spacing
    shape = np.ceil((xyz.max(0) + expanded.max() + 2 * probe + 2 * spacing - lo) / spacing)
    blocked = np.zeros(shape.astype(int) + 1, dtype=bool)
    k = int(np.ceil(expanded.max() / spacing)) + 1
    offsets = np.stack(np.meshgrid(*[np.arange(-k, k + 1)] * 3, indexing="ij"), -1).reshape(-1, 3)
    for centre, r in zip(xyz, expanded, strict=True):
        pts = np.round((centre - lo) / spacing).astype(int) + offsets
        inside = np.linalg.norm(lo + pts * spacing - centre, axis=1) < r
        pts = pts[inside]
        blocked[pts[:, 0], pts[:, 1], pts[:, 2]] = True
    labels, _ = ndimage.label(~blocked)
    accessible = labels == labels[0, 0, 0]
    exterior = ndimage.distance_transform_edt(~accessible, sampling=spacing) <= probe
    field = ndimage.distance_transform_edt(~exterior, sampling=spacing)
    return ndimage.map_coordinates(field, ((xyz - lo) / spacing).T, order=1)


def brute_force_hse(s, radius=HSE_RADIUS):
    """(up, down) per residue from the full Cα distance matrix and the Cα→Cβ directions."""
    ca = s.residue_atom_index("CA")
    cb = s.residue_atom_index("CB")
    n = s.residue_atom_index("N")
    c = s.residue_atom_index("C")
    res = np.flatnonzero((ca >= 0) & (s.residue_aa >= 0))
    x = s.coords[ca[res]]
    out = np.zeros((s.num_residues, 2))
    for k, r in enumerate(res):
        if cb[r] >= 0:
            direction = s.coords[cb[r]] - x[k]
        else:
            direction = virtual_cb(s.coords[n[r]][None], x[k][None], s.coords[c[r]][None])[0] - x[k]
        d = x - x[k]
        near = (np.linalg.norm(d, axis=1) < radius) & (np.arange(res.size) != k)
        up = (d[near] @ direction) > 0
        out[r] = (up.sum(), (~up).sum())
    return out


def test_hse_counts_match_brute_force():
    s = load_structure(C8P)
    hse = half_sphere_exposure(s)
    ref = brute_force_hse(s)
    np.testing.assert_array_equal(hse[:, :2], ref)
    assert (hse[:, 0] + hse[:, 1]).max() > 10


def test_hse_angle():
    s = load_structure(M101)
    hse = half_sphere_exposure(s)
    ca, cb = s.residue_atom_index("CA"), s.residue_atom_index("CB")
    aa = np.flatnonzero(s.residue_aa >= 0)
    assert hse[aa[0], 2] == 0.0 and hse[aa[-1], 2] == 0.0  # chain ends: no trace neighbours
    checked = 0
    for prev, r, nxt in zip(aa[:-2], aa[1:-1], aa[2:], strict=True):
        if cb[r] < 0:
            continue
        x = s.coords[ca[[prev, r, nxt]]]
        u1 = (x[1] - x[0]) / np.linalg.norm(x[1] - x[0])
        u2 = (x[1] - x[2]) / np.linalg.norm(x[1] - x[2])
        pseudo = (u1 + u2) / np.linalg.norm(u1 + u2)
        real = (s.coords[cb[r]] - x[1]) / np.linalg.norm(s.coords[cb[r]] - x[1])
        assert hse[r, 2] == pytest.approx(np.arccos(pseudo @ real), abs=1e-9)
        checked += 1
    assert checked > 100
    assert np.all(hse[aa[1:-1], 2] < np.pi / 2)  # pseudo-Cβ points roughly like the real Cβ


def test_virtual_cb_close_to_real_cb():
    s = load_structure(M101)
    idx = {a: s.residue_atom_index(a) for a in ("N", "CA", "C", "CB")}
    ok = np.all([v >= 0 for v in idx.values()], axis=0)
    built = virtual_cb(*(s.coords[idx[a][ok]] for a in ("N", "CA", "C")))
    err = np.linalg.norm(built - s.coords[idx["CB"][ok]], axis=1)
    assert np.median(err) < 0.1 and err.max() < 0.5


def test_sphere_points_uniform():
    u = sphere_points(64)
    np.testing.assert_allclose(np.linalg.norm(u, axis=1), 1.0)
    assert np.linalg.norm(u.mean(axis=0)) < 0.02


def test_accessible_dots_against_brute_force():
    rng = np.random.default_rng(0)
    xyz = rng.uniform(0, 12, size=(60, 3))
    radii = rng.uniform(1.4, 2.0, size=60) + 1.4
    dots, owner = accessible_dots(xyz, radii, n=128)
    unit = sphere_points(128)
    all_dots = (xyz[:, None] + radii[:, None, None] * unit[None]).reshape(-1, 3)
    all_owner = np.repeat(np.arange(60), 128)
    d = np.linalg.norm(all_dots[:, None] - xyz[None], axis=2)
    inside = (d < radii[None] - 1e-9) & (all_owner[:, None] != np.arange(60)[None])
    free = ~inside.any(axis=1)
    np.testing.assert_allclose(dots, all_dots[free], atol=1e-9)
    np.testing.assert_array_equal(owner, all_owner[free])


def test_isolated_atom_all_dots_accessible():
    dots, owner = accessible_dots(np.zeros((1, 3)), np.array([3.0]))
    assert dots.shape == (64, 3) and np.all(owner == 0)
    with pytest.raises(ValueError, match="multiple of 64"):
        accessible_dots(np.zeros((1, 3)), np.array([3.0]), n=50)


def test_residue_depth_matches_grid_ses_reference():
    s = load_structure(C8P)
    atoms = np.flatnonzero(sasa_atom_mask(s))
    ref = grid_ses_depth(s.coords[atoms], sasa_radii(s)[atoms], DEPTH_PROBE_RADIUS)
    ours = atom_depths(s)[atoms]
    assert np.corrcoef(ours, ref)[0, 1] > 0.97
    assert np.abs(ours - ref).mean() < 0.2
    res = s.residue_index[atoms]
    count = np.bincount(res, minlength=s.num_residues)
    ref_res = np.bincount(res, weights=ref, minlength=s.num_residues)[count > 0] / count[count > 0]
    ours_res = residue_depths(s)[count > 0]
    assert np.corrcoef(ours_res, ref_res)[0, 1] > 0.99
    assert np.abs(ours_res - ref_res).mean() < 0.15
    assert ours.min() >= 0.0 and ours.max() > 4.0


@pytest.mark.parametrize("resolution", ["residue", "atom"])
def test_module_outputs_and_atoms_inherit(resolution):
    q = SingleResidueVariantQuery(
        pdb_path=M101, chain_ids="A", variant_residue_number=139,
        wildtype_amino_acid="R", variant_amino_acid="E", resolution=resolution,
    )  # fmt: skip
    g = q.build(["exposure"])
    s = load_structure(M101)
    np.testing.assert_allclose(g.node_features["res_depth"], residue_depths(s)[g.residue_index])
    np.testing.assert_allclose(g.node_features["hse"], half_sphere_exposure(s)[g.residue_index])
    assert g.feature_specs["hse"].width == 3
    assert g.feature_specs["res_depth"].unit == "Å"


def test_rotation_invariance():
    q = ProteinProteinInterfaceQuery(pdb_path=C8P, chain_ids=["A", "B"])
    s = load_structure(C8P)
    moved = transformed_structure(s, random_rotation(11), [5.0, 1.0, -7.0])
    g1 = q.build(["exposure"], structure=s)
    g2 = q.build(["exposure"], structure=moved)
    np.testing.assert_allclose(g1.node_features["hse"], g2.node_features["hse"], atol=1e-9)
    # the dot directions are fixed in space, so depths move by a fraction of the dot spacing
    d1, d2 = g1.node_features["res_depth"], g2.node_features["res_depth"]
    assert np.abs(d1 - d2).max() < 0.35
    assert np.corrcoef(d1, d2)[0, 1] > 0.99


@pytest.mark.parametrize("name", ["1ATN_1w.pdb", "1ak4.pdb"])
def test_neighbourhood_depths_equal_whole_model_depths(name, monkeypatch):
    """Depths surfaced from a graph's neighbourhood equal the whole-model ones exactly."""
    import deeprank_like.features.exposure as exposure

    path = Path(__file__).resolve().parents[1] / "data" / "pdb" / name
    whole = residue_depths(load_structure(path))
    attempts: list[tuple[float, object]] = []
    local = exposure._depths_local

    def spy(structure, memo, need, reach):
        out = local(structure, memo, need, reach)
        attempts.append((reach, out))
        return out

    monkeypatch.setattr(exposure, "_depths_local", spy)
    monkeypatch.setattr(exposure, "LOCAL_DEPTH_MIN_ATOMS", 0)
    monkeypatch.setattr(exposure, "LOCAL_DEPTH", True)
    s = load_structure(path)
    centers = s.residue_centers()
    rng = np.random.default_rng(0)
    for _ in range(6):
        fresh = load_structure(path)
        c = rng.integers(s.num_residues)
        res = np.flatnonzero(np.linalg.norm(centers - centers[c], axis=1) < rng.uniform(3, 10))
        np.testing.assert_array_equal(residue_depths(fresh, res), whole[res])
    done = [a for a in attempts if a[1] is None]
    assert done, "the neighbourhood path was never taken"
    if name == "1ATN_1w.pdb":  # the second try (larger reach from the first's bound) happens
        assert any(reach > exposure.DEPTH_REACH for reach, _ in done)


@pytest.mark.parametrize("n", [64, 128])
def test_symmetric_pair_projection_equals_directed_pairs(n):
    """The whole-set path projects each atom pair once for both directions (u·e_ba = −u·e_ab);
    its dots are identical to the directed-pair path's (each direction projected on its own)."""
    s = load_structure(DATA / "pdb" / "1ak4.pdb")
    idx = np.flatnonzero(sasa_atom_mask(s))
    xyz, radii = s.coords[idx], sasa_radii(s)[idx] + 1.5
    dots, owner = accessible_dots(xyz, radii, n=n)
    dots_t, owner_t = accessible_dots(xyz, radii, n=n, targets=np.ones(idx.size, dtype=bool))
    np.testing.assert_array_equal(owner, owner_t)
    np.testing.assert_array_equal(dots, dots_t)


def test_subset_depths_equal_whole_model_depths_with_one_surface(monkeypatch):
    """Depths of a few atoms equal the whole-model depths; the surface is made once per
    structure and later calls only query it."""
    import deeprank_like.features.exposure as exposure

    path = DATA / "pdb" / "3C8P.pdb"
    whole = atom_depths(load_structure(path))
    calls = []
    real = exposure.accessible_dots
    monkeypatch.setattr(
        exposure, "accessible_dots", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    s = load_structure(path)
    rng = np.random.default_rng(3)
    for size in (5, 40, 200):
        atoms = rng.choice(s.num_atoms, size=size, replace=False)
        np.testing.assert_array_equal(atom_depths(s, atoms), whole[atoms])
    assert len(calls) == 1
