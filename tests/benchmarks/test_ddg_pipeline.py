"""scripts/ddg_benchmark.py end to end on a tiny copy of the ΔΔG data (tests/data/ddg).

Three small proteins (six rows each, one duplicated across two sets, one wrong wild type
added here), two complexes for the binding part, one epoch: checks the sign flip, the
deduplication, the failure reasons, the grouped CV outputs, exact antisymmetry of the
out-of-fold predictions, and that the written model predicts on a structure it never saw.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "ddg"


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("scripts/ddg_benchmark.py")


@pytest.fixture(scope="module")
def run(bench, tmp_path_factory):
    data = tmp_path_factory.mktemp("ddgdata")
    shutil.copytree(DATA, data, dirs_exist_ok=True)
    with open(data / "csv" / "curatedprotherm.csv", "a") as f:
        f.write("99999,1PGA,A W 10 A,1.0,0.5,S,O,1.0\n")  # residue 10 of 1PGA is LYS
    out = tmp_path_factory.mktemp("ddgout")
    argv = ["--data", str(data), "--out", str(out), "--seed", "0", "--epochs", "1"]
    argv += ["--models", "antisymmetric", "--cpu-count", "1", "--threads", "1"]
    assert bench.main(argv) == 0
    return data, out


def test_tables_sign_and_deduplication(bench):
    table, stats = bench.stability_table(DATA)
    assert stats["single_mutation_records"] == 24
    # 1PGA K10P, T11A, E15A and 2CI2 K21A, K21M, T22A are in both sets
    assert stats["merged_duplicates"] == stats["single_mutation_records"] - len(table)
    row = table[(table.pdb == "1PGA") & (table.residue == "10") & (table.variant == "P")]
    assert len(row) == 1 and row["n_records"].item() == 2
    # the files say DDG = +0.2 (positive = destabilising); we keep the ProTherm sign
    assert row["ddg"].item() == pytest.approx(-0.2)
    binding = bench.binding_table(DATA)
    assert set(binding["pdb"]) == {"1F47", "1BRS"} and (binding["variant"] == "A").all()


def test_failures_have_reasons(run):
    _, out = run
    failures = pd.read_csv(out / "stability_failures.csv")
    assert len(failures) == 1
    assert failures["reason"].item().startswith("wild type mismatch")
    summary = json.loads((out / "data_summary.json").read_text())
    assert summary["stability"]["failure_reasons"] == {"wild type mismatch": 1}
    assert summary["stability"]["usable"] == len(pd.read_csv(out / "stability_rows.csv"))


def test_cross_validation_outputs(run):
    _, out = run
    results = json.loads((out / "results.json").read_text())
    stab = results["stability"]
    assert stab["groups"] == 3 and len(stab["fold_sizes"]) == 3  # 3 proteins → 3 folds
    m = stab["metrics"]
    assert set(m) == {"mean", "linear", "linear_odd", "antisymmetric"}
    assert m["linear_odd"]["antisymmetry_max_abs_d_plus_r"] == 0.0
    assert m["antisymmetric"]["antisymmetry_max_abs_d_plus_r"] == 0.0
    assert m["antisymmetric"]["direct"]["n"] == stab["rows"]
    assert m["antisymmetric"]["direct+reverse"]["n"] == 2 * stab["rows"]
    pred = pd.read_csv(out / "predictions_stability.csv")
    assert np.isfinite(pred["antisymmetric"]).all()
    # every structure sits in exactly one fold
    assert (pred.groupby("pdb")["fold"].nunique() == 1).all()
    assert results["binding"]["rows"] == 6


def test_written_model_predicts_unseen_structure(run):
    from deeprank_like.pretrained.ddg import load_ddg_model, predict_ddg

    _, out = run
    model, meta = load_ddg_model(out / "model")
    assert meta["network"] == "antisymmetric_variant" and not model.training
    assert meta["sign"].startswith("negative = destabilising")
    table = pd.DataFrame(
        {
            "pdb_path": ["101M.pdb", "101M.pdb", "101M.pdb"],
            "chain": ["A", "A", "A"],
            "residue": ["10", "10", "10"],
            "wildtype": ["V", "VAL", "L"],
            "variant": ["A", "ASP", "A"],
        }
    )
    result = predict_ddg(table, model_dir=out / "model", base_dir=ROOT / "tests" / "data" / "pdb")
    assert np.isfinite(result["predicted_ddg"][:2]).all()
    assert result["reason"][:2].eq("").all()
    assert np.isnan(result["predicted_ddg"][2])
    assert result["reason"][2].startswith("wild type mismatch")


def test_cli_on_unseen_structure(run, tmp_path):
    from deeprank_like.cli import main

    _, out = run
    shutil.copy(ROOT / "tests" / "data" / "pdb" / "101M.pdb", tmp_path / "101M.pdb")
    table = tmp_path / "variants.csv"
    table.write_text(
        "pdb_path,chain,residue,wildtype,variant,note\n"
        "101M.pdb,A,10,VAL,D,kept\n"
        "101M.pdb,A,10,V,V,same\n"
        "101M.pdb,B,10,V,A,no chain\n"
    )
    result_path = tmp_path / "out.csv"
    assert main(["ddg", "--model", str(out / "model"), "-o", str(result_path), str(table)]) == 0
    result = pd.read_csv(result_path, keep_default_na=False)
    assert list(result.columns) == [
        "pdb_path", "chain", "residue", "wildtype", "variant", "note", "predicted_ddg", "reason",
    ]  # fmt: skip
    assert np.isfinite(float(result["predicted_ddg"][0])) and result["reason"][0] == ""
    assert result["predicted_ddg"][1] == "" and result["predicted_ddg"][2] == ""
    assert result["reason"][1].startswith("variant equals wild type")
    assert result["reason"][2].startswith("chain not found")
    assert main(["ddg", "-o", str(result_path), str(tmp_path / "missing.csv")]) == 2


def test_shipped_model_loads_and_is_antisymmetric():
    import torch
    from torch_geometric.data import Batch

    from deeprank_like.pretrained.ddg import graph_to_data, load_ddg_model
    from deeprank_like.query import SingleResidueVariantQuery

    model, meta = load_ddg_model()  # package data, torch.load(weights_only=True)
    query = SingleResidueVariantQuery(
        pdb_path=str(ROOT / "tests" / "data" / "pdb" / "101M.pdb"),
        chain_ids="A",
        variant_residue_number=10,
        wildtype_amino_acid="V",
        variant_amino_acid="G",
    )
    graph = query.build(meta["feature_modules"])
    batch = Batch.from_data_list(
        [graph_to_data(graph, meta["node_features"], meta["edge_features"])]
    )
    with torch.no_grad():
        direct = model(batch)
        batch.x = model.swap(batch.x)
        assert torch.equal(model(batch), -direct)
