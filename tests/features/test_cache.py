"""The per-structure cache: reuse, invalidation, bound, off-switch, and unchanged results."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery, SingleResidueVariantQuery
from deeprank_like.errors import StructureError
from deeprank_like.features import cache

PDB = Path(__file__).resolve().parents[1] / "data" / "pdb"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    with cache.enabled():
        yield
    cache.clear()


def _srv(path, number, wt, var, resolution="residue"):
    return SingleResidueVariantQuery(
        pdb_path=str(path), chain_ids="A", variant_residue_number=number,
        wildtype_amino_acid=wt, variant_amino_acid=var, resolution=resolution,
    )  # fmt: skip


def _features(graph) -> dict[str, np.ndarray]:
    return {**graph.node_features, **graph.edge_features}


def test_same_file_shares_one_structure_and_its_results():
    a = _srv(PDB / "3C8P.pdb", 40, "CYS", "ALA")
    b = _srv(PDB / "3C8P.pdb", 40, "CYS", "TRP")
    sa = a.load_structure()
    sb = b.load_structure()
    assert sa is sb
    info = cache.cache_info()
    assert info["hits"] == 1 and info["misses"] == 1 and info["entries"] == 1
    a.build(["secondary_structure"])
    assert "_sec_struct_setup" in sb._cache  # the second query reuses the first one's result


def test_variant_scan_with_cache_equals_cold_builds():
    modules = ["components", "contact", "surfacearea", "exposure", "secondary_structure"]
    scan = [_srv(PDB / "3C8P.pdb", 40, "CYS", v) for v in ("ALA", "TRP", "GLY")]
    scan.append(_srv(PDB / "3C8P.pdb", 40, "CYS", "ASP", resolution="atom"))
    warm = [q.build(modules) for q in scan]
    assert cache.cache_info()["hits"] == len(scan) - 1
    with cache.disabled():
        cold = [q.build(modules) for q in scan]
    for w, c in zip(warm, cold, strict=True):
        fw, fc = _features(w), _features(c)
        assert fw.keys() == fc.keys()
        for name in fw:
            np.testing.assert_array_equal(fw[name], fc[name], err_msg=f"{w.id} {name}")
    # the variant features differ between variants of one position although the structure is shared
    assert not np.array_equal(
        warm[0].node_features["variant_res"], warm[1].node_features["variant_res"]
    )


def test_edited_file_is_read_again(tmp_path):
    path = tmp_path / "x.pdb"
    atoms = [
        line
        for line in (PDB / "3C8P.pdb").read_text().splitlines(keepends=True)
        if line.startswith(("ATOM", "HETATM"))
    ]
    path.write_text("".join(atoms))
    q = ProteinProteinInterfaceQuery(pdb_path=str(path), chain_ids=["A", "B"])
    first = q.load_structure()
    assert q.load_structure() is first
    # a new version of the file, same size (first atom moved by 1 Å in x): read again
    first_atom = atoms[0]
    moved = f"{float(first_atom[30:38]) + 1.0:8.3f}"
    path.write_text("".join([first_atom[:30] + moved + first_atom[38:], *atoms[1:]]))
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    second = q.load_structure()
    assert second is not first
    assert second.coords[0, 0] == pytest.approx(first.coords[0, 0] + 1.0)


def test_model_is_part_of_the_key(tmp_path):
    path = tmp_path / "two_models.pdb"
    atoms = [
        line
        for line in (PDB / "3C8P.pdb").read_text().splitlines()
        if line.startswith(("ATOM", "HETATM"))
    ]
    moved = atoms[0][:30] + f"{float(atoms[0][30:38]) + 1.0:8.3f}" + atoms[0][38:]
    path.write_text(
        "MODEL        1\n" + "\n".join(atoms) + "\nENDMDL\nMODEL        2\n"
        + "\n".join([moved, *atoms[1:]]) + "\nENDMDL\nEND\n"
    )  # fmt: skip
    q0 = ProteinProteinInterfaceQuery(pdb_path=str(path), chain_ids=["A", "B"], model=0)
    q1 = ProteinProteinInterfaceQuery(pdb_path=str(path), chain_ids=["A", "B"], model=1)
    s0, s1 = q0.load_structure(), q1.load_structure()
    assert s0 is not s1
    assert s1.coords[0, 0] == pytest.approx(s0.coords[0, 0] + 1.0)
    assert q0.load_structure() is s0 and q1.load_structure() is s1


def test_off_switch_loads_every_time():
    q = _srv(PDB / "3C8P.pdb", 40, "CYS", "ALA")
    with cache.disabled():
        assert q.load_structure() is not q.load_structure()
        assert cache.cache_info()["entries"] == 0
    assert cache.is_enabled()


def test_memory_bound_evicts_least_recently_used():
    small = _srv(PDB / "3C8P.pdb", 40, "CYS", "ALA")
    big = ProteinProteinInterfaceQuery(pdb_path=str(PDB / "1ATN_1w.pdb"), chain_ids=["A", "B"])
    s_small = small.load_structure()
    size_small = cache.estimate_bytes(s_small)
    try:
        cache.configure(max_mb=1.5 * size_small / 2**20)
        big.load_structure()  # over the bound together: the older entry goes
        info = cache.cache_info()
        assert info["entries"] == 1 and info["evictions"] == 1
        assert small.load_structure() is not s_small
        cache.configure(max_mb=0)
        assert cache.cache_info()["entries"] == 0
    finally:
        cache.configure(max_mb=cache._DEFAULT_MB)


def test_missing_file_error_is_unchanged_and_nothing_is_cached(tmp_path):
    q = ProteinProteinInterfaceQuery(pdb_path=str(tmp_path / "none.pdb"), chain_ids=["A", "B"])
    with pytest.raises(StructureError, match="not found"):
        q.load_structure()
    assert cache.cache_info()["entries"] == 0


def test_bad_environment_value_is_named(monkeypatch):
    monkeypatch.setenv("DEEPRANK_LIKE_STRUCTURE_CACHE_MB", "lots")
    with pytest.raises(ValueError, match="DEEPRANK_LIKE_STRUCTURE_CACHE_MB"):
        cache._env_max_bytes()
    with pytest.raises(ValueError, match="max_mb"):
        cache.configure(max_mb=-1)


def test_contact_values_reused_for_the_same_graph_and_independent():
    a = _srv(PDB / "3C8P.pdb", 40, "CYS", "ALA")
    b = _srv(PDB / "3C8P.pdb", 40, "CYS", "TRP")
    ga = a.build(["contact"])
    s = a.load_structure()
    assert sum(1 for k in s._cache if isinstance(k, tuple) and k[0] == "_contact_values") == 1
    ga.edge_features["electrostatic"][:] = 0.0  # the graph's array is its own copy
    gb = b.build(["contact"])
    with cache.disabled():
        cold = b.build(["contact"])
    for name, value in cold.edge_features.items():
        np.testing.assert_array_equal(gb.edge_features[name], value)
    assert np.abs(gb.edge_features["electrostatic"]).sum() > 0
    other = _srv(PDB / "3C8P.pdb", 20, "GLY", "TRP").build(["contact"])  # another graph
    assert other.num_edges != ga.num_edges or not np.array_equal(other.edge_index, ga.edge_index)


def test_memory_estimate_counts_kd_trees_memoised_on_a_structure():
    """The depth surface is memoised as a KD-tree (no __dict__); the estimate counts its points."""
    from scipy.spatial import cKDTree

    from deeprank_like.features.exposure import atom_depths
    from deeprank_like.structure import load_structure

    s = load_structure(PDB / "3C8P.pdb")
    atom_depths(s, np.arange(10))
    trees = [
        v["surface_tree"] for v in s._cache.values() if isinstance(v, dict) and "surface_tree" in v
    ]
    assert trees and isinstance(trees[0], cKDTree)
    tree = trees[0]
    assert cache.estimate_bytes(s) >= tree.data.nbytes * 2 + tree.indices.nbytes  # dots + tree
    assert cache._nbytes(tree) >= tree.data.nbytes + tree.indices.nbytes
