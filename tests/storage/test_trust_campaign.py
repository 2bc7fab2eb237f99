"""Issue 11, around items 2, 3 and 6: damaged, foreign and half-written outputs.

Truncated files, files that are not HDF5, empty files, entries missing their complete flag,
and a kill during a merge; each must give a clear message and never lose or duplicate a
complete entry on resume.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import pytest

from deeprank_like import ProteinProteinInterfaceQuery, QueryCollection
from deeprank_like.cli import main
from deeprank_like.errors import StorageError
from deeprank_like.processing import process
from deeprank_like.storage import FeatureFile, merge_files, open_h5, write_graph
from deeprank_like.storage.integrity import check_file
from deeprank_like.storage.lock import lock_path

PDB = Path(__file__).parents[1] / "data" / "pdb"
NAMES = ("1ATN_1w", "1ATN_2w", "3C8P")


def _collection():
    qc = QueryCollection()
    for name in NAMES:
        qc.add(ProteinProteinInterfaceQuery(pdb_path=PDB / f"{name}.pdb", chain_ids=["A", "B"]))
    return qc


@pytest.fixture(scope="module")
def done_run(tmp_path_factory):
    """A finished run's output (3 entries), copied by each test that damages it."""
    prefix = tmp_path_factory.mktemp("base") / "run"
    return Path(process(_collection(), prefix=prefix, executor="serial", verbose=False).output)


def _resume(prefix):
    return process(_collection(), prefix=prefix, executor="serial", verbose=False, resume=True)


def _assert_complete(path):
    with h5py.File(path, "r") as f:
        check = check_file(f)
    assert check.ok and len(check.good) == len(NAMES) and not check.incomplete


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("truncate", "corrupted (truncated: 40,000 of"),
        ("text", "not an HDF5 file or corrupted (no HDF5 signature"),
        ("empty", "empty file (0 bytes)"),
    ],
)
def test_unopenable_outputs(tmp_path, done_run, damage, message, capsys):
    out = tmp_path / "run.hdf5"
    data = done_run.read_bytes()
    out.write_bytes({"truncate": data[:40_000], "text": b"id,score\n1,2\n", "empty": b""}[damage])
    with pytest.raises(StorageError, match=re.escape(message)):
        open_h5(out).close()
    assert main(["inspect", str(out)]) == 2
    assert message in capsys.readouterr().err
    # merge refuses it by name; --repair skips it and says so (exit 1)
    with pytest.raises(StorageError, match="run.hdf5"):
        merge_files([out], tmp_path / "m.hdf5")
    assert main(["merge", "--repair", "-o", str(tmp_path / "m.hdf5"), str(out)]) == 1
    assert "unreadable input skipped" in capsys.readouterr().err
    # resume sets it aside (an empty file is just removed) and recomputes its queries
    summary = _resume(tmp_path / "run")
    assert (summary.processed, summary.skipped, summary.failed) == (3, 0, 0)
    _assert_complete(out)
    assert (tmp_path / "run.hdf5.unreadable").exists() == (damage != "empty")


def test_entry_without_complete_flag(tmp_path, done_run, capsys):
    """Was: resume recomputed the entry, then its merge into the output failed with
    "Unable to copy object (destination object already exists)"."""
    out = tmp_path / "run.hdf5"
    out.write_bytes(done_run.read_bytes())
    with h5py.File(out, "r+") as f:
        f["residue-ppi:A-B:1ATN_2w"].attrs["complete"] = 0
    with FeatureFile(out) as ff:
        assert len(ff) == 2
    assert main(["inspect", "--verify", str(out)]) == 0  # ignored by readers, reported
    assert "incomplete residue-ppi:A-B:1ATN_2w" in capsys.readouterr().out
    summary = _resume(tmp_path / "run")
    assert (summary.processed, summary.skipped) == (1, 2)
    _assert_complete(out)
    # merging into an output that holds the incomplete group works too
    with h5py.File(out, "r+") as f:
        f["residue-ppi:A-B:1ATN_2w"].attrs["complete"] = 0
    src = tmp_path / "one.hdf5"
    g = ProteinProteinInterfaceQuery(pdb_path=PDB / "1ATN_2w.pdb", chain_ids=["A", "B"]).build()
    write_graph(src, g)
    result = merge_files([src], out, append=True)
    assert result.copied == 1 and result.entries == 3
    _assert_complete(out)


KILL = """
import os, signal, sys
from pathlib import Path
import deeprank_like.storage.merge as merge
calls = [0]
real_copy = merge.copy_object
def copy(*args, **kwargs):  # the merge copies one entry
    calls[0] += 1
    if calls[0] == int(sys.argv[2]):
        os.kill(os.getpid(), signal.SIGKILL)
    return real_copy(*args, **kwargs)
merge.copy_object = copy
from deeprank_like import ProteinProteinInterfaceQuery, QueryCollection
from deeprank_like.processing import process
from deeprank_like.storage import merge_files
if sys.argv[1] == "process":
    qc = QueryCollection()
    for name in {names!r}:
        qc.add(ProteinProteinInterfaceQuery(pdb_path=Path({pdb!r}) / f"{{name}}.pdb", chain_ids=["A", "B"]))
    process(qc, prefix=sys.argv[3], executor="serial", verbose=False, combine_output=True)
else:
    merge_files(sys.argv[4:], sys.argv[3])
"""


def _killed(tmp_path, *args):
    script = tmp_path / "kill.py"
    script.write_text(textwrap.dedent(KILL.format(names=NAMES, pdb=str(PDB))))
    r = subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True)
    assert r.returncode == -9, r.stderr[-2000:]


def test_kill_during_the_final_merge_then_resume(tmp_path):
    prefix = tmp_path / "run"
    _killed(tmp_path, "process", 2, prefix)  # SIGKILL while copying the 2nd entry
    assert list(tmp_path.glob("run.hdf5.tmp-*"))  # the merge's temporary file
    assert list(tmp_path.glob("run.shard-*.hdf5"))  # the shard is intact
    assert Path(lock_path(tmp_path / "run.hdf5")).exists()  # left by the dead run
    summary = _resume(prefix)
    assert (summary.processed, summary.skipped, summary.failed) == (0, 3, 0)
    _assert_complete(tmp_path / "run.hdf5")
    assert not list(tmp_path.glob("run.hdf5.tmp-*"))
    assert not list(tmp_path.glob("run.shard-*"))
    assert not Path(lock_path(tmp_path / "run.hdf5")).exists()


def test_kill_during_merge_command_then_merge_again(tmp_path, done_run, capsys):
    parts = []
    with FeatureFile(done_run) as ff:
        graphs = [ff.read_graph(q) for q in ff.entries]
    for i, g in enumerate(graphs):
        parts.append(tmp_path / f"part-{i}.hdf5")
        write_graph(parts[-1], g)
    out = tmp_path / "merged.hdf5"
    _killed(tmp_path, "merge", 2, out, *parts)
    assert not out.exists()  # never half-written
    leftovers = list(tmp_path.glob("merged.hdf5.tmp-*"))
    assert leftovers
    assert main(["merge", "-o", str(out), *map(str, parts)]) == 0
    assert not any(p.exists() for p in leftovers)  # removed under the lock
    _assert_complete(out)
