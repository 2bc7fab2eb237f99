"""Shared fixtures: paths to the small committed test structures, and small HDF5 feature
files (``tests/datasets/builders.py``) built once per session for the dataset, network and
training tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

DATA = Path(__file__).parent / "data"
PDB = DATA / "pdb"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """tests/data."""
    return DATA


@pytest.fixture(scope="session")
def pdb_dir() -> Path:
    """tests/data/pdb."""
    return PDB


def _load_builders():
    # loaded by path under one name, so every test folder shares its caches
    name = "_deeprank_like_test_builders"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(
            name, DATA.parent / "datasets" / "builders.py"
        )
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def builders():
    """The feature-file builders module."""
    return _load_builders()


@pytest.fixture(scope="session")
def graph_file(builders):
    """A labelled residue-graph HDF5 file."""
    return builders.graph_file()


@pytest.fixture(scope="session")
def graph_files_split(builders):
    """The same graphs split over two files."""
    return builders.graph_files_split()


@pytest.fixture(scope="session")
def unlabelled_file(builders):
    """Graphs without targets (inference)."""
    return builders.unlabelled_file()


@pytest.fixture(scope="session")
def grid_file(builders):
    """Graphs with grids."""
    return builders.grid_file()
