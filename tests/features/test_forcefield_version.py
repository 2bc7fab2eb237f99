"""Versioned force-field tables: version 1 (before the topology-parser fix) for old models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from deeprank_like.domain.forcefield import atom_parameters, load_forcefield
from deeprank_like.examples import example_path
from deeprank_like.features.contact import Contact, pair_energies
from deeprank_like.features.registry import ModuleSpec, module_spec
from deeprank_like.query import ProteinProteinInterfaceQuery
from deeprank_like.structure import load_structure

DATA = Path(__file__).resolve().parents[1] / "data"


def _missing() -> list[str]:
    text = (
        Path(__file__).resolve().parents[2] / "deeprank_like/domain/data/forcefield.json"
    ).read_text()
    return json.loads(text)["missing_in_version_1"]


def _query() -> ProteinProteinInterfaceQuery:
    return ProteinProteinInterfaceQuery(
        pdb_path=str(example_path("1ATN_1w")),
        chain_ids=["A", "B"],
        resolution="residue",
        influence_radius=10.0,
        max_edge_length=10.0,
    )


def test_version_1_is_version_2_without_the_listed_atoms():
    missing = _missing()
    assert len(missing) == 57 == len(set(missing)) and missing == sorted(missing)
    assert {"TYR:CZ", "HIS:HE2", "PHE:CG", "TRP:CZ2", "VAL:HG11"} <= set(missing)
    v1, v2 = load_forcefield(1), load_forcefield(2)
    assert (v1["version"], v2["version"]) == (1, 2)
    assert "missing_in_version_1" not in v1 and "missing_in_version_1" not in v2
    keys = {
        version: {f"{r}:{a}" for r, atoms in ff["residues"].items() for a in atoms}
        for version, ff in ((1, v1), (2, v2))
    }
    assert keys[2] - keys[1] == set(missing) and keys[1] <= keys[2]
    assert all(
        v1["residues"][r][a] == v2["residues"][r][a] for r, a in (k.split(":") for k in keys[1])
    )
    assert "CZ" not in v1["residues"]["TYR"] and "CG" not in v1["residues"]["PHE"]
    assert v2["residues"]["TYR"]["CZ"][1] != 0.0
    for key in ("lj_types", "patches", "residue_classes"):
        assert v1[key] == v2[key]
    assert load_forcefield() is v2


@pytest.mark.parametrize("bad", [0, 3, "1", 1.0, True, None])
def test_unknown_version_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="choose 1 .* or 2"):
        load_forcefield(bad)
    with pytest.raises(ValueError, match="forcefield_version"):
        Contact(forcefield_version=bad)


def test_atom_parameters_per_version_and_energies_differ_only_on_the_listed_atoms():
    s = load_structure(example_path("1ATN_1w"))
    p1, p2 = atom_parameters(s, version=1), atom_parameters(s, version=2)
    assert atom_parameters(s) is p2 and atom_parameters(s, 1) is p1
    assert {"ff_params", "ff_params_v1"} <= set(s._cache)
    keys = np.char.add(np.char.add(s.res_names.astype(str), ":"), s.atom_names.astype(str))
    listed = np.isin(keys, _missing())
    assert listed.sum() > 100  # ring carbons, methyl H of this complex
    tyr_cz = keys == "TYR:CZ"
    assert tyr_cz.any() and np.all(p1.charge[tyr_cz] == 0) and not p1.known[tyr_cz].any()
    assert np.all(p2.charge[tyr_cz] != 0) and p2.known[tyr_cz].all()
    assert not p1.known[keys == "PHE:CG"].any()
    changed = (p1.charge != p2.charge) | (p1.epsilon != p2.epsilon) | (p1.known != p2.known)
    assert np.array_equal(changed, listed)

    # every pair within 8 Å of 2000 random atoms
    sub = np.random.default_rng(0).choice(s.num_atoms, 2000, replace=False)
    d = np.linalg.norm(s.coords[sub, None] - s.coords[None, sub], axis=-1)
    a, b = np.nonzero(np.triu(d < 8.0, k=1))
    i, j = sub[a], sub[b]
    e1, w1, r1 = pair_energies(s, i, j, forcefield_version=1)
    e2, w2, r2 = pair_energies(s, i, j)
    np.testing.assert_array_equal(r1, r2)
    touching = listed[i] | listed[j]
    np.testing.assert_array_equal(e1[~touching], e2[~touching])
    np.testing.assert_array_equal(w1[~touching], w2[~touching])
    # version 1 has no energy for a listed atom; version 2 has one (unless 1-2/1-3 excluded)
    assert np.all(e1[touching] == 0) and np.all(w1[touching] == 0)
    assert np.count_nonzero(w2[touching]) > 0.9 * touching.sum() > 1000


def test_contact_version_1_reproduces_the_code_before_the_fix():
    """Residue-edge energies as the code of commit 57ea5b5 (before the fix) computed them."""
    ref = np.load(DATA / "forcefield_v1_1ATN_1w.npz")
    query = _query()
    g1 = query.build([Contact(forcefield_version=1)])
    np.testing.assert_array_equal(g1.edge_index, ref["edge_index"])
    for name in ("electrostatic", "vanderwaals"):
        np.testing.assert_array_equal(g1.edge_features[name], ref[name])
    g2 = query.build(["contact"])
    assert not np.array_equal(g2.edge_features["vanderwaals"], ref["vanderwaals"])


def test_contact_memo_does_not_mix_versions():
    query = _query()
    s = query.load_structure()
    g2 = query.build([Contact()], structure=s)
    g1 = query.build([Contact(forcefield_version=1)], structure=s)
    g2b = query.build(["contact"], structure=s)
    ref = np.load(DATA / "forcefield_v1_1ATN_1w.npz")
    np.testing.assert_array_equal(g1.edge_features["vanderwaals"], ref["vanderwaals"])
    np.testing.assert_array_equal(g2.edge_features["vanderwaals"], g2b.edge_features["vanderwaals"])
    assert not np.array_equal(g1.edge_features["vanderwaals"], g2.edge_features["vanderwaals"])


def test_contact_version_round_trips_through_module_spec_and_process(tmp_path):
    assert vars(Contact()) == {} and vars(Contact(forcefield_version=2)) == {}
    spec = module_spec(Contact(forcefield_version=1))
    assert spec == ModuleSpec("contact", {"forcefield_version": 1})
    assert ModuleSpec.from_dict(spec.to_dict()).build().forcefield_version == 1
    assert module_spec(Contact()) == ModuleSpec("contact")

    import h5py

    from deeprank_like.processing import Execution, FeaturizeConfig, process

    config = FeaturizeConfig(
        output=str(tmp_path / "out"),
        feature_modules=[{"name": "contact", "kwargs": {"forcefield_version": 1}}],
        processing=Execution(executor="serial", progress=False, verbose=False),
    )
    summary = process([_query()], config)
    assert summary.processed == 1
    ref = np.load(DATA / "forcefield_v1_1ATN_1w.npz")
    with h5py.File(summary.output, "r") as f:
        (entry,) = list(f)
        edges = f[entry]["edge_features"]
        vdw = edges["vanderwaals"][()]
    np.testing.assert_allclose(vdw, ref["vanderwaals"], rtol=1e-6)


def test_shipped_models_featurise_with_their_version(tmp_path):
    from deeprank_like.pretrained.ddg import ddg_featurizers
    from deeprank_like.pretrained.docking import ScoringModel

    meta = {"query": {"feature_modules": ["components", "contact"]}}
    old = ScoringModel(network=None, metadata=meta, path=tmp_path)
    assert old.forcefield_version == 1
    assert old.featurizers()[0] == "components"
    assert old.featurizers()[1].forcefield_version == 1
    meta2 = {"query": {"feature_modules": ["contact"], "forcefield_version": 2}}
    assert ScoringModel(None, meta2, tmp_path).featurizers()[0].forcefield_version == 2
    with pytest.raises(ValueError, match="query.forcefield_version"):
        _ = ScoringModel(None, {"query": {"forcefield_version": 7}}, tmp_path).forcefield_version

    assert ddg_featurizers({"feature_modules": ["contact"]})[0].forcefield_version == 1
    new = ddg_featurizers({"feature_modules": ["exposure", "contact"], "forcefield_version": 2})
    assert new[0] == "exposure" and new[1].forcefield_version == 2


def test_save_scoring_model_records_the_version(tmp_path):
    from deeprank_like.pretrained.docking import DockingGINE, load_scoring_model, save_scoring_model

    net = DockingGINE(num_node_features=3, num_edge_features=2, hidden_size=4, num_layers=1)
    query = {"resolution": "residue", "feature_modules": ["contact"]}
    out = save_scoring_model(tmp_path / "m2", net, {}, query=query)
    assert load_scoring_model(out).forcefield_version == 2
    out = save_scoring_model(tmp_path / "m1", net, {}, query=query, forcefield_version=1)
    assert load_scoring_model(out).forcefield_version == 1
    with pytest.raises(ValueError, match="disagrees"):
        save_scoring_model(
            tmp_path / "m3", net, {}, query={**query, "forcefield_version": 1}, forcefield_version=2
        )


def test_score_models_featurises_an_old_model_with_version_1(tmp_path, monkeypatch):
    import deeprank_like.processing
    from deeprank_like.pretrained.docking import DockingGINE, save_scoring_model, score_models

    net = DockingGINE(num_node_features=3, num_edge_features=2, hidden_size=4, num_layers=1)
    query = {
        "resolution": "residue",
        "influence_radius": 10.0,
        "max_edge_length": 10.0,
        "feature_modules": ["components", "contact"],
    }
    out = save_scoring_model(tmp_path / "old", net, {}, query=query)
    meta = json.loads((out / "model.json").read_text())
    del meta["query"]["forcefield_version"]  # as written before versioned tables
    (out / "model.json").write_text(json.dumps(meta))
    seen = []

    def fake_process(queries, *args, **kwargs):
        seen.append(kwargs.get("feature_modules"))
        raise RuntimeError("stop")

    monkeypatch.setattr(deeprank_like.processing, "process", fake_process)
    with pytest.raises(RuntimeError, match="stop"):
        score_models([example_path("1ATN_1w")], "A,B", model_dir=out)
    (modules,) = seen
    assert modules[0] == "components"
    assert isinstance(modules[1], Contact) and modules[1].forcefield_version == 1
