"""`exposure`: residue depth and half-sphere exposure, without MSMS or Biopython.

Outputs (per residue; atom nodes inherit their residue's values, as in DeepRank2):

* ``res_depth`` (Å): mean distance of the residue's heavy atoms to the solvent-excluded
  (molecular) surface.
* ``hse`` (3): half-sphere exposure ``(up, down, angle)``. ``up``/``down`` count the Cα atoms of
  other amino-acid residues (any chain) closer than :data:`HSE_RADIUS` to the residue's Cα, in
  the half-sphere the Cα→Cβ vector points into (``up``) or the other one. Glycines and
  residues without Cβ use a virtual Cβ built from N, Cα, C (ideal tetrahedral geometry).
  ``angle`` (radians) is the angle between that Cα→Cβ vector and the Cα-trace pseudo-Cβ
  direction ``unit(Cα_i − Cα_{i−1}) + unit(Cα_i − Cα_{i+1})`` that Biopython's
  ``HSExposureCA`` uses; 0 where a trace neighbour is missing (termini, chain breaks with a
  Cα–Cα gap > 4.2 Å). Residues without Cα or without any Cβ direction get ``(0, 0, 0)``.

Residue depth algorithm
    The distance of a point inside the molecule to the solvent-excluded surface (SES) equals its
    distance to the nearest *accessible probe-centre position* minus the probe radius, because the
    SES is the boundary of the union of probe spheres placed at all accessible positions. The
    accessible positions are sampled on the solvent-accessible surface: :data:`DOTS_PER_ATOM`
    golden-spiral points on every atom's probe-expanded sphere (ProtOr radii, probe
    :data:`DEPTH_PROBE_RADIUS` = 1.5 Å as DeepRank2's MSMS call), of which those inside no other
    expanded sphere are kept. The burial test is done per neighbouring atom pair as one matrix
    product (dot directions × pair axes) packed into 64-bit words, so the whole model costs a few
    tens of milliseconds. Dot components of less than :data:`MIN_COMPONENT_AREA` Å² (internal
    cavities and sampling slivers) are dropped, which mimics MSMS's external-surface-only default.
    Depths are memoised per atom on the structure. With :data:`LOCAL_DEPTH` (off by default),
    for a graph on a large model only the graph's neighbourhood is surfaced when certificates
    prove the result equal to the whole-model one (``_depths_local``); otherwise, and then for
    every later query on the same structure, the whole model.

Differences from DeepRank2
    * DeepRank2 calls Biopython ``get_surface`` (the MSMS executable, killed after 20 s) and
      ``residue_depth``: MSMS triangulates the SES with united-atom radii, over *all* atoms of the
      model, waters and hydrogens included. Here: ProtOr radii, heavy atoms of polymer residues
      only (no waters, ligands, hydrogens), SES sampled at 64 dots per atom. On a grid-based SES
      reference (0.35 Å voxels, external surface) residue depths agree with r ≥ 0.99, mean
      absolute difference < 0.1 Å (see ``docs/features.md``); we could not run MSMS itself.
    * DeepRank2's ``hse`` comes from ``HSExposureCA`` (radius 12 Å, Cα-trace pseudo-Cβ, undefined at
      chain ends and across breaks → (0, 0, 0)). We count with the real Cα→Cβ vector (Hamelryck's
      HSE-β, more informative and defined at chain ends) and keep DeepRank2's 12 Å radius and
      ``(up, down, angle)`` layout. The radius is :data:`HSE_RADIUS` (the original HSE paper uses 13 Å).
    * DeepRank2 looks residues up without insertion codes; here every structure residue is
      distinct.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from deeprank_like.features.base import FeatureContext, FeatureModule, FeatureSpec
from deeprank_like.features.surfacearea import (
    PAIR_PROBE_RADIUS,
    sasa_atom_mask,
    sasa_pairs,
    sasa_radii,
)

__all__ = [
    "DEPTH_PROBE_RADIUS",
    "DOTS_PER_ATOM",
    "HSE_RADIUS",
    "MIN_COMPONENT_AREA",
    "Exposure",
    "accessible_dots",
    "atom_depths",
    "half_sphere_exposure",
    "residue_depths",
    "sphere_points",
    "virtual_cb",
]

HSE_RADIUS = 12.0  # Å, Biopython's default as used by DeepRank2
DEPTH_PROBE_RADIUS = 1.5  # Å, the probe DeepRank2 (Biopython) passes to MSMS
DOTS_PER_ATOM = 64  # must be a multiple of 64
MIN_COMPONENT_AREA = 50.0  # Å² of accessible surface; smaller dot components are cavities
TRACE_GAP = 4.2  # Å, largest Cα–Cα distance of consecutive residues
DEPTH_REACH = 14.0  # Å, neighbourhood first surfaced for the depths of a graph's atoms
#: Surface only the graph's neighbourhood where provably exact. Off by default: on interface and
#: variant graphs (buried atoms) the first try often fails its certificate and then costs more
#: than it saves (benchmarks/graphs.py, issue #17); it pays off for surface patches of large models.
LOCAL_DEPTH = False
LOCAL_DEPTH_FRACTION = 0.6  # above this share of the model, surface the whole model
LOCAL_DEPTH_MIN_ATOMS = 3000  # smaller models are surfaced whole (little to gain)
_DOT_CHUNK = 4096  # atom pairs per projection block (the block stays in the CPU cache)


def sphere_points(n: int) -> np.ndarray:
    """``n`` nearly uniform unit vectors (golden-section spiral).

    Returns
    -------
    ndarray (n, 3), float64
    """
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    rho = np.sqrt(1.0 - z * z)
    phi = np.pi * (3.0 - np.sqrt(5.0)) * k
    return np.stack([rho * np.cos(phi), rho * np.sin(phi), z], axis=1)


def accessible_dots(
    coords: np.ndarray,
    radii: np.ndarray,
    n: int = DOTS_PER_ATOM,
    targets: np.ndarray | None = None,
    pairs: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Points of the solvent-accessible surface (probe-centre positions).

    Parameters
    ----------
    coords : ndarray (m, 3), Å
    radii : ndarray (m,), Å
        Probe-expanded radii (van der Waals radius + probe).
    n : int
        Dots per atom, a multiple of 64.
    targets : ndarray (m,), bool, optional
        Atoms whose dots are wanted (default: all); the others only occlude. A target's dots
        are exact when every atom overlapping its expanded sphere is among ``coords``.
    pairs : tuple of two ndarray (p,), int, optional
        Candidate pairs ``(i, j)``, ``i < j``, that include every pair of overlapping expanded
        spheres (e.g. from :func:`~deeprank_like.features.surfacearea.sasa_pairs`); saves the
        neighbour search. Only without ``targets``.

    Returns
    -------
    dots : ndarray (k, 3)
        Dots on an atom's expanded sphere that lie inside no other expanded sphere.
    owner : ndarray (k,), int64
        Index of the atom each dot belongs to.
    """
    if n % 64:
        raise ValueError(f"dots per atom must be a multiple of 64, got {n}")
    m = coords.shape[0]
    unit = sphere_points(n)
    words = n // 64
    buried = np.zeros((m, words), dtype=np.uint64)
    if m > 1:
        symmetric = targets is None
        if pairs is not None:  # given candidates (undirected, i < j)
            if targets is not None:
                raise ValueError("accessible_dots: pass either targets or pairs, not both")
            i, j = (np.asarray(p, dtype=np.int64) for p in pairs)
        elif targets is None:  # undirected pairs i < j: one projection serves both directions
            found = cKDTree(coords).query_pairs(2.0 * float(radii.max()), output_type="ndarray")
            i, j = found[:, 0], found[:, 1]
        else:  # directed pairs (target, any atom) only; the same numbers per pair as above
            t_idx = np.flatnonzero(targets)
            found = cKDTree(coords[t_idx]).sparse_distance_matrix(
                cKDTree(coords), 2.0 * float(radii.max()), output_type="ndarray"
            )
            i, j = t_idx[found["i"]], found["j"].astype(np.int64)
        x, y, z = (np.ascontiguousarray(coords[:, k]) for k in range(3))
        vec = np.column_stack((x[j] - x[i], y[j] - y[i], z[j] - z[i]))  # = coords[j] - coords[i]
        dist = np.sqrt(np.einsum("ij,ij->i", vec, vec))
        keep = (dist < radii[i] + radii[j]) & (dist > 0)
        i, j, vec, dist = i[keep], j[keep], vec[keep], dist[keep]
        ri, rj, d2 = radii[i], radii[j], dist * dist
        # dot u of atom a lies inside the sphere of b  <=>  u·e_ab > cos θ_ab; for the reverse
        # direction e_ba = −e_ab, so u·e_ba > cos θ_ba  <=>  u·e_ab < −cos θ_ba (float negation
        # is exact: the same decisions as projecting onto −e_ab)
        cos_i = ((ri**2 + d2 - rj**2) / (2.0 * ri * dist)).astype(np.float32)
        neg_cos_j = -((rj**2 + d2 - ri**2) / (2.0 * rj * dist)).astype(np.float32)
        axis = (vec / dist[:, None]).astype(np.float32)
        unit32 = np.ascontiguousarray(unit.T, dtype=np.float32)
        # one projection and one mask buffer for all chunks: a fresh megabyte-sized array per
        # chunk costs more in page faults than the product itself
        rows = min(_DOT_CHUNK, i.size)
        proj_buf = np.empty((rows, n), dtype=np.float32)
        mask_buf = np.empty((rows, n), dtype=bool)
        for a in range(0, i.size, _DOT_CHUNK):  # chunks that stay in cache
            part = slice(a, a + _DOT_CHUNK)
            k = min(_DOT_CHUNK, i.size - a)
            proj = np.matmul(axis[part], unit32, out=proj_buf[:k])
            mask = np.greater(proj, cos_i[part, None], out=mask_buf[:k])
            bits = np.packbits(mask, axis=1).view(np.uint64)
            np.bitwise_or.at(buried, i[part], bits)
            if symmetric:
                mask = np.less(proj, neg_cos_j[part, None], out=mask_buf[:k])
                bits = np.packbits(mask, axis=1).view(np.uint64)
                np.bitwise_or.at(buried, j[part], bits)
    free = np.unpackbits(buried.view(np.uint8), axis=1) == 0
    if targets is not None:
        free &= targets[:, None]
    owner, which = np.nonzero(free)
    dots = coords[owner] + radii[owner, None] * unit[which]
    return dots, owner


