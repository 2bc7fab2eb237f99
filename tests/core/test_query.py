"""Queries: node selection, ids, determinism, groups and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from deeprank_like import ProteinProteinInterfaceQuery, QueryCollection, SingleResidueVariantQuery
from deeprank_like.errors import QueryError, StructureError
from deeprank_like.query import query_from_dict
from deeprank_like.structure import load_structure

PDB = Path(__file__).parents[1] / "data" / "pdb"
ATN = str(PDB / "1ATN_1w.pdb")
C8P = str(PDB / "3C8P.pdb")
M101 = str(PDB / "101M.pdb")


def _heavy_aa(s):
    return (s.residue_aa[s.residue_index] >= 0) & ~s.is_hydrogen


def test_ppi_residue_nodes_match_brute_force():
    q = ProteinProteinInterfaceQuery(pdb_path=C8P, chain_ids=["A", "B"])
    g = q.build()
    s = load_structure(C8P)
    m = _heavy_aa(s)
    a = np.flatnonzero(m & (s.chain_ids == "A"))
    b = np.flatnonzero(m & (s.chain_ids == "B"))
    d = cdist(s.coords[a], s.coords[b])
    res = set(s.residue_index[a[(d < 10).any(1)]]) | set(s.residue_index[b[(d < 10).any(0)]])
    assert sorted(res) == g.residue_index.tolist()
    assert q.get_query_id() == "residue-ppi:A-B:3C8P"
    # edges: min heavy-atom distance < 10 Å, brute force
    nodes = g.residue_index
    expected = set()
    for i in range(len(nodes)):
        for j in range(i + 1, len(nodes)):
            ai = np.flatnonzero(m & (s.residue_index == nodes[i]))
            aj = np.flatnonzero(m & (s.residue_index == nodes[j]))
            if cdist(s.coords[ai], s.coords[aj]).min() < 10:
                expected.add((i, j))
    assert set(map(tuple, g.edge_index.T.tolist())) == expected
    assert (g.edge_index[0] < g.edge_index[1]).all()


def test_ppi_atom_nodes_and_center():
    g = ProteinProteinInterfaceQuery(pdb_path=C8P, chain_ids=["A", "B"], resolution="atom").build()
    s = load_structure(C8P)
    m = _heavy_aa(s)
    a = np.flatnonzero(m & (s.chain_ids == "A"))
    b = np.flatnonzero(m & (s.chain_ids == "B"))
    d = cdist(s.coords[a], s.coords[b])
    contact = np.sort(np.concatenate([a[(d < 4.5).any(1)], b[(d < 4.5).any(0)]]))
    np.testing.assert_array_equal(g.atom_index, contact)
    np.testing.assert_allclose(g.center, s.coords[contact].mean(0))
    np.testing.assert_allclose(g.positions, s.coords[contact])
    assert set(g.node_ids["atom_name"]) >= {"CA"}


def test_ppi_groups_and_multichain_ids():
    q = ProteinProteinInterfaceQuery(pdb_path=ATN, chain_ids=[["A"], "B"])
    assert q.get_query_id() == "residue-ppi:A-B:1ATN_1w"
    q3 = ProteinProteinInterfaceQuery(pdb_path=ATN, chain_ids=[["A", "B"], "C"])
    assert q3.get_query_id() == "residue-ppi:A+B-C:1ATN_1w"
    with pytest.raises(QueryError, match=r"chain\(s\) \['C'\] not found"):
        q3.build()


def test_three_sides_include_all_pairwise_interfaces(tmp_path):
    # split chain B of 3C8P in two pseudo-chains by renumbering the chain id on half the lines
    lines = Path(C8P).read_text().splitlines()
    out = []
    for line in lines:
        if line.startswith(("ATOM", "HETATM")) and line[21] == "B" and int(line[22:26]) > 23:
            line = line[:21] + "C" + line[22:]
        out.append(line)
    path = tmp_path / "three.pdb"
    path.write_text("\n".join(out) + "\n")
    three = ProteinProteinInterfaceQuery(pdb_path=str(path), chain_ids=["A", "B", "C"]).build()
    grouped = ProteinProteinInterfaceQuery(pdb_path=str(path), chain_ids=["A", ["B", "C"]]).build()
    # every side is its own partner: the B–C interface adds nodes
    assert set(grouped.residue_index) <= set(three.residue_index)
    assert len(three.residue_index) > len(grouped.residue_index)


def test_srv_nodes_ids_and_variant():
    q = SingleResidueVariantQuery(
        pdb_path=M101, chain_ids="A", variant_residue_number=25, insertion_code=None,
        wildtype_amino_acid="GLY", variant_amino_acid="Alanine",
    )  # fmt: skip
    assert q.get_query_id() == "residue-srv:A:25:Glycine->Alanine:101M"
    g = q.build()
    assert (g.num_nodes, g.num_edges) == (43, 524)  # DeepRank2 gives 43 / 524 too
    s = load_structure(M101)
    res = s.find_residue("A", 25)
    np.testing.assert_allclose(g.center, s.residue_centers()[res])


def test_srv_errors():
    kwargs = dict(pdb_path=M101, chain_ids="A", insertion_code=None, variant_amino_acid="A")
    with pytest.raises(QueryError, match="wild type VAL does not match residue A 25 GLY"):
        SingleResidueVariantQuery(
            variant_residue_number=25, wildtype_amino_acid="V", **kwargs
        ).build()
    with pytest.raises(QueryError, match="residue A 999 not found"):
        SingleResidueVariantQuery(
            variant_residue_number=999, wildtype_amino_acid="G", **kwargs
        ).build()
    with pytest.raises(QueryError, match="unknown amino acid 'XYZ'"):
        SingleResidueVariantQuery(variant_residue_number=25, wildtype_amino_acid="XYZ", **kwargs)
    with pytest.raises(QueryError, match="exactly one chain"):
        SingleResidueVariantQuery(
            pdb_path=M101, chain_ids=["A", "B"], variant_residue_number=25,
            wildtype_amino_acid="G", variant_amino_acid="A",
        )  # fmt: skip
    with pytest.raises(QueryError, match="chain 'Z' not found"):
        SingleResidueVariantQuery(
            pdb_path=M101, chain_ids="Z", variant_residue_number=25,
            wildtype_amino_acid="G", variant_amino_acid="A",
        ).build()  # fmt: skip


def test_ppi_errors(tmp_path):
    with pytest.raises(QueryError, match="at least two"):
        ProteinProteinInterfaceQuery(pdb_path=ATN, chain_ids=["A"])
    with pytest.raises(QueryError, match="more than one side"):
        ProteinProteinInterfaceQuery(pdb_path=ATN, chain_ids=["A", ["A", "B"]])
    with pytest.raises(QueryError, match="resolution"):
        ProteinProteinInterfaceQuery(pdb_path=ATN, chain_ids=["A", "B"], resolution="coarse")
    with pytest.raises(QueryError, match="no interface"):
        ProteinProteinInterfaceQuery(
            pdb_path=ATN, chain_ids=["A", "B"], influence_radius=0.5
        ).build()
    with pytest.raises(StructureError, match=r"query residue-ppi:A-B:nope: .*not found"):
        ProteinProteinInterfaceQuery(
            pdb_path=str(tmp_path / "nope.pdb"), chain_ids=["A", "B"]
        ).build()


def test_determinism_and_round_trip():
    q = ProteinProteinInterfaceQuery(pdb_path=ATN, chain_ids=["A", "B"], targets={"dockq": 0.5})
    g1, g2 = q.build(), query_from_dict(q.to_dict()).build()
    np.testing.assert_array_equal(g1.node_ids, g2.node_ids)
    np.testing.assert_array_equal(g1.edge_index, g2.edge_index)
    for name in g1.node_features:
        np.testing.assert_array_equal(g1.node_features[name], g2.node_features[name])
    for name in g1.edge_features:
        np.testing.assert_array_equal(g1.edge_features[name], g2.edge_features[name])
    assert g1.targets == {"dockq": 0.5}
    # node order: chain, then residue number
    keys = list(zip(g1.node_ids["chain"], g1.node_ids["residue_number"], strict=True))
    assert keys == sorted(keys)


def test_collection_renames_duplicates():
    qc = QueryCollection()
    for name in ["1ATN_1w", "1ATN_1w", "1ATN_1w", "1ATN_2w", "1ATN_2w"]:
        qc.add(
            ProteinProteinInterfaceQuery(pdb_path=str(PDB / f"{name}.pdb"), chain_ids=["A", "B"])
        )
    assert [q.model_id for q in qc] == ["1ATN_1w", "1ATN_1w_2", "1ATN_1w_3", "1ATN_2w", "1ATN_2w_2"]
    assert len(set(qc.ids())) == 5
    rebuilt = QueryCollection.from_dicts(qc.to_dicts())
    assert rebuilt.ids() == qc.ids()


def test_collection_add_never_renames_the_callers_query():
    first = ProteinProteinInterfaceQuery(pdb_path=ATN, chain_ids=["A", "B"])
    second = ProteinProteinInterfaceQuery(pdb_path=ATN, chain_ids=["A", "B"])
    qc = QueryCollection([first])
    stored = qc.add(second)
    assert second.model_id == "1ATN_1w" and second.get_query_id() == first.get_query_id()
    assert stored is not second and stored.model_id == "1ATN_1w_2"
    assert qc[1] is stored and qc.ids() == ["residue-ppi:A-B:1ATN_1w", "residue-ppi:A-B:1ATN_1w_2"]
    # the copy keeps every other field
    assert {**stored.to_dict(), "model_id": None} == {**second.to_dict(), "model_id": None}
    # adding the same object again leaves it alone too
    qc.add(first)
    assert first.model_id == "1ATN_1w" and qc.ids()[-1] == "residue-ppi:A-B:1ATN_1w_3"
    with pytest.raises(TypeError, match="expected a Query"):
        qc.add("1ATN_1w.pdb")


def test_collection_has_no_process_method_and_says_what_to_call():
    with pytest.raises(AttributeError, match=r"deeprank_like\.process\(collection"):
        QueryCollection().process(prefix="x")
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        QueryCollection().nope  # noqa: B018


def test_non_amino_acid_residues_excluded_with_logged_count(caplog):
    caplog.set_level("INFO", logger="deeprank_like.query.base")
    q = SingleResidueVariantQuery(
        pdb_path=M101, chain_ids="A", variant_residue_number=93, wildtype_amino_acid="H",
        variant_amino_acid="A", influence_radius=12.0,
    )  # fmt: skip
    g = q.build(["components"])
    assert "HEM" not in set(g.node_ids["residue_name"])
    assert "3 non-amino-acid residue(s) excluded" in caplog.text and "HEM×1" in caplog.text
