"""The parity script ``benchmarks/parity_deeprank2.py`` on our side only (no DeepRank2 needed)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery
from deeprank_like.examples import example_path


@pytest.fixture(scope="module")
def parity(load_script):
    return load_script("benchmarks/parity_deeprank2.py")


def _write_dr2_entry(
    group: h5py.Group, names: list[str], index: list[tuple[int, int]], feats: dict
) -> None:
    """An entry in DeepRank2's layout: ``_name`` strings, ``_index`` (E, 2), float64 features."""
    nf = group.create_group("node_features")
    nf["_name"] = np.array([n.encode() for n in names])
    nf["_chain_id"] = np.array([n.split()[1].encode() for n in names])
    nf["_position"] = np.zeros((len(names), 3))
    ef = group.create_group("edge_features")
    ef["_index"] = np.array(index, dtype=np.int64)
    for name, (level, values) in feats.items():
        (nf if level == "node" else ef)[name] = values


def test_reads_deeprank2_layout_and_compares(parity, tmp_path: Path) -> None:
    names = ["contact_atoms_X A 1", "contact_atoms_X A 2", "contact_atoms_X B 52A"]
    with h5py.File(tmp_path / "dr2.hdf5", "w") as f:
        _write_dr2_entry(
            f.create_group("residue-ppi:A-B:X"), names, [(0, 2), (2, 1)],
            {"sasa": ("node", np.array([10.0, 20.0, 30.0])), "distance": ("edge", np.array([3.0, 9.0])),
             "hse": ("node", np.array([[1.0, 2.0, 0.5], [3.0, 4.0, 0.1], [0.0, 0.0, 0.0]]))},
        )  # fmt: skip
        dr2 = parity.table_from_dr2(f["residue-ppi:A-B:X"], "residue")
    assert dr2.node_keys == [("A", "1"), ("A", "2"), ("B", "52A")]
    assert dr2.edge_keys == [(("A", "1"), ("B", "52A")), (("A", "2"), ("B", "52A"))]
    ours = parity.GraphTable(
        node_keys=[("B", "52A"), ("A", "1"), ("C", "7")],  # other order, one node not in DR2
        node_features={"sasa": np.array([[30.5], [10.0], [5.0]]),
                       "hse": np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 0.5], [1.0, 1.0, 1.0]]),
                       "bsa": np.zeros((3, 1))},
        edge_keys=[(("A", "1"), ("B", "52A"))],
        edge_features={"distance": np.array([[3.7]])},
    )  # fmt: skip
    cmp = parity.SetComparison()
    parity.compare_tables(dr2, ours, cmp, "q")
    assert (cmp.nodes_dr2, cmp.nodes_ours, cmp.nodes_common) == (3, 3, 2)
    assert (cmp.edges_dr2, cmp.edges_ours, cmp.edges_common) == (2, 1, 1)
    assert cmp.only_ours == {"bsa"}
    sasa = cmp.features["sasa"].summary()
    assert sasa["rows"] == 2 and sasa["agree"] == 2  # 30 vs 30.5 is within 1 Å² + 5 %
    dist = cmp.features["distance"].summary()
    assert dist["agree"] == 0 and dist["max_abs_diff"] == pytest.approx(0.7)
    assert "A 1–B 52A" in dist["max_diff_at"]
    rows = {r["feature"]: r for r in parity.feature_rows({"ppi-residue": cmp})}
    assert rows["distance"]["category"] == "their bug"
    assert rows["sasa"]["category"] == "" and rows["hse"]["share"] == 1.0


def test_unexplained_difference_is_flagged(parity) -> None:
    cmp = parity.SetComparison()
    tab = parity.GraphTable([("A", "1")], {"new_feature": np.array([[1.0]])}, [], {})
    other = parity.GraphTable([("A", "1")], {"new_feature": np.array([[2.0]])}, [], {})
    parity.compare_tables(tab, other, cmp, "q")
    (row,) = parity.feature_rows({"s": cmp})
    assert row["category"] == "unexplained"


