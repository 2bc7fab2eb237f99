"""DeepRank2 conventions, as options of the feature modules (reproduce old feature values).

Used by ``Exposure(hse="alpha")`` and ``Contact(residue_atoms="interface_shell")``; see
``docs/coming-from-deeprank2.md`` for when they matter and which behaviour is right.

* :func:`half_sphere_exposure_alpha`: HSE-α as Biopython's ``HSExposureCA`` (what DeepRank2's
  ``exposure`` stores): up/down counts along the Cα-trace pseudo-Cβ
  ``unit(Cα_i − Cα_{i−1}) + unit(Cα_i − Cα_{i+1})``, ``(0, 0, 0)`` for residues at the ends of a
  Cα-trace segment (consecutive standard amino acids with Cα–Cα < :data:`CA_TRACE_LINK`).
* :func:`interface_shell_mask`: the atoms of a PPI query within ``influence_radius`` of an atom
  of another side (DeepRank2 builds its PPI residues from these atoms only).
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    "CA_TRACE_LINK",
    "half_sphere_exposure_alpha",
    "interface_shell_mask",
    "restrict_groups",
]

CA_TRACE_LINK = 4.3  # Å, Biopython CaPPBuilder's largest Cα–Cα distance within a segment


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)


def _gly_pseudo_cb(n: np.ndarray, ca: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Biopython's glycine Cα→Cβ direction: N rotated by −120° about the Cα→C axis, (k, 3)."""
    v = n - ca
    k = _unit(c - ca)
    theta = -2.0 * np.pi / 3.0
    cos, sin = np.cos(theta), np.sin(theta)
    kv = np.einsum("ij,ij->i", k, v)[:, None]
    return v * cos + np.cross(k, v) * sin + k * kv * (1.0 - cos)


def half_sphere_exposure_alpha(structure, radius: float = 12.0) -> np.ndarray:
    """HSE-α ``(up, down, angle)`` of every residue, as Biopython's ``HSExposureCA``.

    Segments are runs of consecutive standard amino-acid residues of one chain (file order)
    with a Cα and Cα–Cα < :data:`CA_TRACE_LINK`; a residue not in a segment of at least two
    residues takes no part. For a residue inside a segment (not its first or last), ``up``
    (``down``) counts the Cα atoms of the other segment residues of every chain closer than
    ``radius`` whose direction makes an angle < 90° (≥ 90°) with the pseudo-Cβ direction;
    ``angle`` (rad) is the angle between the pseudo-Cβ and the real Cα→Cβ (glycine:
    Biopython's rotated-N pseudo-Cβ; 0 when neither exists). Other residues: ``(0, 0, 0)``,
    as DeepRank2 stores for residues missing from Biopython's map. Memoised per radius.

    Parameters
    ----------
    structure : Structure
    radius : float
        Sphere radius in Å (Biopython's and DeepRank2's default 12).

    Returns
    -------
    ndarray (r, 3), float64
    """
    key = ("_hse_alpha", float(radius))
    if key in structure._cache:
        return structure._cache[key]
    s = structure
    out = np.zeros((s.num_residues, 3))
    ca_idx = s.residue_atom_index("CA")
    standard = (s.residue_aa >= 0) & np.isin(s.residue_names, _STANDARD)
    ok = standard & (ca_idx >= 0)
    ca_all = s.coords[np.maximum(ca_idx, 0)]
    chain = s.residue_chain_index
    link = np.zeros(s.num_residues + 1, dtype=bool)  # link[t]: residues t-1 and t are linked
    if s.num_residues > 1:
        gap = np.linalg.norm(ca_all[1:] - ca_all[:-1], axis=1)
        link[1:-1] = ok[1:] & ok[:-1] & (chain[1:] == chain[:-1]) & (gap < CA_TRACE_LINK)
    member = link[:-1] | link[1:]
    inner = np.flatnonzero(link[:-1] & link[1:])
    if inner.size:
        members = np.flatnonzero(member)
        ca_m = ca_all[members]
        ca = ca_all[inner]
        pcb = _unit(_unit(ca - ca_all[inner - 1]) + _unit(ca - ca_all[inner + 1]))
        tree = cKDTree(ca_m)
        up = np.zeros(inner.size)
        down = np.zeros(inner.size)
        for t, neighbours in enumerate(tree.query_ball_point(ca, radius)):
            nb = members[np.asarray(neighbours, dtype=np.int64)]
            nb = nb[nb != inner[t]]
            d = ca_all[nb] - ca[t]
            d = d[np.einsum("ij,ij->i", d, d) < radius * radius]
            cosang = (d @ pcb[t]) / np.linalg.norm(d, axis=1)
            is_up = np.arccos(np.clip(cosang, -1.0, 1.0)) < np.pi / 2
            up[t] = is_up.sum()
            down[t] = is_up.size - is_up.sum()
        cb_idx = s.residue_atom_index("CB")[inner]
        direction = np.zeros_like(ca)
        has_cb = cb_idx >= 0
        direction[has_cb] = s.coords[cb_idx[has_cb]] - ca[has_cb]
        n_idx = s.residue_atom_index("N")[inner]
        c_idx = s.residue_atom_index("C")[inner]
        gly = (~has_cb) & (s.residue_names[inner] == "GLY") & (n_idx >= 0) & (c_idx >= 0)
        if gly.any():
            direction[gly] = _gly_pseudo_cb(s.coords[n_idx[gly]], ca[gly], s.coords[c_idx[gly]])
        u = _unit(direction)
        angle = np.arccos(np.clip(np.einsum("ij,ij->i", u, pcb), -1.0, 1.0))
        angle[~(has_cb | gly)] = 0.0
        out[inner] = np.stack([up, down, angle], axis=1)
    out.setflags(write=False)
    structure._cache[key] = out
    return out


_STANDARD = np.array(
    [
        "ALA", "ARG", "ASN", "ASP", "CYS", "GLN", "GLU", "GLY", "HIS", "ILE",
        "LEU", "LYS", "MET", "PHE", "PRO", "SER", "THR", "TRP", "TYR", "VAL",
    ]
)  # fmt: skip


def interface_shell_mask(context) -> np.ndarray:
    """Eligible atoms within ``influence_radius`` of an eligible atom of another side (PPI).

    The atoms DeepRank2 keeps in its PPI structures (with ``include_hydrogens=True`` on the
    query, hydrogens count as DeepRank2's do).

    Parameters
    ----------
    context : FeatureContext
        Of a protein-protein interface query.

    Returns
    -------
    ndarray (n_atoms,), bool
    """
    from deeprank_like.graph.build import interface_atoms

    s, q = context.structure, context.query
    side_of_chain = {c: i for i, group in enumerate(q.sides) for c in group}
    side = np.array([side_of_chain.get(c, -1) for c in s.chains], dtype=np.int64)[s.chain_index]
    return interface_atoms(s.coords, side, context.eligible_atoms, float(q.influence_radius))


def restrict_groups(
    atoms: np.ndarray, start: np.ndarray, keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Keep only the atoms with ``keep[atom]`` in CSR node-atom groups.

    Parameters
    ----------
    atoms : ndarray (m,), int64
    start : ndarray (N + 1,), int64
    keep : ndarray (n_atoms,), bool

    Returns
    -------
    atoms, start : the restricted groups (a group may become empty)
    """
    node_of = np.repeat(np.arange(start.size - 1), np.diff(start))
    sel = keep[atoms]
    kept_nodes = node_of[sel]
    new_start = np.searchsorted(kept_nodes, np.arange(start.size)).astype(np.int64)
    return atoms[sel], new_start
