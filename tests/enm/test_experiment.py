"""Tests of the eigenvalue-prediction experiment (deeprank_like/enm/experiment.py), the Coulomb
dataset and the CNN, on the small example chains shipped in deeprank_like/examples/betagm."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import deeprank_like
from deeprank_like.data.coulomb_dataset import CoulombMatrixDataset
from deeprank_like.enm import BetaGMConfig, betagm_from_ca, coulomb_matrix
from deeprank_like.enm.experiment import (
    EDGE_FEATURES,
    NODE_FEATURES,
    ExperimentConfig,
    ResidueGraphGNN,
    chains_from_folder,
    grouped_kfold,
    load_chain,
    make_windows,
    mape_optimal_constant,
    mape_per_eigenvalue,
    mean_baseline,
    residue_graph,
    run_experiment,
    sequence_groups,
    whole_chains,
    write_results,
)
from deeprank_like.errors import EnmError, TrainingError
from deeprank_like.nn import build_model
from deeprank_like.nn.coulomb_cnn import CoulombCNN

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
    chains, skipped = chains_from_folder(EXAMPLES, min_length=120, limit=5)
    assert [c.protein_id for c in chains] == ["1a6m", "1div", "1i7k"]
    assert skipped["reason"].tolist() == ["length 108", "length 105"]


def test_sequence_groups():
    a = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEKAVQVKVKALPDAQFEVVHSLAKWKRQTLGQ"
    mutant = a[:30] + "W" + a[31:]
    other = "GSHMSEQKLISEEDLKKLLEEAKKAGNPEQAAKLLKELAEKLGIDPEQVAKLAKEVLEKGG"
    assert sequence_groups([a, other, mutant]).tolist() == [0, 1, 0]


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
    assert set(samples.groups.tolist()) == {c.group for c in chains} - set()
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


def test_grouped_kfold_keeps_groups_together():
    groups = np.repeat(np.arange(7), [5, 1, 3, 3, 2, 2, 4])
    for seed in (0, 1):
        folds = grouped_kfold(groups, 3, seed)
        tests = np.concatenate([te for _, te in folds])
        assert sorted(tests.tolist()) == list(range(groups.size))
        for tr, te in folds:
            assert not set(groups[tr]) & set(groups[te])
    assert grouped_kfold(groups, 3, 0)[0][1].tolist() != grouped_kfold(groups, 3, 5)[0][1].tolist()
    with pytest.raises(EnmError):
        grouped_kfold(groups, 8, 0)


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


def test_run_experiment_small(chains, tmp_path):
    config = ExperimentConfig(
        step=10, n_folds=2, seeds=(0,), cnn_epochs=1, gnn_epochs=1, cnn_batch_size=8,
        gnn_batch_size=8, gnn_hidden_size=8, gnn_num_layers=1, threads=1,
    )  # fmt: skip
    result = run_experiment(chains, config)
    n = len(result.windows)
    windows = result.predictions[result.predictions["set"] == "windows"]
    for model in ("cnn", "gnn", "baseline"):
        assert len(windows[windows["model"] == model]) == n * 10  # every window once per repeat
    assert set(result.summary["model"]) == {"cnn", "gnn", "baseline", "mape_constant"}
    whole = result.predictions[result.predictions["set"] == "whole_chains"]
    assert set(whole["length"]) == {105, 108, 123, 130}
    paths = write_results(result, tmp_path, command="pytest")
    text = paths["results_md"].read_text()
    assert "| lambda_07 |" in text and "pytest" in text
    assert paths["scatter"].stat().st_size > 1000
    whole_samples, _ = whole_chains(chains, min_length=101)
    assert len(whole_samples) == 4
