"""The merge's bookkeeping: root summary, failure table, duplicates.

The merge takes an input's feature summary from its root attributes when they cover exactly
the entries it copies, and scans the entries otherwise; failures of ids that an entry stores
are dropped, found by the entry's name or, for names other tools gave, by every entry's id.
Whatever the path, the result must equal a scan of the merged file.
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
from deeprank_like.storage.files import json_attr, open_h5, scan_summary
from deeprank_like.storage.integrity import check_file
from deeprank_like.storage.schema import ATTR_ENTRY_COUNT, ATTR_FEATURE_COUNTS, ATTR_FEATURE_SPECS


@pytest.fixture(scope="module")
def graphs(graph_file):
    with FeatureFile(graph_file) as ff:
        return [ff.read_graph(q) for q in ff.entries[:6]]


def _inputs(tmp_path, graphs):
    """a: graphs 0-2, failures of graph 4's id and of an unknown id;
    b: graphs 3-5 and graph 0 again (other positions)."""
    a, b = tmp_path / "a.hdf5", tmp_path / "b.hdf5"
    for g in graphs[:3]:
        write_graph(a, g)
    with open_h5(a, "a") as f:
        write_failures(f, [(graphs[4].id, "build", "ValueError", "retried later"),
                           ("never-stored", "load", "StructureError", "no such file")])  # fmt: skip
    for g in graphs[3:]:
        write_graph(b, g)
    write_graph(b, dataclasses.replace(graphs[0], positions=graphs[0].positions + 1.0))
    return str(a), str(b)


def _assert_summary_is_a_scan(path, entries):
    with h5py.File(path, "r") as f:
        names = sorted(k for k in f if not k.startswith("_"))
        specs, counts = scan_summary(f, names)
        assert json_attr(f, ATTR_FEATURE_SPECS) == specs
        assert json_attr(f, ATTR_FEATURE_COUNTS) == counts
        assert int(f.attrs[ATTR_ENTRY_COUNT]) == len(names) == entries


@pytest.mark.parametrize("listed", [True, False])
def test_merge_summary_failures_and_duplicates(tmp_path, graphs, monkeypatch, listed):
    a, b = _inputs(tmp_path, graphs)
    verified = {}
    if listed:  # as the workers of process() give them
        for p in (a, b):
            with open_h5(p, "r") as f:
                verified[p] = check_file(f)
    copies = []
    real = merge_module.copy_object
    monkeypatch.setattr(
        merge_module, "copy_object", lambda s, n, d: (copies.append(n), real(s, n, d))
    )
    out = tmp_path / "out.hdf5"
    result = merge_files([a, b], out, on_duplicate="skip", verified=verified)
    assert (result.entries, result.copied, result.duplicates) == (6, 6, [graphs[0].id])
    assert len(copies) == 6
    _assert_summary_is_a_scan(out, 6)
    with FeatureFile(out) as ff:  # the first input's entry is kept
        np.testing.assert_array_equal(ff.read_graph(graphs[0].id).positions, graphs[0].positions)
    assert [r["query_id"] for r in read_failures(out)] == ["never-stored"]


def test_summary_when_an_input_has_a_bad_entry(tmp_path, graphs, flip):
    a, b = _inputs(tmp_path, graphs)
    flip(b, entry_name(graphs[4].id), "positions")
    out = tmp_path / "out.hdf5"
    result = merge_files([a, b], out, on_duplicate="skip")
    assert [qid for qid, _, _ in result.corrupt] == [graphs[4].id]
    _assert_summary_is_a_scan(out, 5)
    rows = {r["query_id"] for r in read_failures(out)}
    assert rows == {graphs[4].id, "never-stored"}


def test_append_keeps_a_consistent_summary(tmp_path, graphs):
    a, b = _inputs(tmp_path, graphs)
    out = tmp_path / "out.hdf5"
    merge_files([a], out)
    merge_files([b], out, append=True, on_duplicate="skip")
    _assert_summary_is_a_scan(out, 6)


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