def test_our_graph_against_itself_agrees_everywhere(parity) -> None:
    query = ProteinProteinInterfaceQuery(pdb_path=str(example_path("3C8P")), chain_ids=["A", "B"])
    table = parity.table_from_graph(query.build(["components", "contact"]))
    cmp = parity.SetComparison()
    parity.compare_tables(table, table, cmp, "3C8P")
    assert cmp.nodes_common == len(table.node_keys) > 0
    assert cmp.edges_common == len(table.edge_keys) > 0
    for stats in cmp.features.values():
        s = stats.summary()
        assert s["agree"] == s["rows"] > 0 and s["max_abs_diff"] == 0


def test_pdb_reader_keeps_best_conformer(parity, tmp_path: Path) -> None:
    def atom(serial, name, alt, chain, res, x, occ, element):
        return (f"ATOM  {serial:5d} {name:<4s}{alt}ALA {chain}{res:4d}    "
                f"{x:8.3f}{0.0:8.3f}{0.0:8.3f}{occ:6.2f}{10.0:6.2f}          {element:>2s}\n")  # fmt: skip

    text = (
        atom(1, "CA", "A", "A", 1, 0.0, 0.4, "C") + atom(2, "CA", "B", "A", 1, 1.0, 0.6, "C")
        + atom(3, "H", " ", "A", 1, 2.0, 1.0, "H") + atom(4, "CA", " ", "B", 5, 4.0, 1.0, "C")
        + atom(5, "CB", " ", "B", 5, 12.0, 1.0, "C")
    )  # fmt: skip
    path = tmp_path / "t.pdb"
    path.write_text(text)
    atoms = parity.read_pdb_atoms(path)
    assert list(atoms["name"]) == ["CA", "H", "CA", "CB"]
    assert atoms["xyz"][0, 0] == 1.0  # occupancy 0.6 wins
    assert list(atoms["heavy"]) == [True, False, True, True]
    # minimum heavy-atom distance A1-B5 over whole residues: 3.0; over the 2.5 Å shell: the H
    # (A1 H at x=2) to B5 CA (x=4) = 2.0
    ev = parity.distance_evidence(
        path, [(("A", "1"), ("B", "5"))], np.array([2.0]), np.array([3.0]), radius=2.5
    )
    assert ev["ours_equals_full_structure"] == 1.0 and ev["deeprank2_equals_shell"] == 1.0


def test_markdown_report(parity) -> None:
    result = {
        "date": "2026-12-02", "versions": {"deeprank2": "3.1.0", "deeprank_like": "0.1", "python": "3.11"},
        "queries": ["ppi-residue-3C8P"], "load_average": [1.0, 1.0, 1.0],
        "sets": {"ppi-residue": {"nodes_dr2": 2, "nodes_ours": 2, "nodes_common": 2, "edges_dr2": 1,
                                 "edges_ours": 1, "edges_common": 1, "only_dr2": [], "only_ours": []}},
        "features": [
            {"set": "ppi-residue", "feature": "res_type", "rows": 2, "agree": 2, "share": 1.0, "r": 1.0,
             "max_abs_diff": 0.0, "max_diff_at": "", "note": "", "category": "", "reason": ""},
            {"set": "ppi-residue", "feature": "distance", "rows": 1, "agree": 0, "share": 0.0, "r": float("nan"),
             "max_abs_diff": 5.5, "max_diff_at": "q B 82–B 118: 9.2 vs 3.7", "note": "",
             "category": "their bug", "reason": "truncated residues"},
        ],
        "evidence": {}, "timing": {"per_query": {"ppi-residue-3C8P": {"deeprank2": 2.0, "ours": 0.5}}},
        "errors": {},
    }  # fmt: skip
    text = parity.render_markdown(result)
    assert "| ppi-residue | `distance` | 1 | 0 % | 0.01 Å |" in text
    assert "**their bug**: truncated residues" in text
    assert "- ppi-residue: `res_type`" in text
    assert "| ppi-residue-3C8P | 2 s | 0.5 s | 4× | – | – |" in text  # a run before the column
    result["timing"]["per_query"]["ppi-residue-3C8P"]["ours_freesasa"] = 0.25
    assert "| ppi-residue-3C8P | 2 s | 0.5 s | 4× | 0.25 s | 8× |" in parity.render_markdown(result)


