"""DDP with 2 gloo processes gives the same training as one process (up to float rounding)."""

from __future__ import annotations

import importlib
import socket
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp

from deeprank_like.training.distributed import DistContext, GlobalBatchSampler, first_slurm_host


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_global_batch_sampler_shards_and_pads():
    single = list(GlobalBatchSampler(6, 5, shuffle=True, seed=3))
    ranks = [list(GlobalBatchSampler(6, 5, True, 3, DistContext(r, 2, r))) for r in range(2)]
    assert len(single) == len(ranks[0]) == len(ranks[1]) == 2
    for step, batch in enumerate(single):
        merged = [i for r in ranks for i, w in r[step] if w > 0]
        assert merged == [i for i, _ in batch]
    assert ranks[1][1][0][1] == 0.0  # 1-item last batch: rank 1 runs one weight-0 padding item
    sampler = GlobalBatchSampler(6, 5, True, 3)
    sampler.set_epoch(1)
    assert [i for b in sampler for i, _ in b] != [i for b in single for i, _ in b]


def test_first_slurm_host():
    assert first_slurm_host("gpu[03-05,09],cpu1") == "gpu03"
    assert first_slurm_host("node7") == "node7"


@pytest.mark.slow
def test_ddp_two_gloo_processes_match_one_process(graph_file, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    worker = importlib.import_module("_ddp_worker")
    single, ddp = tmp_path / "single", tmp_path / "ddp"
    worker.train_both(str(single), str(graph_file))
    mp.spawn(
        worker.rank_main, args=(2, _free_port(), str(ddp), str(graph_file)), nprocs=2, join=True
    )
    for target in ("irmsd", "binary"):
        a = torch.load(single / f"{target}.pt", weights_only=True)
        b = torch.load(ddp / f"{target}.pt", weights_only=True)
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)
        ha, hb = pd.read_csv(single / f"{target}.csv"), pd.read_csv(ddp / f"{target}.csv")
        cols = [c for c in ha.columns if c not in ("time_s", "items_per_s")]
        pd.testing.assert_frame_equal(ha[cols], hb[cols], rtol=1e-4)
