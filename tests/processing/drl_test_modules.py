"""Feature modules for the processing tests (imported by worker processes by path).

The test modules put this folder on ``sys.path``; spawned workers inherit it.
"""

from __future__ import annotations

import os
import time

import numpy as np

from deeprank_like.features.base import FeatureModule, FeatureSpec


class Slow(FeatureModule):
    """Sleeps ``DRL_TEST_SLEEP`` seconds (default 0.3) per query; one constant node feature."""

    name = "drl_test_slow"

    def specs(self, context):
        return (FeatureSpec(name="slow_value", kind="node", description="constant 1"),)

    def compute(self, context):
        time.sleep(float(os.environ.get("DRL_TEST_SLEEP", "0.3")))
        return {"slow_value": np.ones(context.graph.num_nodes)}


class Boom(FeatureModule):
    """Raises RuntimeError for queries whose model id contains "boom"; exits the process for "crash"."""

    name = "drl_test_boom"

    def specs(self, context):
        return (FeatureSpec(name="boom_value", kind="edge", description="constant 0"),)

    def compute(self, context):
        model_id = context.query.model_id
        if "crash" in model_id:
            os._exit(3)  # a worker dying hard (segfault / OOM killer)
        if "boom" in model_id:
            raise RuntimeError(f"boom in {model_id}")
        return {"boom_value": np.zeros(context.graph.num_edges)}


def exit_at_once(_item):
    """Stands in for a worker that dies before running anything (e.g. no main guard)."""
    import os

    os._exit(3)
