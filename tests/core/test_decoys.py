"""Docking decoys: rigid moves of one side, clash filter, determinism, input untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from deeprank_like.domain.aminoacids import residue_name_indices
from deeprank_like.errors import StructureError
from deeprank_like.structure import load_structure
from deeprank_like.structure.decoys import DecoySettings, make_docking_decoys

NATIVE = Path(__file__).parents[1] / "data" / "pdb" / "3C8P.pdb"


def test_decoys_are_rigid_moves_without_clashes(tmp_path):
    digest = hashlib.sha256(NATIVE.read_bytes()).hexdigest()
    settings = DecoySettings(max_clashes=0)
    paths = make_docking_decoys(NATIVE, "B", 4, tmp_path / "a", settings=settings, seed=3)
    assert [p.name for p in paths] == [f"3C8P_decoy_{k:03d}.pdb" for k in range(4)]
    native = load_structure(NATIVE)
    a_nat = native.coords[native.chain_ids == "A"]
    b_nat = native.coords[native.chain_ids == "B"]
    for p in paths:
        d = load_structure(p)
        np.testing.assert_allclose(d.coords[d.chain_ids == "A"], a_nat, atol=1e-3)
        b = d.coords[d.chain_ids == "B"]
        # rigid: internal distances preserved (PDB precision 1e-3 Å)
        idx = np.arange(0, len(b), 7)
        np.testing.assert_allclose(cdist(b[idx], b[idx]), cdist(b_nat[idx], b_nat[idx]), atol=5e-3)
        assert not np.allclose(b, b_nat, atol=0.1)
        heavy = ~d.is_hydrogen
        dist = cdist(d.coords[heavy & (d.chain_ids == "A")], d.coords[heavy & (d.chain_ids == "B")])
        assert dist.min() >= settings.clash_distance - 1e-3
        assert dist.min() < settings.contact_distance
    again = make_docking_decoys(NATIVE, ["B"], 4, tmp_path / "b", settings=settings, seed=3)
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]
    assert hashlib.sha256(NATIVE.read_bytes()).hexdigest() == digest


def test_decoy_errors(tmp_path):
    with pytest.raises(StructureError, match=r"chain\(s\) \['Z'\] not found"):
        make_docking_decoys(NATIVE, "Z", 1, tmp_path)
    impossible = DecoySettings(max_translation=0.0, max_rotation_deg=0.0, max_clashes=-1)
    with pytest.raises(StructureError, match="only 0 of 2 decoys"):
        make_docking_decoys(NATIVE, "B", 2, tmp_path, settings=impossible, max_attempts=5)


def test_only_three_letter_names_are_amino_acids():
    names = np.array(["K", "ALA", "A", "GLY", "HOH", "MSE"])
    assert residue_name_indices(names).tolist() == [-1, 0, -1, 5, -1, -1]


TIGHT = Path(__file__).parents[1] / "data" / "pdb" / "2sni.pdb.gz"  # inhibitor I in protease E


def test_default_settings_work_on_a_tight_interface(tmp_path):
    # The old generator only redrew clashing poses: 2-5 % of default moves of 2sni's inhibitor
    # were kept ("only 3 of 18 decoys"); now clashing poses are pushed out, almost all are kept.
    settings = DecoySettings()
    paths = make_docking_decoys(TIGHT, "I", 18, tmp_path / "d", seed=0, max_attempts=36)
    assert len(paths) == 18
    native = load_structure(TIGHT)
    moving_native = native.coords[native.chain_ids == "I"]
    shifts = []
    for p in paths:
        d = load_structure(p)
        heavy = (~d.is_hydrogen) & (d.residue_aa[d.residue_index] >= 0)
        fixed = d.coords[heavy & (d.chain_ids == "E")]
        moving = d.coords[heavy & (d.chain_ids == "I")]
        dist = cdist(fixed, moving)
        assert int((dist < settings.clash_distance).sum()) <= settings.max_clashes
        assert dist.min() < settings.contact_distance
        shifts.append(np.linalg.norm(d.coords[d.chain_ids == "I"].mean(0) - moving_native.mean(0)))
    assert max(shifts) > 2.0  # real moves, not the native written 18 times


def test_failed_call_writes_nothing(tmp_path):
    out = tmp_path / "decoys"
    strict = DecoySettings(separate=False)  # the old behaviour: redraw every clashing pose
    with pytest.raises(StructureError, match=r"only \d+ of 18 decoys after 60 attempts.*clashed"):
        make_docking_decoys(TIGHT, "I", 18, out, settings=strict, seed=0, max_attempts=60)
    assert not out.exists()
    out.mkdir()
    (out / "keep.txt").write_text("not ours")
    with pytest.raises(StructureError, match="no file was written"):
        make_docking_decoys(TIGHT, "I", 18, out, settings=strict, seed=0, max_attempts=60)
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_write_error_removes_the_decoys_already_written(tmp_path, monkeypatch):
    import deeprank_like.structure.decoys as decoys

    real = decoys._write_decoy

    def fail_third(*args):
        if args[-1] == 2:
            raise OSError(28, "No space left on device")
        return real(*args)

    monkeypatch.setattr(decoys, "_write_decoy", fail_third)
    with pytest.raises(OSError, match="No space left"):
        make_docking_decoys(NATIVE, "B", 4, tmp_path, seed=0)
    assert list(tmp_path.iterdir()) == []


def test_settings_are_checked():
    with pytest.raises(ValueError, match="max_translation"):
        DecoySettings(max_translation=-1.0)
    with pytest.raises(ValueError, match="separation_step"):
        DecoySettings(separation_step=0.0)
