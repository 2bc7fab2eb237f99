"""Parallel, failure-tolerant, resumable featurisation into HDF5 (see docs/processing.md)."""

from deeprank_like.processing.executors import (
    DaskExecutor,
    Executor,
    FuturesExecutor,
    MissingDependencyError,
    MPIExecutor,
    ProcessExecutor,
    SerialExecutor,
    get_executor,
)
from deeprank_like.processing.run import output_paths, process, select_shard
from deeprank_like.processing.summary import ProcessSummary, QueryFailure

__all__ = [
    "DaskExecutor",
    "Executor",
    "FuturesExecutor",
    "MPIExecutor",
    "MissingDependencyError",
    "ProcessExecutor",
    "ProcessSummary",
    "QueryFailure",
    "SerialExecutor",
    "get_executor",
    "output_paths",
    "process",
    "select_shard",
]
