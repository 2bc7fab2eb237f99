"""Declarations of stored values: :class:`FeatureSpec` (one feature or target a module produces).

A neutral module at the bottom of the package: feature modules declare their outputs with it
and storage writes and reads the declarations (the ``feature_specs`` JSON attributes of a
feature file), so neither has to import the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["FEATURE_KINDS", "FeatureKind", "FeatureSpec"]

FeatureKind = Literal["node", "edge", "target"]
#: The values of :attr:`FeatureSpec.kind`.
FEATURE_KINDS: tuple[str, ...] = ("node", "edge", "target")

_FIELDS = ("name", "kind", "width", "unit", "description", "dtype", "module")


@dataclass(frozen=True, kw_only=True)
class FeatureSpec:
    """Declaration of one feature (or target) a module produces.

    Attributes
    ----------
    name : str
        Unique feature name, e.g. ``"res_charge"``.
    kind : {"node", "edge", "target"}
    width : int
        Number of columns (1 for scalars; targets: length of the value vector).
    unit : str
        Physical unit or ``"-"`` for dimensionless / one-hot / counts.
    description : str
        One line.
    dtype : str
        numpy dtype name of the computed values (storage may downcast floats to float32).
    module : str
        Name of the producing module (filled in by the framework).
    """

    name: str
    kind: FeatureKind
    width: int = 1
    unit: str = "-"
    description: str = ""
    dtype: str = "float64"
    module: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {k: getattr(self, k) for k in _FIELDS}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        """Inverse of :meth:`to_dict` (unknown keys are ignored)."""
        return cls(**{k: data[k] for k in _FIELDS if k in data})
