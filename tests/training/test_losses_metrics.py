"""Losses (per-sample values/weights) and numpy metrics against references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from deeprank_like.errors import TrainingError
from deeprank_like.training import classification_metrics, make_loss, regression_metrics, roc_auc


def _total(loss, out, target, weights=None):
    values, w = loss(out, target, weights)
    return (values.sum() / w.sum()).item()


def test_losses_match_torch():
    g = torch.Generator().manual_seed(0)
    out, target = torch.randn(6, 1, generator=g), torch.randn(6, 1, generator=g)
    assert _total(make_loss("mse", "regress"), out, target) == pytest.approx(
        F.mse_loss(out, target).item()
    )
    assert _total(make_loss("mae", "regress"), out, target) == pytest.approx(
        F.l1_loss(out, target).item()
    )
    mape = _total(make_loss("mape", "regress"), out, target)
    assert mape == pytest.approx(
        (100 * (out - target).abs() / target.abs()).mean().item(), rel=1e-6
    )
    logits, labels = torch.randn(6, 3, generator=g), torch.tensor([0, 1, 2, 2, 1, 2])
    w = torch.tensor([0.2, 0.3, 0.5])
    ce = _total(make_loss("cross_entropy", "classif"), logits, labels, w)
    assert ce == pytest.approx(F.cross_entropy(logits, labels, weight=w).item(), rel=1e-6)
    logit, binary = torch.randn(6, 1, generator=g), torch.tensor([0, 1, 1, 0, 1, 1])
    bce = _total(make_loss("bce_with_logits", "classif"), logit, binary)
    assert bce == pytest.approx(
        F.binary_cross_entropy_with_logits(logit[:, 0], binary.float()).item(), rel=1e-6
    )
    custom = make_loss(torch.nn.HuberLoss(), "regress")
    assert _total(custom, out, target) == pytest.approx(F.huber_loss(out, target).item(), rel=1e-6)


def test_loss_task_and_output_checks():
    with pytest.raises(TrainingError, match="is a classif loss"):
        make_loss("cross_entropy", "regress")
    with pytest.raises(TrainingError, match="unknown loss 'msee'"):
        make_loss("msee", "regress")
    with pytest.raises(TrainingError, match="single logit"):
        make_loss("bce_with_logits", "classif").check_output(2, 2, 1)
    with pytest.raises(TrainingError, match="one logit per class"):
        make_loss("cross_entropy", "classif").check_output(1, 2, 1)


def test_auc_matches_pair_counting():
    rng = np.random.default_rng(1)
    score = np.round(rng.random(40), 1)  # with ties
    positive = rng.random(40) > 0.5
    pairs = [
        1.0 if a > b else 0.5 if a == b else 0.0
        for a, b in itertools.product(score[positive], score[~positive])
    ]
    assert roc_auc(score, positive) == pytest.approx(np.mean(pairs))
    assert np.isnan(roc_auc(score, np.ones(40, bool)))


def test_classification_and_regression_metrics():
    prob = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.5, 0.5]])
    target = np.array([0, 1, 1, 1, -1])  # -1: unlabelled, ignored
    m = classification_metrics(prob, target)
    # predictions 0,1,0,1 vs 0,1,1,1: tp=2 fp=0 fn=1 tn=1
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["f1"] == pytest.approx(2 * 2 / (2 * 2 + 0 + 1))
    assert m["mcc"] == pytest.approx((2 * 1 - 0 * 1) / np.sqrt(2 * 3 * 1 * 2))
    assert m["auc"] == pytest.approx(1.0)
    r = regression_metrics(np.array([1.0, 2.0, 4.0]), np.array([1.0, 3.0, 3.0]))
    assert r["mae"] == pytest.approx(2 / 3)
    assert r["rmse"] == pytest.approx(np.sqrt(2 / 3))
    assert r["r2"] == pytest.approx(1 - 2 / (8 / 3))
    assert r["mape"] == pytest.approx(100 * (0 + 1 / 3 + 1 / 3) / 3)
