"""The local dask cluster of ``DaskExecutor``: what its workers cost, and the caller's environment.

dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` for its workers (30 % more CPU per
featurised query: glibc gives memory back to the kernel and faults it in again) and writes its
``pre-spawn-environ`` into ``os.environ`` of the process that starts the cluster, where an
``mpiexec`` or a process pool started later inherited it; each worker also sampled its task
thread every 10 ms for dask's profiler. ``start_local_cluster`` turns those off where the user
has not set them, and gives the caller its environment back.
"""

from __future__ import annotations

import os

import pytest

from deeprank_like.processing import DaskExecutor
from deeprank_like.processing.executors import LOCAL_CLUSTER_CONFIG, _dask_default

KEYS = ("MALLOC_TRIM_THRESHOLD_", "OMP_NUM_THREADS", "PYTHONHASHSEED")


def _worker_view() -> dict:
    """What a worker sees (runs on the dask worker)."""
    import dask

    return {
        "env": {key: os.environ.get(key) for key in KEYS},
        "profile": dask.config.get("distributed.worker.profile.enabled"),
        "tick": dask.config.get("distributed.admin.tick.interval"),
    }


@pytest.fixture
def distributed():
    return pytest.importorskip(
        "distributed", reason="optional extra: pip install 'deeprank_like[dask]'"
    )


def test_overrides_are_dask_defaults_today(distributed):
    # Each override applies only while the setting is at dask's default: if dask changed a
    # default, this names the setting to look at again.
    for key in LOCAL_CLUSTER_CONFIG:
        assert _dask_default(key) is not None, key
    assert _dask_default("distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_") == 65536


def test_local_workers_keep_glibc_trimming_and_the_caller_its_environment(distributed, monkeypatch):
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    before = dict(os.environ)
    with DaskExecutor(n_workers=1) as ex:
        (view,) = ex.client.run(_worker_view).values()
        assert dict(os.environ) == before  # nothing of dask's pre-spawn-environ leaked here
        got = dict(ex.imap_unordered(abs, [-1, -2, -3]))
    assert got == {0: 1, 1: 2, 2: 3}
    assert view["env"]["MALLOC_TRIM_THRESHOLD_"] is None  # glibc's own threshold
    assert view["env"]["OMP_NUM_THREADS"] == "1"  # dask's other settings stay
    assert view["profile"] is False
    assert view["tick"] == LOCAL_CLUSTER_CONFIG["distributed.admin.tick.interval"]
    assert dict(os.environ) == before


def test_settings_of_the_user_win(distributed, monkeypatch):
    import dask

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    with (
        dask.config.set({"distributed.admin.tick.interval": "50ms"}),
        DaskExecutor(n_workers=1) as ex,
    ):
        (view,) = ex.client.run(_worker_view).values()
    assert view["env"]["MALLOC_TRIM_THRESHOLD_"] == "131072"
    assert view["tick"] == "50ms"  # a setting the user changed is theirs
    assert view["profile"] is False  # the others still apply
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "131072"
