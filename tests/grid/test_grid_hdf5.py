"""Grid storage: round trip, augmented entries, determinism, untouched graph arrays."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from deeprank_like.errors import GridError, StorageError
from deeprank_like.grid import (
    GridSettings,
    MapMethod,
    add_grids,
    list_grids,
    load_grid,
    map_graph_to_grids,
    random_rotations,
    read_grid,
    write_grids,
)

SETTINGS = GridSettings((20, 18, 16), (20.0, 18.0, 16.0))


def _entry_with_graph_arrays(f: h5py.File, graph) -> h5py.Group:
    """A stand-in entry: a few graph arrays and the targets, as the storage layer writes them."""
    entry = f.create_group("entry")
    entry.create_dataset("positions", data=graph.positions.astype(np.float32))
    entry.create_dataset("edge_index", data=graph.edge_index.astype(np.int32))
    nf = entry.create_group("node_features")
    for name, value in graph.node_features.items():
        nf.create_dataset(name, data=value)
    t = entry.create_group("targets")
    t.create_dataset("binary", data=1.0)
    t.create_dataset("irmsd", data=2.75)
    return entry


def _snapshot(group: h5py.Group) -> dict:
    out = {}
    group.visititems(
        lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None
    )
    return out


def test_round_trip(tmp_path, ppi_graph):
    rotations = random_rotations(2, seed=3)
    grids = map_graph_to_grids(ppi_graph, SETTINGS, MapMethod.GAUSSIAN, rotations=rotations)
    path = tmp_path / "g.hdf5"
    with h5py.File(path, "w") as f:
        write_grids(f.create_group("entry"), grids)
    with h5py.File(path, "r") as f:
        entry = f["entry"]
        assert list_grids(entry) == [0, 1, 2]
        for i, grid in enumerate(grids):
            data, names = read_grid(entry, i)
            assert data.dtype == np.float32
            assert data.shape == (len(names), 20, 18, 16)
            assert names == list(grid.channel_names)
            np.testing.assert_array_equal(data, grid.data)
            loaded = load_grid(entry, i)
            np.testing.assert_array_equal(loaded.rotation, grid.rotation)
            np.testing.assert_array_equal(loaded.center, grid.center)
            np.testing.assert_array_equal(loaded.x, grid.x)
            np.testing.assert_array_equal(loaded.z, grid.z)
            assert loaded.method is MapMethod.GAUSSIAN
            assert loaded.sigma == 1.0 and loaded.truncate == 4.0
            assert loaded.settings == SETTINGS
        np.testing.assert_array_equal(load_grid(entry, 0).rotation, np.eye(3))
        np.testing.assert_allclose(load_grid(entry, 2).rotation, rotations[1])
        ds = entry["grids/001"]
        assert ds.compression == "gzip" and ds.chunks == (1, 20, 18, 16)
        assert read_grid(entry, "002")[0].shape == read_grid(entry, 2)[0].shape


def test_missing_grids(tmp_path):
    with h5py.File(tmp_path / "e.hdf5", "w") as f:
        entry = f.create_group("entry")
        assert list_grids(entry) == []
        with pytest.raises(StorageError, match="no grids"):
            read_grid(entry, 0)


def test_augmented_entries_differ_and_keep_targets(tmp_path, ppi_graph):
    path = tmp_path / "a.hdf5"
    with h5py.File(path, "w") as f:
        entry = _entry_with_graph_arrays(f, ppi_graph)
        before = _snapshot(entry)
        n = add_grids(entry, ppi_graph, SETTINGS, "FAST_GAUSSIAN", augmentations=3, seed=11)
        assert n == 4
    with h5py.File(path, "r") as f:
        entry = f["entry"]
        after = _snapshot(entry)
        # the graph arrays and targets are untouched; only grids/ was added
        for name, value in before.items():
            np.testing.assert_array_equal(after[name], value)
        assert sorted(set(after) - set(before)) == [f"grids/{i:03d}" for i in range(4)]
        data = [read_grid(entry, i)[0] for i in list_grids(entry)]
        # each augmented grid differs from every other one, but holds the same total mass of
        # a one-hot channel up to what leaves the box
        for i in range(4):
            for j in range(i + 1, 4):
                assert not np.allclose(data[i], data[j])
        rots = [load_grid(entry, i).rotation for i in range(4)]
        assert all(not np.allclose(rots[i], rots[j]) for i in range(4) for j in range(i + 1, 4))
        # a grid sample is (grid i, the entry's targets): the same targets for all of them
        assert float(entry["targets/irmsd"][()]) == 2.75


def test_seeded_augmentation_is_deterministic(tmp_path, ppi_graph):
    def run(seed):
        with h5py.File(tmp_path / f"s{seed}.hdf5", "w") as f:
            entry = f.create_group("entry")
            add_grids(entry, ppi_graph, SETTINGS, "NEAREST", augmentations=2, seed=seed)
            return [read_grid(entry, i)[0] for i in range(3)]

    a, b, c = run(5), run(5), run(6)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a[0], c[0])  # the unrotated grid does not depend on the seed
    assert not np.allclose(a[1], c[1])


def test_rewrite_replaces_and_validates(tmp_path, ppi_graph):
    grids = map_graph_to_grids(ppi_graph, SETTINGS, "NEAREST", rotations=random_rotations(2, 0))
    with h5py.File(tmp_path / "r.hdf5", "w") as f:
        entry = f.create_group("entry")
        write_grids(entry, grids)
        write_grids(entry, grids[:1], compression="lzf")
        assert list_grids(entry) == [0]
        assert entry["grids/000"].compression == "lzf"
        with pytest.raises(GridError, match="at least one"):
            write_grids(entry, [])
        with pytest.raises(GridError, match="do not match"):
            write_grids(entry, grids[:2], rotations=np.stack([np.eye(3), np.eye(3)]))
        write_grids(entry, grids[:2], rotations=np.stack([g.rotation for g in grids[:2]]))
        assert list_grids(entry) == [0, 1]


def test_with_storage_write_graph(tmp_path, ppi_graph):
    """Through the storage layer's ``extra`` hook."""
    from deeprank_like.storage import read_graph, write_graph

    path = tmp_path / "s.hdf5"
    with h5py.File(path, "a") as f:
        write_graph(
            f,
            ppi_graph,
            extra=lambda g: add_grids(g, ppi_graph, SETTINGS, augmentations=1, seed=1),
        )
    back = read_graph(str(path), ppi_graph.id)
    np.testing.assert_allclose(back.positions, ppi_graph.positions, rtol=1e-6)
    with h5py.File(path, "r") as f:
        entry = next(f[k] for k in f if not k.startswith("_"))
        assert list_grids(entry) == [0, 1]


def test_add_grids_accepts_plain_config(tmp_path, ppi_graph):
    """The processing config travels as JSON: settings as a dict, method as a string."""
    with h5py.File(tmp_path / "c.hdf5", "w") as f:
        entry = f.create_group("entry")
        n = add_grids(
            entry,
            ppi_graph,
            SETTINGS.to_dict(),
            "nearest",
            augmentations=None,
            seed=None,
            compression=None,
            compression_opts=None,
        )
        assert n == 1 and entry["grids/000"].compression is None
        assert load_grid(entry, 0).method is MapMethod.NEAREST
