"""The β-GM chain pool and the paper's windows (``experiments/betagm/pool.py``) on a tiny tree.

The tree mimics ``shared/data`` with example chains: ``proteins/`` (1ert, 105 residues; 1a2p,
108; 1lz1, 130), ``bm5/`` (a bound and an "unbound" file of one complex whose unbound copy is
moved, so it is not an exact copy) and ``ddg/pdbs/`` (an exact copy of 1ert, and ubiquitin, 76
residues, too short).
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
from deeprank_like.enm import betagm_from_ca

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # experiments/ is run from a checkout, not installed
    sys.path.insert(0, str(ROOT))

from experiments.betagm.pool import (  # noqa: E402
    PoolConfig,
    assign_pool_groups,
    compute_targets,
    main,
    read_pool,
    select_windows,
    window_rg,
)

EXAMPLES = Path(deeprank_like.__file__).parent / "examples" / "betagm"
UBIQUITIN = ROOT / "tests" / "data" / "enm" / "pdb1ubi.pdb"


def _shifted_copy(src: Path, dst: Path, dx: float) -> None:
    """Copy a gzipped PDB file with every x coordinate moved by dx Å."""
    out = []
    with gzip.open(src, "rt") as fh:
        for line in fh:
            if line.startswith(("ATOM", "HETATM")):
                x = float(line[30:38]) + dx
                line = f"{line[:30]}{x:8.3f}{line[38:]}"
            out.append(line)
    with gzip.open(dst, "wt") as fh:
        fh.writelines(out)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shared_data")
    for sub in ("proteins", "bm5", "ddg/pdbs"):
        (root / sub).mkdir(parents=True)
    for name in ("1ert", "1a2p", "1lz1"):
        shutil.copy(EXAMPLES / f"{name}.pdb.gz", root / "proteins" / f"{name}.pdb.gz")
    shutil.copy(EXAMPLES / "4lzt.pdb.gz", root / "bm5" / "9XYZ_target.pdb.gz")
    _shifted_copy(EXAMPLES / "4lzt.pdb.gz", root / "bm5" / "9XYZ_target-unbound.pdb.gz", 1.5)
    shutil.copy(EXAMPLES / "1ert.pdb.gz", root / "ddg" / "pdbs" / "1ERT.pdb.gz")
    with gzip.open(root / "ddg" / "pdbs" / "1UBI.pdb.gz", "wb") as fh:
        fh.write(UBIQUITIN.read_bytes())
    return root


@pytest.fixture(scope="module")
def pool(data: Path):
    chains, info, skipped = read_pool(data)
    groups = assign_pool_groups(chains, info)
    return chains, info, skipped, groups


def test_pool_chains_filters_and_groups(pool) -> None:
    chains, info, skipped, groups = pool
    ids = {(c.protein_id, c.chain_id) for c in chains}
    assert ("proteins/1ert", "A") in ids and ("bm5/9XYZ_target-unbound", "A") in ids
    assert len(chains) == 5  # 1ert, 1a2p, 1lz1, bound and unbound 4lzt
    reasons = dict(zip(skipped["protein_id"], skipped["reason"], strict=True))
    assert reasons["ddg/1ERT"].startswith("exact copy of proteins/1ert")
    assert reasons["ddg/1UBI"] == "length 76 < 100"
    kinds = dict(zip(info["protein_id"], info["kind"], strict=True))
    assert kinds["bm5/9XYZ_target"] == "bound" and kinds["bm5/9XYZ_target-unbound"] == "unbound"
    by_id = dict(zip(info["protein_id"], groups, strict=True))
    assert by_id["bm5/9XYZ_target"] == by_id["bm5/9XYZ_target-unbound"]  # one protein
    assert len(set(groups.tolist())) == 4  # 1ert, 1a2p, human lysozyme, hen lysozyme


def test_paper_windows_and_cap(pool) -> None:
    chains, _, _, groups = pool
    windows, stats = select_windows(chains, groups, PoolConfig(cap=1000))
    short = windows[windows["kind"] == "short"]
    # every window (step 1) of the 101–110-residue chains: 105 → 6, 108 → 9
    assert sorted(short.groupby("protein_id").size().tolist()) == [6, 9]
    assert stats["candidates_short"] == 15
    long = windows[windows["kind"] == "long"]
    assert len(long) == stats["compact_long"] > 0
    assert (long["rg"] <= stats["rg_threshold"] + 1e-3).all()
    capped, _ = select_windows(chains, groups, PoolConfig(cap=7))
    assert capped.groupby("group").size().max() == 7
    # the 1a2p group (9 short windows) keeps 7 of them, spread from the first to the last start
    starts = capped.loc[capped["protein_id"] == "proteins/1a2p", "start"].tolist()
    assert len(starts) == 7 and starts[0] == 0 and starts[-1] == 8


def test_window_rg_matches_direct_formula() -> None:
    rng = np.random.default_rng(0)
    ca = rng.normal(scale=8.0, size=(30, 3))
    got = window_rg(ca, 10)
    want = [
        np.sqrt(((ca[s : s + 10] - ca[s : s + 10].mean(0)) ** 2).sum(1).mean()) for s in range(21)
    ]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_targets_are_resumable_and_equal_direct(pool, tmp_path: Path) -> None:
    chains, _, _, groups = pool
    windows, _ = select_windows(chains, groups, PoolConfig(cap=3))
    out = tmp_path / "targets.csv"
    compute_targets(chains, windows, out, chunk=2, limit=3)
    compute_targets(chains, windows, out, chunk=2)  # resumes: only the rest
    got = pd.read_csv(out, dtype={"chain_id": str})
    assert len(got) == len(windows)
    assert not got.duplicated(["protein_id", "chain_id", "start"]).any()
    row = windows.iloc[-1]
    rec = chains[int(row["chain_index"])]
    s = int(row["start"])
    direct = betagm_from_ca(rec.ca[s : s + 100], rec.is_glycine[s : s + 100]).eigenvalues
    mine = got[(got["protein_id"] == row["protein_id"]) & (got["start"] == s)]
    np.testing.assert_allclose(mine.filter(like="lambda_").to_numpy()[0], direct, rtol=1e-12)


def test_command_line_writes_tables(data: Path, tmp_path: Path) -> None:
    assert main(["--data", str(data), "--out", str(tmp_path), "--cap", "5"]) == 0
    for name in ("chains.csv", "skipped.csv", "windows.csv", "summary.md"):
        assert (tmp_path / name).stat().st_size > 0
    text = (tmp_path / "summary.md").read_text()
    assert "| **all** |" in text and "selected windows" in text
    assert "## Targets" not in text
    assert main(["--data", str(data), "--out", str(tmp_path), "--cap", "2", "--targets"]) == 0
    targets = pd.read_csv(tmp_path / "targets.csv")
    assert len(targets) == len(pd.read_csv(tmp_path / "windows.csv"))
    assert "## Targets" in (tmp_path / "summary.md").read_text()
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path)])  # --data is required


def test_command_line_leaves_library_logging_as_it_was(data: Path, tmp_path: Path) -> None:
    # regression: main() set the deeprank_like logger to ERROR for good, so every later
    # warning of the process (and of the rest of the test session) was lost
    import logging

    library = logging.getLogger("deeprank_like")
    before = library.level
    assert main(["--data", str(data), "--out", str(tmp_path), "--cap", "2"]) == 0
    assert library.level == before