def _external(
    dots: np.ndarray, area: np.ndarray, link: float, tree: cKDTree | None = None
) -> np.ndarray:
    """Mask of dots in connected components of at least :data:`MIN_COMPONENT_AREA`.

    ``tree``: a KD-tree of ``dots`` (built here when not given).
    """
    if dots.shape[0] == 0:
        return np.zeros(0, dtype=bool)
    if tree is None:
        tree = cKDTree(dots)
    pairs = tree.query_pairs(link, output_type="ndarray")
    graph = coo_matrix(
        (np.ones(pairs.shape[0], dtype=np.int8), (pairs[:, 0], pairs[:, 1])),
        shape=(dots.shape[0], dots.shape[0]),
    )
    _, label = connected_components(graph, directed=False)
    comp_area = np.bincount(label, weights=area)
    keep = comp_area >= MIN_COMPONENT_AREA
    if not keep.any():
        keep[comp_area.argmax()] = True
    return keep[label]


def _depth_arrays(structure) -> dict:
    """Surface-set atoms, their expanded radii and the per-atom depth memo (NaN: not yet)."""
    key = "_depth_memo"
    if key not in structure._cache:
        s = structure
        idx = np.flatnonzero(sasa_atom_mask(s))
        expanded = sasa_radii(s)[idx] + DEPTH_PROBE_RADIUS
        depth = np.full(s.num_atoms, np.nan)
        depth[~sasa_atom_mask(s)] = 0.0
        structure._cache[key] = {"idx": idx, "expanded": expanded, "depth": depth}
    return structure._cache[key]


