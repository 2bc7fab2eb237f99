"""The deeprank-like command line: featurize / inspect / merge, help and error conventions."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deeprank_like.cli import main
from deeprank_like.examples import example_path, example_structures
from deeprank_like.storage import list_entries, read_failures

PDB = Path(__file__).parent / "data" / "pdb"


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_subcommands_with_examples(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("featurize", "inspect", "merge"):
        assert name in out
    assert "example:" in out
    for name in ("featurize", "inspect", "merge"):
        with pytest.raises(SystemExit):
            main([name, "--help"])
        text = capsys.readouterr().out
        assert "example:" in text and f"deeprank-like {name}" in text


def test_console_script_runs():
    script = shutil.which("deeprank-like") or str(Path(sys.executable).parent / "deeprank-like")
    if not Path(script).exists():
        pytest.skip("console script not installed (pip install -e .)")
    proc = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "featurize" in proc.stdout


def test_errors_are_one_line_exit_2(capsys, tmp_path):
    code, _, err = run_cli(capsys, "inspect", tmp_path / "missing.hdf5")
    assert code == 2 and err.count("\n") == 1 and "no such file" in err
    code, _, err = run_cli(capsys, "featurize", "-o", tmp_path / "x.hdf5", PDB / "3C8P.pdb")
    assert code == 2 and err.count("\n") == 1 and "--ppi" in err
    code, _, err = run_cli(capsys, "featurize", "--srv", "A-25", PDB / "101M.pdb")
    assert code == 2 and err.count("\n") == 1 and "CHAIN:NUMBER" in err
    with pytest.raises(SystemExit) as exc:
        main(["featurize", "--executor", "threads"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "invalid choice" in err
    bad = tmp_path / "bad.toml"
    bad.write_text('output = "x.hdf5"\nbogus = 1\n[[queries]]\nkind = "ppi"\npdb_path = "a.pdb"\n')
    code, _, err = run_cli(capsys, "featurize", bad)
    assert code == 2 and "unknown key(s) ['bogus']" in err and err.count("\n") == 1


def test_featurize_inspect_merge(capsys, tmp_path):
    out = tmp_path / "ppi.hdf5"
    code, _, err = run_cli(
        capsys,
        "featurize",
        "--ppi",
        "A,B",
        "--executor",
        "serial",
        "-o",
        out,
        *example_structures(),
        PDB / "101M.pdb",
    )
    assert code == 1  # 101M has no chain B: recorded, the others written
    assert "processed 3, failed 1" in err
    assert len(list_entries(out)) == 3
    assert read_failures(out)[0]["stage"] == "build"

    code, text, _ = run_cli(capsys, "inspect", out)
    assert code == 0
    assert "3 entries, 1 failures" in text and "res_type" in text and "kcal/mol" in text
    assert "chain(s) ['B'] not found" in text

    code, text, _ = run_cli(capsys, "inspect", out, "--json")
    report = json.loads(text)
    assert report["entry_count"] == 3 and {f["name"] for f in report["features"]} >= {
        "res_type",
        "distance",
    }
    widths = {f["name"]: f["width"] for f in report["features"]}
    assert widths["res_type"] == 20

    qid = list_entries(out)[0]
    code, text, _ = run_cli(capsys, "inspect", out, "--entry", qid)
    assert code == 0 and "edge_index" in text and "int32" in text

    srv = tmp_path / "srv.hdf5"
    code, _, _ = run_cli(
        capsys,
        "featurize",
        "--srv",
        "A:25:GLY:ALA",
        "--executor",
        "serial",
        "--resolution",
        "atom",
        "--float64",
        "-o",
        srv,
        PDB / "101M.pdb",
    )
    assert code == 0
    merged = tmp_path / "all.hdf5"
    code, text, _ = run_cli(capsys, "merge", "-o", merged, out, srv)
    assert code == 0 and "4 entries" in text
    code, _, err = run_cli(capsys, "merge", "-o", merged, out)
    assert code == 2 and "exists" in err


def test_featurize_config_toml_and_yaml(capsys, tmp_path):
    (tmp_path / "pdb").mkdir()
    for name in ("1ATN_1w", "3C8P"):
        (tmp_path / "pdb" / f"{name}.pdb.gz").write_bytes(example_path(name).read_bytes())
    (tmp_path / "run.toml").write_text(
        """
output = "out/features.hdf5"
feature_modules = ["components"]
resolution = "residue"

[processing]
executor = "serial"
float_dtype = "float64"

[[queries]]
kind = "ppi"
files = "pdb/*.pdb.gz"
chain_ids = ["A", "B"]
targets = { binary = 1 }
"""
    )
    code, _, err = run_cli(capsys, "featurize", tmp_path / "run.toml")
    assert code == 0, err
    out = tmp_path / "out" / "features.hdf5"
    assert sorted(list_entries(out)) == ["residue-ppi:A-B:1ATN_1w", "residue-ppi:A-B:3C8P"]
    (tmp_path / "run.yaml").write_text(
        "output: y.hdf5\nqueries:\n  - kind: ppi\n    pdb_path: pdb/3C8P.pdb.gz\n    chain_ids: [A, B]\n"
    )
    code, _, err = run_cli(
        capsys,
        "featurize",
        "--config",
        tmp_path / "run.yaml",
        "--executor",
        "serial",
        "--shard",
        "0/1",
    )
    assert code == 0, err
    assert list_entries(tmp_path / "y.hdf5") == ["residue-ppi:A-B:3C8P"]
