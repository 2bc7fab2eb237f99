"""Models shipped with the package, and the functions that apply them.

* :func:`predict_ddg` (:mod:`deeprank_like.pretrained.ddg`): protein-stability change (ΔΔG,
  kcal/mol, negative = destabilising) of single amino-acid substitutions.
* :func:`score_models` (:mod:`deeprank_like.pretrained.docking`): predicted DockQ, CAPRI class
  and rank of the models of a docking run.

Submodules are imported on first use, so ``import deeprank_like.pretrained`` is cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {
    "predict_ddg": "deeprank_like.pretrained.ddg",
    "load_ddg_model": "deeprank_like.pretrained.ddg",
    "score_models": "deeprank_like.pretrained.docking",
    "load_scoring_model": "deeprank_like.pretrained.docking",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'deeprank_like.pretrained' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
