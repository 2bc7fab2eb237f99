"""A batch of a packed dataset in one pass (``PackedGraphDataset.__getitems__``,
``PackedFile.read_entries``): the same items, value for value, as item by item."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader

from deeprank_like.data import GraphDataset, PackedGraphDataset
from deeprank_like.errors import StorageError, TrainingError
from deeprank_like.storage.packed import PackedFile, PackedWriter
from deeprank_like.training.batches import TaggedDataset
from tests.datasets.conftest import assert_same_item

KW = {
    "node_features": ["res_type", "res_charge", "polarity", "res_mass"],
    "edge_features": ["electrostatic", "distance"],
    "target": "irmsd",
    "standardize": True,
    "transforms": {"res_mass": "log", "distance": {"name": "clip", "min": 3.0, "max": 8.0}},
}


ORDER = [4, 0, 5, 6, 7, 1, 1, 8, 2, 3, -1]  # runs of neighbours, a repeat, a negative index


@pytest.mark.parametrize(
    "kw",
    [
        KW,
        {"target": "irmsd"},  # every stored feature, nothing standardised
        {"target": "irmsd", "standardize": True, "edge_features": []},
        {"target": "capri", "task": "classif", "node_features": ["res_type"]},
    ],
    ids=["transforms", "raw", "no-edge-features", "classif"],
)
def test_batch_items_identical_to_single_items(sources, packed, kw):
    ds = PackedGraphDataset(packed, **kw)
    ref = GraphDataset(sources, **kw)
    batch = ds.__getitems__(ORDER)
    assert len(batch) == len(ORDER)
    for i, item in zip(ORDER, batch, strict=True):
        assert_same_item(item, ds[i])
        assert_same_item(item, ref[i])  # and GraphDataset's
        assert item.edge_index.is_contiguous()


def test_batch_of_an_inheriting_subset_and_a_pyg_index_view(packed):
    train = PackedGraphDataset(packed, **KW)
    val = PackedGraphDataset(packed, train_source=train, subset=train.entry_ids()[2:7])
    for i, item in zip([4, 0, 2], val.__getitems__([4, 0, 2]), strict=True):
        assert_same_item(item, val[i])
    view = train[[8, 3, 5]]  # PyG index_select: items through indices()
    for i, item in zip([2, 0], view.__getitems__([2, 0]), strict=True):
        assert_same_item(item, view[i])
        assert item.entry_id == train.entry_ids()[[8, 3, 5][i]]
    with pytest.raises(IndexError):
        val.__getitems__([0, 5])


def test_read_entries_coalesces_neighbours_and_keeps_the_order(packed):
    f = PackedFile(packed)
    keys = [3, 4, 5, 0, 8, 8, 1]
    got = f.read_entries(keys)
    for name in ("node_features", "edge_features", "edge_index", "positions"):
        want = np.concatenate([f.read_entry(k)[name] for k in keys])
        assert got[name].dtype == want.dtype and np.array_equal(got[name], want), name
    assert list(got["node_counts"]) == [len(f.read_entry(k)["positions"]) for k in keys]
    with pytest.raises(IndexError, match="out of range"):
        f.read_entries([0, len(f)])


def test_loader_and_trainer_batches_equal_item_by_item(packed):
    ds = PackedGraphDataset(packed, **KW)
    loader = DataLoader(ds, batch_size=4, shuffle=False)  # batches through __getitems__
    for k, batch in enumerate(loader):
        items = [ds[i] for i in range(4 * k, min(4 * k + 4, len(ds)))]
        assert_same_item(batch, Batch.from_data_list(items))
    tagged = TaggedDataset(ds)
    keys = [(3, 1.0), (0, 0.0), (7, 1.0)]
    for got, key in zip(tagged.__getitems__(keys), keys, strict=True):
        assert_same_item(got, tagged[key])


def _write(path: Path, edges: list[np.ndarray], values: float = 1.0) -> str:
    nodes = [int(e.max()) + 1 for e in edges]
    with PackedWriter(
        path,
        num_entries=len(edges),
        num_nodes=sum(nodes),
        num_edges=sum(len(e) for e in edges),
        node_columns=[("a", 1), ("b", 2)],
        edge_columns=[("d", 1)],
    ) as w:
        rng = np.random.default_rng(0)
        for i, (e, n) in enumerate(zip(edges, nodes, strict=True)):
            w.add(
                f"g{i}",
                rng.normal(size=(n, 3)).astype(np.float32) * values,
                rng.normal(size=(len(e), 1)).astype(np.float32),
                e.astype(np.int32),
                rng.normal(size=(n, 3)).astype(np.float32),
                targets={"t": float(i)},
            )
        w.commit()
    return str(path)


def test_unsorted_repeated_and_self_loop_edges_keep_the_single_item_order(tmp_path):
    edges = [
        np.array([[2, 0], [0, 1], [2, 0], [1, 1], [0, 2], [1, 0]]),  # repeats, a loop, unsorted
        np.array([[0, 1]]),
        np.array([[3, 1], [1, 3], [0, 0], [2, 1], [3, 1]]),
    ]
    ds = PackedGraphDataset(
        _write(tmp_path / "e.h5", edges), target="t", task="regress", standardize=True
    )
    for i, item in zip([2, 0, 1, 2], ds.__getitems__([2, 0, 1, 2]), strict=True):
        assert_same_item(item, ds[i])


def test_non_finite_after_a_transform_raises_naming_the_entry(tmp_path):
    path = _write(tmp_path / "neg.h5", [np.array([[0, 1]]), np.array([[0, 1], [1, 2]])])
    ds = PackedGraphDataset(
        path, target="t", task="regress", transforms={"a": lambda v: np.full_like(v, np.inf)}
    )
    with pytest.raises((StorageError, TrainingError), match="entry 'g1'"):
        ds.__getitems__([1, 0])


def test_small_tensors_travel_by_value_large_ones_through_shared_memory():
    import pickle

    from torch.multiprocessing.reductions import reduce_tensor

    from deeprank_like.data.packed_workers import SMALL_TENSOR_BYTES, _reduce_tensor

    small = torch.arange(12, dtype=torch.int64).reshape(3, 4)[:, 1:3]  # a view, not contiguous
    rebuild, args = _reduce_tensor(small)
    again = rebuild(*pickle.loads(pickle.dumps(args)))
    assert again.dtype == small.dtype and torch.equal(again, small)
    again[0, 0] = -1  # writable, and its own memory
    assert small[0, 0] == 1
    y = torch.tensor([[1.5], [2.5]], dtype=torch.float32)
    assert torch.equal(_reduce_tensor(y)[0](*_reduce_tensor(y)[1]), y)
    large = torch.zeros(SMALL_TENSOR_BYTES // 4 + 1, dtype=torch.float32)
    assert _reduce_tensor(large)[0] is reduce_tensor(large)[0]  # torch's shared memory
    grad = torch.zeros(2, requires_grad=True)
    assert _reduce_tensor(grad)[0] is reduce_tensor(grad)[0]
