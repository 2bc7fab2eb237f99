"""DeepRank2's ``Trainer`` arguments: translated to ours with a warning, or refused with advice.

Every argument of DeepRank2's (v3.1.0) ``Trainer(...)`` and ``Trainer.train(...)`` is handled;
docs/coming-from-deeprank2.md has the table. Renamed arguments work and raise a
``DeprecationWarning`` that names ours; arguments whose job is done differently here are a
``TypeError`` that says what to do instead; nothing is silently ignored except the no-ops
``ngpu=0/1``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

__all__ = ["TRAIN_RENAMES", "init_kwargs", "loss_name", "train_kwargs"]

#: ``Trainer.train`` arguments renamed: DeepRank2 name → ours.
TRAIN_RENAMES = {
    "nepoch": "epochs",
    "earlystop_patience": "early_stopping_patience",
    "earlystop_maxgap": "max_gap",
    "min_epoch": "max_gap_min_epoch",
    "filename": "checkpoint",
}

_INIT_REFUSED = {
    "val_size": "val_size/test_size: split the dataset first, seeded and grouped: "
    "train, val, test = deeprank_like.data.split_dataset(dataset, (0.8, 0.1, 0.1), seed=0); "
    "Trainer(model, train, val, test)",
    "test_size": "val_size/test_size: split the dataset first, seeded and grouped: "
    "train, val, test = deeprank_like.data.split_dataset(dataset, (0.8, 0.1, 0.1), seed=0); "
    "Trainer(model, train, val, test)",
    "pretrained_model": "pretrained_model=path: use Trainer.from_checkpoint(path, "
    "dataset_test=...) (or .predict(files)); the checkpoint holds the network and the data "
    "config, so no neuralnet is needed",
    "output_exporters": "output_exporters: outputs are always written to output_dir "
    "(metrics.csv per epoch and phase, predictions_test.csv, model.pt; plots=True draws loss "
    "curves and predicted-vs-true / ROC plots); pass output_dir= instead",
}


def _renamed(old: str, new: str, where: str, extra: str = "") -> None:
    warnings.warn(
        f"{where}: {old}= is DeepRank2's name; use {new}={extra}",
        DeprecationWarning,
        stacklevel=4,
    )


def init_kwargs(kwargs: Mapping[str, Any], device: Any) -> tuple[Any, Any]:
    """``(neuralnet, device)`` from DeepRank2's extra ``Trainer`` arguments.

    ``neuralnet`` (a network class, built from the training set, or an instance) is
    accepted; ``cuda`` → ``device`` with a DeprecationWarning; ``ngpu`` > 1 and the
    arguments of ``_INIT_REFUSED`` are TypeErrors naming what to do.
    """
    neuralnet = None
    for name, value in kwargs.items():
        if name == "neuralnet":
            neuralnet = value
        elif name == "cuda":
            device = "cuda" if value else "cpu"
            _renamed("cuda", "device", "Trainer", f"{device!r}")
        elif name == "ngpu":
            if int(value) > 1:
                raise TypeError(
                    f"Trainer: ngpu={value}: several GPUs are used through DDP, one process "
                    f"per GPU: torchrun --nproc-per-node {int(value)} -m deeprank_like.cli "
                    f"train config.yaml (docs/training.md, 'Data-parallel training')"
                )
        elif name in _INIT_REFUSED:
            if value is None:
                continue
            raise TypeError(f"Trainer: {_INIT_REFUSED[name]}")
        else:
            raise TypeError(
                f"Trainer() got an unexpected keyword argument {name!r} (DeepRank2's "
                f"arguments are explained in docs/coming-from-deeprank2.md)"
            )
    return neuralnet, device


def train_kwargs(
    kwargs: Mapping[str, Any], current: dict[str, Any], has_validation: bool
) -> dict[str, Any]:
    """Our ``train`` arguments updated from DeepRank2's (``current`` holds ours).

    Returns ``current`` with the translated values and ``validate`` (True unless
    ``validate=False`` was given). Giving both names of one argument is a TypeError.
    """
    out = dict(current)
    out.setdefault("validate", True)
    for name, value in kwargs.items():
        if name in TRAIN_RENAMES:
            ours = TRAIN_RENAMES[name]
            if out.get(ours) not in (None, value) and ours not in ("checkpoint", "epochs"):
                raise TypeError(f"train(): give {ours}= or {name}=, not both")
            if ours == "epochs" and out.get("epochs") is not None:
                raise TypeError("train(): give epochs= or nepoch=, not both")
            out[ours] = value
            extra = ""
            if ours == "checkpoint":
                # DeepRank2's filename is a path from the working directory
                out[ours] = None if value is None else os.path.abspath(os.fspath(value))
                extra = (
                    " (a file name in output_dir, or a path; our checkpoint format, not "
                    "DeepRank2's)"
                )
            _renamed(name, ours, "train()", extra)
        elif name == "validate":
            if value and not has_validation:
                raise TypeError(
                    "train(validate=True) needs a validation set: Trainer(model, train, val, "
                    "...); without validate=, validation runs whenever there is one"
                )
            out["validate"] = bool(value)
        else:
            raise TypeError(
                f"train() got an unexpected keyword argument {name!r} (DeepRank2's "
                f"arguments are explained in docs/coming-from-deeprank2.md)"
            )
    if out.get("epochs") is None:
        raise TypeError("train() needs the number of epochs: train(epochs=...)")
    return out


def loss_name(lossfunction: Any) -> Any:
    """Our loss for a ``torch.nn`` loss class or instance (DeepRank2's ``set_lossfunction``)."""
    from torch import nn

    table = {
        nn.MSELoss: "mse",
        nn.L1Loss: "mae",
        nn.HuberLoss: "huber",
        nn.SmoothL1Loss: "huber",
        nn.CrossEntropyLoss: "cross_entropy",
        nn.BCEWithLogitsLoss: "bce_with_logits",
    }
    cls = lossfunction if isinstance(lossfunction, type) else type(lossfunction)
    if lossfunction is None:
        return None
    if cls in table:
        return table[cls]
    if isinstance(lossfunction, type):
        try:
            return lossfunction()
        except TypeError as exc:
            raise TypeError(f"set_lossfunction: cannot instantiate {cls.__name__}: {exc}") from exc
    return lossfunction
