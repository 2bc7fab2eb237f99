"""Example plugin package for deeprank_like (tutorial 3: your own feature module)."""

from my_features.hydropathy import HydropathyBFactor

__all__ = ["HydropathyBFactor"]
