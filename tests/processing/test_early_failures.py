"""Failures that must be reported at once rather than query by query."""

from __future__ import annotations

import sys
import time
import types

import numpy as np
import pytest
from processing_helpers import make_collection

from deeprank_like.errors import DeeprankLikeError
from deeprank_like.features import FeatureModule, FeatureSpec
from deeprank_like.processing import process
from deeprank_like.processing.executors import ProcessExecutor, WorkerCrash


class InteractiveModule(FeatureModule):
    name = "interactive_test_module"

    def specs(self, context):
        return (FeatureSpec(name="one_node", kind="node"),)

    def compute(self, context):
        return {"one_node": np.ones(context.graph.num_nodes)}


def test_module_from_an_interactive_session_fails_before_any_worker(tmp_path, monkeypatch):
    monkeypatch.setattr(InteractiveModule, "__module__", "__main__")
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))  # no __file__
    with pytest.raises(DeeprankLikeError, match="defined interactively.*executor='serial'"):
        process(make_collection(2, srv=False, bad=False), prefix=tmp_path / "x",
                feature_modules=[InteractiveModule()], cpu_count=2)  # fmt: skip


def test_workers_that_cannot_start_fail_every_item_fast():
    from drl_test_modules import exit_at_once

    ex = ProcessExecutor(2)
    try:
        t0 = time.perf_counter()
        results = dict(ex.imap_unordered(exit_at_once, list(range(12))))
        elapsed = time.perf_counter() - t0
    finally:
        ex.close()
    assert sorted(results) == list(range(12))
    assert all(isinstance(r, WorkerCrash) and "__main__" in r.message for r in results.values())
    assert elapsed < 60  # not one fresh pool per item
