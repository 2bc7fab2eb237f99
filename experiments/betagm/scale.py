"""The paper's protocol on the pool's windows (issue 14, parts 3–6).

Data (:mod:`experiments.betagm.pool`): every protein chain of ``shared/data``, protein groups
(bound/unbound copies and sequence families joined), the paper's 100-residue windows (all windows
of 101–110-residue chains, compact windows of longer chains, at most 40 per group) with their
β-GM targets λ₇..λ₁₆ (windows with a zero-mode count ≠ 6 left out).

Held out from all training, by protein group (chosen at random with ``heldout_seed``, before any
fold is drawn):

* **evaluation set** (the paper's 146): ``eval_groups`` groups having a chain of 100–110
  residues; each such chain (break-free) gives one protein, its central 100 residues (at most 5
  terminal residues cut per end), with its own β-GM spectrum;
* **pruning set**: ``prune_groups`` further groups having a break-free chain of
  ``prune_min``–``prune_max`` (115–125) residues, one chain per group; target: the β-GM of the
  whole chain; the CNN gets ``n_prunings`` (100) copies with N − 100 random residues removed
  (order kept), the GNN the whole chain;
* **whole chains**: every break-free chain of 101–``whole_max`` (600) residues of the held-out
  groups above plus ``whole_groups`` further groups having such a chain, for the GNN.

Cross-validation on the remaining windows, per repeat (``seeds``): ``n_folds`` folds either by
protein group (``split="group"``, stricter than the paper) or by structure (``split="structure"``,
the paper's: a window and its reverse are one unit; windows of one protein may be on both sides).
A window's reverse (the same spectrum) is added to the training data, and test windows are
predicted both ways (MAPE over both, as the paper's doubled set). Inside the training folds, an
inner validation split (``val_fraction`` of the training groups, or windows for the structure
split) drives early stopping (``patience`` epochs) and keeps the best epoch's weights. Models: the
paper's CNN (:class:`~deeprank_like.nn.CoulombCNN`, Adagrad 0.008, batch 400, MAPE, linear
outputs), the residue-graph GNN (:class:`~deeprank_like.nn.ResidueGraphGNN`) and the
training-mean model (plus the MAPE-optimal constant as a stronger reference). The group-split
fold models of every repeat also predict the held-out sets (the paper fed its prunings to its
10 networks; MAPE is averaged over the networks).

Reductions (``--folds-run``, ``--seeds``, epoch caps, patience) are recorded in the results; the
paper's full 10 × 5 with ≤ 100 epochs is ``--full``. Usage, from the repository root::

    nice -n 10 python -m experiments.betagm.scale --data ../shared/data \\
        --cache runs/betagm_pool --out docs/results/betagm_scale

Results are (re)written after every fold: ``summary.csv`` (per split, set, model, eigenvalue),
``results.md``, ``pruning.csv`` (per protein), ``folds.csv`` (cost and loss per epoch of each fold), ``config.json``;
all predictions go to ``predictions.csv.gz`` in ``--cache``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass, field, replace  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from deeprank_like.data.ca_graph_dataset import (  # noqa: E402
    EDGE_FEATURES,
    NODE_FEATURES,
    ResidueGraphDataset,
)
from deeprank_like.data.coulomb_dataset import CoulombMatrixDataset  # noqa: E402
from deeprank_like.data.split import grouped_kfold  # noqa: E402
from deeprank_like.enm import BetaGMConfig, ChainRecord, betagm_from_ca, chain_breaks  # noqa: E402
from deeprank_like.enm.samples import (  # noqa: E402
    EigenSamples,
    eigenvalue_names,
    mape_optimal_constant,
    mean_baseline,
)
from deeprank_like.errors import EnmError  # noqa: E402
from deeprank_like.nn import CoulombCNN, ResidueGraphGNN  # noqa: E402
from deeprank_like.training import Trainer  # noqa: E402
from experiments.betagm.pool import (  # noqa: E402
    PoolConfig,
    assign_pool_groups,
    compute_targets,
    read_pool,
    select_windows,
)
from experiments.betagm.protocol import LOSS_CHOICES, OPTIMIZER_CHOICES, log_target_stats  # noqa: E402

__all__ = [
    "HeldOut",
    "ScaleConfig",
    "choose_heldout",
    "main",
    "pool_samples",
    "run_scale",
]

log = logging.getLogger(__name__)
Say = Callable[[str], None]


@dataclass(frozen=True, kw_only=True)
class ScaleConfig:
    """Every knob of :func:`run_scale` (see the module docstring); ``to_dict`` gives JSON."""

    window: int = 100
    splits: tuple[str, ...] = ("group", "structure")
    n_folds: int = 5
    seeds: tuple[int, ...] = (0,)
    folds_run: dict[str, int] = field(default_factory=lambda: {"group": 5, "structure": 5})
    models: tuple[str, ...] = ("cnn", "gnn")
    val_fraction: float = 0.1
    cnn_epochs: int = 100
    cnn_patience: int | None = 10
    cnn_batch_size: int = 400
    cnn_lr: float = 0.008
    cnn_optimizer: str = "adagrad"
    cnn_loss: str = "mape"
    cnn_log_output: bool = False
    gnn_epochs: int = 25
    gnn_patience: int | None = 5
    gnn_batch_size: int = 32
    gnn_lr: float = 0.003
    gnn_optimizer: str = "adam"
    gnn_loss: str = "log_l1"
    gnn_hidden_size: int = 64
    gnn_num_layers: int = 4
    graph_cutoff: float = 10.0
    heldout_seed: int = 14
    eval_groups: int = 12
    prune_groups: int = 8
    prune_min: int = 115
    prune_max: int = 125
    n_prunings: int = 100
    whole_groups: int = 10
    whole_max: int = 600
    threads: int = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        bad = sorted(set(self.models) - {"cnn", "gnn"}) + sorted(
            set(self.splits) - {"group", "structure"}
        )
        if bad:
            raise EnmError(f"unknown model(s)/split(s) {bad}")
        for name in ("cnn_loss", "gnn_loss"):
            if getattr(self, name) not in LOSS_CHOICES:
                raise EnmError(f"{name} must be one of {sorted(LOSS_CHOICES)}")
        for name in ("cnn_optimizer", "gnn_optimizer"):
            if getattr(self, name) not in OPTIMIZER_CHOICES:
                raise EnmError(f"{name} must be one of {sorted(OPTIMIZER_CHOICES)}")
        if not self.seeds:
            raise EnmError("seeds must name at least one CV repeat")
        if not 0.0 <= self.val_fraction < 0.5:
            raise EnmError(f"val_fraction must be in [0, 0.5), got {self.val_fraction}")
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "splits", tuple(self.splits))
        object.__setattr__(self, "models", tuple(self.models))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of all fields."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


# ----------------------------------------------------------------------------------------------
# data


def pool_samples(
    data: str | os.PathLike,
    cache: str | os.PathLike,
    pool: PoolConfig | None = None,
    say: Say = print,
) -> tuple[list[ChainRecord], EigenSamples, dict[str, Any]]:
    """The pool's chains (with groups) and its rigid windows with targets.

    Targets are computed once into ``cache/targets.csv`` (resumable, see
    :func:`experiments.betagm.pool.compute_targets`).

    Returns
    -------
    chains : list of ChainRecord
        Every kept chain, ``group`` set.
    windows : EigenSamples
        The selected windows with 6 zero modes (``starts`` = first residue in the chain).
    info : dict
        Counts of the pool.
    """
    pool = pool if pool is not None else PoolConfig()
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    chains, info, _ = read_pool(data, pool)
    groups = assign_pool_groups(chains, info)
    chains = [c.with_group(int(g)) for c, g in zip(chains, groups, strict=True)]
    sel, _ = select_windows(chains, groups, pool)
    cpu = compute_targets(chains, sel, cache / "targets.csv", chunk=1000, window=pool.window)
    targets = pd.read_csv(cache / "targets.csv", dtype={"chain_id": str})
    sel = sel.assign(chain_id=sel["chain_id"].astype(str))
    merged = sel.merge(targets, on=["protein_id", "chain_id", "start"], how="left")
    rigid = merged[merged["n_zero_modes"] == 6].reset_index(drop=True)
    names = eigenvalue_names(10)
    w = pool.window
    windows = EigenSamples(
        ca=[
            chains[i].ca[s : s + w]
            for i, s in zip(rigid["chain_index"], rigid["start"], strict=True)
        ],
        aa=[
            chains[i].aa[s : s + w]
            for i, s in zip(rigid["chain_index"], rigid["start"], strict=True)
        ],
        targets=rigid[names].to_numpy(dtype=np.float64),
        protein_ids=rigid["protein_id"].to_numpy(dtype=str),
        chain_ids=rigid["chain_id"].to_numpy(dtype=str),
        groups=rigid["group"].to_numpy(dtype=np.int64),
        starts=rigid["start"].to_numpy(dtype=np.int64),
        meta={"chain_index": rigid["chain_index"].to_numpy(), "kind": rigid["kind"].to_numpy()},
    )
    counts = {
        "chains": len(chains),
        "groups": len(set(groups.tolist())),
        "windows_selected": len(sel),
        "windows_rigid": len(windows),
        "window_groups": int(np.unique(windows.groups).size),
        "targets_cpu_s": round(cpu, 1),
    }
    say(f"pool: {counts}")
    return chains, windows, counts


@dataclass
class HeldOut:
    """The three held-out sets (module docstring) and the groups they come from."""

    groups: dict[str, list[int]]
    eval: EigenSamples
    prune: EigenSamples
    prune_glycine: list[NDArray[np.bool_]]
    whole: EigenSamples
    skipped: list[str]


def _spectrum(rec: ChainRecord, sl: slice, cfg: BetaGMConfig) -> NDArray | None:
    ca = rec.ca[sl]
    if chain_breaks(ca, 4.2).size:
        return None
    try:
        res = betagm_from_ca(ca, rec.is_glycine[sl], cfg.replace(require_rigid=False))
    except EnmError:
        return None
    if res.n_zero_modes != cfg.n_zero_modes:
        return None
    return np.asarray(res.eigenvalues, dtype=np.float64)


def _samples(rows: list[tuple[ChainRecord, slice, NDArray]]) -> EigenSamples:
    return EigenSamples(
        ca=[r.ca[s] for r, s, _ in rows],
        aa=[r.aa[s] for r, s, _ in rows],
        targets=np.array([t for _, _, t in rows]).reshape(len(rows), 10),
        protein_ids=np.array([r.protein_id for r, _, _ in rows], dtype=str),
        chain_ids=np.array([r.chain_id for r, _, _ in rows], dtype=str),
        groups=np.array([r.group for r, _, _ in rows], dtype=np.int64),
        starts=np.array([s.start or 0 for _, s, _ in rows], dtype=np.int64),
    )


def choose_heldout(chains: Sequence[ChainRecord], cfg: ScaleConfig) -> HeldOut:
    """Pick the held-out groups and build the evaluation, pruning and whole-chain sets."""
    bcfg = BetaGMConfig()
    w = cfg.window
    rng = np.random.default_rng(cfg.heldout_seed)
    by_group: dict[int, list[ChainRecord]] = {}
    for c in chains:
        by_group.setdefault(c.group, []).append(c)

    def pick(pred: Callable[[ChainRecord], bool], k: int, taken: set[int]) -> list[int]:
        cand = sorted(g for g, cs in by_group.items() if g not in taken and any(map(pred, cs)))
        return sorted(int(g) for g in rng.permutation(cand)[:k])

    taken: set[int] = set()
    ev = pick(lambda c: w <= len(c) <= w + 10, cfg.eval_groups, taken)
    taken |= set(ev)
    pr = pick(lambda c: cfg.prune_min <= len(c) <= cfg.prune_max, cfg.prune_groups, taken)
    taken |= set(pr)
    wh = pick(lambda c: w < len(c) <= cfg.whole_max, cfg.whole_groups, taken)
    taken |= set(wh)
    skipped: list[str] = []
    rows_e: list[tuple[ChainRecord, slice, NDArray]] = []
    for g in ev:
        for c in by_group[g]:
            if w <= len(c) <= w + 10:
                a = (len(c) - w) // 2
                t = _spectrum(c, slice(a, a + w), bcfg)
                (
                    rows_e.append((c, slice(a, a + w), t))
                    if t is not None
                    else skipped.append(f"eval {c.protein_id}:{c.chain_id}")
                )
    rows_p: list[tuple[ChainRecord, slice, NDArray]] = []
    for g in pr:
        for c in by_group[g]:
            if cfg.prune_min <= len(c) <= cfg.prune_max:
                t = _spectrum(c, slice(0, len(c)), bcfg)
                if t is not None:
                    rows_p.append((c, slice(0, len(c)), t))
                    break
                skipped.append(f"prune {c.protein_id}:{c.chain_id}")
    rows_w: list[tuple[ChainRecord, slice, NDArray]] = []
    for g in sorted(taken):
        for c in by_group[g]:
            if w < len(c) <= cfg.whole_max:
                t = _spectrum(c, slice(0, len(c)), bcfg)
                (
                    rows_w.append((c, slice(0, len(c)), t))
                    if t is not None
                    else skipped.append(f"whole {c.protein_id}:{c.chain_id}")
                )
    return HeldOut(
        groups={"eval": ev, "prune": pr, "whole": wh},
        eval=_samples(rows_e),
        prune=_samples(rows_p),
        prune_glycine=[r.is_glycine for r, _, _ in rows_p],
        whole=_samples(rows_w),
        skipped=skipped,
    )


def prunings(n_residues: int, keep: int, n: int, seed: int) -> NDArray[np.int64]:
    """``n`` random sorted index sets of ``keep`` of ``n_residues`` residues, shape (n, keep)."""
    rng = np.random.default_rng(seed)
    return np.sort(
        np.stack([rng.choice(n_residues, keep, replace=False) for _ in range(n)]), axis=1
    )


# ----------------------------------------------------------------------------------------------
# models


class _Fitted:
    """A trained network and how to feed it samples."""

    def __init__(self, name: str, trainer: Trainer, cfg: ScaleConfig) -> None:
        self.name, self.trainer, self.cfg = name, trainer, cfg

    def predict(self, samples: EigenSamples, both_ways: bool = False) -> NDArray[np.float64]:
        """Predictions (n, K), or (2n, K) with the reverses after the originals."""
        if self.name == "cnn":
            ds: Any = CoulombMatrixDataset(samples.ca, augment_reverse=both_ways)
            bs = 200
        else:
            ds = ResidueGraphDataset(
                samples,
                augment_reverse=both_ways,
                cutoff=self.cfg.graph_cutoff,
                with_targets=False,
            )
            bs = 64
        frame = self.trainer.predict(ds, batch_size=bs)
        k = sum(c.startswith("output_") for c in frame.columns)
        return frame[[f"output_{j}" for j in range(k)]].to_numpy(dtype=np.float64)


def _fit(
    name: str, train: EigenSamples, val: EigenSamples | None, cfg: ScaleConfig, seed: int, tmp: str
) -> tuple[_Fitted, pd.DataFrame]:
    torch.manual_seed(seed)
    k = train.targets.shape[1]
    if name == "cnn":
        kw: dict[str, Any] = {"input_size": cfg.window, "output_size": k}
        if cfg.cnn_log_output:
            kw["target_log_mean"], kw["target_log_std"] = log_target_stats(train.targets)
        model: torch.nn.Module = CoulombCNN(**kw)
        tr: Any = CoulombMatrixDataset(train.ca, train.targets, augment_reverse=True)
        va: Any = CoulombMatrixDataset(val.ca, val.targets, augment_reverse=True) if val else None
    else:
        kw = {
            "num_node_features": len(NODE_FEATURES),
            "num_edge_features": len(EDGE_FEATURES),
            "output_size": k,
            "hidden_size": cfg.gnn_hidden_size,
            "num_layers": cfg.gnn_num_layers,
        }
        kw["target_log_mean"], kw["target_log_std"] = log_target_stats(train.targets)
        model = ResidueGraphGNN(**kw)
        tr = ResidueGraphDataset(train, augment_reverse=True, cutoff=cfg.graph_cutoff)
        va = (
            ResidueGraphDataset(val, augment_reverse=True, cutoff=cfg.graph_cutoff) if val else None
        )
    p = {f: getattr(cfg, f"{name}_{f}") for f in ("epochs", "patience", "batch_size", "lr")}
    trainer = Trainer(
        model,
        tr,
        va,
        task="regress",
        loss=LOSS_CHOICES[getattr(cfg, f"{name}_loss")],
        optimizer=OPTIMIZER_CHOICES[getattr(cfg, f"{name}_optimizer")],
        lr=p["lr"],
        seed=seed,
        device=cfg.device,
        output_dir=tmp,
    )
    history = trainer.train(
        p["epochs"],
        p["batch_size"],
        early_stopping_patience=p["patience"] if va else None,
        best_model=va is not None,
        checkpoint=None,
    )
    return _Fitted(name, trainer, cfg), history


# ----------------------------------------------------------------------------------------------
# protocol


def _rows(
    samples: EigenSamples, idx: NDArray, pred: NDArray, true: NDArray | None = None, **labels: Any
) -> pd.DataFrame:
    """Long table: one row per (prediction, eigenvalue). ``idx`` indexes ``samples``."""
    k = pred.shape[1]
    n = pred.shape[0]
    idx = np.asarray(idx)
    t = samples.targets[idx] if true is None else true
    return pd.DataFrame(
        {
            **{key: [value] * (n * k) for key, value in labels.items()},
            "sample": np.repeat(idx, k),
            "protein_id": np.repeat(samples.protein_ids[idx], k),
            "eigenvalue": np.tile(eigenvalue_names(k), n),
            "true": t.reshape(-1),
            "pred": pred.reshape(-1),
        }
    )


def summarise(pred: pd.DataFrame) -> pd.DataFrame:
    """MAPE (%) per (split, set, model, eigenvalue): per repeat over pooled folds, then mean/sd."""
    df = pred.assign(ape=100.0 * (pred["pred"] - pred["true"]).abs() / pred["true"].abs())
    keys = ["split", "set", "model", "eigenvalue"]
    per = df.groupby([*keys, "repeat"])["ape"].agg(mape="mean", n="size").reset_index()
    out = per.groupby(keys).agg(
        mape=("mape", "mean"),
        mape_sd=("mape", lambda s: float(s.std(ddof=1)) if len(s) > 1 else 0.0),
        n=("n", "first"),
        repeats=("repeat", "nunique"),
    )
    return out.reset_index()


def _inner_split(
    train_idx: NDArray, units: NDArray, frac: float, seed: int
) -> tuple[NDArray, NDArray]:
    if frac <= 0:
        return train_idx, train_idx[:0]
    rng = np.random.default_rng(seed + 7919)
    u = np.unique(units[train_idx])
    n_val = max(1, round(frac * u.size))
    val_units = set(rng.permutation(u)[:n_val].tolist())
    is_val = np.array([x in val_units for x in units[train_idx]])
    return train_idx[~is_val], train_idx[is_val]


def run_scale(
    windows: EigenSamples,
    held: HeldOut,
    cfg: ScaleConfig,
    *,
    say: Say = print,
    on_fold: Callable[[pd.DataFrame, pd.DataFrame], None] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cross-validate the models on ``windows`` and predict the held-out sets.

    Parameters
    ----------
    windows : EigenSamples
        Training windows (held-out groups are removed here).
    held : HeldOut
    cfg : ScaleConfig
    say : callable
        Progress lines.
    on_fold : callable, optional
        Called with ``(predictions, folds)`` after every fold (to write partial results).

    Returns
    -------
    predictions : DataFrame
        Long table: ``split, set, repeat, fold, model, sample, variant, protein_id, eigenvalue,
        true, pred`` (``variant``: 0 original / 1 reversed for CV windows, the pruning index for
        the pruning set).
    folds : DataFrame
        One row per trained model: split, repeat, fold, model, n_train, n_val, n_test, epochs,
        best_epoch, cpu_s, wall_s.
    """
    heldout = set().union(*map(set, held.groups.values()))
    keep = np.flatnonzero([g not in heldout for g in windows.groups])
    data = windows.subset(keep)
    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    frames: list[pd.DataFrame] = []
    folds_rows: list[dict[str, Any]] = []
    prune_sets = [
        prunings(len(held.prune.ca[i]), cfg.window, cfg.n_prunings, cfg.heldout_seed + i)
        for i in range(len(held.prune))
    ]
    try:
        for split, seed, f, units, tr_all, te in _schedule(cfg, data):
            tr, va = _inner_split(tr_all, units, cfg.val_fraction, seed * 100 + f)
            train, test = data.subset(tr), data.subset(te)
            val = data.subset(va) if va.size else None
            lab = {"split": split, "repeat": seed, "fold": f}
            te2 = np.concatenate([te, te])
            var = np.repeat([0, 1], te.size)
            for ref, fn in (
                ("baseline", mean_baseline),
                ("mape_constant", mape_optimal_constant),
            ):
                frames.append(
                    _rows(
                        data, te2, fn(train.targets, te2.size), set="cv", model=ref, **lab
                    ).assign(variant=np.repeat(var, 10))
                )
                if split == "group":
                    for sname, s in (
                        ("eval", held.eval),
                        ("prune_whole", held.prune),
                        ("whole", held.whole),
                    ):
                        if len(s):
                            idx = np.arange(len(s))
                            frames.append(
                                _rows(
                                    s,
                                    idx,
                                    fn(train.targets, len(s)),
                                    set=sname,
                                    model=ref,
                                    **lab,
                                    variant=0,
                                )
                            )
            for name in cfg.models:
                cpu0, t0 = time.process_time(), time.perf_counter()
                with tempfile.TemporaryDirectory() as tmp:
                    fitted, hist = _fit(name, train, val, cfg, seed * 1000 + f, tmp)
                cpu_train = time.process_time() - cpu0
                p = fitted.predict(test, both_ways=True)
                frames.append(
                    _rows(data, te2, p, set="cv", model=name, **lab).assign(
                        variant=np.repeat(var, 10)
                    )
                )
                if split == "group":
                    frames += _predict_heldout(fitted, held, prune_sets, lab)
                row = {
                    **lab,
                    "model": name,
                    "n_train": len(tr),
                    "n_val": len(va),
                    "n_test": len(te),
                    "epochs": int(hist["epoch"].max()),
                    "best_epoch": -1
                    if fitted.trainer.best_epoch is None
                    else int(fitted.trainer.best_epoch),
                    "train_loss_curve": _curve(hist, "train"),
                    "val_loss_curve": _curve(hist, "val"),
                    "train_cpu_s": round(cpu_train, 1),
                    "cpu_s": round(time.process_time() - cpu0, 1),
                    "wall_s": round(time.perf_counter() - t0, 1),
                }
                folds_rows.append(row)
                ape = 100 * np.mean(
                    np.abs(p - test.targets[np.r_[0 : te.size, 0 : te.size]])
                    / test.targets[np.r_[0 : te.size, 0 : te.size]]
                )
                say(
                    f"{split} seed {seed} fold {f + 1}/{cfg.n_folds} {name}: "
                    f"{row['epochs']} epochs (best {row['best_epoch']}), "
                    f"{row['cpu_s']:.0f} CPU-s, test MAPE {ape:.1f} %"
                )
            if on_fold is not None:
                on_fold(pd.concat(frames, ignore_index=True), pd.DataFrame(folds_rows))
    finally:
        torch.set_num_threads(threads)
    return pd.concat(frames, ignore_index=True), pd.DataFrame(folds_rows)


