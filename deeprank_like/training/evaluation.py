"""Tables of a Trainer's evaluation: predictions, metrics over labelled items, paths → dataset.

Functions of :meth:`Trainer.test <deeprank_like.training.Trainer.test>` and
:meth:`Trainer.predict <deeprank_like.training.Trainer.predict>`: they turn the result of one
pass over a dataset into the predictions table and the metrics of its labelled items.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from deeprank_like.errors import TrainingError

__all__ = ["dataset_for", "labelled_metrics", "predictions_frame"]


def labelled_metrics(res: dict[str, Any], task: str | None) -> dict[str, float]:
    """Loss and task metrics of a run over its labelled items (``{}`` if none is labelled).

    Parameters
    ----------
    res : dict
        The result of one pass over a dataset (``targets``, ``loss``, ``metrics``).
    task : {"regress", "classif"} or None
        The task; None gives ``{}``.

    Returns
    -------
    dict
        ``n_labelled`` (count), ``loss`` and the metrics of
        :func:`~deeprank_like.training.metrics.compute_metrics`.
    """
    targets = res["targets"]
    if targets is None or task is None:
        return {}
    if task == "classif":
        n = int((targets.reshape(-1) >= 0).sum())
    else:
        n = int(np.isfinite(targets.reshape(len(targets), -1)).all(axis=1).sum())
    if n == 0:
        return {}
    return {"n_labelled": n, "loss": res["loss"], **res["metrics"]}


def dataset_for(data: Any, dataset_train: Any, checkpoint_meta: dict[str, Any] | None) -> Any:
    """``data`` as a dataset: HDF5 path(s) are read as the training data, anything else is kept.

    Parameters
    ----------
    data : path, sequence of paths, or dataset
        What to predict.
    dataset_train : dataset or None
        The Trainer's training set; its data config is used for paths.
    checkpoint_meta : dict or None
        Checkpoint metadata; its ``data`` section is used without a training set.

    Raises
    ------
    TrainingError
        Paths with neither a training dataset nor a checkpoint holding a dataset config.
    """
    if isinstance(data, str | os.PathLike) or (
        isinstance(data, Sequence) and data and all(isinstance(p, str | os.PathLike) for p in data)
    ):
        from deeprank_like.data import GraphDataset, GridDataset

        source: Any = None
        if dataset_train is not None and hasattr(dataset_train, "data_config"):
            source = dataset_train
        elif checkpoint_meta is not None:
            source = checkpoint_meta.get("data")
            if not isinstance(source, dict) or source.get("dataset") not in ("graph", "grid"):
                raise TrainingError(
                    "the checkpoint holds no dataset config (metadata 'data' with dataset "
                    "'graph' or 'grid'); pass a dataset to predict instead of file paths"
                )
        if source is None:
            raise TrainingError("predicting from files needs a training dataset or a checkpoint")
        kind = source.kind if hasattr(source, "kind") else source["dataset"]
        cls = GridDataset if kind == "grid" else GraphDataset
        return cls(data, train_source=source)
    return data


def predictions_frame(
    dataset: Any, res: dict[str, Any], task: str | None, classes: list[Any] | None
) -> pd.DataFrame:
    """The predictions table of one pass over ``dataset`` (see :meth:`Trainer.predict`).

    Parameters
    ----------
    dataset : dataset
        The dataset that was run (HDF5 datasets add ``file``, ``pdb_path``, ``grid_number``).
    res : dict
        The pass's result: ``ids`` (N,), ``outputs`` (N, C) (regression values or class
        probabilities), ``raw`` (N, C) network outputs, ``targets`` or None.
    task : {"regress", "classif"} or None
        The task.
    classes : list or None
        Class values (classification).

    Returns
    -------
    pandas.DataFrame
        One row per item, in dataset order.
    """
    ids = res["ids"]
    cols: dict[str, Any] = {}
    if hasattr(dataset, "item_info"):
        infos = [dataset.item_info(int(i)) for i in ids]
        cols["entry"] = [d["entry"] for d in infos]
        cols["file"] = [d["file"] for d in infos]
        if infos and "pdb_path" in infos[0]:
            cols["pdb_path"] = [d["pdb_path"] for d in infos]
        if infos and "grid_number" in infos[0]:
            cols["grid_number"] = [d["grid_number"] for d in infos]
    else:
        cols["entry"] = [str(getattr(dataset[int(i)], "entry_id", int(i))) for i in ids]
    targets = res["targets"]
    outputs = res["outputs"]
    if task == "classif":
        classes = list(classes or [])
        if targets is not None:
            t = targets.reshape(-1).astype(int)
            cols["target"] = [classes[c] if c >= 0 else np.nan for c in t]
            cols["target_index"] = t
        else:
            cols["target"] = np.nan
        pred = outputs.argmax(axis=1)
        cols["predicted_class"] = [classes[c] for c in pred]
        for c, value in enumerate(classes):
            cols[f"probability_{value}"] = outputs[:, c]
        for j in range(res["raw"].shape[1]):
            cols[f"output_{j}"] = res["raw"][:, j]
    else:
        width = outputs.shape[1] if outputs.ndim == 2 else 1
        out2 = outputs.reshape(len(ids), width)
        t2 = targets.reshape(len(ids), -1) if targets is not None else None
        if width == 1:
            cols["target"] = t2[:, 0] if t2 is not None else np.nan
            cols["output"] = out2[:, 0]
        else:
            for j in range(width):
                cols[f"target_{j}"] = t2[:, j] if t2 is not None else np.nan
                cols[f"output_{j}"] = out2[:, j]
    return pd.DataFrame(cols)
