r"""Data-only training configuration (YAML or TOML) and the run it describes.

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

import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from deeprank_like.errors import TrainingError
from deeprank_like.resolve import closest_match, resolve

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
    if values is not None and not isinstance(values, dict):
        raise TrainingError(f"section '{name}' must be a mapping, got {values!r}")
    values = dict(values or {})
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TrainingError(f"unknown key(s) {unknown} in section '{name}'; known: {sorted(known)}")
    return cls(**values)


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainingError(f"{path}: cannot read the config ({exc})") from None
    if path.suffix.lower() == ".toml":
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise TrainingError(f"{path}: not valid TOML ({exc})") from None
    import yaml

    try:
        data = yaml.safe_load(text)  # plain data only: no Python tags
    except yaml.YAMLError as exc:
        reason = " ".join(str(exc).split())
        raise TrainingError(f"{path}: not a valid data-only YAML config ({reason})") from None
    if not isinstance(data, dict):
        raise TrainingError(f"{path}: the config must be a mapping")
    return data


def _number(section: str, key: str, value: Any, *, integer: bool, minimum: float) -> Any:
    """A finite number ≥ ``minimum`` (YAML may give ``1e-3`` as a string)."""
    if isinstance(value, bool):
        raise TrainingError(f"{section}.{key} must be a number, got {value!r}")
    if integer:
        if not isinstance(value, int):
            raise TrainingError(f"{section}.{key} must be an integer, got {value!r}")
        number: Any = value
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise TrainingError(f"{section}.{key} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number < minimum:
        raise TrainingError(f"{section}.{key} must be a finite number >= {minimum}, got {value!r}")
    return number


def _check_name(key: str, value: Any, names: list[str], check: Callable[[str], Any]) -> None:
    """TrainingError unless ``value`` is a name that ``check`` accepts (any spelling)."""
    if isinstance(value, str):
        try:
            check(value)
            return
        except TrainingError:
            pass
    best = closest_match(value, names) if isinstance(value, str) else None
    raise TrainingError(
        f"training.{key} must be {'null or ' if key != 'optimizer' else ''}one of {names}, "
        f"got {value!r}" + (f"; did you mean {best!r}?" if best else "")
    )


def _validate(cfg: RunConfig) -> RunConfig:
    """Check every name a config resolves (network, optimiser, loss, scheduler) and the numbers.

    A config is data: nothing named in it is imported. The network must be registered
    (:mod:`deeprank_like.nn.registry`); the other names come from fixed tables.
    """
    from deeprank_like.nn.registry import get_model_class
    from deeprank_like.training.losses import LOSSES
    from deeprank_like.training.optim import OPTIMIZERS, SCHEDULERS, optimizer_name, scheduler_name

    net = cfg.network
    if not isinstance(net.name, str) or not net.name:
        raise TrainingError(f"network.name must be a network name, got {net.name!r}")
    get_model_class(net.name)  # TrainingError naming the class and how to register it
    if not isinstance(net.kwargs, dict):
        raise TrainingError(f"network.kwargs must be a mapping, got {net.kwargs!r}")
    t = cfg.training
    _check_name("optimizer", t.optimizer, sorted(OPTIMIZERS), optimizer_name)
    if t.loss is not None:
        _check_name(
            "loss",
            t.loss,
            sorted(LOSSES),
            lambda name: resolve(
                name, LOSSES, what="loss", suffixes=("loss",), error=TrainingError
            ),
        )
    if t.scheduler is not None:
        _check_name("scheduler", t.scheduler, list(SCHEDULERS), scheduler_name)
    for key in ("optimizer_kwargs", "scheduler_kwargs"):
        if not isinstance(getattr(t, key), dict):
            raise TrainingError(f"training.{key} must be a mapping, got {getattr(t, key)!r}")
    cw = t.class_weights
    if not isinstance(cw, bool) and not (
        isinstance(cw, list)
        and all(
            isinstance(w, int | float) and not isinstance(w, bool) and math.isfinite(w) and w >= 0
            for w in cw
        )
    ):
        raise TrainingError(
            f"training.class_weights must be true/false or a list of finite weights, got {cw!r}"
        )
    numbers = {
        "epochs": _number("training", "epochs", t.epochs, integer=True, minimum=0),
        "batch_size": _number("training", "batch_size", t.batch_size, integer=True, minimum=1),
        "lr": _number("training", "lr", t.lr, integer=False, minimum=0),
        "weight_decay": _number(
            "training", "weight_decay", t.weight_decay, integer=False, minimum=0
        ),
        "min_delta": _number("training", "min_delta", t.min_delta, integer=False, minimum=0),
        "seed": _number("training", "seed", t.seed, integer=True, minimum=0),
        "num_workers": _number("training", "num_workers", t.num_workers, integer=True, minimum=0),
    }
    if numbers["lr"] == 0:
        raise TrainingError("training.lr must be > 0, got 0")
    if t.early_stopping_patience is not None:
        _number(
            "training",
            "early_stopping_patience",
            t.early_stopping_patience,
            integer=True,
            minimum=1,
        )
    import dataclasses

    return dataclasses.replace(cfg, training=dataclasses.replace(t, **numbers))


def load_config(path: str | os.PathLike) -> RunConfig:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) config; paths become absolute.

    YAML is read with ``yaml.safe_load`` (no Python tags). Every name is checked against
    a fixed table or the network registry before anything is read or built.

    Raises
    ------
    TrainingError
        Unknown keys, wrong types, non-finite numbers, or a name that is not registered (the
        message names it and says how to register a network).
    """
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
    return _validate(
        RunConfig(
            data=_section(DataConfig, data, "data"),
            network=_section(NetworkConfig, raw.get("network"), "network"),
            training=_section(TrainingConfig, raw.get("training"), "training"),
            output_dir=absolute(out_dir),
        )
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


def run_training(cfg: RunConfig, *, verbose: bool = False) -> dict[str, Any]:
    """Train (and test) as configured; returns a summary dict. DDP when launched so.

    The summary has ``"rank"`` (0 in a single process) so that callers print it once.
    ``verbose`` prints one line per epoch to stderr (rank 0; else they are logged at INFO).
    """
    import torch

    from deeprank_like.training.distributed import init_distributed
    from deeprank_like.training.trainer import Trainer, build_model_for

    cfg = _validate(cfg)
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
        verbose=verbose,
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
