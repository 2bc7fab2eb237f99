"""Issue 11, item 2 (and the output messages of item 9): a full disk stops the run with one
clear message, and ``resume`` then recovers every complete entry.

The always-running tests fill the "disk" with a file size limit (``RLIMIT_FSIZE``: the kernel
fails the write half-way, as with a full device or an exhausted quota); the root-only test
uses a real 400 KB tmpfs and the command line with worker processes.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import pytest

from deeprank_like.cli import main
from deeprank_like.errors import StorageError
from deeprank_like.storage import FeatureFile, open_h5, write_graph
from deeprank_like.storage import files as files_mod
from deeprank_like.storage._superblock import end_of_file_address, write_flag_set
from deeprank_like.storage.files import DiskFullError, os_error_message
from deeprank_like.storage.integrity import check_file

PDB = Path(__file__).parents[1] / "data" / "pdb"
NAMES = ("1ATN_1w", "1ATN_2w", "3C8P", "1ak4", "9api")

SCRIPT = """
import os, resource, signal, sys
from pathlib import Path
from deeprank_like import ProteinProteinInterfaceQuery, QueryCollection
from deeprank_like.processing import process

limit = int(sys.argv[2])
if sys.argv[3] == "noreserve":  # as on a file system without fallocate
    import deeprank_like.storage.writer as writer
    writer._reserve_space = lambda *args: None
if limit:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write fails with EFBIG instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
qc = QueryCollection()
for name, chains in {queries!r}:
    qc.add(ProteinProteinInterfaceQuery(pdb_path=Path({pdb!r}) / f"{{name}}.pdb", chain_ids=chains))
