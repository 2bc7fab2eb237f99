"""Queries and targets from tables (CSV/TSV/DataFrame): fields, targets, per-row failures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from deeprank_like import QueryCollection, process
from deeprank_like.query import TableError
from deeprank_like.query.table import parse_chains, parse_residue
from deeprank_like.storage.reader import list_entries, read_failures, read_graph

PDB = Path(__file__).parents[1] / "data" / "pdb"
PSSM = Path(__file__).parents[1] / "data" / "pssm"


@pytest.fixture
def table_dir(tmp_path: Path) -> Path:
    """A folder with pdb/101M.pdb, pdb/3C8P.pdb, pdb/9api.pdb and a PSSM, for relative paths."""
    (tmp_path / "pdb").mkdir()
    for name in ("101M.pdb", "3C8P.pdb", "9api.pdb"):
        shutil.copy(PDB / name, tmp_path / "pdb" / name)
    shutil.copy(PSSM / "101M.A.pdb.pssm", tmp_path / "101M.A.pssm")
    return tmp_path


def _write(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n")
    return path


def test_parse_residue_and_chains():
    assert parse_residue("52A") == (52, "A")
    assert parse_residue(" -3 ") == (-3, "")
    assert parse_residue(25) == (25, "")
    assert parse_residue(25.0) == (25, "")
    for bad in ("x1", "52AB", 25.5, "", True):
        with pytest.raises(ValueError):
            parse_residue(bad)
    assert parse_chains("H+L,A", "ppi") == [["H", "L"], "A"]
    assert parse_chains("A, B", "ppi") == ["A", "B"]
    assert parse_chains("A", "srv") == "A"
    with pytest.raises(ValueError, match="exactly one chain"):
        parse_chains("A,B", "srv")


def test_srv_csv_relative_paths_codes_and_targets(table_dir: Path):
    table = _write(
        table_dir / "variants.csv",
        """
pdb_path,chain,residue,wildtype,variant,ddg,source
pdb/101M.pdb,A,25,GLY,ALA,-1.5,protherm
pdb/101M.pdb,A,25,G,V,0.25,protherm
pdb/101M.pdb,A,24,His,Ala,,s2648
""",
    )
    qc = QueryCollection.from_table(table, missing_targets="omit")
    assert len(qc) == 3 and not qc.failures
    q0, q1, q2 = qc
    assert Path(q0.pdb_path) == table_dir / "pdb" / "101M.pdb"
    assert (q0.wildtype_amino_acid, q0.variant_amino_acid) == ("GLY", "ALA")
    assert (q1.wildtype_amino_acid, q1.variant_amino_acid) == ("GLY", "VAL")
    assert q2.wildtype_amino_acid == "HIS"
    # numeric columns become targets; text columns ('source') do not
    assert q0.targets == {"ddg": -1.5} and q1.targets == {"ddg": 0.25}
    assert q2.targets == {}  # empty cell omitted on request
    assert qc.table_rows == {q0.id: 0, q1.id: 1, q2.id: 2}


def test_every_bad_row_is_a_failure_with_its_row_number(table_dir: Path):
    table = _write(
        table_dir / "variants.csv",
        """
