"""Config files: per-query problems are failures of that query, run-level problems stop the run
with a message naming the key; tables in configs; CLI errors name --resume/--overwrite."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from deeprank_like.cli import main
from deeprank_like.processing.config import ConfigError, build_collection, run_config
from deeprank_like.storage.reader import list_entries, read_failures, read_graph

PDB = Path(__file__).parents[1] / "data" / "pdb"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for name in ("101M.pdb", "3C8P.pdb"):
        shutil.copy(PDB / name, tmp_path / name)
    return tmp_path


def _toml(folder: Path, text: str, name: str = "run.toml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


BAD_QUERIES = """
output = "out.hdf5"
feature_modules = ["components"]

[processing]
executor = "serial"
verbose = false

[[queries]]
kind = "ppi"
pdb_path = "3C8P.pdb"
chain_ids = ["A", "A"]

[[queries]]
kind = "srv"
pdb_path = "101M.pdb"
chain_ids = "A"
variant_residue_number = 25
wildtype_amino_acid = "GLY"
variant_amino_acid = "XYZ"

[[queries]]
kind = "srv"
pdb_path = "101M.pdb"
chain_ids = "A"
variant_residue_number = 25
wildtype_amino_acid = "GLY"
variant_amino_acid = "GLY"

[[queries]]
kind = "ppi"
pdb_path = "3C8P.pdb"
chain_ids = ["A", "B"]
"""


def test_bad_queries_in_a_config_fail_alone(folder: Path):
    """Issue 11 item 8: same chain on both sides / unknown code no longer refuse the run."""
    summary = run_config(_toml(folder, BAD_QUERIES))
    assert summary.processed == 1 and summary.failed == 3 and summary.total == 4
    assert list_entries(summary.output) == ["residue-ppi:A-B:3C8P"]
    failures = {f["query_id"]: f for f in read_failures(summary.output)}
    assert len(failures) == 3
    messages = " | ".join(f["message"] for f in failures.values())
    assert "more than one side" in messages
    assert "unknown amino acid 'XYZ'" in messages
    assert "equals" in messages  # variant equal to wild type
    assert {f["stage"] for f in failures.values()} == {"query"}


def test_bad_queries_in_a_config_exit_1_on_the_command_line(folder: Path, capsys):
    code = main(["featurize", str(_toml(folder, BAD_QUERIES))])
    assert code == 1, capsys.readouterr().err
    assert list_entries(folder / "out.hdf5") == ["residue-ppi:A-B:3C8P"]


def test_bad_queries_on_the_command_line_fail_alone(folder: Path, capsys):
    out = folder / "cli.hdf5"
    argv = ["featurize", "--executor", "serial", "-o", str(out), str(folder / "3C8P.pdb")]
    code = main([*argv, "--ppi", "A,A", "--ppi", "A,B", "--srv", "A:1:LYS:XYZ"])
    assert code == 1, capsys.readouterr().err
    assert list_entries(out) == ["residue-ppi:A-B:3C8P"]
    failures = {f["query_id"]: f["message"] for f in read_failures(out)}
    assert sorted(failures) == ["3C8P.pdb:--ppi A,A", "3C8P.pdb:--srv A:1:LYS:XYZ"]
    assert "unknown amino acid 'XYZ'" in failures["3C8P.pdb:--srv A:1:LYS:XYZ"]


@pytest.mark.parametrize(
    ("section", "line", "expected"),
    [
        (
            "processing",
            'cpu_count = "two"',
            r"\[processing\]: cpu_count must be a positive integer, got 'two'",
        ),
        ("processing", "cpu_count = 2.5", r"cpu_count must be a positive integer, got 2.5"),
        ("processing", "cpu_count = true", r"cpu_count must be a positive integer, got True"),
        ("processing", "cpu_count = 0", r"cpu_count must be a positive integer, got 0"),
        ("processing", 'resume = "yes"', r"resume must be true or false"),
        ("processing", 'on_error = "ignore"', r"on_error must be one of \['record', 'raise'\]"),
        ("processing", "shard = [3, 2]", r"shard must be \[i, n\]"),
        ("processing", 'compression = "zip"', r"compression must be one of"),
        (
            "grid",
            "points_counts = [10, 10]\nsizes = [10.0, 10.0, 10.0]",
            r"\[grid\]: points_counts",
        ),
        ("grid", "points_counts = [10, 10, 10]\nsizes = [10.0, -1, 10.0]", r"\[grid\]: sizes"),
        (
            "grid",
            "points_counts = [8, 8, 8]\nsizes = [8.0, 8.0, 8.0]\naugmentation_count = -1",
            "augmentation_count must be an integer >= 0",
        ),
        (None, 'influence_radius = "far"', r"config: influence_radius must be a number > 0"),
        (None, 'resolution = "residues"', r"resolution must be one of \['residue', 'atom'\]"),
        (None, "feature_modules = 3", "feature_modules must be"),
    ],
)
def test_config_values_are_checked_naming_the_key(folder: Path, section, line, expected):
    """Issue 11 item 9: cpu_count="two" said int() without the key; 2.5 and true were accepted."""
    head = f"{line}\n" if section is None else ""
    body = f"\n[{section}]\n{line}\n" if section else ""
    text = (
        f'output = "out.hdf5"\n{head}{body}\n[[queries]]\nkind = "ppi"\n'
        'pdb_path = "3C8P.pdb"\nchain_ids = ["A", "B"]\n'
    )
    path = _toml(folder, text)
    with pytest.raises(ConfigError, match=expected) as info:
        run_config(path)
    assert str(path) in str(info.value)
    assert not (folder / "out.hdf5").exists()


def test_cli_names_the_key_and_exits_2(folder: Path, capsys):
    path = _toml(
        folder,
        'output = "o.hdf5"\n[processing]\ncpu_count = "two"\n'
        '[[queries]]\nkind = "ppi"\npdb_path = "3C8P.pdb"\nchain_ids = ["A", "B"]\n',
    )
    assert main(["featurize", str(path)]) == 2
    err = capsys.readouterr().err
    assert "cpu_count must be a positive integer, got 'two'" in err


def test_missing_field_is_still_a_config_error(folder: Path):
    config = {"queries": [{"kind": "srv", "pdb_path": "101M.pdb", "chain_ids": "A"}]}
    with pytest.raises(ConfigError, match=r"queries\[1\]"):
        build_collection(config, folder)


def test_cli_existing_output_names_resume_and_overwrite(folder: Path, capsys):
    """Issue 16 item 3 (CLI part): not "pass resume=True or overwrite=True"."""
    out = folder / "o.hdf5"
    argv = [
        "featurize",
        "--executor",
        "serial",
        "--ppi",
        "A,B",
        "-o",
        str(out),
        str(folder / "3C8P.pdb"),
    ]
    assert main(argv) == 0
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "--overwrite" in err and "resume=True" not in err
    assert main([*argv, "--resume"]) == 0
    config = _toml(
        folder,
        'output = "o.hdf5"\n[processing]\nexecutor = "serial"\n'
        '[[queries]]\nkind = "ppi"\npdb_path = "3C8P.pdb"\nchain_ids = ["A", "B"]\n',
    )
    capsys.readouterr()
    assert main(["featurize", str(config)]) == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "resume=True" not in err
    assert main(["featurize", str(config), "--overwrite"]) == 0


def test_config_points_to_a_table(folder: Path):
    (folder / "tables").mkdir()
    (folder / "tables" / "variants.csv").write_text(
        "pdb_path,chain,residue,wildtype,variant,ddg,note\n"
        "../101M.pdb,A,25,G,A,-0.7,x\n"
        "../101M.pdb,A,25,G,G,0.1,x\n"
        "../101M.pdb,A,24,HIS,LYS,1.2,y\n"
    )
    path = _toml(
        folder,
        """
