"""The pieces config sections are made of: field checks, metadata, (de)serialisation helpers.

Each field of a config section carries ``metadata={"check", "doc", "cli"}`` (see :func:`meta`):
the check that runs when the section is built, a one-line description, and optionally the
command-line flag that sets it. :func:`check_fields` runs every check; an error names the
section, the key and the value.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable
from dataclasses import MISSING, fields
from typing import Any

from deeprank_like.errors import DeeprankLikeError, GridError
from deeprank_like.grid.settings import MapMethod

__all__ = [
    "ConfigError",
    "check_fields",
    "meta",
    "section_from_dict",
    "section_to_dict",
    "toml_value",
]


class ConfigError(DeeprankLikeError, ValueError):
    """A config (file, command line or Python) is unreadable or does not follow the schema.

    ``field`` is the dotted name of the offending field (``"grid.sigma"``) when known.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


# ---- value checks: each returns None or what is wrong ----------------------------------------
Check = Callable[[Any], str | None]


def is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(value: Any) -> str | None:
    return None if is_int(value) and value >= 1 else "must be a positive integer"


def optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def non_negative_int(value: Any) -> str | None:
    return None if is_int(value) and value >= 0 else "must be an integer >= 0"


def positive_number(value: Any) -> str | None:
    ok = is_number(value) and math.isfinite(value) and value > 0
    return None if ok else "must be a number > 0 (Å)"


def positive_sigmas(value: Any) -> str | None:
    ok = is_number(value) and math.isfinite(value) and value > 0
    return None if ok else "must be a number > 0 (in units of σ)"


def boolean(value: Any) -> str | None:
    return None if isinstance(value, bool) else "must be true or false"


def one_of(*choices: str) -> Check:
    return lambda value: None if value in choices else f"must be one of {list(choices)}"


def executor_name(value: Any) -> str | None:
    from deeprank_like.processing.executors import EXECUTOR_NAMES

    if isinstance(value, str) and value.strip():
        name = value.strip().lower()
        if name in EXECUTOR_NAMES or "://" in name:
            return None
    return f"must be one of {list(EXECUTOR_NAMES)} or a dask scheduler address (tcp://...)"


def shard_pair(value: Any) -> str | None:
    ok = (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(is_int(v) for v in value)
        and 0 <= value[0] < value[1]
    )
    return None if ok else "must be [i, n] with 0 <= i < n"


def triple(check: Callable[[Any], bool], what: str) -> Check:
    def run(value: Any) -> str | None:
        ok = isinstance(value, list | tuple) and len(value) == 3 and all(check(v) for v in value)
        return None if ok else f"must be a list of three {what}"

    return run


def map_method(value: Any) -> str | None:
    try:
        MapMethod.parse(value)
    except GridError:
        return f"must be one of {[m.value for m in MapMethod]}"
    return None


def seed_value(value: Any) -> str | None:
    return None if value is None or is_int(value) else "must be an integer (or absent)"


# ---- command-line parsers of grid fields (their flags live in the field metadata) -----------
def parse_triple(cast: Callable[[str], Any]) -> Callable[[str], list]:
    def parse(text: str) -> list:
        parts = text.replace("x", ",").split(",")
        if len(parts) != 3:
            raise ValueError(f"needs three comma-separated values, got {text!r}")
        try:
            return [cast(v) for v in parts]
        except ValueError:
            raise ValueError(f"cannot read {text!r} as three numbers") from None

    return parse


def meta(*, check: Check, doc: str, cli: dict[str, Any] | None = None) -> dict[str, Any]:
    """Field metadata: its check, one-line doc, and (optionally) its command-line flag."""
    return {"check": check, "doc": doc, "cli": cli}


def check_fields(obj: Any, where: str) -> None:
    for f in fields(obj):
        check = f.metadata.get("check")
        if check is None:
            continue
        value = getattr(obj, f.name)
        problem = check(value)
        if problem:
            raise ConfigError(f"{where}: {f.name} {problem}, got {value!r}", f.name)


def section_from_dict(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: must be a table/mapping, got {data!r}")
    valid = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(data) - valid)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; valid: {sorted(valid)}")
    missing = [k for k in required_fields(cls) if k not in data]
    if missing:
        raise ConfigError(f"{where}: needs {' and '.join(map(repr, missing))}", missing[0])
    return cls(**data)


def required_fields(cls: type) -> list[str]:
    """The fields of a config section without a default."""
    return [
        f.name
        for f in fields(cls)
        if f.init and f.default is MISSING and f.default_factory is MISSING
    ]


def plain(value: Any) -> Any:
    """Tuples → lists, enums → values: the JSON form of a field value."""
    if isinstance(value, MapMethod):
        return value.value
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


def section_to_dict(obj: Any) -> dict[str, Any]:
    return {f.name: plain(getattr(obj, f.name)) for f in fields(obj) if f.init}


def toml_value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v, where) for v in value) + "]"
    if isinstance(value, dict):
        items = ", ".join(
            f"{json.dumps(k, ensure_ascii=False)} = {toml_value(v, f'{where}.{k}')}"
            for k, v in value.items()
        )
        return "{" + items + "}"
    if value is None:
        raise ConfigError(
            f"{where}: None cannot be written to TOML (no null); save the config as YAML or JSON"
        )
    raise ConfigError(f"{where}: {value!r} is not TOML data")
