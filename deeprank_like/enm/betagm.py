"""The β-Gaussian elastic network model (β-GM) and its low-frequency eigenvalues.

Model (``spec/betagm.md``; Micheletti, Carloni & Maritan, Proteins 55:635, 2004)
--------------------------------------------------------------------------------
* **Nodes.** One Cα node per residue at the Cα position ``r_i`` (Å). One virtual Cβ node per
  residue that is not glycine and has both chain neighbours (not the first or last residue of a
  chain *segment*; a window is a segment of its own), placed at
  ``r^β_i = r_i + l u_i`` with ``u_i = v_i/|v_i|`` and ``v_i = 2 r_i − r_{i−1} − r_{i+1}``
  ("simplified Park–Levitt" rule, l = 3 Å).
* **Hamiltonian.** Anisotropic (ANM/Tirion) central springs between every node pair a < b with
  ``|r_ab| <= R_c`` (7.5 Å for all pair types)::

      H = ½ Σ k_ab [ (δr_b − δr_a) · r̂_ab ]²

  with k = 2 for consecutive Cα–Cα pairs, 1 for other Cα–Cα, 1 for Cα–Cβ (the same residue
  included), 0.5 for Cβ–Cβ (:class:`~deeprank_like.enm.config.BetaGMConfig`).
* **Reduction to Cα.** Cβ displacements are linear in the Cα displacements,
  ``δr^β_i = J_i (δr_{i−1}, δr_i, δr_{i+1})``. With the exact Jacobian
  ``P_i = (I − u_i u_iᵀ)/|v_i|``, ``∂r^β_i/∂r_i = I + 2 l P_i`` and
  ``∂r^β_i/∂r_{i±1} = −l P_i``; the ``"fixed_norm"`` option drops the projector. The 3N × 3N
  matrix is assembled as ``M̃ = Σ_p k_p g_p g_pᵀ = Gᵀ diag(k) G`` with
  ``g_p = (J_b − J_a)ᵀ r̂_ab`` (a sparse row of at most 18 non-zeros), so the Cα+Cβ Hessian is
  never built.
* **Targets.** The eigenvalues of M̃ in ascending order; the first 6 (rigid-body modes) are zero
  for a connected network and the targets are λ₇..λ₁₆. Zeros are counted with the relative
  tolerance ``|λ| < zero_tol · ‖M̃‖_∞``; a count other than 6 raises :class:`EnmError` unless
  ``require_rigid=False``.

Units: coordinates in Å; eigenvalues in the units of the spring constants (the defaults are
relative, γ = 1) — M̃ is a stiffness matrix, so λ has the units of k (e.g. kcal mol⁻¹ Å⁻²).
Eigenvectors are unit-norm over the 3N Cα coordinates, ordered ``x₁, y₁, z₁, x₂, ...``.
Mean-square fluctuations are ``Σ_k |v_{k,i}|² / λ_k`` over the returned modes, in Å² per unit of
``k_B T / k``.

Solvers: dense ``scipy.linalg.eigh(subset_by_index=...)`` for N <= ``dense_max_n``; above it
shift-invert ``scipy.sparse.linalg.eigsh`` with σ = −``eigsh_shift`` · ‖M̃‖_∞ and a sparse LU
factorisation of ``M̃ − σI``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, overload

import numpy as np
import scipy.linalg
import scipy.sparse
import scipy.sparse.linalg
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from deeprank_like.enm.config import BetaGMConfig
from deeprank_like.enm.windows import CaTrace, ca_trace, check_chain_breaks
from deeprank_like.errors import EnmError

__all__ = [
    "BetaGMNetwork",
    "BetaGMResult",
    "assemble_g",
    "assemble_hessian",
    "betagm_eigenvalues",
    "betagm_from_ca",
    "betagm_modes",
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


@dataclass(frozen=True)
class BetaGMResult:
    """Low-frequency spectrum of the β-GM matrix M̃ (arrays are read-only).

    Attributes
    ----------
    eigenvalues : ndarray, shape (n_eigenvalues,), float64
        λ₇..λ₁₆ for the defaults (ascending), in units of the spring constants.
    n_zero_modes : int
        Number of eigenvalues with ``|λ| < zero_tol · scale`` among the computed ones (6 for a
        rigid connected network; if every computed eigenvalue is zero this is a lower bound).
    low_eigenvalues : ndarray, shape (n_zero_modes_expected + n_eigenvalues,), float64
        All computed eigenvalues from λ₁, including the (near-)zero ones.
    scale : float
        ‖M̃‖_∞, the reference of the relative zero tolerance.
    n_residues, n_cb, n_springs : int
        Size of the network (Cα nodes, Cβ nodes, springs).
    solver : str
        ``"dense"`` or ``"eigsh"``.
    eigenvectors : ndarray, shape (3 N, n_eigenvalues), float64, or None
        Unit eigenvectors of the target modes (columns), when requested.
    msf : ndarray, shape (N,), float64, or None
        Mean-square fluctuation of each Cα over the target modes, ``Σ_k |v_{k,i}|² / λ_k``
        (Å² per unit of k_B T / k), when eigenvectors are requested.
    config : BetaGMConfig
        The configuration used.
    """

    eigenvalues: NDArray[np.float64]
    n_zero_modes: int
    low_eigenvalues: NDArray[np.float64]
    scale: float
    n_residues: int
    n_cb: int
    n_springs: int
    solver: str
    eigenvectors: NDArray[np.float64] | None = None
    msf: NDArray[np.float64] | None = None
    config: BetaGMConfig = field(default_factory=BetaGMConfig)

    @property
    def is_rigid(self) -> bool:
        """True when the zero-mode count equals the expected one (6)."""
        return self.n_zero_modes == self.config.n_zero_modes


# ----------------------------------------------------------------------------------------------
# network


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
    pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]  # deterministic order
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
    cols = (3 * res)[:, :, None] + np.arange(3)  # (P, 6, 3)
    g = scipy.sparse.csr_matrix(
        (vals.ravel(), cols.ravel(), np.arange(0, 18 * n_pairs + 1, 18)),
        shape=(n_pairs, 3 * network.n_residues),
    )
    g.sum_duplicates()  # Cα nodes list residue i three times (blocks 0, I, 0)
    return g


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


# ----------------------------------------------------------------------------------------------
# eigen-solve


def _solve_dense(
    m: scipy.sparse.csr_matrix, n_eig: int, vectors: bool
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None, float]:
    dense = m.toarray()
    scale = float(np.abs(dense).sum(axis=1).max())
    if vectors:
        w, v = scipy.linalg.eigh(dense, subset_by_index=[0, n_eig - 1], check_finite=False)
        return w, v, scale
    w = scipy.linalg.eigh(
        dense, eigvals_only=True, subset_by_index=[0, n_eig - 1], check_finite=False
    )
    return w, None, scale


def _solve_sparse(
    m: scipy.sparse.csr_matrix, n_eig: int, vectors: bool, config: BetaGMConfig
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None, float]:
    dim = m.shape[0]
    scale = float(abs(m).sum(axis=1).max())
    sigma = -config.eigsh_shift * scale
    k = min(n_eig + config.eigsh_margin, dim - 2)
    # M̃ − σI is symmetric positive definite (σ < 0): its CSR arrays are also its CSC arrays,
    # a symmetric fill-reducing ordering applies and no pivoting is needed.
    shifted = (m - sigma * scipy.sparse.identity(dim, format="csr")).tocsr()
    shifted.sort_indices()
    shifted_csc = scipy.sparse.csc_matrix(
        (shifted.data, shifted.indices, shifted.indptr), shape=shifted.shape
    )
    lu = scipy.sparse.linalg.splu(
        shifted_csc,
        permc_spec="MMD_AT_PLUS_A",
        diag_pivot_thresh=0.0,
        options={"SymmetricMode": True},
    )
    op_inv = scipy.sparse.linalg.LinearOperator((dim, dim), matvec=lu.solve, dtype=np.float64)
    # deterministic start vector that is not orthogonal to any mode in practice
    v0 = np.cos(np.arange(dim) * 0.7548776662466927) + 0.1
    out = scipy.sparse.linalg.eigsh(
        m, k=k, sigma=sigma, which="LM", OPinv=op_inv, v0=v0, return_eigenvectors=vectors
    )
    if vectors:
        w, v = out
        order = np.argsort(w)[:n_eig]
        return w[order], v[:, order], scale
    w = np.sort(out)[:n_eig]
    return w, None, scale


def betagm_from_ca(
    ca: ArrayLike,
    is_glycine: ArrayLike,
    config: BetaGMConfig | None = None,
    *,
    segment_ids: ArrayLike | None = None,
    return_eigenvectors: bool = False,
) -> BetaGMResult:
    """β-GM eigenvalues (and optionally modes) of one Cα trace.

    Parameters
    ----------
    ca : array_like, shape (N, 3), float64
        Cα coordinates in Å, in chain order.
    is_glycine : array_like, shape (N,), bool
        Glycine mask (glycines get no Cβ).
    config : BetaGMConfig, optional
        Conventions (cutoff, Cβ distance, spring constants, Jacobian, ...); default
        ``BetaGMConfig()``.
    segment_ids : array_like, shape (N,), optional
        Chain label per residue for multi-chain inputs (termini and "bonded" follow it).
    return_eigenvectors : bool
        Also compute the eigenvectors (3N, n_eigenvalues) and mean-square fluctuations (N,).

    Returns
    -------
    BetaGMResult
        ``result.eigenvalues`` holds λ₇..λ₁₆ (ascending, units of k) for the defaults.

    Raises
    ------
    EnmError
        Too few residues, missing (non-finite) Cα, chain break, or — with
        ``config.require_rigid`` — a zero-mode count different from ``config.n_zero_modes``
        (a floppy network); the message states the count.
    """
    cfg = config if config is not None else BetaGMConfig()
    network = build_network(ca, is_glycine, cfg, segment_ids=segment_ids)
    if network.pairs.shape[0] == 0:
        raise EnmError(f"no node pairs within cutoff={cfg.cutoff} Å: the network has no springs")
    m = assemble_hessian(network)
    n = network.n_residues
    n_low = cfg.n_zero_modes + cfg.n_eigenvalues
    if n <= cfg.dense_max_n or n_low + cfg.eigsh_margin >= 3 * n - 2:
        w, v, scale = _solve_dense(m, n_low, return_eigenvectors)
        solver = "dense"
    else:
        w, v, scale = _solve_sparse(m, n_low, return_eigenvectors, cfg)
        solver = "eigsh"
    zero = np.abs(w) < cfg.zero_tol * scale
    n_zero = int(zero.sum())
    if cfg.require_rigid and n_zero != cfg.n_zero_modes:
        bound = "at least " if n_zero == n_low else ""
        kind = "floppy elastic network" if n_zero > cfg.n_zero_modes else "elastic network"
        raise EnmError(
            f"{kind}: {bound}{n_zero} zero modes instead of "
            f"{cfg.n_zero_modes} (N={n} residues, {network.n_cb} Cβ, cutoff={cfg.cutoff} Å, "
            f"|λ| < {cfg.zero_tol:g}·{scale:.4g}); the eigenvalue target is ill-defined"
        )
    targets = w[cfg.n_zero_modes :].copy()
    vecs = msf = None
    if v is not None:
        vecs = np.ascontiguousarray(v[:, cfg.n_zero_modes :])
        with np.errstate(divide="ignore"):
            inv = np.where(zero[cfg.n_zero_modes :], 0.0, 1.0 / targets)
        msf = _readonly((vecs.reshape(n, 3, -1) ** 2).sum(axis=1) @ inv)
        vecs = _readonly(vecs)
    return BetaGMResult(
        eigenvalues=_readonly(targets),
        n_zero_modes=n_zero,
        low_eigenvalues=_readonly(np.array(w, dtype=np.float64)),
        scale=scale,
        n_residues=n,
        n_cb=network.n_cb,
        n_springs=int(network.pairs.shape[0]),
        solver=solver,
        eigenvectors=vecs,
        msf=msf,
        config=cfg,
    )


# ----------------------------------------------------------------------------------------------
# structures


def _as_trace(
    structure_or_path: object,
    chain_ids: str | Sequence[str] | None,
    residue_range: tuple[int, int] | None,
) -> CaTrace:
    if isinstance(structure_or_path, CaTrace):
        if chain_ids is not None or residue_range is not None:
            raise EnmError("chain_ids/residue_range cannot be applied to a CaTrace; slice it")
        return structure_or_path
    if isinstance(structure_or_path, str | os.PathLike):
        from deeprank_like.structure import load_structure

        structure_or_path = load_structure(structure_or_path)
    return ca_trace(structure_or_path, chain_ids=chain_ids, residue_range=residue_range)


def betagm_modes(
    structure_or_path: object,
    chain_ids: str | Sequence[str] | None = None,
    residue_range: tuple[int, int] | None = None,
    config: BetaGMConfig | None = None,
    *,
    return_eigenvectors: bool = True,
) -> BetaGMResult:
    """β-GM spectrum (and modes) of chains of a structure.

    Parameters
    ----------
    structure_or_path : Structure, CaTrace, str or PathLike
        A :class:`deeprank_like.structure.Structure`, a :class:`CaTrace`, or a structure file
        (``.pdb``/``.cif``, optionally gzipped; the first model is read).
    chain_ids : str or sequence of str, optional
        Chains to model together (default: every chain with Cα atoms). Residues of different
        chains are never bonded and chain ends are termini.
    residue_range : (int, int), optional
        Inclusive author residue-number range applied to each selected chain.
    config : BetaGMConfig, optional
        Model conventions; default ``BetaGMConfig()``.
    return_eigenvectors : bool
        Also compute eigenvectors (3N, n_eigenvalues) and mean-square fluctuations (N,).

    Returns
    -------
    BetaGMResult

    Raises
    ------
    EnmError
        Missing Cα, unknown chain, too few residues, a chain break (``chain_breaks="raise"``) or
        a floppy network (zero-mode count ≠ 6; the message states the count).
    """
    trace = _as_trace(structure_or_path, chain_ids, residue_range)
    if (config or BetaGMConfig()).chain_breaks == "raise":
        check_chain_breaks(trace, (config or BetaGMConfig()).gap_distance)  # names residues
    return betagm_from_ca(
        trace.ca,
        trace.is_glycine,
        config,
        segment_ids=trace.chain_ids,
        return_eigenvectors=return_eigenvectors,
    )


@overload
def betagm_eigenvalues(
    structure_or_path: object,
    chain_ids: str | Sequence[str] | None = ...,
    residue_range: tuple[int, int] | None = ...,
    config: BetaGMConfig | None = ...,
    return_eigenvectors: Literal[False] = ...,
) -> NDArray[np.float64]: ...
@overload
def betagm_eigenvalues(
    structure_or_path: object,
    chain_ids: str | Sequence[str] | None = ...,
    residue_range: tuple[int, int] | None = ...,
    config: BetaGMConfig | None = ...,
    return_eigenvectors: Literal[True] = ...,
) -> BetaGMResult: ...
def betagm_eigenvalues(
    structure_or_path: object,
    chain_ids: str | Sequence[str] | None = None,
    residue_range: tuple[int, int] | None = None,
    config: BetaGMConfig | None = None,
    return_eigenvectors: bool = False,
) -> NDArray[np.float64] | BetaGMResult:
    """The β-GM eigenvalue target λ₇..λ₁₆ of chains of a structure.

    Parameters
    ----------
    structure_or_path, chain_ids, residue_range, config
        As in :func:`betagm_modes`.
    return_eigenvectors : bool
        If True, return the full :class:`BetaGMResult` (with eigenvectors and fluctuations)
        instead of the eigenvalue array.

    Returns
    -------
    ndarray, shape (n_eigenvalues,), float64
        λ₇..λ₁₆ in ascending order, in units of the spring constants (or a
        :class:`BetaGMResult` when ``return_eigenvectors`` is True).

    Raises
    ------
    EnmError
        See :func:`betagm_modes`.
    """
    result = betagm_modes(
        structure_or_path,
        chain_ids=chain_ids,
        residue_range=residue_range,
        config=config,
        return_eigenvectors=return_eigenvectors,
    )
    return result if return_eigenvectors else result.eigenvalues