summary = process(qc, prefix=sys.argv[1], executor="serial", resume=True, verbose=False)
print("RESULT", summary.processed, summary.skipped, summary.failed)
"""

QUERIES = [
    ("1ATN_1w", ["A", "B"]),
    ("1ATN_2w", ["A", "B"]),
    ("3C8P", ["A", "B"]),
    ("1ATN_3w", ["A", "B"]),
    ("1ATN_4w", ["A", "B"]),
]


@pytest.fixture
def pdb_dir(tmp_path):
    d = tmp_path / "pdb"
    d.mkdir()
    for name in ("1ATN_1w", "1ATN_2w", "3C8P"):
        shutil.copy(PDB / f"{name}.pdb", d / f"{name}.pdb")
    for i, name in ((3, "1ATN_3w"), (4, "1ATN_4w")):  # more queries: copies of one decoy
        shutil.copy(PDB / "1ATN_1w.pdb", d / f"{name}.pdb")
        assert i
    return d


def _run(tmp_path, pdb_dir, prefix, limit, reserve=True):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(SCRIPT.format(queries=QUERIES, pdb=str(pdb_dir))))
    env = {**os.environ, "DEEPRANK_LIKE_SPACE_MARGIN": "0"}
    return subprocess.run(
        [sys.executable, str(script), str(prefix), str(limit), "" if reserve else "noreserve"],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
    )


def _result(run) -> tuple[int, int, int]:
    assert run.returncode == 0, run.stderr[-3000:]
    return tuple(int(x) for x in run.stdout.split()[-3:])


def _last_line(run) -> str:
    assert run.returncode != 0
    err = run.stderr
    assert "Exception ignored" not in err and "RuntimeError" not in err, err[-3000:]
    assert err.count("Traceback") == 1  # the script's own uncaught error, nothing from h5py
    return err.strip().splitlines()[-1]


def test_full_disk_stops_cleanly_and_resume_keeps_every_entry(tmp_path, pdb_dir):
    prefix = tmp_path / "out" / "features"
    full = _run(tmp_path, pdb_dir, prefix, limit=400_000)
    last = _last_line(full)
    # one clear message: which file, how much it holds
    assert "DiskFullError: disk full" in last and "file size limit exceeded" in last, last
    assert "features.shard-0-" in last and "bytes" in last and "3 entries" in last, last
    shards = sorted((tmp_path / "out").glob("features.shard-*.hdf5"))
    assert len(shards) == 1
    with open_h5(shards[0]) as f:  # space is reserved before writing: the shard is intact
        check = check_file(f)
    assert check.ok and len(check.good) == 3
    processed, skipped, failed = _result(_run(tmp_path, pdb_dir, prefix, limit=0))
    assert (processed, skipped, failed) == (2, 3, 0)
    with h5py.File(prefix.with_suffix(".hdf5"), "r") as f:
        check = check_file(f)
    assert check.ok and len(check.good) == len(QUERIES)


def test_write_failure_half_way_is_one_message_and_resume_recovers(tmp_path, pdb_dir):
    """Without the reservation (file systems without fallocate) the write fails inside HDF5."""
    prefix = tmp_path / "out" / "features"
    full = _run(tmp_path, pdb_dir, prefix, limit=110_000, reserve=False)
    last = _last_line(full)
    assert "DiskFullError: disk full" in last and "while writing entry" in last, last
    assert "the file holds 110,000 bytes" in last, last
    processed, skipped, failed = _result(_run(tmp_path, pdb_dir, prefix, limit=0))
    assert failed == 0 and processed + skipped == len(QUERIES)
    assert list((tmp_path / "out").glob("features.shard-*.unreadable"))  # quarantined
    with h5py.File(prefix.with_suffix(".hdf5"), "r") as f:
        check = check_file(f)
    assert check.ok and len(check.good) == len(QUERIES)


def test_space_check_refuses_before_touching_the_file(tmp_path, monkeypatch):
    from deeprank_like import ProteinProteinInterfaceQuery

    g = ProteinProteinInterfaceQuery(pdb_path=PDB / "1ATN_1w.pdb", chain_ids=["A", "B"]).build()
    path = tmp_path / "f.hdf5"
    write_graph(path, g)
    g.id = "second"
    monkeypatch.setattr("deeprank_like.storage.writer.free_bytes", lambda p: 50_000)
    with pytest.raises(DiskFullError, match=r"not enough space .* 50,000 bytes free"):
        write_graph(path, g)
    assert not write_flag_set(path)
    with FeatureFile(path) as ff:
        assert ff.entries == ["residue-ppi:A-B:1ATN_1w"]
    monkeypatch.setenv("DEEPRANK_LIKE_SPACE_MARGIN", "a lot")
    with pytest.raises(StorageError, match="DEEPRANK_LIKE_SPACE_MARGIN"):
        write_graph(path, g)


def test_repair_raises_a_short_end_of_file_address(tmp_path):
    """A disk-full writer leaves objects past the superblock's EOA ("addr overflow")."""
    from deeprank_like import ProteinProteinInterfaceQuery

    g = ProteinProteinInterfaceQuery(pdb_path=PDB / "1ATN_1w.pdb", chain_ids=["A", "B"]).build()
    path = tmp_path / "f.hdf5"
    write_graph(path, g)
    size = path.stat().st_size
    with open(path, "ab") as fh:  # bytes written after the last superblock update
        fh.write(b"\0" * 4096)
    raw = bytearray(path.read_bytes()[:48])
    o = raw[9]
    assert end_of_file_address(path) == size
    raw[11] = 1  # "open for write"
    from deeprank_like.storage._superblock import lookup3

    body = bytes(raw[: 12 + 4 * o])
    with open(path, "r+b") as fh:
        fh.write(body + lookup3(body).to_bytes(4, "little"))
    with open_h5(path, repair=True) as f:
        assert check_file(f).ok
    assert end_of_file_address(path) == size + 4096 and not write_flag_set(path)


