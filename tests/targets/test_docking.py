"""Docking-quality targets (our DockQ, cross-checked with pdb2sql) on 1ATN decoys and natives."""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from deeprank_like import ProteinProteinInterfaceQuery
from deeprank_like.errors import FeatureError, StructureError
from deeprank_like.structure import load_structure
from deeprank_like.targets import capri_class, capri_class_official, compute_docking_scores

DATA = Path(__file__).parents[1] / "data"
DECOY = str(DATA / "pdb" / "1ATN_1w.pdb")
REF = str(DATA / "ref" / "1ATN.pdb")
C8P = str(DATA / "pdb" / "3C8P.pdb")


@pytest.fixture(scope="module")
def decoy_scores():
    return compute_docking_scores(DECOY, REF)


def test_same_values_as_pdb2sql_directly(decoy_scores, tmp_path, monkeypatch):
    """The scores DeepRank2 gets from pdb2sql, to the precision of the PDB coordinates."""
    StructureSimilarity = pytest.importorskip("pdb2sql").StructureSimilarity

    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sim = StructureSimilarity(DECOY, REF, enforce_residue_matching=False)
        lrmsd = sim.compute_lrmsd_fast(method="svd")
        irmsd = sim.compute_irmsd_fast(method="svd")
        fnat = sim.compute_fnat_fast()
    assert decoy_scores["irmsd"] == pytest.approx(irmsd, abs=2e-3)
    assert decoy_scores["lrmsd"] == pytest.approx(lrmsd, abs=2e-3)
    assert decoy_scores["fnat"] == pytest.approx(fnat, abs=1e-6)  # pdb2sql rounds to 1e-6
    expected_dockq = (fnat + 1 / (1 + (lrmsd / 8.5) ** 2) + 1 / (1 + (irmsd / 1.5) ** 2)) / 3
    assert decoy_scores["dockq"] == pytest.approx(expected_dockq, abs=1e-5)
    assert decoy_scores["capri_class"] == 4 and decoy_scores["binary"] is False
    assert decoy_scores["irmsd"] > 4.0


def test_fnat_against_numpy_contacts(decoy_scores):
    """Fnat recomputed from heavy-atom residue contacts (5 Å) of the reference and the decoy."""

    def contacts(path):
        s = load_structure(path)
        heavy = ~s.is_hydrogen & (s.residue_aa[s.residue_index] >= 0)
        a = np.flatnonzero(heavy & (s.chain_ids == "A"))
        b = np.flatnonzero(heavy & (s.chain_ids == "B"))
        close = cdist(s.coords[a], s.coords[b]) <= 5.0
        i, j = np.nonzero(close)
        key = lambda k: (str(s.chain_ids[k]), int(s.res_numbers[k]))  # noqa: E731
        return {(key(a[x]), key(b[y])) for x, y in zip(i, j, strict=True)}

    native = contacts(REF)
    kept = native & contacts(DECOY)
    assert decoy_scores["fnat"] == pytest.approx(len(kept) / len(native), abs=1e-6)


