"""Which atom records a reader keeps: one alternate location per atom site, no repeated sites.

Shared by :func:`~deeprank_like.structure.load_structure` and
:func:`~deeprank_like.structure.atom_table.read_atom_table`, so both readers choose the same
alternate locations.
"""

from __future__ import annotations

import numpy as np

__all__ = ["repeated_keys", "select_altlocs"]


def repeated_keys(candidates: np.ndarray, *columns: np.ndarray) -> np.ndarray:
    """Boolean mask of the candidate atoms whose key (``columns``) an earlier candidate has.

    Parameters
    ----------
    candidates : ndarray, shape (n,), bool
        Atoms taking part; the others are never marked and never shadow anyone.
    *columns : ndarray, shape (n,)
        Key columns (chain, residue number, ...).

    Returns
    -------
    ndarray, shape (n,), bool
        True for every repeat of a key, False for its first occurrence (file order).
    """
    out = np.zeros(candidates.shape[0], dtype=bool)
    idx = np.flatnonzero(candidates)
    if idx.size < 2:
        return out
    cols = [c[idx] for c in columns]
    order = np.lexsort((idx, *cols[::-1]))
    same = np.ones(order.size - 1, dtype=bool)
    for c in cols:
        sc = c[order]
        same &= sc[1:] == sc[:-1]
    out[idx[order[1:][same]]] = True
    return out


def select_altlocs(
    chain_ids: np.ndarray,
    res_numbers: np.ndarray,
    icodes: np.ndarray,
    atom_names: np.ndarray,
    altlocs: np.ndarray,
    occ: np.ndarray,
    candidates: np.ndarray | None = None,
) -> np.ndarray:
    """Boolean mask keeping, per atom site, the highest-occupancy alternate (ties: first).

    Parameters
    ----------
    chain_ids, icodes, atom_names, altlocs : ndarray, shape (n,), str
        Per atom; ``altlocs`` is ``""`` for atoms without alternates (always kept).
    res_numbers : ndarray, shape (n,), int
    occ : ndarray, shape (n,), float
        Occupancies.
    candidates : ndarray, shape (n,), bool, optional
        Atoms taking part in the choice (default: all); the others are kept.

    Returns
    -------
    ndarray, shape (n,), bool
        An atom site is (chain, residue number, insertion code, atom name).
    """
    n = occ.shape[0]
    keep = np.ones(n, dtype=bool)
    has_alt = altlocs != ""
    if candidates is not None:
        has_alt &= candidates
    alt = np.flatnonzero(has_alt)
    if alt.size == 0:
        return keep
    keys = np.char.add(
        np.char.add(np.char.add(chain_ids[alt], "|"), res_numbers[alt].astype(str)),
        np.char.add(np.char.add(icodes[alt], "|"), atom_names[alt]),
    )
    # sort by key, then by descending occupancy, then file order: first of each key wins
    order = np.lexsort((alt, -occ[alt], keys))
    sorted_keys = keys[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    keep[alt] = False
    keep[alt[order[first]]] = True
    return keep
