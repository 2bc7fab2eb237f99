"""``deeprank_like.storage`` owns the feature-file format; everything else reads through it.

* every HDF5 object or attribute the datasets open is opened by code in ``storage/``;
* renaming a group in :mod:`deeprank_like.storage.schema` renames it for the writer, the
  readers, merging, verification and both datasets (nobody else spells the name);
* the grid group is written and read by ``storage/grids.py`` (``grid/hdf5.py`` only converts
  :class:`~deeprank_like.grid.Grid` objects), and a grid dataset reads a file whose grids were
  written by storage alone;
* one schema-version check: the datasets refuse a newer file with the storage message;
* the spec types live below features and storage, and neither storage nor the datasets load
  the training stage (a dataset inherits a checkpoint's data config without it).
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery
from deeprank_like.data import GraphDataset, GridDataset
from deeprank_like.errors import StorageError
from deeprank_like.storage import FeatureFile, open_h5, write_graph
from deeprank_like.storage.grids import StoredGrid, read_stored_grid, write_grid_group
from deeprank_like.storage.schema import GRIDS, SCHEMA_VERSION

PDB = Path(__file__).parents[1] / "data" / "pdb"
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def graph():
    return ProteinProteinInterfaceQuery(
        pdb_path=PDB / "1ATN_1w.pdb", chain_ids=["A", "B"], targets={"binary": 1}
    ).build(["components"])


def _stored_grids(graph, count: int = 2) -> list[StoredGrid]:
    """Hand-made grids (no mapping): channel c of grid i holds i + c everywhere."""
    axis = np.linspace(-3.0, 3.0, 4)
    out = []
    for i in range(count):
        data = np.stack([np.full((4, 4, 4), i + c, dtype=np.float32) for c in range(3)])
        out.append(
            StoredGrid(
                data=data,
                channel_names=("a", "b_000", "b_001"),
                center=np.asarray(graph.center, dtype=np.float64),
                x=axis,
                y=axis,
                z=axis,
                rotation=np.eye(3),
                method="GAUSSIAN",
                sigma=1.5,
                truncate=3.0,
                points_counts=(4, 4, 4),
                sizes=(6.0, 6.0, 6.0),
            )
        )
    return out


@pytest.fixture(scope="module")
def feature_file(graph, tmp_path_factory):
    """Three entries with targets and storage-written grids (3 channels, 2 grids each)."""
    path = tmp_path_factory.mktemp("ownership") / "f.hdf5"
    with open_h5(path, "a") as f:
        for i in range(3):
            g = dataclasses.replace(graph, id=f"{graph.id}-{i}", targets={"binary": i % 2})
            write_graph(f, g, extra=lambda group, g=g: write_grid_group(group, _stored_grids(g)))
    return path


class _Recorder:
    """Records which package module opened each HDF5 object or attribute."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.outside: set[str] = set()
        self.inside = 0
        for module, name in (
            (h5py.h5o, "open"),
            (h5py.h5g, "open"),
            (h5py.h5d, "open"),
            (h5py.h5a, "open"),
        ):
            monkeypatch.setattr(module, name, self._wrap(getattr(module, name)))

    def _wrap(self, fn):
        def opened(*args, **kwargs):
            frame = sys._getframe(1)
            while frame is not None:
                module = frame.f_globals.get("__name__", "")
                if module.startswith("deeprank_like."):
                    if module.startswith("deeprank_like.storage."):
                        self.inside += 1
                    else:
                        self.outside.add(f"{module}:{frame.f_lineno} ({frame.f_code.co_name})")
                    break
                frame = frame.f_back
            return fn(*args, **kwargs)

        return opened


def test_datasets_open_the_file_only_through_storage(feature_file, monkeypatch):
    recorder = _Recorder(monkeypatch)
    graphs = GraphDataset(feature_file, target="binary", standardize=True)
    assert len(graphs) == 3
    for i in range(len(graphs)):
        data = graphs[i]
        assert data.x.shape[0] == data.pos.shape[0] > 0
    assert set(graphs.to_pandas("node")["chain"]) == {"A", "B"}
    assert graphs.entry_query(0)["chain_ids"] == ["A", "B"]
    assert graphs.class_counts().tolist() == [2, 1]
    grids = GridDataset(feature_file, target="binary", features=["b"])
    assert len(grids) == 6  # 2 grids per entry
    assert grids[1].x.shape == (2, 4, 4, 4)
    assert recorder.inside > 0
    assert sorted(recorder.outside) == []


