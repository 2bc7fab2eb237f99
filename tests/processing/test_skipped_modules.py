"""feature_modules="all" says once per run which modules it skipped, and why (issue 16, item 8)."""

from __future__ import annotations

import logging
from pathlib import Path

from deeprank_like import ProteinProteinInterfaceQuery, QueryCollection, process
from deeprank_like.storage import list_entries, read_graph

DATA = Path(__file__).parents[1] / "data"
PDB = DATA / "pdb" / "3C8P.pdb"
PSSM = {c: str(DATA / "pssm" / f"3C8P.{c}.pdb.pssm") for c in "AB"}


def _queries(**kwargs):
    return QueryCollection(
        [
            ProteinProteinInterfaceQuery(pdb_path=str(PDB), chain_ids=["A", "B"], **kwargs),
            ProteinProteinInterfaceQuery(
                pdb_path=str(PDB), chain_ids=["A", "B"], influence_radius=8.0, **kwargs
            ),
        ]
    )


def test_all_without_pssms_says_conservation_was_skipped(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="deeprank_like"):
        summary = process(
            _queries(),
            prefix=tmp_path / "f",
            feature_modules="all",
            executor="serial",
            verbose=False,
        )
    assert summary.processed == 2 and summary.ok
    assert list(summary.skipped_modules) == ["conservation"]
    why = summary.skipped_modules["conservation"]
    assert why.startswith("2 of 2 queries:") and "PSSM" in why
    assert "module 'conservation' skipped for 2 of 2 queries" in summary.line()
    warnings = [r.getMessage() for r in caplog.records if "skipped for" in r.getMessage()]
    assert warnings == [f"feature module 'conservation' skipped for {why}"]  # once per run
    entry = list_entries(tmp_path / "f.hdf5")[0]
    assert (
        "PSSM" in read_graph(tmp_path / "f.hdf5", entry).metadata["skipped_modules"]["conservation"]
    )


def test_nothing_skipped_is_not_mentioned(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="deeprank_like"):
        summary = process(
            _queries(pssm_paths=PSSM),
            prefix=tmp_path / "f",
            feature_modules="all",
            executor="serial",
            verbose=False,
        )
    assert summary.ok and summary.skipped_modules == {}
    assert "skipped for" not in summary.line()
    assert not [r for r in caplog.records if "skipped for" in r.getMessage()]


def test_progress_bar_in_a_notebook_without_ipywidgets(monkeypatch):
    import importlib.util
    import sys
    import types
    import warnings

    from tqdm.std import tqdm as text_tqdm

    from deeprank_like.processing.run import progress_bar

    real = importlib.util.find_spec
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "ipywidgets" else real(name, *a),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # tqdm's "IProgress not found" would raise here
        bar = progress_bar(total=3, desc="featurize", disable=False)
        bar.update(3)
        bar.close()
    assert type(bar) is text_tqdm
