"""Our vectorised DockQ against the ``DockQ`` package (v2) on 260 decoys of five complexes.

The reference numbers in ``tests/data/dockq/reference.json`` come from
``tools/dockq_reference.py`` (DockQ in its own numpy<2 venv); the decoys are regenerated here from
the stored rigid transforms, so the test needs neither DockQ nor ``../shared``. The decoy files
DockQ read hold coordinates rounded to 1e-3 Å (PDB), so we round the same way.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from deeprank_like.errors import FeatureError
from deeprank_like.structure.docking_decoys import (
    DecoyPoses,
    apply_rigid,
    read_atom_table,
    write_decoy_pdbs,
)
from deeprank_like.targets.dockq import (
    DockQPlan,
    align_sequences,
    capri_class_official,
    dockq_formula,
    dockq_score,
    parse_chain_groups,
)

DATA = Path(__file__).parents[1] / "data" / "dockq"
DOC = json.loads((DATA / "reference.json").read_text())


def _decoy_coords(table, entry) -> np.ndarray:
    """(B, n, 3) coordinates of the decoys of one entry, rounded like the PDB files."""
    moving = np.isin(table.chain_ids, entry["moving_chains"])
    rot = np.array([d["rotation"] for d in entry["decoys"]])
    trans = np.array([d["translation"] for d in entry["decoys"]])
    coords = np.broadcast_to(table.coords, (len(rot), *table.coords.shape)).copy()
    coords[:, moving] = apply_rigid(table.coords[moving], rot, trans, np.array(entry["center"]))
    return np.round(coords, 3)


@pytest.fixture(scope="module")
def ours_vs_dockq():
    out = {}
    for cid, entry in DOC["complexes"].items():
        model = read_atom_table(DATA / entry["model"])
        ref = read_atom_table(DATA / entry["reference"])
        scores = DockQPlan(model, ref, entry["groups"]).score(_decoy_coords(model, entry))
        theirs = {
            k: np.array([d["dockq_package"][k] for d in entry["decoys"]])
            for k in ("DockQ", "fnat", "iRMSD", "LRMSD")
        }
        out[cid] = (scores, theirs)
    return out


def test_dockq_within_001_of_the_dockq_package(ours_vs_dockq):
    n = sum(len(s.dockq) for s, _ in ours_vs_dockq.values())
    assert n >= 200 and len(ours_vs_dockq) >= 4
    all_theirs = np.concatenate([t["DockQ"] for _, t in ours_vs_dockq.values()])
    # the decoys span the whole DockQ range
    assert all_theirs.min() < 0.05 and all_theirs.max() > 0.85
    for cid, (ours, theirs) in ours_vs_dockq.items():
        np.testing.assert_array_less(np.abs(ours.dockq - theirs["DockQ"]), 0.01, err_msg=cid)


def test_components_match_the_dockq_package(ours_vs_dockq):
    for cid, (ours, theirs) in ours_vs_dockq.items():
        np.testing.assert_allclose(ours.fnat, theirs["fnat"], atol=1e-6, err_msg=cid)
        np.testing.assert_allclose(ours.irmsd, theirs["iRMSD"], atol=2e-3, err_msg=cid)
        np.testing.assert_allclose(ours.lrmsd, theirs["LRMSD"], atol=2e-3, err_msg=cid)


def test_receptor_is_the_larger_group():
    # 2OOB: chain A has fewer residues than chain B, so DockQ superposes on B
    entry = DOC["complexes"]["2OOB"]
    model = read_atom_table(DATA / entry["model"])
    ref = read_atom_table(DATA / entry["reference"])
    assert DockQPlan(model, ref, "A,B").receptor_group == 1
    assert DockQPlan(model, ref, "B,A").receptor_group == 0


def test_rigid_path_equals_file_path(tmp_path):
    entry = DOC["complexes"]["2X9A"]
    model = read_atom_table(DATA / entry["model"])
    ref = read_atom_table(DATA / entry["reference"])
    moving = np.isin(model.chain_ids, entry["moving_chains"])
    picks = [0, 5, 30, 50]
    decoys = [entry["decoys"][k] for k in picks]
    poses = DecoyPoses(
        rotations=np.array([d["rotation"] for d in decoys]),
        translations=np.array([d["translation"] for d in decoys]),
        center=np.array(entry["center"]),
        kinds=np.array([d["kind"] for d in decoys]),
        clash_atoms=np.zeros(len(decoys), dtype=np.int64),
        contact_atoms=np.zeros(len(decoys), dtype=np.int64),
        attempts=len(decoys),
    )
    paths = write_decoy_pdbs(model, moving, poses, tmp_path, [d["name"] for d in decoys])
    plan = DockQPlan(model, ref, "A,B")
    rigid = plan.score_rigid(
        model.coords, moving, poses.rotations, poses.translations, poses.center
    )
    for k, path in enumerate(paths):
        from_file = dockq_score(path, DATA / entry["reference"], "A,B")
        assert from_file["dockq"] == pytest.approx(rigid.dockq[k], abs=2e-3)
        assert from_file["irmsd"] == pytest.approx(rigid.irmsd[k], abs=2e-3)
        expected = DOC["complexes"]["2X9A"]["decoys"][picks[k]]["dockq_package"]["DockQ"]
        assert from_file["dockq"] == pytest.approx(expected, abs=1e-3)


def test_chain_groups_match_dockq_on_merged_chains():
    """Antibody H+L against antigen A equals DockQ on the file with L merged into H."""
    ab = DOC["antibody"]
    table = read_atom_table(DATA / ab["model"])
    coords = _decoy_coords(table, ab)
    ours = DockQPlan(table, table, ab["groups"]).score(coords)
    theirs = np.array([d["dockq_package_merged_HL"]["DockQ"] for d in ab["decoys"]])
    assert len(theirs) >= 20 and theirs.min() < 0.5 and theirs.max() > 0.9
    np.testing.assert_allclose(ours.dockq, theirs, atol=1e-3)
    fnat = np.array([d["dockq_package_merged_HL"]["fnat"] for d in ab["decoys"]])
    np.testing.assert_allclose(ours.fnat, fnat, atol=1e-6)

    # and our own two-chain result after renaming L to H gives the same numbers
    merged = table.subset(np.ones(table.num_atoms, dtype=bool))
    chains = merged.chain_ids.copy()
    numbers = merged.res_numbers.copy()
    light = chains == "L"
    chains[light] = "H"
    numbers[light] += 1000
    order = np.argsort(~light, kind="stable")  # L (now H) first, then H, then A
    renamed = type(merged)(
        coords=merged.coords[order],
        chain_ids=chains[order],
        res_numbers=numbers[order],
        icodes=merged.icodes[order],
        res_names=merged.res_names[order],
        atom_names=merged.atom_names[order],
        elements=merged.elements[order],
        is_hetero=merged.is_hetero[order],
        occupancies=merged.occupancies[order],
        b_factors=merged.b_factors[order],
        residue_index=np.zeros(0, dtype=np.int64),
        residue_start=np.zeros(0, dtype=np.int64),
    )
    renamed = renamed.subset(np.ones(renamed.num_atoms, dtype=bool))  # rebuild residues
    two_chain = DockQPlan(renamed, renamed, "H,A").score(coords[:, order])
    np.testing.assert_allclose(two_chain.dockq, ours.dockq, atol=1e-9)


def test_group_default_and_errors():
    entry = DOC["complexes"]["2OOB"]
    model = read_atom_table(DATA / entry["model"])
    ref = read_atom_table(DATA / entry["reference"])
    assert DockQPlan(model, ref).groups == (("A",), ("B",))
    with pytest.raises(FeatureError, match=r"chain\(s\) \['C'\] not found"):
        DockQPlan(model, ref, "A,C")
    ab = read_atom_table(DATA / DOC["antibody"]["model"])
    with pytest.raises(FeatureError, match="say which two chain groups"):
        DockQPlan(ab, ab)
    apart = ref.coords + np.where(ref.chain_ids == "B", 100.0, 0.0)[:, None]
    with pytest.raises(FeatureError, match="no contact"):
        DockQPlan(model, dataclasses.replace(ref, coords=apart))
    with pytest.raises(FeatureError, match="coords must be"):
        DockQPlan(model, ref).score(np.zeros((3, 3)))


def test_parse_chain_groups():
    assert parse_chain_groups("H+L,A") == (("H", "L"), ("A",))
    assert parse_chain_groups([["H", "L"], "A"]) == (("H", "L"), ("A",))
    for bad in ("A", "A,B,C", "A,", "A+B,B"):
        with pytest.raises(FeatureError, match="chain groups"):
            parse_chain_groups(bad)


def test_align_sequences_identity_and_gaps():
    a, b = align_sequences("ACDEFG", "ACDEFG")
    assert a.tolist() == b.tolist() == list(range(6))
    a, b = align_sequences("ACDEFGHIK", "ACDGHIK")  # E, F deleted
    assert a.tolist() == [0, 1, 2, 5, 6, 7, 8] and b.tolist() == list(range(7))
    a, b = align_sequences("MKACDEFGHIK", "ACDEWGHIK")  # N-terminal overhang + a mismatch
    assert a.tolist() == [2, 3, 4, 5, 7, 8, 9, 10]
    assert b.tolist() == [0, 1, 2, 3, 5, 6, 7, 8]


def test_formula_and_capri_class():
    assert dockq_formula(1.0, 0.0, 0.0) == pytest.approx(1.0)
    assert dockq_formula(0.0, 1.5, 8.5) == pytest.approx(1 / 3)
    fnat = np.array([0.6, 0.6, 0.35, 0.15, 0.05, 0.6])
    lrmsd = np.array([0.9, 3.0, 4.0, 9.0, 1.0, 12.0])
    irmsd = np.array([2.0, 1.5, 3.0, 5.0, 0.5, 4.5])
    assert capri_class_official(fnat, lrmsd, irmsd).tolist() == [1, 2, 2, 3, 4, 4]


@pytest.mark.parametrize(
    ("seq_a", "seq_b", "expected_a"),
    [
        # from BM5 1RKE chain B: equal-score gap placements; DockQ (Biopython) keeps the AA pair
        # at 8, 9 (an earlier traceback preferred 7, 8)
        (
            "PVNQPILAAAQSLHREATKWSSKGND",
            "NQPAALHEAKWSSKGND",
            [2, 3, 4, 8, 9, 12, 13, 15, 16, 18, 19, 20, 21, 22, 23, 24, 25],
        ),
        # from BM5 1JTD chain B: a short tail; Biopython matches R at 34 (not 16)
        ("GSRGIIAALGPDGKPSRIVVIYTTGSQATMDERNRQIAEIGASLIKHW", "GIAR", [0, 5, 6, 34]),
    ],
)
def test_alignment_ties_broken_like_biopython(seq_a, seq_b, expected_a):
    """Expected pairs from Biopython's PairwiseAligner with DockQ's scoring (first alignment)."""
    a, b = align_sequences(seq_a, seq_b)
    assert a.tolist() == expected_a
    assert b.tolist() == list(range(len(seq_b)))
