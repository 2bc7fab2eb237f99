"""DeepRank2's dataset arguments that are not ours: accepted, or refused naming what to do.

``GraphDataset``/``GridDataset`` share DeepRank2's names for everything they do the same way
(``hdf5_path``, ``subset``, ``train_source``, ``node_features``, ``edge_features``,
``features``, ``features_transform``, ``target``, ``task``, ``classes``). The other
DeepRank2 arguments go through :func:`check_dataset_kwargs`:

========================  =====================================================================
``use_tqdm``, ``root``    accepted and without effect (no progress bar; no PyG root folder)
``check_integrity``       accepted: files are always checked (format, schema, complete entries)
``clustering_method``     ``None`` accepted; ``"mcl"``/``"louvain"``: TypeError (no
                          preclustering: the networks pool globally, nothing is written into
                          the input files)
``target_transform``      ``False`` accepted; ``True``: TypeError (``sigmoid(log(y))``; use a
                          bounded output, which ``build_model_for`` gives DockQ and Fnat)
``target_filter``         TypeError: select entries with ``subset=`` (no ``eval`` of strings)
========================  =====================================================================

Any other unknown argument is a TypeError listing the accepted ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["check_dataset_kwargs"]

_IGNORED = {"use_tqdm", "root", "check_integrity"}

_REFUSED = {
    "clustering_method": (
        None,
        "clustering_method={value!r}: there is no preclustering (DeepRank2 wrote clusters "
        "into the input files for GINet's community pooling); our networks pool each graph "
        "globally. Drop the argument; for a GINet-like network use "
        "build_model_for('gine', dataset)",
    ),
    "target_transform": (
        False,
        "target_transform={value!r}: DeepRank2's sigmoid(log(y)) target transform is not "
        "supported; for targets in [0, 1] (DockQ, Fnat) build_model_for gives the network a "
        "sigmoid output (output_activation='sigmoid'); otherwise store the transformed target "
        "(deeprank_like.storage.targets.add_targets) and train on it",
    ),
    "target_filter": (
        None,
        "target_filter={value!r}: select entries with subset= instead (filter strings are "
        "not eval'd), e.g. keep = [e for e, y in zip(ds.entry_ids(), ds.target_values()) "
        "if y < 10]; GraphDataset(path, subset=keep, ...)",
    ),
}


def check_dataset_kwargs(cls_name: str, kwargs: Mapping[str, Any], accepted: list[str]) -> None:
    """TypeError for a DeepRank2 argument we do not support (or an unknown one).

    Parameters
    ----------
    cls_name : str
        ``"GraphDataset"`` or ``"GridDataset"`` (for the message).
    kwargs : mapping
        Keyword arguments the constructor does not know itself.
    accepted : list of str
        The constructor's own parameter names (listed for an unknown argument).
    """
    for name, value in kwargs.items():
        if name in _IGNORED:
            continue
        if name in _REFUSED:
            harmless, message = _REFUSED[name]
            if value is harmless or value == harmless:
                continue
            raise TypeError(f"{cls_name}: " + message.format(value=value))
        raise TypeError(
            f"{cls_name}() got an unexpected keyword argument {name!r}; its arguments: "
            f"{', '.join(accepted)} (DeepRank2's use_tqdm, root, check_integrity, "
            f"clustering_method, target_transform and target_filter are explained in "
            f"docs/coming-from-deeprank2.md)"
        )
