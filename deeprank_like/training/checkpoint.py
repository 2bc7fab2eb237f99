"""Checkpoints: ``state_dict`` + JSON metadata, loadable with ``torch.load(weights_only=True)``.

File content (a plain dict)::

    {"format": "deeprank_like.checkpoint", "format_version": 1,
     "state_dict": {...tensors...},
     "metadata": "<JSON string>",            # see below
     "optimizer_state": {...} (optional, for resuming)}

Metadata: ``package_version``, ``torch_version``, ``created``, ``model`` (``name`` in the
network registry or ``"module:Class"``, ``config`` = constructor kwargs), ``data`` (the
dataset config: kind, features and widths, target, task, classes, transforms, exact
standardisation means/stds), ``loss``, ``training`` (epoch, seed, optimiser, lr, batch size…),
``metrics`` of the saved epoch. No pickled objects, no code.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deeprank_like.errors import TrainingError

__all__ = [
    "FORMAT",
    "load_checkpoint",
    "load_model",
    "model_from_metadata",
    "read_metadata",
    "save_checkpoint",
]

FORMAT = "deeprank_like.checkpoint"
FORMAT_VERSION = 1


def _package_version() -> str:
    try:
        from deeprank_like import __version__

        return str(__version__)
    except ImportError:  # pragma: no cover
        return "unknown"


def _json_default(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable in checkpoint metadata: {obj!r}")


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    metadata: dict[str, Any],
    optimizer_state: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temporary file + rename); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(metadata)
    meta.setdefault("package_version", _package_version())
    meta.setdefault("torch_version", torch.__version__)
    meta.setdefault("created", _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "state_dict": state,
        "metadata": json.dumps(meta, default=_json_default),
    }
    if optimizer_state is not None:
        payload["optimizer_state"] = optimizer_state
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """The checkpoint dict with ``metadata`` decoded (``torch.load(weights_only=True)``)."""
    path = os.fspath(path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise TrainingError(f"{path}: no such checkpoint") from None
    except Exception as exc:
        raise TrainingError(f"{path}: not a loadable deeprank_like checkpoint ({exc})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise TrainingError(f"{path}: not a deeprank_like checkpoint")
    if int(payload.get("format_version", 0)) > FORMAT_VERSION:
        raise TrainingError(
            f"{path}: checkpoint format {payload['format_version']} is newer than supported "
            f"({FORMAT_VERSION}); upgrade deeprank_like"
        )
    payload = dict(payload)
    payload["metadata"] = json.loads(payload["metadata"])
    return payload


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Only the metadata dict of a checkpoint."""
    return load_checkpoint(path)["metadata"]


def model_from_metadata(meta: dict[str, Any]) -> nn.Module:
    """Instantiate (untrained) the network described by checkpoint metadata.

    Uses the registry name; a name that is not registered in this process (its module not
    imported yet) falls back to the stored ``"module:Class"`` path.
    """
    from deeprank_like.nn.registry import available_models, build_model

    info = meta["model"]
    name = info["name"]
    if name not in available_models() and ":" not in name and info.get("class"):
        name = info["class"]
    return build_model(name, info["config"])


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Re-create the network of a checkpoint with its weights, in eval mode, on ``device``.

    The metadata is attached as ``model.checkpoint_metadata``.
    """
    payload = load_checkpoint(path)
    meta = payload["metadata"]
    model = model_from_metadata(meta)
    model.load_state_dict(payload["state_dict"])
    model.checkpoint_metadata = meta
    return model.to(device).eval()
