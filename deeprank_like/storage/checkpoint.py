"""The checkpoint container: reading and validating the file (no network is built here).

A checkpoint is a ``torch.save`` dict loadable with ``torch.load(weights_only=True)``::

    {"format": "deeprank_like.checkpoint", "format_version": 1,
     "state_dict": {...tensors...},
     "metadata": "<JSON string>",
     "optimizer_state": {...} (optional, for resuming)}

The file format lives here, below the datasets and the trainer, so that a dataset can inherit
the data config of a checkpoint (``train_source="model.pt"``) without importing the training
stage; writing checkpoints and building their networks is
:mod:`deeprank_like.training.checkpoint`.
"""

from __future__ import annotations

import json
import os
from typing import Any

from deeprank_like.errors import TrainingError

__all__ = ["FORMAT", "FORMAT_VERSION", "read_checkpoint", "read_checkpoint_metadata"]

#: Value of the ``format`` key.
FORMAT = "deeprank_like.checkpoint"
#: Container version written by this package; readers refuse newer files.
FORMAT_VERSION = 1


def _load_error(path: str, exc: BaseException) -> TrainingError:
    """A one-line reason why ``torch.load`` refused ``path`` (never advising weights_only=False)."""
    import pickle

    if isinstance(exc, pickle.UnpicklingError):
        return TrainingError(
            f"{path}: refused: the file holds objects other than tensors and plain data (it is "
            f"not a deeprank_like checkpoint, or was crafted to run code); checkpoints are "
            f"loaded with torch.load(weights_only=True) only"
        )
    if isinstance(exc, EOFError) or "central directory" in str(exc) or "zip archive" in str(exc):
        size = os.path.getsize(path) if os.path.exists(path) else 0
        return TrainingError(
            f"{path}: truncated or damaged checkpoint ({size} bytes; the file ends before its "
            f"end-of-archive record): copy it again or retrain"
        )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return TrainingError(f"{path}: not a loadable deeprank_like checkpoint ({first[:200]})")


def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """The checkpoint dict with ``metadata`` decoded (``torch.load(weights_only=True)``).

    Raises
    ------
    TrainingError
        Missing, truncated or foreign file; objects other than tensors and plain data;
        metadata that is not a JSON object; a ``state_dict`` that is not a mapping of
        parameter names to tensors.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise TrainingError(f"{path}: is a directory, not a checkpoint file")
    import torch

    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise TrainingError(f"{path}: no such checkpoint") from None
    except Exception as exc:
        raise _load_error(path, exc) from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise TrainingError(f"{path}: not a deeprank_like checkpoint (no format={FORMAT!r} key)")
    version = payload.get("format_version", 0)
    if not isinstance(version, int) or isinstance(version, bool):
        raise TrainingError(f"{path}: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise TrainingError(
            f"{path}: checkpoint format {version} is newer than supported "
            f"({FORMAT_VERSION}); upgrade deeprank_like"
        )
    payload = dict(payload)
    raw = payload.get("metadata")
    if not isinstance(raw, str):
        raise TrainingError(
            f"{path}: checkpoint metadata must be a JSON string, got {type(raw).__name__}"
        )
    try:
        meta = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise TrainingError(f"{path}: checkpoint metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise TrainingError(
            f"{path}: checkpoint metadata must be a JSON object, got {type(meta).__name__}"
        )
    payload["metadata"] = meta
    state = payload.get("state_dict")
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise TrainingError(
            f"{path}: the checkpoint's state_dict must map parameter names to tensors"
        )
    return payload


def read_checkpoint_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Only the metadata dict of a checkpoint (validated as :func:`read_checkpoint` does)."""
    return read_checkpoint(path)["metadata"]
