"""Common machinery of :class:`GraphDataset` and :class:`GridDataset`.

A dataset is an index of items over one or more feature files plus a *data config*: selected
features, target, task, classes, transforms and standardisation. A training dataset fits the
standardisation on its own items (lazily, on first need); a validation/test/inference dataset
inherits the whole config through ``train_source`` (the training dataset, or a checkpoint path).

The files are read only through :mod:`deeprank_like.storage` (entries listed with
:func:`~deeprank_like.storage.entries.scan_entries`, arrays with its per-entry readers); the
data config's keys and checks are :mod:`deeprank_like.data.data_config`.
"""

from __future__ import annotations

import logging
import os
from abc import abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from torch_geometric.data import Dataset

from deeprank_like.data.data_config import (
    BOUNDED_TARGETS,
    Check,
    check_data_config,
    from_features_transform,
    infer_task,
    load_data_config,
    load_transforms,
    warn_overrides,
)

# the data-config names below moved to deeprank_like.data.data_config; still importable here
from deeprank_like.data.data_config import CLASSIFICATION_TARGETS as CLASSIFICATION_TARGETS
from deeprank_like.data.data_config import REGRESSION_TARGETS as REGRESSION_TARGETS
from deeprank_like.data.data_config import TASKS as TASKS
from deeprank_like.data.data_config import config_json as config_json
from deeprank_like.data.transforms import (
    InheritsStandardization,
    RunningStats,
    Standardizer,
    apply_transform,
    transform_to_json,
    validate_transform,
)
from deeprank_like.errors import StorageError, TrainingError
from deeprank_like.storage.entries import (
    FileCache,
    entry_query,
    open_entry,
    read_target,
    scan_entries,
)

__all__ = ["BOUNDED_TARGETS", "HDF5Dataset", "check_finite", "infer_task", "load_data_config"]

log = logging.getLogger(__name__)


def check_finite(values: np.ndarray, where: str, what: str) -> None:
    """StorageError if ``values`` holds NaN or ±inf, naming ``where`` (file, entry) and ``what``.

    The policy of every dataset: a non-finite stored value is an error when the entry is
    read, never passed on to the network.
    """
    if values.dtype.kind not in "fc" or values.size == 0:
        return
    finite = np.isfinite(values)
    if finite.all():
        return
    bad = np.argwhere(~finite)
    first = tuple(int(i) for i in bad[0])
    value = values[first]
    kinds = sorted({"NaN" if np.isnan(v) else "inf" for v in values[~finite].ravel()[:1000]})
    if not first:
        at = ""
    elif len(first) <= 2:
        at = f" at row {first[0]}"
    else:
        at = f" at index {first}"
    raise StorageError(
        f"{where}: {what} has {len(bad)} non-finite value(s) ({'/'.join(kinds)}; first {value}"
        f"{at}); non-finite values are not accepted: recompute the entry, or leave it out "
        f"with subset="
    )


def _as_paths(hdf5_path: Any) -> list[str]:
    if isinstance(hdf5_path, str | os.PathLike):
        paths = [os.fspath(hdf5_path)]
    else:
        paths = [os.fspath(p) for p in hdf5_path]
    if not paths:
        raise StorageError("no HDF5 file given")
    for p in paths:
        if not os.path.isfile(p):
            raise StorageError(f"{p}: no such file")
    return paths


