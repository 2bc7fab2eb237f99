"""DeepRank2-compatibility options, against values computed with DeepRank2 3.1.0 (issue #18).

References in ``tests/data/deeprank2/`` were written by ``benchmarks/parity_deeprank2.py
--write-test-data`` from DeepRank2's own HDF5 output (PPI residue graphs of 3C8P and of
DeepRank2's test decoy 1ATN_1w, influence radius 10 Å), so no DeepRank2 is needed here.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery
from deeprank_like.domain.forcefield import atom_parameters
from deeprank_like.examples import example_path
from deeprank_like.features.contact import Contact
from deeprank_like.features.exposure import Exposure
from deeprank_like.features.registry import module_reference, resolve_reference
from deeprank_like.structure import load_structure

DATA = Path(__file__).resolve().parents[1] / "data" / "deeprank2"


def _read(name: str) -> list[dict[str, str]]:
    with open(DATA / name) as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def _graph(stem: str, modules: list, include_hydrogens: bool):
    query = ProteinProteinInterfaceQuery(
        pdb_path=str(example_path(stem)), chain_ids=["A", "B"], include_hydrogens=include_hydrogens
    )
    return query.build(modules)


def _edge_lookup(graph) -> dict[tuple, int]:
    ids = graph.node_ids
    keys = [(str(r["chain"]), f"{int(r['residue_number'])}{r['insertion_code']}") for r in ids]
    out = {}
    for e, (i, j) in enumerate(graph.edge_index.T):
        out[(keys[i], keys[j])] = e
        out[(keys[j], keys[i])] = e
    return out


@pytest.mark.parametrize("stem", ["3C8P", "1ATN_1w"])
def test_interface_shell_contact_reproduces_deeprank2(stem: str) -> None:
    rows = _read(f"{stem}_ppi_residue_edges.csv")
    assert len(rows) > 100
    # DeepRank2's interface shell counts hydrogens (the 1ATN decoys have them)
    graph = _graph(stem, [Contact(residue_atoms="interface_shell")], include_hydrogens=True)
    where = _edge_lookup(graph)
    for row in rows:
        e = where[((row["chain1"], row["res1"]), (row["chain2"], row["res2"]))]
        for name in ("distance", "electrostatic", "vanderwaals"):
            got = graph.edge_features[name][e]
            assert got == pytest.approx(float(row[name]), rel=1e-6, abs=1e-6), (name, row)


def test_default_contact_uses_whole_residues() -> None:
    """DeepRank2's B82-B118 'minimum distance' (9.2 Å) is over truncated residues; ours is 3.7 Å."""
    rows = {(r["res1"], r["res2"]): r for r in _read("1ATN_1w_ppi_residue_edges.csv")}
    dr2 = rows.get(("118", "82")) or rows[("82", "118")]
    graph = _graph("1ATN_1w", [Contact()], include_hydrogens=False)
    e = _edge_lookup(graph)[(("B", "82"), ("B", "118"))]
    s = load_structure(example_path("1ATN_1w"))
    heavy = ~s.is_hydrogen

    def atoms(number: int) -> np.ndarray:
        res = s.find_residue("B", number, "")
        return s.coords[(s.residue_index == res) & heavy]

    independent = np.linalg.norm(atoms(82)[:, None] - atoms(118)[None], axis=-1).min()
    assert graph.edge_features["distance"][e] == pytest.approx(independent, abs=1e-9)
    assert independent == pytest.approx(3.73, abs=0.01)
    assert float(dr2["distance"]) == pytest.approx(9.226, abs=0.01)


@pytest.mark.parametrize("stem", ["3C8P", "1ATN_1w"])
def test_hse_alpha_reproduces_deeprank2(stem: str) -> None:
    rows = _read(f"{stem}_ppi_residue_hse.csv")
    # with hydrogens, the interface has DeepRank2's nodes (HSE itself ignores hydrogens)
    graph = _graph(stem, [Exposure(hse="alpha")], include_hydrogens=True)
    ids = graph.node_ids
    assert len(ids) == len(rows)
    pos = {
        (str(r["chain"]), f"{int(r['residue_number'])}{r['insertion_code']}"): i
        for i, r in enumerate(ids)
    }
    hse = graph.node_features["hse"]
    for row in rows:
        i = pos[(row["chain"], row["res"])]
        assert hse[i, 0] == float(row["up"]) and hse[i, 1] == float(row["down"]), row
        assert hse[i, 2] == pytest.approx(float(row["angle"]), abs=1e-5), row  # float32 input


def test_hse_beta_stays_default() -> None:
    default = _graph("3C8P", ["exposure"], include_hydrogens=False).node_features["hse"]
    alpha = _graph("3C8P", [Exposure(hse="alpha")], include_hydrogens=False).node_features["hse"]
    assert not np.array_equal(default, alpha)
    # HSE-alpha is (0, 0, 0) at the first residue of a chain; HSE-beta is defined there
    assert (alpha[0] == 0).all() and default[0, :2].sum() > 0


def test_options_validate_and_reach_workers() -> None:
    with pytest.raises(ValueError, match="residue_atoms='shell'"):
        Contact(residue_atoms="shell")
    with pytest.raises(ValueError, match="hse='gamma'"):
        Exposure(hse="gamma")
    contact = resolve_reference(module_reference(Contact(residue_atoms="interface_shell")))
    exposure = resolve_reference(module_reference(Exposure(hse="alpha")))
    assert contact.residue_atoms == "interface_shell" and exposure.hse == "alpha"


def test_forcefield_has_aromatic_ring_atoms_and_his_he2() -> None:
    """Regression: the topology parser skipped lines with ``exclude=(..)`` and ``TYPE=``.

    Values from protein-allhdg5-5 (as DeepRank2's TopParser reads them): TYR CZ type CY2 charge
    0.265; PHE CG type CF (ε 0.110 kcal/mol, σ 3.75 Å); HIS HE2 type H charge 0.46.
    """
    s = load_structure(example_path("1ATN_1w"))
    p = atom_parameters(s)

    def first(res_name: str, atom: str) -> int:
        hits = np.flatnonzero((s.res_names == res_name) & (s.atom_names == atom))
        assert hits.size, (res_name, atom)
        return int(hits[0])

    assert p.charge[first("TYR", "CZ")] == pytest.approx(0.265)
    phe_cg = first("PHE", "CG")
    assert p.epsilon[phe_cg] == pytest.approx(0.110) and p.sigma[phe_cg] == pytest.approx(3.75)
    # a histidine with both HD1 and HE2 keeps the unpatched topology charge of HE2
    his = s.residue_index[np.flatnonzero((s.res_names == "HIS") & (s.atom_names == "HE2"))]
    both = [r for r in his if "HD1" in set(s.atom_names[s.residue_index == r])]
    he2 = np.flatnonzero((s.residue_index == both[0]) & (s.atom_names == "HE2"))[0]
    assert p.charge[he2] == pytest.approx(0.46)
