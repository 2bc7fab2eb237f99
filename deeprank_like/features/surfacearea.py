"""`surfacearea`: solvent-accessible surface area (SASA) and buried surface area (BSA).

Both are computed with freesasa's Lee–Richards algorithm and its defaults (probe radius 1.4 Å,
20 slices per atom, ProtOr radii from freesasa's default classifier), from the coordinate
arrays of the :class:`~deeprank_like.structure.Structure` (``freesasa.calcCoord``): the user's
file is never written or re-read.

Outputs (Å²), on every node:

* ``sasa``: area of the node's atom (atom graphs) or the sum over the residue's atoms
  (residue graphs) in the whole structure model.
* ``bsa``: area lost on association, ``area(separated) − area(assembled)``:

  - PPI queries: the *separated* state is the node's side (its chain group, ``query.sides``)
    alone; the *assembled* state is all sides of the query together. Chains of the file that
    are in no side take no part.
  - SRV queries: the separated state is the node's chain alone, the assembled state the whole
    model; ``bsa`` is the area of the node buried by other chains (0 everywhere for a single-chain
    protein).

Atom set
    Heavy atoms of amino-acid residues, plus heavy atoms of other polymer (ATOM) residues such as
    nucleotides; hetero ligands and ions (HETATM residues that are not amino acids) and hydrogens
    are left out, as ``freesasa.Structure(path)`` does with its defaults. Hydrogen nodes (atom
    graphs built with ``include_hydrogens=True``) get 0. Radii come from the ProtOr classifier on
    the standardised residue names (``HSD`` is classified as ``HIS``); atoms it does not know get
    freesasa's element-based guess.

Differences from DeepRank2
    * DeepRank2 builds the ``bsa`` structures from the *graph's atoms only* (for PPI residue graphs:
      the interface residues), so a residue's area "alone" is computed without the rest of its own
      chain and depends on the influence radius. Here both states use the full chains of each
      side, which is the textbook BSA and does not depend on graph parameters.
    * DeepRank2 runs ``freesasa.Structure(pdb_path)``; freesasa recognises hydrogens only through the
      element column, so files whose hydrogens lack it (e.g. the 1ATN decoys) get their hydrogens
      counted as 1.1 Å atoms. Hydrogens never take part here.
    * DeepRank2 selects residues by ``resi <number>`` and so mixes residues sharing a number with
      different insertion codes; areas here are summed per structure residue.

Performance
    Per-atom areas are memoised per structure (``structure._cache``) and computed lazily: a query
    computes only the atoms its nodes need. freesasa runs on those atoms plus their neighbours
    (atoms ``j`` with ``|x_i − x_j| < R_i + R_j``, ``R = r + probe``: the only atoms that enter
    an atom's Lee–Richards area), so the subset result equals the whole-model one. For ``bsa``
    only atoms with a neighbour in another side can differ between the two states; the separated
    state is computed for those graph atoms and their neighbours of the same side only; all other
    atoms have ``bsa = 0`` exactly. The neighbours come from one list of overlapping atom pairs
    per structure (:func:`sasa_pairs`), which ``exposure`` uses for its accessible dots too.
"""

from __future__ import annotations

import weakref

import numpy as np
from scipy.spatial import cKDTree

from deeprank_like.features.base import FeatureContext, FeatureModule, FeatureSpec

__all__ = [
    "PAIR_PROBE_RADIUS",
    "PROBE_RADIUS",
    "SurfaceArea",
    "atom_sasa",
    "sasa_atom_mask",
    "sasa_pairs",
    "sasa_radii",
]

PROBE_RADIUS = 1.4  # Å, freesasa default

