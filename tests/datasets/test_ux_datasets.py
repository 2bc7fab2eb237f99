"""Datasets a new user can trust (issue 16, items 6, 7, 11).

* features are decided at construction from every entry of every file, so the file order
  never changes them (``"all"`` = the features of every entry; a warning names the others);
* files mixing residue and atom entries fail at construction, or are split by ``resolution=``;
* ``to_pandas`` node tables carry chain / residue number / name, edge tables their endpoints;
* DeepRank2's extra dataset arguments are accepted or refused with a message saying what to do.
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import h5py
import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery
from deeprank_like.data import GraphDataset
from deeprank_like.errors import StorageError
from deeprank_like.storage import write_graph

DATA = Path(__file__).resolve().parents[1] / "data"
PDB = DATA / "pdb" / "1ATN_1w.pdb"
PSSM = {"A": str(DATA / "pssm" / "1ATN.A.pdb.pssm"), "B": str(DATA / "pssm" / "1ATN.B.pdb.pssm")}


@functools.cache
def _graph(radius: float, pssm: bool, resolution: str = "residue"):
    modules = ["components", "contact"] + (["conservation"] if pssm else [])
    query = ProteinProteinInterfaceQuery(
        pdb_path=str(PDB),
        chain_ids=["A", "B"],
        influence_radius=radius,
        max_edge_length=radius if resolution == "residue" else 4.5,
        resolution=resolution,
        pssm_paths=PSSM if pssm else None,
        model_id=f"1ATN_1w_{resolution}_r{radius:g}{'_pssm' if pssm else ''}",
    )
    graph = query.build(modules)
    graph.targets = {"binary": int(radius > 7)}
    return graph


def _write(path: Path, graphs: list) -> str:
    with h5py.File(path, "w") as f:
        for g in graphs:
            write_graph(f, g)
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """a: two entries without PSSM; b: two entries with the 23 PSSM columns."""
    root = tmp_path_factory.mktemp("ux_datasets")
    a = _write(root / "a.hdf5", [_graph(6.0, False), _graph(8.0, False)])
    b = _write(root / "b.hdf5", [_graph(6.0, True), _graph(8.0, True)])
    return a, b


def test_feature_selection_does_not_depend_on_file_order(files):
    a, b = files
    with pytest.warns(UserWarning, match="pssm") as record:
        ab = GraphDataset([a, b], target="binary")
    with pytest.warns(UserWarning, match="pssm"):
        ba = GraphDataset([b, a], target="binary")
    assert ab.node_features == ba.node_features
    assert ab.edge_features == ba.edge_features
    assert ab.num_node_features == ba.num_node_features
    message = str(record[0].message)
    assert "2 of 4 entries" in message and "a.hdf5" in message  # says which entries lack them
    # the PSSM features are stored only in b: 'all' keeps the features of every entry
    b_only = GraphDataset(b, target="binary")
    assert "pssm" in b_only.node_features and "pssm" not in ab.node_features
    assert b_only.num_node_features - ab.num_node_features >= 20
    # every item of both orders reads with the same columns
    for ds in (ab, ba):
        assert {ds[i].x.shape[1] for i in range(len(ds))} == {ds.num_node_features}


def test_entries_of_one_file_with_different_features(tmp_path):
    # one file, entries with and without PSSM columns: decided from every entry too
    path = _write(tmp_path / "c.hdf5", [_graph(8.0, True), _graph(6.0, False)])
    with pytest.warns(UserWarning, match=r"1 of 2 entries lack"):
        ds = GraphDataset(path, target="binary")
    assert "pssm" not in ds.node_features
    assert {ds[i].x.shape[1] for i in range(len(ds))} == {ds.num_node_features}
    with pytest.raises(StorageError, match="not stored in every entry"):
        GraphDataset(path, node_features=["pssm"])


def test_explicit_feature_missing_from_some_entries_fails_up_front(files):
    a, b = files
    for order in ([a, b], [b, a]):
        with pytest.raises(StorageError, match=r"not stored in every entry: 2 entries lack"):
            GraphDataset(order, node_features=["res_type", "pssm"], target="binary")


def test_same_features_everywhere_gives_no_warning(files):
    a, _ = files
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = GraphDataset([a, a], target="binary")
    assert len(ds) == 4


@pytest.fixture(scope="module")
def mixed_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("ux_mixed")
    return _write(
        root / "mixed.hdf5",
        [_graph(6.0, False), _graph(8.0, False), _graph(4.0, False, resolution="atom")],
    )


def test_mixed_resolutions_fail_at_construction(mixed_file):
    with pytest.raises(StorageError, match=r"mix graph resolutions .*1 atom-level.*resolution="):
        GraphDataset(mixed_file, target="binary")


def test_resolution_selects_one_kind_and_is_inherited(mixed_file):
    residue = GraphDataset(mixed_file, target="binary", resolution="residue")
    assert len(residue) == 2 and residue.resolution == "residue"
    atom = GraphDataset(mixed_file, target="binary", resolution="atom")
    assert len(atom) == 1 and atom[0].x.shape[1] == atom.num_node_features
    assert atom.data_config(include_stats=False)["resolution"] == "atom"
    inherited = GraphDataset(mixed_file, train_source=residue)
    assert len(inherited) == 2 and inherited.resolution == "residue"
    with pytest.raises(StorageError, match="resolution must be"):
        GraphDataset(mixed_file, resolution="coarse")


def test_to_pandas_node_and_edge_tables_identify_residues(files):
    a, _ = files
    ds = GraphDataset(a, target="binary", node_features=["res_type"], edge_features=["distance"])
    graph = _graph(6.0, False)
    nodes = ds.to_pandas("node")
    one = nodes[nodes.entry == graph.id]
    ids = graph.node_ids
    assert list(one.columns[:8]) == [
        "file",
        "entry",
        "binary",
        "node",
        "chain",
        "residue_number",
        "insertion_code",
        "residue_name",
    ]
    assert one.node.tolist() == list(range(graph.num_nodes))
    assert one.chain.tolist() == [str(c) for c in ids["chain"]]
    assert one.residue_number.tolist() == [int(n) for n in ids["residue_number"]]
    assert one.residue_name.tolist() == [str(n) for n in ids["residue_name"]]

    edges = ds.to_pandas("edge")
    one = edges[edges.entry == graph.id]
    src, dst = graph.edge_index
    assert one.node_1.tolist() == src.tolist() and one.node_2.tolist() == dst.tolist()
    assert one.chain_1.tolist() == [str(c) for c in ids["chain"][src]]
    assert one.residue_number_2.tolist() == [int(n) for n in ids["residue_number"][dst]]
    assert one.residue_name_2.tolist() == [str(n) for n in ids["residue_name"][dst]]
    np.testing.assert_allclose(one.distance, graph.edge_features["distance"], rtol=1e-6)
    inter = one[one.chain_1 != one.chain_2]
    assert len(inter) > 0  # an interface: edges between the two chains


def test_to_pandas_atom_tables_have_atom_names(mixed_file):
    atom = GraphDataset(mixed_file, resolution="atom", node_features=["res_type"])
    nodes = atom.to_pandas("node")
    assert "atom_name" in nodes.columns and nodes.atom_name.str.len().min() > 0
    edges = atom.to_pandas("edge")
    assert {"atom_name_1", "atom_name_2"} <= set(edges.columns)


def test_item_info_carries_the_structure_path(files):
    a, _ = files
    ds = GraphDataset(a, target="binary")
    info = ds.item_info(0)
    assert info["pdb_path"] == str(PDB)
    assert ds.entry_query(0)["chain_ids"] == ["A", "B"]


def test_deeprank2_dataset_arguments(files):
    a, _ = files
    # accepted, no effect
    ds = GraphDataset(
        a, target="binary", use_tqdm=False, root="./", check_integrity=True,
        clustering_method=None, target_transform=False, target_filter=None,
    )  # fmt: skip
    assert len(ds) == 2
    with pytest.raises(TypeError, match="no preclustering"):
        GraphDataset(a, target="binary", clustering_method="mcl")
    with pytest.raises(TypeError, match="subset="):
        GraphDataset(a, target="binary", target_filter={"binary": "<1"})
    with pytest.raises(TypeError, match="sigmoid"):
        GraphDataset(a, target="binary", target_transform=True)
    with pytest.raises(
        TypeError, match="unexpected keyword argument 'node_feature'.*node_features"
    ):
        GraphDataset(a, node_feature=["res_type"])


def test_callable_transforms_are_inherited_from_the_training_dataset(files):
    # DeepRank2's tutorial: features_transform with a lambda, then train_source=dataset_train
    a, _ = files
    spec = {"all": {"transform": lambda x: np.cbrt(x), "standardize": True}}
    train = GraphDataset(
        a, features_transform=spec, target="binary", subset=[_graph(6.0, False).id]
    )
    val = GraphDataset(a, train_source=train)
    same = GraphDataset(a, train_source=train, subset=[_graph(6.0, False).id])
    np.testing.assert_allclose(same[0].x.numpy(), train[0].x.numpy())
    assert len(val) == 2


def test_grid_features_do_not_depend_on_file_order(tmp_path):
    from deeprank_like.data import GridDataset
    from deeprank_like.grid.hdf5 import add_grids
    from deeprank_like.grid.settings import GridSettings

    settings = GridSettings(points_counts=(6, 6, 6), sizes=(12.0, 12.0, 12.0))
    paths = []
    for name, pssm in (("ga.hdf5", False), ("gb.hdf5", True)):
        graph = _graph(6.0, pssm)
        with h5py.File(tmp_path / name, "w") as f:
            write_graph(f, graph, extra=lambda g, graph=graph: add_grids(g, graph, settings))
        paths.append(str(tmp_path / name))
    with pytest.warns(UserWarning, match="pssm"):
        ab = GridDataset(paths, target="binary")
    with pytest.warns(UserWarning, match="pssm"):
        ba = GridDataset(paths[::-1], target="binary")
    assert ab.channels == ba.channels and "pssm" not in ab.features
    assert ab[1].x.shape == ba[1].x.shape == (len(ab.channels), 6, 6, 6)
