"""process(): executors agree, failures are isolated, shards partition, outputs are guarded."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import sys
import types

import h5py
import pytest
from processing_helpers import assert_same_entries, entries_of, make_collection

from deeprank_like.errors import StorageError
from deeprank_like.processing import MPIExecutor, ProcessSummary, process
from deeprank_like.processing.executors import MissingDependencyError, get_executor
from deeprank_like.storage import list_entries, merge_files, read_failures


@pytest.fixture(scope="module")
def serial_reference(tmp_path_factory):
    qc = make_collection()
    out = tmp_path_factory.mktemp("serial") / "ref"
    summary = process(qc, prefix=out, executor="serial", verbose=False)
    return summary, entries_of(summary.output)


def test_serial_records_failures_and_writes_the_rest(serial_reference):
    summary, entries = serial_reference
    assert isinstance(summary, ProcessSummary)
    assert summary.processed == 5 and summary.failed == 2 and summary.total == 7
    assert len(entries) == 5
    stages = {f.query_id.split(":")[-1]: (f.stage, f.exc_type) for f in summary.failures}
    assert stages["absent"] == ("load", "StructureError")
    assert stages["101M"] == ("build", "QueryError")
    table = read_failures(summary.output)
    assert sorted(r["query_id"] for r in table) == sorted(f.query_id for f in summary.failures)
    assert all(r["message"] for r in table)
    assert list(summary) == [summary.output]  # behaves like DeepRank2's list of files
    with h5py.File(summary) as f:  # and is path-like
        assert f.attrs["format"] == "deeprank_like"
    line = summary.line()
    assert "processed 5, failed 2" in line and "entries/s" in line


def test_processes_match_serial(serial_reference, process_pool, tmp_path):
    _, reference = serial_reference
    summary = process(
        make_collection(), prefix=tmp_path / "p", executor=process_pool, verbose=False
    )
    assert summary.executor == "processes" and summary.workers == 2
    assert summary.processed == 5 and summary.failed == 2
    assert_same_entries(reference, entries_of(summary.output))
    assert [p.name for p in tmp_path.iterdir()] == ["p.hdf5"]  # shards merged and removed


def test_default_executor_is_processes(serial_reference, tmp_path):
    _, reference = serial_reference
    qc = make_collection(n_ppi=2, srv=False, bad=False)
    summary = process(qc, prefix=str(tmp_path / "d.hdf5"), cpu_count=2, verbose=False)
    assert summary.executor == "processes" and summary.output == str(tmp_path / "d.hdf5")
    got = entries_of(summary.output)
    assert_same_entries({k: reference[k] for k in got}, got)


def test_feature_module_exception_is_recorded(process_pool, tmp_path):
    from drl_test_modules import Boom

    qc = make_collection(n_ppi=1, srv=False, bad=False, model_ids=["boom1", "fine"])
    summary = process(
        qc,
        prefix=tmp_path / "b",
        feature_modules=["components", Boom()],
        executor=process_pool,
        verbose=False,
    )
    assert summary.processed == 2
    (failure,) = summary.failures
    assert failure.stage == "features" and failure.query_id.endswith(":boom1")
    assert "boom in boom1" in failure.message
    assert len(list_entries(summary.output)) == 2


def test_on_error_raise(tmp_path):
    qc = make_collection(n_ppi=1, srv=False, bad=True)
    with pytest.raises(Exception, match="absent|does not match"):
        process(qc, prefix=tmp_path / "r", executor="serial", on_error="raise", verbose=False)


def test_worker_crash_is_recorded_and_the_pool_restarts(tmp_path):
    from drl_test_modules import Boom

    qc = make_collection(n_ppi=1, srv=False, bad=False, model_ids=["crash1", "after1", "after2"])
    summary = process(
        qc,
        prefix=tmp_path / "c",
        feature_modules=["components", Boom()],
        executor="processes",
        cpu_count=1,
        verbose=False,
    )
    # only the culprit fails: queries in flight with it are retried one at a time
    (crashed,) = summary.failures
    assert crashed.stage == "worker" and crashed.query_id.endswith(":crash1")
    assert summary.processed == 3


def test_shards_partition_and_merge(serial_reference, tmp_path):
    _, reference = serial_reference
    qc = make_collection()
    parts = []
    for i in range(3):
        s = process(
            qc, prefix=tmp_path / f"part{i}", executor="serial", shard=(i, 3), verbose=False
        )
        parts.append(s)
    ids = [set(list_entries(s.output)) | {f.query_id for f in s.failures} for s in parts]
    assert sum(len(x) for x in ids) == len(qc) and set().union(*ids) == set(qc.ids())
    assert ids[0] == set(sorted(qc.ids())[0::3])
    merge_files([s.output for s in parts], tmp_path / "all.hdf5")
    assert_same_entries(reference, entries_of(tmp_path / "all.hdf5"))
    assert len(read_failures(tmp_path / "all.hdf5")) == 2
    with pytest.raises(ValueError, match="shard"):
        process(qc, prefix=tmp_path / "x", shard=(3, 3), executor="serial")


def test_combine_output_false_keeps_shards(process_pool, tmp_path):
    qc = make_collection(n_ppi=3, srv=False, bad=True)
    summary = process(
        qc, prefix=tmp_path / "s", combine_output=False, executor=process_pool, verbose=False
    )
    assert summary.output is None and len(summary.files) >= 1
    assert all(".shard-0-" in f for f in summary.files)
    got = set()
    for f in summary.files:
        got |= set(list_entries(f))
    assert len(got) == 3
    merged = merge_files(summary.files, tmp_path / "m.hdf5")
    assert merged.entries == 3 and merged.failures == 2


def test_existing_output_needs_resume_or_overwrite(tmp_path):
    qc = make_collection(n_ppi=1, srv=False, bad=True)
    first = process(qc, prefix=tmp_path / "o", executor="serial", verbose=False)
    with pytest.raises(StorageError, match="resume=True"):
        process(qc, prefix=tmp_path / "o", executor="serial", verbose=False)
    again = process(qc, prefix=tmp_path / "o", executor="serial", resume=True, verbose=False)
    assert again.skipped == 1 and again.processed == 0 and again.failed == 2  # failures retried
    assert list_entries(first.output) == list_entries(again.output)
    fresh = process(qc, prefix=tmp_path / "o", executor="serial", overwrite=True, verbose=False)
    assert fresh.processed == 1


def test_float64_and_lzf(tmp_path):
    qc = make_collection(n_ppi=1, srv=False, bad=False)
    s = process(
        qc,
        prefix=tmp_path / "f",
        executor="serial",
        float_dtype="float64",
        compression="lzf",
        verbose=False,
    )
    with h5py.File(s.output) as f:
        entry = f[list_entries(s.output)[0]]
        assert entry["node_features/res_mass"].dtype == "float64"
        assert entry["node_features/res_mass"].compression == "lzf"


def test_bad_arguments(tmp_path):
    qc = make_collection(n_ppi=1, srv=False, bad=False)
    with pytest.raises(ValueError, match="on_error"):
        process(qc, prefix=tmp_path / "a", on_error="ignore")
    with pytest.raises(ValueError, match="grid_augmentation_count"):
        process(qc, prefix=tmp_path / "a", grid_augmentation_count=-1)
    with pytest.raises(ValueError, match="unknown executor"):
        get_executor("threads")
    with pytest.raises(Exception, match="unknown feature module"):
        process(qc, prefix=tmp_path / "a", feature_modules=["nope"])


def test_grids_are_written(tmp_path, process_pool):
    from deeprank_like.grid import GridSettings

    qc = make_collection(n_ppi=1, srv=True, bad=False)
    kwargs = dict(
        grid_settings=GridSettings((8, 8, 8), (16.0, 16.0, 16.0)),
        grid_map_method="nearest",
        grid_augmentation_count=1,
        grid_seed=3,
        verbose=False,
    )
    a = process(qc, prefix=tmp_path / "g1", executor="serial", **kwargs)
    b = process(qc, prefix=tmp_path / "g2", executor=process_pool, **kwargs)
    assert a.processed == b.processed == 2
    with h5py.File(a.output) as fa, h5py.File(b.output) as fb:
        for name in list_entries(a.output):
            assert sorted(fa[name]["grids"]) == ["000", "001"]
            assert (fa[name]["grids/001"][()] == fb[name]["grids/001"][()]).all()


# ---- MPI ---------------------------------------------------------------------------------
class _FakeMPIPool(cf.ProcessPoolExecutor):
    def __init__(self, max_workers=None, **kwargs):
        super().__init__(
            max_workers=max_workers or 2, mp_context=multiprocessing.get_context("spawn")
        )


def test_mpi_executor_code_path_with_local_processes(serial_reference, tmp_path, monkeypatch):
    """The MPIExecutor path, with mpi4py.futures.MPIPoolExecutor replaced by a local pool."""
    fake = types.ModuleType("mpi4py.futures")
    fake.MPIPoolExecutor = _FakeMPIPool
    monkeypatch.setitem(sys.modules, "mpi4py", types.ModuleType("mpi4py"))
    monkeypatch.setitem(sys.modules, "mpi4py.futures", fake)
    _, reference = serial_reference
    summary = process(
        make_collection(), prefix=tmp_path / "mpi", executor="mpi", cpu_count=2, verbose=False
    )
    assert summary.executor == "mpi" and summary.processed == 5
    assert_same_entries(reference, entries_of(summary.output))


def test_missing_optional_dependency_names_pip_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setitem(sys.modules, "mpi4py.futures", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'deeprank_like\[mpi\]'"):
        MPIExecutor(2)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'deeprank_like\[dask\]'"):
        get_executor("dask")
