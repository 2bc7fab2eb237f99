"""add_targets / ``deeprank-like targets add``: labels onto existing entries without refeaturising."""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import pandas as pd
import pytest

from deeprank_like import (
    ProteinProteinInterfaceQuery,
    QueryCollection,
    SingleResidueVariantQuery,
    process,
)
from deeprank_like.cli import main
from deeprank_like.errors import StorageError
from deeprank_like.query import TableError
from deeprank_like.storage import open_feature_file
from deeprank_like.storage.integrity import CHECKSUM_ATTR, check_file
from deeprank_like.storage.reader import list_entries, read_graph
from deeprank_like.storage.targets import add_targets

PDB = Path(__file__).parents[1] / "data" / "pdb"
SRV = "residue-srv:A:25:Glycine->Alanine:101M"
SRV2 = "residue-srv:A:25:Glycine->Valine:101M"
PPI = "residue-ppi:A-B:3C8P"


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("feat")
    (folder / "pdb").mkdir()
    for name in ("101M.pdb", "3C8P.pdb"):
        shutil.copy(PDB / name, folder / "pdb" / name)
    m101 = str(folder / "pdb" / "101M.pdb")
    qc = QueryCollection(
        [
            SingleResidueVariantQuery(
                pdb_path=m101,
                chain_ids="A",
                variant_residue_number=25,
                wildtype_amino_acid="GLY",
                variant_amino_acid=var,
                targets={"old": 5.0},
            )
            for var in ("ALA", "VAL")
        ]
        + [
            ProteinProteinInterfaceQuery(
                pdb_path=str(folder / "pdb" / "3C8P.pdb"), chain_ids=["A", "B"]
            )
        ]
    )
    summary = process(
        qc,
        prefix=folder / "built",
        executor="serial",
        feature_modules=["components"],
        verbose=False,
    )
    assert summary.processed == 3
    return folder


@pytest.fixture
def feature_file(built: Path, tmp_path: Path) -> Path:
    """A fresh copy of the built file, and the structures next to the tables."""
    shutil.copy(built / "built.hdf5", tmp_path / "f.hdf5")
    shutil.copytree(built / "pdb", tmp_path / "pdb")
    return tmp_path / "f.hdf5"


def test_join_on_entry_id(feature_file: Path):
    df = pd.DataFrame(
        {"entry_id": [SRV, PPI, "nope"], "ddg": [-1.25, 0.5, 3.0], "label": [1, 0, 1]}
    )
    result = add_targets(feature_file, df)
    assert result.join == "entry_id"
    assert result.entries == 2 and result.values == 4
    assert result.unmatched == [(2, "no entry 'nope'")]
    g = read_graph(feature_file, SRV)
    assert g.targets["ddg"] == -1.25 and g.targets["old"] == 5.0
    assert g.targets["label"] == 1 and isinstance(g.targets["label"], int)
    assert "ddg" not in read_graph(feature_file, SRV2).targets
    # the file summary knows the new targets; the checksums were re-sealed
    with open_feature_file(feature_file) as ff:
        assert ff.feature_counts["ddg"] == 2
        assert "ddg" in ff.names("target")
    with h5py.File(feature_file, "r") as f:
        assert CHECKSUM_ATTR in f[f"{SRV.replace('/', '%2F')}"].attrs
        assert check_file(f).ok


def test_join_on_query_fields_with_relative_paths_and_codes(feature_file: Path):
    table = feature_file.parent / "labels.csv"
    table.write_text(
        "pdb_path,chain,residue,wildtype,variant,ddg\n"
        "pdb/101M.pdb,A,25,G,V,2.5\n"
        "pdb/101M.pdb,A,25,GLY,ALA,-0.75\n"
        "pdb/101M.pdb,A,26,GLN,ALA,1.0\n"
    )
    result = add_targets(feature_file, table)
    assert result.join == "query" and result.entries == 2
    assert read_graph(feature_file, SRV2).targets["ddg"] == 2.5
    assert read_graph(feature_file, SRV).targets["ddg"] == -0.75
    ((row, reason),) = result.unmatched
    assert row == 2 and "no entry" in reason


