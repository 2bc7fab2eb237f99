"""deeprank_like: geometric deep learning on 3D protein structures.

The query classes are imported eagerly; the heavier parts (torch-based datasets and training,
grids, processing) are imported on first use of their name, so ``import deeprank_like`` stays
fast in worker processes and on the command line.
"""

from __future__ import annotations

import importlib
from typing import Any

from deeprank_like.query import (
    ProteinProteinInterfaceQuery,
    QueryCollection,
    SingleResidueVariantQuery,
)

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "load_structure": "deeprank_like.structure",
    "GridSettings": "deeprank_like.grid",
    "MapMethod": "deeprank_like.grid",
    "process": "deeprank_like.processing",
    "GraphDataset": "deeprank_like.data",
    "GridDataset": "deeprank_like.data",
    "Trainer": "deeprank_like.training",
    "betagm_eigenvalues": "deeprank_like.enm",
    "add_targets": "deeprank_like.storage.targets",
}

__all__ = [
    "GraphDataset",
    "GridDataset",
    "GridSettings",
    "MapMethod",
    "ProteinProteinInterfaceQuery",
    "QueryCollection",
    "SingleResidueVariantQuery",
    "Trainer",
    "__version__",
    "add_targets",
    "betagm_eigenvalues",
    "load_structure",
    "process",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'deeprank_like' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
