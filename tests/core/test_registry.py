"""Feature registry and plugin protocol: names, typos, objects, entry points, spec checks."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery
from deeprank_like.errors import FeatureError, RegistryError
from deeprank_like.features import FeatureModule, FeatureSpec, available_modules, resolve_module

PDB = Path(__file__).parents[1] / "data" / "pdb"


def _query(**kw):
    return ProteinProteinInterfaceQuery(pdb_path=str(PDB / "3C8P.pdb"), chain_ids=["A", "B"], **kw)


class BFactor(FeatureModule):
    name = "test_bfactor"

    def specs(self, context):
        return (FeatureSpec(name="mean_bfactor", kind="node", unit="Å²", description="mean B"),)

    def compute(self, context):
        s = context.structure
        atoms, start = context.node_atom_groups()
        sums = np.add.reduceat(s.b_factors[atoms], start[:-1])
        return {"mean_bfactor": sums / np.diff(start)}


class Broken(FeatureModule):
    name = "test_broken"

    def __init__(self, value=np.nan, width=1):
        self.value, self.width = value, width

    def specs(self, context):
        return (FeatureSpec(name="bad", kind="node", width=self.width),)

    def compute(self, context):
        return {"bad": np.full(context.graph.num_nodes, self.value)}


def test_typo_lists_valid_names():
    with pytest.raises(
        RegistryError, match="unknown feature module 'contacts'.*components.*contact"
    ):
        resolve_module("contacts")


def test_names_ignore_case_and_punctuation():
    assert resolve_module("Secondary-Structure") is resolve_module("secondary_structure")
    assert resolve_module("InterfaceContacts") is resolve_module("irc")  # the class name
    with pytest.raises(RegistryError, match=r"Did you mean 'surfacearea'\?"):
        resolve_module("surface_areas")


def test_custom_module_object_and_class():
    g = _query().build(["components", BFactor()])
    assert (
        "mean_bfactor" in g.node_features
        and g.feature_specs["mean_bfactor"].module == "test_bfactor"
    )
    g2 = _query().build(BFactor)
    assert g2.node_features["mean_bfactor"].shape == (g2.num_nodes,)
    assert list(g2.edge_features) == []


def test_spec_violations_name_module_and_query():
    with pytest.raises(
        FeatureError,
        match=r"query residue-ppi:A-B:3C8P: module 'test_broken', feature 'bad': .*non-finite",
    ):
        _query().build([Broken()])
    with pytest.raises(FeatureError, match="width 1, spec says 2"):
        _query().build([Broken(value=1.0, width=2)])


def test_entry_point_plugin(tmp_path, monkeypatch):
    pkg = tmp_path / "my_feats.py"
    pkg.write_text(
        textwrap.dedent(
            """
            import numpy as np
            from deeprank_like.features import FeatureModule, FeatureSpec

            class Ones(FeatureModule):
                name = "ones_plugin"
                def specs(self, context):
                    return (FeatureSpec(name="one", kind="edge"),)
                def compute(self, context):
                    return {"one": np.ones(context.graph.num_edges)}
            """
        )
    )
    dist = tmp_path / "my_feats-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-feats\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[deeprank_like.features]\nones_plugin = my_feats:Ones\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "ones_plugin" in available_modules()
    g = _query().build(["ones_plugin"])
    assert (g.edge_features["one"] == 1).all()
    # an entry point resolves like a built-in: any spelling, or its class name (not imported
    # to be found: the name comes from the entry point's "module:Class" text)
    assert resolve_module("Ones-Plugin") is resolve_module("ones_plugin")
    assert resolve_module("Ones") is resolve_module("ones_plugin")
    sys.modules.pop("my_feats", None)


def test_all_skips_inapplicable_modules():
    g = _query().build("all")
    assert {"res_type", "distance"} <= set(g.node_features) | set(g.edge_features)
