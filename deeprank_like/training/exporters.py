"""Training outputs: per-epoch metrics CSV, predictions CSV and (optional) matplotlib plots.

Plots need the ``plot`` extra (``pip install 'deeprank_like[plot]'``); matplotlib is imported
only when a plot is drawn.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from deeprank_like.training.metrics import roc_curve

__all__ = [
    "MetricsCSV",
    "plot_loss_curves",
    "plot_predictions",
    "plot_roc",
    "plot_scatter",
    "pyplot",
]


def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` with the Agg backend, or ImportError naming the extra to install."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "plots need matplotlib: pip install 'deeprank_like[plot]' (or pass plots=False)"
        ) from exc
    return plt


class MetricsCSV:
    """Append one row per (epoch, phase) to a CSV file; new metric names widen the header."""

    def __init__(self, path: str | os.PathLike, write: bool = True) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, Any]] = []
        self.write_enabled = write

    def add(self, row: dict[str, Any]) -> None:
        """Record a row and rewrite the file (small: one line per epoch and phase)."""
        self.rows.append(dict(row))
        if self.write_enabled:
            self.write()

    def write(self) -> None:
        """Write all rows."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        columns: list[str] = []
        for row in self.rows:
            columns += [k for k in row if k not in columns]
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns)
            writer.writeheader()
            for row in self.rows:
                writer.writerow({k: _fmt(v) for k, v in row.items()})
        os.replace(tmp, self.path)

    def frame(self) -> pd.DataFrame:
        """Rows as a DataFrame."""
        return pd.DataFrame(self.rows)


def _fmt(value: Any) -> Any:
    if isinstance(value, float | np.floating):
        return repr(float(value))
    return value


def plot_loss_curves(metrics: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Loss per epoch for each phase."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for phase, rows in metrics.groupby("phase", sort=False):
        ax.plot(rows["epoch"], rows["loss"], marker="o", ms=3, label=str(phase))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_scatter(predictions: pd.DataFrame, path: str | os.PathLike, title: str = "") -> Path:
    """Predicted vs true (regression)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4, 4))
    t = predictions["target"].to_numpy(dtype=float)
    o = predictions["output"].to_numpy(dtype=float)
    ax.scatter(t, o, s=8, alpha=0.6)
    lo = float(np.nanmin(np.r_[t, o])) if t.size else 0.0
    hi = float(np.nanmax(np.r_[t, o])) if t.size else 1.0
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_roc(predictions: pd.DataFrame, path: str | os.PathLike, title: str = "") -> Path:
    """ROC curve of a binary classifier (probability of class index 1)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4, 4))
    keep = predictions["target_index"].to_numpy() >= 0
    fpr, tpr = roc_curve(
        predictions["probability_1"].to_numpy()[keep],
        predictions["target_index"].to_numpy()[keep] == 1,
    )
    ax.plot(fpr, tpr)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_predictions(
    predictions: pd.DataFrame, task: str, path: str | os.PathLike, title: str = ""
) -> Path | None:
    """Scatter (regression) or ROC (binary classification); None for multi-class."""
    if task == "regress":
        return plot_scatter(predictions, path, title)
    if "probability_1" in predictions and "probability_2" not in predictions:
        return plot_roc(predictions, path, title)
    return None