pdb_path,chain,residue,wildtype,variant,ddg
pdb/101M.pdb,A,25,GLY,ALA,1.0
pdb/missing.pdb,A,25,GLY,ALA,1.0
pdb/101M.pdb,A,999,GLY,ALA,1.0
pdb/101M.pdb,A,26,GLY,ALA,1.0
pdb/101M.pdb,A,25,GLY,GLY,1.0
pdb/101M.pdb,A,25,GLY,XYZ,1.0
pdb/101M.pdb,A,25x7,GLY,ALA,1.0
pdb/101M.pdb,Q,25,GLY,ALA,1.0
pdb/101M.pdb,A,25,GLY,TRP,n/a
pdb/101M.pdb,A,25,GLY,TYR,high
pdb/101M.pdb,A,25,GLY,SER,1.0
""",
    )
    qc = QueryCollection.from_table(table, target_columns=["ddg"])
    assert [q.variant_amino_acid for q in qc] == ["ALA", "SER"]
    assert qc.table_rows == {qc[0].id: 0, qc[1].id: 10}
    by_row = {f["row"]: f for f in qc.failures}
    assert sorted(by_row) == list(range(1, 10))
    expected = {
        1: "missing.pdb not found",
        2: "residue A 999 not found",
        3: "wild type GLY does not match residue A 26 GLN",
        4: "equals",  # variant equal to wild type
        5: "unknown amino acid 'XYZ'",
        6: "'25x7' is not a residue number",
        7: "chain 'Q' not found",
        8: "is empty",
        9: "not a number: 'high'",
    }
    for row, text in expected.items():
        assert text in by_row[row]["message"], (row, by_row[row])
        assert by_row[row]["query_id"] == f"variants.csv:row {row}"
        assert by_row[row]["stage"] == "query"


def test_failures_reach_the_failure_table_and_summary(table_dir: Path):
    df = pd.DataFrame(
        {
            "pdb_path": ["pdb/101M.pdb", "pdb/101M.pdb", "pdb/101M.pdb"],
            "chain_ids": ["A", "A", "A"],
            "residue": ["25", "25", "26"],
            "wildtype_amino_acid": ["G", "G", "G"],
            "variant_amino_acid": ["A", "W", "A"],
            "ddg": [1.0, -0.5, 2.0],
        }
    )
    qc = QueryCollection.from_table(df, base_dir=table_dir)
    summary = process(qc, prefix=table_dir / "out", executor="serial", verbose=False)
    assert summary.processed == 2 and summary.failed == 1 and summary.total == 3
    failures = read_failures(summary.output)
    assert [f["query_id"] for f in failures] == ["table:row 2"]
    assert "wild type GLY does not match" in failures[0]["message"]
    entries = list_entries(summary.output)
    assert len(entries) == 2
    targets = sorted(read_graph(summary.output, e).targets["ddg"] for e in entries)
    assert targets == [-0.5, 1.0]


def test_all_rows_failing_still_writes_the_failure_table(table_dir: Path):
    df = pd.DataFrame({"pdb_path": ["nope.pdb"], "chains": ["A,B"]})
    qc = QueryCollection.from_table(df, base_dir=table_dir)
    assert len(qc) == 0 and len(qc.failures) == 1
    summary = process(qc, prefix=table_dir / "out", executor="serial", verbose=False)
    assert summary.failed == 1 and summary.processed == 0
    assert read_failures(summary.output)[0]["query_id"] == "table:row 0"


def test_on_error_raise_stops_at_a_bad_row(table_dir: Path):
    df = pd.DataFrame({"pdb_path": ["nope.pdb"], "chains": ["A,B"]})
    qc = QueryCollection.from_table(df, base_dir=table_dir)
    with pytest.raises(Exception, match="table:row 0"):
        process(qc, prefix=table_dir / "out", executor="serial", on_error="raise", verbose=False)


def test_ppi_tsv_with_groups_kind_column_pssm_and_user_columns(table_dir: Path):
    table = _write(
        table_dir / "mixed.tsv",
        """