def _dot_setup(expanded: np.ndarray) -> tuple[float, float]:
    """(largest expanded radius, dot link distance) of an atom set."""
    r_max = float(expanded.max(initial=0.0))
    spacing = np.sqrt(4.0 * np.pi * r_max**2 / DOTS_PER_ATOM)
    return r_max, 1.5 * spacing


def _surface_tree(structure, memo: dict) -> cKDTree | None:
    """KD-tree of the model's external accessible dots (built once per structure; None: no dots)."""
    if "surface_tree" not in memo:
        idx, expanded = memo["idx"], memo["expanded"]
        pairs = None
        if DEPTH_PROBE_RADIUS <= PAIR_PROBE_RADIUS:  # the neighbour list surfacearea uses too
            shared = sasa_pairs(structure)
            if np.array_equal(shared["idx"], idx):
                pairs = (shared["i"], shared["j"])
        dots, owner = accessible_dots(structure.coords[idx], expanded, pairs=pairs)
        dot_area = 4.0 * np.pi * expanded[owner] ** 2 / DOTS_PER_ATOM
        _, link = _dot_setup(expanded)
        tree = cKDTree(dots) if dots.shape[0] else None
        external = _external(dots, dot_area, link, tree)
        if not external.all():  # cavities dropped: a tree of the external dots
            dots = dots[external]
            tree = cKDTree(dots) if dots.shape[0] else None
        memo["surface_dots"] = dots  # (k, 3) Å; kept so the cache's memory estimate counts it
        memo["surface_tree"] = tree
    return memo["surface_tree"]


