"""Per-structure results reused by every query on the same structure file, within one process.

A worker that processes many queries on one file (a saturation variant scan: 19 variants × many
positions of one protein; the residue and the atom graph of one complex) parses the file once
and computes each per-structure result once: the surface areas of ``surfacearea``, the
secondary structure, residue depths and half-sphere exposure of ``exposure``, the interface
contacts of ``irc``, the force-field parameters of ``contact``/``components`` and the PSSM
alignment of ``conservation``. It does so by keeping loaded
:class:`~deeprank_like.structure.Structure` objects — and with them every result memoised in
their ``_cache`` — in a small LRU cache:

* **key**: ``(real path, modification time (ns), size in bytes, model index)`` of the file; an
  edited file is therefore re-read. Results inside a structure are keyed by everything else
  they depend on (chain selection, sides, radii, PSSM path, …), so queries with different
  parameters on one structure do not share results they should not.
* **bounded**: least-recently-used structures are dropped once the estimated memory of all
  cached structures (their arrays plus the results memoised on them) exceeds
  :func:`max_bytes` (default 64 MB, environment variable ``DEEPRANK_LIKE_STRUCTURE_CACHE_MB``).
* **off-switch**: ``DEEPRANK_LIKE_STRUCTURE_CACHE=0`` in the environment, :func:`configure`
  (``enabled=False``), or ``with disabled(): ...``.
* **caveat**: results memoised under a *path* of another input (the PSSM rows of
  ``conservation``) are not re-read when that other file changes while the structure is
  cached; call :func:`clear` after editing such files in a running process.

Why reuse is never wrong for variant queries
    A :class:`~deeprank_like.structure.Structure` is immutable (read-only arrays, frozen
    dataclass). A single-residue-variant query does not model the variant's side chain: every
    per-structure result is a property of the *wild-type* file, so it is the same for all 19
    variants at a position and for every position — the variant enters only the variant
    features of ``components`` and ``conservation``, which are computed per query and never
    cached. A future query kind that builds a modified structure (e.g. a modelled mutant) must
    create a new ``Structure`` (the arrays cannot be changed in place); the new object starts
    with an empty result memo, so no result of the unmodified file can leak into it.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from scipy.spatial import cKDTree

__all__ = [
    "cache_info",
    "cached_structure",
    "clear",
    "configure",
    "disabled",
    "enabled",
    "estimate_bytes",
    "is_enabled",
    "max_bytes",
]

_DEFAULT_MB = 64.0

_lock = threading.RLock()
_entries: OrderedDict[tuple, object] = OrderedDict()
_sizes: dict[tuple, int] = {}  # last estimate per entry (re-estimated when the entry is used)
_stats = {"hits": 0, "misses": 0, "evictions": 0}


def _env_enabled() -> bool:
    value = os.environ.get("DEEPRANK_LIKE_STRUCTURE_CACHE", "1").strip().lower()
    return value not in {"0", "false", "no", "off"}


def _env_max_bytes() -> int:
    raw = os.environ.get("DEEPRANK_LIKE_STRUCTURE_CACHE_MB")
    if raw is None:
        return int(_DEFAULT_MB * 2**20)
    try:
        mb = float(raw)
    except ValueError:
        raise ValueError(
            f"DEEPRANK_LIKE_STRUCTURE_CACHE_MB must be a number of megabytes, got {raw!r}"
        ) from None
    if mb < 0:
        raise ValueError(f"DEEPRANK_LIKE_STRUCTURE_CACHE_MB must be >= 0, got {raw!r}")
    return int(mb * 2**20)


_settings = {"enabled": _env_enabled(), "max_bytes": _env_max_bytes()}


def is_enabled() -> bool:
    """Whether loaded structures (and their results) are reused between queries."""
    return bool(_settings["enabled"])


def max_bytes() -> int:
    """The memory bound of the cache (bytes)."""
    return int(_settings["max_bytes"])


def configure(*, enabled: bool | None = None, max_mb: float | None = None) -> None:
    """Switch the cache on/off and set its memory bound for this process.

    Parameters
    ----------
    enabled : bool, optional
        False empties the cache and makes :func:`cached_structure` load every time.
    max_mb : float, optional
        Memory bound in megabytes (>= 0); 0 keeps nothing.
    """
    with _lock:
        if max_mb is not None:
            if max_mb < 0:
                raise ValueError(f"max_mb must be >= 0, got {max_mb}")
            _settings["max_bytes"] = int(max_mb * 2**20)
        if enabled is not None:
            _settings["enabled"] = bool(enabled)
        if not _settings["enabled"]:
            _entries.clear()
        _evict(keep=None, refresh=tuple(_entries))


@contextmanager
def disabled() -> Iterator[None]:
    """Within the block no structure is reused (nor stored); the previous setting is restored."""
    previous = is_enabled()
    configure(enabled=False)
    try:
        yield
    finally:
        configure(enabled=previous)


@contextmanager
def enabled() -> Iterator[None]:
    """Within the block structures are reused; the previous setting is restored."""
    previous = is_enabled()
    configure(enabled=True)
    try:
        yield
    finally:
        configure(enabled=previous)


def clear() -> None:
    """Drop every cached structure and reset the hit/miss counters."""
    with _lock:
        _entries.clear()
        _sizes.clear()
        for k in _stats:
            _stats[k] = 0


def cache_info() -> dict[str, int]:
    """``entries``, ``bytes`` (estimated), ``max_bytes``, ``hits``, ``misses``, ``evictions``."""
    with _lock:
        return {
            "entries": len(_entries),
            "bytes": sum(estimate_bytes(s) for s in _entries.values()),
            "max_bytes": max_bytes(),
            **_stats,
        }


def _nbytes(value: object, depth: int = 0) -> int:
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, cKDTree):  # its copy of the points and its index (no __dict__)
        return 64 + int(value.data.nbytes) + int(value.indices.nbytes)
    if depth > 3:
        return sys.getsizeof(value)
    if isinstance(value, dict):
        return sum(_nbytes(k, depth + 1) + _nbytes(v, depth + 1) for k, v in value.items())
    if isinstance(value, list | tuple | set | frozenset):
        return 64 + sum(_nbytes(v, depth + 1) for v in value)
    if hasattr(value, "__dict__"):
        return 64 + sum(_nbytes(v, depth + 1) for v in vars(value).values())
    return sys.getsizeof(value)


def estimate_bytes(structure: object) -> int:
    """Estimated memory (bytes) of a structure: its arrays plus the results memoised on it."""
    return _nbytes(vars(structure))


def _evict(keep: tuple | None, refresh: tuple = ()) -> None:
    """Drop least-recently-used entries until the estimated total fits :func:`max_bytes`.

    Results are memoised on a structure while a query uses it, so only the entries used since
    their last estimate (``keep`` and ``refresh``: the previously used one) are re-estimated.
    """
    for key in list(_sizes):
        if key not in _entries:
            del _sizes[key]
    for key, structure in _entries.items():
        if key == keep or key in refresh or key not in _sizes:
            _sizes[key] = estimate_bytes(structure)
    limit = max_bytes()
    total = sum(_sizes.values())
    for key in list(_entries):
        if total <= limit:
            break
        if key == keep:
            continue
        total -= _sizes.pop(key)
        del _entries[key]
        _stats["evictions"] += 1


def _file_key(path: str, model: int) -> tuple:
    real = os.path.realpath(path)
    st = os.stat(real)
    return (real, st.st_mtime_ns, st.st_size, int(model))


def cached_structure(path: str | os.PathLike, model: int = 0, loader=None):
    """The structure of ``path``/``model``, loaded once per file version while cached.

    Parameters
    ----------
    path : str or PathLike
        Structure file.
    model : int
        0-based model index.
    loader : callable, optional
        ``loader(path, model=model) -> Structure``; default
        :func:`deeprank_like.structure.load_structure`.

    Returns
    -------
    Structure
        The cached object when the same file (same path, modification time and size) and model
        was loaded before and is still cached; otherwise a freshly loaded one (then cached).
        Errors of the loader (missing file, parse error) propagate unchanged and nothing is
        cached.
    """
    if loader is None:
        from deeprank_like.structure import load_structure as loader
    path = os.fspath(path)
    if not is_enabled():
        return loader(path, model=model)
    try:
        key = _file_key(path, model)
    except OSError:
        return loader(path, model=model)  # the loader reports the missing/unreadable file
    with _lock:
        hit = _entries.get(key)
        previous = next(reversed(_entries)) if _entries else None
        if hit is not None:
            _entries.move_to_end(key)
            _stats["hits"] += 1
            # results memoised by the previous query may have grown its entry
            _evict(keep=key, refresh=(previous,))
            return hit
    structure = loader(path, model=model)
    with _lock:
        _stats["misses"] += 1
        if max_bytes() > 0:
            previous = next(reversed(_entries)) if _entries else None
            _entries[key] = structure
            _entries.move_to_end(key)
            _evict(keep=key, refresh=(previous,))
    return structure
