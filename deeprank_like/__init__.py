"""deeprank_like: geometric deep learning on 3D protein structures.

The query classes are imported eagerly; the heavier parts (torch-based datasets and training,
grids, processing) are imported on first use of their name, so ``import deeprank_like`` stays
fast in worker processes and on the command line.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import Any


def _quiet_tqdm_in_notebooks() -> None:
    """Import ``tqdm.auto`` once, without its notebook warning.

    torch_geometric imports ``tqdm.auto``, which in a Jupyter kernel without ipywidgets warns
    ``IProgress not found``; our own progress bars fall back to text there
    (:func:`deeprank_like.processing.run.progress_bar`), so the warning is only noise.
    """
    if "ipykernel.zmqshell" not in sys.modules or "tqdm.auto" in sys.modules:
        return
    try:
        from tqdm import TqdmWarning
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TqdmWarning)
        importlib.import_module("tqdm.auto")


_quiet_tqdm_in_notebooks()

from deeprank_like.query import (  # noqa: E402
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
    "FeaturizeConfig": "deeprank_like.processing",
    "GridConfig": "deeprank_like.processing",
    "Execution": "deeprank_like.processing",
    "StorageOptions": "deeprank_like.processing",
    "GraphDataset": "deeprank_like.data",
    "GridDataset": "deeprank_like.data",
    "Trainer": "deeprank_like.training",
    "betagm_eigenvalues": "deeprank_like.enm",
    "add_targets": "deeprank_like.storage.targets",
    "score_models": "deeprank_like.pretrained.docking",
    "predict_ddg": "deeprank_like.pretrained.ddg",
}

__all__ = [
    "Execution",
    "FeaturizeConfig",
    "GraphDataset",
    "GridConfig",
    "GridDataset",
    "GridSettings",
    "MapMethod",
    "ProteinProteinInterfaceQuery",
    "QueryCollection",
    "SingleResidueVariantQuery",
    "StorageOptions",
    "Trainer",
    "__version__",
    "add_targets",
    "betagm_eigenvalues",
    "load_structure",
    "predict_ddg",
    "process",
    "score_models",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'deeprank_like' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