Structure\tWhich\tPartners\tPos\tFrom\tTo\tDockQ\tPSSM A\tlabel
pdb/3C8P.pdb\tppi\tA,B\t\t\t\t0.8\t\t1
pdb/9api.pdb\tppi\tA+B,C\t\t\t\t0.3\t\t0
pdb/101M.pdb\tsrv\tA\t25\tGly\tAla\t\t101M.A.pssm\t1
pdb/3C8P.pdb\tppi\tA,A\t\t\t\t0.1\t\t0
""",
    )
    qc = QueryCollection.from_table(
        table,
        columns={
            "Structure": "pdb_path",
            "Which": "kind",
            "Partners": "chains",
            "Pos": "residue",
            "From": "wildtype",
            "To": "variant",
            "PSSM A": "pssm_A",
        },
        target_columns={"DockQ": "dockq", "label": "binary"},
        missing_targets="omit",
        resolution="atom",
    )
    assert [q.kind for q in qc] == ["ppi", "ppi", "srv"]
    assert qc[1].chain_ids == [["A", "B"], "C"]
    assert qc[1].get_query_id() == "atom-ppi:A+B-C:9api"
    assert qc[0].targets == {"dockq": 0.8, "binary": 1.0}
    assert qc[2].targets == {"binary": 1.0}
    assert qc[2].pssm_paths == {"A": str(table_dir / "101M.A.pssm")}
    assert all(q.resolution == "atom" for q in qc)
    (failure,) = qc.failures
    assert failure["row"] == 3 and "more than one side" in failure["message"]


def test_pssm_paths_column_and_row_values_override_defaults(table_dir: Path):
    df = pd.DataFrame(
        {
            "pdb": ["pdb/101M.pdb"],
            "chain": ["A"],
            "residue_number": [25],
            "wt": ["G"],
            "mut": ["A"],
            "pssm_paths": ["A=101M.A.pssm"],
            "influence_radius": ["6.5"],
        }
    )
    (q,) = QueryCollection.from_table(df, base_dir=table_dir, influence_radius=9.0)
    assert q.influence_radius == 6.5
    assert q.pssm_paths == {"A": str(table_dir / "101M.A.pssm")}
    assert q.targets == {}  # influence_radius is a field, not a target


def test_missing_pssm_file_is_a_row_failure(table_dir: Path):
    df = pd.DataFrame(
        {"pdb_path": ["pdb/101M.pdb"], "chain": ["A"], "residue": [25], "wt": ["G"], "mut": ["A"]}
    )
    df["pssm_A"] = ["none.pssm"]
    qc = QueryCollection.from_table(df, base_dir=table_dir)
    assert len(qc) == 0 and "PSSM file of chain A not found" in qc.failures[0]["message"]


def test_table_level_problems_raise(table_dir: Path):
    with pytest.raises(TableError, match="no such table file"):
        QueryCollection.from_table(table_dir / "absent.csv")
    with pytest.raises(TableError, match="no structure column"):
        QueryCollection.from_table(pd.DataFrame({"file": ["x.pdb"], "chains": ["A,B"]}))
    df = pd.DataFrame({"pdb_path": ["x.pdb"], "chains": ["A,B"]})
    with pytest.raises(TableError, match=r"target column\(s\) \['dg'\]"):
        QueryCollection.from_table(df, target_columns=["dg"])
    with pytest.raises(TableError, match="mapped column 'PDB'"):
        QueryCollection.from_table(df, columns={"PDB": "pdb_path"})
    with pytest.raises(TableError, match="unknown field 'bogus'"):
        QueryCollection.from_table(df, columns={"chains": "bogus"})
    with pytest.raises(TypeError, match=r"unknown query field\(s\) \['resoluton'\]"):
        QueryCollection.from_table(df, resoluton="atom")


def test_chain_named_like_a_number_stays_text(table_dir: Path):
    shutil.copy(PDB / "3C8P.pdb", table_dir / "x.pdb")
    text = (table_dir / "x.pdb").read_text().replace(" A ", " 1 ", -1)
    (table_dir / "x.pdb").write_text(text)
    table = _write(table_dir / "t.csv", 'pdb_path,chains\nx.pdb,"1,B"')
    qc = QueryCollection.from_table(table)
    assert not qc.failures, qc.failures
    assert qc[0].chain_ids == ["1", "B"]


def test_integer_target_columns_stay_integers(table_dir: Path):
    df = pd.DataFrame(
        {"pdb_path": ["pdb/3C8P.pdb"], "chains": ["A,B"], "binary": [1], "dockq": [0.5]}
    )
    (q,) = QueryCollection.from_table(df, base_dir=table_dir)
    assert q.targets == {"binary": 1, "dockq": 0.5}
    assert isinstance(q.targets["binary"], int) and isinstance(q.targets["dockq"], float)
    table = _write(table_dir / "t.csv.gz", "")
    import gzip

    table.write_bytes(
        gzip.compress(b'pdb_path,chains,capri_class,irmsd\npdb/3C8P.pdb,"A,B",2,1.5\n')
    )
    (q,) = QueryCollection.from_table(table)
    assert q.targets == {"capri_class": 2, "irmsd": 1.5}
    assert isinstance(q.targets["capri_class"], int)


def test_featurize_table_on_the_command_line(table_dir: Path, capsys):
    from deeprank_like.cli import main

    table = _write(
        table_dir / "v.csv",
        """
PDB,chain,Mutation pos,wt,mut,ddg,comment
pdb/101M.pdb,A,25,G,A,-1.0,ok
pdb/101M.pdb,A,25,G,X,-1.0,bad code
""",
    )
    out = table_dir / "v.hdf5"
    argv = ["featurize", "--table", str(table), "--executor", "serial", "-o", str(out)]
    argv += [
        "--column",
        "PDB=pdb_path",
        "--column",
        "Mutation pos=residue",
        "--modules",
        "components",
    ]
    assert main(argv) == 1, capsys.readouterr().err
    assert list_entries(out) == ["residue-srv:A:25:Glycine->Alanine:101M"]
    assert read_graph(out, list_entries(out)[0]).targets == {"ddg": -1.0}
    (failure,) = read_failures(out)
    assert failure["query_id"] == "v.csv:row 1" and "'X'" in failure["message"]
    # table flags without --table, and structures with --table, are usage errors
    assert main(["featurize", "--kind", "srv", "-o", str(out), str(table)]) == 2
    assert "--kind go with --table" in capsys.readouterr().err
    assert main(["featurize", "--table", str(table), "--ppi", "A,B", str(PDB / "3C8P.pdb")]) == 2
    assert main([*argv, "--target-columns", "none", "--overwrite"]) == 1
    assert read_graph(out, list_entries(out)[0]).targets == {}
