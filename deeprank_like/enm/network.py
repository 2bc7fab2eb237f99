"""The β-GM spring network: nodes, virtual Cβ, springs, Jacobian and the reduced matrix M̃.

Model conventions are those of :mod:`deeprank_like.enm.betagm` (``spec/betagm.md``): one Cα node
per residue and a virtual Cβ at ``r_i + l u_i`` (simplified Park–Levitt) for non-glycine residues
with both chain neighbours; central springs between every node pair within the cut-off
(k = 2 bonded Cα–Cα, 1 other Cα–Cα, 1 Cα–Cβ, 0.5 Cβ–Cβ); the Cα+Cβ Hessian is reduced to the Cα
coordinates through the linear Cβ Jacobian, assembled as ``M̃ = Gᵀ diag(k) G`` without ever
building the Cα+Cβ Hessian.

Units: coordinates in Å; M̃ in the units of the spring constants. The eigen-solve and the public
entry points (:func:`~deeprank_like.enm.betagm_from_ca`, :func:`~deeprank_like.enm.betagm_modes`)
live in :mod:`deeprank_like.enm.betagm`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from deeprank_like.enm.config import BetaGMConfig
from deeprank_like.errors import EnmError

__all__ = [
    "PAIR_BONDED",
    "PAIR_CA_CA",
    "PAIR_CA_CB",
    "PAIR_CB_CB",
    "BetaGMNetwork",
    "assemble_g",
    "assemble_hessian",
    "build_network",
    "place_cb",
]

_EYE3 = np.eye(3)

#: Codes of the pair types in :attr:`BetaGMNetwork.pair_types`.
PAIR_BONDED, PAIR_CA_CA, PAIR_CA_CB, PAIR_CB_CB = 0, 1, 2, 3


def _readonly(a: NDArray) -> NDArray:
    a.flags.writeable = False
    return a


@dataclass(frozen=True)
class BetaGMNetwork:
    """The Cα+Cβ spring network and the Jacobian of all nodes in the Cα coordinates.

    Nodes ``0..N-1`` are the Cα of residues ``0..N-1``; nodes ``N..N+N_β-1`` are the Cβ of the
    residues ``cb_residues`` (ascending).

    Attributes
    ----------
    ca : ndarray, shape (N, 3), float64
        Cα coordinates in Å.
    positions : ndarray, shape (N + N_β, 3), float64
        Node coordinates in Å (Cα first, then Cβ).
    cb_residues : ndarray, shape (N_β,), int64
        Residue index of each Cβ node.
    segment_ids : ndarray, shape (N,), int64
        Chain segment of each residue (consecutive ids; a break starts a new segment).
    jac_cols : ndarray, shape (N + N_β, 3), int64
        Residues whose displacements move each node (Cα node i: ``(i, i, i)``; Cβ of residue i:
        ``(i-1, i, i+1)``).
    node_u : ndarray, shape (N + N_β, 3), float64
        Unit Cβ direction u_i of each Cβ node (zero rows for Cα nodes).
    node_lambda : ndarray, shape (N + N_β,), float64
        ``l / |v_i|`` of each Cβ node in Å/Å (zero for Cα nodes).
    jacobian : {"exact", "fixed_norm"}
        Which linearisation of the Cβ position the blocks follow.
    pairs : ndarray, shape (P, 2), int64
        Interacting node pairs ``a < b`` with ``|r_ab| <= cutoff``.
    pair_types : ndarray, shape (P,), int8
        0 bonded Cα–Cα, 1 other Cα–Cα, 2 Cα–Cβ, 3 Cβ–Cβ.
    spring_constants : ndarray, shape (P,), float64
        k of each pair.
    """

    ca: NDArray[np.float64]
    positions: NDArray[np.float64]
    cb_residues: NDArray[np.int64]
    segment_ids: NDArray[np.int64]
    jac_cols: NDArray[np.int64]
    node_u: NDArray[np.float64]
    node_lambda: NDArray[np.float64]
    jacobian: str
    pairs: NDArray[np.int64]
    pair_types: NDArray[np.int8]
    spring_constants: NDArray[np.float64]

    @property
    def n_residues(self) -> int:
        """Number N of Cα nodes."""
        return int(self.ca.shape[0])

    @property
    def n_cb(self) -> int:
        """Number of virtual Cβ nodes."""
        return int(self.cb_residues.shape[0])

    def jacobian_blocks(self) -> NDArray[np.float64]:
        """The Jacobian blocks, shape (N + N_β, 3, 3, 3).

        ``blocks[a, s]`` is the 3 × 3 matrix ∂r_a/∂r_{jac_cols[a, s]}: ``(0, I, 0)`` for a Cα
        node; ``(−λP, I + 2λP, −λP)`` for a Cβ node with ``P = I − u uᵀ`` (exact) or ``P = I``
        (fixed norm) and ``λ = l/|v|``.
        """
        u = self.node_u
        proj = _EYE3 - u[:, :, None] * u[:, None, :] if self.jacobian == "exact" else _EYE3
        lam = self.node_lambda[:, None, None]
        blocks = np.empty((u.shape[0], 3, 3, 3))
        blocks[:, 0] = -lam * proj
        blocks[:, 1] = _EYE3 + 2.0 * lam * proj
        blocks[:, 2] = blocks[:, 0]
        return blocks


def _check_inputs(
    ca: ArrayLike, is_glycine: ArrayLike, segment_ids: ArrayLike | None
) -> tuple[NDArray[np.float64], NDArray[np.bool_], NDArray[np.int64]]:
    ca_arr = np.ascontiguousarray(ca, dtype=np.float64)
    if ca_arr.ndim != 2 or ca_arr.shape[1] != 3:
        raise EnmError(f"Cα coordinates must have shape (N, 3), got {ca_arr.shape}")
    n = ca_arr.shape[0]
    if not np.isfinite(ca_arr).all():
        bad = np.flatnonzero(~np.isfinite(ca_arr).all(axis=1))
        raise EnmError(
            f"missing Cα: non-finite coordinates for residue indices {bad[:10].tolist()}"
        )
    gly = np.asarray(is_glycine, dtype=bool)
    if gly.shape != (n,):
        raise EnmError(f"is_glycine must have shape ({n},), got {gly.shape}")
    if segment_ids is None:
        seg = np.zeros(n, dtype=np.int64)
    else:
        seg_in = np.asarray(segment_ids)
        if seg_in.shape != (n,):
            raise EnmError(f"segment_ids must have shape ({n},), got {seg_in.shape}")
        # relabel to 0, 1, 2, ... in order of appearance of each run of equal labels
        change = np.ones(n, dtype=bool)
        if n > 1:
            change[1:] = seg_in[1:] != seg_in[:-1]
        seg = np.cumsum(change, dtype=np.int64) - 1
    return ca_arr, gly, seg


def _split_at_gaps(
    ca: NDArray[np.float64], seg: NDArray[np.int64], config: BetaGMConfig
) -> NDArray[np.int64]:
    """Detect consecutive Cα farther apart than ``gap_distance`` inside one segment."""
    if ca.shape[0] < 2:
        return seg
    step = np.linalg.norm(np.diff(ca, axis=0), axis=1)
    same = seg[1:] == seg[:-1]
    gaps = np.flatnonzero(same & (step > config.gap_distance))
    if gaps.size == 0:
        return seg
    if config.chain_breaks == "raise":
        where = ", ".join(f"{i}-{i + 1} ({step[i]:.2f} Å)" for i in gaps[:5])
        raise EnmError(
            f"chain break: {gaps.size} consecutive Cα pair(s) farther apart than "
            f"gap_distance={config.gap_distance} Å at residue indices {where}"
        )
    change = np.zeros(ca.shape[0], dtype=np.int64)
    change[1:] = (~same) | (step > config.gap_distance)
    return np.cumsum(change)


def place_cb(
    ca: NDArray[np.float64],
    residues: NDArray[np.int64],
    cb_distance: float = 3.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Virtual Cβ positions by the simplified Park–Levitt rule.

    Parameters
    ----------
    ca : ndarray, shape (N, 3)
        Cα coordinates in Å.
    residues : ndarray, shape (M,), int
        Residue indices i (each with ``1 <= i <= N-2``) that receive a Cβ.
    cb_distance : float
        Cα–Cβ distance l in Å.

    Returns
    -------
    cb : ndarray, shape (M, 3)
        ``r_i + l u_i`` in Å.
    u : ndarray, shape (M, 3)
        Unit vectors ``u_i = v_i / |v_i|`` with ``v_i = 2 r_i − r_{i−1} − r_{i+1}``.
    v_norm : ndarray, shape (M,)
        ``|v_i|`` in Å.
    """
    v = 2.0 * ca[residues] - ca[residues - 1] - ca[residues + 1]
    v_norm = np.linalg.norm(v, axis=1)
    if v_norm.size and v_norm.min() < 1e-6:
        bad = residues[v_norm < 1e-6]
        raise EnmError(
            f"Cβ undefined: Cα(i-1), Cα(i), Cα(i+1) are collinear/degenerate at residue "
            f"indices {bad[:10].tolist()}"
        )
    u = v / v_norm[:, None]
    return ca[residues] + cb_distance * u, u, v_norm


