"""The workers verify the shards; the final merge (one process) then only copies.

Verifying every entry (a checksum over all its arrays) was two thirds of the merge, which runs
in one process after the workers are done: on 2 workers it capped every executor near 85 % of
linear. A shard checked by the workers is not verified again unless it changed since; a check
that did not come back leaves the shard to the merge.
"""

from __future__ import annotations

import glob
import time
from dataclasses import replace

import pytest
from processing_helpers import assert_same_entries, entries_of, make_collection

import deeprank_like.processing.run as run_module
import deeprank_like.storage.merge as merge_module
from deeprank_like.processing import Execution, FeaturizeConfig, process
from deeprank_like.processing.executors import WorkerCrash
from deeprank_like.processing.output import finish_output
from deeprank_like.processing.run import _combine_checks, _Outcome
from deeprank_like.processing.worker import check_shard, file_signature
from deeprank_like.storage import list_entries, read_failures
from deeprank_like.storage.files import open_h5
from deeprank_like.storage.integrity import check_file


@pytest.fixture
def merge_checks(monkeypatch):
    """The files the merge of this process verifies itself."""
    seen: list[str] = []
    original = merge_module.check_file

    def recording(f, names=None):
        seen.append(f.filename)
        return original(f, names=names)

    monkeypatch.setattr(merge_module, "check_file", recording)
    return seen


def _config(prefix, combine=True):
    config = FeaturizeConfig(output=str(prefix), processing=Execution(verbose=False))
    return config.replace(storage=replace(config.storage, combine_output=combine))


@pytest.mark.parametrize("workers_check", [True, False])
def test_pool_workers_verify_the_shards_and_the_merge_does_not(
    process_pool, tmp_path, merge_checks, monkeypatch, workers_check
):
    monkeypatch.setattr(run_module, "WORKERS_CHECK_SHARDS", workers_check)
    qc = make_collection(n_ppi=4, srv=False, bad=False)
    reference = entries_of(process(qc, _config(tmp_path / "ref"), executor="serial").output)
    merge_checks.clear()
    summary = process(qc, _config(tmp_path / "p"), executor=process_pool)
    assert summary.processed == 4 and not summary.failures
    assert_same_entries(reference, entries_of(summary.output))
    # with the workers' checks the merge verified only the (empty) output it writes
    shards = [p for p in merge_checks if ".shard-" in p]
    assert merge_checks and bool(shards) != workers_check, merge_checks


@pytest.fixture
def shard(tmp_path):
    """One shard of 3 entries left by a serial run (not merged), and its base path."""
    qc = make_collection(n_ppi=3, srv=False, bad=False, model_ids=())
    process(qc, _config(tmp_path / "s", combine=False), executor="serial")
    (path,) = glob.glob(str(tmp_path / "s.shard-*.hdf5"))
    return path, str(tmp_path / "s")


def _finish(base, verified):
    failures = []
    _, out = finish_output(base, base + ".shard-9-{host}-{pid}.hdf5", failures, {}, True, verified)
    return failures, out


@pytest.mark.parametrize("when", ["before the check", "after the check"])
def test_a_damaged_entry_is_never_merged(shard, merge_checks, when, flip):
    path, base = shard
    names = sorted(list_entries(path))
    if when == "before the check":
        flip(path, names[1], "node_features/res_type")
    record = check_shard({"check_shard": path, "names": None, "shard_template": ""})
    assert record["signature"] == file_signature(path)
    if when == "after the check":
        time.sleep(0.05)  # a later write shows in the file's modification time
        flip(path, names[1], "node_features/res_type")
    verified = {path: (record["check"], record["signature"])}
    failures, out = _finish(base, verified)
    assert sorted(list_entries(out)) == [names[0], names[2]]
    assert [f.exc_type for f in failures] == ["StorageError"]
    assert [r["stage"] for r in read_failures(out)] == ["write"]
    # the worker's listing is used while the shard is unchanged, else the merge verifies it
    assert (path in merge_checks) == (when == "after the check")


def test_check_parts_combine_to_the_whole_file_check(shard):
    path, _ = shard
    with open_h5(path, "r") as f:
        whole = check_file(f)
        keys = sorted(f.keys())
    parts = [
        check_shard({"check_shard": path, "names": keys[i : i + 2], "shard_template": ""})
        for i in range(0, len(keys), 2)
    ]
    combined = _combine_checks(path, [p["check"] for p in parts])
    assert (combined.good, combined.bad, combined.incomplete) == (
        whole.good,
        whole.bad,
        whole.incomplete,
    )
    assert len(combined.good) == 3


def test_a_check_that_did_not_come_back_leaves_the_shard_to_the_merge(shard):
    path, _ = shard
    record = check_shard({"check_shard": path, "names": None, "shard_template": ""})
    outcome = _Outcome()
    outcome.checks[path] = [2, []]  # two parts expected
    outcome.add_check(record)
    outcome.add_check(WorkerCrash("BrokenProcessPool", "died"))  # the other part's worker
    assert outcome.verified() == {}
    outcome.checks[path] = [1, []]
    outcome.add_check(record)
    assert list(outcome.verified()) == [path]
    outcome.add_check({"path": "x.hdf5", "check": None, "signature": None})  # not openable
    assert list(outcome.verified()) == [path]
    missing = check_shard({"check_shard": path + ".gone", "names": None, "shard_template": ""})
    assert missing["check"] is None
