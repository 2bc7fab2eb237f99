"""The data config of a dataset: task inference, validation, and reading it from a checkpoint.

A *data config* is the JSON-serialisable record of how a dataset reads its files (features and
widths, target, task, classes, transforms, standardisation); a trained model's checkpoint holds
the one of its training set, and validation, test and inference datasets inherit it
(``train_source=``). This module knows the config's keys and their checks; the datasets
(:mod:`deeprank_like.data.base`) build and apply it.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from deeprank_like.data.transforms import transform_to_json, validate_transform
from deeprank_like.errors import TrainingError
from deeprank_like.storage.checkpoint import read_checkpoint_metadata

__all__ = [
    "BOUNDED_TARGETS",
    "CLASSIFICATION_TARGETS",
    "REGRESSION_TARGETS",
    "TASKS",
    "check_data_config",
    "config_json",
    "from_features_transform",
    "infer_task",
    "is_names",
    "is_widths",
    "load_data_config",
    "load_transforms",
    "warn_overrides",
]

#: Targets whose task is known (DeepRank2 conventions).
REGRESSION_TARGETS = {"irmsd", "lrmsd", "fnat", "dockq", "dockq_score"}
CLASSIFICATION_TARGETS = {"binary": [0, 1], "capri_class": [1, 2, 3, 4]}
TASKS = ("regress", "classif")
#: Regression targets with a fixed range (min, max): networks built for them by
#: :func:`~deeprank_like.training.build_model_for` get a sigmoid output, bounded to (0, 1).
BOUNDED_TARGETS: dict[str, tuple[float, float]] = {"fnat": (0.0, 1.0), "dockq": (0.0, 1.0)}

#: A check of one data-config key: (predicate on the value, what the value must be).
Check = tuple[Callable[[Any], bool], str]


def infer_task(target: str | None, task: str | None) -> str | None:
    """Task of ``target``: explicit ``task``, or known from the target name.

    Raises
    ------
    TrainingError
        An unknown ``task``, or a target whose task cannot be inferred.
    """
    if task is not None:
        if task not in TASKS:
            raise TrainingError(f"task must be one of {TASKS}, got {task!r}")
        return task
    if target is None:
        return None
    if target in REGRESSION_TARGETS:
        return "regress"
    if target in CLASSIFICATION_TARGETS:
        return "classif"
    raise TrainingError(
        f"cannot infer the task of target {target!r}: pass task='regress' or task='classif'"
    )


def load_data_config(path: str | os.PathLike) -> dict[str, Any]:
    """The dataset config stored in a checkpoint (see :mod:`deeprank_like.storage.checkpoint`).

    Raises
    ------
    TrainingError
        Unreadable checkpoint, or one that holds no dataset config.
    """
    meta = read_checkpoint_metadata(path)
    if not isinstance(meta.get("data"), Mapping):
        raise TrainingError(f"{os.fspath(path)}: checkpoint holds no dataset config")
    return meta["data"]


def config_json(config: Mapping[str, Any]) -> str:
    """Compact JSON of a data config."""
    return json.dumps(config, sort_keys=True)


# ---- value checks --------------------------------------------------------------------------
def _is_scalar(value: Any) -> bool:
    return isinstance(value, int | float | str) and not isinstance(value, bool)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def is_names(value: Any) -> bool:
    """True for a list of str."""
    return isinstance(value, list) and all(isinstance(n, str) for n in value)


def is_widths(value: Any) -> bool:
    """True for a mapping of feature name → positive int width."""
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and _is_count(v) for k, v in value.items()
    )


def _is_stats(value: Any) -> bool:
    if not isinstance(value, Mapping):
        return False
    for name, d in value.items():
        if not isinstance(name, str) or not isinstance(d, Mapping):
            return False
        mean, std = d.get("mean"), d.get("std")
        if not (isinstance(mean, list) and isinstance(std, list) and len(mean) == len(std)):
            return False
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in mean + std):
            return False
    return True


#: Checks of the keys every dataset kind has.
COMMON_CHECKS: dict[str, Check] = {
    "target": (lambda v: v is None or isinstance(v, str), "a name or null"),
    "task": (lambda v: v in (None, *TASKS), "'regress', 'classif' or null"),
    "classes": (
        lambda v: v is None or (isinstance(v, list) and all(_is_scalar(c) for c in v)),
        "a list of class values or null",
    ),
    "transforms": (lambda v: v is None or isinstance(v, Mapping), "a mapping"),
    "standardize": (lambda v: v is None or is_names(v), "a list of feature names"),
    "target_width": (lambda v: v is None or _is_count(v), "a positive integer"),
    "standardization": (
        lambda v: v is None or _is_stats(v),
        "{feature: {mean: [numbers], std: [numbers]}}",
    ),
}


def check_data_config(
    config: Mapping[str, Any], kind: str, origin: str, feature_checks: Mapping[str, Check]
) -> None:
    """TrainingError naming every malformed key of a data config read from a file.

    Parameters
    ----------
    config : mapping
        The data config.
    kind : {"graph", "grid"}
        The dataset kind that will read it (``config["dataset"]`` must match).
    origin : str
        Where the config comes from (a checkpoint path, "train_source"), for messages.
    feature_checks : mapping
        Checks of the dataset kind's own feature keys.
    """
    if config.get("dataset") != kind:
        raise TrainingError(
            f"{origin}: the data config is for a {config.get('dataset')!r} dataset, "
            f"not a {kind!r} dataset"
        )
    checks = {**COMMON_CHECKS, **feature_checks}
    problems = [
        f"{key} must be {what}, got {config.get(key)!r}"
        for key, (ok, what) in checks.items()
        if not ok(config.get(key))
    ]
    if problems:
        raise TrainingError(f"{origin}: malformed data config: {'; '.join(problems)}")


def warn_overrides(user: Mapping[str, Any], config: Mapping[str, Any], stacklevel: int) -> None:
    """Warn for every argument given by the user that the inherited config overrides."""
    for key, value in user.items():
        if value is None:
            continue
        inherited = config.get(key)
        if key == "features_transform":
            warnings.warn(
                "features_transform ignored: inherited from train_source", stacklevel=stacklevel
            )
            continue
        if key == "transforms":
            value = {k: transform_to_json(validate_transform(v, k)) for k, v in value.items()}
        if key == "standardize" and isinstance(value, bool):
            continue
        if value != inherited:
            warnings.warn(
                f"{key}={value!r} ignored: inherited {inherited!r} from train_source",
                stacklevel=stacklevel,
            )


def from_features_transform(
    spec: Mapping[str, Any], names: Sequence[str]
) -> tuple[dict[str, Any], list[str]]:
    """``(transforms, standardize)`` of DeepRank2's ``features_transform`` form.

    ``spec`` is ``{feature | "all": {"transform": f, "standardize": bool}}`` (a feature's own
    entry replaces the ``"all"`` one); ``names`` are the selected features.
    """
    unknown = sorted(set(spec) - set(names) - {"all"})
    if unknown:
        raise TrainingError(
            f"features_transform names unselected/unknown feature(s) {unknown}; "
            f"selected: {list(names)}"
        )
    default = spec.get("all") or {}
    transforms: dict[str, Any] = {}
    standardize: list[str] = []
    for name in names:
        entry = spec.get(name, default) or {}
        if entry.get("transform") is not None:
            transforms[name] = entry["transform"]
        if entry.get("standardize"):
            standardize.append(name)
    return transforms, standardize


def load_transforms(specs: Mapping[str, Any], callables: Mapping[str, Any]) -> dict[str, Any]:
    """The transforms of an inherited data config, validated.

    A transform that was a Python callable is stored as ``{"callable": "<name>"}``: it must
    be passed again (``callables``, the dataset's ``transforms=`` argument).
    """
    out = {}
    for name, spec in specs.items():
        if isinstance(spec, Mapping) and "callable" in spec:
            given = callables.get(name)
            if not callable(given):
                raise TrainingError(
                    f"the training set transformed feature {name!r} with the Python callable "
                    f"{spec['callable']}; pass it again: transforms={{{name!r}: <callable>}}"
                )
            out[name] = given
        else:
            out[name] = validate_transform(spec, name)
    return out
