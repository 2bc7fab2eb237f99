"""DockQ (v2 definitions), vectorised, with chain groups and many rigid decoys at once.

Definitions follow the reference implementation (the ``DockQ`` package, v2; Basu & Wallner 2016,
Mirabello & Wallner 2024), for one interface between two chain *groups* (e.g. antibody ``H+L``
against antigen ``A``: the chains of a group are treated as one molecule):

* Residues: ATOM records only (HETATM are left out), heavy atoms (element H/D dropped). Model and
  reference residues are matched per chain pair by a global sequence alignment with DockQ's scoring
  (match 5, mismatch 0, gap open -4, gap extend -0.5); only identical aligned residues are used.
* Residue distance: the smallest heavy-atom distance between two residues.
* ``fnat``: reference residue contacts (distance < 5 Å) between the groups that are also contacts in
  the model, divided by the number of contacts of the *whole* reference (aligned or not).
* ``irmsd`` (Å): RMSD after optimal superposition of the backbone atoms (CA, C, N, O present in both
  residues) of the reference interface residues: aligned residues with a residue of the other group
  within 10 Å in the reference.
* ``lrmsd`` (Å): the group with more residues in the reference is the receptor (on a tie, the
  second group); superpose the model's receptor backbone on the reference's, then the RMSD of the
  ligand backbone without further fitting.
* ``dockq = (fnat + 1/(1 + (irmsd/1.5)²) + 1/(1 + (lrmsd/8.5)²)) / 3``.
* ``capri_class``: the official CAPRI criteria (1 high: fnat ≥ 0.5 and (lrmsd ≤ 1 or irmsd ≤ 1);
  2 medium: fnat ≥ 0.3 and (lrmsd ≤ 5 or irmsd ≤ 2); 3 acceptable: fnat ≥ 0.1 and (lrmsd ≤ 10 or
  irmsd ≤ 4); 4 incorrect) — see also :data:`DOCKQ_CLASS_THRESHOLDS` for the DockQ bins.

Speed: a :class:`DockQPlan` does the parsing, alignment and every reference-side computation once;
scoring a model is then a few vectorised gathers and batched 3×3 SVDs, and a batch of rigid poses of
the same model (docking decoys) is scored in one call (:meth:`DockQPlan.score_rigid`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy.spatial import cKDTree

from deeprank_like.domain.chains import split_chain_spec
from deeprank_like.errors import FeatureError
from deeprank_like.structure.docking_decoys import AtomTable, apply_rigid, read_atom_table

__all__ = [
    "BACKBONE_ATOMS",
    "CAPRI_CLASS_NAMES",
    "DOCKQ_CLASS_THRESHOLDS",
    "DockQPlan",
    "DockQScores",
    "align_sequences",
    "capri_class_official",
    "dockq_formula",
    "dockq_score",
    "parse_chain_groups",
]

FNAT_THRESHOLD = 5.0  # Å
INTERFACE_THRESHOLD = 10.0  # Å
BACKBONE_ATOMS = ("CA", "C", "N", "O")
CAPRI_CLASS_NAMES = {1: "high", 2: "medium", 3: "acceptable", 4: "incorrect"}
#: DockQ bins: incorrect < 0.23 ≤ acceptable < 0.49 ≤ medium < 0.80 ≤ high
DOCKQ_CLASS_THRESHOLDS = (0.23, 0.49, 0.80)

_ONE_LETTER = {
    "ALA": "A", "ARG": "R", "ASN": "N", "ASP": "D", "CYS": "C", "GLN": "Q", "GLU": "E",
    "GLY": "G", "HIS": "H", "ILE": "I", "LEU": "L", "LYS": "K", "MET": "M", "PHE": "F",
    "PRO": "P", "SER": "S", "THR": "T", "TRP": "W", "TYR": "Y", "VAL": "V", "MSE": "M",
    "CME": "C", "SEC": "U", "PYL": "O", "ASX": "B", "GLX": "Z", "XLE": "J", "HSD": "H",
    "HSE": "H", "HSP": "H", "HIE": "H", "HID": "H", "HIP": "H", "CYX": "C",
}  # fmt: skip

GroupsLike = Sequence[Sequence[str] | str]


def dockq_formula(fnat: np.ndarray, irmsd: np.ndarray, lrmsd: np.ndarray) -> np.ndarray:
    """DockQ from its three components (arrays broadcast; RMSDs in Å)."""
    fnat, irmsd, lrmsd = np.asarray(fnat), np.asarray(irmsd), np.asarray(lrmsd)
    return (fnat + 1.0 / (1.0 + (irmsd / 1.5) ** 2) + 1.0 / (1.0 + (lrmsd / 8.5) ** 2)) / 3.0


def capri_class_official(fnat: np.ndarray, lrmsd: np.ndarray, irmsd: np.ndarray) -> np.ndarray:
    """Official CAPRI class, vectorised: 1 high, 2 medium, 3 acceptable, 4 incorrect (int64)."""
    fnat, lrmsd, irmsd = np.broadcast_arrays(
        np.asarray(fnat, float), np.asarray(lrmsd, float), np.asarray(irmsd, float)
    )
    out = np.full(fnat.shape, 4, dtype=np.int64)
    out[(fnat >= 0.1) & ((lrmsd <= 10.0) | (irmsd <= 4.0))] = 3
    out[(fnat >= 0.3) & ((lrmsd <= 5.0) | (irmsd <= 2.0))] = 2
    out[(fnat >= 0.5) & ((lrmsd <= 1.0) | (irmsd <= 1.0))] = 1
    return out


def parse_chain_groups(spec: str | GroupsLike) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``"H+L,A"`` or ``[["H", "L"], "A"]`` → ``(("H", "L"), ("A",))``.

    Raises
    ------
    FeatureError
        Not exactly two non-empty groups, or a chain in both groups.
    """
    if isinstance(spec, str):
        groups = [tuple(c for c in side if c) for side in split_chain_spec(spec)]
    else:
        groups = [(g,) if isinstance(g, str) else tuple(str(c) for c in g) for g in spec]
    if len(groups) != 2 or not all(groups):
        raise FeatureError(f"chain groups must be two non-empty groups like 'H+L,A', got {spec!r}")
    if set(groups[0]) & set(groups[1]):
        raise FeatureError(f"chain groups {spec!r}: a chain is in both groups")
    return groups[0], groups[1]


