"""One name resolver for every "string → class/function" table of the package.

Feature modules, networks, grid map methods, optimisers, learning-rate schedulers and losses
are all chosen by name. They resolve through :func:`resolve_name` (or :func:`resolve` for a
plain dict), modelled on PyTorch Geometric's ``torch_geometric.nn.resolver``:

* the lookup ignores case, ``_``, ``-``, spaces and dots: ``"cross_entropy"``,
  ``"CrossEntropy"`` and ``"cross-entropy"`` are the same name;
* the Python name of a registered class or function is accepted too (``"ReduceLROnPlateau"``
  for ``"plateau"``, ``"GINENet"`` for ``"gine"``), with or without a table-specific suffix
  (``suffixes=("loss",)`` makes ``"mse_loss"``, ``"MSELoss"`` and ``"mse"`` one name);
* an unknown name is one error that lists the valid choices and the closest match::

      unknown loss 'msee'; available: bce_with_logits, cross_entropy, huber, l1, mae, mape,
      mse. Did you mean 'mse'?

An exact key always wins, so names registered by users keep their exact spelling. Two
different entries that differ only in case or punctuation are an error at lookup time rather
than a silent pick.

This module sits at the bottom of the package: it imports nothing of ``deeprank_like``
except :mod:`deeprank_like.errors`.

>>> resolve("Adam_W", {"adam": 1, "adamw": 2}, what="optimizer")
2
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from deeprank_like.errors import DeeprankLikeError

__all__ = ["closest_match", "normalize_name", "python_name", "resolve", "resolve_name"]

T = TypeVar("T")

_DROPPED = str.maketrans("", "", "_- .")


def normalize_name(name: str, suffixes: Sequence[str] = ()) -> str:
    """The comparison form of ``name``: lower case, without ``_``, ``-``, spaces and dots.

    Parameters
    ----------
    name : str
        A name as a user typed it.
    suffixes : sequence of str
        Suffixes removed from the end of the normalised name (the first one that matches and
        leaves something), e.g. ``("loss",)`` turns ``"MSELoss"`` into ``"mse"``.

    Returns
    -------
    str
        The normalised name.
    """
    key = name.lower().translate(_DROPPED)
    for suffix in suffixes:
        tail = normalize_name(suffix)
        if tail and key.endswith(tail) and len(key) > len(tail):
            return key[: -len(tail)]
    return key


def python_name(value: Any) -> str | None:
    """The Python name of a class or function, or of an ``"pkg.module:Class"`` import path.

    Returns None for anything else (instances, numbers, enum members...).
    """
    if isinstance(value, str):
        if ":" not in value:
            return None
        return value.rsplit(":", 1)[1].rsplit(".", 1)[-1].strip() or None
    if isinstance(value, type) or (callable(value) and hasattr(value, "__qualname__")):
        return getattr(value, "__name__", None)
    return None


def closest_match(query: str, choices: Iterable[str], suffixes: Sequence[str] = ()) -> str | None:
    """The choice closest to ``query`` (:func:`difflib.get_close_matches`), or None."""
    by_form: dict[str, str] = {}
    for choice in choices:
        by_form.setdefault(normalize_name(choice, suffixes), choice)
    best = difflib.get_close_matches(
        normalize_name(query, suffixes), list(by_form), n=1, cutoff=0.6
    )
    return by_form[best[0]] if best else None


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # e.g. arrays: not one entry
        return False


def _unknown(
    query: Any,
    choices: Iterable[str],
    what: str,
    suffixes: Sequence[str],
    hint: str,
    error: Callable[[str], Exception],
) -> Exception:
    listed = sorted(choices)
    message = f"unknown {what} {query!r}; available: {', '.join(listed) or '(none)'}"
    if isinstance(query, str):
        best = closest_match(query, listed, suffixes)
        if best is not None:
            message += f". Did you mean {best!r}?"
    if hint:
        message += f" ({hint})"
    return error(message)


def resolve_name(
    query: str,
    choices: Mapping[str, Any] | Iterable[str],
    *,
    what: str,
    aliases: Mapping[str, str] | None = None,
    suffixes: Sequence[str] = (),
    python_names: bool = True,
    hint: str = "",
    error: Callable[[str], Exception] = DeeprankLikeError,
) -> str:
    """The registry key that ``query`` names.

    Parameters
    ----------
    query : str
        The name to look up (surrounding white space is ignored).
    choices : mapping or iterable of str
        The registry: its keys are the canonical names. For a mapping, the Python names of
        its values (classes, functions or ``"pkg.mod:Class"`` paths; see :func:`python_name`)
        are accepted as further spellings unless ``python_names`` is False.
    what : str
        What a name stands for, for the error message (``"loss"``, ``"network"``...).
    aliases : mapping, optional
        Extra spellings → canonical key (the key must be in ``choices``).
    suffixes : sequence of str
        Suffixes ignored at the end of both the query and the registered names (e.g.
        ``("loss",)``, ``("lr",)``, ``("net",)``).
    python_names : bool
        Accept the Python names of the values (default True).
    hint : str
        Appended to the error message in parentheses (e.g. how to register a new entry).
    error : exception class or callable(message) → exception
        What to raise for an unknown or ambiguous name (default
        :class:`~deeprank_like.errors.DeeprankLikeError`).

    Returns
    -------
    str
        The canonical key, an element of ``choices``.

    Raises
    ------
    error
        If ``query`` is not a string, matches nothing (the message lists every canonical
        key and the closest one), or matches two different entries.
    """
    keys = list(choices)
    if not isinstance(query, str):
        raise _unknown(query, keys, what, suffixes, hint, error)
    name = query.strip()
    if name in keys:
        return name
    forms: dict[str, set[str]] = {}

    def add(spelling: str, key: str) -> None:
        forms.setdefault(normalize_name(spelling, suffixes), set()).add(key)
        forms.setdefault(normalize_name(spelling), set()).add(key)

    for key in keys:
        add(key, key)
        if python_names and isinstance(choices, Mapping):
            pyname = python_name(choices[key])
            if pyname:
                add(pyname, key)
    for alias, key in (aliases or {}).items():
        if key not in keys:
            raise ValueError(f"alias {alias!r} names {key!r}, which is not a {what}")
        add(alias, key)
    found: set[str] = set()
    for form in {normalize_name(name), normalize_name(name, suffixes)}:
        found |= forms.get(form, set())
    if not found:
        raise _unknown(query, keys, what, suffixes, hint, error)
    if len(found) > 1 and isinstance(choices, Mapping):
        # several keys for one entry (e.g. "mae" and "l1"): take the first, in table order
        values = [choices[key] for key in found]
        if all(value is values[0] or _same(value, values[0]) for value in values):
            return next(key for key in keys if key in found)
    if len(found) > 1:
        raise error(
            f"{what} {query!r} is ambiguous: it matches {', '.join(sorted(found))}; "
            "spell one of them exactly"
        )
    return found.pop()


def resolve(
    query: str,
    registry: Mapping[str, T],
    *,
    what: str,
    aliases: Mapping[str, str] | None = None,
    suffixes: Sequence[str] = (),
    python_names: bool = True,
    hint: str = "",
    error: Callable[[str], Exception] = DeeprankLikeError,
) -> T:
    """``registry[resolve_name(query, registry, ...)]``: the entry that ``query`` names.

    The arguments are those of :func:`resolve_name`.

    >>> import torch
    >>> resolve("ReduceLROnPlateau", {"plateau": torch.optim.lr_scheduler.ReduceLROnPlateau},
    ...         what="scheduler").__name__
    'ReduceLROnPlateau'
    """
    key = resolve_name(
        query,
        registry,
        what=what,
        aliases=aliases,
        suffixes=suffixes,
        python_names=python_names,
        hint=hint,
        error=error,
    )
    return registry[key]