#: Radii freesasa guesses from the element for atoms its classifier does not know (Å).
_ELEMENT_RADII: dict[str, float] = {
    "C": 1.7, "N": 1.55, "O": 1.52, "S": 1.8, "P": 1.8, "SE": 1.9, "H": 1.1, "D": 1.1,
    "F": 1.47, "CL": 1.75, "BR": 1.85, "I": 1.98, "ZN": 1.39, "FE": 1.26, "MG": 1.73,
    "CA": 2.31, "NA": 2.27, "K": 2.75, "MN": 1.19, "CU": 1.4, "CO": 1.13, "NI": 1.63,
}  # fmt: skip
_DEFAULT_RADIUS = 1.8

_radius_lut: dict[str, float] = {}
_classifier_holder: list = []


def _classifier():
    import freesasa

    if not _classifier_holder:
        _classifier_holder.append(freesasa.Classifier())
    return _classifier_holder[0]


def sasa_atom_mask(structure) -> np.ndarray:
    """Atoms that take part in surface calculations.

    Heavy atoms of amino acids and of non-hetero (polymer) residues; no hydrogens, waters,
    ligands or ions.

    Returns
    -------
    ndarray (n,), bool
    """
    key = "_sasa_mask"
    if key not in structure._cache:
        s = structure
        mask = ~s.is_hydrogen & ((s.residue_aa[s.residue_index] >= 0) | ~s.is_hetero)
        mask.setflags(write=False)
        structure._cache[key] = mask
    return structure._cache[key]


def sasa_radii(structure) -> np.ndarray:
    """ProtOr radius (Å) of every atom; 0 for atoms outside :func:`sasa_atom_mask`.

    Returns
    -------
    ndarray (n,), float64
    """
    key = "_sasa_radii"
    if key not in structure._cache:
        s = structure
        mask = sasa_atom_mask(s)
        radii = np.zeros(s.num_atoms)
        idx = np.flatnonzero(mask)
        if idx.size:
            triples = np.char.add(
                np.char.add(np.char.add(s.res_names[idx], "|"), s.atom_names[idx]),
                np.char.add("|", s.elements[idx]),
            )
            uniq, inverse = np.unique(triples, return_inverse=True)
            values = np.array([_lookup_radius(str(u)) for u in uniq])
            radii[idx] = values[inverse.reshape(-1)]
        radii.setflags(write=False)
        structure._cache[key] = radii
    return structure._cache[key]


def _lookup_radius(triple: str) -> float:
    if triple not in _radius_lut:
        res, atom, element = triple.split("|")
        r = float(_classifier().radius(res, atom))
        if r <= 0:
            r = _ELEMENT_RADII.get(element.upper(), _DEFAULT_RADIUS)
        _radius_lut[triple] = r
    return _radius_lut[triple]


#: Added to freesasa's neighbour distance ``R_i + R_j`` when choosing atoms for a subset run, so
#: that rounding can only add (harmless) atoms, never drop a neighbour.
_NEIGHBOUR_MARGIN = 1e-6

#: Probe radius (Å) of the candidate atom pairs shared by ``surfacearea`` and ``exposure``
#: (:func:`sasa_pairs`): at least :data:`PROBE_RADIUS` and exposure's depth probe.
PAIR_PROBE_RADIUS = 1.5


