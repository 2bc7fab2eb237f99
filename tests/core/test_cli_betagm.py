"""``deeprank-like betagm``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from deeprank_like.cli import main
from deeprank_like.enm import betagm_eigenvalues

PDB = Path(__file__).parents[1] / "data" / "pdb"


def test_betagm_json_matches_api(capsys):
    assert main(["betagm", str(PDB / "3C8P.pdb"), "--chains", "A", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    expected = betagm_eigenvalues(str(PDB / "3C8P.pdb"), chain_ids=["A"])
    np.testing.assert_allclose(out["eigenvalues"], expected)
    assert out["n_zero_modes"] == 6 and out["first_index"] == 7


def test_betagm_table_and_errors(capsys):
    assert main(["betagm", str(PDB / "3C8P.pdb"), "--chains", "B", "--n", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(":")[0] for ln in lines[1:]] == ["lambda_7", "lambda_8", "lambda_9"]
    assert main(["betagm", "missing.pdb"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "missing.pdb" in err[0]
    assert main(["betagm", str(PDB / "3C8P.pdb"), "--cutoff", "3"]) == 2
    assert "zero modes" in capsys.readouterr().err
