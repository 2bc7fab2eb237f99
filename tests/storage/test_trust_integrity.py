"""Issue 11, item 3: corrupted entries are detected by resume, `inspect --verify` and merge."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery, QueryCollection
from deeprank_like.cli import main
from deeprank_like.errors import StorageError
from deeprank_like.processing import process
from deeprank_like.storage import FeatureFile, merge_files, read_failures, write_graph
from deeprank_like.storage.integrity import CHECKSUM_ATTR, check_file, entry_checksum

PDB = Path(__file__).parents[1] / "data" / "pdb"


@pytest.fixture(scope="module")
def graphs():
    out = []
    for name in ("1ATN_1w", "1ATN_2w"):
        q = ProteinProteinInterfaceQuery(
            pdb_path=PDB / f"{name}.pdb", chain_ids=["A", "B"], targets={"binary": 1}
        )
        out.append(q.build())
    return out


@pytest.fixture
def two_entries(tmp_path, graphs):
    path = tmp_path / "f.hdf5"
    for g in graphs:
        write_graph(path, g)
    return path, [g.id for g in graphs]


def test_checksum_written_and_matches(tmp_path, graphs):
    for compression in ("gzip", "lzf", "none"):
        path = tmp_path / f"{compression}.hdf5"
        write_graph(path, graphs[0], compression=compression)
        with h5py.File(path, "r") as f:
            entry = f[graphs[0].id]
            stored = entry.attrs[CHECKSUM_ATTR]
            assert stored.startswith("blake2b-128:") and stored == entry_checksum(entry)
            assert check_file(f).good == [graphs[0].id]


@pytest.mark.parametrize(
    ("dataset", "compression"),
    [("node_features/res_type", "gzip"), ("positions", "none"), ("center", "gzip")],
)
def test_flipped_bytes_are_detected(tmp_path, graphs, dataset, compression, flip):
    path = tmp_path / "f.hdf5"
    write_graph(path, graphs[0], compression=compression)
    write_graph(path, graphs[1], compression=compression)
    flip(path, graphs[0].id, dataset)
    with h5py.File(path, "r") as f:
        check = check_file(f)
    assert check.good == [graphs[1].id]
    assert list(check.bad) == [graphs[0].id]
    reason = check.bad[graphs[0].id]
    assert "checksum" in reason  # HDF5's fletcher32 or our entry checksum


def test_inspect_verify_reports_and_fails(two_entries, capsys, flip):
    path, ids = two_entries
    assert main(["inspect", "--verify", str(path)]) == 0
    assert "2 entries verified" in capsys.readouterr().out
    flip(path, ids[1], "edge_features/distance")
    assert main(["inspect", "--verify", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"BAD {ids[1]}" in out and "1 bad" in out
    assert main(["inspect", "--verify", "--json", str(path)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and list(report["bad"]) == [ids[1]]


def test_merge_never_copies_a_corrupt_entry(tmp_path, two_entries, capsys, flip):
    path, ids = two_entries
    flip(path, ids[0], "node_features/res_type")
    out = tmp_path / "merged.hdf5"
    result = merge_files([path], out)
    assert [c[0] for c in result.corrupt] == [ids[0]] and not result.ok
    with FeatureFile(out) as ff:
        assert ff.entries == [ids[1]]
    rows = read_failures(out)
    assert [r["query_id"] for r in rows] == [ids[0]]
    assert "failed verification" in rows[0]["message"]
    # the command line says so and exits 1
    assert main(["merge", "--overwrite", "-o", str(out), str(path)]) == 1
    assert f"corrupt entry {ids[0]!r}" in capsys.readouterr().err


def test_merge_append_drops_corrupt_entries_of_the_output(tmp_path, graphs, flip):
    a, b = tmp_path / "a.hdf5", tmp_path / "b.hdf5"
    write_graph(a, graphs[0])
    write_graph(b, graphs[1])
    flip(a, graphs[0].id, "positions")
    result = merge_files([b], a, append=True)
    assert [c[0] for c in result.corrupt] == [graphs[0].id]
    with FeatureFile(a) as ff:
        assert ff.entries == [graphs[1].id]


def test_entries_without_checksum_still_verify(two_entries, capsys):
    """Files written before checksums existed stay readable and verifiable (schema 1)."""
    path, ids = two_entries
    with h5py.File(path, "r+") as f:
        for qid in ids:
            del f[qid].attrs[CHECKSUM_ATTR]
    with h5py.File(path, "r") as f:
        check = check_file(f)
    assert check.ok and check.unchecked == 2
    assert main(["inspect", "--verify", str(path)]) == 0
    assert "without checksum" in capsys.readouterr().out


def _collection():
    qc = QueryCollection()
    for name in ("1ATN_1w", "1ATN_2w", "3C8P"):
        qc.add(ProteinProteinInterfaceQuery(pdb_path=PDB / f"{name}.pdb", chain_ids=["A", "B"]))
    return qc


def test_resume_recomputes_a_corrupt_entry(tmp_path, flip):
    prefix = tmp_path / "run"
    first = process(_collection(), prefix=prefix, executor="serial", verbose=False)
    out = first.output
    with FeatureFile(out) as ff:
        ids = ff.entries
        before = ff.read_graph(ids[1]).node_features["res_type"].copy()
    flip(out, ids[1], "node_features/res_type")
    again = process(_collection(), prefix=prefix, executor="serial", verbose=False, resume=True)
    assert (again.processed, again.skipped) == (1, 2)
    assert Path(str(out) + ".unreadable").exists()  # the damaged file is kept for inspection
    with h5py.File(out, "r") as f:
        assert check_file(f).ok and len(check_file(f).good) == 3
    with FeatureFile(out) as ff:
        np.testing.assert_array_equal(ff.read_graph(ids[1]).node_features["res_type"], before)


def test_reading_a_corrupt_entry_names_it(two_entries, flip):
    path, ids = two_entries
    flip(path, ids[0], "node_features/res_type")
    with FeatureFile(path) as ff, pytest.raises(StorageError, match="is damaged"):
        ff.read_graph(ids[0])


def test_dataset_reader_names_the_damaged_array(two_entries, flip):
    from deeprank_like.storage.entries import open_entry, read_feature

    path, ids = two_entries
    flip(path, ids[0], "node_features/res_type")
    damaged = pytest.raises(StorageError, match=r"node_features/res_type is damaged")
    with h5py.File(path, "r") as f, damaged:
        read_feature(open_entry(f, ids[0]), "node", "res_type")
