"""Checkpoints: ``state_dict`` + JSON metadata, loadable with ``torch.load(weights_only=True)``.

File content (a plain dict)::

    {"format": "deeprank_like.checkpoint", "format_version": 1,
     "state_dict": {...tensors...},
     "metadata": "<JSON string>",            # see below
     "optimizer_state": {...} (optional, for resuming)}

Metadata: ``package_version``, ``torch_version``, ``created``, ``model`` (``name`` in the
network registry, ``class`` = its ``"module:Class"`` path, ``config`` = constructor kwargs), ``data`` (the
dataset config: kind, features and widths, target, task, classes, transforms, exact
standardisation means/stds), ``loss``, ``training`` (epoch, seed, optimiser, lr, batch size…),
``metrics`` of the saved epoch. No pickled objects, no code.

Loading trusts nothing in the file: ``torch.load(weights_only=True)`` only, the metadata must
be a JSON object, only *registered* networks are built (nothing named in the file is
imported; see :mod:`deeprank_like.nn.registry`), and weights must be finite and fit the
network exactly. Saving refuses a model with non-finite weights.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
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
    "restore_model",
    "save_checkpoint",
]

log = logging.getLogger(__name__)

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
    """Write a checkpoint atomically (temporary file + rename); returns the path.

    Raises
    ------
    TrainingError
        If a weight is NaN or infinite: such a model predicts nothing, and a checkpoint of it
        must not look like a trained model.
    """
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    bad = _non_finite(state)
    if bad:
        raise TrainingError(
            f"{path}: not saved: the model has non-finite weights (NaN/inf) in {len(bad)} "
            f"tensor(s): {bad[:5]}"
        )
    from deeprank_like.nn.registry import is_registered

    if not is_registered(model):
        log.warning(
            "%s: %s is not a registered network; the checkpoint can be loaded only after "
            "registering it (deeprank_like.nn.register_model or the entry-point group "
            "'deeprank_like.networks')",
            path,
            type(model).__qualname__,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(metadata)
    meta.setdefault("package_version", _package_version())
    meta.setdefault("torch_version", torch.__version__)
    meta.setdefault("created", _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
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


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
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


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Only the metadata dict of a checkpoint."""
    return load_checkpoint(path)["metadata"]


def model_from_metadata(meta: dict[str, Any], source: str = "checkpoint") -> nn.Module:
    """Instantiate (untrained) the network described by checkpoint metadata.

    Only registered networks can be built (see :mod:`deeprank_like.nn.registry`): the
    registry name ``model.name``, or the ``"module:Class"`` path in ``model.class`` when that
    class is registered under another name. Nothing named in the metadata is imported.

    Raises
    ------
    TrainingError
        Missing or malformed ``model`` record, or a network that is not registered.
    """
    from deeprank_like.nn.registry import available_models, build_model

    info = meta.get("model") if isinstance(meta, dict) else None
    if not isinstance(info, dict):
        raise TrainingError(f"{source}: metadata has no 'model' record (name and config)")
    name = info.get("name")
    config = info.get("config", {})
    if not isinstance(name, str) or not name:
        raise TrainingError(f"{source}: model.name must be a network name, got {name!r}")
    if not isinstance(config, dict):
        raise TrainingError(
            f"{source}: model.config must be a JSON object of constructor arguments, got {config!r}"
        )
    cls_path = info.get("class")
    if name not in available_models() and ":" not in name and isinstance(cls_path, str):
        name = cls_path
    try:
        return build_model(name, config)
    except TrainingError as exc:
        raise TrainingError(f"{source}: {exc}") from exc


def _non_finite(state: dict[str, torch.Tensor]) -> list[str]:
    return [
        k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]


def _mismatch(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> list[str]:
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} (network: {tuple(v.shape)})"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    parts = []
    if missing:
        parts.append(f"missing {missing[:5]}")
    if unexpected:
        parts.append(f"unexpected {unexpected[:5]}")
    if shapes:
        parts.append(f"wrong shapes {shapes[:5]}")
    return parts


def restore_model(payload: dict[str, Any], source: str = "checkpoint") -> nn.Module:
    """The network of a loaded checkpoint (:func:`load_checkpoint`) with its weights (CPU).

    The network is first built on PyTorch's ``meta`` device (no memory) and its parameter
    shapes compared with the stored tensors, so a config asking for a huge network fails
    before anything is allocated.

    Raises
    ------
    TrainingError
        Unregistered network, non-finite weights, or weights that do not fit the network
        (missing/unexpected parameters, wrong shapes), naming the parameters.
    """
    state = payload["state_dict"]
    meta = payload["metadata"]
    bad = _non_finite(state)
    if bad:
        raise TrainingError(
            f"{source}: the checkpoint holds non-finite weights (NaN/inf) in {len(bad)} "
            f"tensor(s): {bad[:5]}; it cannot predict anything"
        )

    def check(own: dict[str, torch.Tensor]) -> None:
        parts = _mismatch(own, state)
        if parts:
            raise TrainingError(
                f"{source}: the weights do not fit the network {meta['model']['name']!r} built "
                f"from the stored config: {'; '.join(parts)}"
            )

    try:
        with torch.device("meta"):
            skeleton: nn.Module | None = model_from_metadata(meta, source)
    except TrainingError:
        raise
    except Exception:  # a constructor that cannot run on the meta device: check after building
        skeleton = None
    if skeleton is not None:
        check(skeleton.state_dict())
    model = model_from_metadata(meta, source)
    check(model.state_dict())
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # e.g. a dtype that cannot be copied
        raise TrainingError(f"{source}: cannot load the weights ({exc})") from exc
    return model


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Re-create the network of a checkpoint with its weights, in eval mode, on ``device``.

    The metadata is attached as ``model.checkpoint_metadata``. Only registered networks are
    built (a checkpoint is data; see :func:`model_from_metadata`).
    """
    payload = load_checkpoint(path)
    model = restore_model(payload, os.fspath(path))
    model.checkpoint_metadata = payload["metadata"]
    return model.to(device).eval()
