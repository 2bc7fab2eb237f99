"""Tests of the `betagm` target feature module (deeprank_like/enm/target.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery, SingleResidueVariantQuery
from deeprank_like.enm import BetaGMConfig, betagm_eigenvalues
from deeprank_like.enm import target as target_mod
from deeprank_like.enm.target import DEFAULT_TARGET_CONFIG, BetaGM
from deeprank_like.errors import FeatureError
from deeprank_like.features import resolve_module
from deeprank_like.structure import load_structure
from deeprank_like.testing import assert_rigid_invariant, random_rotation

PDB = Path(__file__).resolve().parents[1] / "data" / "pdb"
ATN = str(PDB / "1ATN_1w.pdb")  # two chains (A: actin, B: DNase I), 627 residues
M101 = str(PDB / "101M.pdb")  # myoglobin, one chain


def _srv(resolution: str = "residue") -> SingleResidueVariantQuery:
    return SingleResidueVariantQuery(
        pdb_path=M101, chain_ids="A", variant_residue_number=139,
        wildtype_amino_acid="R", variant_amino_acid="E", resolution=resolution,
    )  # fmt: skip


def _ppi(resolution: str = "residue") -> ProteinProteinInterfaceQuery:
    return ProteinProteinInterfaceQuery(pdb_path=ATN, chain_ids=["A", "B"], resolution=resolution)


def test_registered_by_name_and_not_in_all():
    module = resolve_module("betagm")
    assert isinstance(module, BetaGM)
    assert module.chains == "structure"
    assert module.config == DEFAULT_TARGET_CONFIG
    assert module.target_module
    assert "betagm" not in _srv().build("all").targets


@pytest.mark.parametrize("resolution", ["residue", "atom"])
def test_srv_target_equals_direct_computation(resolution):
    graph = _srv(resolution).build(["betagm"])
    expected = betagm_eigenvalues(M101, config=DEFAULT_TARGET_CONFIG)
    np.testing.assert_allclose(graph.targets["betagm"], expected, rtol=1e-12)
    spec = graph.feature_specs["betagm"]
    assert (spec.kind, spec.width, spec.unit) == ("target", 10, "k (spring-constant units)")
    assert spec.module == "betagm"


def test_ppi_whole_structure_and_query_chains():
    structure = load_structure(ATN)
    whole = _ppi().build(["betagm"], structure=structure).targets["betagm"]
    # default: every chain as one network, chain ends are termini (segment_ids = chain ids)
    np.testing.assert_allclose(
        whole, betagm_eigenvalues(structure, config=DEFAULT_TARGET_CONFIG), rtol=1e-12
    )
    only_a = _ppi("atom").build([BetaGM(chains="A")], structure=structure).targets["betagm"]
    np.testing.assert_allclose(
        only_a, betagm_eigenvalues(structure, "A", config=DEFAULT_TARGET_CONFIG), rtol=1e-12
    )
    # the PPI query's chains are A and B = the whole structure here
    query_chains = _ppi().build([BetaGM(chains="query")], structure=structure).targets["betagm"]
    np.testing.assert_allclose(query_chains, whole, rtol=1e-12)
    assert not np.allclose(only_a, whole)


def test_width_follows_config_and_spring_scaling():
    config = DEFAULT_TARGET_CONFIG.replace(n_eigenvalues=4)
    base = _srv().build([BetaGM(config=config)]).targets["betagm"]
    assert base.shape == (4,)
    scaled = _srv().build([BetaGM(config=config.scaled(3.0))]).targets["betagm"]
    np.testing.assert_allclose(scaled / base, 3.0, rtol=1e-9)


def test_floppy_network_is_a_reason_not_a_crash():
    # R_c = 4 Å leaves far too few springs: more than 6 zero modes
    module = BetaGM(config=BetaGMConfig(cutoff=4.0, chain_breaks="split"))
    query = _srv()
    with pytest.raises(FeatureError, match="zero modes"):
        query.build([module])
    # the lenient path ("all") skips it and keeps the other modules
    from deeprank_like.features.apply import apply_modules
    from deeprank_like.features.base import FeatureContext

    structure = query.load_structure()
    graph = query.build(["components"], structure=structure)
    context = FeatureContext(structure=structure, graph=graph, query=query)
    assert "zero modes" in module.unavailable_reason(context)
    apply_modules(context, [module], skip_inapplicable=True)
    assert "betagm" not in graph.targets


def test_max_residues_and_unknown_chain():
    with pytest.raises(FeatureError, match="max_residues"):
        _srv().build([BetaGM(max_residues=50)])
    with pytest.raises(FeatureError, match="no Cα"):
        _srv().build([BetaGM(chains=["Z"])])


def test_cache_reuses_spectrum(monkeypatch):
    target_mod.clear_cache()
    calls = []
    original = target_mod.betagm_from_ca

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(target_mod, "betagm_from_ca", counting)
    structure = load_structure(M101)
    first = _srv().build(["betagm"], structure=structure).targets["betagm"]
    other = SingleResidueVariantQuery(
        pdb_path=M101, chain_ids="A", variant_residue_number=25,
        wildtype_amino_acid="G", variant_amino_acid="A",
    )  # fmt: skip
    second = other.build(["betagm"], structure=structure).targets["betagm"]
    assert len(calls) == 1
    np.testing.assert_array_equal(first, second)


def test_rigid_invariance():
    assert_rigid_invariant(_srv(), ["betagm"], random_rotation(3), [5.0, -2.0, 7.0], rtol=1e-8)