def sasa_pairs(structure) -> dict[str, np.ndarray]:
    """Pairs of surface-set atoms whose probe-expanded spheres can overlap (memoised).

    One neighbour list per structure serves the freesasa subsets of ``surfacearea`` (probe
    :data:`PROBE_RADIUS`) and the accessible dots of ``exposure`` (its depth probe, at most
    :data:`PAIR_PROBE_RADIUS`): every pair of atoms of :func:`sasa_atom_mask` with
    ``|x_i − x_j| < r_i + r_j + 2 · PAIR_PROBE_RADIUS`` (ProtOr radii ``r``; plus
    :data:`_NEIGHBOUR_MARGIN`, so rounding can only add pairs), atoms at the same position
    included.

    Returns
    -------
    dict
        ``"idx"``: (m,) int64, the surface-set atoms (structure indices, sorted);
        ``"i"``, ``"j"``: (p,) int64, positions into ``idx`` with ``i < j``;
        ``"dist"``: (p,) float64, their distances (Å).
    """
    key = "_sasa_pairs"
    if key not in structure._cache:
        from deeprank_like.graph.build import pair_distances

        idx = np.flatnonzero(sasa_atom_mask(structure))
        expanded = sasa_radii(structure)[idx] + PAIR_PROBE_RADIUS
        xyz = structure.coords[idx]
        if idx.size > 1:
            reach = 2.0 * float(expanded.max()) + _NEIGHBOUR_MARGIN
            tree = cKDTree(xyz, balanced_tree=False, compact_nodes=False)  # built for one query
            pairs = tree.query_pairs(reach, output_type="ndarray")
            pairs = pairs.astype(np.int64, copy=False)
        else:
            pairs = np.zeros((0, 2), dtype=np.int64)
        i, j = pairs[:, 0], pairs[:, 1]
        dist = pair_distances(xyz, i, j)
        keep = dist < expanded[i] + expanded[j] + _NEIGHBOUR_MARGIN
        memo = {"idx": idx, "i": i[keep], "j": j[keep], "dist": dist[keep]}
        for value in memo.values():
            value.setflags(write=False)
        structure._cache[key] = memo
    return structure._cache[key]


def _touching(structure) -> tuple[np.ndarray, np.ndarray]:
    """Freesasa neighbour pairs ``(a, b)`` (structure atom indices) of the surface set.

    ``|x_a − x_b| < R_a + R_b`` with ``R = r +`` :data:`PROBE_RADIUS` (plus
    :data:`_NEIGHBOUR_MARGIN`); memoised.
    """
    key = "_sasa_touching"
    if key not in structure._cache:
        p = sasa_pairs(structure)
        a, b = p["idx"][p["i"]], p["idx"][p["j"]]
        expanded = sasa_radii(structure) + PROBE_RADIUS
        close = p["dist"] < expanded[a] + expanded[b] + _NEIGHBOUR_MARGIN
        a, b = a[close], b[close]
        a.setflags(write=False)
        b.setflags(write=False)
        structure._cache[key] = (a, b)
    return structure._cache[key]