def test_structure_against_itself(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scores = compute_docking_scores(C8P, C8P)
    assert scores == pytest.approx({
        "irmsd": 0.0, "lrmsd": 0.0, "fnat": 1.0, "dockq": 1.0, "capri_class": 1, "binary": True,
    }, abs=1e-9)  # fmt: skip
    assert scores["capri_class"] == 1 and scores["binary"] is True
    assert os.listdir(tmp_path) == []  # no .lzone/.izone in the working directory


def test_decoy_against_itself_with_chain_selection(tmp_path):
    folder = tmp_path / "user"
    folder.mkdir()
    decoy = folder / "1ATN_1w.pdb"
    shutil.copy(DECOY, decoy)
    scores = compute_docking_scores(decoy, decoy, chain_ids=["A", "B"])
    assert scores["irmsd"] == 0.0 and scores["fnat"] == 1.0 and scores["dockq"] == 1.0
    assert os.listdir(folder) == ["1ATN_1w.pdb"]  # nothing written next to the files


def test_capri_classes():
    assert [capri_class(x) for x in (0.0, 0.99, 1.0, 1.99, 2.0, 3.99, 4.0, 10.0)] == [
        1, 1, 2, 2, 3, 3, 4, 4,
    ]  # fmt: skip
    assert capri_class_official(0.6, 0.8, 3.0) == 1
    assert capri_class_official(0.4, 6.0, 1.5) == 2
    assert capri_class_official(0.2, 9.0, 5.0) == 3
    assert capri_class_official(0.05, 0.5, 0.5) == 4


def test_bad_inputs(tmp_path):
    with pytest.raises(StructureError, match="not found"):
        compute_docking_scores(tmp_path / "missing.pdb", REF)
    with pytest.raises(StructureError, match=r"chain\(s\) \['Z'\] not found"):
        compute_docking_scores(C8P, C8P, chain_ids=["A", "Z"])
    with pytest.raises(FeatureError, match="exactly two distinct chains"):
        compute_docking_scores(C8P, C8P, chain_ids=["A"])


def test_docking_module_targets(decoy_scores):
    q = ProteinProteinInterfaceQuery(
        pdb_path=DECOY, chain_ids=["A", "B"], reference_path=REF, influence_radius=5.0
    )
    g = q.build(["docking"])
    for name in ("irmsd", "lrmsd", "fnat", "dockq"):
        assert g.targets[name] == pytest.approx(decoy_scores[name])
    assert g.targets["capri_class"] == 4.0 and g.targets["binary"] == 0.0
    assert all(g.feature_specs[n].kind == "target" for n in ("irmsd", "binary"))


def test_docking_module_unavailable_without_reference():
    q = ProteinProteinInterfaceQuery(pdb_path=C8P, chain_ids=["A", "B"])
    with pytest.raises(FeatureError, match="reference_path is not set"):
        q.build(["docking"])
    q_ref = ProteinProteinInterfaceQuery(pdb_path=C8P, chain_ids=["A", "B"], reference_path=C8P)
    g = q_ref.build(["components", "docking"])
    assert g.targets["dockq"] == 1.0 and g.targets["capri_class"] == 1.0


def test_docking_module_with_chain_groups(tmp_path):
    """Antibody H+L against antigen A (pdb2sql could not do this): a moved antigen."""
    import json

    from deeprank_like.structure.docking_decoys import (
        DecoyPoses,
        read_atom_table,
        write_decoy_pdbs,
    )
    from deeprank_like.targets.dockq import DockQPlan

    data = DATA / "dockq"
    ab = json.loads((data / "reference.json").read_text())["antibody"]
    native = data / ab["model"]
    table = read_atom_table(native)
    antigen = table.chain_ids == "A"
    decoy = ab["decoys"][10]
    poses = DecoyPoses(
        rotations=np.array([decoy["rotation"]]),
        translations=np.array([decoy["translation"]]),
        center=np.array(ab["center"]),
        kinds=np.array([decoy["kind"]]),
        clash_atoms=np.zeros(1, dtype=np.int64),
        contact_atoms=np.zeros(1, dtype=np.int64),
        attempts=1,
    )
    (path,) = write_decoy_pdbs(table, antigen, poses, tmp_path, ["moved"])
    q = ProteinProteinInterfaceQuery(
        pdb_path=str(path), chain_ids=[["H", "L"], "A"], reference_path=str(native)
    )
    g = q.build(["docking"])
    expected = decoy["dockq_package_merged_HL"]
    assert g.targets["dockq"] == pytest.approx(expected["DockQ"], abs=1e-3)
    assert g.targets["fnat"] == pytest.approx(expected["fnat"], abs=1e-6)
    assert g.targets["irmsd"] == pytest.approx(expected["iRMSD"], abs=2e-3)
    direct = DockQPlan(table, table, "H+L,A").score(read_atom_table(path).coords)
    assert g.targets["lrmsd"] == pytest.approx(direct.lrmsd[0], abs=1e-9)
    with pytest.raises(FeatureError, match="exactly two distinct chains"):
        compute_docking_scores(path, native, chain_ids=[["H", "L"], "A", "B"])
    with pytest.raises(FeatureError, match="say which two chain groups"):
        compute_docking_scores(path, native)  # three chains, no groups given
