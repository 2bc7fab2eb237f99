"""`pretrained.ddg.variant_queries` on top of `QueryCollection.from_table`: rows, targets, every failure category."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deeprank_like.errors import DeeprankLikeError
from deeprank_like.pretrained.ddg import variant_queries

PDB = Path(__file__).parents[1] / "data" / "pdb" / "101M.pdb"

ROWS = [  # (pdb_path, chain, residue, wildtype, variant, ddg, expected category or "")
    ("101M.pdb", "A", "10", "V", "A", 1.0, ""),
    ("101M.pdb", "A", "10", "VAL", "ASP", -0.5, ""),
    ("101M.pdb", "A", "10", "V", "V", 1.0, "variant equals wild type"),
    ("101M.pdb", "B", "10", "V", "A", 1.0, "chain not found"),
    ("101M.pdb", "", "10", "V", "A", 1.0, "chain not found"),
    ("101M.pdb", "A", "9999", "V", "A", 1.0, "residue not found"),
    ("101M.pdb", "A", "10", "L", "A", 1.0, "wild type mismatch"),
    ("101M.pdb", "A", "x10", "V", "A", 1.0, "bad residue"),
    ("101M.pdb", "A", "10", "V", "Q9", 1.0, "unknown amino-acid code"),
    ("nope.pdb", "A", "10", "V", "A", 1.0, "missing structure"),
    ("", "A", "10", "V", "A", 1.0, "missing structure"),
    ("bad.pdb", "A", "10", "V", "A", 1.0, "unreadable structure"),
    ("101M.pdb", "A", "155", "H", "A", 1.0, "non-standard residue"),  # the haem
    ("101M.pdb", "A", "10", "V", "A", np.nan, "missing target"),
    ("101M.pdb", "A", "25", "G", "A", 0.25, ""),
]


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> tuple[pd.DataFrame, Path]:
    folder = tmp_path_factory.mktemp("variants")
    shutil.copy(PDB, folder / "101M.pdb")
    (folder / "bad.pdb").write_text("REMARK not a structure\n")
    frame = pd.DataFrame(
        [r[:6] for r in ROWS],
        columns=["pdb_path", "chain", "residue", "wildtype", "variant", "ddg"],
        index=[f"r{i}" for i in range(len(ROWS))],
    ).assign(note="ignored")
    return frame, folder


def test_every_failure_has_its_category_and_rows_keep_the_table_index(table):
    frame, folder = table
    made = variant_queries(frame, base_dir=folder, targets={"ddg": "ddg"})
    expected = {f"r{i}": r[6] for i, r in enumerate(ROWS)}
    assert made.rows == [k for k, v in expected.items() if v == ""]
    got = dict(zip(made.failures["row"], made.failures["reason"], strict=True))
    assert {k: v.split(":")[0] for k, v in got.items()} == {k: v for k, v in expected.items() if v}
    assert made.reasons()["chain not found"] == 2 and made.reasons()["missing structure"] == 2
    assert [q.targets for q in made.queries] == [{"ddg": 1.0}, {"ddg": -0.5}, {"ddg": 0.25}]
    q = made.queries[1]
    assert (q.chain_ids, q.variant_residue_number, q.wildtype_amino_acid) == ("A", 10, "VAL")
    assert q.variant_amino_acid == "ASP" and Path(q.pdb_path) == folder / "101M.pdb"


def test_without_targets_other_columns_are_ignored_and_kwargs_reach_the_queries(table):
    frame, folder = table
    made = variant_queries(frame, base_dir=folder, resolution="atom")
    assert "r13" in made.rows  # no target asked: an empty ddg cell is fine
    assert all(q.resolution == "atom" and q.targets == {} for q in made.queries)


def test_repeated_rows_get_renamed_copies(table):
    frame, folder = table
    made = variant_queries(pd.concat([frame.iloc[:1], frame.iloc[:1]]), base_dir=folder)
    assert [q.model_id for q in made.queries] == ["101M", "101M_2"]


def test_missing_columns_are_named():
    with pytest.raises(DeeprankLikeError, match=r"lacks column\(s\) \['variant'\]"):
        variant_queries(pd.DataFrame(columns=["pdb_path", "chain", "residue", "wildtype"]))


def test_rows_without_a_target_report_their_structural_error_first(table):
    """Regression: an empty target cell hid the real fault (all three read 'missing target')."""
    folder = table[1]
    bad = pd.DataFrame(
        [
            ("101M.pdb", "A", "10", "L", "A", np.nan),  # wild type is VAL
            ("101M.pdb", "A", "9999", "V", "A", np.nan),  # no such residue
            ("nope.pdb", "A", "10", "V", "A", np.nan),  # no such file
            ("101M.pdb", "A", "10", "V", "A", np.nan),  # a good query: the target is the fault
        ],
        columns=["pdb_path", "chain", "residue", "wildtype", "variant", "ddg"],
    )
    made = variant_queries(bad, base_dir=folder, targets={"ddg": "ddg"})
    assert made.rows == [] and made.queries == []
    got = [r.split(":")[0] for r in made.failures.sort_values("row")["reason"]]
    assert got == ["wild type mismatch", "residue not found", "missing structure", "missing target"]
    # Without targets (prediction) the empty column is no fault at all.
    made = variant_queries(bad, base_dir=folder)
    assert made.rows == [3]
    assert sorted(r.split(":")[0] for r in made.failures["reason"]) == [
        "missing structure",
        "residue not found",
        "wild type mismatch",
    ]
    # missing_targets="omit" keeps the row, without the target.
    made = variant_queries(bad, base_dir=folder, targets={"ddg": "ddg"}, missing_targets="omit")
    assert made.rows == [3] and made.queries[0].targets == {}
