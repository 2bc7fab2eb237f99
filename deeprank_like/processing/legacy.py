"""The deprecated keywords of ``process()`` mapped onto a :class:`FeaturizeConfig` (one place)."""

from __future__ import annotations

from typing import Any

from deeprank_like.errors import GridError
from deeprank_like.grid.settings import GridSettings
from deeprank_like.processing.config_fields import ConfigError, is_int
from deeprank_like.processing.featurize_config import FeaturizeConfig

__all__ = ["LEGACY_KEYWORDS", "LEGACY_POSITIONAL", "config_from_keywords"]


#: process() keyword → (section, field) of FeaturizeConfig (section None: top level).
LEGACY_KEYWORDS: dict[str, tuple[str | None, str]] = {
    "prefix": (None, "output"),
    "feature_modules": (None, "feature_modules"),
    "cpu_count": ("processing", "cpu_count"),
    "executor": ("processing", "executor"),
    "on_error": ("processing", "on_error"),
    "resume": ("processing", "resume"),
    "overwrite": ("processing", "overwrite"),
    "shard": ("processing", "shard"),
    "progress": ("processing", "progress"),
    "verbose": ("processing", "verbose"),
    "log_error_traceback": ("processing", "log_error_traceback"),
    "combine_output": ("storage", "combine_output"),
    "float_dtype": ("storage", "float_dtype"),
    "compression": ("storage", "compression"),
    "grid_settings": ("grid", "points_counts"),  # and sizes
    "grid_map_method": ("grid", "method"),
    "grid_augmentation_count": ("grid", "augmentation_count"),
    "grid_seed": ("grid", "seed"),
}
#: The positional order of the old signature after ``collection``.
LEGACY_POSITIONAL = (
    "prefix",
    "feature_modules",
    "cpu_count",
    "combine_output",
    "grid_settings",
    "grid_map_method",
    "grid_augmentation_count",
    "grid_seed",
)


def config_from_keywords(base: FeaturizeConfig | None = None, **kwargs: Any) -> FeaturizeConfig:
    """``base`` (default ``FeaturizeConfig()``) changed by the deprecated keywords of
    ``process``: the one place that maps them onto the config (errors name the keyword).

    A keyword given as None leaves the field as it is, except ``cpu_count``, ``progress`` and
    ``grid_seed``, for which None is a value.

    Raises
    ------
    TypeError
        For a keyword ``process`` never had.
    ConfigError
        For a bad value, naming the keyword.
    """
    unknown = sorted(set(kwargs) - set(LEGACY_KEYWORDS))
    if unknown:
        raise TypeError(f"process() got unexpected keyword argument(s) {unknown}")
    data = (base or FeaturizeConfig()).to_dict()
    grid = dict(data["grid"] or {})
    for key, value in kwargs.items():
        section, name = LEGACY_KEYWORDS[key]
        if key == "grid_settings":
            if value is None:
                continue
            try:
                settings = GridSettings.coerce(value)
            except GridError as exc:
                raise ConfigError(f"grid_settings: {exc}", "grid_settings") from None
            grid.update(points_counts=settings.points_counts, sizes=settings.sizes)
        elif value is None and name not in ("cpu_count", "progress", "seed"):
            continue
        elif section is None:
            data[name] = value
        elif section == "grid":
            grid[name] = value
        else:
            data[section][name] = value
    count = grid.get("augmentation_count", 0)
    if is_int(count) and count < 0:
        raise ConfigError(f"grid_augmentation_count must be >= 0, got {count}")
    if grid and "points_counts" not in grid:
        if kwargs.get("grid_map_method") is not None or kwargs.get("grid_augmentation_count"):
            raise ConfigError("grid_map_method / grid_augmentation_count need grid_settings")
        grid = {}
    data["grid"] = grid or None
    try:
        return FeaturizeConfig.from_dict(data)
    except ConfigError as exc:
        keyword = next(
            (k for k, (_, n) in LEGACY_KEYWORDS.items() if n == exc.field and k in kwargs), None
        )
        if keyword is None:
            raise
        raise ConfigError(f"{keyword}: {exc.args[0]}", exc.field) from None
