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
from deeprank_like.processing.featurize_config import (
    ConfigError,
    Execution,
    FeaturizeConfig,
    GridConfig,
    StorageOptions,
)
from deeprank_like.processing.output import output_paths, select_shard
from deeprank_like.processing.run import process, verify_files
from deeprank_like.processing.summary import ProcessSummary, QueryFailure

__all__ = [
    "ConfigError",
    "DaskExecutor",
    "Execution",
    "Executor",
    "FeaturizeConfig",
    "FuturesExecutor",
    "GridConfig",
    "MPIExecutor",
    "MissingDependencyError",
    "ProcessExecutor",
    "ProcessSummary",
    "QueryFailure",
    "SerialExecutor",
    "StorageOptions",
    "get_executor",
    "output_paths",
    "process",
    "select_shard",
    "verify_files",
]
