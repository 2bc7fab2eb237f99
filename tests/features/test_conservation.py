"""`conservation`: PSSM rows against the files, mismatch handling, SRV features."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery, SingleResidueVariantQuery
from deeprank_like.domain.aminoacids import PSSM_ORDER
from deeprank_like.errors import FeatureError, PssmError
from deeprank_like.features.conservation import read_pssm
from deeprank_like.structure import load_structure

DATA = Path(__file__).parents[1] / "data"
PSSM = DATA / "pssm"
C8P = str(DATA / "pdb" / "3C8P.pdb")
M101 = str(DATA / "pdb" / "101M.pdb")
GOOD = {"A": str(PSSM / "3C8P.A.pdb.pssm"), "B": str(PSSM / "3C8P.B.pdb.pssm")}


def rows_by_hand(path) -> dict[str, tuple[list[float], float, str]]:
    """pdbresi → (20 scores in file order, IC, pdbresn), read with plain string splitting."""
    lines = Path(path).read_text().splitlines()
    header = lines[0].split()
    assert header[4:24] == list("ARNDCQEGHILKMFPSTWYV") and header[24] == "IC"
    out = {}
    for line in lines[1:]:
        f = line.split()
        out[f[0]] = ([float(v) for v in f[4:24]], float(f[24]), f[1])
    return out


def _ppi(resolution="residue", pssm=GOOD, **kw):
    return ProteinProteinInterfaceQuery(
        pdb_path=C8P, chain_ids=["A", "B"], resolution=resolution, pssm_paths=pssm, **kw
    )


def test_blast_column_order_is_documented_order():
    assert "".join(PSSM_ORDER) == "ARNDCQEGHILKMFPSTWYV"


@pytest.mark.parametrize("resolution", ["residue", "atom"])
def test_pssm_rows_equal_the_file(resolution):
    g = _ppi(resolution).build(["conservation"])
    hand = {c: rows_by_hand(GOOD[c]) for c in "AB"}
    ids = g.node_ids
    for k in range(g.num_nodes):
        key = f"{ids['residue_number'][k]}{ids['insertion_code'][k]}"
        scores, ic, _ = hand[ids["chain"][k]][key]
        np.testing.assert_array_equal(g.node_features["pssm"][k], scores)
        assert g.node_features["info_content"][k] == ic
    assert g.feature_specs["pssm"].width == 20
    assert "A R N D C Q E G H I L K M F P S T W Y V" in g.feature_specs["pssm"].description


def test_srv_conservation_and_difference():
    q = SingleResidueVariantQuery(
        pdb_path=M101, chain_ids="A", variant_residue_number=139,
        wildtype_amino_acid="R", variant_amino_acid="E",
        pssm_paths={"A": str(PSSM / "101M.A.pdb.pssm")},
    )  # fmt: skip
    g = q.build(["conservation"])
    scores, _, resn = rows_by_hand(PSSM / "101M.A.pdb.pssm")["139"]
    assert resn == "R"
    on = g.node_ids["residue_number"] == 139
    assert on.sum() == 1
    wt, var = scores[PSSM_ORDER.index("R")], scores[PSSM_ORDER.index("E")]
    assert g.node_features["conservation"][on][0] == wt
    assert g.node_features["diff_conservation"][on][0] == var - wt
    assert np.all(g.node_features["conservation"][~on] == 0.0)
    assert np.all(g.node_features["diff_conservation"][~on] == 0.0)


def test_wrong_residue_type_raises_naming_residue():
    bad = {**GOOD, "A": str(PSSM / "3C8P.A.wrong_order.pdb.pssm")}
    with pytest.raises(
        PssmError, match=r"chain A .*residue type mismatch: A 1 LYS is C in the PSSM"
    ):
        _ppi(pssm=bad).build(["conservation"])


def test_missing_residue_raises_naming_residue():
    bad = {**GOOD, "B": str(PSSM / "3C8P.B.missing_res.pdb.pssm")}
    with pytest.raises(PssmError, match=r"chain B .*no PSSM row for residue\(s\) B 46 LYS") as info:
        _ppi(pssm=bad).build(["conservation"])
    assert "residue-ppi:A-B:3C8P" in str(info.value)  # the framework names the query


def test_suppressed_errors_warn_and_zero_affected_rows(caplog):
    bad = {
        "A": str(PSSM / "3C8P.A.wrong_order.pdb.pssm"),
        "B": str(PSSM / "3C8P.B.missing_res.pdb.pssm"),
    }
    q = _ppi(resolution="atom", pssm=bad, suppress_pssm_errors=True, influence_radius=12.0)
    with caplog.at_level(logging.WARNING):
        g = q.build(["conservation"])
    assert "suppress_pssm_errors" in caplog.text and "B 46 LYS" in caplog.text
    ids = g.node_ids
    affected = ((ids["chain"] == "A") & np.isin(ids["residue_number"], [1, 2, 3])) | (
        (ids["chain"] == "B") & (ids["residue_number"] == 46)
    )
    assert affected.any() and (~affected).any()
    assert np.all(g.node_features["pssm"][affected] == 0.0)
    assert np.all(g.node_features["info_content"][affected] == 0.0)
    good = _ppi(resolution="atom", influence_radius=12.0).build(["conservation"])
    np.testing.assert_array_equal(
        g.node_features["pssm"][~affected], good.node_features["pssm"][~affected]
    )


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(PssmError, match="not found"):
        _ppi(pssm={**GOOD, "A": str(tmp_path / "nope.pssm")}).build(["conservation"])
    old = tmp_path / "old.pssm"  # the pre-PSSMGen layout: no header line
    old.write_text("   A         1       LYS\t -3\t  1\n")
    with pytest.raises(PssmError, match="not a PSSMGen-format PSSM"):
        read_pssm(old)
    truncated = tmp_path / "short.pssm"
    text = Path(GOOD["A"]).read_text().splitlines()
    truncated.write_text("\n".join([text[0], text[1], " ".join(text[2].split()[:-3])]) + "\n")
    with pytest.raises(PssmError, match="line 3"):
        read_pssm(truncated)
    # even with suppress_pssm_errors a missing file is an error
    with pytest.raises(PssmError, match="not found"):
        _ppi(pssm={**GOOD, "B": str(tmp_path / "nope.pssm")}, suppress_pssm_errors=True).build(
            ["conservation"]
        )


def test_chain_without_pssm():
    with pytest.raises(PssmError, match="chain B: no PSSM file"):
        _ppi(pssm={"A": GOOD["A"]}).build(["conservation"])


def test_unavailable_without_pssm_paths():
    g = _ppi(pssm={}).build("all")
    assert "pssm" not in g.node_features
    with pytest.raises(FeatureError, match="query.pssm_paths is empty"):
        _ppi(pssm={}).build(["conservation"])


def test_insertion_codes_are_respected(tmp_path):
    s = load_structure(C8P)
    target = s.find_residue("A", 10)
    icodes = s.insertion_codes.copy()
    lo, hi = s.residue_atom_start[target], s.residue_atom_start[target + 1]
    icodes[lo:hi] = "A"
    renamed = dataclasses.replace(s, insertion_codes=icodes, _cache={})
    lines = Path(GOOD["A"]).read_text().splitlines()
    edited = [lines[0]]
    for line in lines[1:]:
        f = line.split()
        if f[0] == "10":
            line = line.replace("     10 ", "    10A ", 1)
        edited.append(line)
    pssm_a = tmp_path / "3C8P.A.icode.pssm"
    pssm_a.write_text("\n".join(edited) + "\n")
    table = read_pssm(pssm_a)
    assert (table.numbers[table.icodes == "A"] == 10).all() and (table.icodes == "A").sum() == 1

    q = _ppi(pssm={**GOOD, "A": str(pssm_a)}, influence_radius=30.0)
    g = q.build(["conservation"], structure=renamed)
    node = np.flatnonzero((g.node_ids["chain"] == "A") & (g.node_ids["residue_number"] == 10))
    assert g.node_ids["insertion_code"][node[0]] == "A"
    np.testing.assert_array_equal(
        g.node_features["pssm"][node[0]], rows_by_hand(GOOD["A"])["10"][0]
    )
    # the original PSSM (10 without insertion code) does not match residue 10A
    with pytest.raises(PssmError, match="A 10A"):
        q_plain = _ppi(influence_radius=30.0)
        q_plain.build(["conservation"], structure=renamed)
