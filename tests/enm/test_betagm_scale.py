"""The paper's protocol on the pool's windows (``experiments/betagm/scale.py``), tiny version.

A tree shaped like ``shared/data`` holds the ten example chains of the package (``proteins/``)
and a shortened copy of two of them (``ddg/pdbs/``: 1ert cut to 45 and 1a6m to 55 residues, same sequence as their
parent, hence the same protein group) so that the 40-residue protocol has an evaluation protein
(40–50 residues) and a pruning protein (50–60 residues). Everything runs: pool, targets,
held-out sets, grouped and by-structure folds, CNN, GNN, baselines, pruning, report.
"""

from __future__ import annotations

import gzip
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import deeprank_like
from deeprank_like.enm import betagm_from_ca, load_chain
from deeprank_like.errors import EnmError

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # experiments/ is run from a checkout, not installed
    sys.path.insert(0, str(ROOT))

from experiments.betagm.scale import (  # noqa: E402
    ScaleConfig,
    _inner_split,
    _schedule,
    main,
    prunings,
    summarise,
)

EXAMPLES = Path(deeprank_like.__file__).parent / "examples" / "betagm"
NAMES = ("1a2p", "1a6m", "1div", "1ert", "1i7k", "1lz1", "1rnz", "1stn", "2fwf", "4lzt")


def _first_residues(src: Path, dst: Path, n: int) -> None:
    """Copy a gzipped PDB file keeping the atoms of its first ``n`` residues."""
    out, seen = [], []
    with gzip.open(src, "rt") as fh:
        for line in fh:
            if line.startswith(("ATOM", "HETATM")):
                key = line[21:27]
                if key not in seen:
                    seen.append(key)
                if len(seen) > n:
                    continue
            if line.startswith("ATOM") or line.startswith("END"):
                out.append(line)
    with gzip.open(dst, "wt") as fh:
        fh.writelines(out)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("out")
    root = out / "data"
    for sub in ("proteins", "bm5", "ddg/pdbs"):
        (root / sub).mkdir(parents=True)
    for name in NAMES:
        shutil.copy(EXAMPLES / f"{name}.pdb.gz", root / "proteins" / f"{name}.pdb.gz")
    _first_residues(EXAMPLES / "1ert.pdb.gz", root / "ddg" / "pdbs" / "1ert45.pdb.gz", 45)
    _first_residues(EXAMPLES / "1a6m.pdb.gz", root / "ddg" / "pdbs" / "1a6m55.pdb.gz", 55)
    args = [
        "--data", str(root), "--cache", str(out / "cache"), "--out", str(out / "res"),
        "--window", "40", "--cap", "8", "--folds-group", "2", "--folds-structure", "1",
        "--cnn-epochs", "2", "--gnn-epochs", "2", "--small-gnn", "--n-prunings", "3",
        "--eval-groups", "1", "--prune-groups", "1", "--prune-min", "50", "--prune-max", "60",
        "--whole-groups", "1",
    ]  # fmt: skip
    assert main(args) == 0
    (out / "args.txt").write_text("\n".join(args))
    return out


def test_tiny_protocol_writes_every_table(run: Path) -> None:
    res = run / "res"
    summary = pd.read_csv(res / "summary.csv")
    cv = summary[summary["set"] == "cv"]
    assert set(cv["split"]) == {"group", "structure"}
    assert set(cv["model"]) == {"cnn", "gnn", "baseline", "mape_constant"}
    assert (cv.groupby(["split", "model"]).size() == 10).all()  # ten eigenvalues each
    sets = set(summary["set"])
    assert {"eval", "pruned", "prune_whole", "whole"} <= sets
    assert np.isfinite(summary["mape"]).all() and (summary["mape"] > 0).all()
    folds = pd.read_csv(res / "folds.csv")
    assert len(folds) == 2 * (2 + 1)  # two models x (2 group folds + 1 structure fold)
    assert (folds["epochs"] <= 2).all() and (folds["cpu_s"] > 0).all()
    assert folds["best_epoch"].between(1, 2).all()
    for _, row in folds.iterrows():  # the learning curve of every fold, one loss per epoch
        for col in ("train_loss_curve", "val_loss_curve"):
            losses = [float(x) for x in str(row[col]).split(";")]
            assert len(losses) == row["epochs"] and all(np.isfinite(losses))
    pruning = pd.read_csv(res / "pruning.csv")
    assert pruning["protein"].tolist() == ["ddg/1a6m55:A"]
    assert pruning["residues"].tolist() == [55]
    # the summary is the mean absolute percentage error of the stored predictions
    pred = pd.read_csv(run / "cache" / "predictions.csv.gz")
    again = summarise(pred).set_index(["split", "set", "model", "eigenvalue"])["mape"]
    mine = summary.set_index(["split", "set", "model", "eigenvalue"])["mape"]
    np.testing.assert_allclose(mine.to_numpy(), again.loc[mine.index].to_numpy(), atol=1e-3)
    g = pred[(pred["set"] == "eval") & (pred["model"] == "cnn")]
    direct = 100 * ((g["pred"] - g["true"]).abs() / g["true"]).mean()
    cnn_eval = summary[(summary["set"] == "eval") & (summary["model"] == "cnn")]["mape"].mean()
    assert cnn_eval == pytest.approx(direct, rel=1e-3)
    text = (res / "results.md").read_text()
    for title in ("folds by group", "folds by structure", "Evaluation set", "Pruning study",
                  "whole chains", "Cost"):  # fmt: skip
        assert title in text
    assert (res / "scatter.png").stat().st_size > 1000