def _curve(history: pd.DataFrame, phase: str) -> str:
    """A phase's loss per epoch, ``;``-joined (4 significant digits); empty if none."""
    rows = history[history["phase"] == phase].sort_values("epoch")
    return ";".join(f"{x:.4g}" for x in rows["loss"])


def _schedule(
    cfg: ScaleConfig, data: EigenSamples
) -> list[tuple[str, int, int, NDArray, NDArray, NDArray]]:
    """(split, seed, fold, units, train, test) in run order: fold 1 of every split first.

    Interleaving the splits makes a run cut short still report both splits.
    """
    out = []
    for seed in cfg.seeds:
        per_split = {}
        for split in cfg.splits:
            units = data.groups if split == "group" else np.arange(len(data))
            per_split[split] = (units, grouped_kfold(units, cfg.n_folds, seed))
        for f in range(cfg.n_folds):
            for split in cfg.splits:
                if f < cfg.folds_run.get(split, cfg.n_folds):
                    units, folds = per_split[split]
                    out.append((split, seed, f, units, folds[f][0], folds[f][1]))
    return out


def _predict_heldout(
    fitted: _Fitted, held: HeldOut, prune_sets: list[NDArray], lab: dict[str, Any]
) -> list[pd.DataFrame]:
    out = []
    if len(held.eval):
        idx = np.arange(len(held.eval))
        out.append(
            _rows(
                held.eval,
                idx,
                fitted.predict(held.eval),
                set="eval",
                model=fitted.name,
                variant=0,
                **lab,
            )
        )
    if fitted.name == "cnn":
        for i, keep in enumerate(prune_sets):
            ca = held.prune.ca[i]
            pruned = EigenSamples(
                ca=[ca[k] for k in keep],
                aa=[held.prune.aa[i][k] for k in keep],
                targets=np.repeat(held.prune.targets[i : i + 1], len(keep), axis=0),
                protein_ids=np.repeat(held.prune.protein_ids[i : i + 1], len(keep)),
                chain_ids=np.repeat(held.prune.chain_ids[i : i + 1], len(keep)),
                groups=np.repeat(held.prune.groups[i : i + 1], len(keep)),
                starts=np.zeros(len(keep), dtype=np.int64),
            )
            pred = fitted.predict(pruned)
            out.append(
                _rows(
                    held.prune, np.full(len(keep), i), pred, set="pruned", model="cnn", **lab
                ).assign(variant=np.repeat(np.arange(len(keep)), pred.shape[1]))
            )
    else:
        for sname, s in (("prune_whole", held.prune), ("whole", held.whole)):
            if len(s):
                out.append(
                    _rows(
                        s,
                        np.arange(len(s)),
                        fitted.predict(s),
                        set=sname,
                        model="gnn",
                        variant=0,
                        **lab,
                    )
                )
    return out