def test_ppi_sides_in_any_order_and_file_name_fallback(feature_file: Path, tmp_path: Path):
    elsewhere = tmp_path / "other"
    elsewhere.mkdir()
    (elsewhere / "dockq.tsv").write_text(
        "pdb\tchains\tdockq\n/somewhere/else/3C8P.pdb\tB,A\t0.42\n"
    )
    result = add_targets(feature_file, elsewhere / "dockq.tsv")
    assert result.entries == 1 and result.ok
    assert read_graph(feature_file, PPI).targets["dockq"] == pytest.approx(0.42)


def test_pdb_path_only_labels_every_entry_of_the_structure(feature_file: Path):
    df = pd.DataFrame({"pdb_path": ["pdb/101M.pdb"], "stability": [0.9]})
    result = add_targets(feature_file, df, base_dir=feature_file.parent)
    assert result.entries == 2
    assert read_graph(feature_file, SRV).targets["stability"] == 0.9
    assert "stability" not in read_graph(feature_file, PPI).targets


def test_existing_values_need_overwrite_and_nothing_is_written_without(feature_file: Path):
    df = pd.DataFrame({"entry_id": [SRV, SRV2], "old": [7.0, 8.0]})
    with pytest.raises(StorageError, match=r"would replace existing targets.*overwrite=True"):
        add_targets(feature_file, df)
    assert read_graph(feature_file, SRV).targets["old"] == 5.0
    result = add_targets(feature_file, df, overwrite=True)
    assert result.replaced == 2
    assert read_graph(feature_file, SRV).targets["old"] == 7.0
    with open_feature_file(feature_file) as ff:
        assert ff.feature_counts["old"] == 2  # replaced, not counted twice


def test_bad_rows_and_conflicts_are_reported(feature_file: Path):
    df = pd.DataFrame(
        {
            "entry_id": [SRV, SRV, SRV2, ""],
            "ddg": ["1.0", "2.0", "abc", "1"],
        }
    )
    result = add_targets(feature_file, df, target_columns=["ddg"])
    assert read_graph(feature_file, SRV).targets["ddg"] == 1.0  # the first row wins
    assert [r for r, _ in result.conflicts] == [1]
    assert sorted(r for r, _ in result.invalid) == [2, 3]
    assert not result.ok


def test_dry_run_writes_nothing(feature_file: Path):
    before = feature_file.read_bytes()
    result = add_targets(feature_file, pd.DataFrame({"entry_id": [SRV], "y": [1.5]}), dry_run=True)
    assert result.values == 1
    assert feature_file.read_bytes() == before


def test_a_corrupt_entry_is_not_resealed(feature_file: Path):
    name = SRV
    with h5py.File(feature_file, "a") as f:
        f[name].attrs[CHECKSUM_ATTR] = "blake2b-128:" + "0" * 32
    with pytest.raises(StorageError, match="integrity check"):
        add_targets(feature_file, pd.DataFrame({"entry_id": [SRV], "y": [1.5]}))


def test_table_without_join_column_is_an_error(feature_file: Path):
    with pytest.raises(TableError, match="entry_id"):
        add_targets(feature_file, pd.DataFrame({"something": ["x"], "y": [1.0]}))
    with pytest.raises(TableError, match="no target columns"):
        add_targets(feature_file, pd.DataFrame({"entry_id": [SRV], "note": ["x"]}))


def test_cli_targets_add(feature_file: Path, capsys):
    table = feature_file.parent / "t.csv"
    table.write_text(f"id,ddg\n{SRV},1.5\nmissing,2.0\n")
    argv = ["targets", "add", str(feature_file), str(table), "--column", "id=entry_id"]
    assert main(argv) == 1
    out = capsys.readouterr()
    assert "row 1 matched no entry" in out.err and "1 values" in out.out
    assert read_graph(feature_file, SRV).targets["ddg"] == 1.5
    assert main(argv) == 2  # exists now: needs --overwrite
    assert "--overwrite" in capsys.readouterr().err
    table.write_text(f"id,ddg\n{SRV},3.0\n")
    assert main([*argv, "--overwrite"]) == 0
    assert read_graph(feature_file, SRV).targets["ddg"] == 3.0
    assert main(["targets"]) == 2
    assert sorted(list_entries(feature_file)) == sorted([SRV, SRV2, PPI])
