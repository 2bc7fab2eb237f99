"""Feature modules: the plugin protocol, the registry and the built-in modules."""

from deeprank_like.features.base import FeatureContext, FeatureModule, FeatureSpec
from deeprank_like.features.registry import available_modules, register, resolve_module

__all__ = [
    "FeatureContext",
    "FeatureModule",
    "FeatureSpec",
    "available_modules",
    "register",
    "resolve_module",
]