def test_error_messages_of_the_output_side(tmp_path, monkeypatch):
    p = str(tmp_path / "x.hdf5")
    rofs = OSError(errno.EROFS, "Unable to synchronously create file (Read-only file system)")
    assert "read-only file system" in os_error_message(p, rofs, "create")
    full = OSError(errno.ENOSPC, "Unable to create file (errno = 28, 'No space left on device')")
    assert "no space left on device" in os_error_message(p, full, "create")
    quota = RuntimeError("file write failed: errno = 122, error message = 'Disk quota exceeded'")
    assert "quota" in os_error_message(p, quota, "write")
    gone = str(tmp_path / "missing" / "x.hdf5")
    assert "does not exist" in os_error_message(gone, OSError(errno.ENOENT, "x"), "create")
    # a flagged file on a full disk is not blamed on "another process"
    from deeprank_like import ProteinProteinInterfaceQuery

    g = ProteinProteinInterfaceQuery(pdb_path=PDB / "1ATN_1w.pdb", chain_ids=["A", "B"]).build()
    write_graph(p, g)
    raw = bytearray(Path(p).read_bytes()[:48])
    raw[11] = 1
    from deeprank_like.storage._superblock import lookup3

    body = bytes(raw[: 12 + 4 * raw[9]])
    with open(p, "r+b") as fh:
        fh.write(body + lookup3(body).to_bytes(4, "little"))
    monkeypatch.setattr(files_mod, "free_bytes", lambda path: 0)
    with pytest.raises(StorageError) as info:
        open_h5(p, "a").close()
    assert "file system is full" in str(info.value)
    assert "another process is writing" not in str(info.value)
    monkeypatch.setitem(files_mod.FAILED_WRITES, os.path.abspath(p), "No space left on device")
    with pytest.raises(StorageError, match="an earlier write to it failed"):
        open_h5(p, "a").close()


def test_missing_file_is_not_a_flag_error(tmp_path):
    """write_flag_set() on a path that does not exist used to raise FileNotFoundError, which
    turned "cannot create <file>: read-only" into "No such file"."""
    assert write_flag_set(tmp_path / "absent.hdf5") is False


def test_unwritable_output_folder_fails_at_once(tmp_path):
    from deeprank_like import ProteinProteinInterfaceQuery, QueryCollection
    from deeprank_like.processing import process

    qc = QueryCollection()
    qc.add(ProteinProteinInterfaceQuery(pdb_path=PDB / "1ATN_1w.pdb", chain_ids=["A", "B"]))
    folder = tmp_path / "ro"
    folder.mkdir()
    mounted = False
    if os.geteuid() == 0:  # root ignores permissions: use a read-only mount
        r = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(folder)],
            capture_output=True,
        )
        if r.returncode != 0:
            pytest.skip("cannot mount a read-only tmpfs")
        mounted = True
    else:
        folder.chmod(0o500)
    try:
        with pytest.raises(StorageError) as info:
            process(qc, prefix=folder / "out", executor="serial", verbose=False)
        text = str(info.value)
        assert "read-only file system" in text or "permission denied" in text, text
        assert "No such file" not in text
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=False)
        else:
            folder.chmod(0o700)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_real_full_tmpfs_with_worker_processes(tmp_path, pdb_dir, capsys):
    small = tmp_path / "small"
    small.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(small)], capture_output=True
    )
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {r.stderr!r}")
    try:
        for i in range(5, 8):  # 8 queries: more than fit (each entry reserves ~280 KB)
            shutil.copy(PDB / "1ATN_1w.pdb", pdb_dir / f"copy{i}.pdb")
        out = small / "out.hdf5"
        args = ["deeprank-like", "featurize", "--ppi", "A,B", "--cpu-count", "2"]
        args += ["-o", str(out), str(pdb_dir)]
        env = {**os.environ, "DEEPRANK_LIKE_SPACE_MARGIN": "0"}
        full = subprocess.run(args, capture_output=True, text=True, env=env, timeout=240)
        assert full.returncode == 2
        lines = full.stderr.strip().splitlines()
        assert len(lines) <= 3, full.stderr[-3000:]  # not hundreds of traceback lines
        assert "disk full" in lines[-1] and "no space left on device" in lines[-1], lines[-1]
        damaged = [p for p in small.glob("out.shard-*.hdf5") if p.stat().st_size > 0]
        subprocess.run(["mount", "-o", "remount,size=20m", str(small)], check=True)
        # merge --repair reads a damaged shard instead of failing on "addr overflow"
        code = main(["merge", "--repair", "-o", str(tmp_path / "m.hdf5"), *map(str, damaged)])
        assert code in (0, 1)
        capsys.readouterr()
        again = subprocess.run(
            [*args[:-1], "--resume", str(pdb_dir)], capture_output=True, text=True, timeout=240
        )
        assert again.returncode == 0, again.stderr[-3000:]
        with FeatureFile(out) as ff:
            assert len(ff) == 8
        assert main(["inspect", "--verify", str(out)]) == 0
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
