"""Batches for the Trainer: tagged items, worker errors, and the input widths of a batch.

Every item a :class:`~deeprank_like.training.Trainer` loads is tagged with its index in the
dataset (``sample_id``) and a weight (``sample_weight``: 1, or 0 for the padding items of
data-parallel training), so that predictions can be put back in dataset order and padding
ignored. The width helpers describe a batch and a network in words for the "first batch does
not fit" errors of :meth:`~deeprank_like.training.Trainer.preflight`.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset as TorchDataset
from torch_geometric.loader import DataLoader

from deeprank_like.errors import DeeprankLikeError, TrainingError

__all__ = [
    "TaggedDataset",
    "check_inherits",
    "declared_mismatch",
    "describe_widths",
    "expected_widths",
    "iterate_batches",
]


def iterate_batches(loader: DataLoader) -> Iterator[Any]:
    """Iterate ``loader``; a package error raised in a worker keeps its own one-line message.

    PyTorch re-raises a worker's exception as ``"Caught X in DataLoader worker process 0.
    Original Traceback ..."``; the reason (file, entry, feature) would be buried at its end.
    """
    it = iter(loader)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except DeeprankLikeError as exc:
            text = str(exc).rstrip()
            prefix = f"{type(exc).__module__}.{type(exc).__qualname__}: "
            last = text.splitlines()[-1] if text else ""
            if text.startswith("Caught ") and last.startswith(prefix):
                raise type(exc)(last[len(prefix) :]) from exc
            raise
        yield batch


class TaggedDataset(TorchDataset):
    """Items of a dataset tagged with ``sample_id`` and ``sample_weight`` (0: DDP padding)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, float]) -> Any:
        index, weight = key
        data = copy.copy(self.dataset[index])
        data.sample_id = torch.tensor([index], dtype=torch.long)
        data.sample_weight = torch.tensor([weight], dtype=torch.float32)
        return data

    def __getitems__(self, keys: list[tuple[int, float]]) -> list[Any]:
        """A batch of tagged items, through the dataset's ``__getitems__`` where it has one.

        A packed dataset reads and prepares a whole batch in one pass.
        """
        many = getattr(self.dataset, "__getitems__", None)
        if many is None:
            return [self[key] for key in keys]
        out = []
        for data, (index, weight) in zip(many([k[0] for k in keys]), keys, strict=True):
            data = copy.copy(data)
            data.sample_id = torch.tensor([index], dtype=torch.long)
            data.sample_weight = torch.tensor([weight], dtype=torch.float32)
            out.append(data)
        return out


def describe_widths(batch: Any) -> str:
    """The input widths of ``batch``, in words (for error messages)."""
    x = getattr(batch, "x", None)
    if x is None:
        return "no x"
    if x.dim() == 5:
        return f"{x.size(1)} grid channels of shape {tuple(x.shape[2:])}"
    ea = getattr(batch, "edge_attr", None)
    edge = ea.size(1) if ea is not None and ea.dim() == 2 else 0
    return f"{x.size(1)} node-feature columns and {edge} edge-feature columns"


def expected_widths(model: nn.Module) -> str:
    """The input widths ``model`` declares, in words (for error messages)."""
    if hasattr(model, "num_channels"):
        return f"{model.num_channels} channels of shape {tuple(getattr(model, 'grid_shape', ()))}"
    parts = []
    if hasattr(model, "num_node_features"):
        parts.append(f"{model.num_node_features} node-feature columns")
    if hasattr(model, "num_edge_features"):
        parts.append(f"{model.num_edge_features} edge-feature columns")
    return " and ".join(parts) if parts else "(unknown input widths)"


def declared_mismatch(model: nn.Module, batch: Any) -> bool:
    """True if the model's declared input widths (if any) differ from the batch's."""
    x = getattr(batch, "x", None)
    if x is None:
        return False
    if x.dim() == 5:
        channels = getattr(model, "num_channels", None)
        shape = getattr(model, "grid_shape", None)
        return (channels is not None and channels != x.size(1)) or (
            shape is not None and tuple(shape) != tuple(x.shape[2:])
        )
    expected = getattr(model, "num_node_features", None)
    if expected is not None and expected != x.size(1):
        return True
    ea = getattr(batch, "edge_attr", None)
    edge = ea.size(1) if ea is not None and ea.dim() == 2 else 0
    expected_edge = getattr(model, "num_edge_features", None)
    # a network may ignore edge features (num_edge_features=0)
    return bool(expected_edge) and expected_edge != edge


def check_inherits(train: Any, ds: Any, name: str) -> None:
    """TrainingError unless dataset ``ds`` reads its data as the training set ``train`` does.

    Parameters
    ----------
    train, ds : datasets
        The training set and a validation/test set; checked only if both are HDF5 datasets.
    name : str
        The argument name of ``ds`` (for the message).
    """
    from deeprank_like.data.base import HDF5Dataset

    if not (isinstance(train, HDF5Dataset) and isinstance(ds, HDF5Dataset)):
        return
    mine = train.data_config(include_stats=False)
    theirs = ds.data_config(include_stats=False)
    diff = sorted(k for k in mine if mine.get(k) != theirs.get(k))
    if diff:
        raise TrainingError(
            f"{name} reads the data differently from dataset_train ({diff}); create it with "
            f"train_source=dataset_train"
        )
    mine_stats, theirs_stats = train.standardizer, ds.standardizer
    if (
        mine_stats is not None
        and theirs_stats is not mine_stats
        and (theirs_stats is None or theirs_stats.to_dict() != mine_stats.to_dict())
    ):
        raise TrainingError(
            f"{name} does not use the training set's standardisation; create it with "
            f"train_source=dataset_train"
        )


# ---- checks ---------------------------------------------------------------------------------
