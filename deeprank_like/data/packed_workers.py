"""DataLoader worker setup of a packed dataset: the sharing strategy, set once per worker."""

from __future__ import annotations

import os

import torch

__all__: list[str] = []


_STRATEGY_SET_IN: set[int] = set()


def _worker_strategy_pending() -> bool:
    """True in a DataLoader worker whose sharing strategy this module has not set yet."""
    return os.getpid() not in _STRATEGY_SET_IN and torch.utils.data.get_worker_info() is not None


def _set_worker_strategy(strategy: str) -> None:
    """Set torch's sharing strategy in this process and remember that it is set."""
    torch.multiprocessing.set_sharing_strategy(strategy)
    _STRATEGY_SET_IN.add(os.getpid())
