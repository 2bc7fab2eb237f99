"""The merge starts from a byte copy of the first input when its verified listing is given.

The result must be the file that copying every entry makes: the same entries, arrays and
attributes, the same root summary and failure table, no writer scratch group; an entry the
listing marks bad is dropped and reported with the input it came from; "keep the first" of
duplicate entries still keeps the first input's entry.
"""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pytest

import deeprank_like.storage.merge as merge_module
from deeprank_like.storage import (
    FeatureFile,
    entry_name,
    merge_files,
    read_failures,
    write_failures,
    write_graph,
)
from deeprank_like.storage.files import open_h5
from deeprank_like.storage.integrity import check_file


@pytest.fixture(scope="module")
def graphs(graph_file):
    with FeatureFile(graph_file) as ff:
        return [ff.read_graph(q) for q in ff.entries[:6]]


def _shards(tmp_path, graphs):
    """Two shards: a (graphs 0-2, a failure of graph 4's id and of an unknown id) and
    b (graphs 3-5, and graph 0 again, with other positions)."""
    a, b = tmp_path / "a.hdf5", tmp_path / "b.hdf5"
    for g in graphs[:3]:
        write_graph(a, g)
    with open_h5(a, "a") as f:
        f.require_group("_tmp")  # a writer's scratch group, as a killed worker leaves it
        write_failures(f, [(graphs[4].id, "build", "ValueError", "retried later"),
                           ("never-stored", "load", "StructureError", "no such file")])  # fmt: skip
    for g in graphs[3:]:
        write_graph(b, g)
    write_graph(b, dataclasses.replace(graphs[0], positions=graphs[0].positions + 1.0))
    return str(a), str(b)


def _listings(*paths):
    out = {}
    for p in paths:
        with open_h5(p, "r") as f:
            out[p] = check_file(f)
    return out


def _dump(path):
    """Every object of a file: path -> (attributes, array or None); and the root attributes."""
    objects = {}
    with h5py.File(path, "r") as f:

        def visit(name, obj):
            attrs = {k: np.asarray(v).tolist() for k, v in obj.attrs.items()}
            data = obj[()] if isinstance(obj, h5py.Dataset) else None
            objects[name] = (attrs, data)

        f.visititems(visit)
        root = {k: np.asarray(v).tolist() for k, v in f.attrs.items()}
    return objects, root


_REAL_COPY = merge_module._copy_entry


def _merge(inputs, out, verified, adopt, monkeypatch):
    monkeypatch.setattr(merge_module, "ADOPT_FIRST_INPUT", adopt)
    copies = []

    def counting(src, dst, name):
        copies.append(name)
        _REAL_COPY(src, dst, name)

    monkeypatch.setattr(merge_module, "_copy_entry", counting)
    result = merge_files(inputs, out, on_duplicate="skip", verified=verified)
    return result, copies


def test_adopted_merge_equals_the_entry_by_entry_merge(tmp_path, graphs, monkeypatch):
    a, b = _shards(tmp_path, graphs)
    listings = _listings(a, b)
    slow, slow_copies = _merge([a, b], tmp_path / "slow.hdf5", listings, False, monkeypatch)
    fast, fast_copies = _merge([a, b], tmp_path / "fast.hdf5", listings, True, monkeypatch)
    assert len(slow_copies) == 6 and len(fast_copies) == 3  # only b's entries, once each
    assert (fast.entries, fast.copied, fast.duplicates, fast.failures) == (
        slow.entries,
        slow.copied,
        slow.duplicates,
        slow.failures,
    )
    assert fast.entries == 6 and fast.duplicates == [graphs[0].id]
    objects_slow, root_slow = _dump(tmp_path / "slow.hdf5")
    objects_fast, root_fast = _dump(tmp_path / "fast.hdf5")
    assert root_fast == root_slow  # summary (specs, counts, entry_count), config, created_by
    assert sorted(objects_fast) == sorted(objects_slow)
    assert "_tmp" not in objects_fast
    for name, (attrs, data) in objects_slow.items():
        assert objects_fast[name][0] == attrs, name
        if data is not None:
            np.testing.assert_array_equal(objects_fast[name][1], data, err_msg=name)
    # the duplicate kept is the first input's; a failure of a stored id is gone
    with FeatureFile(tmp_path / "fast.hdf5") as ff:
        np.testing.assert_array_equal(ff.read_graph(graphs[0].id).positions, graphs[0].positions)
    assert [r["query_id"] for r in read_failures(tmp_path / "fast.hdf5")] == ["never-stored"]
    with open_h5(tmp_path / "fast.hdf5", "r") as f:
        check = check_file(f)
    assert check.ok and len(check.good) == 6 and not check.incomplete


def test_a_bad_entry_of_the_adopted_input_is_dropped_and_reported(
    tmp_path, graphs, monkeypatch, flip
):
    a, b = _shards(tmp_path, graphs)
    bad = entry_name(graphs[1].id)
    flip(a, bad, "positions")
    listings = _listings(a, b)
    assert bad in listings[a].bad
    result, _ = _merge([a, b], tmp_path / "out.hdf5", listings, True, monkeypatch)
    assert [(qid, where) for qid, where, _ in result.corrupt] == [(graphs[1].id, a)]
    with FeatureFile(tmp_path / "out.hdf5") as ff:
        assert graphs[1].id not in ff.entries and len(ff.entries) == 5
    rows = {r["query_id"]: r for r in read_failures(tmp_path / "out.hdf5")}
    assert set(rows) == {graphs[1].id, "never-stored"}
    assert a in rows[graphs[1].id]["message"]


def test_without_a_listing_of_the_first_input_every_entry_is_copied(tmp_path, graphs, monkeypatch):
    a, b = _shards(tmp_path, graphs)
    listings = _listings(b)  # the second input's listing only: a is verified by the merge
    result, copies = _merge([a, b], tmp_path / "out.hdf5", listings, True, monkeypatch)
    assert result.entries == 6 and len(copies) == 6


def test_failures_of_stored_ids_are_dropped_whatever_the_entry_names(tmp_path, graphs):
    """Entries named otherwise than ``entry_name(id)`` (other writers) are found by their id."""
    a, b = tmp_path / "a.hdf5", tmp_path / "b.hdf5"
    write_graph(a, graphs[0])
    with h5py.File(a, "a") as f:
        f.move(entry_name(graphs[0].id), "renamed%2Dentry")
    write_graph(b, graphs[1])
    with open_h5(b, "a") as f:
        write_failures(f, [(graphs[0].id, "build", "ValueError", "an earlier try")])
    merge_files([a, b], tmp_path / "out.hdf5")
    assert read_failures(tmp_path / "out.hdf5") == []
