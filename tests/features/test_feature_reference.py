"""Every feature of the example queries equals the stored reference (1e-6).

The reference ``tests/data/features_reference.npz`` was written by this file's
``_write_reference`` from the code *before* the per-query speed-ups of issue #17 (lazy buried
surface, per-structure result cache, restricted DSSP); any change of a feature value by a later
optimisation makes this test fail. An intended change of values must regenerate the file
(``python tests/features/test_feature_reference.py --write``) and say why in the changelog.
Regenerated once: the force-field fix of 8b71302 (aromatic ring atoms and HIS HE2 got their
charges) changes ``electrostatic``, ``vanderwaals`` and ``atom_charge``; the file now holds the
pre-speed-up feature code's values with that force field.

Queries: PPI residue graphs of the three example structures and the atom graph of 3C8P, SRV
residue and atom graphs at two positions of 3C8P and one of 1ATN_1w, all modules (PSSMs from
``tests/data/pssm``). Each query is built twice in one process, so a second build that reuses
cached per-structure results must give the same values as the first.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery, SingleResidueVariantQuery
from deeprank_like.examples import example_path

DATA = Path(__file__).resolve().parents[1] / "data"
REFERENCE = DATA / "features_reference.npz"

# (structure, chain, residue number, wild type, variant)
_SRV = [
    ("3C8P", "A", 40, None, "ALA"),
    ("3C8P", "B", 20, None, "TRP"),
    ("1ATN_1w", "B", 100, None, "ALA"),
]


def _pssms(stem: str) -> dict[str, str]:
    base = stem.split("_")[0]
    return {c: str(DATA / "pssm" / f"{base}.{c}.pdb.pssm") for c in ("A", "B")}


def reference_queries() -> list:
    """The queries whose features are stored in the reference file."""
    from deeprank_like.structure import load_structure

    out: list = []
    for stem in ("1ATN_1w", "1ATN_2w", "3C8P"):
        out.append(
            ProteinProteinInterfaceQuery(
                pdb_path=str(example_path(stem)), chain_ids=["A", "B"], resolution="residue",
                pssm_paths=_pssms(stem),
            )
        )  # fmt: skip
    out.append(
        ProteinProteinInterfaceQuery(
            pdb_path=str(example_path("3C8P")), chain_ids=["A", "B"], resolution="atom",
            pssm_paths=_pssms("3C8P"),
        )
    )  # fmt: skip
    for stem, chain, number, _, variant in _SRV:
        s = load_structure(example_path(stem))
        res = s.find_residue(chain, number, "")
        for resolution in ("residue", "atom"):
            out.append(
                SingleResidueVariantQuery(
                    pdb_path=str(example_path(stem)), chain_ids=chain,
                    variant_residue_number=number, wildtype_amino_acid=str(s.residue_names[res]),
                    variant_amino_acid=variant, resolution=resolution, pssm_paths=_pssms(stem),
                )
            )  # fmt: skip
    return out


def graph_arrays(graph) -> dict[str, np.ndarray]:
    """Nodes, edges and every node/edge feature of a graph, keyed ``<id>|<what>``."""
    gid = graph.id
    out = {
        f"{gid}|residue_index": graph.residue_index.astype(np.int32),
        f"{gid}|edge_index": graph.edge_index.astype(np.int32),
    }
    for name, value in graph.node_features.items():
        out[f"{gid}|node|{name}"] = np.asarray(value, dtype=np.float64)
    for name, value in graph.edge_features.items():
        out[f"{gid}|edge|{name}"] = np.asarray(value, dtype=np.float64)
    return out


def _write_reference() -> None:
    arrays: dict[str, np.ndarray] = {}
    for q in reference_queries():
        arrays.update(graph_arrays(q.build("all")))
    np.savez_compressed(REFERENCE, **arrays)
    print(f"wrote {len(arrays)} arrays to {REFERENCE} ({REFERENCE.stat().st_size} bytes)")


def _compare(got: dict[str, np.ndarray], ref, gid: str) -> None:
    expected = {k for k in ref.files if k.startswith(f"{gid}|")}
    assert expected, f"no reference arrays for {gid}"
    assert set(got) == expected, f"{gid}: features differ: {sorted(set(got) ^ expected)}"
    for key in sorted(expected):
        want = ref[key]
        have = got[key]
        assert have.shape == want.shape, f"{key}: shape {have.shape} != {want.shape}"
        if want.dtype.kind == "i":
            np.testing.assert_array_equal(have, want, err_msg=key)
        else:
            np.testing.assert_allclose(have, want, rtol=0, atol=1e-6, err_msg=key)


@pytest.fixture(scope="module")
def reference():
    if not REFERENCE.exists():
        pytest.fail(f"missing {REFERENCE}")
    with np.load(REFERENCE) as ref:
        yield ref


@pytest.mark.parametrize("query", reference_queries(), ids=lambda q: q.id)
def test_features_equal_reference(query, reference):
    # twice: the second build may reuse per-structure results cached by the first
    for _ in range(2):
        _compare(graph_arrays(query.build("all")), reference, query.id)


if __name__ == "__main__":
    if "--write" in sys.argv:
        _write_reference()
    else:
        print(__doc__)
