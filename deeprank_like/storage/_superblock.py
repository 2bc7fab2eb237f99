"""Repair the superblock of a file left by a killed (or disk-full) writer.

HDF5 ≥ 1.10 files (superblock version 2 or 3, which ``libver="v110"`` produces) carry a
*file consistency flags* byte that the library sets while a file is open for writing and
clears on close. A process killed while a file is open leaves the flag set, and every later
open fails with "file is already open for write (may use <h5clear file> to clear file
consistency flags)". :func:`clear_write_flag` does what ``h5clear -s`` does: it zeroes the
flag byte and rewrites the superblock checksum (Bob Jenkins' lookup3, as ``H5_checksum_lookup3``).

A writer stopped by a full disk also leaves the superblock's *end-of-file address* (EOA)
behind the objects it managed to write, and every later open fails with "addr overflow".
:func:`repair_superblock` also raises the EOA to the real file size, as ``h5clear
--increment`` does: the bytes after the old EOA become (possibly unused) allocated space.

Only the superblock at offset 0 is handled (files without a user block, as we write them).
"""

from __future__ import annotations

import os

__all__ = [
    "clear_write_flag",
    "end_of_file_address",
    "lookup3",
    "repair_superblock",
    "write_flag_set",
]

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_M = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' ``hashlittle`` (lookup3), as HDF5's ``H5_checksum_lookup3``."""
    length = len(data)
    a = b = c = (0xDEADBEEF + length + initval) & _M
    k = data
    pos = 0
    while length > 12:
        a = (a + int.from_bytes(k[pos : pos + 4], "little")) & _M
        b = (b + int.from_bytes(k[pos + 4 : pos + 8], "little")) & _M
        c = (c + int.from_bytes(k[pos + 8 : pos + 12], "little")) & _M
        # mix(a, b, c)
        a = (a - c) & _M
        a ^= _rot(c, 4)
        c = (c + b) & _M
        b = (b - a) & _M
        b ^= _rot(a, 6)
        a = (a + c) & _M
        c = (c - b) & _M
        c ^= _rot(b, 8)
        b = (b + a) & _M
        a = (a - c) & _M
        a ^= _rot(c, 16)
        c = (c + b) & _M
        b = (b - a) & _M
        b ^= _rot(a, 19)
        a = (a + c) & _M
        c = (c - b) & _M
        c ^= _rot(b, 4)
        b = (b + a) & _M
        length -= 12
        pos += 12
    if length == 0:
        return c
    tail = k[pos : pos + length] + bytes(12 - length)
    a = (a + int.from_bytes(tail[0:4], "little")) & _M
    b = (b + int.from_bytes(tail[4:8], "little")) & _M
    c = (c + int.from_bytes(tail[8:12], "little")) & _M
    # final(a, b, c)
    c ^= b
    c = (c - _rot(b, 14)) & _M
    a ^= c
    a = (a - _rot(c, 11)) & _M
    b ^= a
    b = (b - _rot(a, 25)) & _M
    c ^= b
    c = (c - _rot(b, 16)) & _M
    a ^= c
    a = (a - _rot(c, 4)) & _M
    b ^= a
    b = (b - _rot(a, 14)) & _M
    c ^= b
    c = (c - _rot(b, 24)) & _M
    return c


def _superblock(path: str | os.PathLike) -> tuple[bytes, int] | None:
    """(superblock bytes without checksum, stored checksum) of a v2/v3 superblock, else None."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError:  # missing, unreadable: not ours to repair
        return None
    if len(head) < 12 or head[:8] != _SIGNATURE or head[8] not in (2, 3):
        return None
    size_of_offsets = head[9]
    end = 12 + 4 * size_of_offsets
    if len(head) < end + 4:
        return None
    return head[:end], int.from_bytes(head[end : end + 4], "little")


def write_flag_set(path: str | os.PathLike) -> bool:
    """True if ``path`` has a v2/v3 superblock with a valid checksum and a non-zero flag byte."""
    sb = _superblock(path)
    if sb is None:
        return False
    body, checksum = sb
    return body[11] != 0 and lookup3(body) == checksum


def clear_write_flag(path: str | os.PathLike) -> bool:
    """Zero the consistency flags of ``path`` (``h5clear -s``); True if something changed.

    Does nothing (returns False) for files that are not HDF5 with a v2/v3 superblock, whose
    checksum does not verify, or whose flags are already clear.
    """
    if not write_flag_set(path):
        return False
    body, _ = _superblock(path)  # type: ignore[misc]
    new = bytearray(body)
    new[11] = 0
    with open(path, "r+b") as fh:
        fh.write(bytes(new) + lookup3(bytes(new)).to_bytes(4, "little"))
        fh.flush()
        os.fsync(fh.fileno())
    return True


def end_of_file_address(path: str | os.PathLike) -> int | None:
    """The end-of-file address stored in a v2/v3 superblock with a valid checksum, else None."""
    sb = _superblock(path)
    if sb is None or lookup3(sb[0]) != sb[1]:
        return None
    body = sb[0]
    size = body[9]
    return int.from_bytes(body[12 + 2 * size : 12 + 3 * size], "little")


def repair_superblock(path: str | os.PathLike) -> list[str]:
    """Clear the "open for write" flag and raise a short EOA to the file size.

    Returns
    -------
    list of str
        What was changed (empty if nothing): ``"write flag"``, ``"end-of-file address"``.
        Files that are not HDF5 with a checksummed v2/v3 superblock are left alone.
    """
    sb = _superblock(path)
    if sb is None or lookup3(sb[0]) != sb[1]:
        return []
    body = bytearray(sb[0])
    changed = []
    if body[11] != 0:
        body[11] = 0
        changed.append("write flag")
    size = body[9]
    lo, hi = 12 + 2 * size, 12 + 3 * size
    eoa = int.from_bytes(body[lo:hi], "little")
    file_size = os.path.getsize(path)
    if file_size > eoa:
        body[lo:hi] = file_size.to_bytes(size, "little")
        changed.append("end-of-file address")
    if changed:
        with open(path, "r+b") as fh:
            fh.write(bytes(body) + lookup3(bytes(body)).to_bytes(4, "little"))
            fh.flush()
            os.fsync(fh.fileno())
    return changed
