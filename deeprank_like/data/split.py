"""Deterministic, seeded train/validation/test splits and k-fold cross-validation.

Splits are over *groups* of items: every item of a group lands in the same split. Items of one
entry (a grid dataset's augmented copies) always form one group; ``group_by`` coarsens this,
e.g. all docking decoys of one complex::

    group_by=lambda entry_id: entry_id.split(":")[-1].split("_")[0]   # "1ATN_1w" → "1ATN"

The result depends only on the seed and the set of group keys (not on file or item order):
group keys are sorted, then permuted by ``numpy.random.default_rng(seed)``.

Groups of proteins by sequence: :func:`sequence_groups` links sequences that share most of their
k-mers (point mutants, constructs, bound and unbound copies of one protein) and
:func:`assign_sequence_groups` stamps the groups on records that have a ``sequence`` and a
``group`` (e.g. :class:`~deeprank_like.enm.samples.ChainRecord`). :func:`grouped_kfold` is the
k-fold of the β-GM experiment: whole groups per fold, balanced by sample count, largest groups
first (:func:`kfold_indices` visits groups in seeded order instead).

On :class:`~deeprank_like.data.base.HDF5Dataset` the training split fits its own
standardisation and the other splits inherit it (``train_source``). Other datasets (lists,
PyG datasets) are split into lists / ``index_select`` views.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from deeprank_like.errors import TrainingError

__all__ = [
    "assign_sequence_groups",
    "group_keys",
    "grouped_kfold",
    "kfold_indices",
    "kfold_split",
    "sequence_groups",
    "split_dataset",
    "split_indices",
]


def _item_entries(dataset: Any) -> list[str]:
    if hasattr(dataset, "entry_ids"):
        return list(dataset.entry_ids())
    out = []
    for i in range(len(dataset)):
        eid = getattr(dataset[i], "entry_id", None)
        out.append(str(eid) if eid is not None else str(i))
    return out


def group_keys(dataset: Any, group_by: Any = None) -> list[str]:
    """Group key of every item.

    ``group_by``: None (the entry id), a callable ``entry_id -> key``, or a sequence with one
    key per item.
    """
    if group_by is not None and not callable(group_by) and not isinstance(group_by, str):
        keys = [str(k) for k in group_by]
        if len(keys) != len(dataset):
            raise TrainingError(f"group_by has {len(keys)} keys for {len(dataset)} items")
        return keys
    entries = _item_entries(dataset)
    if group_by is None or group_by == "entry":
        return entries
    if callable(group_by):
        return [str(group_by(e)) for e in entries]
    raise TrainingError(
        f"group_by must be None, 'entry', a callable or a sequence, got {group_by!r}"
    )


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    f = np.asarray(list(fractions), dtype=np.float64)
    if f.ndim != 1 or len(f) < 2 or not (f >= 0).all() or not abs(f.sum() - 1.0) <= 1e-6:
        raise TrainingError(
            f"fractions must be ≥ 0 and sum to 1 (2 or 3 values), got {list(fractions)}"
        )
    return f


def _ordered_groups(keys: list[str], seed: int) -> list[str]:
    unique = sorted(set(keys))
    order = np.random.default_rng(seed).permutation(len(unique))
    return [unique[i] for i in order]


def split_indices(keys: list[str], fractions: Sequence[float], seed: int = 0) -> list[np.ndarray]:
    """Item indices of each split, for items with group ``keys``.

    Groups are taken in seeded order and filled into the splits until each reaches its share
    of items (rounded); a split with a positive fraction is never left empty when there are
    enough groups.
    """
    f = _check_fractions(fractions)
    groups = _ordered_groups(keys, seed)
    members: dict[str, list[int]] = {}
    for i, k in enumerate(keys):
        members.setdefault(k, []).append(i)
    n = len(keys)
    bounds = np.round(np.cumsum(f) * n).astype(int)
    bounds[-1] = n
    out: list[list[int]] = [[] for _ in f]
    split, count = 0, 0
    remaining = len(groups)
    for g in groups:
        while split < len(f) - 1 and count >= bounds[split]:
            split += 1
        # keep a group for every later split that needs one
        later = [s for s in range(split + 1, len(f)) if f[s] > 0 and not out[s]]
        if out[split] and remaining <= len(later):
            split = later[0]
        out[split].extend(members[g])
        count += len(members[g])
        remaining -= 1
    for s, frac in enumerate(f):
        if frac > 0 and not out[s]:
            raise TrainingError(
                f"split {s} (fraction {frac}) is empty: {len(groups)} groups are too few"
            )
    return [np.array(sorted(idx), dtype=np.int64) for idx in out]


def kfold_indices(keys: list[str], k: int, seed: int = 0) -> list[np.ndarray]:
    """Item indices of ``k`` folds; groups go, in seeded order, to the smallest fold."""
    if k < 2:
        raise TrainingError(f"k must be ≥ 2, got {k}")
    groups = _ordered_groups(keys, seed)
    if len(groups) < k:
        raise TrainingError(f"{len(groups)} groups cannot fill {k} folds")
    members: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        members.setdefault(key, []).append(i)
    folds: list[list[int]] = [[] for _ in range(k)]
    for g in groups:
        smallest = min(range(k), key=lambda j: (len(folds[j]), j))
        folds[smallest].extend(members[g])
    return [np.array(sorted(f), dtype=np.int64) for f in folds]


def _take(dataset: Any, indices: np.ndarray, train: Any = None) -> Any:
    from deeprank_like.data.base import HDF5Dataset
    from deeprank_like.data.packed import PackedGraphDataset

    if isinstance(dataset, HDF5Dataset | PackedGraphDataset):
        return dataset.subset(indices, train_source=train)
    if isinstance(dataset, list | tuple):
        return [dataset[int(i)] for i in indices]
    if hasattr(dataset, "index_select"):
        return dataset.index_select(indices.tolist())
    raise TrainingError(f"cannot split a {type(dataset).__name__}")


def split_dataset(
    dataset: Any,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    group_by: str | Callable[[str], Any] | Sequence[Any] | None = None,
) -> tuple[Any, ...]:
    """Split into (train, val[, test]) by group, deterministically for a seed.

    Returns one dataset per fraction; the first is the training set, the others inherit its
    standardisation.
    """
    keys = group_keys(dataset, group_by)
    parts = split_indices(keys, fractions, seed)
    train = _take(dataset, parts[0])
    return (train, *(_take(dataset, p, train) for p in parts[1:]))


def kfold_split(
    dataset: Any,
    k: int = 5,
    seed: int = 0,
    group_by: str | Callable[[str], Any] | Sequence[Any] | None = None,
) -> list[tuple[Any, Any]]:
    """``k`` (train, validation) pairs; each item is in exactly one validation fold."""
    keys = group_keys(dataset, group_by)
    folds = kfold_indices(keys, k, seed)
    out = []
    for j in range(k):
        train_idx = np.sort(np.concatenate([folds[i] for i in range(k) if i != j]))
        train = _take(dataset, train_idx)
        out.append((train, _take(dataset, folds[j], train)))
    return out


def sequence_groups(
    sequences: Sequence[str], k: int = 3, min_shared: float = 0.5
) -> NDArray[np.int64]:
    """Cluster sequences into protein groups by shared k-mers (single linkage).

    Two sequences are linked when ``|K_a ∩ K_b| / min(|K_a|, |K_b|) >= min_shared`` for their sets
    of k-mers; groups are the connected components, numbered in order of first appearance. Point
    mutants and constructs of one protein share almost all 3-mers; unrelated proteins share few
    (about 5 % for two random 130-residue sequences).

    Parameters
    ----------
    sequences : sequence of str
        One-letter sequences.
    k : int
        k-mer length.
    min_shared : float
        Fraction of the smaller k-mer set two sequences must share to be linked.

    Returns
    -------
    ndarray, shape (n,), int64
        Group of each sequence, 0, 1, 2, ... in order of first appearance.
    """
    kmers = [{s[i : i + k] for i in range(len(s) - k + 1)} for s in sequences]
    parent = list(range(len(sequences)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a in range(len(kmers)):
        for b in range(a + 1, len(kmers)):
            small = min(len(kmers[a]), len(kmers[b]))
            if small and len(kmers[a] & kmers[b]) >= min_shared * small:
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    roots = [find(i) for i in range(len(sequences))]
    relabel: dict[int, int] = {}
    return np.array([relabel.setdefault(r, len(relabel)) for r in roots], dtype=np.int64)


_Record = TypeVar("_Record")


def assign_sequence_groups(records: Sequence[_Record], **kwargs: Any) -> list[_Record]:
    """Copies of ``records`` with ``group`` set by :func:`sequence_groups` of their ``sequence``.

    Parameters
    ----------
    records : sequence of dataclass instances
        Each with a ``sequence`` (str) and a ``group`` (int) field, e.g.
        :class:`~deeprank_like.enm.samples.ChainRecord`.
    **kwargs
        ``k`` and ``min_shared`` of :func:`sequence_groups`.

    Returns
    -------
    list
        New records (``dataclasses.replace``); the inputs are not changed.
    """
    groups = sequence_groups([r.sequence for r in records], **kwargs)  # type: ignore[attr-defined]
    return [
        dataclasses.replace(r, group=int(g))  # type: ignore[type-var]
        for r, g in zip(records, groups, strict=True)
    ]


def grouped_kfold(
    groups: Sequence[Any] | NDArray[Any], n_folds: int, seed: int
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """K folds whose members are whole groups, balanced by sample count, shuffled by ``seed``.

    Groups are visited in a random order (``numpy.random.default_rng(seed)``), largest first
    among equals broken randomly, and each goes to the fold with the fewest samples so far.

    Parameters
    ----------
    groups : array_like, shape (n,)
        Group label of each sample.
    n_folds : int
        Number of folds, 2 <= n_folds <= number of groups.
    seed : int
        Seed of the visiting order.

    Returns
    -------
    list of (train_index, test_index)
        Sorted int64 index arrays; every sample is in exactly one test fold.
    """
    groups = np.asarray(groups)
    uniq, counts = np.unique(groups, return_counts=True)
    if n_folds < 2 or n_folds > uniq.size:
        raise TrainingError(f"need 2 <= n_folds <= number of groups ({uniq.size}), got {n_folds}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(uniq.size)
    order = order[np.argsort(-counts[order], kind="stable")]
    load = np.zeros(n_folds, dtype=np.int64)
    fold_of: dict[Any, int] = {}
    for gi in order:
        f = int(np.flatnonzero(load == load.min())[rng.integers((load == load.min()).sum())])
        fold_of[uniq[gi]] = f
        load[f] += counts[gi]
    sample_fold = np.array([fold_of[g] for g in groups], dtype=np.int64)
    return [
        (np.flatnonzero(sample_fold != f), np.flatnonzero(sample_fold == f)) for f in range(n_folds)
    ]
