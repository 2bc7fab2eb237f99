"""GridDataset: shapes, augmented items, feature expansion, per-channel standardisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_geometric.loader import DataLoader

from deeprank_like.data import GridDataset, split_dataset
from deeprank_like.errors import StorageError


def test_items_shapes_and_batches(grid_file):
    ds = GridDataset(grid_file, target="irmsd")
    assert len(ds) == 6 * 3  # unrotated + 2 augmented grids per entry
    assert ds.grid_shape == (8, 8, 8)
    item = ds[0]
    assert item.x.shape == (ds.num_channels, 8, 8, 8) and item.x.dtype == torch.float32
    assert item.grid_number == 0 and ds[1].grid_number == 1
    assert ds[0].entry_id == ds[2].entry_id and ds[0].y == ds[2].y
    batch = next(iter(DataLoader(ds, batch_size=4)))
    assert batch.x.shape == (4, ds.num_channels, 8, 8, 8)
    assert batch.y.shape == (4, 1)
    assert batch.grid_number.tolist() == [0, 1, 2, 0]
    assert len(GridDataset(grid_file, augment=False)) == 6


def test_feature_expansion_and_errors(grid_file):
    ds = GridDataset(grid_file, features=["res_type", "res_charge"], target="binary")
    assert ds.channels == [f"res_type_{i:03d}" for i in range(20)] + ["res_charge"]
    full = GridDataset(grid_file)
    sel = [full.channels.index(c) for c in ds.channels]
    assert torch.equal(ds[4].x, full[4].x[sel])
    with pytest.raises(
        StorageError, match=r"unknown grid feature 'res_typ'.*available features: \[.*'res_type'"
    ):
        GridDataset(grid_file, features=["res_typ"])


def test_channel_standardisation_and_inheritance(grid_file):
    train = GridDataset(
        grid_file, features=["res_charge", "distance"], standardize=True, target="irmsd"
    )
    raw = np.stack(
        [
            GridDataset(grid_file, features=["res_charge", "distance"])[i].x.numpy()
            for i in range(len(train))
        ]
    )
    stats = train.standardizer
    for c, channel in enumerate(train.channels):
        values = raw[:, c].astype(np.float64)
        mean, std = stats.stats[channel]
        np.testing.assert_allclose(mean[0], values.mean(), rtol=1e-9)
        np.testing.assert_allclose(std[0], values.std(), rtol=1e-9)
    x = np.stack([train[i].x.numpy() for i in range(len(train))]).astype(np.float64)
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3, 4)), 0, atol=1e-5)
    val = GridDataset(grid_file, train_source=train, augment=False)
    assert val.channels == train.channels and val.standardizer is train.standardizer
    assert torch.allclose(val[0].x, train[0].x)


def test_split_keeps_augmented_grids_together(grid_file):
    ds = GridDataset(grid_file, target="binary")
    parts = split_dataset(ds, (0.5, 0.5), seed=3)
    a, b = (set(p.entry_ids()) for p in parts)
    assert not a & b and len(parts[0]) % 3 == 0 and len(parts[0]) + len(parts[1]) == len(ds)


def test_channel_transforms(grid_file):
    raw = GridDataset(grid_file, features=["res_charge", "res_type"])
    ds = GridDataset(
        grid_file,
        features=["res_charge", "res_type"],
        transforms={"res_charge": "abs", "res_type_003": "sqrt"},
    )
    assert torch.allclose(ds[1].x[0], raw[1].x[0].abs())
    assert torch.allclose(ds[1].x[4], raw[1].x[4].clamp_min(0).sqrt())
    assert torch.equal(ds[1].x[5], raw[1].x[5])
