"""Command-line gaps of issue 16 (item 3): PSSMs and models for ``featurize``; ``betagm`` options.

``featurize --pssm CHAIN=FILE`` / ``--pssm-dir DIR [--pssm-pattern]`` / ``--model N`` and
``betagm --gap-distance`` / ``--chain-breaks`` / ``--model``, with a chain-break error that names
the chain and residue numbers.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gemmi
import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery
from deeprank_like.cli import main
from deeprank_like.enm import betagm_eigenvalues
from deeprank_like.storage import list_entries, read_graph
from deeprank_like.storage.reader import read_failures
from deeprank_like.structure import load_structure

DATA = Path(__file__).parent / "data"
PDB = DATA / "pdb" / "3C8P.pdb"
PSSM = {c: DATA / "pssm" / f"3C8P.{c}.pdb.pssm" for c in "AB"}
FAST = ["--executor", "serial", "--modules", "all"]


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    """3C8P with a second model: the first one with every atom moved by ~0.1 Å (seeded)."""
    st = gemmi.read_structure(str(PDB))
    st.add_model(st[0])
    rng = np.random.default_rng(0)
    for chain in st[1]:
        for residue in chain:
            for atom in residue:
                d = rng.normal(scale=0.1, size=3)
                atom.pos = gemmi.Position(atom.pos.x + d[0], atom.pos.y + d[1], atom.pos.z + d[2])
    st[1].num = 2
    path = tmp_path_factory.mktemp("models") / "3C8P_two.pdb"
    st.write_pdb(str(path))
    return path


def _only_graph(path):
    (entry,) = list_entries(path)
    return read_graph(path, entry)


def test_featurize_pssm_per_chain(tmp_path):
    out = tmp_path / "f.hdf5"
    args = ["featurize", "--ppi", "A,B", *FAST, "-o", str(out), str(PDB)]
    assert main([*args, "--pssm", f"A={PSSM['A']}", "--pssm", f"B={PSSM['B']}"]) == 0
    graph = _only_graph(out)
    assert graph.node_features["pssm"].shape == (graph.num_nodes, 20)
    assert graph.metadata["query"]["pssm_paths"] == {c: str(p) for c, p in PSSM.items()}


def test_featurize_pssm_dir_with_pattern(tmp_path):
    folder = tmp_path / "pssm"
    folder.mkdir()
    for chain, path in PSSM.items():
        shutil.copy(path, folder / f"3C8P.{chain}.pdb.pssm")  # the default pattern
    out = tmp_path / "f.hdf5"
    base = ["featurize", "--ppi", "A,B", *FAST, "--pssm-dir", str(folder)]
    assert main([*base, "-o", str(out), str(PDB)]) == 0
    assert "pssm" in _only_graph(out).node_features
    # another pattern: decoys named differently use the PSSMs of their native
    renamed = tmp_path / "decoy_7.pdb"
    shutil.copy(PDB, renamed)
    out2 = tmp_path / "g.hdf5"
    pattern = ["--pssm-pattern", "3C8P.{chain}.pdb.pssm"]
    assert main([*base, *pattern, "-o", str(out2), str(renamed)]) == 0
    assert "pssm" in _only_graph(out2).node_features


def test_featurize_pssm_dir_missing_chain_fails_that_query(tmp_path, capsys):
    folder = tmp_path / "pssm"
    folder.mkdir()
    shutil.copy(PSSM["A"], folder / "3C8P.A.pdb.pssm")
    out = tmp_path / "f.hdf5"
    args = ["featurize", "--ppi", "A,B", *FAST, "--pssm-dir", str(folder), "-o", str(out)]
    assert main([*args, str(PDB)]) == 1
    (failure,) = read_failures(out)
    assert "no PSSM file for chain(s) B" in failure["message"]
    assert str(folder / "3C8P.B.pdb.pssm") in failure["message"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--pssm", "A"], "--pssm must look like CHAIN=FILE"),
        (["--pssm", "A=missing.pssm"], "no such file missing.pssm"),
        (["--pssm-dir", "nowhere"], "--pssm-dir nowhere: no such folder"),
        (["--pssm-pattern", "{pdb}.pssm"], "--pssm-pattern goes with --pssm-dir"),
        (["--pssm-dir", ".", "--pssm-pattern", "{pdb}.pssm"], "must contain {chain}"),
        (["--model", "-1"], "--model must be >= 0"),
    ],
)
def test_featurize_bad_options_are_one_line_errors(tmp_path, capsys, extra, message):
    args = ["featurize", "--ppi", "A,B", "-o", str(tmp_path / "f.hdf5"), *extra, str(PDB)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]
    assert not (tmp_path / "f.hdf5").exists()


def test_featurize_model(tmp_path, two_models):
    base = ["featurize", "--ppi", "A,B", "--executor", "serial"]
    assert main([*base, "-o", str(tmp_path / "m0.hdf5"), str(two_models)]) == 0
    assert main([*base, "--model", "1", "-o", str(tmp_path / "m1.hdf5"), str(two_models)]) == 0
    g0, g1 = _only_graph(tmp_path / "m0.hdf5"), _only_graph(tmp_path / "m1.hdf5")
    assert g1.metadata["query"]["model"] == 1
    api = ProteinProteinInterfaceQuery(pdb_path=str(two_models), chain_ids=["A", "B"], model=1)
    np.testing.assert_allclose(g1.positions, api.build().positions, atol=1e-4)
    assert not np.allclose(g0.positions, g1.positions, atol=0.05)
    assert main([*base, "--model", "5", "-o", str(tmp_path / "m5.hdf5"), str(two_models)]) == 1
    assert "model 5" in read_failures(tmp_path / "m5.hdf5")[0]["message"]


def test_betagm_chain_break_names_chain_and_residues(capsys):
    decoy = DATA / "pdb" / "1ATN_1w.pdb"  # chain B: Cα 101 to 104 is 4.66 Å
    assert main(["betagm", str(decoy), "--chains", "B"]) == 2
    err = capsys.readouterr().err
    assert "chain B residues 101-104 (4.66 Å)" in err and "--chain-breaks split" in err
    assert "residue indices" not in err
    assert main(["betagm", str(decoy), "--chains", "B", "--gap-distance", "5", "--json"]) == 0
    lenient = json.loads(capsys.readouterr().out)
    assert lenient["config"]["gap_distance"] == 5.0
    assert main(["betagm", str(decoy), "-c", "B", "--chain-breaks", "split", "--json"]) == 0
    split = json.loads(capsys.readouterr().out)
    assert split["config"]["chain_breaks"] == "split" and split["chains"] == ["B"]
    # split: no bonded spring across the gap, so the spectrum differs from the bridged one
    assert not np.allclose(split["eigenvalues"], lenient["eigenvalues"])


def test_betagm_model(capsys, two_models):
    assert main(["betagm", str(two_models), "--chains", "A", "--model", "1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["model"] == 1
    expected = betagm_eigenvalues(load_structure(two_models, model=1), chain_ids="A")
    np.testing.assert_allclose(out["eigenvalues"], expected)
    first = betagm_eigenvalues(load_structure(two_models, model=0), chain_ids="A")
    assert not np.allclose(out["eigenvalues"], first)
    assert main(["betagm", str(two_models), "--model", "2"]) == 2
    assert "model 2 requested but the file has 2 model(s)" in capsys.readouterr().err
