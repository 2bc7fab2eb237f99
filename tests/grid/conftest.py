"""Fixtures of the grid tests: one residue-level 1ATN PPI graph, built once."""

from __future__ import annotations

import pytest

import deeprank_like


@pytest.fixture(scope="module")
def ppi_graph(pdb_dir):
    """Residue-level 1ATN_1w A-B interface graph (components + contact features)."""
    query = deeprank_like.ProteinProteinInterfaceQuery(
        pdb_path=str(pdb_dir / "1ATN_1w.pdb"), chain_ids=["A", "B"]
    )
    return query.build()
