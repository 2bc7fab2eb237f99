"""Fixtures: small HDF5 feature files (tests/datasets/builders.py), built once per process."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)


def _load_builders():
    # loaded by path under one name, so tests/{datasets,nn,training} share its caches
    name = "_deeprank_like_test_builders"
    module = sys.modules.get(name)
    if module is None:
        path = Path(__file__).resolve().parents[1] / "datasets" / "builders.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def builders():
    return _load_builders()


@pytest.fixture(scope="session")
def graph_file(builders):
    return builders.graph_file()


@pytest.fixture(scope="session")
def graph_files_split(builders):
    return builders.graph_files_split()


@pytest.fixture(scope="session")
def unlabelled_file(builders):
    return builders.unlabelled_file()


@pytest.fixture(scope="session")
def grid_file(builders):
    return builders.grid_file()
