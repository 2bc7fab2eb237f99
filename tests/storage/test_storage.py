"""HDF5 storage: round trips, validation, atomicity, corruption, merging."""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery, SingleResidueVariantQuery
from deeprank_like.errors import StorageError
from deeprank_like.storage import (
    FeatureFile,
    entry_id,
    entry_name,
    list_entries,
    merge_files,
    open_feature_file,
    open_h5,
    read_failures,
    read_graph,
    write_failures,
    write_graph,
)
from deeprank_like.storage._superblock import lookup3, write_flag_set

PDB = Path(__file__).parents[1] / "data" / "pdb"


@pytest.fixture(scope="module")
def ppi_graph():
    q = ProteinProteinInterfaceQuery(
        pdb_path=PDB / "1ATN_1w.pdb", chain_ids=["A", "B"], targets={"binary": 1, "irmsd": 2.25}
    )
    g = q.build()
    g.targets["vector"] = np.array([0.5, 1.5, 2.5])
    return g


@pytest.fixture(scope="module")
def atom_graph():
    q = SingleResidueVariantQuery(
        pdb_path=PDB / "101M.pdb",
        resolution="atom",
        chain_ids="A",
        variant_residue_number=25,
        wildtype_amino_acid="GLY",
        variant_amino_acid="ALA",
    )
    return q.build()


def assert_graph_equal(a, b, exact=False):
    tol = {"rtol": 0, "atol": 0} if exact else {"rtol": 2e-7, "atol": 1e-6}
    assert a.id == b.id and a.resolution == b.resolution
    np.testing.assert_array_equal(a.node_ids, b.node_ids)
    np.testing.assert_array_equal(a.edge_index, b.edge_index)
    np.testing.assert_allclose(a.positions, b.positions, rtol=1e-6, atol=1e-4 if not exact else 0)
    np.testing.assert_allclose(a.center, b.center)
    np.testing.assert_array_equal(a.residue_index, b.residue_index)
    if a.atom_index is None:
        assert b.atom_index is None
    else:
        np.testing.assert_array_equal(a.atom_index, b.atom_index)
    assert sorted(a.node_features) == sorted(b.node_features)
    assert sorted(a.edge_features) == sorted(b.edge_features)
    for name in a.node_features:
        np.testing.assert_allclose(a.node_features[name], b.node_features[name], **tol)
    for name in a.edge_features:
        np.testing.assert_allclose(a.edge_features[name], b.edge_features[name], **tol)
    assert sorted(a.targets) == sorted(b.targets)
    for name in a.targets:
        np.testing.assert_allclose(a.targets[name], b.targets[name])
    # stored specs also describe targets that had none (query targets)
    assert {k: b.feature_specs[k] for k in a.feature_specs} == a.feature_specs
    assert set(b.feature_specs) == set(a.node_features) | set(a.edge_features) | set(a.targets)
    assert a.metadata == b.metadata


def test_round_trip_float32(tmp_path, ppi_graph, atom_graph):
    path = tmp_path / "f.hdf5"
    with open_h5(path, "a") as f:
        write_graph(f, ppi_graph)
        write_graph(f, atom_graph)
    assert list_entries(path) == sorted([ppi_graph.id, atom_graph.id])
    for g in (ppi_graph, atom_graph):
        back = read_graph(path, g.id)
        assert_graph_equal(g, back)
        assert back.node_features["res_charge"].dtype == np.float32
    with h5py.File(path) as f:
        e = f[entry_name(ppi_graph.id)]
        assert e["edge_index"].dtype == np.int32 and e["edge_index"].shape == (
            2,
            ppi_graph.num_edges,
        )
        assert e["node_ids"].dtype["chain"] == np.dtype("S4")
        assert e["positions"].dtype == np.float32
        assert e["node_features/res_type"].compression == "gzip"
        assert e["node_features/res_type"].shuffle
        assert e["targets/binary"].dtype == np.int64
        assert e["targets/irmsd"].dtype == np.float64
        specs = json.loads(e.attrs["feature_specs"])
        assert specs["res_charge"]["unit"] == "e" and specs["res_type"]["width"] == 20
        assert json.loads(e.attrs["query"])["chain_ids"] == ["A", "B"]
        assert e.attrs["schema_version"] == 1 and e.attrs["complete"] == 1
        assert f.attrs["format"] == "deeprank_like" and f.attrs["entry_count"] == 2


