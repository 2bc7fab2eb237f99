"""Module-level functions that executor tests send to worker processes."""

from __future__ import annotations

import os


def times_ten_or_die(item: int) -> int:
    """``10 * item``; item 4 kills its worker process."""
    if item == 4:
        os._exit(1)
    return 10 * item
