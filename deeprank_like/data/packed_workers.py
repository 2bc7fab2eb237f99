"""DataLoader worker setup of a packed dataset: the sharing strategy, set once per worker.

A worker hands each batch to the training process through a pipe; torch's reducer moves
every tensor's storage into its own shared-memory segment (``file_system``) or passes its
descriptor (``file_descriptor``): about 0.25 ms of worker CPU per tensor, whatever its size.
A collated PyG batch of graphs has 18 tensors, 14 of them of a few bytes (the batch's
``_slice_dict`` / ``_inc_dict`` offsets, ``y``, ``ptr``, sample ids), so most of that cost is
spent on tiny tensors. In the workers of a packed dataset, tensors of at most
:data:`SMALL_TENSOR_BYTES` therefore travel by value inside the pickle (a copy of a few
bytes); the large ones (``x``, ``edge_index``, ``edge_attr``) keep the shared-memory path.

The worker also moves the objects it inherited through ``fork`` out of the cyclic garbage
collector's reach (``gc.freeze()``): a full collection would otherwise walk every object of the
training process (and copy the pages it touches), about 0.07 ms per graph read in a measured
worker whose parent holds two million objects. Objects are still freed by reference counting.
"""

from __future__ import annotations

import gc
import os
from multiprocessing.reduction import ForkingPickler
from typing import Any

import numpy as np
import torch

__all__ = ["SMALL_TENSOR_BYTES"]

#: Tensors of at most this many bytes are pickled by value in packed-dataset workers.
SMALL_TENSOR_BYTES = 64 * 1024

_STRATEGY_SET_IN: set[int] = set()


def _worker_strategy_pending() -> bool:
    """True in a DataLoader worker whose sharing strategy this module has not set yet."""
    return os.getpid() not in _STRATEGY_SET_IN and torch.utils.data.get_worker_info() is not None


def _rebuild_small(buffer: bytearray, dtype: str, shape: tuple[int, ...]) -> torch.Tensor:
    """A tensor of ``shape`` and numpy ``dtype`` over ``buffer`` (the pickled bytes)."""
    return torch.from_numpy(np.frombuffer(buffer, dtype=np.dtype(dtype)).reshape(shape))


def _reduce_tensor(tensor: torch.Tensor) -> tuple[Any, tuple]:
    """Small plain CPU tensors by value; every other one through torch's shared memory."""
    from torch.multiprocessing.reductions import reduce_tensor

    if (
        type(tensor) is torch.Tensor
        and tensor.layout == torch.strided
        and tensor.device.type == "cpu"
        and not tensor.requires_grad
        and tensor.dtype not in (torch.bfloat16,)
        and not tensor.is_quantized
        and tensor.numel() * tensor.element_size() <= SMALL_TENSOR_BYTES
    ):
        array = tensor.numpy()
        return _rebuild_small, (bytearray(array.tobytes()), array.dtype.str, array.shape)
    return reduce_tensor(tensor)


def _set_worker_strategy(strategy: str) -> None:
    """Set torch's sharing strategy in this process (a DataLoader worker) and remember it.

    Also makes small tensors travel by value and freezes the inherited objects (see the
    module docstring).
    """
    torch.multiprocessing.set_sharing_strategy(strategy)
    ForkingPickler.register(torch.Tensor, _reduce_tensor)
    gc.freeze()  # the inherited objects: never collected here, pages not copied
    _STRATEGY_SET_IN.add(os.getpid())
