"""The one Cα reader and what a missing Cα does (``ca_trace(missing_ca=...)``, ``load_chain``)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

import deeprank_like
from deeprank_like.enm import (
    ca_trace,
    chain_breaks,
    load_chain,
    make_windows,
    protein_chain_ids,
    sliding_windows,
)
from deeprank_like.errors import EnmError
from deeprank_like.structure import load_structure

EXAMPLES = Path(deeprank_like.__file__).parent / "examples" / "betagm"
HOLE = 50  # 0-based residue index of ASN 51 of 1ERT chain A, whose CA is removed


def _example_lines() -> list[str]:
    with gzip.open(EXAMPLES / "1ert.pdb.gz", "rt") as fh:
        return fh.read().splitlines()


@pytest.fixture(scope="module")
def holed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1ERT (105 residues) with the CA atom of residue 51 deleted (the residue stays)."""
    lines = _example_lines()
    kept = [
        ln
        for ln in lines
        if not (ln.startswith("ATOM") and ln[12:16] == " CA " and ln[22:26].strip() == "51")
    ]
    assert len(kept) == len(lines) - 1
    path = tmp_path_factory.mktemp("holed") / "1ert_noca51.pdb"
    path.write_text("\n".join(kept) + "\n")
    return path


def test_ca_trace_raises_on_a_missing_ca_by_default(holed: Path) -> None:
    with pytest.raises(EnmError, match=r"missing Cα: 1 amino-acid residue\(s\).*A 51 ASN"):
        ca_trace(load_structure(holed))
    with pytest.raises(EnmError, match="missing_ca"):
        ca_trace(load_structure(holed), missing_ca="skip")  # type: ignore[arg-type]


def test_drop_leaves_the_residue_out_and_records_it(holed: Path) -> None:
    structure = load_structure(holed)
    full = ca_trace(load_structure(EXAMPLES / "1ert.pdb.gz"))
    trace = ca_trace(structure, missing_ca="drop")
    assert len(trace) == len(full) - 1 == 104
    assert trace.missing_residue_indices.tolist() == [HOLE]
    assert structure.residue_names[HOLE] == "ASN" and structure.residue_numbers[HOLE] == 51
    np.testing.assert_array_equal(trace.ca, np.delete(full.ca, HOLE, axis=0))
    assert HOLE not in trace.residue_indices.tolist()
    assert not trace.missing_residue_indices.flags.writeable
    # the hole is a chain break (Cα 50 to Cα 52: 6-7 Å) and no window spans it
    step = np.linalg.norm(trace.ca[HOLE] - trace.ca[HOLE - 1])
    assert step > 4.2
    assert chain_breaks(trace.ca).tolist() == [HOLE - 1]
    starts = list(sliding_windows(trace.ca, length=40, step=1))
    assert starts and all(s >= HOLE or s + 40 <= HOLE for s in starts)
    # a window keeps the holes between its first and last residue only
    assert trace.window(HOLE - 5, 10).missing_residue_indices.tolist() == [HOLE]
    assert trace.window(HOLE, 10).missing_residue_indices.size == 0
    # without a hole nothing is recorded, with either option
    assert (
        ca_trace(load_structure(EXAMPLES / "1ert.pdb.gz"), missing_ca="drop")
        .window(0, 100)
        .missing_residue_indices.tolist()
        == []
    )


def test_load_chain_drops_and_counts_then_windows_skip_the_hole(holed: Path) -> None:
    rec = load_chain(holed)
    assert (len(rec), rec.n_missing_ca, rec.chain_id) == (104, 1, "A")
    full = load_chain(EXAMPLES / "1ert.pdb.gz")
    assert rec.sequence == full.sequence[:HOLE] + full.sequence[HOLE + 1 :]
    windows, skipped = make_windows([rec], window=40, step=10)
    kept_starts = set(windows.starts.tolist())
    # the hole lies between trace residues 49 and 50: windows starting at 20, 30, 40 span it
    assert kept_starts == {0, 10, 50, 60}
    assert skipped["reason"].str.startswith("chain break").all()
    assert skipped["start"].tolist() == [20, 30, 40]


def test_protein_chain_ids_and_load_chain_errors(tmp_path: Path) -> None:
    structure = load_structure(EXAMPLES / "1ert.pdb.gz")
    assert protein_chain_ids(structure) == ["A"]
    with pytest.raises(EnmError, match=r"1ert\.pdb\.gz: chain 'B'"):
        load_chain(EXAMPLES / "1ert.pdb.gz", "B")
    lines = _example_lines()
    atoms = [ln for ln in lines if ln.startswith("ATOM")]
    two = atoms + ["TER"] + [ln[:21] + "B" + ln[22:] for ln in atoms] + ["END"]
    path = tmp_path / "two.pdb"
    path.write_text("\n".join(two) + "\n")
    with pytest.raises(EnmError, match=r"expected one amino-acid chain, found \['A', 'B'\]"):
        load_chain(path)
    assert len(load_chain(path, "B")) == 105
