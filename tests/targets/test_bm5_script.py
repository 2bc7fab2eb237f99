"""scripts/bm5_decoys.py end to end on two small BM5 complexes (decoys, labels, resume, relabel)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from deeprank_like.targets.dockq import dockq_score

ROOT = Path(__file__).parents[2]
DATA = ROOT / "tests" / "data" / "dockq"


@pytest.fixture(scope="module")
def script(load_script):
    return load_script("scripts/bm5_decoys.py")


@pytest.fixture(scope="module")
def run(script, tmp_path_factory):
    data = tmp_path_factory.mktemp("bm5")
    (data / "index.csv").write_text("id,chains,unbound_irmsd\n2OOB,AB,0.5\n2X9A,AB,0.5\n")
    for cid in ("2OOB", "2X9A"):
        for kind in ("target", "target-unbound"):
            shutil.copyfile(DATA / f"{cid}_{kind}.pdb.gz", data / f"{cid}_{kind}.pdb.gz")
    out = tmp_path_factory.mktemp("out")
    argv = ["--data", str(data), "--out", str(out), "--n-near", "4", "--n-wrong", "3"]
    assert script.main([*argv, "--processes", "1"]) == 0
    return script, data, out, argv


def _labels(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh))


def test_outputs(run):
    _, data, out, _ = run
    assert (out / "READY").exists()
    rows = _labels(out / "labels.csv")
    assert list(rows[0]) == [
        "complex", "file", "dockq", "fnat", "irmsd", "lrmsd", "capri_class", "kind",
        "clash_atoms", "contact_atoms",
    ]  # fmt: skip
    assert len(rows) == 14
    assert [r["kind"] for r in rows[:7]] == ["near_native"] * 4 + ["wrong_site"] * 3
    assert {r["capri_class"] for r in rows} <= {"high", "medium", "acceptable", "incorrect"}
    assert rows[0]["file"] == "decoys/2OOB/2OOB_nn_000.pdb"
    # the label of a written file is what dockq_score computes from that file
    for r in (rows[2], rows[12]):
        got = dockq_score(out / r["file"], data / f"{r['complex']}_target.pdb.gz", "A,B")
        assert got["dockq"] == pytest.approx(float(r["dockq"]), abs=1e-4)
        assert got["irmsd"] == pytest.approx(float(r["irmsd"]), abs=1e-3)
    npz = np.load(out / "transforms" / "2X9A.npz")
    assert npz["rotations"].shape == (7, 3, 3) and npz["kinds"].tolist()[4] == "wrong_site"


def test_resume_skips_done_complexes_and_relabel_is_stable(run, capsys):
    script, _, out, argv = run
    before = (out / "labels.csv").read_text()
    stamp = (out / "decoys" / "2OOB" / "2OOB_ws_000.pdb").stat().st_mtime_ns
    assert script.main([*argv, "--processes", "1"]) == 0
    assert "2 already done" in capsys.readouterr().out
    assert (out / "decoys" / "2OOB" / "2OOB_ws_000.pdb").stat().st_mtime_ns == stamp
    assert script.main([*argv, "--relabel"]) == 0
    assert "0 DockQ values changed" in capsys.readouterr().out
    assert (out / "labels.csv").read_text() == before


def test_unknown_id_is_an_error(run):
    script, _, _, argv = run
    with pytest.raises(SystemExit):
        script.main([*argv, "--ids", "XXXX"])
