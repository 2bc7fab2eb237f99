"""Elastic network models: the β-Gaussian model (β-GM) eigenvalue target.

Public API
----------
:func:`betagm_eigenvalues`
    λ₇..λ₁₆ of the β-GM of a structure (file, :class:`~deeprank_like.structure.Structure` or
    :class:`CaTrace`).
:func:`betagm_modes`
    The same with eigenvectors and mean-square fluctuations, as a :class:`BetaGMResult`.
:func:`betagm_from_ca`
    The array-level entry point: Cα coordinates (Å) and a glycine mask.
:class:`BetaGMConfig`
    Every convention of the model as frozen data.
:func:`sliding_windows`, :func:`chain_breaks`, :func:`coulomb_matrix`, :func:`ca_trace`
    Window and descriptor helpers.
"""

from deeprank_like.enm.betagm import (
    BetaGMNetwork,
    BetaGMResult,
    assemble_g,
    assemble_hessian,
    betagm_eigenvalues,
    betagm_from_ca,
    betagm_modes,
    build_network,
    place_cb,
)
from deeprank_like.enm.config import BetaGMConfig
from deeprank_like.enm.windows import (
    CaTrace,
    ca_trace,
    chain_breaks,
    coulomb_matrix,
    sliding_windows,
)

__all__ = [
    "BetaGMConfig",
    "BetaGMNetwork",
    "BetaGMResult",
    "CaTrace",
    "assemble_g",
    "assemble_hessian",
    "betagm_eigenvalues",
    "betagm_from_ca",
    "betagm_modes",
    "build_network",
    "ca_trace",
    "chain_breaks",
    "coulomb_matrix",
    "place_cb",
    "sliding_windows",
]
