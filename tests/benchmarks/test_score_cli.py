"""The shipped docking scorer: ``score_models`` and ``deeprank-like score``.

Fixtures (tests/data/score, made by make_fixtures.py from a BM5 complex) imitate models of other
docking programs: CNS/HADDOCK names with hydrogens and no element column, extra chains with
waters, ligand and ion HETATM records and a selenomethionine, mmCIF with other chain names.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from deeprank_like.cli import main
from deeprank_like.errors import QueryError
from deeprank_like.pretrained.docking import (
    DEFAULT_MODEL_DIR,
    dockq_capri_class,
    load_scoring_model,
    parse_sides,
    prepare_model_file,
    score_models,
)
from deeprank_like.structure import load_structure

DATA = Path(__file__).resolve().parents[1] / "data"
SCORE = DATA / "score"
MODEL = SCORE / "2OOB_model.pdb"
SAME_POSE = [
    SCORE / "2OOB_haddock_style.pdb",
    SCORE / "2OOB_extra_chains_hetatm.pdb",
]


def test_shipped_model_loads_with_weights_only():
    state = torch.load(DEFAULT_MODEL_DIR / "weights.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    meta = json.loads((DEFAULT_MODEL_DIR / "model.json").read_text())
    assert meta["format"] == "deeprank_like.pretrained"
    assert meta["output"] == {"target": "dockq", "transform": "sigmoid"}
    model = load_scoring_model()
    assert not model.network.training
    assert (DEFAULT_MODEL_DIR / "MODEL_CARD.md").is_file()


def test_other_program_conventions_give_the_same_score():
    table = score_models([MODEL, *SAME_POSE], "A,B")
    assert (table["error"] == "").all(), table["error"].tolist()
    values = table["predicted_dockq"].to_numpy(dtype=float)
    assert np.all((values > 0) & (values < 1))
    np.testing.assert_allclose(values, values[0], rtol=1e-5)
    renamed = score_models([SCORE / "2OOB_model_RL.cif.gz"], [["R"], ["L"]])
    np.testing.assert_allclose(renamed["predicted_dockq"], values[0], rtol=1e-5)


def test_prepare_model_file_keeps_only_the_two_sides(tmp_path):
    out = tmp_path / "prepared.pdb"
    info = prepare_model_file(SCORE / "2OOB_extra_chains_hetatm.pdb", [["A"], ["B"]], out)
    assert info["other_chains"] > 0 and info["other_residues"] >= 2
    s = load_structure(out)
    assert s.chains == ("A", "B")
    assert not s.is_hydrogen.any()
    assert (s.residue_aa >= 0).all()
    clean = load_structure(MODEL)
    assert s.num_atoms == int((~clean.is_hydrogen).sum())
    info = prepare_model_file(SCORE / "2OOB_haddock_style.pdb", [["A"], ["B"]], out)
    assert info["hydrogens"] > 0
    names = set(load_structure(out).atom_names.tolist())
    assert "OXT" in names and "OT1" not in names and "OT2" not in names


def test_chain_group_is_merged_and_renumbered(tmp_path):
    out = tmp_path / "group.pdb"
    prepare_model_file(DATA / "dockq" / "1igc_HLA.pdb.gz", [["H", "L"], ["A"]], out)
    s = load_structure(out)
    assert s.chains == ("A", "B")
    numbers = s.residue_numbers[s.residue_chain_ids == "A"]
    np.testing.assert_array_equal(numbers, np.arange(1, numbers.size + 1))
    table = score_models([DATA / "dockq" / "1igc_HLA.pdb.gz"], "H+L,A")
    assert table.loc[0, "error"] == "" and table.loc[0, "rank"] == 1


def test_failures_are_rows_ranked_last():
    files = [
        SCORE / "not_a_structure.pdb",
        SCORE / "absent.pdb",
        MODEL,
        SCORE / "2OOB_wrong_site.pdb",
    ]
    table = score_models(files, "A,B")
    assert list(table.columns) == [
        "file",
        "predicted_dockq",
        "predicted_capri_class",
        "rank",
        "error",
    ]
    assert len(table) == 4
    ok = table[table["error"] == ""]
    assert list(ok["rank"]) == [1, 2]
    assert ok["predicted_dockq"].is_monotonic_decreasing
    bad = table.iloc[2:]
    assert bad["rank"].isna().all() and bad["predicted_dockq"].isna().all()
    assert any("not found" in e for e in bad["error"])
    assert all(e for e in bad["error"])


def test_shipped_model_ranks_the_native_pose_above_a_wrong_site():
    # 2OOB is a training complex: a sanity check of the shipped weights, not an evaluation
    table = score_models(
        [SCORE / "2OOB_wrong_site.pdb", MODEL, DATA / "dockq" / "2OOB_target.pdb.gz"], "A,B"
    )
    order = [Path(f).name for f in table["file"]]
    assert order.index("2OOB_wrong_site.pdb") == 2, table


def test_missing_chain_is_a_row_not_a_crash():
    table = score_models([MODEL], "A,C")
    assert "chain(s) ['C'] not found" in table.loc[0, "error"]


def test_parse_sides():
    assert parse_sides("H+L,A") == [["H", "L"], ["A"]]
    assert parse_sides([["H", "L"], "A"]) == [["H", "L"], ["A"]]
    for bad in ("A", "A,B,C", "A,A", "A+,B"):
        with pytest.raises(QueryError):
            parse_sides(bad)


def test_capri_class_from_dockq():
    assert [dockq_capri_class(v) for v in (0.1, 0.23, 0.5, 0.8)] == [
        "incorrect",
        "acceptable",
        "medium",
        "high",
    ]


def test_cli_writes_sorted_csv(tmp_path, capsys):
    out = tmp_path / "scores.csv"
    files = [str(SCORE / "2OOB_wrong_site.pdb"), str(MODEL)]
    assert main(["score", "--ppi", "A,B", "-o", str(out), *files]) == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table["rank"]) == [1, 2]
    assert table["predicted_dockq"].is_monotonic_decreasing
    assert "2 models scored, 0 failed" in capsys.readouterr().out
    assert main(["score", "--ppi", "A,B", "-o", str(out), str(SCORE / "not_a_structure.pdb")]) == 1
    assert main(["score", "--ppi", "A", "-o", str(out), str(MODEL)]) == 2
    assert "exactly two sides" in capsys.readouterr().err