def test_round_trip_float64_exact(tmp_path, ppi_graph):
    path = tmp_path / "f.hdf5"
    write_graph(path, ppi_graph, float_dtype="float64", compression="lzf")
    back = read_graph(path, ppi_graph.id)
    assert back.node_features["res_mass"].dtype == np.float64
    assert_graph_equal(ppi_graph, back, exact=True)


def test_entry_is_at_most_a_third_of_deeprank2(tmp_path, ppi_graph):
    # DeepRank2 stores this 1ATN residue graph (~150 nodes, ~2,100 edges) in ~300 KB.
    small, big = tmp_path / "one.hdf5", tmp_path / "eleven.hdf5"
    write_graph(small, ppi_graph)
    with open_h5(big, "a") as f:
        for i in range(11):
            ppi_graph.id, old = f"copy{i}", ppi_graph.id
            write_graph(f, ppi_graph)
            ppi_graph.id = old
    per_entry = (big.stat().st_size - small.stat().st_size) / 10
    assert per_entry < 100_000, per_entry
    merged = tmp_path / "merged.hdf5"
    merge_files([big], merged)
    assert merged.stat().st_size / 11 < 100_000


def test_existing_entry_and_overwrite(tmp_path, ppi_graph):
    path = tmp_path / "f.hdf5"
    write_graph(path, ppi_graph)
    with pytest.raises(StorageError, match="already exists"):
        write_graph(path, ppi_graph)
    write_graph(path, ppi_graph, overwrite=True)
    with FeatureFile(path) as ff:
        assert len(ff) == 1 and ff.feature_counts["res_type"] == 1


def test_validation_names_missing_and_present(tmp_path, ppi_graph):
    path = tmp_path / "f.hdf5"
    write_graph(path, ppi_graph)
    with open_feature_file(
        path, node_features=["res_type"], edge_features="distance", targets=["binary"]
    ) as ff:
        assert ff.node_feature_matrix(ppi_graph.id, ["res_type", "res_charge"]).shape == (
            ppi_graph.num_nodes,
            21,
        )
        assert ff.names("edge") == sorted(ppi_graph.edge_features)
    with pytest.raises(StorageError) as err:
        open_feature_file(path, node_features=["res_type", "pssm"], edge_features=["res_charge"])
    msg = str(err.value)
    assert "missing node feature(s) ['pssm']" in msg and "'res_type'" in msg
    assert "'res_charge' is a node feature, not an edge feature" in msg


def test_validation_partial_feature(tmp_path, ppi_graph, atom_graph):
    path = tmp_path / "f.hdf5"
    atom_graph.node_features["extra"] = np.zeros(atom_graph.num_nodes)
    try:
        write_graph(path, ppi_graph)
        write_graph(path, atom_graph)
    finally:
        del atom_graph.node_features["extra"]
    with pytest.raises(StorageError, match=r"node feature 'extra' is missing in 1 of 2 entries"):
        open_feature_file(path, node_features=["extra"])


def test_incomplete_entries_are_ignored(tmp_path, ppi_graph):
    path = tmp_path / "f.hdf5"
    write_graph(path, ppi_graph)
    with open_h5(path, "a") as f:
        f.create_group("_tmp/half-written")
        f.create_group("no-complete-flag")
    assert list_entries(path) == [ppi_graph.id]
    with pytest.raises(StorageError, match="incomplete entry"):
        read_graph(path, "no-complete-flag")


