"""Configuration of the β-Gaussian elastic network model (β-GM).

Every convention of the model is a field of :class:`BetaGMConfig`, so that a data set can record
exactly how its eigenvalue targets were computed (``dataclasses.asdict(config)`` round-trips to
JSON). The defaults are the decisions of ``spec/betagm.md``; each field's docstring says which
parts of the literature are verified and which are our choice.

Units: lengths in Å, spring constants in arbitrary relative units ("γ = 1"); eigenvalues of the
model come out in the same units as the spring constants (e.g. kcal mol⁻¹ Å⁻² if k is read so).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from deeprank_like.errors import EnmError

JacobianKind = Literal["exact", "fixed_norm"]
ChainBreakPolicy = Literal["raise", "split"]

_JACOBIANS: tuple[str, ...] = ("exact", "fixed_norm")
_CHAIN_BREAK_POLICIES: tuple[str, ...] = ("raise", "split")


@dataclass(frozen=True, kw_only=True)
class BetaGMConfig:
    """All conventions of the β-GM eigenvalue target, as plain data.

    Parameters
    ----------
    cutoff : float
        Interaction cutoff R_c in Å, shared by all pair types (Cα–Cα, Cα–Cβ, Cβ–Cβ). Default 7.5.
        Pairs with ``|r_ab| <= cutoff`` interact: neighbour pairs come from
        ``scipy.spatial.cKDTree.query_pairs``, which is inclusive (spec ambiguity C: ``<`` versus
        ``<=`` differ on a set of measure zero; we pick ``<=``, see :attr:`cutoff_comparison`).
    cb_distance : float
        Distance l (Å) of the virtual Cβ from its Cα along the normalised
        ``2 r_i - r_{i-1} - r_{i+1}`` ("simplified Park–Levitt" rule, penm ``qb.micheletti``).
        Default 3.0.
    k_bonded : float
        Spring constant of consecutive Cα–Cα pairs (|i − j| = 1 inside one chain segment).
        Default 2.
    k_ca_ca : float
        Spring constant of the other Cα–Cα pairs. Default 1.
    k_ca_cb : float
        Spring constant of Cα–Cβ pairs, including the Cα and Cβ of the same residue. Default 1.
        With the exact Jacobian the same-residue spring contributes exactly zero (its length is
        held at l by construction).
    k_cb_cb : float
        Spring constant of Cβ–Cβ pairs. Default 0.5.
        The table (2, 1, 1, 0.5) is from a public β-GM code (ShouWenWang/protein_evolution); it is
        *unverified* against Micheletti et al. (2004), hence configurable.
    jacobian : {"exact", "fixed_norm"}
        Linearisation of the Cβ position in the Cα displacements. ``"exact"`` (default) is the
        true derivative of ``r + l v/|v|``; ``"fixed_norm"`` ignores the change of ``|v|``
        (spec ambiguity A). They differ by up to ~18 % on the targets.
    n_eigenvalues : int
        Number of target eigenvalues after the rigid-body modes: λ₇..λ₁₆ for the default 10.
    n_zero_modes : int
        Expected number of zero modes of a connected 3-D network (6 rigid-body modes).
    zero_tol : float
        An eigenvalue λ counts as zero when ``|λ| < zero_tol * scale`` where ``scale`` is the
        maximum absolute row sum of M̃ (an upper bound on λ_max, within a small factor of it).
        Default 1e-8 (relative; ProDy's absolute 1e-6 is not used).
    require_rigid : bool
        If True (default), a network whose zero-mode count differs from ``n_zero_modes`` raises
        :class:`~deeprank_like.errors.EnmError` (decision 5: drop such decoys). If False, the
        eigenvalues at positions ``n_zero_modes .. n_zero_modes + n_eigenvalues - 1`` of the
        ascending spectrum are returned anyway and the count is reported in the result.
    use_cb : bool
        Add the virtual Cβ nodes (default True). ``False`` gives a Cα-only ANM.
    gap_distance : float
        Consecutive Cα farther apart than this (Å) are a chain break. Default 4.2.
    chain_breaks : {"raise", "split"}
        What to do with a chain break inside one chain: ``"raise"`` (default, decision 5: skip
        windows that span a gap) raises EnmError; ``"split"`` treats both sides as separate
        segments (termini without Cβ, no bonded spring across the gap).
    dense_max_n : int
        Up to this many residues the dense ``scipy.linalg.eigh(subset_by_index=...)`` is used;
        above it the shift-invert sparse ``scipy.sparse.linalg.eigsh``. Default 400.
    eigsh_margin : int
        Extra eigenpairs requested from ``eigsh`` beyond ``n_zero_modes + n_eigenvalues``.
    eigsh_shift : float
        Shift σ of the shift-invert solver, relative to ``scale``: σ = −eigsh_shift · scale.
        Slightly negative so that ``M̃ − σI`` is positive definite despite the zero modes.
    min_residues : int
        Fewer Cα nodes than this raise EnmError (at least 3 so that a 3-D network can exist; the
        model also needs ``3 N >= n_zero_modes + n_eigenvalues``).
    """

    cutoff: float = 7.5
    cb_distance: float = 3.0
    k_bonded: float = 2.0
    k_ca_ca: float = 1.0
    k_ca_cb: float = 1.0
    k_cb_cb: float = 0.5
    jacobian: JacobianKind = "exact"
    n_eigenvalues: int = 10
    n_zero_modes: int = 6
    zero_tol: float = 1e-8
    require_rigid: bool = True
    use_cb: bool = True
    gap_distance: float = 4.2
    chain_breaks: ChainBreakPolicy = "raise"
    dense_max_n: int = 400
    eigsh_margin: int = 2
    eigsh_shift: float = 1e-6
    min_residues: int = 3

    #: The cutoff test is inclusive: pairs with ``|r_ab| <= cutoff`` interact (cKDTree semantics).
    cutoff_comparison: ClassVar[str] = "<="

    def __post_init__(self) -> None:
        if self.jacobian not in _JACOBIANS:
            raise EnmError(f"jacobian must be one of {_JACOBIANS}, got {self.jacobian!r}")
        if self.chain_breaks not in _CHAIN_BREAK_POLICIES:
            raise EnmError(
                f"chain_breaks must be one of {_CHAIN_BREAK_POLICIES}, got {self.chain_breaks!r}"
            )
        for name in ("cutoff", "cb_distance", "gap_distance", "zero_tol", "eigsh_shift"):
            if not getattr(self, name) > 0:
                raise EnmError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("k_bonded", "k_ca_ca", "k_ca_cb", "k_cb_cb"):
            if not getattr(self, name) >= 0:
                raise EnmError(f"spring constant {name} must be >= 0, got {getattr(self, name)!r}")
        if self.n_eigenvalues < 1:
            raise EnmError(f"n_eigenvalues must be >= 1, got {self.n_eigenvalues}")
        if self.n_zero_modes < 0 or self.eigsh_margin < 0 or self.dense_max_n < 0:
            raise EnmError("n_zero_modes, eigsh_margin and dense_max_n must be >= 0")
        if self.min_residues < 3:
            raise EnmError(f"min_residues must be >= 3, got {self.min_residues}")

    def replace(self, **changes: Any) -> BetaGMConfig:
        """Return a copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def scaled(self, factor: float) -> BetaGMConfig:
        """Return a copy with all four spring constants multiplied by ``factor``."""
        return self.replace(
            k_bonded=self.k_bonded * factor,
            k_ca_ca=self.k_ca_ca * factor,
            k_ca_cb=self.k_ca_cb * factor,
            k_cb_cb=self.k_cb_cb * factor,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of all fields."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BetaGMConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise EnmError listing the valid ones."""
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - valid)
        if unknown:
            raise EnmError(f"unknown BetaGMConfig fields {unknown}; valid: {sorted(valid)}")
        return cls(**data)

    @classmethod
    def anm(cls, cutoff: float = 15.0, **changes: Any) -> BetaGMConfig:
        """Cα-only anisotropic network model with uniform k = 1 (ProDy's ``ANM`` defaults).

        This degenerate case of the β-GM (no Cβ, R_c = 15 Å, all k = 1) reproduces ProDy's
        ``buildHessian(cutoff=15, gamma=1)`` and is the external numerical check of the code.
        """
        base: dict[str, Any] = {
            "cutoff": cutoff,
            "use_cb": False,
            "k_bonded": 1.0,
            "k_ca_ca": 1.0,
            "k_ca_cb": 1.0,
            "k_cb_cb": 1.0,
        }
        base.update(changes)
        return cls(**base)
