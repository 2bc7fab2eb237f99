"""Task metrics in numpy (no scikit-learn needed).

Regression: MAE, RMSE, R², MAPE (%) over all target columns. Classification: accuracy, ROC AUC
(binary; macro one-vs-rest for more classes), F1 (binary: class index 1 positive; macro
otherwise) and Matthews correlation (multi-class generalisation for more classes). Undefined
values (e.g. AUC with a single class present) are NaN.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "classification_metrics",
    "compute_metrics",
    "regression_metrics",
    "roc_auc",
    "roc_curve",
]


def regression_metrics(output: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, R² and MAPE of ``output`` vs ``target`` (any equal shapes)."""
    o = np.asarray(output, dtype=np.float64).reshape(-1)
    t = np.asarray(target, dtype=np.float64).reshape(-1)
    keep = np.isfinite(t)
    o, t = o[keep], t[keep]
    if t.size == 0:
        return {"mae": np.nan, "rmse": np.nan, "r2": np.nan, "mape": np.nan}
    err = o - t
    ss_tot = float(((t - t.mean()) ** 2).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        mape = float(np.mean(np.abs(err) / np.maximum(np.abs(t), 1e-8)) * 100)
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "r2": float(1 - (err**2).sum() / ss_tot) if ss_tot > 0 else np.nan,
        "mape": mape,
    }


def roc_curve(score: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct threshold (descending), from (0, 0)."""
    score = np.asarray(score, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    order = np.argsort(-score, kind="mergesort")
    s, p = score[order], positive[order]
    distinct = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tps = np.cumsum(p)[distinct]
    fps = (distinct + 1) - tps
    n_pos, n_neg = p.sum(), (~p).sum()
    tpr = np.r_[0.0, tps / n_pos] if n_pos else np.full(distinct.size + 1, np.nan)
    fpr = np.r_[0.0, fps / n_neg] if n_neg else np.full(distinct.size + 1, np.nan)
    return fpr, tpr


def roc_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half); NaN with a single class."""
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # Mann-Whitney U with average ranks
    score = np.asarray(score, dtype=np.float64)
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(score.size, dtype=np.float64)
    s = score[order]
    starts = np.r_[0, np.flatnonzero(np.diff(s)) + 1]
    ends = np.r_[starts[1:], s.size]
    avg = (starts + ends + 1) / 2.0  # 1-based average rank of each tie block
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _mcc(confusion: np.ndarray) -> float:
    c = confusion.astype(np.float64)
    t = c.sum(axis=1)  # true counts
    p = c.sum(axis=0)  # predicted counts
    n = c.sum()
    correct = np.trace(c)
    num = correct * n - (t * p).sum()
    den = np.sqrt(n**2 - (p * p).sum()) * np.sqrt(n**2 - (t * t).sum())
    return float(num / den) if den > 0 else 0.0


def classification_metrics(probabilities: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Accuracy, AUC, F1 and MCC from (B, C) class probabilities and (B,) class indices.

    Samples with a negative target (unlabelled) are ignored.
    """
    prob = np.asarray(probabilities, dtype=np.float64)
    t = np.asarray(target).reshape(-1).astype(np.int64)
    keep = t >= 0
    prob, t = prob[keep], t[keep]
    n_classes = prob.shape[1] if prob.ndim == 2 else 2
    if t.size == 0:
        return {"accuracy": np.nan, "auc": np.nan, "f1": np.nan, "mcc": np.nan}
    pred = prob.argmax(axis=1)
    confusion = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(confusion, (t, pred), 1)
    tp = np.diag(confusion).astype(np.float64)
    fp = confusion.sum(axis=0) - tp
    fn = confusion.sum(axis=1) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        f1_per = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    if n_classes == 2:
        auc = roc_auc(prob[:, 1], t == 1)
        f1 = float(f1_per[1])
    else:
        aucs = [roc_auc(prob[:, c], t == c) for c in range(n_classes)]
        aucs = [a for a in aucs if np.isfinite(a)]
        auc = float(np.mean(aucs)) if aucs else float("nan")
        f1 = float(f1_per.mean())
    return {
        "accuracy": float((pred == t).mean()),
        "auc": auc,
        "f1": f1,
        "mcc": _mcc(confusion),
    }


def compute_metrics(task: str, output: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Metrics of a task: ``output`` is the regression output or the class probabilities."""
    if task == "regress":
        return regression_metrics(output, target)
    return classification_metrics(output, target)
