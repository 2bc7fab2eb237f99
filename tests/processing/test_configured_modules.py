"""Configured module instances reach worker processes with their settings."""

from __future__ import annotations

import h5py
import numpy as np
from processing_helpers import make_collection

from deeprank_like.enm import betagm_eigenvalues
from deeprank_like.enm.target import BetaGM
from deeprank_like.features.registry import describe_reference, module_reference, resolve_reference
from deeprank_like.processing import process


def test_reference_forms():
    from deeprank_like.features.contact import Contact
    from deeprank_like.features.registry import resolve_module

    assert module_reference(resolve_module("contact")) == "contact"
    assert module_reference(Contact()) == "deeprank_like.features.contact:Contact"
    ref = module_reference(BetaGM(chains=["A"], target_name="betagm_A"))
    back = resolve_reference(ref)
    assert isinstance(back, BetaGM) and back.chains == ("A",) and back.target_name == "betagm_A"
    assert "configured instance 'betagm'" in describe_reference(ref)


def test_configured_target_module_in_worker_processes(tmp_path):
    qc = make_collection(2, srv=False, bad=False)
    summary = process(qc, prefix=tmp_path / "x", cpu_count=2,
                      feature_modules=["components", BetaGM(chains=["A"], target_name="betagm_A")])  # fmt: skip
    assert summary.failed == 0
    with h5py.File(tmp_path / "x.hdf5", "r") as f:
        entry = f["residue-ppi:A-B:1ATN_1w"]
        values = entry["targets/betagm_A"][()]
        path = dict(zip(qc.ids(), [q.pdb_path for q in qc], strict=True))["residue-ppi:A-B:1ATN_1w"]
    np.testing.assert_allclose(values, betagm_eigenvalues(path, chain_ids=["A"]), rtol=1e-6)
