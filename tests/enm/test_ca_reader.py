"""The Cα-record reader (``read_ca_structure``) and the β-GM spectra it gives from files.

``read_ca_structure`` parses only the records a Cα trace needs; its trace must equal the trace of
the whole-file parse in every field, and the eigenvalues of the example proteins must equal the
ones stored from the code before the reader existed (``tests/data/enm``).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import deeprank_like
from deeprank_like.enm import (
    BetaGMConfig,
    betagm_eigenvalues,
    ca_trace,
    load_chain,
    protein_chain_ids,
    read_ca_structure,
    read_ca_trace,
)
from deeprank_like.enm.windows import _plain_ca_trace, ca_records
from deeprank_like.errors import EnmError
from deeprank_like.structure import load_structure

EXAMPLES = Path(deeprank_like.__file__).parent / "examples" / "betagm"
REFERENCE = Path(__file__).parents[1] / "data" / "enm" / "betagm_examples_reference.csv"
FIELDS = ("ca", "is_glycine", "chain_ids", "residue_numbers", "insertion_codes", "residue_names")


def _assert_same_trace(path: Path, **kwargs: object) -> None:
    whole, fast = load_structure(path), read_ca_structure(path)
    assert protein_chain_ids(fast) == protein_chain_ids(whole)
    for chain in protein_chain_ids(whole):
        a = ca_trace(whole, chain, missing_ca="drop", **kwargs)
        b = ca_trace(fast, chain, missing_ca="drop", **kwargs)
        for name in FIELDS:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert a.missing_residue_indices.size == b.missing_residue_indices.size


def _atom(serial: int, name: str, res: str, chain: str, num: int, xyz: tuple, **kw: str) -> str:
    altloc, occ, element = kw.get("altloc", " "), kw.get("occ", "1.00"), kw.get("element", "C")
    record = kw.get("record", "ATOM  ")
    x, y, z = xyz
    return (
        f"{record}{serial:5d} {name:<4s}{altloc}{res:>3s} {chain}{num:4d}    "
        f"{x:8.3f}{y:8.3f}{z:8.3f}{float(occ):6.2f}  0.00          {element:>2s}"
    )


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.pdb.gz")))
def test_trace_equals_whole_parse_on_examples(name: str) -> None:
    _assert_same_trace(EXAMPLES / name)


def test_only_ca_and_first_records_are_kept() -> None:
    with gzip.open(EXAMPLES / "2fwf.pdb.gz", "rb") as fh:
        data = fh.read()
    kept = ca_records(data).decode().splitlines()
    atoms = [ln for ln in kept if ln.startswith(("ATOM", "HETATM"))]
    n_ca = sum(ln[12:16].strip() == "CA" for ln in atoms)
    assert n_ca >= 123
    assert len(atoms) < 0.35 * sum(
        ln.startswith(("ATOM", "HETATM")) for ln in data.decode().splitlines()
    )
    assert not any(ln[17:20] == "HOH" for ln in atoms)
    assert not any(ln.startswith("ANISOU") for ln in kept)


def test_awkward_records(tmp_path: Path) -> None:
    """Alternate Cα, a residue without Cα, a calcium ion named CA, waters, two models."""
    rows = []
    serial = 0
    for model in (1, 2):
        rows.append(f"MODEL     {model:4d}")
        shift = 0.0 if model == 1 else 5.0
        for i in range(1, 9):
            xyz = (3.8 * i + shift, 0.3 * (i % 2), 0.0)
            res = "GLY" if i == 4 else "ALA"
            serial += 1
            rows.append(_atom(serial, "N", res, "A", i, (xyz[0] - 1.2, 0.5, 0.2), element="N"))
            if i == 5:
                # residue 5 has no CA: dropped and counted, not silently bridged
                serial += 1
                rows.append(_atom(serial, "CB", res, "A", i, (xyz[0], 1.5, 0.0)))
                continue
            if i == 3:
                serial += 1
                rows.append(_atom(serial, "CA", res, "A", i, xyz, altloc="A", occ="0.40"))
                serial += 1
                moved = (xyz[0], xyz[1] + 0.5, xyz[2])
                rows.append(_atom(serial, "CA", res, "A", i, moved, altloc="B", occ="0.60"))
            else:
                serial += 1
                rows.append(_atom(serial, "CA", res, "A", i, xyz))
            serial += 1
            rows.append(_atom(serial, "C", res, "A", i, (xyz[0] + 1.2, 0.4, 0.1)))
        serial += 1
        rows.append(
            _atom(serial, "CA", "CA", "A", 101, (0.0, 9.0, 0.0), record="HETATM", element="CA")
        )
        serial += 1
        rows.append(_atom(serial, "O", "HOH", "A", 201, (0.0, 0.0, 9.0), record="HETATM"))
        rows.append("ENDMDL")
    rows.append("END")
    path = tmp_path / "awkward.pdb"
    path.write_text("\n".join(rows) + "\n")
    _assert_same_trace(path)
    trace = ca_trace(read_ca_structure(path), "A", missing_ca="drop")
    assert len(trace) == 7  # residues 1-8 without 5; the calcium ion is not a Cα
    assert trace.missing_residue_indices.size == 1
    assert trace.ca[2, 1] == pytest.approx(0.3 + 0.5)  # the higher-occupancy alternate
    assert trace.ca[0, 0] == pytest.approx(3.8)  # the first model
    with pytest.raises(EnmError, match="missing Cα"):
        ca_trace(read_ca_structure(path), "A")


def test_load_chain_reads_through_the_ca_reader() -> None:
    rec = load_chain(EXAMPLES / "1ert.pdb.gz")
    whole = ca_trace(load_structure(EXAMPLES / "1ert.pdb.gz"), missing_ca="drop")
    np.testing.assert_array_equal(rec.ca, whole.ca)


def test_eigenvalues_equal_stored_reference() -> None:
    """λ₇..λ₁₆ of the ten example proteins, stored from the code before the Cα reader and the
    dense Gᵀ G assembly (commit a46fa51), to 1e-9 relative."""
    ref = pd.read_csv(REFERENCE, index_col="protein_id")
    assert len(ref) == 10
    cfg = BetaGMConfig(chain_breaks="split")
    for pid, row in ref.iterrows():
        got = betagm_eigenvalues(EXAMPLES / f"{pid}.pdb.gz", config=cfg)
        np.testing.assert_allclose(got, row.to_numpy(), rtol=1e-9, atol=0, err_msg=str(pid))


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.pdb.gz")))
def test_read_ca_trace_equals_whole_parse(name: str) -> None:
    whole = ca_trace(load_structure(EXAMPLES / name))
    fast = read_ca_trace(EXAMPLES / name)
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(whole, field), getattr(fast, field), err_msg=field)


def test_plain_path_taken_and_refused() -> None:
    """1RNZ is plain (read from its Cα records alone); 2FWF has alternate Cα locations."""
    with gzip.open(EXAMPLES / "1rnz.pdb.gz", "rb") as fh:
        assert _plain_ca_trace(ca_records(fh.read()), "1rnz") is not None
    with gzip.open(EXAMPLES / "2fwf.pdb.gz", "rb") as fh:
        assert _plain_ca_trace(ca_records(fh.read()), "2fwf") is None


def test_plain_path_stops_at_end_and_drops_calcium(tmp_path: Path) -> None:
    rows = [_atom(i, "CA", "ALA", "A", i, (3.8 * i, 0.0, 0.0)) for i in range(1, 6)]
    rows.append(_atom(6, "CA", "CA", "A", 101, (0.0, 9.0, 0.0), record="HETATM", element="CA"))
    rows.append("END")
    rows += [_atom(10 + i, "CA", "ALA", "B", i, (3.8 * i, 9.0, 0.0)) for i in range(1, 6)]
    path = tmp_path / "end.pdb"
    path.write_text("\n".join(rows) + "\n")
    trace = read_ca_trace(path)
    assert trace.chain_ids.tolist() == ["A"] * 5  # the reader stops at END, as gemmi does
    whole = ca_trace(load_structure(path))
    np.testing.assert_array_equal(trace.ca, whole.ca)


def test_plain_path_reports_a_missing_ca(tmp_path: Path) -> None:
    rows = [_atom(i, "CA", "ALA", "A", i, (3.8 * i, 0.0, 0.0)) for i in range(1, 6)]
    rows.insert(2, _atom(20, "N", "ALA", "A", 9, (3.8 * 9, 1.0, 0.0), element="N"))
    path = tmp_path / "hole.pdb"
    path.write_text("\n".join(rows) + "\nEND\n")
    with pytest.raises(EnmError, match="missing Cα"):
        read_ca_trace(path)
