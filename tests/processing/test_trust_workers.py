"""Worker processes die with their parent (issue 11, item 10: orphaned workers).

The parent is killed with SIGKILL alone (not its process group), as a user's ``kill -9`` or
the OOM killer would; its spawned workers must be gone within a few seconds.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc and sends POSIX signals"
)


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of a process from /proc, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def _alive(pid: int) -> bool:
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")  # a zombie has exited


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            st = _stat(int(entry.name))
            if st is not None and st[1] == pid:
                out.append(int(entry.name))
    return out


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    left = [p for p in pids if _alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if _alive(p)]
    return left


def _kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _complete_entries(prefix: Path) -> int:
    import h5py

    from deeprank_like.processing import output_paths

    n = 0
    for path in output_paths(prefix)[1]:
        try:
            with h5py.File(path, "r", locking=False) as f:
                n += sum(1 for k in f if not k.startswith("_") and f[k].attrs.get("complete") == 1)
        except Exception:  # being written right now
            pass
    return n


def test_workers_die_with_killed_parent(tmp_path):
    """process() with 2 workers; SIGKILL of the parent only; the workers exit within 5 s."""
    prefix = tmp_path / "run"
    env = dict(os.environ, DRL_TEST_SLEEP="1.0")  # workers are inside a query when killed
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "kill_target.py"), str(prefix)],
        env=env,
        start_new_session=True,  # so that cleanup can reach anything left over
        stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # until the workers run queries
            workers = [p for p in _children(proc.pid) if "resource_tracker" not in _cmdline(p)]
            if workers and _complete_entries(prefix) >= 1:
                break
            assert proc.poll() is None, "the run ended before it was killed"
            time.sleep(0.05)
        else:
            pytest.fail("no entry written within 90 s")
        assert len(workers) == min(2, len(os.sched_getaffinity(0)))
        assert all(_alive(p) for p in workers)
        os.kill(proc.pid, signal.SIGKILL)  # the parent only
        proc.wait()
        left = _wait_gone(workers, 5.0)
        assert not left, f"workers {left} outlived their killed parent by 5 s"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        _kill_all(workers)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def test_parent_watch_without_death_signal(tmp_path):
    """The fallback alone (no prctl, as on macOS): the watch thread ends an orphaned worker."""
    script = tmp_path / "parent.py"
    script.write_text(
        textwrap.dedent(
            """
            import multiprocessing, os, sys, time
            from deeprank_like.processing.executors import init_worker

            def child(parent, ready):
                init_worker(parent, use_death_signal=False, interval=0.1)
                ready.set()
                time.sleep(60)

            if __name__ == "__main__":
                ctx = multiprocessing.get_context("spawn")
                ready = ctx.Event()
                p = ctx.Process(target=child, args=(os.getpid(), ready))
                p.start()
                assert ready.wait(120)
                print(p.pid, flush=True)
                time.sleep(60)
            """
        )
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    child = None
    try:
        child = int(proc.stdout.readline())  # printed once the child's watch runs
        assert _alive(child)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert not _wait_gone([child], 5.0), "the parent-watch did not end the orphan"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if child is not None:
            _kill_all([child])


def test_worker_whose_parent_is_already_gone_exits(tmp_path):
    """A worker that starts after its parent died (wrong parent pid) exits at once."""
    code = (
        "from deeprank_like.processing.executors import init_worker; import time; "
        "print('imported', flush=True); init_worker(1, use_death_signal=False); time.sleep(30)"
    )
    if os.getpid() == 1:  # pragma: no cover - tests running as PID 1
        pytest.skip("test process is PID 1")
    t0 = time.monotonic()
    run = subprocess.run([sys.executable, "-c", code], timeout=60, capture_output=True, text=True)
    assert (run.returncode, run.stdout) == (1, "imported\n"), run.stderr
    assert time.monotonic() - t0 < 25
