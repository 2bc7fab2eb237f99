"""Tests of the β-GM sample pipeline in the library (chains, windows, targets, baselines), the
Coulomb and residue-graph datasets, the two networks and the β-GM losses, on the small example
chains shipped in deeprank_like/examples/betagm. The experiment protocol itself
(experiments/betagm) is tested in test_experiment_protocol.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import deeprank_like
from deeprank_like.data.ca_graph_dataset import (
    EDGE_FEATURES,
    NODE_FEATURES,
    ResidueGraphDataset,
    residue_graph,
)
from deeprank_like.data.coulomb_dataset import CoulombMatrixDataset
from deeprank_like.enm import (
    BetaGMConfig,
    betagm_from_ca,
    chains_from_folder,
    coulomb_matrix,
    load_chain,
    make_windows,
    mape_optimal_constant,
    mape_per_eigenvalue,
    mean_baseline,
    whole_chains,
)
from deeprank_like.errors import TrainingError
from deeprank_like.nn import ResidueGraphGNN, build_model
from deeprank_like.nn.coulomb_cnn import CoulombCNN
from deeprank_like.training.losses import (
    LogL1Loss,
    MAPELogL1Loss,
    log_l1_loss,
    make_loss,
    mape_log_l1_loss,
)

EXAMPLES = Path(deeprank_like.__file__).parent / "examples" / "betagm"


@pytest.fixture(scope="module")
def chains():
    # four proteins of four different families (105-130 residues)
    return [load_chain(EXAMPLES / f"{p}.pdb.gz") for p in ("1ert", "1a2p", "2fwf", "1lz1")]


@pytest.fixture(scope="module")
def windows(chains):
    return make_windows(chains, window=100, step=10)


def test_load_chain_and_folder():
    rec = load_chain(EXAMPLES / "1ert.pdb.gz")
    assert (rec.protein_id, rec.chain_id, len(rec)) == ("1ert", "A", 105)
    assert rec.sequence.startswith("MVKQIESKTAFQEALDAAGDKLVVVDFSA")
    assert rec.is_glycine.sum() == rec.sequence.count("G")
    assert (rec.group, rec.n_missing_ca, rec.with_group(3).group) == (-1, 0, 3)
    chains, skipped = chains_from_folder(EXAMPLES, min_length=120, limit=5)
    assert [c.protein_id for c in chains] == ["1a6m", "1div", "1i7k"]
    assert {c.group for c in chains} == {-1}  # protein groups are assigned by data.split
    assert skipped["reason"].tolist() == ["length 108", "length 105"]


def test_windows_targets_and_skip_table(chains, windows):
    samples, skipped = windows
    # 1ert/1a2p: 105/108 residues -> 1 window each; 2fwf 123 -> 3; 1lz1 130 -> 4
    assert len(samples) + len(skipped) == 1 + 1 + 3 + 4
    assert all(c.shape == (100, 3) for c in samples.ca)
    i = int(np.flatnonzero(samples.protein_ids == "2fwf")[1])
    rec = chains[2]
    expected = betagm_from_ca(rec.ca[10:110], rec.is_glycine[10:110]).eigenvalues
    assert samples.starts[i] == 10
    np.testing.assert_allclose(samples.targets[i], expected, rtol=1e-12)
    assert set(samples.groups.tolist()) == {c.group for c in chains}
    table = samples.table()
    assert list(table.columns[-10:]) == [f"lambda_{k:02d}" for k in range(7, 17)]


def test_skips_are_recorded_not_silent(chains):
    # a broken chain: move the second half 20 Å away -> a Cα gap > 4.2 Å
    rec = chains[3]
    ca = rec.ca.copy()
    ca[60:] += np.array([20.0, 0.0, 0.0])
    broken = type(rec)(**{**rec.__dict__, "ca": ca})
    samples, skipped = make_windows([broken], step=10)
    assert len(samples) == 0 and len(skipped) == 4
    assert skipped["reason"].str.startswith("chain break").all()
    # a tiny cutoff makes every window floppy: recorded with its zero-mode count
    samples, skipped = make_windows([rec], step=30, config=BetaGMConfig(cutoff=5.0))
    assert len(samples) == 0
    assert (skipped["n_zero_modes"] > 6).all()
    assert skipped["reason"].str.endswith("zero modes").all()


def test_baselines_and_mape():
    true = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(mean_baseline(true, 3), [[2.0, 3.0]] * 3)
    np.testing.assert_allclose(mape_per_eigenvalue(true * 1.1, true), [10.0, 10.0])
    heavy = np.array([[0.001], [0.1], [0.2], [0.3], [0.4]])
    const = mape_optimal_constant(heavy, 2)
    assert const.shape == (2, 1) and const[0, 0] == 0.001  # the 1/t weight of 0.001 dominates
    grid = np.linspace(0.0005, 0.5, 2000)[:, None]
    best = grid[np.argmin([mape_per_eigenvalue(np.full_like(heavy, c), heavy)[0] for c in grid])]
    assert mape_per_eigenvalue(np.full_like(heavy, const[0, 0]), heavy) <= (
        mape_per_eigenvalue(np.full_like(heavy, best[0]), heavy) + 1e-9
    )


def test_coulomb_dataset_reversal_is_jcj(windows):
    samples, _ = windows
    ds = CoulombMatrixDataset(samples.ca[:2], samples.targets[:2], augment_reverse=True)
    assert len(ds) == 4
    item, rev = ds[1], ds[3]
    assert item.x.shape == (1, 100, 100) and item.x.dtype == torch.float32
    assert item.y.shape == (1, 10)
    np.testing.assert_array_equal(rev.x[0].numpy(), item.x[0].numpy()[::-1, ::-1])
    # J C J is the Coulomb matrix of the reversed chain, whose spectrum is the same
    np.testing.assert_allclose(rev.x[0].numpy(), coulomb_matrix(samples.ca[1][::-1]), rtol=1e-6)
    gly = samples.aa[1] == 5
    np.testing.assert_allclose(
        betagm_from_ca(samples.ca[1][::-1], gly[::-1]).eigenvalues, samples.targets[1], rtol=1e-9
    )
    assert torch.equal(rev.y, item.y) and rev.entry_id == "1:rev"
    with pytest.raises(TrainingError):
        CoulombMatrixDataset([np.zeros((100, 3)), np.zeros((90, 3))])


def test_coulomb_cnn_shapes_and_registry():
    model = CoulombCNN()
    assert model.num_flat == 32 * 9 * 9
    out = model(torch.rand(3, 1, 100, 100))
    assert out.shape == (3, 10)
    assert model(torch.rand(2, 100, 100)).shape == (2, 10)
    scaled = build_model(
        "coulomb_cnn", {"target_log_mean": [-2.0] * 10, "target_log_std": [0.5] * 10}
    ).eval()
    assert (scaled(torch.rand(2, 1, 100, 100)) > 0).all()
    with pytest.raises(TrainingError):
        model(torch.rand(2, 1, 90, 90))


def test_residue_graph_invariances(windows):
    samples, _ = windows
    ca, aa = samples.ca[0], samples.aa[0]
    g = residue_graph(ca, aa)
    assert g.x.shape == (100, len(NODE_FEATURES))
    assert g.edge_attr.shape[1] == len(EDGE_FEATURES)
    rot = torch.linalg.qr(torch.randn(3, 3, generator=torch.Generator().manual_seed(0)))[0]
    moved = residue_graph(ca @ rot.numpy().T + 7.0, aa)
    np.testing.assert_allclose(moved.x.numpy(), g.x.numpy(), atol=1e-5)
    rev = residue_graph(ca, aa, reverse=True)
    np.testing.assert_allclose(rev.x.numpy(), g.x.numpy()[::-1], atol=1e-6)
    model = ResidueGraphGNN(len(NODE_FEATURES), len(EDGE_FEATURES), hidden_size=8, num_layers=2)
    model.eval()
    with torch.no_grad():
        np.testing.assert_allclose(model(g).numpy(), model(rev).numpy(), rtol=1e-5)


def test_residue_graph_dataset_reverse_and_ids(windows):
    samples, _ = windows
    two = samples.subset([0, 1])
    ds = ResidueGraphDataset(two, augment_reverse=True)
    assert len(ds) == 4 and ds[2].entry_id == ds[0].entry_id + ":rev"
    assert ds[0].entry_id == f"{two.protein_ids[0]}:{two.chain_ids[0]}:{two.starts[0]}"
    assert torch.equal(ds[2].y, ds[0].y) and ds[0].y.shape == (1, 10)
    assert ResidueGraphDataset(two, with_targets=False)[0].y is None
    assert build_model("residue_graph_gnn", {"num_node_features": 27, "num_edge_features": 5})


def test_whole_chains_any_length(chains):
    whole, skipped = whole_chains(chains, min_length=101)
    assert sorted(whole.lengths.tolist()) == [105, 108, 123, 130] and len(skipped) == 0
    rec = chains[3]
    np.testing.assert_allclose(
        whole.targets[whole.protein_ids == rec.protein_id][0],
        betagm_from_ca(rec.ca, rec.is_glycine).eigenvalues,
        rtol=1e-12,
    )


def test_log_losses_registered_and_equal_to_the_functions():
    torch.manual_seed(0)
    pred, true = torch.rand(6, 10) + 0.1, torch.rand(6, 10) + 0.1
    for name, cls, fn in (
        ("log_l1", LogL1Loss, log_l1_loss),
        ("mape+log_l1", MAPELogL1Loss, mape_log_l1_loss),
    ):
        loss = make_loss(name, "regress")
        assert isinstance(loss, cls)
        values, weights = loss(pred, true)
        assert values.shape == (6,)
        torch.testing.assert_close(values.sum() / weights.sum(), fn(pred, true))
    # |log(2t) - log(t)| = log 2, and MAPE adds 1 (a fraction)
    torch.testing.assert_close(log_l1_loss(2 * true, true), torch.tensor(float(np.log(2))))
    torch.testing.assert_close(mape_log_l1_loss(2 * true, true), torch.tensor(1 + float(np.log(2))))
    with pytest.raises(TrainingError):
        make_loss("log_l1", "classif")
