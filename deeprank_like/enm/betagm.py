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

The network (nodes, Cβ placement, springs, Jacobian, M̃) is built by
:mod:`deeprank_like.enm.network`; this module solves for the spectrum and reads structures.

Solvers: dense ``scipy.linalg.eigh(subset_by_index=...)`` for N <= ``dense_max_n``; above it
shift-invert ``scipy.sparse.linalg.eigsh`` with σ = −``eigsh_shift`` · ‖M̃‖_∞ and a sparse LU
factorisation of ``M̃ − σI``.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, overload

import numpy as np
import scipy.linalg
import scipy.linalg.lapack
import scipy.sparse
import scipy.sparse.linalg
from numpy.typing import ArrayLike, NDArray

from deeprank_like.enm.config import BetaGMConfig
from deeprank_like.enm.network import (
    BetaGMNetwork,
    _g_with_duplicates,
    _readonly,
    assemble_g,
    assemble_hessian,
    build_network,
    place_cb,
)
from deeprank_like.enm.windows import (
    CaTrace,
    ca_trace,
    check_chain_breaks,
    read_ca_structure,
    read_ca_trace,
)
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
# eigen-solve


@functools.lru_cache(maxsize=64)
def _dsyevr_lwork(n: int) -> tuple[int, int]:
    """LAPACK dsyevr workspace sizes for an (n, n) matrix (a query, done once per n)."""
    work, iwork, info = scipy.linalg.lapack.dsyevr_lwork(n, lower=1)
    if info != 0:  # pragma: no cover - LAPACK refuses only for n < 0
        raise EnmError(f"LAPACK dsyevr workspace query failed (info={info})")
    return int(work), int(iwork)


_BUFFERS = threading.local()


def _dense_buffer(dim: int) -> NDArray[np.float64]:
    """A (dim, dim) Fortran-ordered float64 work array, reused within a thread."""
    buf = getattr(_BUFFERS, "dense", None)
    if buf is None or buf.shape[0] != dim:
        buf = np.zeros((dim, dim), order="F")
        _BUFFERS.dense = buf
    return buf


def _solve_dense(
    m: scipy.sparse.spmatrix, n_eig: int, vectors: bool
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None, float]:
    # LAPACK dsyevr for the lowest n_eig only, called directly (scipy.linalg.eigh's
    # driver for a subset) with its workspace size cached per n: measured on M̃ of a
    # 123-residue chain (3N = 369, one core) it takes 4.2 ms, as dsyevx; the full spectrum
    # with dsyevd 9.0 ms, dsyev 4.9 ms, numpy.linalg.eigvalsh 4.8 ms; banded storage
    # (bandwidth ~300: Cβ springs join residues far apart in sequence) 25 ms; shift-invert
    # eigsh 16 ms. Tridiagonal reduction dominates, so no driver does markedly better.
    # M̃ is symmetric: its CSC arrays (what Gᵀ G gives) are its CSR arrays, so neither the
    # conversion nor the row sums need a CSR copy.
    # the row sums and the finiteness check on the stored entries; the dense matrix goes into a
    # per-thread Fortran-ordered buffer (what dsyevr takes without a copy; the same array for
    # M̃ = M̃ᵀ), so no fresh megabyte is faulted in per call
    if not np.isfinite(m.data).all():
        raise EnmError("the β-GM matrix has non-finite entries")
    dim = m.shape[0]
    scale = float(np.bincount(m.indices, weights=np.abs(m.data), minlength=dim).max())
    dense = m.toarray(out=_dense_buffer(dim))
    lwork, liwork = _dsyevr_lwork(dense.shape[0])
    w, v, n_found, _, info = scipy.linalg.lapack.dsyevr(
        dense, compute_v=int(vectors), range="I", il=1, iu=n_eig, lower=1, overwrite_a=1,
        lwork=lwork, liwork=liwork,
    )  # fmt: skip
    if info != 0:
        raise EnmError(
            f"LAPACK dsyevr failed (info={info}) on the {dense.shape[0]}-dim β-GM matrix"
        )
    if vectors:
        return w[:n_found], v[:, :n_found], scale
    return w[:n_found], None, scale


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
    n = network.n_residues
    n_low = cfg.n_zero_modes + cfg.n_eigenvalues
    if n <= cfg.dense_max_n or n_low + cfg.eigsh_margin >= 3 * n - 2:
        g = _g_with_duplicates(network)
        # Gᵀ G unsorted, straight to a dense array: 30 % faster than assemble_hessian
        w, v, scale = _solve_dense(g.T @ g, n_low, return_eigenvectors)
        solver = "dense"
    else:
        w, v, scale = _solve_sparse(assemble_hessian(network), n_low, return_eigenvectors, cfg)
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
        if chain_ids is None and residue_range is None:
            return read_ca_trace(structure_or_path)  # Cα records only, no Structure if plain
        # only the Cα records (and one atom of residues without one) are parsed
        structure_or_path = read_ca_structure(structure_or_path)
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
        (``.pdb``/``.cif``, optionally gzipped; the first model is read, and of a PDB file
        only the records the Cα trace needs: :func:`~deeprank_like.enm.read_ca_trace`,
        :func:`~deeprank_like.enm.read_ca_structure`).
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