def _neighbours(structure, sources: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """(len(candidates),) bool: candidates that are freesasa neighbours of some source atom.

    Atom ``j`` is a neighbour of ``i`` (and can occlude it) when ``|x_i − x_j| < R_i + R_j`` with
    ``R = r + probe`` (freesasa's neighbour list); :data:`_NEIGHBOUR_MARGIN` is added. A
    candidate that is itself a source counts as a neighbour.

    Parameters
    ----------
    structure : Structure
    sources, candidates : ndarray, int
        Atom indices of the surface set (:func:`sasa_atom_mask`).
    """
    if sources.size == 0 or candidates.size == 0:
        return np.zeros(candidates.size, dtype=bool)
    a, b = _touching(structure)
    n = structure.num_atoms
    is_source = np.zeros(n, dtype=bool)
    is_source[sources] = True
    hit = np.zeros(n, dtype=bool)  # every neighbour of a source; read at the candidates only
    hit[b[is_source[a]]] = True
    hit[a[is_source[b]]] = True
    hit[sources] = True
    return hit[candidates]


class _LazySasa:
    """Per-atom Lee–Richards areas of one atom set, computed on demand and memoised.

    The area of atom ``i`` depends only on the atoms of the set that are freesasa neighbours of
    it (``|x_i − x_j| < R_i + R_j``), so freesasa runs on the needed atoms plus those neighbours
    and the needed atoms' areas are exactly the whole-set areas (``tests/features/
    test_surfacearea.py`` holds them equal to 1e-9 Å²).
    """

    def __init__(self, structure, members: np.ndarray) -> None:
        # a weak reference: this object is memoised on the structure (no cycle, and the
        # memory estimate of features.cache does not count the structure twice)
        self._structure: weakref.ref | None = weakref.ref(structure)
        self.coords = structure.coords
        self.radii = sasa_radii(structure)
        self.members = np.flatnonzero(members)
        self.area = np.full(structure.num_atoms, np.nan)

    def __getstate__(self) -> dict:
        state = dict(vars(self))
        state["_structure"] = None  # a weak reference does not pickle; callers pass it again
        return state

    def environment(self, need: np.ndarray, structure=None) -> np.ndarray:
        """Sorted atoms freesasa needs for exact areas of ``need``: them and their neighbours.

        ``structure``: the structure this calculator belongs to (default: the one it was made
        for, while it exists).
        """
        if structure is None and self._structure is not None:
            structure = self._structure()
        if structure is None:
            raise RuntimeError("surface-area calculator used without its structure")
        near = _neighbours(structure, need, self.members)
        return np.union1d(self.members[near], need)

    def get(self, atoms: np.ndarray, structure=None) -> np.ndarray:
        """Areas (Å²) of ``atoms`` (structure indices, all members of this set)."""
        atoms = np.asarray(atoms, dtype=np.int64)
        need = np.unique(atoms[np.isnan(self.area[atoms])])
        if need.size:
            env = self.environment(need, structure)
            areas = _lee_richards(self.coords[env], self.radii[env])
            if env.size == self.members.size:  # the whole set: every area is exact
                self.area[env] = areas
            else:
                self.area[need] = areas[np.searchsorted(env, need)]
        return self.area[atoms]


def _lee_richards(coords: np.ndarray, radii: np.ndarray) -> np.ndarray:
    import freesasa

    if coords.shape[0] == 0:
        return np.zeros(0)
    result = freesasa.calcCoord(
        np.ascontiguousarray(coords, dtype=np.float64).reshape(-1), radii.tolist()
    )
    return np.fromiter((result.atomArea(i) for i in range(coords.shape[0])), float, coords.shape[0])


def _lazy(structure, chain_indices: np.ndarray | None) -> _LazySasa:
    """The memoised area calculator of the atoms of ``chain_indices`` (None: whole model)."""
    mask = sasa_atom_mask(structure)
    if chain_indices is not None:
        mask = mask & np.isin(structure.chain_index, chain_indices)
    present = tuple(int(c) for c in np.unique(structure.chain_index[mask]))
    key = ("_sasa", present)
    if key not in structure._cache:
        structure._cache[key] = _LazySasa(structure, mask)
    return structure._cache[key]


def atom_sasa(structure, atoms: np.ndarray, chains: list[str] | None = None) -> np.ndarray:
    """Lee–Richards SASA (Å²) of ``atoms`` in the model restricted to ``chains``.

    Parameters
    ----------
    structure : Structure
    atoms : ndarray (m,), int
        Structure atom indices; atoms outside :func:`sasa_atom_mask` (or outside ``chains``) get 0.
    chains : list of str, optional
        Chain ids forming the molecule (default: the whole model).

    Returns
    -------
    ndarray (m,), float64
    """
    atoms = np.asarray(atoms, dtype=np.int64)
    chain_idx = None
    if chains is not None:
        chain_idx = np.array([structure.chains.index(c) for c in chains], dtype=np.int64)
    calc = _lazy(structure, chain_idx)
    out = np.zeros(atoms.shape[0])
    inside = np.isin(atoms, calc.members)
    out[inside] = calc.get(atoms[inside], structure)
    return out


def _node_atoms(context: FeatureContext) -> tuple[np.ndarray, np.ndarray]:
    """Surface atoms of each node: (atoms, node_of_atom)."""
    s, g = context.structure, context.graph
    mask = sasa_atom_mask(s)
    if g.atom_index is not None:
        atoms = g.atom_index.astype(np.int64)
        node = np.arange(g.num_nodes)
    else:
        lo = s.residue_atom_start[g.residue_index]
        counts = s.residue_atom_start[g.residue_index + 1] - lo
        node = np.repeat(np.arange(g.num_nodes), counts)
        atoms = np.arange(counts.sum()) + np.repeat(lo - np.cumsum(counts) + counts, counts)
    keep = mask[atoms]
    return atoms[keep], node[keep]


def _units(context: FeatureContext) -> tuple[np.ndarray, np.ndarray | None]:
    """Unit (separated molecule) index of every chain, -1 for chains in none; assembly chains."""
    s, q = context.structure, context.query
    unit = np.full(len(s.chains), -1, dtype=np.int64)
    if context.query_kind == "ppi":
        for k, side in enumerate(q.sides):
            for c in side:
                unit[s.chains.index(c)] = k
        return unit, np.flatnonzero(unit >= 0)
    unit[:] = np.arange(len(s.chains))
    return unit, None


def _can_change(
    structure,
    unit_of_chain: np.ndarray,
    assembly_chains: np.ndarray | None,
    in_assembly: np.ndarray,
) -> np.ndarray:
    """(n,) bool: assembly atoms with a freesasa neighbour in another unit (area can change).

    Every other atom has the same neighbour list, hence the same area, alone and assembled
    (exactly 0 BSA). Memoised per unit
    assignment on the structure, so every query on it (variant scans) reuses it.
    """
    key = (
        "_sasa_can_change",
        tuple(int(u) for u in unit_of_chain),
        None if assembly_chains is None else tuple(int(c) for c in assembly_chains),
    )
    if key not in structure._cache:
        s = structure
        unit = unit_of_chain[s.chain_index]
        a, b = _touching(s)
        # freesasa neighbours in another unit: the only atoms whose neighbour list changes
        cross = in_assembly[a] & in_assembly[b] & (unit[a] != unit[b]) & (unit[a] >= 0)
        cross &= unit[b] >= 0
        out = np.zeros(s.num_atoms, dtype=bool)
        out[a[cross]] = True
        out[b[cross]] = True
        out.setflags(write=False)
        structure._cache[key] = out
    return structure._cache[key]


class SurfaceArea(FeatureModule):
    """SASA and BSA per node (freesasa Lee–Richards, 1.4 Å probe)."""

    name = "surfacearea"
    description = "solvent-accessible and buried surface area (freesasa)"

    def specs(self, context: FeatureContext) -> tuple[FeatureSpec, ...]:
        what = "atom" if context.resolution == "atom" else "residue (sum over its heavy atoms)"
        sep = "its side alone" if context.query_kind == "ppi" else "its chain alone"
        together = "all sides together" if context.query_kind == "ppi" else "the whole model"
        return (
            FeatureSpec(name="sasa", kind="node", unit="Å²", description=f"solvent-accessible surface area of the {what} in the whole model (Lee–Richards, 1.4 Å probe)"),
            FeatureSpec(name="bsa", kind="node", unit="Å²", description=f"buried surface area: area with {sep} − area with {together}"),
        )  # fmt: skip

    def compute(self, context: FeatureContext) -> dict[str, np.ndarray]:
        s, g = context.structure, context.graph
        atoms, node = _node_atoms(context)
        sasa = atom_sasa(s, atoms)

        unit_of_chain, assembly_chains = _units(context)
        unit = unit_of_chain[s.chain_index]
        mask = sasa_atom_mask(s)
        in_assembly = mask.copy()
        if assembly_chains is not None:
            in_assembly &= np.isin(s.chain_index, assembly_chains)
        bsa = np.zeros(atoms.shape[0])
        assembled = _lazy(s, assembly_chains)
        can_change = _can_change(s, unit_of_chain, assembly_chains, in_assembly)
        for k in np.unique(unit[atoms]):
            if k < 0:
                continue
            mine = np.flatnonzero(unit[atoms] == k)
            touched = mine[can_change[atoms[mine]]]
            if touched.size == 0:
                continue
            alone = _lazy(s, np.flatnonzero(unit_of_chain == k))
            bsa[touched] = alone.get(atoms[touched], s) - assembled.get(atoms[touched], s)

        return {
            "sasa": np.bincount(node, weights=sasa, minlength=g.num_nodes),
            "bsa": np.bincount(node, weights=bsa, minlength=g.num_nodes),
        }