output = "variants.hdf5"
feature_modules = ["components"]
resolution = "residue"

[processing]
executor = "serial"
verbose = false

[[queries]]
table = "tables/variants.csv"
kind = "srv"
influence_radius = 8.0
targets = { constant = 1 }
""",
    )
    summary = run_config(path)
    assert summary.processed == 2 and summary.failed == 1
    (failure,) = read_failures(summary.output)
    assert failure["query_id"] == "variants.csv:row 1"
    graph = read_graph(summary.output, "residue-srv:A:24:Histidine->Lysine:101M")
    assert graph.targets["ddg"] == pytest.approx(1.2)
    assert graph.targets["constant"] == 1
    assert graph.metadata["query"]["influence_radius"] == 8.0


def test_table_item_errors_are_config_errors(folder: Path):
    (folder / "t.csv").write_text('structure_file,chains\n3C8P.pdb,"A,B"\n')
    base = {"output": "o.hdf5"}
    with pytest.raises(ConfigError, match="no structure column"):
        build_collection({**base, "queries": [{"table": "t.csv"}]}, folder)
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['bogus'\]"):
        build_collection({**base, "queries": [{"table": "t.csv", "bogus": 1}]}, folder)
    qc = build_collection(
        {**base, "queries": [{"table": "t.csv", "columns": {"structure_file": "pdb_path"}}]},
        folder,
    )
    assert qc.ids() == ["residue-ppi:A-B:3C8P"]
