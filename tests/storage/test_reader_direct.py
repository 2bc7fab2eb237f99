"""Reading one entry of an open file looks it up by name instead of indexing every entry.

Regression: ``read_graph(h5py_file, entry)`` rebuilt the whole entry index on each call (1.7 s
per read on a 3,600-entry file), so a loop over a large file was quadratic.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import h5py
import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery
from deeprank_like.errors import StorageError
from deeprank_like.storage import open_h5, read_graph, write_graph
from deeprank_like.storage import reader as reader_module

PDB = Path(__file__).parents[1] / "data" / "pdb"


@pytest.fixture(scope="module")
def feature_file(tmp_path_factory):
    graph = ProteinProteinInterfaceQuery(
        pdb_path=PDB / "1ATN_1w.pdb", chain_ids=["A", "B"], targets={"binary": 1}
    ).build(["components"])
    path = tmp_path_factory.mktemp("direct") / "f.hdf5"
    ids = [f"{graph.id}-{i}" for i in range(5)] + ["_leading-underscore/with-slash"]
    with open_h5(path, "a") as f:
        for qid in ids:
            write_graph(f, dataclasses.replace(graph, id=qid))
    return path, ids


def test_read_graph_on_an_open_file_does_not_index_every_entry(feature_file, monkeypatch):
    path, ids = feature_file

    def no_index(_f):
        raise AssertionError("the whole entry index was built to read one entry")

    # FeatureFile lists entries through storage.entries.iter_complete_groups
    monkeypatch.setattr(reader_module, "iter_complete_groups", no_index)
    monkeypatch.setattr(reader_module, "complete_entry_names", no_index)
    with h5py.File(path, "r") as f:
        for qid in ids:
            graph = read_graph(f, qid)
            assert graph.id == qid
            assert np.isfinite(graph.positions).all()


def test_incomplete_or_missing_entries_are_still_refused(feature_file, tmp_path):
    path, ids = feature_file
    copy = tmp_path / "copy.hdf5"
    copy.write_bytes(Path(path).read_bytes())
    with h5py.File(copy, "a") as f:
        name = next(n for n in f if not n.startswith("_") and f[n].attrs.get("id") == ids[0])
        f[name].attrs["complete"] = 0
    with h5py.File(copy, "r") as f:
        with pytest.raises(StorageError, match="incomplete entry"):
            read_graph(f, ids[0])
        with pytest.raises(StorageError, match="no entry"):
            read_graph(f, "not-there")
        assert read_graph(f, ids[1]).id == ids[1]