def build_network(
    ca: ArrayLike,
    is_glycine: ArrayLike,
    config: BetaGMConfig | None = None,
    *,
    segment_ids: ArrayLike | None = None,
) -> BetaGMNetwork:
    """Nodes, springs and Jacobian of the β-GM for one Cα trace.

    Parameters
    ----------
    ca : array_like, shape (N, 3)
        Cα coordinates in Å, in chain order.
    is_glycine : array_like, shape (N,), bool
        True for glycines (no Cβ).
    config : BetaGMConfig, optional
        Conventions; defaults to ``BetaGMConfig()``.
    segment_ids : array_like, shape (N,), optional
        Chain label of each residue (e.g. chain ids). Consecutive residues with different labels
        are not bonded and are termini (no Cβ). Default: a single chain.

    Returns
    -------
    BetaGMNetwork

    Raises
    ------
    EnmError
        Fewer than ``config.min_residues`` residues, non-finite coordinates, a chain break (with
        ``chain_breaks="raise"``), coincident nodes or a degenerate Cβ direction.
    """
    cfg = config if config is not None else BetaGMConfig()
    ca_arr, gly, seg = _check_inputs(ca, is_glycine, segment_ids)
    n = ca_arr.shape[0]
    n_needed = max(cfg.min_residues, -(-(cfg.n_zero_modes + cfg.n_eigenvalues) // 3))
    if n < n_needed:
        raise EnmError(
            f"too few residues for the β-GM: got {n}, need at least {n_needed} "
            f"({cfg.n_zero_modes} zero modes + {cfg.n_eigenvalues} eigenvalues)"
        )
    seg = _split_at_gaps(ca_arr, seg, cfg)

    # residues with a Cβ: not glycine, both neighbours in the same segment
    terminal = np.ones(n, dtype=bool)
    terminal[1:-1] = (seg[:-2] != seg[1:-1]) | (seg[2:] != seg[1:-1])
    has_cb = ~gly & ~terminal if cfg.use_cb else np.zeros(n, dtype=bool)
    cb_res = np.flatnonzero(has_cb).astype(np.int64)
    n_cb = cb_res.size
    cb, u, v_norm = place_cb(ca_arr, cb_res, cfg.cb_distance)
    positions = np.concatenate([ca_arr, cb], axis=0)

    # Jacobian: Cα node i depends on residue i only (columns (i, i, i), blocks (0, I, 0));
    # the Cβ of residue i on i-1, i, i+1 through u_i and λ_i = l/|v_i| (see jacobian_blocks)
    n_nodes = n + n_cb
    jac_cols = np.empty((n_nodes, 3), dtype=np.int64)
    jac_cols[:n] = np.arange(n)[:, None]
    jac_cols[n:, 0] = cb_res - 1
    jac_cols[n:, 1] = cb_res
    jac_cols[n:, 2] = cb_res + 1
    node_u = np.zeros((n_nodes, 3))
    node_u[n:] = u
    node_lambda = np.zeros(n_nodes)
    node_lambda[n:] = cfg.cb_distance / v_norm

    # springs: all node pairs with |r_ab| <= cutoff (cKDTree is inclusive)
    pairs = cKDTree(positions).query_pairs(cfg.cutoff, output_type="ndarray").astype(np.int64)
    # deterministic order (by a, then b): one sort of a unique integer key, as lexsort gives
    pairs = pairs[np.argsort(pairs[:, 0] * n_nodes + pairs[:, 1])]
    a, b = pairs[:, 0], pairs[:, 1]
    a_ca, b_ca = a < n, b < n
    pair_types = np.full(a.shape, PAIR_CB_CB, dtype=np.int8)
    pair_types[a_ca & ~b_ca] = PAIR_CA_CB
    both_ca = a_ca & b_ca
    pair_types[both_ca] = PAIR_CA_CA
    bonded = both_ca & (b - a == 1)
    bonded[bonded] = seg[a[bonded]] == seg[b[bonded]]
    pair_types[bonded] = PAIR_BONDED
    k_table = np.array([cfg.k_bonded, cfg.k_ca_ca, cfg.k_ca_cb, cfg.k_cb_cb])
    return BetaGMNetwork(
        ca=_readonly(ca_arr),
        positions=_readonly(positions),
        cb_residues=_readonly(cb_res),
        segment_ids=_readonly(seg),
        jac_cols=_readonly(jac_cols),
        node_u=_readonly(node_u),
        node_lambda=_readonly(node_lambda),
        jacobian=cfg.jacobian,
        pairs=_readonly(pairs),
        pair_types=_readonly(pair_types),
        spring_constants=_readonly(k_table[pair_types]),
    )


def assemble_g(network: BetaGMNetwork) -> scipy.sparse.csr_matrix:
    """Sparse matrix G whose row p is ``√k_p · g_p``, with ``g_p = (J_b − J_a)ᵀ r̂_ab``.

    Parameters
    ----------
    network : BetaGMNetwork

    Returns
    -------
    scipy.sparse.csr_matrix, shape (P, 3 N)
        At most 18 non-zeros per row (6 for Cα–Cα, 12 for Cα–Cβ, 18 for Cβ–Cβ pairs).

    Notes
    -----
    The Jacobian blocks are symmetric, so ``Jᵀ e`` is evaluated without forming them: for a node
    with unit vector u and ``λ = l/|v|`` (both zero for a Cα node), ``w = e − u (u·e)``
    (exact) or ``w = e`` (fixed norm), and the three blocks give ``−λ w``, ``e + 2 λ w``,
    ``−λ w`` on the residues ``i−1, i, i+1``.
    """
    g = _g_with_duplicates(network)
    g.sum_duplicates()  # a Cβ and a Cα node of one spring can share a residue
    return g


def _g_with_duplicates(network: BetaGMNetwork) -> scipy.sparse.csr_matrix:
    """G as :func:`assemble_g`, before duplicate columns of a row are summed.

    A Cα node contributes one 3-column block (its residue), a Cβ node three (residues i−1, i,
    i+1), so a row holds 6, 12 or 18 entries; where a Cβ node and the other node of the spring
    share a residue that column appears twice. Sparse products and ``toarray`` sum duplicates,
    so the solver takes this form and skips the sort-and-merge pass.
    """
    pos = network.positions
    a, b = network.pairs[:, 0], network.pairs[:, 1]
    n_pairs = a.shape[0]
    diff = pos[b] - pos[a]
    dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    if n_pairs and dist.min() < 1e-8:
        bad = network.pairs[dist < 1e-8][:5].tolist()
        raise EnmError(f"coincident network nodes (zero-length springs) at node pairs {bad}")
    e = diff * (np.sqrt(network.spring_constants) / dist)[:, None]
    vals = np.empty((n_pairs, 6, 3))
    for offset, nodes, sign in ((0, b, 1.0), (3, a, -1.0)):
        lam = network.node_lambda[nodes][:, None]
        w = e
        if network.jacobian == "exact":
            u = network.node_u[nodes]
            w = e - u * np.einsum("ij,ij->i", u, e)[:, None]
        side = (-sign) * lam * w
        vals[:, offset] = side
        vals[:, offset + 1] = sign * e + (2.0 * sign) * lam * w
        vals[:, offset + 2] = side
    res = np.concatenate([network.jac_cols[b], network.jac_cols[a]], axis=1)  # (P, 6)
    # the side blocks of a Cα node (λ = 0) are zero: keep the middle one only
    n_res = network.n_residues
    keep = np.ones((n_pairs, 6), dtype=bool)
    keep[:, [0, 2]] = (b >= n_res)[:, None]
    keep[:, [3, 5]] = (a >= n_res)[:, None]
    cols = (3 * res[keep])[:, None] + np.arange(3)  # (blocks, 3)
    indptr = np.zeros(n_pairs + 1, dtype=np.int64)
    np.cumsum(3 * keep.sum(axis=1), out=indptr[1:])
    return scipy.sparse.csr_matrix(
        (vals[keep].ravel(), cols.ravel(), indptr), shape=(n_pairs, 3 * n_res)
    )


def assemble_hessian(network: BetaGMNetwork) -> scipy.sparse.csr_matrix:
    """The reduced β-GM matrix ``M̃ = Σ_p k_p g_p g_pᵀ = Gᵀ diag(k) G``.

    Parameters
    ----------
    network : BetaGMNetwork

    Returns
    -------
    scipy.sparse.csr_matrix, shape (3 N, 3 N), float64
        Symmetric positive semi-definite, in units of the spring constants.
    """
    g = assemble_g(network)
    m = g.T.tocsr() @ g
    m.sort_indices()
    return m
