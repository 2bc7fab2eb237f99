"""Shared fixtures: paths to the small committed test structures."""

from __future__ import annotations

from pathlib import Path

import pytest

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