def test_failed_extra_leaves_no_entry(tmp_path, ppi_graph):
    path = tmp_path / "f.hdf5"

    def boom(group):
        raise RuntimeError("grid failed")

    with open_h5(path, "a") as f:
        with pytest.raises(RuntimeError):
            write_graph(f, ppi_graph, extra=boom)
        assert entry_name(ppi_graph.id) not in f and len(f["_tmp"]) == 0
    assert list_entries(path) == []


def test_foreign_corrupted_and_newer_files(tmp_path):
    text = tmp_path / "text.hdf5"
    text.write_text("hello")
    with pytest.raises(StorageError, match="not an HDF5 file or corrupted"):
        FeatureFile(text)
    foreign = tmp_path / "foreign.hdf5"
    with h5py.File(foreign, "w") as f:
        f.create_group("entry/node_features").create_dataset("_position", data=np.zeros((2, 3)))
    with pytest.raises(StorageError, match="not a deeprank_like feature file.*DeepRank2"):
        open_feature_file(foreign)
    with pytest.raises(StorageError, match="no such file"):
        list_entries(tmp_path / "missing.hdf5")
    newer = tmp_path / "newer.hdf5"
    with open_h5(newer, "a") as f:
        f.attrs["schema_version"] = 99
    with pytest.raises(StorageError, match="schema version 99 is newer"):
        FeatureFile(newer)


def test_truncated_file(tmp_path, ppi_graph):
    path = tmp_path / "f.hdf5"
    write_graph(path, ppi_graph)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(StorageError, match="corrupted"):
        FeatureFile(path).read_graph(ppi_graph.id)


def test_write_flag_of_killed_writer_is_repaired(tmp_path, ppi_graph):
    path = tmp_path / "f.hdf5"
    write_graph(path, ppi_graph)
    raw = bytearray(path.read_bytes())
    assert lookup3(bytes(raw[:44])) == int.from_bytes(raw[44:48], "little")
    raw[11] = 0x05  # what a killed writer leaves: write + SWMR-write-allowed flags
    raw[44:48] = lookup3(bytes(raw[:44])).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    assert write_flag_set(path)
    with pytest.raises(StorageError, match="marked as open for writing"):
        FeatureFile(path)
    with FeatureFile(path, repair=True) as ff:
        assert ff.entries == [ppi_graph.id]
    assert not write_flag_set(path)


def test_entry_name_escaping():
    for qid in ["residue-ppi:A-B:1ATN", "a/b", "_x", ".y", "50%/x", "%2F"]:
        name = entry_name(qid)
        assert "/" not in name and not name.startswith(("_", "."))
        assert entry_id(name) == qid


def test_merge_duplicates_and_failures(tmp_path, ppi_graph, atom_graph):
    a, b, out = tmp_path / "a.hdf5", tmp_path / "b.hdf5", tmp_path / "out.hdf5"
    write_graph(a, ppi_graph)
    with open_h5(a, "a") as f:
        write_failures(
            f, [("lost", "load", "StructureError", "no file"), (atom_graph.id, "build", "X", "y")]
        )
    write_graph(b, ppi_graph)
    write_graph(b, atom_graph)
    with pytest.raises(StorageError, match="is in both"):
        merge_files([a, b], out)
    assert not out.exists() and not list(tmp_path.glob("out.hdf5.tmp*"))
    result = merge_files([a, b], out, on_duplicate="skip")
    assert result.entries == 2 and result.duplicates == [ppi_graph.id]
    assert list_entries(out) == sorted([ppi_graph.id, atom_graph.id])
    # the failure of a query that has an entry is dropped
    assert [r["query_id"] for r in read_failures(out)] == ["lost"]
    with FeatureFile(out) as ff:
        assert ff.attrs["entry_count"] == 2 and ff.feature_counts["res_type"] == 2
    with pytest.raises(StorageError, match="exists"):
        merge_files([a], out)
    assert_graph_equal(read_graph(out, atom_graph.id), read_graph(b, atom_graph.id), exact=True)
    assert os.path.exists(a)
