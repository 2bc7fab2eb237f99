"""The full feature set: every built-in module on PPI and SRV graphs, no executables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery, SingleResidueVariantQuery
from deeprank_like.features.registry import BUILTIN_MODULES, available_modules

DATA = Path(__file__).parents[1] / "data"
PSSM = DATA / "pssm"
MINE = ["surfacearea", "secondary_structure", "exposure", "conservation", "irc", "docking"]


def test_modules_registered():
    assert set(MINE) <= set(BUILTIN_MODULES)
    assert set(MINE) <= set(available_modules())


@pytest.mark.parametrize("resolution", ["residue", "atom"])
def test_all_on_ppi(resolution):
    q = ProteinProteinInterfaceQuery(
        pdb_path=str(DATA / "pdb" / "3C8P.pdb"), chain_ids=["A", "B"], resolution=resolution,
        pssm_paths={c: str(PSSM / f"3C8P.{c}.pdb.pssm") for c in "AB"},
        reference_path=str(DATA / "pdb" / "3C8P.pdb"),
    )  # fmt: skip
    g = q.build("all")
    modules = {spec.module for spec in g.feature_specs.values()}
    assert set(MINE) - {"docking"} <= modules
    assert "docking" not in modules  # target-only modules are not part of "all": name them
    g = q.build([*sorted(modules), "docking"])
    for name in (
        "sasa",
        "bsa",
        "sec_struct",
        "res_depth",
        "hse",
        "pssm",
        "info_content",
        "irc_total",
    ):
        assert name in g.node_features and np.isfinite(g.node_features[name]).all()
    assert g.targets["irmsd"] == 0.0


@pytest.mark.parametrize("resolution", ["residue", "atom"])
def test_all_on_srv(resolution):
    q = SingleResidueVariantQuery(
        pdb_path=str(DATA / "pdb" / "101M.pdb"), chain_ids="A", variant_residue_number=139,
        wildtype_amino_acid="R", variant_amino_acid="E", resolution=resolution,
        pssm_paths={"A": str(PSSM / "101M.A.pdb.pssm")},
    )  # fmt: skip
    g = q.build("all")
    modules = {spec.module for spec in g.feature_specs.values()}
    assert {"surfacearea", "secondary_structure", "exposure", "conservation"} <= modules
    assert "irc" not in modules and "docking" not in modules  # PPI only: skipped
    assert {"conservation", "diff_conservation"} <= set(g.node_features)


def test_all_without_optional_inputs_skips_them():
    q = ProteinProteinInterfaceQuery(pdb_path=str(DATA / "pdb" / "3C8P.pdb"), chain_ids=["A", "B"])
    g = q.build("all")
    modules = {spec.module for spec in g.feature_specs.values()}
    assert {"surfacearea", "secondary_structure", "exposure", "irc"} <= modules
    assert "conservation" not in modules and "docking" not in modules


def test_documented_custom_module_example_runs(monkeypatch):
    """The complete example of docs/features.md runs as written."""
    from deeprank_like.features import registry

    root = Path(__file__).parents[2]
    text = (root / "docs" / "features.md").read_text()
    section = text[text.index("## Writing your own feature module") :]
    code = section.split("```python\n")[1].split("```")[0]
    monkeypatch.chdir(root)
    namespace: dict = {}
    try:
        exec(compile(code, "docs/features.md", "exec"), namespace)
        graph = namespace["graph"]
        assert graph.feature_specs["kd_hydropathy"].module == "hydrophobicity"
        arg = graph.node_ids["residue_name"] == "ARG"
        assert np.all(graph.node_features["kd_hydropathy"][arg] == -4.5)
    finally:
        registry._user_modules.pop("hydrophobicity", None)
        registry._instances.pop("hydrophobicity", None)
