"""Datasets on HDF5 feature files, standardisation, and deterministic splits.

>>> from deeprank_like.data import GraphDataset, split_dataset
>>> ds = GraphDataset("features.hdf5", target="binary", standardize=True)
>>> train, val, test = split_dataset(ds, (0.8, 0.1, 0.1), seed=0)
"""

from deeprank_like.data.base import HDF5Dataset, infer_task
from deeprank_like.data.coulomb_dataset import CoulombMatrixDataset
from deeprank_like.data.graph_dataset import GraphDataset, column_names
from deeprank_like.data.grid_dataset import GridData, GridDataset
from deeprank_like.data.packed import PackedGraphDataset
from deeprank_like.data.split import (
    group_keys,
    kfold_indices,
    kfold_split,
    split_dataset,
    split_indices,
)
from deeprank_like.data.transforms import NAMED_TRANSFORMS, RunningStats, Standardizer

__all__ = [
    "NAMED_TRANSFORMS",
    "CoulombMatrixDataset",
    "GraphDataset",
    "GridData",
    "GridDataset",
    "HDF5Dataset",
    "PackedGraphDataset",
    "RunningStats",
    "Standardizer",
    "column_names",
    "group_keys",
    "infer_task",
    "kfold_indices",
    "kfold_split",
    "split_dataset",
    "split_indices",
]
