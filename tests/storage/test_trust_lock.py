"""Issue 11, item 6: two runs writing the same output at once; the second is refused."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deeprank_like import ProteinProteinInterfaceQuery, QueryCollection
from deeprank_like.processing import process
from deeprank_like.storage import FeatureFile, merge_files, write_graph
from deeprank_like.storage.lock import STALE_AFTER_S, OutputLock, OutputLockedError, lock_path

PDB = Path(__file__).parents[1] / "data" / "pdb"


def _collection(names=("1ATN_1w",)):
    qc = QueryCollection()
    for name in names:
        qc.add(ProteinProteinInterfaceQuery(pdb_path=PDB / f"{name}.pdb", chain_ids=["A", "B"]))
    return qc


def _write_lock(output, pid, host=None, age=0.0):
    path = lock_path(output)
    info = {"pid": pid, "host": host or socket.gethostname(), "started": time.time() - age}
    Path(path).write_text(json.dumps({**info, "command": "deeprank-like featurize x"}))
    if age:
        os.utime(path, (time.time() - age, time.time() - age))
    return path


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_second_writer_is_refused_naming_the_holder(tmp_path, live_pid):
    prefix = tmp_path / "out"
    _write_lock(tmp_path / "out.hdf5", live_pid)
    with pytest.raises(OutputLockedError) as info:
        process(_collection(), prefix=prefix, executor="serial", verbose=False)
    text = str(info.value)
    assert f"pid {live_pid}" in text and socket.gethostname() in text and "out.hdf5.lock" in text
    assert not (tmp_path / "out.hdf5").exists()
    assert not list(tmp_path.glob("out.shard-*"))  # nothing was written
    with pytest.raises(OutputLockedError, match=f"pid {live_pid}"):  # merge too
        merge_files([], tmp_path / "out.hdf5")


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path, dead_pid, caplog):
    _write_lock(tmp_path / "out.hdf5", dead_pid)
    with caplog.at_level(logging.WARNING):
        summary = process(_collection(), prefix=tmp_path / "out", executor="serial", verbose=False)
    assert summary.processed == 1
    assert f"process {dead_pid} is not running" in caplog.text
    assert not Path(lock_path(tmp_path / "out.hdf5")).exists()  # released at the end


def test_lock_of_another_host(tmp_path):
    out = tmp_path / "out.hdf5"
    _write_lock(out, 1, host="elsewhere")
    with pytest.raises(OutputLockedError, match="host elsewhere"):
        OutputLock(out).acquire()
    _write_lock(out, 1, host="elsewhere", age=STALE_AFTER_S + 60)  # no heartbeat: stale
    lock = OutputLock(out).acquire()
    assert json.loads(Path(lock.path).read_text())["pid"] == os.getpid()
    lock.release()
    assert not Path(lock.path).exists()


def test_lock_is_reentrant_in_one_process(tmp_path):
    out = tmp_path / "out.hdf5"
    with OutputLock(out), OutputLock(out):
        assert Path(lock_path(out)).exists()
    assert not Path(lock_path(out)).exists()


RACE = """
import os, sys, time
from pathlib import Path
from deeprank_like import ProteinProteinInterfaceQuery, QueryCollection
from deeprank_like.processing import process
from deeprank_like.storage.lock import OutputLockedError
qc = QueryCollection()
for name in sys.argv[2].split(","):
    qc.add(ProteinProteinInterfaceQuery(pdb_path=Path({pdb!r}) / f"{{name}}.pdb", chain_ids=["A", "B"]))
go = sys.argv[3]
while go and not os.path.exists(go):
    time.sleep(0.005)
try:
    process(qc, prefix=sys.argv[1], executor="serial", resume=True, verbose=False)
except OutputLockedError as exc:
    print("LOCKED", exc)
    sys.exit(3)
print("DONE")
"""


def test_two_runs_at_once_never_mix(tmp_path):
    """A second real run started while the first writes is refused; the output holds only
    the first run's entries (before the lock, both exited 0 and the file held the union)."""
    script = tmp_path / "race.py"
    script.write_text(RACE.format(pdb=str(PDB)))
    prefix = str(tmp_path / "out")
    go = tmp_path / "go"

    def start(names, wait=""):
        return subprocess.Popen(
            [sys.executable, str(script), prefix, names, wait],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    second = start("3C8P", str(go))  # imports, then waits for "go"
    first = start("1ATN_1w,1ATN_2w,1ak4,9api")
    lock = Path(lock_path(tmp_path / "out.hdf5"))
    deadline = time.time() + 120
    while not lock.exists() and first.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    go.touch()
    out2, err2 = second.communicate(timeout=240)
    _out1, err1 = first.communicate(timeout=240)
    assert first.returncode == 0, err1[-2000:]
    assert second.returncode == 3, (out2, err2[-2000:])
    assert "another featurize run is writing it" in out2 and f"pid {first.pid}" in out2
    with FeatureFile(tmp_path / "out.hdf5") as ff:
        assert "residue-ppi:A-B:3C8P" not in ff.entries
    assert not lock.exists()


def test_unwritable_lock_folder_is_a_clear_error(tmp_path, monkeypatch):
    g = ProteinProteinInterfaceQuery(pdb_path=PDB / "1ATN_1w.pdb", chain_ids=["A", "B"]).build()
    write_graph(tmp_path / "a.hdf5", g)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(Exception, match="lock file"):
        OutputLock(tmp_path / "b.hdf5").acquire()
