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
from deeprank_like.storage.checkpoint import FORMAT, FORMAT_VERSION, read_checkpoint

__all__ = [
    "FORMAT",
    "load_checkpoint",
    "load_model",
    "model_from_metadata",
    "read_metadata",
    "restore_model",
    "save_checkpoint",
    "trainer_settings",
]

log = logging.getLogger(__name__)


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


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """The checkpoint dict with ``metadata`` decoded (``torch.load(weights_only=True)``).

    The container is read and validated by
    :func:`deeprank_like.storage.checkpoint.read_checkpoint` (below the datasets, which read
    a checkpoint's data config).

    Raises
    ------
    TrainingError
        Missing, truncated or foreign file; objects other than tensors and plain data;
        metadata that is not a JSON object; a ``state_dict`` that is not a mapping of
        parameter names to tensors.
    """
    return read_checkpoint(path, map_location)


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


def _meta_section(meta: dict[str, Any], key: str, source: str) -> dict[str, Any]:
    """``meta[key]`` of checkpoint metadata as a dict ({} if absent; TrainingError if not a dict)."""
    value = meta.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TrainingError(f"{source}: metadata {key!r} must be a JSON object, got {value!r}")
    return value


def trainer_settings(meta: dict[str, Any], source: str = "checkpoint") -> dict[str, Any]:
    """The Trainer settings a checkpoint's metadata records, checked.

    Parameters
    ----------
    meta : dict
        Checkpoint metadata (:func:`read_metadata`).
    source : str
        Where the metadata comes from (for messages).

    Returns
    -------
    dict
        ``task`` (None, "regress" or "classif"), ``classes`` (list or None), ``loss`` (the
        loss name or None), ``epoch`` (int >= 0; 0 if missing or invalid) and ``optimizer``
        (the optimiser's name, or None).

    Raises
    ------
    TrainingError
        A ``loss``/``training`` section that is not an object, classes that are not a list
        of numbers/strings, or an unknown task.
    """
    loss_info = _meta_section(meta, "loss", source)
    training = _meta_section(meta, "training", source)
    classes = meta.get("classes")
    if classes is not None and not (
        isinstance(classes, list)
        and all(isinstance(c, int | float | str) and not isinstance(c, bool) for c in classes)
    ):
        raise TrainingError(f"{source}: classes must be a list of class values, got {classes!r}")
    task = meta.get("task")
    if task not in (None, "regress", "classif"):
        raise TrainingError(f"{source}: task must be 'regress' or 'classif', got {task!r}")
    epoch = training.get("epoch", 0) or 0
    return {
        "task": task,
        "classes": classes,
        "loss": loss_info.get("name"),
        "epoch": epoch if isinstance(epoch, int) and epoch >= 0 else 0,
        "optimizer": training.get("optimizer"),
    }


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
