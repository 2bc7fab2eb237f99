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
:func:`sliding_windows`, :func:`chain_breaks`, :func:`coulomb_matrix`, :func:`ca_trace`,
:func:`protein_chain_ids`, :func:`read_ca_structure`, :func:`read_ca_trace`
    Window and descriptor helpers; the fast readers of the records a Cα trace needs.
:func:`load_chain`, :func:`chains_from_folder`, :func:`make_windows`, :func:`whole_chains`
    β-GM samples (:class:`ChainRecord`, :class:`EigenSamples`) for learning the spectrum, with
    the reference predictors :func:`mean_baseline`, :func:`mape_optimal_constant` and the metric
    :func:`mape_per_eigenvalue` (:mod:`deeprank_like.enm.samples`).

Layering: ``enm`` is physics at the level of the feature modules; it imports structure, domain
and its own modules only (never data, nn or training). The eigenvalue-prediction experiment is
``experiments/betagm`` in the source repository; ``deeprank_like.enm.experiment`` is a
deprecated alias of its pieces.
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
from deeprank_like.enm.samples import (
    ChainRecord,
    EigenSamples,
    chains_from_folder,
    eigenvalue_names,
    load_chain,
    make_windows,
    mape_optimal_constant,
    mape_per_eigenvalue,
    mean_baseline,
    whole_chains,
)
from deeprank_like.enm.windows import (
    CaTrace,
    ca_trace,
    chain_breaks,
    coulomb_matrix,
    protein_chain_ids,
    read_ca_structure,
    read_ca_trace,
    sliding_windows,
)

__all__ = [
    "BetaGMConfig",
    "BetaGMNetwork",
    "BetaGMResult",
    "CaTrace",
    "ChainRecord",
    "EigenSamples",
    "assemble_g",
    "assemble_hessian",
    "betagm_eigenvalues",
    "betagm_from_ca",
    "betagm_modes",
    "build_network",
    "ca_trace",
    "chain_breaks",
    "chains_from_folder",
    "coulomb_matrix",
    "eigenvalue_names",
    "load_chain",
    "make_windows",
    "mape_optimal_constant",
    "mape_per_eigenvalue",
    "mean_baseline",
    "place_cb",
    "protein_chain_ids",
    "read_ca_structure",
    "read_ca_trace",
    "sliding_windows",
    "whole_chains",
]
