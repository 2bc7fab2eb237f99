"""GraphDataset: items, feature selection, standardisation, inheritance, tables, workers."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from deeprank_like.data import GraphDataset, column_names
from deeprank_like.errors import StorageError, TrainingError


@pytest.fixture
def graphs(builders):
    return builders.graphs()


@pytest.fixture
def _graph(graphs):
    return lambda entry_id: next(g for g in graphs if g.id == entry_id)


def test_item_matches_stored_graph(graph_file, _graph):
    ds = GraphDataset(graph_file, target="irmsd")
    assert len(ds) == 9
    assert ds.task == "regress"
    data = ds[0]
    g = _graph(data.entry_id)
    assert data.x.dtype == torch.float32
    assert data.x.shape == (g.num_nodes, ds.num_node_features)
    np.testing.assert_allclose(data.x.numpy(), g.node_feature_matrix(ds.node_features), rtol=1e-6)
    # both directions, sorted by destination then source, attributes duplicated
    ei = data.edge_index.numpy()
    assert ei.shape == (2, 2 * g.num_edges)
    assert np.all(np.diff(ei[1] * 10_000 + ei[0]) > 0)
    pairs = {(int(a), int(b)) for a, b in g.edge_index.T}
    assert {(int(a), int(b)) for a, b in ei.T} == pairs | {(b, a) for a, b in pairs}
    ea = g.edge_feature_matrix(ds.edge_features)
    lookup = {p: i for i, p in enumerate(map(tuple, g.edge_index.T.tolist()))}
    for k in range(0, ei.shape[1], 97):
        a, b = int(ei[0, k]), int(ei[1, k])
        row = lookup.get((a, b), lookup.get((b, a)))
        np.testing.assert_allclose(data.edge_attr[k].numpy(), ea[row], rtol=1e-6)
    assert data.y.shape == (1, 1)
    assert data.y.item() == pytest.approx(g.targets["irmsd"])


def test_feature_selection_order_and_widths(graph_file, _graph):
    ds = GraphDataset(
        graph_file, node_features=["res_charge", "res_type"], edge_features=["distance"]
    )
    assert ds.node_features == ["res_charge", "res_type"]
    assert ds.num_node_features == 21 and ds.num_edge_features == 1
    assert ds.node_columns == ["res_charge", *column_names("res_type", 20)]
    data = ds[0]
    g = _graph(data.entry_id)
    np.testing.assert_allclose(data.x[:, 0].numpy(), g.node_features["res_charge"])
    np.testing.assert_allclose(data.x[:, 1:].numpy(), g.node_features["res_type"])
    assert "y" not in data  # no target requested


def test_all_features_sorted(graph_file, graphs):
    ds = GraphDataset(graph_file)
    assert ds.node_features == sorted(graphs[0].node_features)
    assert ds.edge_features == sorted(graphs[0].edge_features)


def test_bad_feature_name_lists_available(graph_file):
    with pytest.raises(
        StorageError, match=r"unknown node feature\(s\) \['res_charj'\].*res_charge"
    ):
        GraphDataset(graph_file, node_features=["res_charj"])
    with pytest.raises(StorageError, match=r"available edge features: \['covalent', 'distance'"):
        GraphDataset(graph_file, edge_features=["nope"])


def test_classification_targets(graph_file, _graph):
    ds = GraphDataset(graph_file, target="binary")
    assert ds.task == "classif" and ds.classes == [0, 1]
    labels = [int(ds[i].y) for i in range(len(ds))]
    assert labels == [int(_graph(e).targets["binary"]) for e in ds.entry_ids()]
    assert ds.class_counts().tolist() == [labels.count(0), labels.count(1)]
    multi = GraphDataset(graph_file, target="capri", task="classif")
    assert multi.classes == [0, 2, 3]  # inferred, sorted
    assert int(multi[multi.entry_ids().index("residue-ppi:A-B:1ATN_1w_r12")].y) == 2
    with pytest.raises(TrainingError, match="cannot infer the task"):
        GraphDataset(graph_file, target="capri")
    bad = GraphDataset(graph_file, target="capri", task="classif", classes=[0, 1])
    with pytest.raises(StorageError, match="not one of the classes"):
        [bad[i] for i in range(len(bad))]


def test_standardisation_exact_per_column(graph_file, graphs):
    ds = GraphDataset(graph_file, standardize=True)
    nodes = ds.to_pandas("node")
    stats = ds.standardizer
    assert set(stats.stats) == set(ds.node_features) | set(ds.edge_features)  # exact names only
    for name in ds.node_features:
        cols = column_names(name, ds.node_widths[name])
        values = nodes[cols].to_numpy(dtype=np.float64)
        mean, std = stats.stats[name]
        assert mean.shape == (len(cols),)
        np.testing.assert_allclose(mean, values.mean(axis=0), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(std, values.std(axis=0), rtol=1e-10, atol=1e-12)
    edges = ds.to_pandas("edge")
    mean, std = stats.stats["distance"]
    np.testing.assert_allclose(mean[0], edges["distance"].to_numpy(np.float64).mean(), rtol=1e-12)

    # applied: standardised columns have mean 0 / std 1; constant columns stay as they are
    small = GraphDataset(graph_file, subset=[g.id for g in graphs[6:]], standardize=True)
    x = np.vstack([small[i].x.numpy() for i in range(len(small))]).astype(np.float64)
    raw = small.to_pandas("node")[small.node_columns].to_numpy(np.float64)
    const = raw.std(axis=0) == 0
    assert const.any()  # residue types absent from the 3C8P interfaces
    np.testing.assert_array_equal(x[:, const], raw[:, const])
    np.testing.assert_allclose(x[:, ~const].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(x[:, ~const].std(axis=0), 1, atol=1e-4)


def test_standardize_subset_and_transform(graph_file, _graph):
    ds = GraphDataset(
        graph_file,
        node_features=["res_mass", "res_charge"],
        transforms={"res_mass": "log1p"},
        standardize=["res_mass"],
    )
    assert list(ds.standardizer.stats) == ["res_mass"]
    logm = np.log1p(ds.to_pandas("node")["res_mass"].to_numpy())
    data = ds[0]
    g = _graph(data.entry_id)
    expected = (np.log1p(g.node_features["res_mass"]) - logm.mean()) / logm.std()
    np.testing.assert_allclose(data.x[:, 0].numpy(), expected, atol=2e-5)
    np.testing.assert_allclose(data.x[:, 1].numpy(), g.node_features["res_charge"])
    with pytest.raises(TrainingError, match="unknown transform"):
        GraphDataset(graph_file, transforms={"res_mass": "log2"})
    with pytest.raises(TrainingError, match="cannot standardise"):
        GraphDataset(graph_file, node_features=["res_mass"], standardize=["res_charge"])


def test_train_source_inherits_everything(graph_files_split, _graph):
    train = GraphDataset(
        graph_files_split[0],
        node_features=["res_mass", "res_type"],
        edge_features=["distance"],
        target="binary",
        transforms={"res_mass": "sqrt"},
        standardize=True,
    )
    with pytest.warns(UserWarning, match="ignored: inherited"):
        test = GraphDataset(graph_files_split[1], train_source=train, target="irmsd")
    assert test.target == "binary" and test.task == "classif" and test.classes == [0, 1]
    assert test.node_features == train.node_features and test.transforms == train.transforms
    assert test.standardizer is train.standardizer
    mean, std = train.standardizer.stats["res_mass"]
    data = test[0]
    g = _graph(data.entry_id)
    np.testing.assert_allclose(
        data.x[:, 0].numpy(), (np.sqrt(g.node_features["res_mass"]) - mean[0]) / std[0], rtol=1e-5
    )
    # a dataset fitted on other data has other statistics
    own = GraphDataset(
        graph_files_split[1],
        node_features=["res_mass"],
        transforms={"res_mass": "sqrt"},
        standardize=True,
    )
    assert own.standardizer.stats["res_mass"][0][0] != pytest.approx(mean[0])


def test_multiple_files_subset_and_to_pandas(graph_file, graph_files_split, graphs, _graph):
    both = GraphDataset(list(graph_files_split), target="irmsd")
    assert len(both) == 9
    table = both.to_pandas()
    assert set(table["file"]) == {str(p) for p in graph_files_split}
    assert sorted(table["entry"]) == sorted(g.id for g in graphs)
    np.testing.assert_allclose(table["irmsd"], [_graph(e).targets["irmsd"] for e in table["entry"]])
    nodes = both.to_pandas("node")
    assert len(nodes) == sum(g.num_nodes for g in graphs)
    ids = ["residue-ppi:A-B:3C8P_r8", "residue-ppi:A-B:1ATN_2w_r10"]
    sub = GraphDataset(graph_file, subset=ids)
    assert sorted(sub.entry_ids()) == sorted(ids)
    with pytest.raises(StorageError, match="subset entries not found"):
        GraphDataset(graph_file, subset=["nope"])


def test_in_memory_equals_lazy(graph_file):
    lazy = GraphDataset(graph_file, target="irmsd", standardize=True)
    mem = GraphDataset(graph_file, target="irmsd", standardize=True, in_memory=True)
    mem.prepare(num_workers=2)  # read in 2 worker processes
    assert len(mem._cache) == len(mem)
    for i in range(len(lazy)):
        a, b = lazy[i], mem[i]
        assert torch.equal(a.x, b.x) and torch.equal(a.edge_index, b.edge_index)
        assert torch.equal(a.edge_attr, b.edge_attr) and torch.equal(a.y, b.y)


def test_missing_targets(graph_file, unlabelled_file):
    with pytest.raises(StorageError, match="has no target 'irmsd'"):
        GraphDataset(unlabelled_file, target="irmsd")[0]
    train = GraphDataset(graph_file, target="irmsd")
    infer = GraphDataset(unlabelled_file, train_source=train)
    assert torch.isnan(infer[0].y).all()


def test_handles_are_per_process_and_not_pickled(graph_file):
    ds = GraphDataset(graph_file, target="irmsd")
    ds[0]
    assert ds._handles._files  # opened lazily by get
    clone = pickle.loads(pickle.dumps(ds))
    assert clone._handles._files == {}
    assert torch.equal(clone[3].x, ds[3].x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        serial = [b.x for b in DataLoader(ds, batch_size=4)]
        parallel = [b.x for b in DataLoader(ds, batch_size=4, num_workers=2)]
    assert all(torch.equal(a, b) for a, b in zip(serial, parallel, strict=True))


def test_deeprank2_features_transform_form(graph_file):
    new = GraphDataset(
        graph_file,
        node_features=["res_mass", "res_charge"],
        edge_features=["distance"],
        transforms={"res_mass": np.log1p},
        standardize=["res_mass", "distance"],
    )
    old = GraphDataset(
        graph_file,
        node_features=["res_mass", "res_charge"],
        edge_features=["distance"],
        features_transform={
            "all": {"transform": None, "standardize": True},
            "res_mass": {"transform": np.log1p, "standardize": True},
            "res_charge": {"standardize": False},
        },
    )
    assert old.standardize == ["res_mass", "distance"]
    assert torch.equal(old[2].x, new[2].x) and torch.equal(old[2].edge_attr, new[2].edge_attr)
    with pytest.raises(TrainingError, match="either features_transform"):
        GraphDataset(
            graph_file, features_transform={"all": {"standardize": True}}, standardize=True
        )
