"""Chemical elements used in atom-graph features."""

from __future__ import annotations

import numpy as np

#: One-hot order of ``atom_type`` (DeepRank2's C, O, N, S, P, H plus "other" for Se, metals, …).
ELEMENT_ONEHOT: tuple[str, ...] = ("C", "O", "N", "S", "P", "H", "other")


def element_indices(elements: np.ndarray) -> np.ndarray:
    """Column of each element in :data:`ELEMENT_ONEHOT` (deuterium counts as H).

    Parameters
    ----------
    elements : ndarray of str, shape (n,)

    Returns
    -------
    ndarray of int64, shape (n,)
    """
    elements = np.where(np.asarray(elements) == "D", "H", np.asarray(elements))
    out = np.full(elements.shape[0], len(ELEMENT_ONEHOT) - 1, dtype=np.int64)
    for i, e in enumerate(ELEMENT_ONEHOT[:-1]):
        out[elements == e] = i
    return out
