"""Training targets computed from structures (docking quality against a reference)."""

from deeprank_like.targets.docking import (
    DockingScores,
    capri_class,
    capri_class_official,
    compute_docking_scores,
)
from deeprank_like.targets.dockq import DockQPlan, DockQScores, dockq_score

__all__ = [
    "DockQPlan",
    "DockQScores",
    "DockingScores",
    "capri_class",
    "capri_class_official",
    "compute_docking_scores",
    "dockq_score",
]