# ----------------------------------------------------------------------------------------------
# report


def _pivot(summary: pd.DataFrame, split: str, set_name: str) -> pd.DataFrame:
    df = summary[(summary["split"] == split) & (summary["set"] == set_name)]
    table = df.pivot(index="eigenvalue", columns="model", values="mape")
    order = [m for m in ("cnn", "gnn", "baseline", "mape_constant") if m in table.columns]
    table = table[order]
    table.loc["all λ"] = table.mean(axis=0)
    return table


def pruning_table(pred: pd.DataFrame, held: HeldOut) -> pd.DataFrame:
    """Per pruning protein: MAPE (%, all λ) of the pruned CNN, the whole-chain GNN and baseline."""
    rows = []
    df = pred.assign(ape=100.0 * (pred["pred"] - pred["true"]).abs() / pred["true"].abs())
    for i in range(len(held.prune)):
        row: dict[str, Any] = {
            "protein": f"{held.prune.protein_ids[i]}:{held.prune.chain_ids[i]}",
            "residues": int(held.prune.ca[i].shape[0]),
            "lambda_07": round(float(held.prune.targets[i, 0]), 4),
        }
        for label, s, m in (
            ("cnn_pruned", "pruned", "cnn"),
            ("gnn_whole", "prune_whole", "gnn"),
            ("baseline", "prune_whole", "baseline"),
        ):
            part = df[(df["set"] == s) & (df["model"] == m) & (df["sample"] == i)]
            row[label] = round(float(part["ape"].mean()), 1) if len(part) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _md(table: pd.DataFrame, digits: int = 1) -> str:
    cols = [str(c) for c in table.columns]
    lines = [
        "| " + " | ".join([table.index.name or "", *cols]) + " |",
        "|" + "---|" * (len(cols) + 1),
    ]

    def fmt(col: str, v: Any) -> str:
        if isinstance(v, (int, np.integer)) or not isinstance(v, (float, np.floating)):
            return str(v)
        return (
            f"{v:.4f}"
            if col.startswith("lambda_") and table.index.name == "protein"
            else (f"{v:.{digits}f}")
        )

    for idx, *row in table.itertuples(index=True, name=None):
        cells = [fmt(c, v) for c, v in zip(cols, row, strict=True)]
        lines.append("| " + " | ".join([str(idx), *cells]) + " |")
    return "\n".join(lines)