def _depths_whole(structure, memo: dict, need: np.ndarray | None = None) -> None:
    """Depths of the surface-set atoms at positions ``need`` of ``memo["idx"]`` (default: all).

    The surface of the whole model is made once per structure (:func:`_surface_tree`); each
    later call only queries the nearest external dot of the atoms it needs.
    """
    idx = memo["idx"] if need is None else memo["idx"][need]
    tree = _surface_tree(structure, memo)
    if tree is None:
        memo["depth"][idx] = 0.0
        return
    dist, _ = tree.query(structure.coords[idx], k=1)
    memo["depth"][idx] = np.maximum(dist - DEPTH_PROBE_RADIUS, 0.0)


def _depths_local(structure, memo: dict, need: np.ndarray, reach: float) -> float | None:
    """Depths of ``need`` (positions in ``memo["idx"]``) from a neighbourhood.

    Returns None when the depths were stored (exact), else the reach (Å) that would make the
    distance certificate hold (``inf``: give up, surface the whole model).

    Dots are made for the atoms within ``reach`` of a needed atom (region R), with
    every atom that can overlap them as occluder, so they are the whole-model dots of R. A dot
    component of R with at least :data:`MIN_COMPONENT_AREA` is part of an external component of
    the model; a smaller one that has no dot owned by an atom near R's border (closer to it than
    two expanded radii plus the link distance) is a whole component of the model, a cavity. The
    nearest external dot of a needed atom is exact when it is no farther than any dot of an
    undecided component and closer than ``reach − r_max`` (dots outside R are farther). External
    dots of R are external dots of the model, so the nearest one found bounds the true distance
    δ; undecided dots are farther than ``reach − 3 r_max − link`` from every needed atom, so a
    second try with ``reach = δ + 3 r_max + link`` passes both certificates.
    """
    s, idx, expanded = structure, memo["idx"], memo["expanded"]
    xyz = s.coords[idx]
    r_max, link = _dot_setup(expanded)
    dist_r, _ = cKDTree(xyz[need]).query(xyz, k=1, distance_upper_bound=reach + 2 * r_max)
    region = dist_r <= reach
    occluders = np.flatnonzero(dist_r <= reach + 2.0 * r_max)
    if region.sum() > LOCAL_DEPTH_FRACTION * idx.size:
        return np.inf
    sub_targets = region[occluders]
    dots, owner_local = accessible_dots(xyz[occluders], expanded[occluders], targets=sub_targets)
    owner = occluders[owner_local]
    if dots.shape[0] == 0:
        return np.inf
    dot_area = 4.0 * np.pi * expanded[owner] ** 2 / DOTS_PER_ATOM
    pairs = cKDTree(dots).query_pairs(link, output_type="ndarray")
    graph = coo_matrix(
        (np.ones(pairs.shape[0], dtype=np.int8), (pairs[:, 0], pairs[:, 1])),
        shape=(dots.shape[0], dots.shape[0]),
    )
    _, label = connected_components(graph, directed=False)
    comp_area = np.bincount(label, weights=dot_area)
    border = dist_r[owner] > reach - 2.0 * r_max - link
    comp_border = np.bincount(label, weights=border, minlength=comp_area.size) > 0
    external = comp_area >= MIN_COMPONENT_AREA
    undecided = ~external & comp_border
    if not external.any():
        return np.inf
    ext_dots = dots[external[label]]
    dist, _ = cKDTree(ext_dots).query(xyz[need], k=1)
    # a reach for which both certificates hold: undecided dots lie beyond reach − 3 r_max − link
    retry = float(dist.max()) + 3.0 * r_max + link + 1e-3
    if undecided.any():
        d_und, _ = cKDTree(dots[undecided[label]]).query(xyz[need], k=1)
        if (dist > d_und).any():
            return retry
    if (dist > reach - r_max).any():
        return retry
    memo["depth"][idx[need]] = np.maximum(dist - DEPTH_PROBE_RADIUS, 0.0)
    return None


