"""Fixtures: small HDF5 feature files (see tests/datasets/builders.py), built once per process."""

from __future__ import annotations

import pytest
import torch

from datasets import builders

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def graph_file():
    return builders.graph_file()


@pytest.fixture(scope="session")
def graph_files_split():
    return builders.graph_files_split()


@pytest.fixture(scope="session")
def unlabelled_file():
    return builders.unlabelled_file()


@pytest.fixture(scope="session")
def grid_file():
    return builders.grid_file()