def results_markdown(
    pred: pd.DataFrame,
    folds: pd.DataFrame,
    held: HeldOut,
    cfg: ScaleConfig,
    counts: dict[str, Any],
    command: str,
) -> str:
    """All result tables as markdown."""
    s = summarise(pred)
    lines = [
        "# β-GM eigenvalues at the paper's scale: CNN vs GNN vs training mean",
        "",
        f"Command: `{command}`",
        "",
        f"Pool: {counts}. Held-out groups: "
        + ", ".join(f"{k} {len(v)}" for k, v in held.groups.items())
        + f"; evaluation proteins {len(held.eval)}, pruning proteins {len(held.prune)}, "
        f"whole chains {len(held.whole)}.",
        "",
        "MAPE (%) per eigenvalue; `all λ` = mean over the ten. `baseline` = training-set mean "
        "(the paper's uninformative model); `mape_constant` = the MAPE-optimal constant.",
        "",
    ]
    for split in cfg.splits:
        if ((s["split"] == split) & (s["set"] == "cv")).any():
            n = folds[folds["split"] == split]
            lines += [
                f"## Cross-validation, folds by {split} "
                f"({n[['repeat', 'fold']].drop_duplicates().shape[0]} folds trained)",
                "",
                _md(_pivot(s, split, "cv")),
                "",
            ]
    if (s["set"] == "eval").any():
        lines += [
            f"## Evaluation set ({len(held.eval)} held-out proteins of 100 residues)",
            "",
            _md(_pivot(s, "group", "eval")),
            "",
        ]
    if len(held.prune):
        pt = pruning_table(pred, held).set_index("protein")
        lines += [
            f"## Pruning study ({cfg.n_prunings} random prunings to {cfg.window} residues "
            "per protein, CNN; the GNN sees the whole chain); MAPE % over all λ",
            "",
            _md(pt, 1),
            "",
        ]
    if (s["set"] == "whole").any():
        lens = held.whole.lengths
        lines += [
            f"## GNN on whole chains of held-out groups ({len(held.whole)} chains, "
            f"{lens.min()}–{lens.max()} residues)",
            "",
            _md(_pivot(s, "group", "whole")),
            "",
        ]
    if len(folds):
        cost = folds.groupby(["split", "model"]).agg(
            folds=("fold", "size"),
            epochs=("epochs", "mean"),
            best_epoch=("best_epoch", "mean"),
            n_train=("n_train", "mean"),
            cpu_s_per_fold=("cpu_s", "mean"),
            cpu_s_total=("cpu_s", "sum"),
        )
        cost.index = [f"{a} / {b}" for a, b in cost.index]
        cost.index.name = "split / model"
        lines += [
            "## Cost (CPU seconds, 1 torch thread, shared machine)",
            "",
            _md(cost.astype(float), 1),
            "",
        ]
    return "\n".join(lines)


