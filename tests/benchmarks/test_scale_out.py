"""benchmarks/scale_out.py: a tiny run of the scale-out benchmark (serial + 2 local processes)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("benchmarks/scale_out.py")


def test_tiny_scale_out_run_prints_every_figure(bench, capsys):
    assert bench.main(["--queries", "6", "--baseline", "3", "--executors", "processes"]) == 0
    lines = dict(
        line.split(": ", 1) for line in capsys.readouterr().out.splitlines() if ": " in line
    )
    assert lines["processes_entries_exactly_once"] == "1"
    assert float(lines["serial_queries_per_s"].split()[0]) > 0
    assert float(lines["processes_efficiency"].split()[0]) > 0
    assert float(lines["processes_serial_queries_per_s"].split()[0]) > 0  # the runs around it
    assert float(lines["projected_disk_gb_1e6"].split()[0]) > 0
    assert float(lines["processes_worker_cpu_s_per_query"].split()[0]) > 0
    assert float(lines["processes_cores_busy"].split()[0]) > 0
    assert "workers: MALLOC_TRIM_THRESHOLD_=" in lines["# processes"]  # the workers' env


def test_exactly_once_sees_a_missing_entry(bench, tmp_path):
    from deeprank_like.processing import process

    qc = bench.collection(2)
    out = process(qc, bench.make_config(tmp_path / "two", "default"), executor="serial").output
    assert bench.exactly_once(Path(out), qc.ids())
    assert not bench.exactly_once(Path(out), [*qc.ids(), "another"])
    assert not bench.exactly_once(Path(out), qc.ids()[:1])
