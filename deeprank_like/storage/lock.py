"""One writer per output: a lock file next to it naming its owner (PID, host, start time).

``<output>.lock`` is created atomically (a hard link of a fully written temporary file, or
``O_EXCL``) and holds JSON ``{"pid", "host", "started", "command"}``. While the lock is held, a
thread refreshes its modification time every :data:`HEARTBEAT_S` seconds.

A second writer is refused with :class:`OutputLockedError` naming the holder, unless the lock is
stale: its PID is dead on this host, or (for a holder on another host, whose PID cannot be
checked) it was not refreshed for :data:`STALE_AFTER_S` seconds. A stale lock is taken over
with a warning. The lock is re-entrant within one process (``process`` holds it and its final
merge takes it again).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

from deeprank_like.errors import StorageError

__all__ = ["HEARTBEAT_S", "STALE_AFTER_S", "OutputLock", "OutputLockedError", "lock_path"]

log = logging.getLogger(__name__)

#: Seconds between refreshes of a held lock's modification time.
HEARTBEAT_S = 30.0
#: A lock of another host not refreshed for this long is stale.
STALE_AFTER_S = 600.0

_held: dict[str, int] = {}  # lock path → depth, in this process
_held_lock = threading.Lock()


class OutputLockedError(StorageError):
    """Another run is writing the same output."""


def lock_path(output: str | os.PathLike) -> str:
    """The lock file of ``output``: ``<output>.lock``."""
    return os.path.abspath(os.fspath(output)) + ".lock"


def _host() -> str:
    return socket.gethostname() or "localhost"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True
    return True


def _read(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _describe(owner: dict[str, Any]) -> str:
    if not owner:
        return "an unknown process (unreadable lock file)"
    started = owner.get("started")
    when = (
        time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(started)))
        if isinstance(started, int | float)
        else "?"
    )
    cmd = str(owner.get("command", ""))[:120]
    return f"pid {owner.get('pid')} on host {owner.get('host')}, started {when}" + (
        f" ({cmd})" if cmd else ""
    )


class OutputLock:
    """Exclusive lock on an output file (context manager).

    Parameters
    ----------
    output : str or PathLike
        The file to protect; the lock is ``<output>.lock``.
    what : str
        Used in messages ("featurize run", "merge").
    """

    def __init__(self, output: str | os.PathLike, what: str = "run") -> None:
        self.output = os.fspath(output)
        self.path = lock_path(output)
        self.what = what
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._owned = False

    # ---- acquire / release -------------------------------------------------------------
    def acquire(self) -> OutputLock:
        """Take the lock; :class:`OutputLockedError` if a live writer holds it."""
        with _held_lock:
            if self.path in _held:
                _held[self.path] += 1
                return self
        for _ in range(5):
            if self._create():
                break
            owner = _read(self.path)
            if owner is None:  # released meanwhile
                continue
            reason = self._stale(owner)
            if reason is None:
                raise OutputLockedError(
                    f"{self.output}: another {self.what} is writing it: "
                    f"{_describe(owner)} holds {self.path}. Wait for it to finish, or stop it; "
                    f"if it is gone, delete {self.path}"
                )
            log.warning(
                "%s: taking over the stale lock of %s (%s)", self.output, _describe(owner), reason
            )
            aside = f"{self.path}.stale-{os.getpid()}"
            with contextlib.suppress(FileNotFoundError):
                os.replace(self.path, aside)
                os.remove(aside)
        else:
            raise OutputLockedError(f"{self.output}: could not take the lock {self.path}")
        with _held_lock:
            _held[self.path] = 1
        self._owned = True
        self._thread = threading.Thread(target=self._beat, name="output-lock", daemon=True)
        self._thread.start()
        return self

    def release(self) -> None:
        """Release the lock (the file is removed when the outermost holder releases it)."""
        with _held_lock:
            depth = _held.get(self.path, 0)
            if depth > 1:
                _held[self.path] = depth - 1
                return
            _held.pop(self.path, None)
        if not self._owned:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        owner = _read(self.path)
        if owner and owner.get("pid") == os.getpid() and owner.get("host") == _host():
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.path)
        self._owned = False

    def __enter__(self) -> OutputLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    # ---- internals -----------------------------------------------------------------------
    def _create(self) -> bool:
        """Atomically create the lock file with its content; False if it exists."""
        info = {
            "pid": os.getpid(),
            "host": _host(),
            "started": time.time(),
            "command": " ".join(sys.argv)[:500],
        }
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(info, fh)
        except OSError as exc:
            from deeprank_like.storage.files import DiskFullError, disk_full_errno, os_error_message

            message = os_error_message(self.path, exc, "create the lock file")
            if message is None:
                message = f"{self.path}: cannot create the lock file ({exc.strerror or exc})"
            cls = DiskFullError if disk_full_errno(exc) is not None else StorageError
            raise cls(message) from exc
        try:
            try:
                os.link(tmp, self.path)
                return True
            except FileExistsError:
                return False
            except OSError as exc:  # file systems without hard links
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                    raise
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                return False
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(info, fh)
            return True
        finally:
            with contextlib.suppress(OSError):
                os.remove(tmp)

    def _stale(self, owner: dict[str, Any]) -> str | None:
        """Why the lock of ``owner`` is stale, or None if its holder may be alive."""
        try:
            age = time.time() - os.path.getmtime(self.path)
        except OSError:
            return "it vanished"
        pid = owner.get("pid")
        if owner.get("host") == _host() and isinstance(pid, int):
            if pid == os.getpid():
                return None if self.path in _held else "left by this process"
            return None if _pid_alive(pid) else f"process {pid} is not running"
        if age > STALE_AFTER_S:
            return f"not refreshed for {age:.0f} s"
        if not owner and age > HEARTBEAT_S:
            return f"unreadable and {age:.0f} s old"
        return None

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):
                os.utime(self.path)


def is_locked(output: str | os.PathLike) -> bool:
    """True if ``<output>.lock`` exists (whoever holds it)."""
    return Path(lock_path(output)).exists()