def atom_depths(structure, atoms: np.ndarray | None = None) -> np.ndarray:
    """Distance (Å) of surface-set atoms to the solvent-excluded surface (0 for other atoms).

    Parameters
    ----------
    structure : Structure
    atoms : ndarray (k,), int, optional
        Atom indices whose depth is needed (default: all). Then only the neighbourhood of these
        atoms is surfaced when that is provably exact (:func:`_depths_local`), else the model.

    Returns
    -------
    ndarray (n,) or (k,), float64
        Per atom of the structure, or per entry of ``atoms``. Memoised in ``structure._cache``.
    """
    memo = _depth_arrays(structure)
    depth = memo["depth"]
    wanted = np.arange(structure.num_atoms) if atoms is None else np.asarray(atoms, dtype=np.int64)
    missing = np.isnan(depth[wanted])
    if missing.any():
        pos = np.searchsorted(memo["idx"], np.unique(wanted[missing]))
        local = (
            LOCAL_DEPTH
            and atoms is not None
            and memo["idx"].size >= LOCAL_DEPTH_MIN_ATOMS
            and not memo.get("local_failed", False)
            and "surface_tree" not in memo
        )
        reach = DEPTH_REACH if local else np.inf
        for _ in range(2):
            if not np.isfinite(reach):
                break
            reach = _depths_local(structure, memo, pos, reach)
            if reach is None:
                break
        if reach is not None:
            # later queries on this structure (see features.cache) read the whole-model result
            memo["local_failed"] = bool(local)
            _depths_whole(structure, memo, pos)
    out = depth[wanted].copy()
    out.setflags(write=False)
    return out


def residue_depths(structure, residues: np.ndarray | None = None) -> np.ndarray:
    """Mean :func:`atom_depths` over each residue's surface-set atoms (0 if it has none).

    Parameters
    ----------
    structure : Structure
    residues : ndarray (k,), int, optional
        Residues whose depth is needed (default: all).

    Returns
    -------
    ndarray (r,) or (k,), float64, Å
    """
    s = structure
    wanted = np.arange(s.num_residues) if residues is None else np.asarray(residues, dtype=np.int64)
    lo = s.residue_atom_start[wanted]
    counts = s.residue_atom_start[wanted + 1] - lo
    atoms = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    mask = sasa_atom_mask(s)[atoms]
    depth = atoms_depth = atom_depths(s, atoms if residues is not None else None)
    if residues is None:
        atoms_depth = depth[atoms]
    owner = np.repeat(np.arange(wanted.size), counts)
    count = np.bincount(owner, weights=mask, minlength=wanted.size)
    total = np.bincount(owner, weights=atoms_depth * mask, minlength=wanted.size)
    out = np.divide(total, count, out=np.zeros(wanted.size), where=count > 0)
    out.setflags(write=False)
    return out