def target_tensor(ds: Any, value: Any, entry: str) -> torch.Tensor | None:
    """The ``y`` of one item of a graph or grid dataset ``ds`` (per-entry or packed).

    Parameters
    ----------
    ds : dataset
        Gives ``target``, ``task``, ``target_width``, ``classes``, ``class_to_index`` and
        ``is_training_source``.
    value : Any
        The stored target (None where missing).
    entry : str
        Entry id, for error messages.

    Returns
    -------
    torch.Tensor or None
        (1,) int64 class index (-1: unlabelled) for classification, (1, target_width) float32
        for regression, None without a target.
    """
    if ds.target is None:
        return None
    if value is None:
        if ds.is_training_source:
            raise StorageError(
                f"entry {entry!r} has no target {ds.target!r} (required in a training set)"
            )
        if ds.task == "classif":
            return torch.tensor([-1], dtype=torch.long)
        return torch.full((1, ds.target_width), float("nan"))
    if not np.all(np.isfinite(value)):
        raise StorageError(
            f"entry {entry!r}: target {ds.target!r} is {value} (not finite); non-finite "
            f"targets are not accepted (to mark an entry unlabelled leave the target out)"
        )
    if ds.task == "classif":
        index = ds.class_to_index.get(float(value))
        if index is None:
            raise StorageError(
                f"entry {entry!r}: target {ds.target}={value} is not one of the classes "
                f"{ds.classes}"
            )
        return torch.tensor([index], dtype=torch.long)
    arr = np.atleast_1d(np.asarray(value, dtype=np.float32))
    return torch.from_numpy(arr.reshape(1, -1).copy())


