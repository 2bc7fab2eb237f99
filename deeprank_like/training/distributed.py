"""Data-parallel training with ``torch.distributed`` (DDP) and the deterministic batch sampler.

Launch one process per GPU (or per CPU worker with the gloo backend) with ``torchrun`` or
``srun``; in each process call :func:`init_distributed` before building the Trainer, which
then wraps the model in ``DistributedDataParallel`` and shards every batch.

Exactness: all ranks draw the same seeded permutation and cut it into the same *global*
batches of ``batch_size``; each rank takes a contiguous share of every global batch
(``numpy.array_split``). The loss of a step is ``Σ values / Σ weights`` over the global batch
(the weights' sum is all-reduced), scaled by the world size because DDP averages gradients.
So a DDP step computes the same gradient as one process on the whole batch, up to
floating-point summation order. A rank whose share of the last batch is empty runs one padding
item with weight 0. (BatchNorm or dropout in the network would break this equality.)

Environment: torchrun sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``; under SLURM ``SLURM_PROCID``, ``SLURM_NTASKS``, ``SLURM_LOCALID`` are used and
``MASTER_ADDR`` defaults to the first host of ``SLURM_JOB_NODELIST`` (``MASTER_PORT`` 29500).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from deeprank_like.errors import TrainingError

__all__ = [
    "DistContext",
    "GlobalBatchSampler",
    "all_gather_objects",
    "all_reduce_sum",
    "current_context",
    "first_slurm_host",
    "init_distributed",
    "resolve_device",
]


@dataclass(frozen=True)
class DistContext:
    """Rank, world size and local rank of this process (1 process: 0, 1, 0)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        """True with more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True on rank 0 (writes files, logs)."""
        return self.rank == 0


def first_slurm_host(nodelist: str) -> str:
    """First host of a SLURM node list: ``"gpu[03-05,09],cpu1"`` → ``"gpu03"``."""
    m = re.match(r"^([^,\[]+)(\[([^\]]+)\])?", nodelist.strip())
    if not m:
        raise TrainingError(f"cannot parse SLURM node list {nodelist!r}")
    prefix, _, ranges = m.groups()
    if not ranges:
        return prefix
    first = ranges.split(",")[0].split("-")[0]
    return prefix + first


def _env_int(*names: str) -> int | None:
    for name in names:
        if name in os.environ:
            return int(os.environ[name])
    return None


def init_distributed(backend: str | None = None, timeout_s: float = 1800.0) -> DistContext:
    """Initialise the default process group from torchrun or SLURM variables.

    Returns the single-process context when neither is present (or ``WORLD_SIZE`` is 1).
    ``backend`` defaults to ``"nccl"`` with CUDA, else ``"gloo"``. With CUDA the process's
    device is set to ``cuda:LOCAL_RANK``.
    """
    if dist.is_available() and dist.is_initialized():
        return current_context()
    world = _env_int("WORLD_SIZE", "SLURM_NTASKS")
    rank = _env_int("RANK", "SLURM_PROCID")
    local = _env_int("LOCAL_RANK", "SLURM_LOCALID")
    if world is None or world <= 1 or rank is None:
        return DistContext()
    if not dist.is_available():
        raise TrainingError("torch.distributed is not available in this PyTorch build")
    if "MASTER_ADDR" not in os.environ:
        nodelist = os.environ.get("SLURM_JOB_NODELIST") or os.environ.get("SLURM_NODELIST")
        if not nodelist:
            raise TrainingError("set MASTER_ADDR (the host of rank 0) for distributed training")
        os.environ["MASTER_ADDR"] = first_slurm_host(nodelist)
    os.environ.setdefault("MASTER_PORT", "29500")
    if backend is None:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
    local = local if local is not None else rank
    if backend == "nccl":
        torch.cuda.set_device(local)
    dist.init_process_group(
        backend=backend,
        rank=rank,
        world_size=world,
        timeout=_dt.timedelta(seconds=timeout_s),
    )
    return DistContext(rank, world, local)


def current_context() -> DistContext:
    """The context of an initialised process group, else the single-process one."""
    if dist.is_available() and dist.is_initialized():
        local = _env_int("LOCAL_RANK", "SLURM_LOCALID")
        rank = dist.get_rank()
        return DistContext(rank, dist.get_world_size(), local if local is not None else rank)
    return DistContext()


def all_reduce_sum(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum a tensor over all ranks (identity in one process)."""
    if ctx.enabled:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def all_gather_objects(obj: Any, ctx: DistContext) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` in one process)."""
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


class GlobalBatchSampler:
    """Yields, per step, this rank's share of a global batch as ``(index, weight)`` pairs.

    Parameters
    ----------
    num_items : int
    batch_size : int
        Global batch size (over all ranks).
    shuffle : bool
        Seeded permutation per epoch (``seed + epoch``), identical on every rank.
    seed : int
    ctx : DistContext
    """

    def __init__(
        self,
        num_items: int,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        ctx: DistContext | None = None,
    ) -> None:
        if batch_size < 1:
            raise TrainingError(f"batch_size must be ≥ 1, got {batch_size}")
        if num_items < 1:
            raise TrainingError("cannot iterate over an empty dataset")
        self.num_items = int(num_items)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.ctx = ctx or DistContext()
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of ``epoch``."""
        self.epoch = int(epoch)

    def order(self) -> np.ndarray:
        """The global item order of the current epoch."""
        if not self.shuffle:
            return np.arange(self.num_items)
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        return torch.randperm(self.num_items, generator=g).numpy()

    def __len__(self) -> int:
        return (self.num_items + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[list[tuple[int, float]]]:
        order = self.order()
        for start in range(0, self.num_items, self.batch_size):
            batch = order[start : start + self.batch_size]
            share = np.array_split(batch, self.ctx.world_size)[self.ctx.rank]
            if share.size == 0:
                yield [(int(batch[0]), 0.0)]
            else:
                yield [(int(i), 1.0) for i in share]


def resolve_device(device: str | torch.device, ctx: DistContext | None = None) -> torch.device:
    """The torch device for ``device``: ``"auto"`` → CUDA if available, else CPU.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}, a torch device string, or torch.device
        ``"cuda"`` (or ``"auto"`` with CUDA) gives ``cuda:LOCAL_RANK`` under DDP.
    ctx : DistContext, optional
        This process's place in data-parallel training.

    Raises
    ------
    TrainingError
        ``"cuda"`` without CUDA.
    """
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        if not torch.cuda.is_available():
            raise TrainingError("device='cuda' requested but CUDA is not available")
        index = ctx.local_rank if ctx is not None and ctx.enabled else torch.cuda.current_device()
        return torch.device("cuda", index)
    return torch.device(device)