def virtual_cb(n: np.ndarray, ca: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Ideal Cβ position from backbone N, Cα, C (arrays (k, 3), Å)."""
    b = ca - n
    cc = c - ca
    a = np.cross(b, cc)
    return -0.58273431 * a + 0.56802827 * b - 0.54067466 * cc + ca


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)


def half_sphere_exposure(structure, radius: float = HSE_RADIUS) -> np.ndarray:
    """Half-sphere exposure ``(up, down, angle)`` of every residue (see the module docstring).

    Memoised in ``structure._cache`` per radius.

    Returns
    -------
    ndarray (r, 3), float64
    """
    key = ("_hse", float(radius))
    if key in structure._cache:
        return structure._cache[key]
    s = structure
    out = np.zeros((s.num_residues, 3))
    ca_idx = s.residue_atom_index("CA")
    res = np.flatnonzero((ca_idx >= 0) & (s.residue_aa >= 0))
    if res.size:
        ca = s.coords[ca_idx[res]]
        cb_idx = s.residue_atom_index("CB")[res]
        n_idx = s.residue_atom_index("N")[res]
        c_idx = s.residue_atom_index("C")[res]
        cb = s.coords[np.maximum(cb_idx, 0)]
        can_build = (cb_idx < 0) & (n_idx >= 0) & (c_idx >= 0)
        if can_build.any():
            cb[can_build] = virtual_cb(
                s.coords[n_idx[can_build]], ca[can_build], s.coords[c_idx[can_build]]
            )
        has_dir = (cb_idx >= 0) | can_build
        u = _unit(cb - ca) * has_dir[:, None]

        pairs = cKDTree(ca).query_pairs(radius, output_type="ndarray")
        i, j = pairs[:, 0], pairs[:, 1]
        d = ca[j] - ca[i]
        close = np.einsum("ij,ij->i", d, d) < radius * radius
        i, j, d = i[close], j[close], d[close]
        up_i = np.einsum("ij,ij->i", d, u[i]) > 0
        up_j = np.einsum("ij,ij->i", -d, u[j]) > 0
        k = res.size
        up = np.bincount(i, weights=up_i, minlength=k) + np.bincount(j, weights=up_j, minlength=k)
        total = np.bincount(i, minlength=k) + np.bincount(j, minlength=k)
        down = total - up

        chain = s.residue_chain_index[res]
        link = np.zeros(k + 1, dtype=bool)  # link[t]: residue t-1 and t are trace neighbours
        gap = np.linalg.norm(ca[1:] - ca[:-1], axis=1)
        link[1:k] = (chain[1:] == chain[:-1]) & (gap < TRACE_GAP)
        inner = link[:k] & link[1:]
        angle = np.zeros(k)
        t = np.flatnonzero(inner & has_dir)
        if t.size:
            pseudo = _unit(_unit(ca[t] - ca[t - 1]) + _unit(ca[t] - ca[t + 1]))
            cosang = np.clip(np.einsum("ij,ij->i", pseudo, u[t]), -1.0, 1.0)
            angle[t] = np.arccos(cosang)
        vals = np.stack([up, down, angle], axis=1) * has_dir[:, None]
        out[res] = vals
    out.setflags(write=False)
    structure._cache[key] = out
    return out


def _node_depths(context: FeatureContext) -> np.ndarray:
    """Residue depth of every node, surfacing only the graph's neighbourhood where exact."""
    s, g = context.structure, context.graph
    needed = np.unique(g.residue_index)
    values = np.zeros(s.num_residues)
    values[needed] = residue_depths(s, needed)
    return context.residue_values_to_nodes(values)


class Exposure(FeatureModule):
    """Residue depth (SES distance) and half-sphere exposure, per residue.

    Parameters
    ----------
    hse : {"beta", "alpha"}
        ``"beta"`` (default): counts along the real Cα→Cβ (HSE-β). ``"alpha"``: DeepRank2's
        values, Biopython ``HSExposureCA`` (counts along the Cα-trace pseudo-Cβ, ``(0, 0, 0)``
        at segment ends; :func:`~deeprank_like.features.compat_deeprank2.half_sphere_exposure_alpha`).
    """

    name = "exposure"
    description = "residue depth and half-sphere exposure"
    hse: str = "beta"

    def __init__(self, hse: str = "beta") -> None:
        if hse not in ("beta", "alpha"):
            raise ValueError(f"Exposure(hse={hse!r}): choose 'beta' (Cα→Cβ) or 'alpha' (DeepRank2)")
        if hse != type(self).hse:  # a default instance keeps no state
            self.hse = hse

    def specs(self, context: FeatureContext) -> tuple[FeatureSpec, ...]:
        along = "Cα→Cβ" if self.hse == "beta" else "the Cα-trace pseudo-Cβ (HSE-α, DeepRank2)"
        return (
            FeatureSpec(name="res_depth", kind="node", unit="Å", description="mean distance of the residue's heavy atoms to the solvent-excluded surface (1.5 Å probe)"),
            FeatureSpec(name="hse", kind="node", width=3, unit="count, count, rad", description=f"half-sphere exposure (Cα within {HSE_RADIUS:g} Å up, down along {along}; angle Cα→Cβ to the Cα-trace pseudo-Cβ)"),
        )  # fmt: skip

    def compute(self, context: FeatureContext) -> dict[str, np.ndarray]:
        s = context.structure
        if self.hse == "alpha":
            from deeprank_like.features.compat_deeprank2 import half_sphere_exposure_alpha

            hse = half_sphere_exposure_alpha(s, HSE_RADIUS)
        else:
            hse = half_sphere_exposure(s)
        return {
            "res_depth": _node_depths(context),
            "hse": context.residue_values_to_nodes(hse),
        }
