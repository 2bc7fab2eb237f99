"""`Graph`: the skeleton is read-only (what feature modules are promised), edge lengths are a typed field."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery, SingleResidueVariantQuery
from deeprank_like.features.base import FeatureModule, FeatureSpec
from deeprank_like.graph import SKELETON_FIELDS, Graph
from deeprank_like.graph.build import build_graph

PDB = Path(__file__).parents[1] / "data" / "pdb"
ATN = str(PDB / "1ATN_1w.pdb")


@pytest.fixture(scope="module")
def graph() -> Graph:
    return ProteinProteinInterfaceQuery(pdb_path=ATN, chain_ids=["A", "B"]).build(["contact"])


def test_skeleton_arrays_are_read_only_and_cannot_be_rebound(graph):
    for name in ("node_ids", "positions", "edge_index", "center", "residue_index", "edge_distance"):
        array = getattr(graph, name)
        assert not array.flags.writeable, name
        with pytest.raises(ValueError, match="read-only"):
            array[0] = array[0]
    for name in SKELETON_FIELDS:
        with pytest.raises(AttributeError, match=rf"Graph\.{name} is part of the read-only"):
            setattr(graph, name, getattr(graph, name))
    # the documented ways to change a graph still work
    moved = dataclasses.replace(graph, positions=graph.positions + 1.0)
    assert (
        moved.positions[0, 0] == graph.positions[0, 0] + 1.0 and not moved.positions.flags.writeable
    )
    other = graph.copy()
    other.id = "renamed"
    other.targets = {"dockq": 0.5}
    other.node_features["extra"] = np.zeros(other.num_nodes)
    assert graph.id != "renamed" and "extra" not in graph.node_features


def test_read_only_survives_pickle_and_deepcopy(graph):
    for clone in (pickle.loads(pickle.dumps(graph)), copy.deepcopy(graph)):
        assert not clone.positions.flags.writeable and not clone.edge_distance.flags.writeable
        np.testing.assert_array_equal(clone.edge_index, graph.edge_index)
        with pytest.raises(AttributeError):
            clone.edge_index = graph.edge_index


def test_edge_distance_is_a_typed_field_not_metadata(graph):
    assert (
        graph.edge_distance.shape == (graph.num_edges,) and graph.edge_distance.dtype == np.float64
    )
    # residue edges: the minimum atom-atom distance, which the contact module also reports
    np.testing.assert_allclose(graph.edge_distance, graph.edge_features["distance"])
    assert all(not isinstance(v, np.ndarray) for v in graph.metadata.values())
    json.dumps(graph.metadata)  # documented JSON-only: it goes into the HDF5 file
    with pytest.raises(ValueError, match=r"edge_distance has shape \(3,\)"):
        dataclasses.replace(graph, edge_distance=np.zeros(3))


def test_build_graph_atom_edges_match_brute_force():
    from deeprank_like.structure import load_structure

    s = load_structure(ATN)
    atoms = np.flatnonzero(s.chain_ids == "B")[:60]
    g = build_graph(
        s, graph_id="g", resolution="atom", node_atoms=atoms, max_edge_length=4.5,
        center=s.coords[atoms].mean(axis=0),
    )  # fmt: skip
    i, j = g.edge_index
    np.testing.assert_allclose(
        g.edge_distance, np.linalg.norm(g.positions[i] - g.positions[j], axis=1)
    )
    assert (g.edge_distance < 4.5).all()


class _Scribbler(FeatureModule):
    """A module that breaks the contract: it writes into the graph it is given."""

    name = "scribbler"

    def specs(self, context):
        return [FeatureSpec(name="scribble", kind="node")]

    def compute(self, context):
        context.graph.positions[:] = 0.0
        return {"scribble": np.zeros(context.graph.num_nodes)}


def test_a_feature_module_cannot_change_the_graph_it_is_given():
    from deeprank_like.errors import FeatureError

    q = SingleResidueVariantQuery(
        pdb_path=str(PDB / "101M.pdb"), chain_ids="A", variant_residue_number=25,
        wildtype_amino_acid="G", variant_amino_acid="A",
    )  # fmt: skip
    with pytest.raises(FeatureError, match="scribbler.*read-only"):
        q.build(["components", _Scribbler()])
