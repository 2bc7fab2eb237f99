"""The per-query speed-ups of session 22 (issue #17.1) give the old outputs, bit for bit.

Each ``_old_*`` function is a verbatim copy of the implementation before the speed-up, kept
only here: residue-edge pair energies and their pair list (``contact``), pair distances and
residue edges (``graph.build``), the freesasa neighbour search and the buried-surface test
(``surfacearea``; now one shared neighbour list, :func:`sasa_pairs`), the accessible dots
from that list (``exposure``), interface atoms (skeleton and ``irc``). The new code must give
identical arrays on the test structures and on random inputs built to hit the edge cases
(atoms at the same position, close same-chain pairs, several sides).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.spatial import cKDTree

from deeprank_like import ProteinProteinInterfaceQuery
from deeprank_like.domain.forcefield import atom_parameters
from deeprank_like.features import contact, surfacearea
from deeprank_like.features.base import FeatureContext
from deeprank_like.features.exposure import DEPTH_PROBE_RADIUS, accessible_dots
from deeprank_like.graph import build
from deeprank_like.structure import load_structure

DATA = Path(__file__).resolve().parents[1] / "data"
STRUCTURES = [DATA / "pdb" / "3C8P.pdb", DATA / "pdb" / "1ATN_1w.pdb", DATA / "pdb" / "1ak4.pdb"]


# ---- verbatim copies of the code before the speed-ups ------------------------------------


def _old_pair_energies(structure, i, j, forcefield_version=2):
    p = atom_parameters(structure, forcefield_version)
    x, y, z = contact.coordinate_columns(structure)
    dx, dy, dz = x[i] - x[j], y[i] - y[j], z[i] - z[j]
    r = np.sqrt(dx * dx + dy * dy + dz * dz)
    same_chain = structure.chain_index[i] == structure.chain_index[j]
    r_e = np.maximum(r, contact.MIN_ENERGY_DISTANCE)
    elec = p.charge[i] * p.charge[j] * contact.COULOMB_CONSTANT / (contact.EPSILON0 * r_e)
    use14 = same_chain & (r < contact.CUTOFF_14)
    eps = np.where(
        use14, np.sqrt(p.epsilon14[i] * p.epsilon14[j]), np.sqrt(p.epsilon[i] * p.epsilon[j])
    )
    sig = np.where(use14, 0.5 * (p.sigma14[i] + p.sigma14[j]), 0.5 * (p.sigma[i] + p.sigma[j]))
    sr6 = (sig / r_e) ** 6
    vdw = 4.0 * eps * (sr6 * sr6 - sr6)
    excluded = same_chain & (r < contact.CUTOFF_13)
    elec = np.where(excluded, 0.0, elec)
    vdw = np.where(excluded, 0.0, vdw)
    return elec, vdw, r


def _old_residue_contact(context, forcefield_version=2):
    s, g = context.structure, context.graph
    src, dst = g.edge_index
    atoms, start = context.node_atom_groups()
    counts = np.diff(start)
    n_pairs = counts[src] * counts[dst]
    edge_of_pair = np.repeat(np.arange(g.num_edges), n_pairs)
    first_pair = np.concatenate([[0], np.cumsum(n_pairs)[:-1]])
    local = np.arange(n_pairs.sum()) - np.repeat(first_pair, n_pairs)
    cd = counts[dst][edge_of_pair]
    ai = atoms[start[src][edge_of_pair] + local // cd]
    bi = atoms[start[dst][edge_of_pair] + local % cd]
    elec, vdw, r = _old_pair_energies(s, ai, bi, forcefield_version)
    e_sum = np.bincount(edge_of_pair, weights=elec, minlength=g.num_edges)
    v_sum = np.bincount(edge_of_pair, weights=vdw, minlength=g.num_edges)
    dmin = np.full(g.num_edges, np.inf)
    np.minimum.at(dmin, edge_of_pair, r)
    return {"distance": dmin, "electrostatic": e_sum, "vanderwaals": v_sum}


def _old_residue_edges(coords, atom_node, max_edge_length):
    n = int(atom_node.max()) + 1 if atom_node.size else 0
    if coords.shape[0] < 2:
        return np.zeros((2, 0), dtype=np.int64), np.zeros(0)
    pairs = cKDTree(coords).query_pairs(max_edge_length, output_type="ndarray").astype(np.int64)
    a, b = atom_node[pairs[:, 0]], atom_node[pairs[:, 1]]
    keep = a != b
    pairs, a, b = pairs[keep], a[keep], b[keep]
    p_lo, p_hi = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    d = np.linalg.norm(coords[p_lo] - coords[p_hi], axis=1)
    close = d < max_edge_length
    a, b, d = a[close], b[close], d[close]
    if d.size == 0:
        return np.zeros((2, 0), dtype=np.int64), np.zeros(0)
    key = np.minimum(a, b) * n + np.maximum(a, b)
    order = np.argsort(key, kind="stable")
    key, d = key[order], d[order]
    first = np.ones(key.size, dtype=bool)
    first[1:] = key[1:] != key[:-1]
    starts = np.flatnonzero(first)
    key, d = key[starts], np.minimum.reduceat(d, starts)
    return np.vstack([key // max(n, 1), key % max(n, 1)]).astype(np.int64), d


def _old_neighbours(coords, expanded, sources, candidates):
    out = np.zeros(candidates.size, dtype=bool)
    if sources.size == 0 or candidates.size == 0:
        return out
    r_src = expanded[sources]
    r_cand = expanded[candidates] + surfacearea._NEIGHBOUR_MARGIN
    lo, hi = float(r_src.min()), float(r_src.max())
    tree = cKDTree(coords[sources])
    bound = float(r_cand.max()) + hi
    nearest, _ = tree.query(coords[candidates], k=1, distance_upper_bound=bound)
    out[nearest < r_cand + lo] = True
    unsure = np.flatnonzero((nearest >= r_cand + lo) & (nearest < r_cand + hi))
    if unsure.size:
        pairs = tree.sparse_distance_matrix(
            cKDTree(coords[candidates[unsure]]), bound, output_type="ndarray"
        )
        close = pairs["v"] < r_src[pairs["i"]] + r_cand[unsure[pairs["j"]]]
        out[unsure[pairs["j"][close]]] = True
    return out


def _old_can_change(s, unit_of_chain, in_assembly):
    unit = unit_of_chain[s.chain_index]
    expanded = surfacearea.sasa_radii(s) + surfacearea.PROBE_RADIUS
    out = np.zeros(s.num_atoms, dtype=bool)
    for k in np.unique(unit[in_assembly]):
        if k < 0:
            continue
        mine = np.flatnonzero(in_assembly & (unit == k))
        others = np.flatnonzero(in_assembly & (unit != k))
        out[others[_old_neighbours(s.coords, expanded, mine, others)]] = True
    return out


def _old_interface_atoms(coords, side, eligible, radius):
    out = np.zeros(coords.shape[0], dtype=bool)
    in_side = eligible & (side >= 0)
    for s in np.unique(side[in_side]):
        mine = np.flatnonzero(in_side & (side == s))
        other = np.flatnonzero(in_side & (side != s))
        if mine.size == 0 or other.size == 0:
            continue
        tree = cKDTree(coords[other])
        dist, _ = tree.query(coords[mine], k=1, distance_upper_bound=radius)
        out[mine[dist < radius]] = True
    return out


# ---- helpers ------------------------------------------------------------------------------


class _Cloud:
    """The attributes the surface-area helpers read from a structure."""

    def __init__(self, coords: np.ndarray, radii: np.ndarray) -> None:
        self.coords, self.num_atoms = coords, coords.shape[0]
        self._cache = {"_sasa_mask": np.ones(self.num_atoms, bool), "_sasa_radii": radii}


def _cloud(seed: int, n: int = 300, duplicates: int = 10) -> _Cloud:
    rng = np.random.default_rng(seed)
    coords = rng.uniform(0.0, 18.0, size=(n, 3))
    coords[rng.choice(n, duplicates, replace=False)] = coords[:duplicates]  # same positions
    radii = rng.choice([1.4, 1.52, 1.64, 1.76, 1.88], size=n)
    return _Cloud(coords, radii)


def _residue_context(path: Path, resolution: str = "residue") -> FeatureContext:
    q = ProteinProteinInterfaceQuery(
        pdb_path=str(path), chain_ids=["A", "B"], resolution=resolution
    )
    s = load_structure(path)
    return FeatureContext(structure=s, graph=q._build_skeleton(s), query=q)


# ---- tests --------------------------------------------------------------------------------


def test_pair_distances_equal_linalg_norm_bit_for_bit():
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(3000, 3)) * np.array([1.0, 40.0, 1e3])
    i, j = rng.integers(0, 3000, 200_000), rng.integers(0, 3000, 200_000)
    want = np.linalg.norm(coords[i] - coords[j], axis=1)
    np.testing.assert_array_equal(build.pair_distances(coords, i, j), want)
    assert build.pair_distances(coords, i[:0], j[:0]).shape == (0,)


@pytest.mark.parametrize("path", STRUCTURES, ids=lambda p: p.stem)
def test_pair_energies_equal_the_old_formula(path):
    s = load_structure(path)
    pairs = cKDTree(s.coords).query_pairs(8.0, output_type="ndarray")  # 1-2, 1-3, 1-4 and more
    rng = np.random.default_rng(1)
    i = np.concatenate([pairs[:, 0], rng.integers(0, s.num_atoms, 5000)])
    j = np.concatenate([pairs[:, 1], rng.integers(0, s.num_atoms, 5000)])  # i == j included
    for version in (2, 1):
        for got, want in zip(
            contact.pair_energies(s, i, j, version),
            _old_pair_energies(s, i, j, version),
            strict=True,
        ):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("path", STRUCTURES[:2], ids=lambda p: p.stem)
def test_residue_contact_values_equal_the_old_pair_list(path):
    ctx = _residue_context(path)
    got = contact.Contact()._compute(ctx)
    want = _old_residue_contact(ctx)
    for name, value in want.items():
        np.testing.assert_array_equal(got[name], value, err_msg=name)


@pytest.mark.parametrize("dense", [True, False], ids=["dense", "sorted"])
@pytest.mark.parametrize("path", STRUCTURES, ids=lambda p: p.stem)
def test_residue_edges_equal_the_old_ones(path, dense, monkeypatch):
    if not dense:
        monkeypatch.setattr(build, "_DENSE_NODE_PAIRS", 0)
    s = load_structure(path)
    atoms = np.flatnonzero(build.graph_atom_mask(s))
    atoms = atoms[s.coords[atoms, 0] < np.median(s.coords[atoms, 0])]  # a partial model
    _, node = np.unique(s.residue_index[atoms], return_inverse=True)
    for cutoff in (4.5, 10.0):
        got = build.residue_edges(s.coords[atoms], node, cutoff)
        want = _old_residue_edges(s.coords[atoms], node, cutoff)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize("seed", range(4))
def test_neighbours_from_the_shared_list_equal_the_kd_tree_search(seed):
    cloud = _cloud(seed)
    expanded = cloud._cache["_sasa_radii"] + surfacearea.PROBE_RADIUS
    rng = np.random.default_rng(seed)
    everyone = np.arange(cloud.num_atoms)
    for frac in (0.02, 0.3, 1.0):
        sources = np.flatnonzero(rng.random(cloud.num_atoms) < frac)
        candidates = np.flatnonzero(rng.random(cloud.num_atoms) < 0.7)
        for cand in (candidates, everyone):
            got = surfacearea._neighbours(cloud, sources, cand)
            want = _old_neighbours(cloud.coords, expanded, sources, cand)
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("path", STRUCTURES, ids=lambda p: p.stem)
def test_can_change_equals_the_old_search(path):
    s = load_structure(path)
    mask = surfacearea.sasa_atom_mask(s)
    for unit_of_chain in (np.arange(len(s.chains)), np.arange(len(s.chains)) % 2):
        got = surfacearea._can_change(s, unit_of_chain, None, mask)
        np.testing.assert_array_equal(got, _old_can_change(s, unit_of_chain, mask))


def test_shared_pairs_hold_every_overlapping_pair():
    """sasa_pairs holds every pair whose depth-probe spheres overlap (and same positions)."""
    cloud = _cloud(7)
    p = surfacearea.sasa_pairs(cloud)
    radii = cloud._cache["_sasa_radii"] + surfacearea.PAIR_PROBE_RADIUS
    d = np.linalg.norm(cloud.coords[:, None] - cloud.coords[None], axis=2)
    i, j = np.nonzero(np.triu(d < radii[:, None] + radii[None], k=1))
    assert set(zip(i.tolist(), j.tolist(), strict=True)) <= set(
        zip(p["i"].tolist(), p["j"].tolist(), strict=True)
    )
    assert (p["i"] < p["j"]).all() and (p["dist"] == 0).any()
    assert DEPTH_PROBE_RADIUS <= surfacearea.PAIR_PROBE_RADIUS


@pytest.mark.parametrize("path", STRUCTURES, ids=lambda p: p.stem)
def test_accessible_dots_from_the_shared_pairs_equal_the_own_search(path):
    s = load_structure(path)
    p = surfacearea.sasa_pairs(s)
    xyz = s.coords[p["idx"]]
    expanded = surfacearea.sasa_radii(s)[p["idx"]] + DEPTH_PROBE_RADIUS
    dots, owner = accessible_dots(xyz, expanded, pairs=(p["i"], p["j"]))
    dots_own, owner_own = accessible_dots(xyz, expanded)
    np.testing.assert_array_equal(owner, owner_own)
    np.testing.assert_array_equal(dots, dots_own)
    with pytest.raises(ValueError, match="targets or pairs"):
        accessible_dots(xyz, expanded, targets=np.ones(xyz.shape[0], bool), pairs=(p["i"], p["j"]))


@pytest.mark.parametrize("path", STRUCTURES, ids=lambda p: p.stem)
def test_interface_atoms_equal_the_old_search(path):
    s = load_structure(path)
    eligible = build.graph_atom_mask(s)
    rng = np.random.default_rng(3)
    for side in (
        (s.chain_index % 2).astype(np.int64),
        rng.integers(-1, 3, s.num_atoms),  # three sides and atoms in none
    ):
        for radius in (4.5, 5.5, 10.0):
            got = build.interface_atoms(s.coords, side, eligible, radius)
            np.testing.assert_array_equal(
                got, _old_interface_atoms(s.coords, side, eligible, radius)
            )


def test_structure_with_memoised_areas_pickles_and_keeps_working():
    """The area calculators memoised on a structure hold it weakly; a pickled copy (e.g. sent
    to a worker) still computes areas for new atoms, equal to a fresh structure's."""
    import pickle

    path = STRUCTURES[0]
    s = load_structure(path)
    atom_q = ProteinProteinInterfaceQuery(
        pdb_path=str(path), chain_ids=["A", "B"], resolution="atom"
    )
    atom_q.build(["surfacearea"], structure=s)
    copy = pickle.loads(pickle.dumps(s))
    residue_q = ProteinProteinInterfaceQuery(
        pdb_path=str(path), chain_ids=["A", "B"], resolution="residue"
    )
    got = residue_q.build(["surfacearea"], structure=copy)  # needs areas not computed yet
    want = residue_q.build(["surfacearea"], structure=load_structure(path))
    for name, value in want.node_features.items():
        np.testing.assert_array_equal(got.node_features[name], value, err_msg=name)
    calc = surfacearea._lazy(copy, None)
    with pytest.raises(RuntimeError, match="without its structure"):
        calc.environment(np.array([0]))
