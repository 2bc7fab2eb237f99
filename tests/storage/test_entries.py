"""The storage readers under the datasets (storage/entries.py) and the grid group (storage/grids.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery
from deeprank_like.errors import StorageError
from deeprank_like.storage import open_h5, write_graph
from deeprank_like.storage.entries import (
    FileCache,
    feature_widths,
    group_by_features,
    open_entry,
    open_readonly,
    read_edge_index,
    read_feature,
    read_target,
    scan_entries,
    uniform_features,
)
from deeprank_like.storage.grids import (
    StoredGrid,
    grid_channels,
    grid_indices,
    read_grid_array,
    read_stored_grid,
    write_grid_group,
)

PDB = Path(__file__).parents[1] / "data" / "pdb"


@pytest.fixture(scope="module")
def graph():
    return ProteinProteinInterfaceQuery(
        pdb_path=PDB / "1ATN_1w.pdb", chain_ids=["A", "B"], targets={"binary": 1}
    ).build(["components"])


@pytest.fixture(scope="module")
def two_kinds(graph, tmp_path_factory):
    """Entries a, b with every feature (b: another target); c without ``res_charge``; an
    incomplete entry d."""
    path = tmp_path_factory.mktemp("entries") / "f.hdf5"
    lacking = {k: v for k, v in graph.node_features.items() if k != "res_charge"}
    specs = {k: v for k, v in graph.feature_specs.items() if k != "res_charge"}
    with open_h5(path, "a") as f:
        write_graph(f, dataclasses.replace(graph, id="a"))
        write_graph(f, dataclasses.replace(graph, id="b", targets={"other": 0.5}))
        write_graph(
            f, dataclasses.replace(graph, id="c", node_features=lacking, feature_specs=specs)
        )
        write_graph(f, dataclasses.replace(graph, id="d"))
        f["d"].attrs["complete"] = 0
    return path


def test_scan_lists_complete_entries_with_id_and_resolution(two_kinds):
    with open_readonly(two_kinds) as f:
        entries = scan_entries(f)
    assert [(e.name, e.id, e.resolution) for e in entries] == [
        ("a", "a", "residue"),
        ("b", "b", "residue"),
        ("c", "c", "residue"),
    ]


def test_per_entry_reads(two_kinds, graph):
    with open_readonly(two_kinds) as f:
        a, b = open_entry(f, "a"), open_entry(f, "b")
        np.testing.assert_array_equal(read_edge_index(a), graph.edge_index)
        np.testing.assert_allclose(
            read_feature(a, "node", "res_charge"), graph.node_features["res_charge"]
        )
        assert float(read_target(a, "binary")) == 1.0
        assert read_target(b, "binary") is None  # no such target: None, not an error
        with pytest.raises(KeyError):
            read_feature(a, "edge", "no-such-feature")
        with pytest.raises(ValueError, match="'node' or 'edge'"):
            read_feature(a, "target", "binary")
        node, _ = feature_widths(f, "c")
        assert "res_charge" not in node and node["res_type"] == 20


def test_entries_are_grouped_by_the_features_they_store(two_kinds):
    with open_readonly(two_kinds) as f:
        entries = [(0, e.name, e.id) for e in scan_entries(f)]
        assert not uniform_features(f, len(entries))  # c lacks a feature the others have
        groups = group_by_features(lambda _: f, entries, {0: len(entries)})
    # grouped by the stored specs (b's other target makes its own group); widths per group
    members = sorted(([e[2] for e in g[0]], "res_charge" in g[1]) for g in groups)
    assert members == [(["a"], True), (["b"], True), (["c"], False)]


def test_uniform_file_is_one_group_from_its_summary(graph, tmp_path):
    path = tmp_path / "u.hdf5"
    with open_h5(path, "a") as f:
        for qid in ("x", "y", "z"):
            write_graph(f, dataclasses.replace(graph, id=qid))
    with open_readonly(path) as f:
        assert uniform_features(f, 3)
        assert not uniform_features(f, 2)  # a summary for another entry count is not trusted
        groups = group_by_features(lambda _: f, [(0, n, n) for n in "xyz"], {0: 3})
    assert len(groups) == 1 and len(groups[0][0]) == 3


def test_foreign_and_newer_files_are_refused_by_the_dataset_handles(two_kinds, tmp_path):
    foreign = tmp_path / "foreign.hdf5"
    with h5py.File(foreign, "w") as f:
        f.create_group("x")
    with pytest.raises(StorageError, match="not a deeprank_like feature file"):
        FileCache([str(foreign)]).get(0)
    not_hdf5 = tmp_path / "text.hdf5"
    not_hdf5.write_text("hello")
    with pytest.raises(StorageError, match="not an HDF5 file"):
        open_readonly(not_hdf5)


def _grid(value: float, channels=("a", "b"), shape=(3, 3, 3)) -> StoredGrid:
    axis = np.arange(shape[0], dtype=np.float64)
    return StoredGrid(
        data=np.full((len(channels), *shape), value, dtype=np.float32),
        channel_names=tuple(channels),
        center=np.zeros(3),
        x=axis,
        y=axis,
        z=axis,
        rotation=np.eye(3),
        method="NEAREST",
        sigma=1.0,
    )


def test_grid_group_round_trip_and_replacement(tmp_path):
    with h5py.File(tmp_path / "g.hdf5", "w") as f:
        entry = f.create_group("e")
        assert grid_indices(entry) == []
        with pytest.raises(StorageError, match="holds no grids"):
            grid_channels(f, "e")
        write_grid_group(entry, [_grid(0.0), _grid(1.0)], augmentation_seed=7)
        assert grid_indices(f, "e") == [0, 1]
        assert grid_channels(entry) == (["a", "b"], (3, 3, 3))
        assert entry["grids"].attrs["augmentation_seed"] == "7"
        assert float(read_grid_array(open_entry(f, "e"), 1).max()) == 1.0
        stored = read_stored_grid(entry, 1)
        assert stored.truncate is None and stored.points_counts is None
        assert stored.method == "NEAREST" and stored.channel_names == ("a", "b")
        write_grid_group(entry, [_grid(5.0)])  # replaces the whole group
        assert grid_indices(entry) == [0]
        assert "augmentation_seed" not in entry["grids"].attrs
        with pytest.raises(KeyError):
            read_grid_array(open_entry(f, "e"), 1)
        with pytest.raises(StorageError, match="has no grid '003'"):
            read_stored_grid(entry, 3)


def test_grid_group_refuses_mixed_grids(tmp_path):
    with h5py.File(tmp_path / "g.hdf5", "w") as f:
        entry = f.create_group("e")
        with pytest.raises(StorageError, match="at least one grid"):
            write_grid_group(entry, [])
        with pytest.raises(StorageError, match="same channels and shape"):
            write_grid_group(entry, [_grid(0.0), _grid(0.0, channels=("a", "c"))])
        with pytest.raises(StorageError, match="same channels and shape"):
            write_grid_group(entry, [_grid(0.0), _grid(0.0, shape=(4, 4, 4))])
        assert "grids" not in entry
