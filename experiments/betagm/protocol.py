"""The eigenvalue-prediction experiment of Giulini & Potestio (2019), with a GNN beside the CNN.

Protocol (``docs/betagm_experiment.md``; facts from ``spec/paper-cnn.md``, decisions ours)
-------------------------------------------------------------------------------------------
1. **Chains.** Single-chain PDB entries (``index.json`` of the protein folder, or every file with
   exactly one amino-acid chain) of at least ``window`` residues. A chain's trace is its residues
   with a Cα atom, in file order; amino acids without Cα leave a gap that the chain-break test sees.
2. **Decoys.** Sliding windows of ``window`` (100) consecutive residues, every ``step`` residues
   (the paper uses step 1 on 101–110-residue chains). Each window is a standalone chain (its ends
   are termini without Cβ). A window is *skipped, and recorded in the skip table*, when it spans a
   chain break (consecutive Cα > 4.2 Å) or when its β-GM has a zero-mode count other than 6.
3. **Targets.** λ₇..λ₁₆ of the β-GM (:mod:`deeprank_like.enm.betagm`, spec defaults).
   Chains are read by :func:`deeprank_like.enm.load_chain` (the library's ``ca_trace`` with
   ``missing_ca="drop"``).
4. **Groups.** Windows inherit the *protein group* of their chain: chains whose sequences share at
   least half of their 3-mers (single linkage) form one group, so the many PDB entries of one
   protein (e.g. lysozyme mutants) are one group. Cross-validation folds are groups, never windows:
   every test prediction is for a protein the models have not seen in any form.
5. **Reversal.** A window and its reverse (``ca[::-1]``) have the same β-GM spectrum; the reverse is
   added to the training folds only (J C J for the Coulomb matrix; reversed node order for graphs).
6. **Models.** The paper's CNN on the Cα Coulomb matrix (:class:`~deeprank_like.nn.CoulombCNN`);
   a residue-graph GNN (:class:`~deeprank_like.nn.ResidueGraphGNN`, a wrapper around
   :class:`~deeprank_like.nn.GINENet`) on Cα contact graphs with residue-type features; and the
   uninformative baseline (training-set mean of each eigenvalue). A second, stronger constant
   reference is reported too: the MAPE-optimal constant (the 1/λ-weighted median of the training
   targets), because with heavy-tailed targets MAPE rewards shrinking predictions towards zero.
7. **Metric.** Per-eigenvalue MAPE (%) on the held-out folds, averaged over folds and repeats.
8. **Any length.** The GNN is also evaluated on whole chains longer than ``window`` (no pruning),
   held out by protein group (5-fold grouped CV over chains, trained on the windows of the other
   groups).

This module is the protocol only, built on the public API of ``deeprank_like``: chains,
windows and targets (:mod:`deeprank_like.enm.samples`), protein groups and grouped folds
(:mod:`deeprank_like.data.split`), the two datasets (:mod:`deeprank_like.data.coulomb_dataset`,
:mod:`deeprank_like.data.ca_graph_dataset`), the two networks (:mod:`deeprank_like.nn`), the
losses (:mod:`deeprank_like.training.losses`) and the :class:`~deeprank_like.training.Trainer`.
Reports are in :mod:`experiments.betagm.report`; ``python -m experiments.betagm`` runs it all.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from torch import nn

from deeprank_like.data.ca_graph_dataset import EDGE_FEATURES, NODE_FEATURES, ResidueGraphDataset
from deeprank_like.data.coulomb_dataset import CoulombMatrixDataset
from deeprank_like.data.split import assign_sequence_groups, grouped_kfold
from deeprank_like.enm import BetaGMConfig
from deeprank_like.enm.samples import (
    ChainRecord,
    EigenSamples,
    eigenvalue_names,
    make_windows,
    mape_optimal_constant,
    mean_baseline,
    whole_chains,
)
from deeprank_like.errors import EnmError
from deeprank_like.nn import CoulombCNN, ResidueGraphGNN
from deeprank_like.training import Trainer
from deeprank_like.training.losses import log_l1_loss, mape_log_l1_loss

__all__ = [
    "LOSS_CHOICES",
    "OPTIMIZER_CHOICES",
    "ExperimentConfig",
    "ExperimentResult",
    "fit_predict",
    "log_target_stats",
    "run_experiment",
    "summarise",
]

log = logging.getLogger(__name__)

#: Training losses of the protocol by name → what the Trainer gets: its ``"mape"`` (percent), or
#: the batch-mean functions of :mod:`deeprank_like.training.losses`. The registered per-sample
#: losses ``"log_l1"`` / ``"mape+log_l1"`` have the same values, but sum in another order, so
#: training with them agrees with the committed results to float32 rounding only (~1e-6).
LOSS_CHOICES: dict[str, str | Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mape": "mape",
    "log_l1": log_l1_loss,
    "mape+log_l1": mape_log_l1_loss,
}
#: Optimisers of the protocol: Adagrad (the paper's) is passed to the Trainer as a class.
OPTIMIZER_CHOICES: dict[str, str | type[torch.optim.Optimizer]] = {
    "adagrad": torch.optim.Adagrad,
    "adam": "adam",
    "adamw": "adamw",
}


def log_target_stats(targets: NDArray) -> tuple[list[float], list[float]]:
    """Per-column mean and standard deviation (floored at 1e-3) of ``log(targets)``.

    The ``target_log_mean`` / ``target_log_std`` arguments of the two networks.
    """
    logs = np.log(np.asarray(targets, dtype=np.float64))
    return logs.mean(axis=0).tolist(), np.maximum(logs.std(axis=0), 1e-3).tolist()


def fit_predict(
    model: nn.Module,
    train_dataset: Any,
    test_datasets: Sequence[Any],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    optimizer: str = "adagrad",
    loss: str = "mape",
    seed: int = 0,
    output_dir: str | os.PathLike | None = None,
) -> tuple[pd.DataFrame, list[NDArray[np.float64]]]:
    """Train ``model`` with the project :class:`~deeprank_like.training.Trainer`, then predict.

    A fixed number of epochs, the last epoch's weights (nothing of the training folds is held
    out for early stopping), no checkpoint. ``optimizer`` is ``"adagrad"`` (the paper's),
    ``"adam"`` or ``"adamw"`` (:data:`OPTIMIZER_CHOICES`); ``loss`` one of :data:`LOSS_CHOICES`.

    Returns
    -------
    history : DataFrame
        The Trainer's per-epoch metrics table.
    predictions : list of ndarray (n_i, K)
        Predictions for each of ``test_datasets``, in item order.
    """
    if optimizer not in OPTIMIZER_CHOICES:
        raise EnmError(f"optimizer must be one of {sorted(OPTIMIZER_CHOICES)}, got {optimizer!r}")
    if loss not in LOSS_CHOICES:
        raise EnmError(f"loss must be one of {sorted(LOSS_CHOICES)}, got {loss!r}")
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(
            model, train_dataset, task="regress", loss=LOSS_CHOICES[loss],
            optimizer=OPTIMIZER_CHOICES[optimizer], lr=lr, seed=seed, device="cpu",
            output_dir=output_dir if output_dir is not None else tmp,
        )  # fmt: skip
        history = trainer.train(epochs, batch_size, best_model=False, checkpoint=None)
        preds = []
        for ds in test_datasets:
            frame = trainer.predict(ds, batch_size=128)
            k = sum(c.startswith("output_") for c in frame.columns)
            preds.append(frame[[f"output_{j}" for j in range(k)]].to_numpy(dtype=np.float64))
    return history, preds


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """Every knob of :func:`run_experiment` (plain data; ``to_dict`` round-trips to JSON).

    Data: ``window`` residues per decoy, ``step`` between window starts, chains of at least
    ``min_length`` residues, β-GM conventions ``betagm`` (a :class:`BetaGMConfig` dict; spec
    defaults when None). Protocol: ``n_folds``-fold CV grouped by protein group, repeated once per
    seed in ``seeds``. Models: ``models`` ⊂ {"cnn", "gnn"}; each has epochs, batch size, learning
    rate, optimiser and training loss (a key of :data:`LOSS_CHOICES`: ``"mape"`` as the paper,
    ``"log_l1"`` or ``"mape+log_l1"``; defaults: MAPE for the CNN, |log| for the GNN, the best of
    each on probe folds, see ``docs/betagm_experiment.md``).
    ``log_output``: both networks predict ``exp(mean + std · z)`` with the training folds' log-target
    statistics (MAPE is still computed on the original scale). ``whole_chains``: also predict the
    whole chains longer than ``window`` of the held-out groups with each fold's GNN.
    """

    window: int = 100
    step: int = 20
    min_length: int = 100
    n_folds: int = 5
    seeds: tuple[int, ...] = (0, 1)
    models: tuple[str, ...] = ("cnn", "gnn")
    log_output: bool = True
    cnn_loss: str = "mape"
    cnn_epochs: int = 30
    cnn_batch_size: int = 32
    cnn_lr: float = 0.008
    cnn_optimizer: str = "adagrad"
    gnn_loss: str = "log_l1"
    gnn_epochs: int = 25
    gnn_batch_size: int = 32
    gnn_lr: float = 0.003
    gnn_optimizer: str = "adam"
    gnn_hidden_size: int = 64
    gnn_num_layers: int = 4
    graph_cutoff: float = 10.0
    whole_chains: bool = True
    threads: int = 2
    betagm: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        bad = sorted(set(self.models) - {"cnn", "gnn"})
        if bad:
            raise EnmError(f"unknown model(s) {bad}; choose from ['cnn', 'gnn']")
        if not self.seeds:
            raise EnmError("seeds must name at least one CV repeat")
        for name in ("cnn_loss", "gnn_loss"):
            if getattr(self, name) not in LOSS_CHOICES:
                raise EnmError(f"{name} must be one of {sorted(LOSS_CHOICES)}")
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "models", tuple(self.models))

    def betagm_config(self) -> BetaGMConfig:
        """The β-GM conventions of the targets."""
        return BetaGMConfig.from_dict(self.betagm) if self.betagm else BetaGMConfig()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of all fields."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


@dataclass
class ExperimentResult:
    """What :func:`run_experiment` produced.

    Attributes
    ----------
    summary : DataFrame
        One row per (model, eigenvalue): ``mape`` (mean over repeats of the MAPE of the pooled
        held-out predictions of one repeat), ``mape_sd`` (sd over repeats), ``median_ape``,
        ``n`` (held-out predictions per repeat), ``set`` (``"windows"`` or ``"whole_chains"``).
    predictions : DataFrame
        Held-out predictions: ``set, repeat, fold, model, sample, protein_id, start, length,
        eigenvalue, true, pred``.
    windows, whole : EigenSamples
    skipped : DataFrame
        Chains and windows left out, with the reason (``what`` = chain, window or whole_chain).
    timings : dict
        Seconds per stage.
    config : ExperimentConfig
    """

    summary: pd.DataFrame
    predictions: pd.DataFrame
    windows: EigenSamples
    whole: EigenSamples | None
    skipped: pd.DataFrame
    timings: dict[str, float]
    config: ExperimentConfig

    def mape_table(self, set_name: str = "windows") -> pd.DataFrame:
        """Eigenvalues × models table of MAPE (%) for ``set_name``."""
        df = self.summary[self.summary["set"] == set_name]
        return df.pivot(index="eigenvalue", columns="model", values="mape")


def _fit_predict_cnn(train: EigenSamples, tests: Sequence[EigenSamples], cfg: ExperimentConfig,
                     seed: int) -> list[NDArray]:  # fmt: skip
    torch.manual_seed(seed)
    kwargs: dict[str, Any] = {"input_size": cfg.window, "output_size": train.targets.shape[1]}
    if cfg.log_output:
        kwargs["target_log_mean"], kwargs["target_log_std"] = log_target_stats(train.targets)
    model = CoulombCNN(**kwargs)
    _, preds = fit_predict(
        model, CoulombMatrixDataset(train.ca, train.targets, augment_reverse=True),
        [CoulombMatrixDataset(t.ca) for t in tests],
        epochs=cfg.cnn_epochs, batch_size=cfg.cnn_batch_size, lr=cfg.cnn_lr,
        optimizer=cfg.cnn_optimizer, loss=cfg.cnn_loss, seed=seed,
    )  # fmt: skip
    return preds


def _fit_predict_gnn(train: EigenSamples, tests: Sequence[EigenSamples], cfg: ExperimentConfig,
                     seed: int) -> list[NDArray]:  # fmt: skip
    torch.manual_seed(seed)
    kwargs: dict[str, Any] = {
        "num_node_features": len(NODE_FEATURES), "num_edge_features": len(EDGE_FEATURES),
        "output_size": train.targets.shape[1], "hidden_size": cfg.gnn_hidden_size,
        "num_layers": cfg.gnn_num_layers,
    }  # fmt: skip
    if cfg.log_output:
        kwargs["target_log_mean"], kwargs["target_log_std"] = log_target_stats(train.targets)
    model = ResidueGraphGNN(**kwargs)
    _, preds = fit_predict(
        model, ResidueGraphDataset(train, augment_reverse=True, cutoff=cfg.graph_cutoff),
        [ResidueGraphDataset(t, cutoff=cfg.graph_cutoff, with_targets=False) for t in tests],
        epochs=cfg.gnn_epochs, batch_size=cfg.gnn_batch_size, lr=cfg.gnn_lr,
        optimizer=cfg.gnn_optimizer, loss=cfg.gnn_loss, seed=seed,
    )  # fmt: skip
    return preds


def _long_predictions(
    samples: EigenSamples, idx: NDArray, pred: NDArray, **labels: Any
) -> pd.DataFrame:
    k = pred.shape[1]
    names = eigenvalue_names(k)
    n = len(idx)
    return pd.DataFrame(
        {
            **{key: [value] * (n * k) for key, value in labels.items()},
            "sample": np.repeat(idx, k),
            "protein_id": np.repeat(samples.protein_ids[idx], k),
            "start": np.repeat(samples.starts[idx], k),
            "length": np.repeat(samples.lengths[idx], k),
            "eigenvalue": np.tile(names, n),
            "true": samples.targets[idx].reshape(-1),
            "pred": pred.reshape(-1),
        }
    )


def summarise(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per (set, model, eigenvalue): MAPE per repeat (pooled folds), then mean/sd over repeats."""
    df = predictions.assign(ape=100.0 * (predictions["pred"] - predictions["true"]).abs()
                            / predictions["true"].abs())  # fmt: skip
    per_repeat = (
        df.groupby(["set", "model", "eigenvalue", "repeat"])["ape"]
        .agg(mape="mean", median_ape="median", n="size")
        .reset_index()
    )
    out = (
        per_repeat.groupby(["set", "model", "eigenvalue"])
        .agg(
            mape=("mape", "mean"),
            mape_sd=("mape", lambda s: float(s.std(ddof=1)) if len(s) > 1 else 0.0),
            median_ape=("median_ape", "mean"),
            n=("n", "first"),
            repeats=("repeat", "nunique"),
        )
        .reset_index()
    )
    return out


def run_experiment(
    chains: Sequence[ChainRecord],
    config: ExperimentConfig | None = None,
    *,
    skipped_chains: pd.DataFrame | None = None,
    progress: Any = None,
) -> ExperimentResult:
    """Run the whole protocol (module docstring) on some chains.

    Parameters
    ----------
    chains : sequence of ChainRecord
        From :func:`deeprank_like.enm.chains_from_folder` or :func:`deeprank_like.enm.load_chain`
        (protein groups are assigned with :func:`deeprank_like.data.split.assign_sequence_groups`
        if any chain has none).
    config : ExperimentConfig, optional
    skipped_chains : DataFrame, optional
        The chain-level skip table of :func:`chains_from_folder`, merged into the result's.
    progress : callable, optional
        Called with one-line progress messages (e.g. ``print``).

    Returns
    -------
    ExperimentResult
    """
    cfg = config if config is not None else ExperimentConfig()
    if any(c.group < 0 for c in chains):
        chains = assign_sequence_groups(chains)
    say = progress if progress is not None else (lambda msg: log.info("%s", msg))
    threads_before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    timings: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        bcfg = cfg.betagm_config()
        windows, skipped_w = make_windows(chains, cfg.window, cfg.step, bcfg)
        whole = None
        skipped_c = pd.DataFrame(columns=skipped_w.columns)
        if cfg.whole_chains and "gnn" in cfg.models:
            whole, skipped_c = whole_chains(chains, cfg.window + 1, bcfg)
        timings["targets_s"] = time.perf_counter() - t0
        say(
            f"{len(chains)} chains, {len(set(windows.groups.tolist()))} protein groups: "
            f"{len(windows)} windows kept, {len(skipped_w)} skipped; "
            f"{0 if whole is None else len(whole)} whole chains > {cfg.window} residues "
            f"({timings['targets_s']:.1f} s)"
        )
        skipped = pd.concat(
            [
                (skipped_chains if skipped_chains is not None else pd.DataFrame()).assign(
                    what="chain"
                ),
                skipped_w.assign(what="window"),
                skipped_c.assign(what="whole_chain"),
            ],
            ignore_index=True,
        )
        frames: list[pd.DataFrame] = []
        timings.update({f"{m}_train_s": 0.0 for m in cfg.models})
        for seed in cfg.seeds:
            folds = grouped_kfold(windows.groups, cfg.n_folds, seed)
            group_fold = {
                int(g): f for f, (_, te) in enumerate(folds) for g in np.unique(windows.groups[te])
            }
            for f, (tr, te) in enumerate(folds):
                train, test = windows.subset(tr), windows.subset(te)
                labels = {"set": "windows", "repeat": seed, "fold": f}
                base = mean_baseline(train.targets, len(te))
                frames.append(_long_predictions(windows, te, base, model="baseline", **labels))
                const = mape_optimal_constant(train.targets, len(te))
                frames.append(_long_predictions(windows, te, const, model="mape_constant",
                                                **labels))  # fmt: skip
                held = np.zeros(0, dtype=np.int64)
                if whole is not None and len(whole):
                    held = np.flatnonzero([group_fold.get(int(g), 0) == f for g in whole.groups])
                wl = {"set": "whole_chains", "repeat": seed, "fold": f}
                if held.size and "gnn" in cfg.models:
                    for name, fn in (("baseline", mean_baseline),
                                     ("mape_constant", mape_optimal_constant)):  # fmt: skip
                        frames.append(
                            _long_predictions(
                                whole, held, fn(train.targets, held.size), model=name, **wl
                            )
                        )
                for name in cfg.models:
                    t1 = time.perf_counter()
                    tests = [test]
                    if name == "gnn" and held.size:
                        tests.append(whole.subset(held))
                    fit = _fit_predict_cnn if name == "cnn" else _fit_predict_gnn
                    preds = fit(train, tests, cfg, seed * 1000 + f)
                    timings[f"{name}_train_s"] += time.perf_counter() - t1
                    frames.append(_long_predictions(windows, te, preds[0], model=name, **labels))
                    if len(preds) > 1:
                        frames.append(_long_predictions(whole, held, preds[1], model=name, **wl))
                done = pd.concat(frames, ignore_index=True)
                cur = done[(done["repeat"] == seed) & (done["fold"] == f)
                           & (done["set"] == "windows")]  # fmt: skip
                msg = ", ".join(
                    f"{m} {100 * np.mean(np.abs(g.pred - g.true) / g.true):.0f}%"
                    for m, g in cur.groupby("model")
                )
                say(f"repeat {seed} fold {f + 1}/{cfg.n_folds}: test MAPE (all λ) {msg}")
        predictions = pd.concat(frames, ignore_index=True)
        timings["total_s"] = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads_before)
    return ExperimentResult(
        summary=summarise(predictions),
        predictions=predictions,
        windows=windows,
        whole=whole,
        skipped=skipped,
        timings=timings,
        config=cfg,
    )
