"""Cell values of a query table: empty markers, numbers, booleans, integers, target values.

Used by :mod:`deeprank_like.query.table`, which turns table rows into queries.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__: list[str] = []

_MISSING = {"", "na", "nan", "n/a", "none", "null"}
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


def _missing(value: Any) -> bool:
    """True for an empty cell: None, NaN, pandas NA/NaT or a missing-value marker."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return True
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    return isinstance(value, str) and value.strip().lower() in _MISSING


def _number(value: Any) -> float:
    """A cell as a float (text is stripped; raises ValueError/TypeError if not a number)."""
    if isinstance(value, bool):
        return float(value)
    return float(str(value).strip()) if isinstance(value, str) else float(value)


_INT_RE = re.compile(r"\s*[+-]?\d+\s*")


def _target_value(value: Any) -> int | float:
    """A target cell as a number: integer text / integer dtypes stay int (class labels)."""
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, str) and _INT_RE.fullmatch(value):
        return int(value)
    return _number(value)


def _is_numeric_column(series: Any) -> bool:
    """True if every non-empty cell of ``series`` is a number (and there is one)."""
    seen = False
    for value in series:
        if _missing(value):
            continue
        try:
            _number(value)
        except (TypeError, ValueError):
            return False
        seen = True
    return seen


def _bool(value: Any, name: str) -> bool:
    """A yes/no cell of column ``name`` as a bool (ValueError naming the column otherwise)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, got {value!r}")


def _int(value: Any, name: str) -> int:
    """An integer cell of column ``name`` (ValueError naming the column otherwise)."""
    number = _number(value)
    if not float(number).is_integer():
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(number)