# ---- sequence alignment --------------------------------------------------------------------


@lru_cache(maxsize=256)
def align_sequences(
    seq_a: str,
    seq_b: str,
    match: float = 5.0,
    mismatch: float = 0.0,
    gap_open: float = -4.0,
    gap_extend: float = -0.5,
) -> tuple[np.ndarray, np.ndarray]:
    """Global alignment (affine gaps, end gaps scored like internal ones); identical pairs.

    The scoring defaults are DockQ's. Rows are filled with numpy (the horizontal-gap recurrence
    is a running maximum), so chains of a thousand residues align in well under a second.

    Returns
    -------
    idx_a, idx_b : ndarray (k,) int64
        Positions in ``seq_a`` and ``seq_b`` that are aligned to each other with the same letter.
    """
    n, m = len(seq_a), len(seq_b)
    if seq_a == seq_b:
        idx = np.arange(n, dtype=np.int64)
        return idx, idx.copy()
    if n == 0 or m == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    a = np.frombuffer(seq_a.encode(), dtype=np.uint8)
    b = np.frombuffer(seq_b.encode(), dtype=np.uint8)
    neg = -1e30
    big_m = np.full((n + 1, m + 1), neg)
    big_x = np.full((n + 1, m + 1), neg)  # a[i] against a gap (vertical move)
    big_y = np.full((n + 1, m + 1), neg)  # b[j] against a gap (horizontal move)
    big_m[0, 0] = 0.0
    big_x[1:, 0] = gap_open + gap_extend * np.arange(n)
    big_y[0, 1:] = gap_open + gap_extend * np.arange(m)
    ks = np.arange(m + 1) * gap_extend
    for i in range(1, n + 1):
        prev_best = np.maximum(np.maximum(big_m[i - 1], big_x[i - 1]), big_y[i - 1])
        score = np.where(b == a[i - 1], match, mismatch)
        big_m[i, 1:] = prev_best[:-1] + score
        big_x[i, 1:] = np.maximum(
            np.maximum(big_m[i - 1, 1:], big_y[i - 1, 1:]) + gap_open, big_x[i - 1, 1:] + gap_extend
        )
        # Y[i, j] = open + (j-1)*ext + max_{k<j} (max(M, X)[i, k] - k*ext)
        opener = np.maximum(big_m[i], big_x[i]) - ks
        run = np.maximum.accumulate(opener)
        big_y[i, 1:] = gap_open + ks[:-1] + run[:-1]
    # traceback from the end; on ties the match state wins, then a vertical, then a horizontal
    # gap, at every step: this reproduces Biopython's first alignment (DockQ's choice) on all
    # 257 differing chain pairs of Docking Benchmark 5
    mats = (big_m, big_x, big_y)

    def pick(candidates: tuple[float, float, float], target: float, i: int, j: int) -> int:
        for s, value in enumerate(candidates):
            if mats[s][i, j] > neg / 2 and abs(value - target) <= 1e-9 * max(1.0, abs(target)):
                return s
        raise AssertionError("alignment traceback lost its path")  # pragma: no cover

    i, j = n, m
    end = max(big_m[i, j], big_x[i, j], big_y[i, j])
    state = pick((big_m[i, j], big_x[i, j], big_y[i, j]), end, i, j)
    out_a: list[int] = []
    out_b: list[int] = []
    while i > 0 or j > 0:
        if state == 0:
            same = a[i - 1] == b[j - 1]
            if same:
                out_a.append(i - 1)
                out_b.append(j - 1)
            here = big_m[i, j] - (match if same else mismatch)
            i, j = i - 1, j - 1
            if i == 0 and j == 0:
                break
            state = pick((big_m[i, j], big_x[i, j], big_y[i, j]), here, i, j)
        elif state == 1:
            here = big_x[i, j]
            i -= 1
            cands = (big_m[i, j] + gap_open, big_x[i, j] + gap_extend, big_y[i, j] + gap_open)
            state = pick(cands, here, i, j) if (i or j) else 0
        else:
            here = big_y[i, j]
            j -= 1
            cands = (big_m[i, j] + gap_open, big_x[i, j] + gap_open, big_y[i, j] + gap_extend)
            state = pick(cands, here, i, j) if (i or j) else 0
    return np.array(out_a[::-1], dtype=np.int64), np.array(out_b[::-1], dtype=np.int64)