def test_tiny_protocol_predictions_are_honest(run: Path) -> None:
    pred = pd.read_csv(run / "cache" / "predictions.csv.gz")
    cv = pred[(pred["set"] == "cv") & (pred["model"] == "cnn")]
    # each test window is predicted both ways, with one target
    both = cv.groupby(["split", "fold", "sample", "eigenvalue"])["variant"].nunique()
    assert (both == 2).all()
    # the held-out proteins are never in a CV fold, and groups never straddle a group split
    assert not set(cv["protein_id"]) & {"ddg/1ert45", "ddg/1a6m55"}
    # the pruning target is the whole chain's spectrum, the same for every pruning
    pruned = pred[pred["set"] == "pruned"]
    assert pruned.groupby("eigenvalue")["true"].nunique().eq(1).all()
    assert pruned["variant"].nunique() == 3
    # the baseline is the training mean: constant within a fold
    base = pred[(pred["model"] == "baseline") & (pred["set"] == "cv")]
    assert base.groupby(["split", "fold", "eigenvalue"])["pred"].nunique().eq(1).all()


def test_helpers() -> None:
    keep = prunings(55, 40, 5, seed=1)
    assert keep.shape == (5, 40)
    assert all(np.unique(k).size == 40 and (np.diff(k) > 0).all() for k in keep)
    assert (keep < 55).all() and len({tuple(k) for k in keep}) == 5
    units = np.repeat(np.arange(10), 3)
    tr, va = _inner_split(np.arange(30), units, 0.2, seed=0)
    assert tr.size + va.size == 30 and np.unique(units[va]).size == 2
    assert not set(units[tr]) & set(units[va])
    with pytest.raises(EnmError, match="split"):
        ScaleConfig(splits=("random",))
    with pytest.raises(EnmError, match="val_fraction"):
        ScaleConfig(val_fraction=0.7)


def test_schedule_interleaves_splits_and_keeps_groups_whole() -> None:
    from deeprank_like.enm.samples import EigenSamples

    n = 40
    groups = np.repeat(np.arange(10), 4)
    data = EigenSamples(
        ca=[np.zeros((3, 3))] * n, aa=[np.zeros(3, dtype=np.int64)] * n,
        targets=np.ones((n, 10)), protein_ids=np.array(["p"] * n), chain_ids=np.array(["A"] * n),
        groups=groups, starts=np.zeros(n, dtype=np.int64),
    )  # fmt: skip
    cfg = ScaleConfig(n_folds=5, folds_run={"group": 3, "structure": 1})
    sched = _schedule(cfg, data)
    assert [(s, f) for s, _, f, *_ in sched] == [
        ("group", 0), ("structure", 0), ("group", 1), ("group", 2)
    ]  # fmt: skip
    for split, _, _, _, tr, te in sched:
        assert np.intersect1d(tr, te).size == 0 and tr.size + te.size == n
        if split == "group":
            assert not set(groups[tr]) & set(groups[te])


def test_pruning_target_is_the_whole_chain(run: Path) -> None:
    pruning = pd.read_csv(run / "res" / "pruning.csv")
    chain = load_chain(run / "data" / "ddg" / "pdbs" / "1a6m55.pdb.gz")
    direct = betagm_from_ca(chain.ca, chain.is_glycine).eigenvalues
    assert pruning["lambda_07"].iloc[0] == pytest.approx(direct[0], abs=1e-4)
    pred = pd.read_csv(run / "cache" / "predictions.csv.gz")
    whole = pred[(pred["set"] == "prune_whole") & (pred["model"] == "gnn")]
    np.testing.assert_allclose(
        whole.groupby("eigenvalue")["true"].first().to_numpy(), direct, rtol=1e-9
    )


def test_report_only_rewrites_the_same_reports(run: Path) -> None:
    res = run / "res"
    before = (res / "results.md").read_text()
    (res / "results.md").unlink()
    (res / "scatter.png").unlink()
    args = (run / "args.txt").read_text().split("\n")
    assert main([*args, "--report-only"]) == 0
    assert (res / "results.md").read_text() == before
    assert (res / "scatter.png").stat().st_size > 1000
