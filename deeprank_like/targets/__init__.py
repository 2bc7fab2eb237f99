"""Training targets computed from structures (docking quality against a reference)."""

from deeprank_like.targets.docking import (
    DockingScores,
    capri_class,
    capri_class_official,
    compute_docking_scores,
)

__all__ = ["DockingScores", "capri_class", "capri_class_official", "compute_docking_scores"]