def test_grid_dataset_reads_grids_written_by_storage(feature_file):
    ds = GridDataset(feature_file, features=["a", "b"], augment=True)
    assert ds.channels == ["a", "b_000", "b_001"]
    values = {(item.entry_id, item.grid_number): item.x for item in (ds[i] for i in range(6))}
    for (_, number), x in values.items():
        np.testing.assert_array_equal(x[:, 0, 0, 0].numpy(), [number, number + 1, number + 2])


def test_grid_objects_round_trip_through_the_storage_group(feature_file, tmp_path, graph):
    from deeprank_like.grid import GridSettings, MapMethod, load_grid, map_graph_to_grid
    from deeprank_like.grid.hdf5 import GRIDS_GROUP, list_grids, write_grids

    assert GRIDS_GROUP == GRIDS  # deprecated alias
    grid = map_graph_to_grid(graph, GridSettings((6, 6, 6), (12.0, 12.0, 12.0)), MapMethod.GAUSSIAN)
    with h5py.File(tmp_path / "g.hdf5", "w") as f:
        entry = f.create_group("e")
        write_grids(entry, [grid])
        stored = read_stored_grid(entry, 0)  # what grid/hdf5 wrote, read by storage
        assert stored.method == "GAUSSIAN" and stored.points_counts == (6, 6, 6)
        np.testing.assert_array_equal(stored.data, grid.data)
        back = load_grid(entry, 0)
        assert list_grids(entry) == [0]
    assert back.channel_names == grid.channel_names and back.settings == grid.settings
    np.testing.assert_array_equal(back.data, grid.data)
    np.testing.assert_allclose(back.x, grid.x)
    with h5py.File(feature_file, "r") as f:  # storage-written grids load as Grid objects
        entry = next(f[n] for n in f if not n.startswith("_"))
        loaded = load_grid(entry, 1)
    assert loaded.method is MapMethod.GAUSSIAN and loaded.truncate == 3.0
    assert loaded.settings == GridSettings((4, 4, 4), (6.0, 6.0, 6.0))


def test_datasets_and_files_share_one_schema_check(feature_file, tmp_path):
    newer = tmp_path / "newer.hdf5"
    newer.write_bytes(Path(feature_file).read_bytes())
    with h5py.File(newer, "a") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    message = f"schema version {SCHEMA_VERSION + 1} is newer than this deeprank_like supports"
    with pytest.raises(StorageError, match=message):
        FeatureFile(newer)
    with pytest.raises(StorageError, match=message):
        GraphDataset(newer)
    from deeprank_like.data import hdf5_index  # deprecated module: the same constant

    assert hdf5_index.SUPPORTED_SCHEMA == SCHEMA_VERSION


