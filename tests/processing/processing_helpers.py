"""Shared helpers of the processing tests."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
if str(HERE) not in sys.path:  # workers inherit sys.path and import drl_test_modules
    sys.path.insert(0, str(HERE))

PDB = HERE.parent / "data" / "pdb"


def make_collection(n_ppi: int = 4, srv: bool = True, bad: bool = True, model_ids=()):
    """PPI queries on the 1ATN decoys and 3C8P, an SRV on 101M, and two failing queries."""
    from deeprank_like import (
        ProteinProteinInterfaceQuery,
        QueryCollection,
        SingleResidueVariantQuery,
    )

    qc = QueryCollection()
    files = ["1ATN_1w", "1ATN_2w", "3C8P"]
    for i in range(n_ppi):
        name = files[i % len(files)]
        qc.add(
            ProteinProteinInterfaceQuery(
                pdb_path=PDB / f"{name}.pdb",
                chain_ids=["A", "B"],
                targets={"binary": i % 2, "score": 0.5 * i},
            ),
            warn_duplicate=False,
        )
    for model_id in model_ids:
        qc.add(
            ProteinProteinInterfaceQuery(
                pdb_path=PDB / "1ATN_1w.pdb", chain_ids=["A", "B"], model_id=model_id
            )
        )
    if srv:
        qc.add(
            SingleResidueVariantQuery(
                pdb_path=PDB / "101M.pdb",
                chain_ids="A",
                variant_residue_number=25,
                wildtype_amino_acid="GLY",
                variant_amino_acid="ALA",
            )
        )
    if bad:
        # wrong wild type: fails while building
        qc.add(
            SingleResidueVariantQuery(
                pdb_path=PDB / "101M.pdb",
                chain_ids="A",
                variant_residue_number=26,
                wildtype_amino_acid="GLY",
                variant_amino_acid="ALA",
            )
        )
        # missing file: fails while loading
        qc.add(ProteinProteinInterfaceQuery(pdb_path=PDB / "absent.pdb", chain_ids=["A", "B"]))
    return qc


def entries_of(path):
    """{query id: Graph} of a feature file."""
    from deeprank_like.storage import FeatureFile

    with FeatureFile(path) as ff:
        return {qid: ff.read_graph(qid) for qid in ff.entries}


def assert_same_entries(a: dict, b: dict):
    import numpy as np

    assert sorted(a) == sorted(b)
    for qid in a:
        ga, gb = a[qid], b[qid]
        np.testing.assert_array_equal(ga.node_ids, gb.node_ids)
        np.testing.assert_array_equal(ga.edge_index, gb.edge_index)
        np.testing.assert_array_equal(ga.positions, gb.positions)
        for kind in ("node_features", "edge_features"):
            fa, fb = getattr(ga, kind), getattr(gb, kind)
            assert sorted(fa) == sorted(fb)
            for name in fa:
                np.testing.assert_array_equal(fa[name], fb[name], err_msg=f"{qid} {name}")
        assert ga.targets == gb.targets


@pytest.fixture(scope="session")
def process_pool():
    """One spawn pool of 2 workers reused by the tests (start-up is paid once)."""
    from deeprank_like.processing import ProcessExecutor

    with ProcessExecutor(2) as ex:
        yield ex
