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


ROOT = DATA.parents[1]


def _load_script(relative: str):
    """The module of a repository script (``benchmarks/x.py``, ``scripts/y.py``), loaded by path.

    Registered in ``sys.modules`` under the file's stem (dataclasses and pickling need that),
    once per session.
    """
    path = ROOT / relative
    module = sys.modules.get(path.stem)
    if module is None or Path(getattr(module, "__file__", "")) != path:
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def load_script():
    """``load_script("benchmarks/scale_out.py")``: a repository script as a module."""
    return _load_script


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


def _flip_stored_bytes(path: str | Path, entry: str, dataset: str) -> None:
    """Invert 4 bytes in the middle of the stored bytes of ``entry/dataset`` of an HDF5 file."""
    import h5py

    with h5py.File(path, "r") as f:
        ds = f[entry][dataset]
        if ds.chunks:
            info = ds.id.get_chunk_info(0)
            offset, size = info.byte_offset, info.size
        else:
            offset, size = ds.id.get_offset(), ds.id.get_storage_size()
    with open(path, "r+b") as fh:
        fh.seek(offset + size // 2)
        raw = fh.read(4)
        fh.seek(offset + size // 2)
        fh.write(bytes(b ^ 0xFF for b in raw))


@pytest.fixture(scope="session")
def flip():
    """Corrupt a stored dataset in place: ``flip(path, entry, dataset)`` (checksum tests)."""
    return _flip_stored_bytes