def test_freesasa_clock_counts_the_lee_richards_runs_and_restores(parity) -> None:
    import freesasa

    original = freesasa.calcCoord
    query = ProteinProteinInterfaceQuery(
        pdb_path=str(example_path("3C8P.pdb")), chain_ids=["A", "B"], resolution="residue"
    )
    from deeprank_like.features import cache

    with cache.disabled():
        with parity._FreesasaClock() as clock:
            query.build(["components"])  # no surface areas
        assert clock.seconds == 0.0
        with parity._FreesasaClock() as clock:
            query.build(["surfacearea"])
        assert clock.seconds > 0.0
    assert freesasa.calcCoord is original


def test_missing_deeprank2_is_a_clear_error(parity, tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="does not exist: install DeepRank2"):
        parity.main(["--dr2-python", str(tmp_path / "nope" / "python"), "--out", str(tmp_path)])


def test_every_reason_has_a_known_category(parity) -> None:
    assert {c for c, _ in parity.REASONS.values()} <= {"ours", "their bug", "method", "inputs"}
    queries = parity.default_queries()
    assert {(q.kind, q.resolution) for q in queries} == {
        ("ppi", "residue"),
        ("ppi", "atom"),
        ("srv", "residue"),
        ("srv", "atom"),
    }
    assert all(Path(p).exists() for q in queries for p in q.pssm_paths().values())


def test_docs_tables_come_from_the_committed_run(parity) -> None:
    """docs/coming-from-deeprank2.md holds exactly what the script renders from parity.json."""
    import json

    result = json.loads((parity.DEFAULT_OUT / "parity.json").read_text())
    page = parity.DOCS_PAGE.read_text(encoding="utf-8")
    block = page.split(parity.BEGIN, 1)[1].split(parity.END, 1)[0]
    assert block == "\n" + parity.render_markdown(result, level=3)
    # every row with less than full agreement has its reason
    for row in result["features"]:
        if row["agree"] < row["rows"]:
            assert row["category"] in {"ours", "their bug", "method", "inputs", "compat"}, row


def test_from_json_rerenders_and_updates_a_page(parity, tmp_path: Path) -> None:
    source = parity.DEFAULT_OUT / "parity.json"
    page = tmp_path / "page.md"
    page.write_text(f"intro\n{parity.BEGIN}\nold table\n{parity.END}\noutro\n")
    result = parity.main(["--from-json", str(source), "--out", str(tmp_path / "out")])
    parity.update_docs(result, page)
    text = page.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{parity.END}\noutro\n")
    assert "old table" not in text and "#### Graph sizes" in text
    assert (tmp_path / "out" / "parity.md").read_text().startswith("# Parity with DeepRank2")
    # the JSON beside the re-rendered report is the one it was rendered from
    assert json.loads((tmp_path / "out" / "parity.json").read_text()) == json.loads(
        source.read_text()
    )
    with pytest.raises(SystemExit, match="markers"):
        parity.update_docs(result, tmp_path / "out" / "parity.md")


def test_deeprank2_process_failure_names_the_cause(parity, tmp_path: Path) -> None:
    """An interpreter without DeepRank2: the error carries the runner's stderr, nothing hangs."""
    queries = parity.default_queries()[:1]
    paths = parity.prepare_inputs(queries, tmp_path / "in")
    with pytest.raises(RuntimeError, match="(?s)DeepRank2 run failed.*No module named 'deeprank2'"):
        parity.DeepRank2Process(sys.executable, queries, paths, tmp_path / "dr2.hdf5")
