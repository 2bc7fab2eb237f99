"""Dask tasks of several queries: exactly once, and a worker that dies costs one item."""

from __future__ import annotations

import pytest
from processing_helpers import HERE  # noqa: F401  (puts this folder on the workers' path)

from deeprank_like.processing import DaskExecutor
from deeprank_like.processing.executors import WorkerCrash


def test_chunk_size_default_and_validation():
    pytest.importorskip("distributed", reason="optional extra: pip install 'deeprank_like[dask]'")

    class Fake(DaskExecutor):
        n_workers = 2

        def __init__(self, chunksize=None):  # no cluster
            self.chunksize = chunksize

    assert Fake().chunk_size(5000) == 32  # capped
    assert Fake().chunk_size(100) == 7  # about 8 tasks per worker
    assert Fake().chunk_size(3) == 1
    assert Fake(5).chunk_size(5000) == 5
    with pytest.raises(ValueError, match="chunksize must be >= 1"):
        DaskExecutor(chunksize=0)


def test_chunks_exactly_once_and_a_killed_worker_fails_only_its_item():
    distributed = pytest.importorskip("distributed", reason="optional extra")
    import dask
    from executor_targets import times_ten_or_die

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
    with cluster, distributed.Client(cluster) as client:
        ex = DaskExecutor(client, chunksize=3)
        got = dict(ex.imap_unordered(times_ten_or_die, list(range(10))))
    assert sorted(got) == list(range(10))  # every item once
    assert isinstance(got[4], WorkerCrash) and got[4].exc_type == "KilledWorker"
    assert {i: v for i, v in got.items() if i != 4} == {i: 10 * i for i in range(10) if i != 4}
