"""Data-only training configuration (YAML or TOML) and the run it describes.

Example (YAML)::

    data:
      kind: graph                 # graph | grid
      train: [features.hdf5]      # paths relative to this file
      val: []                     # optional; when val/test are empty, train is split:
      split: [0.8, 0.1, 0.1]      # fractions (train, val[, test])
      split_seed: 0
      group_by: null              # null | "entry" | {regex: ":(\\w+?)_"} (first group of the id)
      node_features: all          # graph; grid: features: all, augment: true
      edge_features: all
      target: binary
      task: classif               # inferred for known targets
      classes: [0, 1]
      transforms: {res_mass: log1p}
      standardize: true
      in_memory: false
    network:
      name: gine                  # deeprank_like.nn registry name
      kwargs: {hidden_size: 32}
    training:
      epochs: 20
      batch_size: 32
      lr: 0.001
      weight_decay: 0.0
      optimizer: adam
      loss: null                  # mse | mae | huber | mape | cross_entropy | bce_with_logits
      class_weights: false
      scheduler: null             # plateau | cosine | step | exponential
      scheduler_kwargs: {}
      early_stopping_patience: null
      seed: 0
      device: auto
      num_workers: 0
      plots: false
    output_dir: run1

Unknown keys are errors (a typo must not silently fall back to a default).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from deeprank_like.errors import TrainingError

__all__ = [
    "DataConfig",
    "NetworkConfig",
    "RunConfig",
    "TrainingConfig",
    "load_config",
    "run_training",
]


@dataclass(frozen=True, kw_only=True)
class DataConfig:
    """The ``data`` section."""

    kind: str = "graph"
    train: list[str] = field(default_factory=list)
    val: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)
    split: list[float] | None = None
    split_seed: int = 0
    group_by: Any = None
    subset: list[str] | None = None
    node_features: Any = "all"
    edge_features: Any = "all"
    features: Any = "all"
    augment: bool = True
    target: str | None = None
    task: str | None = None
    classes: list[Any] | None = None
    transforms: dict[str, Any] = field(default_factory=dict)
    standardize: Any = False
    in_memory: bool = False


@dataclass(frozen=True, kw_only=True)
class NetworkConfig:
    """The ``network`` section."""

    name: str = "gine"
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class TrainingConfig:
    """The ``training`` section."""

    epochs: int = 10
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    optimizer_kwargs: dict[str, Any] = field(default_factory=dict)
    loss: str | None = None
    class_weights: Any = False
    scheduler: str | None = None
    scheduler_kwargs: dict[str, Any] = field(default_factory=dict)
    early_stopping_patience: int | None = None
    min_delta: float = 0.0
    best_model: bool = True
    seed: int = 0
    device: str = "auto"
    num_workers: int = 0
    plots: bool = False
    distributed: Any = "auto"


@dataclass(frozen=True, kw_only=True)
class RunConfig:
    """A whole training run."""

    data: DataConfig
    network: NetworkConfig = field(default_factory=NetworkConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    output_dir: str = "output"


def _section(cls: type, values: Any, name: str) -> Any:
    values = dict(values or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TrainingError(f"unknown key(s) {unknown} in section '{name}'; known: {sorted(known)}")
    return cls(**values)


def _read(path: Path) -> dict[str, Any]:
    text = path.read_text()
    if path.suffix.lower() == ".toml":
        import tomllib

        return tomllib.loads(text)
    import yaml

    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise TrainingError(f"{path}: the config must be a mapping")
    return data


def load_config(path: str | os.PathLike) -> RunConfig:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) config; paths become absolute."""
    path = Path(path)
    if not path.is_file():
        raise TrainingError(f"{path}: no such config file")
    raw = _read(path)
    unknown = sorted(set(raw) - {"data", "network", "training", "output_dir"})
    if unknown:
        raise TrainingError(
            f"unknown top-level key(s) {unknown}; known: data, network, training, output_dir"
        )
    base = path.resolve().parent

    def absolute(p: Any) -> str:
        p = Path(str(p))
        return str(p if p.is_absolute() else base / p)

    data = dict(raw.get("data") or {})
    for key in ("train", "val", "test"):
        value = data.get(key) or []
        data[key] = [absolute(p) for p in ([value] if isinstance(value, str) else value)]
    if not data.get("train"):
        raise TrainingError("data.train must name at least one HDF5 file")
    out_dir = raw.get("output_dir", "output")
    return RunConfig(
        data=_section(DataConfig, data, "data"),
        network=_section(NetworkConfig, raw.get("network"), "network"),
        training=_section(TrainingConfig, raw.get("training"), "training"),
        output_dir=absolute(out_dir),
    )


