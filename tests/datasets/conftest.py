"""Shared pieces of the packed-view tests (test_packed.py, test_packed_batch.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from deeprank_like.storage.packed import pack_graphs


def assert_same_item(a, b) -> None:
    """Two PyG items are equal: same keys, entry id, dtypes, shapes and values."""
    assert sorted(a.keys()) == sorted(b.keys())
    assert a.entry_id == b.entry_id
    for key in sorted(a.keys()):  # Data iterates (key, value) pairs
        va, vb = a[key], b[key]
        if torch.is_tensor(va):
            assert va.dtype == vb.dtype and va.shape == vb.shape, key
            assert torch.equal(va, vb), f"{a.entry_id}: {key} differs"
        else:
            assert va == vb, key


@pytest.fixture(scope="module")
def sources(graph_files_split, tmp_path_factory) -> list[Path]:
    """Copies of the two feature files, one set per test module (tests change them)."""
    folder = tmp_path_factory.mktemp("packed_sources")
    out = []
    for p in graph_files_split:
        out.append(folder / Path(p).name)
        shutil.copy2(p, out[-1])
    return out


@pytest.fixture(scope="module")
def packed(sources, tmp_path_factory) -> Path:
    """A packed file of ``sources``, one per test module."""
    return Path(pack_graphs(sources, tmp_path_factory.mktemp("packed") / "train.packed.h5"))