def _run(code: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_one_spelling_of_each_name_and_no_upward_loads(graph, feature_file, tmp_path):
    """In a fresh process: rename groups in the schema before anything imports it, then write,
    merge, verify and read a file through storage and both datasets; storage loads no higher
    stage, and a dataset inherits a checkpoint's data config without loading training.
    """
    import pickle

    import torch

    pickled = tmp_path / "graph.pkl"
    pickled.write_bytes(pickle.dumps(graph))
    config = GraphDataset(feature_file, target="binary").data_config()
    ckpt = tmp_path / "model.pt"
    payload = {"format": "deeprank_like.checkpoint", "format_version": 1, "state_dict": {}}
    torch.save({**payload, "metadata": json.dumps({"data": config})}, ckpt)
    _run(
        f"""
        import importlib.util, pickle, sys, types
        import numpy as np

        # the façade (deeprank_like/__init__.py) imports the query classes eagerly: stand in
        # for it, so that sys.modules shows what storage and the datasets themselves load
        facade = types.ModuleType("deeprank_like")
        facade.__path__ = [{str(ROOT / "deeprank_like")!r}]
        sys.modules["deeprank_like"] = facade
        spec = importlib.util.spec_from_file_location(
            "deeprank_like.storage.schema", {str(ROOT / "deeprank_like/storage/schema.py")!r}
        )
        schema = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(schema)
        schema.NODE_FEATURES, schema.EDGE_FEATURES = "NODES", "EDGES"
        schema.FEATURE_GROUPS = {{"node": "NODES", "edge": "EDGES"}}
        schema.TARGETS, schema.GRIDS, schema.POSITIONS = "LABELS", "VOXELS", "XYZ"
        schema.ATTR_COMPLETE, schema.ATTR_FEATURE_SPECS = "DONE", "SPECS"
        sys.modules["deeprank_like.storage.schema"] = schema

        import h5py
        from deeprank_like.domain.specs import FeatureSpec
        from deeprank_like.storage import FeatureFile, merge_files, read_graph, write_graph
        from deeprank_like.storage.grids import StoredGrid, write_grid_group
        from deeprank_like.storage.integrity import check_file

        graph = pickle.loads(open({str(pickled)!r}, "rb").read())
        path, merged = {str(tmp_path / "renamed.hdf5")!r}, {str(tmp_path / "merged.hdf5")!r}
        axis = np.linspace(-3.0, 3.0, 4)
        grids = [
            StoredGrid(np.full((2, 4, 4, 4), i, np.float32), ("a", "b"), graph.center,
                       axis, axis, axis, np.eye(3), "GAUSSIAN", 1.0)
            for i in range(2)
        ]  # fmt: skip
        write_graph(path, graph, extra=lambda g: write_grid_group(g, grids))
        merge_files([path], merged)
        with h5py.File(merged, "r") as f:
            entry = f[next(n for n in f if not n.startswith("_"))]
            names = set(entry)
            assert {{"NODES", "EDGES", "LABELS", "VOXELS", "XYZ"}} <= names, names
            assert not {{"node_features", "edge_features", "targets", "grids", "positions"}} & names
            assert entry.attrs["DONE"] == 1 and "complete" not in entry.attrs
            assert check_file(f).ok and len(check_file(f).good) == 1
        back = read_graph(merged, graph.id)
        for name, values in graph.node_features.items():
            np.testing.assert_allclose(back.node_features[name], values, rtol=1e-6)
        assert back.targets == graph.targets
        assert all(type(s) is FeatureSpec for s in back.feature_specs.values())
        with FeatureFile(merged) as ff:
            ff.require(node_features=list(graph.node_features), targets=["binary"])
            assert ff.targets(graph.id) == {{"binary": 1}}
            assert all(type(s) is FeatureSpec for s in ff.feature_specs.values())
        loaded = sorted(m for m in sys.modules if m.startswith("deeprank_like."))
        higher = ("features", "query", "grid", "processing", "data", "nn", "training")
        assert not [m for m in loaded if m.split(".")[1] in higher], loaded

        from deeprank_like.data import GraphDataset, GridDataset

        ds = GraphDataset(merged, train_source={str(ckpt)!r})
        assert ds.target == "binary" and ds.node_features == {config["node_features"]!r}
        assert ds[0].x.shape[0] == graph.num_nodes and ds[0].y.tolist() == [1]
        grid_ds = GridDataset(merged, target="binary")
        assert len(grid_ds) == 2 and grid_ds[1].x[:, 0, 0, 0].tolist() == [1.0, 1.0]
        loaded = [m for m in sys.modules if m.startswith("deeprank_like.training")]
        assert not loaded, loaded

        from deeprank_like.grid import GridSettings
        from deeprank_like.grid.hdf5 import add_grids

        with h5py.File(path, "a") as f:
            entry = f[next(n for n in f if not n.startswith("_"))]
            add_grids(entry, graph, GridSettings((4, 4, 4), (8.0, 8.0, 8.0)), augmentations=1)
            assert sorted(entry["VOXELS"]) == ["000", "001"] and "grids" not in entry
        """
    )
