"""`secondary_structure` (pydssp) against DSSP output files shipped with DeepRank2's tests."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import gemmi
import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery
from deeprank_like.features.secondary_structure import (
    COIL,
    HELIX,
    STRAND,
    secondary_structure,
)
from deeprank_like.structure import load_structure
from deeprank_like.testing import random_rotation, transformed_structure

DATA = Path(__file__).parents[1] / "data"

_STATE = {**dict.fromkeys("GHI", HELIX), **dict.fromkeys("BE", STRAND)}


def parse_dssp(path: Path) -> dict[tuple[str, int, str], int]:
    """3-state assignment of a DSSP output file, keyed by (chain, number, insertion code)."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  #  RESIDUE")) + 1
    out = {}
    for line in lines[start:]:
        if line[13] == "!":  # chain break marker
            continue
        key = (line[11], int(line[5:10]), line[10].strip())
        out[key] = _STATE.get(line[16], COIL)
    return out


def _keys(s):
    return [
        (str(c), int(n), str(i))
        for c, n, i in zip(s.residue_chain_ids, s.residue_numbers, s.residue_icodes, strict=True)
    ]


@pytest.mark.parametrize(("name", "minimum"), [("1ak4", 0.96), ("9api", 0.96)])
def test_agreement_with_dssp(name, minimum):
    s = load_structure(DATA / "pdb" / f"{name}.pdb")
    ref = parse_dssp(DATA / "dssp" / f"{name}.dssp.txt")
    ours = secondary_structure(s)
    pairs = [(ref[k], ours[i]) for i, k in enumerate(_keys(s)) if k in ref]
    assert len(pairs) == len(ref)  # every DSSP residue found in the structure
    agreement = np.mean([a == b for a, b in pairs])
    assert agreement >= minimum, f"{name}: {agreement:.3f}"
    # all three states occur in both
    assert {a for a, _ in pairs} == {b for _, b in pairs} == {HELIX, STRAND, COIL}


@pytest.mark.parametrize("resolution", ["residue", "atom"])
def test_module_one_hot_on_nodes(resolution):
    q = ProteinProteinInterfaceQuery(
        pdb_path=str(DATA / "pdb" / "1ak4.pdb"), chain_ids=["C", "D"], resolution=resolution
    )
    g = q.build(["secondary_structure"])
    onehot = g.node_features["sec_struct"]
    assert onehot.shape == (g.num_nodes, 3)
    np.testing.assert_array_equal(onehot.sum(axis=1), 1.0)
    ss = secondary_structure(load_structure(q.pdb_path))
    np.testing.assert_array_equal(onehot.argmax(axis=1), ss[g.residue_index])