def _sequence(names: np.ndarray) -> str:
    return "".join(_ONE_LETTER.get(str(n), "X") for n in names)


# ---- geometry --------------------------------------------------------------------------------


def _kabsch(
    mobile: np.ndarray, target: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Batched optimal superposition of ``mobile`` (B, k, 3) onto ``target`` (k, 3).

    Returns rotations (B, 3, 3), mobile centroids (B, 3), target centroid (3,) and RMSD (B,):
    ``(x - mobile_centroid) @ R.T + target_centroid`` is the superposed position of ``x``.
    """
    mc = mobile.mean(axis=1)
    tc = target.mean(axis=0)
    p = mobile - mc[:, None, :]
    q = target - tc
    h = np.einsum("bki,kj->bij", p, q)
    u, s, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("bij,bjk->bik", u, vt)))
    d[d == 0] = 1.0
    diag = np.ones((mobile.shape[0], 3))
    diag[:, 2] = d
    rot = np.einsum("bji,bj,bkj->bik", vt, diag, u)  # R = V diag U^T
    e = (p**2).sum(axis=(1, 2)) + (q**2).sum() - 2.0 * (s * diag).sum(axis=1)
    rmsd = np.sqrt(np.maximum(e, 0.0) / mobile.shape[1])
    return rot, mc, tc, rmsd


def _residue_min_distances(
    table: AtomTable, res_a: np.ndarray, res_b: np.ndarray, cutoff: float
) -> np.ndarray:
    """Smallest heavy-atom distance between every residue of ``res_a`` and ``res_b`` (Å).

    Pairs with no atoms closer than ``cutoff`` get ``inf``. Returns (len(res_a), len(res_b)).
    """
    pos_a = np.full(table.num_residues, -1, dtype=np.int64)
    pos_a[res_a] = np.arange(res_a.size)
    pos_b = np.full(table.num_residues, -1, dtype=np.int64)
    pos_b[res_b] = np.arange(res_b.size)
    atoms_a = np.flatnonzero(pos_a[table.residue_index] >= 0)
    atoms_b = np.flatnonzero(pos_b[table.residue_index] >= 0)
    out = np.full((res_a.size, res_b.size), np.inf)
    if atoms_a.size == 0 or atoms_b.size == 0:
        return out
    ta = cKDTree(table.coords[atoms_a])
    tb = cKDTree(table.coords[atoms_b])
    sparse = ta.sparse_distance_matrix(tb, cutoff, output_type="ndarray")
    if sparse.size:
        ra = pos_a[table.residue_index[atoms_a[sparse["i"]]]]
        rb = pos_b[table.residue_index[atoms_b[sparse["j"]]]]
        np.minimum.at(out, (ra, rb), sparse["v"])
    return out


@dataclass(frozen=True, eq=False)
class DockQScores:
    """DockQ and its components for a batch of models (all arrays shape (B,)).

    Attributes
    ----------
    dockq, fnat : ndarray float64
    irmsd, lrmsd : ndarray float64, Å
    capri_class : ndarray int64
        Official CAPRI class, 1 high … 4 incorrect.
    nat_correct : ndarray int64
        Reference contacts recovered.
    nat_total : int
        Contacts in the reference interface.
    """

    dockq: np.ndarray
    fnat: np.ndarray
    irmsd: np.ndarray
    lrmsd: np.ndarray
    capri_class: np.ndarray
    nat_correct: np.ndarray
    nat_total: int

    def __len__(self) -> int:
        return int(self.dockq.shape[0])

    def row(self, k: int = 0) -> dict[str, float | int]:
        """Scores of model ``k`` as a plain dict."""
        return {
            "dockq": float(self.dockq[k]),
            "fnat": float(self.fnat[k]),
            "irmsd": float(self.irmsd[k]),
            "lrmsd": float(self.lrmsd[k]),
            "capri_class": int(self.capri_class[k]),
        }


def _side_residues(table: AtomTable, chains: Sequence[str]) -> list[np.ndarray]:
    rchain = table.residue_chain_ids
    return [np.flatnonzero(rchain == c) for c in chains]


def _backbone_pairs(
    model: AtomTable, ref: AtomTable, m_res: np.ndarray, r_res: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Atom indices (model, reference) of the backbone atoms present in both matched residues."""
    out_m: list[np.ndarray] = []
    out_r: list[np.ndarray] = []
    for name in BACKBONE_ATOMS:
        mi = _atom_index(model, name)[m_res]
        ri = _atom_index(ref, name)[r_res]
        ok = (mi >= 0) & (ri >= 0)
        out_m.append(mi[ok])
        out_r.append(ri[ok])
    return np.concatenate(out_m), np.concatenate(out_r)


def _atom_index(table: AtomTable, name: str) -> np.ndarray:
    """Index of the first atom called ``name`` in each residue, -1 where absent (r,)."""
    out = np.full(table.num_residues, -1, dtype=np.int64)
    hits = np.flatnonzero(table.atom_names == name)
    res = table.residue_index[hits]
    first = np.unique(res, return_index=True)[1]
    out[res[first]] = hits[first]
    return out


class DockQPlan:
    """Everything DockQ needs that does not depend on the model's coordinates, computed once.

    Parameters
    ----------
    model : AtomTable
        A model (only its residues, atom names and chain ids are used here; coordinates are
        passed to :meth:`score`).
    reference : AtomTable
        The reference (native) complex.
    groups : two chain groups of the reference, optional
        ``"H+L,A"`` or ``[["H", "L"], ["A"]]``; default: the reference's two chains.
    model_groups : two chain groups of the model, optional
        Same shape as ``groups``, chain by chain; default: the same chain ids.

    Raises
    ------
    FeatureError
        Chains missing, no residue matched, or no contact between the groups in the reference.
    """

    def __init__(
        self,
        model: AtomTable,
        reference: AtomTable,
        groups: str | GroupsLike | None = None,
        model_groups: str | GroupsLike | None = None,
    ) -> None:
        if groups is None:
            if len(reference.chains) != 2:
                raise FeatureError(
                    f"the reference has chains {list(reference.chains)}; say which two chain "
                    "groups form the interface (e.g. groups='H+L,A')"
                )
            groups = [[reference.chains[0]], [reference.chains[1]]]
        ref_groups = parse_chain_groups(groups)
        mod_groups = ref_groups if model_groups is None else parse_chain_groups(model_groups)
        if [len(g) for g in mod_groups] != [len(g) for g in ref_groups]:
            raise FeatureError(
                f"model groups {mod_groups} and reference groups {ref_groups} differ in shape"
            )
        for table, grp, what in (
            (reference, ref_groups, "reference"),
            (model, mod_groups, "model"),
        ):
            missing = [c for g in grp for c in g if c not in table.chains]
            if missing:
                raise FeatureError(
                    f"{what}: chain(s) {missing} not found (chains: {list(table.chains)})"
                )
        self.groups = ref_groups
        self.model_groups = mod_groups
        self.num_model_atoms = model.num_atoms

        # residue matching, chain by chain; each side is the concatenation
        full_ref: list[np.ndarray] = []
        m_side: list[np.ndarray] = []
        r_side: list[np.ndarray] = []
        mnames, rnames = model.residue_names, reference.residue_names
        for g in range(2):
            ref_res = _side_residues(reference, ref_groups[g])
            mod_res = _side_residues(model, mod_groups[g])
            full_ref.append(np.concatenate(ref_res))
            ms, rs = [], []
            for mr, rr in zip(mod_res, ref_res, strict=True):
                ia, ib = align_sequences(_sequence(mnames[mr]), _sequence(rnames[rr]))
                ms.append(mr[ia])
                rs.append(rr[ib])
            m_side.append(np.concatenate(ms))
            r_side.append(np.concatenate(rs))
            if m_side[g].size == 0:
                raise FeatureError(
                    f"no residue of model chains {mod_groups[g]} matches reference chains "
                    f"{ref_groups[g]} (sequence alignment found no identical residues)"
                )

        # reference contacts: total over the whole reference, then the aligned ones
        d_full = _residue_min_distances(reference, full_ref[0], full_ref[1], INTERFACE_THRESHOLD)
        self.nat_total = int((d_full < FNAT_THRESHOLD).sum())
        if self.nat_total == 0:
            raise FeatureError(
                f"the reference has no contact (< {FNAT_THRESHOLD} Å) between chain groups "
                f"{ref_groups[0]} and {ref_groups[1]}"
            )
        pos0 = {int(r): k for k, r in enumerate(full_ref[0])}
        pos1 = {int(r): k for k, r in enumerate(full_ref[1])}
        d_al = d_full[np.ix_([pos0[int(r)] for r in r_side[0]], [pos1[int(r)] for r in r_side[1]])]

        # fnat: all model atom pairs of every aligned reference contact, grouped by contact
        ca, cb = np.nonzero(d_al < FNAT_THRESHOLD)
        starts_m = model.residue_start
        pa_list, pb_list, owner = [], [], []
        for k, (x, y) in enumerate(
            zip(m_side[0][ca].tolist(), m_side[1][cb].tolist(), strict=True)
        ):
            ia = np.arange(starts_m[x], starts_m[x + 1])
            ib = np.arange(starts_m[y], starts_m[y + 1])
            pa_list.append(np.repeat(ia, ib.size))
            pb_list.append(np.tile(ib, ia.size))
            owner.append(np.full(ia.size * ib.size, k))
        self._n_contacts = len(pa_list)
        if pa_list:
            pa, pb = np.concatenate(pa_list), np.concatenate(pb_list)
            own = np.concatenate(owner)
            self._pair_starts = np.flatnonzero(np.r_[True, own[1:] != own[:-1]])
        else:
            pa = pb = np.zeros(0, dtype=np.int64)
            self._pair_starts = np.zeros(0, dtype=np.int64)

        # i-RMSD: backbone of aligned reference interface residues (10 Å)
        i0 = np.flatnonzero((d_al < INTERFACE_THRESHOLD).any(axis=1))
        i1 = np.flatnonzero((d_al < INTERFACE_THRESHOLD).any(axis=0))
        bm0, br0 = _backbone_pairs(model, reference, m_side[0][i0], r_side[0][i0])
        bm1, br1 = _backbone_pairs(model, reference, m_side[1][i1], r_side[1][i1])
        im, ir = np.concatenate([bm0, bm1]), np.concatenate([br0, br1])
        if im.size < 3:
            raise FeatureError("fewer than 3 matched backbone atoms at the reference interface")

        # L-RMSD: receptor is the group with more reference residues (tie: the second group)
        self.receptor_group = 0 if full_ref[0].size > full_ref[1].size else 1
        rec, lig = self.receptor_group, 1 - self.receptor_group
        rm, rr = _backbone_pairs(model, reference, m_side[rec], r_side[rec])
        lm, lr = _backbone_pairs(model, reference, m_side[lig], r_side[lig])
        if rm.size < 3 or lm.size == 0:
            raise FeatureError("too few matched backbone atoms for L-RMSD")

        # all model atoms any score reads, and index maps into that subset
        self.atoms = np.unique(np.concatenate([pa, pb, im, rm, lm]))

        def local(idx: np.ndarray) -> np.ndarray:
            return np.searchsorted(self.atoms, idx)

        self._pa, self._pb = local(pa), local(pb)
        self._iface, self._iface_ref = local(im), reference.coords[ir]
        self._rec, self._rec_ref = local(rm), reference.coords[rr]
        self._lig, self._lig_ref = local(lm), reference.coords[lr]
        self.num_matched_residues = (int(m_side[0].size), int(m_side[1].size))

    # ---- scoring -------------------------------------------------------------------------
    def score(self, coords: np.ndarray, *, chunk: int = 64) -> DockQScores:
        """Score models given all their atom positions.

        Parameters
        ----------
        coords : ndarray (n_atoms, 3) or (B, n_atoms, 3)
            Model coordinates (Å), atoms in the order of the plan's model table.
        chunk : int
            Models scored per vectorised block (bounds memory).

        Returns
        -------
        DockQScores
        """
        coords = np.asarray(coords, dtype=np.float64)
        if coords.ndim == 2:
            coords = coords[None]
        if coords.ndim != 3 or coords.shape[1:] != (self.num_model_atoms, 3):
            raise FeatureError(f"coords must be (B, {self.num_model_atoms}, 3), got {coords.shape}")
        return self.score_subset(coords[:, self.atoms], chunk=chunk)

    def score_rigid(
        self,
        model_coords: np.ndarray,
        moving: np.ndarray,
        rotations: np.ndarray,
        translations: np.ndarray,
        center: np.ndarray,
        *,
        chunk: int = 64,
        round_decimals: int | None = None,
    ) -> DockQScores:
        """Score rigid poses: the ``moving`` atoms of one model moved by each transform.

        Parameters
        ----------
        model_coords : ndarray (n_atoms, 3)
            The model's coordinates before the moves, Å.
        moving : ndarray (n_atoms,) bool
            Atoms that move.
        rotations : ndarray (B, 3, 3)
        translations : ndarray (B, 3), Å
        center : ndarray (3,), Å
            Pose ``k`` puts atom ``x`` at ``(x - center) @ rotations[k].T + center + translations[k]``.
        round_decimals : int, optional
            Round the posed coordinates to this many decimals first: ``3`` scores exactly what
            PDB files of the poses hold (a contact at 5.000 Å can flip otherwise).

        Returns
        -------
        DockQScores
        """
        base = np.asarray(model_coords, dtype=np.float64)
        if base.shape != (self.num_model_atoms, 3):
            raise FeatureError(
                f"model_coords must be ({self.num_model_atoms}, 3), got {base.shape}"
            )
        sub = base[self.atoms]
        mov = np.asarray(moving, dtype=bool)[self.atoms]
        rotations = np.asarray(rotations, dtype=np.float64).reshape(-1, 3, 3)
        translations = np.asarray(translations, dtype=np.float64).reshape(-1, 3)
        out = np.broadcast_to(sub, (rotations.shape[0], *sub.shape)).copy()
        out[:, mov] = apply_rigid(sub[mov], rotations, translations, np.asarray(center, float))
        if round_decimals is not None:
            out = np.round(out, round_decimals)
        return self.score_subset(out, chunk=chunk)

    def score_subset(self, sub: np.ndarray, *, chunk: int = 64) -> DockQScores:
        """Score models given only the plan's atoms ``sub`` (B, len(plan.atoms), 3)."""
        n = sub.shape[0]
        fnat = np.empty(n)
        nat_correct = np.empty(n, dtype=np.int64)
        irmsd = np.empty(n)
        lrmsd = np.empty(n)
        for s in range(0, n, chunk):
            x = sub[s : s + chunk]
            if self._n_contacts:
                d2 = ((x[:, self._pa] - x[:, self._pb]) ** 2).sum(axis=-1)
                best = np.minimum.reduceat(d2, self._pair_starts, axis=1)
                correct = (best < FNAT_THRESHOLD**2).sum(axis=1)
            else:
                correct = np.zeros(x.shape[0], dtype=np.int64)
            nat_correct[s : s + chunk] = correct
            fnat[s : s + chunk] = correct / self.nat_total
            irmsd[s : s + chunk] = _kabsch(x[:, self._iface], self._iface_ref)[3]
            rot, mc, tc, _ = _kabsch(x[:, self._rec], self._rec_ref)
            lig = np.einsum("bki,bji->bkj", x[:, self._lig] - mc[:, None, :], rot) + tc
            lrmsd[s : s + chunk] = np.sqrt(((lig - self._lig_ref) ** 2).sum(axis=-1).mean(axis=1))
        return DockQScores(
            dockq=dockq_formula(fnat, irmsd, lrmsd),
            fnat=fnat,
            irmsd=irmsd,
            lrmsd=lrmsd,
            capri_class=capri_class_official(fnat, lrmsd, irmsd),
            nat_correct=nat_correct,
            nat_total=self.nat_total,
        )


def dockq_score(
    model: str | os.PathLike | AtomTable,
    reference: str | os.PathLike | AtomTable,
    groups: str | GroupsLike | None = None,
    model_groups: str | GroupsLike | None = None,
) -> dict[str, float | int]:
    """DockQ, Fnat, i-RMSD, L-RMSD and CAPRI class of one model against a reference.

    Parameters
    ----------
    model, reference : path or AtomTable
        PDB/mmCIF files (optionally gzipped) or tables from
        :func:`~deeprank_like.structure.docking_decoys.read_atom_table`.
    groups, model_groups : chain groups, optional
        See :class:`DockQPlan`.

    Returns
    -------
    dict
        ``dockq``, ``fnat``, ``irmsd`` (Å), ``lrmsd`` (Å), ``capri_class`` (1 high … 4 incorrect).

    Raises
    ------
    StructureError
        A file is missing or unreadable.
    FeatureError
        Chains missing, no match between model and reference, or no reference interface.
    """
    m = model if isinstance(model, AtomTable) else read_atom_table(model)
    r = reference if isinstance(reference, AtomTable) else read_atom_table(reference)
    return DockQPlan(m, r, groups, model_groups).score(m.coords).row(0)