def _group_by(spec: Any) -> Any:
    if spec is None or spec == "entry":
        return spec
    if isinstance(spec, dict) and set(spec) == {"regex"}:
        pattern = re.compile(spec["regex"])

        def key(entry_id: str) -> str:
            m = pattern.search(entry_id)
            if not m:
                return entry_id
            return m.group(1) if m.groups() else m.group(0)

        return key
    raise TrainingError(f"data.group_by must be null, 'entry' or {{regex: ...}}, got {spec!r}")


def build_datasets(cfg: DataConfig) -> tuple[Any, Any, Any]:
    """(train, val, test) datasets of a data config (val/test may be None)."""
    from deeprank_like.data import GraphDataset, GridDataset, split_dataset

    if cfg.kind not in ("graph", "grid"):
        raise TrainingError(f"data.kind must be 'graph' or 'grid', got {cfg.kind!r}")
    common = {
        "target": cfg.target,
        "task": cfg.task,
        "classes": cfg.classes,
        "transforms": cfg.transforms or None,
        "standardize": cfg.standardize,
        "in_memory": cfg.in_memory,
    }
    if cfg.kind == "graph":
        cls: Any = GraphDataset
        common.update(node_features=cfg.node_features, edge_features=cfg.edge_features)
    else:
        cls = GridDataset
        common.update(features=cfg.features, augment=cfg.augment)
    full = cls(cfg.train, subset=cfg.subset, **common)
    val = test = None
    if cfg.val or cfg.test:
        train = full
        kw = {"augment": cfg.augment} if cfg.kind == "grid" else {}
        val = cls(cfg.val, train_source=train, in_memory=cfg.in_memory, **kw) if cfg.val else None
        test = (
            cls(cfg.test, train_source=train, in_memory=cfg.in_memory, **kw) if cfg.test else None
        )
    elif cfg.split:
        parts = split_dataset(
            full, cfg.split, seed=cfg.split_seed, group_by=_group_by(cfg.group_by)
        )
        train, val = parts[0], parts[1]
        test = parts[2] if len(parts) > 2 else None
    else:
        train = full
    return train, val, test


def run_training(cfg: RunConfig) -> dict[str, Any]:
    """Train (and test) as configured; returns a summary dict. DDP when launched so.

    The summary has ``"rank"`` (0 in a single process) so that callers print it once.
    """
    import torch

    from deeprank_like.training.distributed import init_distributed
    from deeprank_like.training.trainer import Trainer, build_model_for

    t = cfg.training
    ctx = init_distributed() if t.distributed == "auto" else None
    train, val, test = build_datasets(cfg.data)
    torch.manual_seed(t.seed)
    model = build_model_for(cfg.network.name, train, loss=t.loss, **cfg.network.kwargs)
    trainer = Trainer(
        model,
        train,
        val,
        test,
        optimizer=t.optimizer,
        lr=t.lr,
        weight_decay=t.weight_decay,
        optimizer_kwargs=t.optimizer_kwargs,
        loss=t.loss,
        class_weights=t.class_weights,
        scheduler=t.scheduler,
        scheduler_kwargs=t.scheduler_kwargs,
        seed=t.seed,
        device=t.device,
        output_dir=cfg.output_dir,
        plots=t.plots,
        distributed="auto" if t.distributed == "auto" else False,
    )
    history = trainer.train(
        t.epochs,
        t.batch_size,
        early_stopping_patience=t.early_stopping_patience,
        min_delta=t.min_delta,
        best_model=t.best_model,
        num_workers=t.num_workers,
    )
    summary: dict[str, Any] = {
        "rank": trainer.ctx.rank,
        "world_size": trainer.ctx.world_size,
        "epochs_run": int(history["epoch"].max()) if len(history) else 0,
        "best_epoch": trainer.best_epoch,
        "best_loss": trainer.best_loss,
        "checkpoint": str(Path(cfg.output_dir) / "model.pt"),
        "items": {
            "train": len(train),
            "val": len(val) if val is not None else 0,
            "test": len(test) if test is not None else 0,
        },
    }
    if test is not None:
        summary["test"] = trainer.test(t.batch_size, t.num_workers)
    trainer.close()
    if ctx is not None and ctx.enabled:
        import torch.distributed as dist

        dist.destroy_process_group()
    return summary