def test_residue_missing_backbone_atom_is_coil_and_others_unchanged():
    s = load_structure(DATA / "pdb" / "1ak4.pdb")
    ss = secondary_structure(s)
    # a residue in the middle of a helix loses its carbonyl O
    helix = np.flatnonzero(ss == HELIX)
    target = helix[len(helix) // 2]
    names = s.atom_names.copy()
    lo, hi = s.residue_atom_start[target], s.residue_atom_start[target + 1]
    names[lo:hi][names[lo:hi] == "O"] = "OX"
    broken = dataclasses.replace(s, atom_names=names, _cache={})
    ss2 = secondary_structure(broken)
    assert ss2[target] == COIL
    far = np.abs(np.arange(s.num_residues) - target) > 6
    assert np.mean(ss2[far] == ss[far]) > 0.99


def test_chain_gap_is_handled(tmp_path):
    # remove three residues of a strand: the chain is split there (no amide H placed from a
    # carbonyl across the gap) and the rest of the assignment stays as it was
    s = load_structure(DATA / "pdb" / "9api.pdb")
    ss = secondary_structure(s)
    strand = np.flatnonzero(ss == STRAND)
    cut = strand[len(strand) // 2]
    keep_res = np.ones(s.num_residues, dtype=bool)
    keep_res[cut : cut + 3] = False
    keep = keep_res[s.residue_index]
    st = gemmi.read_structure(str(DATA / "pdb" / "9api.pdb"))
    removed = {
        (str(s.residue_chain_ids[r]), int(s.residue_numbers[r])) for r in range(cut, cut + 3)
    }
    for chain in st[0]:
        for i in reversed(range(len(chain))):
            if (chain.name, chain[i].seqid.num) in removed:
                del chain[i]
    st.write_pdb(str(tmp_path / "gapped.pdb"))
    gapped = load_structure(tmp_path / "gapped.pdb")
    ss_gap = secondary_structure(gapped)
    assert gapped.num_residues == s.num_residues - 3
    assert keep.sum() == gapped.num_atoms
    np.testing.assert_array_equal(gapped.residue_numbers, s.residue_numbers[keep_res])
    assert np.mean(ss_gap == ss[keep_res]) > 0.97


def test_rotation_invariance():
    s = load_structure(DATA / "pdb" / "1ak4.pdb")
    moved = transformed_structure(s, random_rotation(3), [10.0, -4.0, 2.5])
    diff = secondary_structure(s) != secondary_structure(moved)
    assert diff.sum() <= 1  # floating-point ties at the H-bond energy cut-off at most


def test_user_file_not_rewritten(tmp_path):
    path = tmp_path / "1ak4.pdb"
    shutil.copy(DATA / "pdb" / "1ak4.pdb", path)
    before = path.read_bytes()
    q = ProteinProteinInterfaceQuery(pdb_path=str(path), chain_ids=["C", "D"])
    q.build(["secondary_structure"])
    assert path.read_bytes() == before  # DeepRank2 prepends HEADER/CRYST1 lines here
    assert [p.name for p in tmp_path.iterdir()] == ["1ak4.pdb"]


@pytest.mark.parametrize("name", ["1ATN_1w.pdb", "9api.pdb", "2sni.pdb.gz", "101M.pdb"])
def test_restricted_run_equals_whole_model_run(name):
    """pydssp on the needed residues plus their context gives the whole-model states exactly."""
    path = Path(__file__).resolve().parents[1] / "data" / "pdb" / name
    full = secondary_structure(load_structure(path))
    s = load_structure(path)
    centers = s.residue_centers()
    rng = np.random.default_rng(7)
    for trial in range(12):
        fresh = load_structure(path)  # nothing memoised: every trial runs a restricted pydssp
        if trial % 2:  # a compact patch, like a graph
            c = rng.integers(s.num_residues)
            sub = np.flatnonzero(np.linalg.norm(centers - centers[c], axis=1) < rng.uniform(5, 15))
        else:  # scattered residues
            sub = np.unique(rng.integers(0, s.num_residues, rng.integers(1, 12)))
        np.testing.assert_array_equal(secondary_structure(fresh, sub), full[sub], err_msg=f"{sub}")
        setup = fresh._cache["_sec_struct_setup"]
        if trial == 1 and name == "1ATN_1w.pdb":  # the restriction did happen
            assert (setup["values"] < 0).any()


def test_restricted_context_is_smaller_than_the_model():
    from deeprank_like.features.secondary_structure import _context, _setup

    s = load_structure(Path(__file__).resolve().parents[1] / "data" / "pdb" / "1ATN_1w.pdb")
    setup = _setup(s)
    target = setup["res"].size // 3
    sub = _context(setup["xyz"], np.array([target]))
    assert {target - 8, target, target + 8} <= set(sub.tolist())
    assert sub.size < setup["res"].size // 3


@pytest.mark.parametrize("name", ["1ATN_1w.pdb", "9api.pdb", "1ak4.pdb", "3C8P.pdb"])
def test_sparse_assignment_equals_pydssp(name):
    """The sparse re-evaluation of pydssp's rules gives pydssp's states, also on distorted input."""
    from deeprank_like.features.secondary_structure import _assign, _assign_pydssp, _setup

    s = load_structure(Path(__file__).resolve().parents[1] / "data" / "pdb" / name)
    setup = _setup(s)
    rng = np.random.default_rng(3)
    for block in setup["blocks"]:
        xyz = setup["xyz"][block]
        donor = setup["donor"][block].copy()
        donor[0] = False
        for noise in (0.0, 0.4, 1.2):
            x = xyz + rng.normal(0.0, noise, xyz.shape)
            d = donor & (rng.random(donor.size) > (0.2 if noise else 0.0))
            expected = _assign_pydssp(x, d)
            assert len(set(expected.tolist())) > 1 or noise > 1
            np.testing.assert_array_equal(_assign(x, d), expected)
