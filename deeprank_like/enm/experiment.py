"""Deprecated: the β-GM experiment moved out of ``deeprank_like.enm`` (issue #15).

Its reusable pieces now live in their homes, and the protocol with its reports is the
``experiments/betagm`` package of the source repository (not installed by pip; run it with
``python -m experiments.betagm`` from a checkout):

==========================================================  ========================================
old name (``deeprank_like.enm.experiment``)                 new home
==========================================================  ========================================
``ChainRecord``, ``EigenSamples``, ``load_chain``,          :mod:`deeprank_like.enm.samples` (also
``chains_from_folder``, ``make_windows``,                   exported by :mod:`deeprank_like.enm`;
``whole_chains``, ``eigenvalue_names``,                     ``chains_from_folder`` no longer
``mean_baseline``, ``mape_optimal_constant``,               assigns protein groups: see
``mape_per_eigenvalue``                                     ``assign_sequence_groups``)
``sequence_groups``, ``grouped_kfold``, ``assign_groups``   :mod:`deeprank_like.data.split`
                                                            (``assign_groups`` is
                                                            ``assign_sequence_groups``)
``residue_graph``, ``NODE_FEATURES``, ``EDGE_FEATURES``,    :mod:`deeprank_like.data.ca_graph_dataset`
``GraphSampleDataset``                                      (``ResidueGraphDataset``)
``ResidueGraphGNN``                                         :mod:`deeprank_like.nn.betagm_gnn`
``log_l1_loss``, ``mape_log_l1_loss``                       :mod:`deeprank_like.training.losses`
                                                            (also the losses ``"log_l1"`` and
                                                            ``"mape+log_l1"``)
``ExperimentConfig``, ``ExperimentResult``,                 ``experiments.betagm.protocol``
``run_experiment``, ``fit_predict``, ``summarise``,
``LOSS_CHOICES``
``results_markdown``, ``scatter_plot``, ``write_results``   ``experiments.betagm.report``
==========================================================  ========================================

Every old name still resolves here, with a :class:`DeprecationWarning`; this module will be
removed in a later release. The names are looked up lazily by their dotted path (this module
sits in ``enm``, below ``data``, ``nn`` and ``training``, and imports none of them itself).
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

__all__: list[str] = []  # nothing new is defined here

_SAMPLES = "deeprank_like.enm.samples"
_SPLIT = "deeprank_like.data.split"
_GRAPHS = "deeprank_like.data.ca_graph_dataset"
_PROTOCOL = "experiments.betagm.protocol"
_REPORT = "experiments.betagm.report"

#: Old name → (module, attribute) of its new home.
MOVED: dict[str, tuple[str, str]] = {
    **{
        name: (_SAMPLES, name)
        for name in (
            "ChainRecord",
            "EigenSamples",
            "load_chain",
            "make_windows",
            "whole_chains",
            "eigenvalue_names",
            "mean_baseline",
            "mape_optimal_constant",
            "mape_per_eigenvalue",
        )
    },
    "chains_from_folder": (__name__, "_chains_from_folder"),
    "assign_groups": (_SPLIT, "assign_sequence_groups"),
    "sequence_groups": (_SPLIT, "sequence_groups"),
    "grouped_kfold": (_SPLIT, "grouped_kfold"),
    "residue_graph": (_GRAPHS, "residue_graph"),
    "NODE_FEATURES": (_GRAPHS, "NODE_FEATURES"),
    "EDGE_FEATURES": (_GRAPHS, "EDGE_FEATURES"),
    "GraphSampleDataset": (_GRAPHS, "ResidueGraphDataset"),
    "ResidueGraphGNN": ("deeprank_like.nn.betagm_gnn", "ResidueGraphGNN"),
    "log_l1_loss": ("deeprank_like.training.losses", "log_l1_loss"),
    "mape_log_l1_loss": ("deeprank_like.training.losses", "mape_log_l1_loss"),
    **{
        name: (_PROTOCOL, name)
        for name in (
            "ExperimentConfig",
            "ExperimentResult",
            "run_experiment",
            "fit_predict",
            "summarise",
            "LOSS_CHOICES",
        )
    },
    **{name: (_REPORT, name) for name in ("results_markdown", "scatter_plot", "write_results")},
}


def _chains_from_folder(*args: Any, **kwargs: Any) -> tuple[list[Any], Any]:
    """The old ``chains_from_folder``: chains with their protein groups already assigned."""
    samples = importlib.import_module(_SAMPLES)
    split = importlib.import_module(_SPLIT)
    chains, skipped = samples.chains_from_folder(*args, **kwargs)
    return split.assign_sequence_groups(chains), skipped


def __getattr__(name: str) -> Any:
    if name not in MOVED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, attr = MOVED[name]
    if module == __name__:
        value = globals()[attr]
    else:
        try:
            value = getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if not module.startswith("experiments."):
                raise
            raise ImportError(
                f"deeprank_like.enm.experiment.{name} moved to {module}.{attr}, part of the "
                "experiments/ folder of the source repository (not installed by pip): run "
                "`python -m experiments.betagm --help` from a checkout, or put its root on "
                "sys.path"
            ) from exc
    new = f"{module}.{attr}" if module != __name__ else f"{_SAMPLES}.chains_from_folder"
    extra = " and deeprank_like.data.split.assign_sequence_groups" if module == __name__ else ""
    warnings.warn(
        f"deeprank_like.enm.experiment.{name} is deprecated; use {new}{extra} (see the "
        "docstring of deeprank_like.enm.experiment for every moved name)",
        DeprecationWarning,
        stacklevel=2,
    )
    return value
