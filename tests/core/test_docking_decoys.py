"""Docking decoys at scale: lenient PDB reading, seeded pose sampling, filters, PDB writing."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

from deeprank_like.errors import StructureError
from deeprank_like.structure import load_structure
from deeprank_like.structure.docking_decoys import (
    DockingDecoySettings,
    apply_rigid,
    random_rotations,
    read_atom_table,
    sample_docking_poses,
    write_decoy_pdbs,
)

DATA = Path(__file__).parents[1] / "data" / "dockq"
UNBOUND = DATA / "2X9A_target-unbound.pdb.gz"
SETTINGS = DockingDecoySettings(n_near_native=12, n_wrong_site=10)


@pytest.fixture(scope="module")
def pair():
    table = read_atom_table(UNBOUND)
    lig = table.chain_ids == "B"
    return table, lig, table.coords[~lig], table.coords[lig]


@pytest.fixture(scope="module")
def poses(pair):
    _, _, rec, lig = pair
    return sample_docking_poses(rec, lig, settings=SETTINGS, seed=7)


def test_read_atom_table_tolerates_garbage_element_columns(tmp_path):
    # as in several Docking Benchmark 5 files: numbers where the element and charge belong
    lines = [
        "ATOM      1  N   ALA A   1      11.104   6.134  -6.504  1.00  0.00      A    185\n",
        "ATOM      2  CA  ALA A   1      11.639   6.071  -5.147  1.00  0.00      A    2X5\n",
        "ATOM      3 HA   ALA A   1      11.000   6.000  -5.000  1.00  0.00      A     H\n",
        "ATOM      4  CB AALA A   1      11.000   7.000  -4.000  0.40  0.00      A     C\n",
        "ATOM      5  CB BALA A   1      11.500   7.500  -4.500  0.60  0.00      A     C\n",
        "HETATM    6 ZN    ZN A 101       1.000   1.000   1.000  1.00  0.00          ZN\n",
        "ATOM      7  CA  GLY B   2       1.000   2.000   3.000  1.00  0.00      B\n",
    ]
    path = tmp_path / "odd.pdb.gz"
    with gzip.open(path, "wt") as fh:
        fh.writelines(lines)
    t = read_atom_table(path)
    assert t.atom_names.tolist() == ["N", "CA", "CB", "CA"]
    assert t.elements.tolist() == ["N", "C", "C", "C"]
    assert t.coords[2].tolist() == [11.5, 7.5, -4.5]  # the higher-occupancy altloc
    assert t.num_residues == 2 and t.chains == ("A", "B")
    het = read_atom_table(path, hetero=True, hydrogens=True)
    assert het.num_atoms == 6 and "ZN" in het.elements.tolist() and "H" in het.elements.tolist()


def test_read_atom_table_errors(tmp_path):
    with pytest.raises(StructureError, match="not found"):
        read_atom_table(tmp_path / "missing.pdb")
    bad = tmp_path / "bad.pdb"
    bad.write_text("ATOM      1  CA  ALA A   1      xx.xxx   6.071  -5.147  1.00  0.00\n")
    with pytest.raises(StructureError, match="bad ATOM record"):
        read_atom_table(bad)
    empty = tmp_path / "empty.pdb"
    empty.write_text("REMARK nothing\nEND\n")
    with pytest.raises(StructureError, match="no ATOM/HETATM"):
        read_atom_table(empty)


def test_same_seed_same_poses_and_other_seed_differs(pair, poses):
    _, _, rec, lig = pair
    again = sample_docking_poses(rec, lig, settings=SETTINGS, seed=7)
    np.testing.assert_array_equal(again.rotations, poses.rotations)
    np.testing.assert_array_equal(again.translations, poses.translations)
    other = sample_docking_poses(rec, lig, settings=SETTINGS, seed=8)
    assert not np.allclose(other.translations, poses.translations)


def test_counts_kinds_and_first_pose_is_the_input(poses):
    assert len(poses) == 22
    assert poses.kinds.tolist() == ["near_native"] * 12 + ["wrong_site"] * 10
    np.testing.assert_array_equal(poses.rotations[0], np.eye(3))
    np.testing.assert_array_equal(poses.translations[0], np.zeros(3))
    np.testing.assert_allclose(np.linalg.det(poses.rotations), 1.0, atol=1e-9)


def test_every_pose_passes_the_clash_and_contact_filters(pair, poses):
    _, _, rec, lig = pair
    tree = cKDTree(rec)
    native_d = tree.query(lig)[0]
    max_clash = max(SETTINGS.max_clash_atoms, int((native_d < SETTINGS.clash_distance).sum()))
    min_contact = max(
        SETTINGS.min_contact_atoms,
        int(SETTINGS.min_contact_fraction * (native_d < SETTINGS.contact_distance).sum()),
    )
    moved = apply_rigid(lig, poses.rotations, poses.translations, poses.center)
    for k in range(len(poses)):
        d = tree.query(moved[k])[0]
        clashes = int((d < SETTINGS.clash_distance).sum())
        contacts = int((d < SETTINGS.contact_distance).sum())
        assert clashes == poses.clash_atoms[k] <= max_clash
        assert contacts == poses.contact_atoms[k] >= min_contact


def test_wrong_site_poses_cover_the_receptor_surface(pair, poses):
    _, _, rec, lig = pair
    moved = apply_rigid(lig, poses.rotations, poses.translations, poses.center)
    wrong = poses.kinds == "wrong_site"
    dirs = moved[wrong].mean(axis=1) - rec.mean(axis=0)
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    # spread over the sphere: the mean direction is short, and poses are far apart
    assert np.linalg.norm(dirs.mean(axis=0)) < 0.6
    centroids = moved[wrong].mean(axis=1)
    gaps = np.linalg.norm(centroids[:, None] - centroids[None], axis=-1)
    assert np.median(gaps[np.triu_indices(len(centroids), 1)]) > 15.0


def test_near_native_moves_grow(pair, poses):
    _, _, _, lig = pair
    moved = apply_rigid(lig, poses.rotations, poses.translations, poses.center)
    near = np.flatnonzero(poses.kinds == "near_native")
    rmsd = np.sqrt(((moved[near] - lig) ** 2).sum(-1).mean(-1))
    assert rmsd[0] < 1e-12
    assert rmsd[-3:].mean() > rmsd[1:4].mean() + 3.0


def test_written_files_hold_the_posed_atoms(pair, poses, tmp_path):
    table, moving, _, _ = pair
    paths = write_decoy_pdbs(table, moving, poses, tmp_path, [f"d{k}" for k in range(len(poses))])
    assert [p.name for p in paths[:2]] == ["d0.pdb", "d1.pdb"]
    back = read_atom_table(paths[5])
    assert back.num_atoms == table.num_atoms
    np.testing.assert_array_equal(back.atom_names, table.atom_names)
    np.testing.assert_array_equal(back.elements, table.elements)
    expected = apply_rigid(
        table.coords[moving], poses.rotations[5], poses.translations[5], poses.center
    )
    np.testing.assert_allclose(back.coords[moving], expected, atol=6e-4)
    np.testing.assert_allclose(back.coords[~moving], table.coords[~moving], atol=6e-4)
    # a strict parser (gemmi, through load_structure) reads them too
    s = load_structure(paths[5])
    assert s.chains == ("A", "B") and s.num_atoms == table.num_atoms


def test_apply_rigid_batch_equals_single_and_rotations_are_proper():
    rng = np.random.default_rng(0)
    rot = random_rotations(rng, 5)
    np.testing.assert_allclose(
        rot @ rot.transpose(0, 2, 1), np.broadcast_to(np.eye(3), rot.shape), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(rot), 1.0)
    x = rng.normal(size=(7, 3))
    t = rng.normal(size=(5, 3))
    c = np.array([1.0, 2.0, 3.0])
    batch = apply_rigid(x, rot, t, c)
    for k in range(5):
        np.testing.assert_allclose(batch[k], apply_rigid(x, rot[k], t[k], c))


def test_settings_and_input_errors():
    with pytest.raises(ValueError, match="clash_distance"):
        DockingDecoySettings(clash_distance=6.0)
    with pytest.raises(ValueError, match="counts"):
        DockingDecoySettings(n_near_native=-1)
    with pytest.raises(StructureError, match="receptor coordinates"):
        sample_docking_poses(np.zeros((0, 3)), np.zeros((4, 3)))
    far = np.array([[100.0, 0, 0], [101.0, 0, 0]])
    with pytest.raises(StructureError, match="no interface"):
        sample_docking_poses(np.zeros((3, 3)), far)


def test_decoy_coordinates_are_pinned_for_a_seed(pair, poses):
    # values from before the reader moved to structure/atom_table.py and the rotation sampler
    # to deeprank_like.geometry: the refactor must not change a single decoy
    lig_xyz = pair[3]
    posed = apply_rigid(lig_xyz, poses.rotations, poses.translations, poses.center)
    np.testing.assert_array_equal(
        posed[[1, 5, 13, 20], [0, 10, 100, -1]],
        [
            [51.77206869388292, -10.932795223986439, -22.57970164662261],
            [49.188394565352674, -14.592302338674672, -23.529103447095387],
            [44.01098290691603, 16.650538593479553, -21.555993370614257],
            [28.038324374517494, 9.875132877812833, -23.72334028293989],
        ],
    )
    assert poses.attempts == 42


def test_one_rotation_sampler_for_decoys_and_grids():
    from deeprank_like import geometry
    from deeprank_like.grid import random_rotations as grid_rotations

    a = random_rotations(np.random.default_rng(3), 50)
    np.testing.assert_array_equal(a, geometry.random_rotations(50, np.random.default_rng(3)))
    np.testing.assert_array_equal(a, grid_rotations(50, np.random.default_rng(3)))
    with pytest.raises(ValueError, match="non-negative integer"):
        geometry.random_rotations(-1)


def test_atom_table_and_load_structure_choose_the_same_altlocs(tmp_path):
    lines = [
        "ATOM      1  CA AALA A   1       1.000   0.000   0.000  0.50  0.00           C\n",
        "ATOM      2  CA BALA A   1       2.000   0.000   0.000  0.50  0.00           C\n",
        "ATOM      3  CB AALA A   1       3.000   0.000   0.000  0.30  0.00           C\n",
        "ATOM      4  CB BALA A   1       4.000   0.000   0.000  0.70  0.00           C\n",
    ]
    path = tmp_path / "alt.pdb"
    path.write_text("".join(lines) + "END\n")
    table = read_atom_table(path)
    structure = load_structure(path)
    assert table.coords[:, 0].tolist() == [1.0, 4.0]  # tie: the first; else the most occupied
    assert sorted(structure.coords[:, 0].tolist()) == [1.0, 4.0]