class HDF5Dataset(Dataset, InheritsStandardization):
    """Base class; see :class:`~deeprank_like.data.GraphDataset` for the parameters."""

    kind: ClassVar[str] = ""

    def __init__(
        self,
        hdf5_path: str | os.PathLike | Sequence[str | os.PathLike],
        *,
        subset: Iterable[str] | None = None,
        train_source: Any = None,
        target: str | None = None,
        task: str | None = None,
        classes: Sequence[Any] | None = None,
        transforms: Mapping[str, Any] | None = None,
        standardize: bool | Sequence[str] | None = None,
        features_transform: Mapping[str, Any] | None = None,
        in_memory: bool = False,
        transform: Callable | None = None,
    ) -> None:
        super().__init__(root=None, transform=transform, log=False)
        self.files = _as_paths(hdf5_path)
        self._handles = FileCache(self.files)
        self.in_memory = bool(in_memory)
        self._cache: dict[tuple, Any] = {}
        self._targets_cache: dict[tuple, Any] = {}
        self._stats: Standardizer | None = None
        self._source_dataset: HDF5Dataset | None = None
        self._source_config: dict[str, Any] | None = None
        self._callables = dict(transforms or {})

        entries = self._list_entries(subset)
        user = {
            "target": target,
            "task": task,
            "classes": None if classes is None else list(classes),
            "transforms": None if transforms is None else dict(transforms),
            "standardize": standardize,
            "features_transform": features_transform,
        }
        if train_source is not None:
            config = self._resolve_source(train_source)
            warn_overrides(user, config, stacklevel=3)
            self.target = config["target"]
            self.task = config["task"]
            self.classes = config["classes"]
            if self._source_dataset is not None:
                # the training dataset itself: its transforms, callables included
                self.transforms = dict(self._source_dataset.transforms)
            else:
                self.transforms = load_transforms(config.get("transforms") or {}, self._callables)
            self.standardize = list(config.get("standardize") or [])
            self.target_width = int(config.get("target_width") or 1)
            entries = self._filter_entries(entries, config)
            self._setup_features(entries, config)
        else:
            self.target = target
            self.task = infer_task(target, task)
            if self.task == "classif":
                self.classes = list(classes) if classes is not None else None
            else:
                if classes is not None:
                    raise TrainingError("classes are only meaningful with task='classif'")
                self.classes = None
            entries = self._filter_entries(entries, None)
            self._setup_features(entries, None)
            if features_transform is not None:
                if transforms is not None or standardize is not None:
                    raise TrainingError(
                        "give either features_transform (DeepRank2 form) or transforms/standardize"
                    )
                transforms, standardize = from_features_transform(
                    features_transform, self.feature_names()
                )
                self._callables = dict(transforms)
            self.transforms = {
                name: validate_transform(spec, name) for name, spec in (transforms or {}).items()
            }
            unknown = sorted(set(self.transforms) - set(self.feature_names()))
            if unknown:
                raise TrainingError(
                    f"transforms given for unselected/unknown feature(s) {unknown}; "
                    f"selected: {self.feature_names()}"
                )
            self.standardize = self._resolve_standardize(standardize)
        self._entry_ids = {(fi, name): eid for fi, name, eid in entries}
        self._items = self._build_items(entries)
        if not self._items:
            raise StorageError(f"no entries to read in {self.files}")
        if train_source is None:
            self.target_width = self._first_target_width()
        if self.task == "classif" and self.classes is None:
            self.classes = self._infer_classes()

    # ---- config ---------------------------------------------------------------------------
    def _resolve_source(self, source: Any) -> dict[str, Any]:
        if isinstance(source, HDF5Dataset):
            if type(source) is not type(self):
                raise TrainingError(
                    f"train_source is a {type(source).__name__}, expected a {type(self).__name__}"
                )
            self._source_dataset = source
            return source.data_config(include_stats=False)
        if isinstance(source, str | os.PathLike):
            config = load_data_config(source)
            if not isinstance(config, Mapping) or config.get("dataset") != self.kind:
                kind = config.get("dataset") if isinstance(config, Mapping) else config
                raise TrainingError(
                    f"{os.fspath(source)} was trained on a {kind} dataset, not a {self.kind} dataset"
                )
            self._check_source_config(config, os.fspath(source))
            self._source_config = dict(config)
            return self._source_config
        if isinstance(source, Mapping):
            self._check_source_config(source, "train_source")
            self._source_config = dict(source)
            return self._source_config
        raise TrainingError(
            f"train_source must be a {type(self).__name__}, a checkpoint path or a data config, "
            f"got {type(source).__name__}"
        )

    def _check_source_config(self, config: Mapping[str, Any], origin: str) -> None:
        """TrainingError naming every malformed key of a data config read from a file."""
        check_data_config(config, self.kind, origin, self._config_checks())

    def _config_checks(self) -> dict[str, Check]:
        """Checks of the subclass's feature keys in a data config (key → (predicate, what))."""
        return {}

    def _resolve_standardize(self, standardize: bool | Sequence[str] | None) -> list[str]:
        names = self.feature_names()
        if standardize is None or standardize is False:
            return []
        if standardize is True:
            return list(names)
        chosen = list(standardize)
        unknown = [n for n in chosen if n not in names]
        if unknown:
            raise TrainingError(
                f"cannot standardise unselected/unknown feature(s) {unknown}; selected: {names}"
            )
        return chosen

    def data_config(self, include_stats: bool = True) -> dict[str, Any]:
        """Everything a dataset needs to read new files as this one does (JSON-serialisable).

        ``include_stats`` fits the standardisation first if needed.
        """
        config: dict[str, Any] = {
            "dataset": self.kind,
            "target": self.target,
            "task": self.task,
            "classes": self.classes,
            "transforms": {k: transform_to_json(v) for k, v in self.transforms.items()},
            "standardize": list(self.standardize),
            "target_width": self.target_width,
        }
        config.update(self._feature_config())
        if include_stats:
            stats = self.standardizer
            config["standardization"] = None if stats is None else stats.to_dict()
        return config

    def _fit_standardizer(self) -> Standardizer:
        running: dict[str, RunningStats] = {}
        for i in range(len(self._items)):
            for name, values in self._stat_columns(self._load(i)).items():
                if name in self.standardize:
                    if name not in running:
                        running[name] = RunningStats(values.shape[1] if values.ndim > 1 else 1)
                    running[name].update(values)
        return Standardizer.from_running(running)

    # ---- targets ----------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        """Number of classes (0 for regression); PyG's default would read every item."""
        return len(self.classes or [])

    @property
    def class_to_index(self) -> dict[float, int]:
        """Class value → output index."""
        return {float(c): i for i, c in enumerate(self.classes or [])}

    def _infer_classes(self) -> list[Any]:
        if self.target in CLASSIFICATION_TARGETS:
            return list(CLASSIFICATION_TARGETS[self.target])
        values = []
        for i, v in enumerate(self.target_values()):
            if v is None:
                continue
            values.append(v)
            if not np.all(np.isfinite(v)):
                raise StorageError(
                    f"{self.files[self._items[i][0]]}: entry {self.entry_ids()[i]!r}: target "
                    f"{self.target!r} is {v} (not finite); to mark an entry unlabelled leave "
                    f"the target out"
                )
        classes = sorted(set(float(v) for v in values))
        return [int(c) if float(c).is_integer() else c for c in classes]

    def _first_target_width(self) -> int:
        if self.target is None or self.task != "regress":
            return 1
        for i in range(len(self._items)):
            value = self._target_of(i)
            if value is not None:
                return int(np.size(value))
        return 1

    def _read_target(self, entry: Any, where: str | None = None) -> Any:
        """The entry's value of the selected target (float or float64 (k,)); None if absent.

        ``entry``: the entry's h5py group or low-level id. With ``where`` (file and entry, for
        the message) a non-finite value is an error here; without, the caller checks it.
        """
        if self.target is None:
            return None
        value = read_target(entry, self.target)
        if value is None:
            return None
        if where is not None:
            check_finite(np.asarray(value, dtype=np.float64), where, f"target {self.target!r}")
        return float(value) if value.ndim == 0 else value.astype(np.float64)

    def _target_of(self, idx: int) -> Any:
        key = self._items[idx]
        entry_key = key[:2]
        if entry_key not in self._targets_cache:
            entry = open_entry(self._handles.get(key[0]), key[1])
            self._targets_cache[entry_key] = self._read_target(entry)
        return self._targets_cache[entry_key]

    def target_values(self) -> list[Any]:
        """The raw target of every item (None where missing), read once and cached."""
        return [self._target_of(i) for i in range(len(self._items))]

    def class_counts(self) -> np.ndarray:
        """Items per class (classification), in ``classes`` order."""
        counts = np.zeros(len(self.classes or []), dtype=np.int64)
        index = self.class_to_index
        for v in self.target_values():
            if v is not None and float(v) in index:
                counts[index[float(v)]] += 1
        return counts

    def _target_tensor(self, value: Any, entry: str) -> torch.Tensor | None:
        return target_tensor(self, value, entry)

    # ---- items ------------------------------------------------------------------------------

    def _list_entries(self, subset: Iterable[str] | None) -> list[tuple[int, str, str]]:
        """(file index, group name, entry id) of complete entries, files in order."""
        wanted = None if subset is None else set(subset)
        out = []
        #: (file index, group name) -> the entry's graph resolution (checked at construction)
        self._entry_resolution: dict[tuple[int, str], str | None] = {}
        #: file index -> number of complete entries in the file (subset or not)
        self._file_entry_counts: dict[int, int] = {}
        for fi in range(len(self.files)):
            entries = scan_entries(self._handles.get(fi))
            self._file_entry_counts[fi] = len(entries)
            for e in entries:
                if wanted is None or e.id in wanted or e.name in wanted:
                    out.append((fi, e.name, e.id))
                    self._entry_resolution[(fi, e.name)] = e.resolution
        if wanted is not None:
            found = {e for _, _, e in out} | {n for _, n, _ in out}
            missing = sorted(wanted - found)
            if missing:
                raise StorageError(
                    f"{len(missing)} subset entries not found in {self.files}: {missing[:5]}"
                )
        # handles opened here belong to this process; workers reopen their own
        self._handles.close()
        return out

    def len(self) -> int:
        return len(self._items)

    def item_info(self, idx: int) -> dict[str, Any]:
        """``{"file", "entry", "pdb_path", ...}`` of item ``idx``.

        ``pdb_path`` is the structure the entry was built from (its stored query; None if
        the entry does not record one).
        """
        key = self._items[idx]
        query = self.entry_query(idx)
        pdb_path = query.get("pdb_path")
        return {
            "file": self.files[key[0]],
            "entry": self._entry_ids[key[:2]],
            "pdb_path": None if pdb_path is None else str(pdb_path),
        }

    def entry_query(self, idx: int) -> dict[str, Any]:
        """The stored query (its ``to_dict()``: ``pdb_path``, chains, ...) of item ``idx``.

        ``{}`` when the entry has no readable ``query`` attribute (read once per entry).
        """
        key = self._items[idx][:2]
        cache = self.__dict__.setdefault("_query_cache", {})
        if key not in cache:
            cache[key] = entry_query(self._handles.get(key[0]), key[1])
        return cache[key]

    def entry_ids(self) -> list[str]:
        """Entry id of every item (repeated for augmented grids)."""
        return [self._entry_ids[k[:2]] for k in self._items]

    def _load(self, idx: int) -> dict[str, Any]:
        key = self._items[idx]
        if self.in_memory:
            cached = self._cache.get(key)
            if cached is not None:
                return cached
        f = self._handles.get(key[0])
        raw = self._read_item(f, key)
        if self.in_memory:
            self._cache[key] = raw
        return raw

    def preload(self, num_workers: int = 0) -> None:
        """Read every item into memory now (``in_memory=True`` datasets; no-op otherwise).

        ``num_workers`` > 0 reads in that many worker processes (each opens the files itself).
        """
        if not self.in_memory:
            return
        missing = [i for i in range(len(self._items)) if self._items[i] not in self._cache]
        if not missing:
            return
        if num_workers <= 0:
            for i in missing:
                self._load(i)
            return
        from torch.utils.data import DataLoader

        self.close()
        reader = _RawReader(self, missing)
        loader = DataLoader(reader, batch_size=16, num_workers=num_workers, collate_fn=_as_list)
        for chunk in loader:
            for key, raw in chunk:
                self._cache[key] = raw

    def prepare(self, num_workers: int = 0) -> None:
        """Preload (``in_memory``) and fit/resolve the standardisation; the Trainer calls this."""
        self.preload(num_workers)
        _ = self.standardizer

    def subset(self, indices: Sequence[int], train_source: Any = None) -> HDF5Dataset:
        """A dataset of the items ``indices`` sharing files and memory cache.

        A subset of a training set fits its own standardisation; pass ``train_source`` to
        inherit it instead (validation/test splits).
        """
        import copy

        out = copy.copy(self)
        out._items = [self._items[int(i)] for i in indices]
        out._indices = None
        if self.is_training_source:
            out._stats = None
        if train_source is not None:
            if not isinstance(train_source, HDF5Dataset):
                raise TrainingError("subset(train_source=...) takes a dataset")
            out._source_dataset = train_source
            out._stats = None
        return out

    def _apply_transforms(self, name: str, values: np.ndarray) -> np.ndarray:
        spec = self.transforms.get(name)
        return values if spec is None else apply_transform(spec, values, name)

    def close(self) -> None:
        """Close this process's file handles."""
        self._handles.close()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({len(self)} items, files={len(self.files)}, "
            f"target={self.target!r}, task={self.task!r})"
        )

    # ---- to be provided by subclasses --------------------------------------------------------
    def _filter_entries(
        self, entries: list[tuple[int, str, str]], config: dict | None
    ) -> list[tuple[int, str, str]]:
        """The entries to use (e.g. of one resolution); all of them by default."""
        return entries

    @abstractmethod
    def _setup_features(self, entries: list[tuple[int, str, str]], config: dict | None) -> None:
        """Resolve the requested features against the files (or the training source's config)."""

    @abstractmethod
    def _build_items(self, entries: list[tuple[int, str, str]]) -> list[tuple]:
        """The items of the dataset: one key tuple per graph (or grid)."""

    @abstractmethod
    def feature_names(self) -> list[str]:
        """Names of the selected features, in column order."""

    @abstractmethod
    def _feature_config(self) -> dict[str, Any]:
        """The feature selection as JSON-serialisable data (saved in checkpoints)."""

    @abstractmethod
    def _read_item(self, f: Any, key: tuple) -> dict[str, Any]:
        """Read the arrays of one item from an open HDF5 file."""

    @abstractmethod
    def _stat_columns(self, raw: dict[str, Any]) -> dict[str, np.ndarray]:
        """Columns (name → 2-D array) used to fit the standardisation."""


class _RawReader(torch.utils.data.Dataset):
    """Reads items of a dataset without caching (preload in worker processes)."""

    def __init__(self, dataset: HDF5Dataset, indices: list[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, j: int) -> tuple[tuple, dict[str, Any]]:
        ds = self.dataset
        key = ds._items[self.indices[j]]
        return key, ds._read_item(ds._handles.get(key[0]), key)


def _as_list(items: list) -> list:
    return items