def scatter_png(pred: pd.DataFrame, path: Path) -> None:
    """Predicted vs exact eigenvalues, log-log: CV (group split, original windows) and eval set.

    One row per model (CNN, GNN), one column per set; colour = eigenvalue index.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    sets = [("cv", "held-out windows (group folds)"), ("eval", "evaluation set")]
    models = [m for m in ("cnn", "gnn") if (pred["model"] == m).any()]
    if not models:
        return
    fig, axes = plt.subplots(
        len(models), 2, figsize=(8, 3.6 * len(models)), squeeze=False, layout="constrained"
    )
    cmap = plt.get_cmap("viridis", 10)
    names = eigenvalue_names(10)
    for r, model in enumerate(models):
        for c, (set_name, title) in enumerate(sets):
            ax = axes[r, c]
            df = pred[(pred["model"] == model) & (pred["set"] == set_name)]
            df = df[(df["split"] == "group") & (df["variant"] == 0)]
            if df.empty:
                ax.set_visible(False)
                continue
            colour = list(df["eigenvalue"].map({n: cmap(i) for i, n in enumerate(names)}))
            lo = float(df["true"].min())
            y = np.maximum(df["pred"].to_numpy(), lo / 100)
            ax.scatter(df["true"], y, s=3, c=colour, alpha=0.5, linewidths=0)
            hi = float(max(df["true"].max(), y.max()))
            ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("exact λ (k units)")
            ax.set_ylabel("predicted λ")
            ax.set_title(f"{model.upper()}: {title}", fontsize=9)
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_results(
    out: Path,
    pred: pd.DataFrame,
    folds: pd.DataFrame,
    held: HeldOut,
    cfg: ScaleConfig,
    counts: dict[str, Any],
    command: str,
    cache: Path | None = None,
) -> None:
    """Write summary.csv, results.md, pruning.csv, folds.csv, config.json (and predictions)."""
    out.mkdir(parents=True, exist_ok=True)
    summarise(pred).round(3).to_csv(out / "summary.csv", index=False)
    folds.to_csv(out / "folds.csv", index=False)
    if len(held.prune):
        pruning_table(pred, held).to_csv(out / "pruning.csv", index=False)
    (out / "config.json").write_text(
        json.dumps(
            {
                "config": cfg.to_dict(),
                "pool": counts,
                "heldout_groups": held.groups,
                "command": command,
            },
            indent=1,
        )
        + "\n"
    )
    (out / "results.md").write_text(results_markdown(pred, folds, held, cfg, counts, command))
    if cache is not None:
        pred.to_csv(cache / "predictions.csv.gz", index=False)
        scatter_png(pred, out / "scatter.png")


# ----------------------------------------------------------------------------------------------
# command line


def measure(windows: EigenSamples, cfg: ScaleConfig, n: int, say: Say = print) -> dict[str, float]:
    """CPU seconds per training item (a window or its reverse) per epoch, for each model."""
    torch.set_num_threads(cfg.threads)
    idx = np.random.default_rng(0).permutation(len(windows))[:n]
    sub = windows.subset(idx)
    out = {}
    for name in cfg.models:
        one = replace(cfg, **{f"{name}_epochs": 1})
        with tempfile.TemporaryDirectory() as tmp:
            _fit(name, sub, None, one, 0, tmp)  # warm-up
            c0 = time.process_time()
            _fit(name, sub, None, one, 0, tmp)
        per = (time.process_time() - c0) / (2 * len(sub))
        out[name] = per
        n_train = 0.8 * (1 - cfg.val_fraction) * len(windows) * 2
        say(
            f"{name}: {1e3 * per:.2f} CPU-ms per training item; one epoch of a fold "
            f"({n_train:.0f} items): {per * n_train:.0f} CPU-s"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    d = ScaleConfig()
    p = argparse.ArgumentParser(
        prog="python -m experiments.betagm.scale", description=__doc__.splitlines()[0]
    )
    p.add_argument("--data", required=True, help="the shared/data folder")
    p.add_argument("--cache", required=True, help="folder for targets.csv and predictions")
    p.add_argument("--out", help="results folder")
    p.add_argument(
        "--full",
        action="store_true",
        help="the paper's 10 x 5 CV, <= 100 CNN epochs, no early stopping (GPU)",
    )
    p.add_argument("--measure", type=int, default=0, help="time one epoch on N windows; exit")
    p.add_argument("--seeds", type=int, nargs="+", default=list(d.seeds))
    p.add_argument("--folds-group", type=int, default=5, help="group-split folds to train")
    p.add_argument("--folds-structure", type=int, default=5, help="by-structure folds to train")
    p.add_argument("--models", nargs="+", default=list(d.models), choices=["cnn", "gnn"])
    p.add_argument("--splits", nargs="+", default=list(d.splits), choices=["group", "structure"])
    p.add_argument("--cnn-epochs", type=int, default=d.cnn_epochs)
    p.add_argument("--cnn-patience", type=int, default=d.cnn_patience)
    p.add_argument("--cnn-log-output", action="store_true", help="log-scaled outputs (ours)")
    p.add_argument("--gnn-epochs", type=int, default=d.gnn_epochs)
    p.add_argument("--gnn-patience", type=int, default=d.gnn_patience)
    p.add_argument("--val-fraction", type=float, default=d.val_fraction)
    p.add_argument("--n-prunings", type=int, default=d.n_prunings)
    p.add_argument("--eval-groups", type=int, default=d.eval_groups)
    p.add_argument("--prune-groups", type=int, default=d.prune_groups)
    p.add_argument("--prune-min", type=int, default=d.prune_min, help="pruning set residues")
    p.add_argument("--prune-max", type=int, default=d.prune_max)
    p.add_argument("--whole-groups", type=int, default=d.whole_groups)
    p.add_argument("--window", type=int, default=d.window)
    p.add_argument("--cap", type=int, default=PoolConfig.cap, help="windows per protein group")
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--device", default=d.device, help="cpu, cuda, or auto (the Trainer's)")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the reports of a finished run from --cache/predictions.csv.gz",
    )
    p.add_argument("--small-gnn", action="store_true", help="hidden 8, 1 layer (tests)")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    library = logging.getLogger("deeprank_like")
    level = library.level
    library.setLevel(logging.ERROR)
    try:
        return _run(a, argv)
    finally:
        library.setLevel(level)


def _run(a: argparse.Namespace, argv: list[str] | None) -> int:
    cfg = ScaleConfig(
        window=a.window,
        splits=tuple(a.splits),
        seeds=tuple(a.seeds),
        folds_run={"group": a.folds_group, "structure": a.folds_structure},
        models=tuple(a.models),
        val_fraction=a.val_fraction,
        cnn_epochs=a.cnn_epochs,
        cnn_patience=a.cnn_patience,
        cnn_log_output=a.cnn_log_output,
        gnn_epochs=a.gnn_epochs,
        gnn_patience=a.gnn_patience,
        n_prunings=a.n_prunings,
        eval_groups=a.eval_groups,
        prune_groups=a.prune_groups,
        prune_min=a.prune_min,
        prune_max=a.prune_max,
        whole_groups=a.whole_groups,
        threads=a.threads,
        device=a.device,
    )
    if a.small_gnn:
        cfg = replace(cfg, gnn_hidden_size=8, gnn_num_layers=1)
    if a.full:
        cfg = replace(
            cfg,
            seeds=tuple(range(10)),
            folds_run={"group": 5, "structure": 5},
            cnn_epochs=100,
            cnn_patience=None,
            val_fraction=0.0,
        )
    say: Say = lambda m: print(m, flush=True)  # noqa: E731
    t0, c0 = time.perf_counter(), time.process_time()
    pool = PoolConfig(window=a.window, min_length=a.window, short_max=a.window + 10, cap=a.cap)
    chains, windows, counts = pool_samples(a.data, a.cache, pool, say)
    if a.measure:
        measure(windows, cfg, a.measure, say)
        return 0
    held = choose_heldout(chains, cfg)
    counts["heldout_cpu_s"] = round(time.process_time() - c0, 1)
    say(
        f"held out: groups {held.groups}; eval {len(held.eval)}, prune {len(held.prune)}, "
        f"whole {len(held.whole)}; skipped {held.skipped}"
    )
    command = "python -m experiments.betagm.scale " + " ".join(
        shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:])
    )
    out = Path(a.out) if a.out else None
    if a.report_only:
        if out is None:
            raise EnmError("--report-only rewrites the reports in --out: give --out")
        # the stored run: its predictions, folds, command and pool counts; the held-out sets
        # are rebuilt above from the same data and seed
        saved = json.loads((out / "config.json").read_text())
        pred = pd.read_csv(Path(a.cache) / "predictions.csv.gz", dtype={"protein_id": str})
        folds = pd.read_csv(out / "folds.csv")
        write_results(out, pred, folds, held, cfg, saved["pool"], saved["command"])
        scatter_png(pred, out / "scatter.png")
        say(f"rewrote the reports in {out} from {Path(a.cache) / 'predictions.csv.gz'}")
        return 0

    def partial(pred: pd.DataFrame, folds: pd.DataFrame) -> None:
        if out is not None:
            counts["cpu_s_so_far"] = round(time.process_time() - c0, 1)
            # predictions too, so that a run stopped between folds keeps all it made
            write_results(out, pred, folds, held, cfg, counts, command, cache=Path(a.cache))

    pred, folds = run_scale(windows, held, cfg, say=say, on_fold=partial)
    counts["cpu_s"] = round(time.process_time() - c0, 1)
    counts["wall_s"] = round(time.perf_counter() - t0, 1)
    counts.pop("cpu_s_so_far", None)
    if out is not None:
        write_results(out, pred, folds, held, cfg, counts, command, cache=Path(a.cache))
    say(results_markdown(pred, folds, held, cfg, counts, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
