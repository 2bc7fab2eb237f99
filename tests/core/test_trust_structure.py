"""Bad structure inputs fail clearly, per query, and never corrupt a graph silently (issue 11).

Items 5 (duplicate atoms), 7 (placeholder coordinates), 9 (atoms before MODEL, damaged gzip,
variant equal to the wild type) and the inputs around them: empty, binary, BOM, blank or
non-numeric coordinates, NaN, mmCIF without columns, non-UTF-8 names, HETATM-only files,
chains without amino acids, occupancy 0, huge B-factors.
"""

from __future__ import annotations

import gzip
import logging
import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from deeprank_like import ProteinProteinInterfaceQuery, QueryCollection, SingleResidueVariantQuery
from deeprank_like.errors import QueryError, StructureError
from deeprank_like.processing import process
from deeprank_like.storage import read_failures
from deeprank_like.structure import load_structure

PDB = Path(__file__).parents[1] / "data" / "pdb"
LOGGER = "deeprank_like.structure.io"


def _atom(serial, name, resname, chain, num, xyz, occ=1.0, b=10.0, rec="ATOM", alt=" "):
    x, y, z = xyz
    name = f" {name:<3}" if len(name) < 4 else name  # PDB alignment: element in column 14
    return (
        f"{rec:<6}{serial:5d} {name}{alt}{resname:>3} {chain}{num:4d}    "
        f"{x:8.3f}{y:8.3f}{z:8.3f}{occ:6.2f}{b:6.2f}          {name.strip()[0]:>2}"
    )


def _residue(chain, num, origin, resname="ALA", serial=1, **kw):
    """Backbone + CB of one residue, 1.5 Å apart along x from ``origin``."""
    ox, oy, oz = origin
    names = ("N", "CA", "C", "O", "CB")
    return [
        _atom(serial + i, n, resname, chain, num, (ox + 1.5 * i, oy, oz), **kw)
        for i, n in enumerate(names)
    ]


def _complex() -> list[str]:
    """Chain A (2 residues) facing chain B (2 residues) 4 Å away: a tiny PPI."""
    lines = _residue("A", 1, (0, 0, 0)) + _residue("A", 2, (0, 3.8, 0), serial=6)
    lines += _residue("B", 1, (0, 0, 4.0), serial=11) + _residue("B", 2, (0, 3.8, 4.0), serial=16)
    return lines


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\nEND\n")
    return path


# ---- item 5: duplicate atoms ---------------------------------------------------------


def test_duplicated_atom_lines_keep_the_first_with_a_warning(tmp_path, caplog):
    lines = _complex()
    moved = [ln[:30] + f"{50.0:8.3f}" + ln[38:] for ln in lines]  # copies 50 Å away in x
    path = _write(tmp_path / "dup.pdb", lines + moved)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        s = load_structure(path)
    ref = load_structure(_write(tmp_path / "ref.pdb", lines))
    assert s.num_atoms == ref.num_atoms == 20
    np.testing.assert_array_equal(s.coords, ref.coords)  # the first copies were kept
    assert "ignored 20 duplicate atom(s)" in caplog.text
    assert "A 1 ALA N" in caplog.text and str(path) in caplog.text


def test_duplicate_atoms_do_not_change_the_graph(tmp_path):
    text = (PDB / "1ATN_1w.pdb").read_text().splitlines()
    atoms = [ln for ln in text if ln.startswith(("ATOM", "HETATM"))]
    doubled = _write(tmp_path / "1ATN_dup.pdb", atoms + atoms)
    build = {
        p: ProteinProteinInterfaceQuery(pdb_path=p, chain_ids=["A", "B"], resolution="atom").build(
            "components"
        )
        for p in (PDB / "1ATN_1w.pdb", doubled)
    }
    g_ref, g_dup = build.values()
    assert g_dup.num_nodes == g_ref.num_nodes
    np.testing.assert_array_equal(g_dup.edge_index, g_ref.edge_index)
    np.testing.assert_array_equal(g_dup.positions, g_ref.positions)


def test_same_site_with_blank_and_alternate_location_keeps_one(tmp_path, caplog):
    lines = _complex()
    extra = _atom(99, "CA", "ALA", "A", 1, (9.0, 9.0, 9.0), occ=0.5, alt="A")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        s = load_structure(_write(tmp_path / "alt.pdb", [*lines, extra]))
    assert s.num_atoms == 20
    assert "ignored 1 duplicate atom(s)" in caplog.text


# ---- item 7: placeholder coordinates -------------------------------------------------


def test_placeholder_coordinates_are_dropped_with_a_message(tmp_path, caplog):
    lines = _complex()
    lines[6] = lines[6][:30] + f"{9999.999:8.3f}{9999.999:8.3f}{9999.999:8.3f}" + lines[6][54:]
    path = _write(tmp_path / "sentinel.pdb", lines)
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        s = load_structure(path)
    assert s.num_atoms == 19 and np.abs(s.coords).max() < 100
    assert str(path) in caplog.text and "placeholder coordinate" in caplog.text
    assert "A 2 ALA CA" in caplog.text
    graph = ProteinProteinInterfaceQuery(pdb_path=path, chain_ids=["A", "B"]).build([])
    assert np.abs(graph.positions).max() < 100


def test_only_placeholder_coordinates_is_an_error(tmp_path):
    lines = [ln[:30] + f"{9999.999:8.3f}" * 3 + ln[54:] for ln in _complex()]
    with pytest.raises(StructureError, match="every atom has a placeholder coordinate"):
        load_structure(_write(tmp_path / "all.pdb", lines))


def test_placeholder_in_mmcif_is_dropped(tmp_path):
    path = tmp_path / "far.cif"
    path.write_text(_CIF.replace("1.5 0.0 0.0", "123456.0 0.0 0.0"))
    s = load_structure(path)
    assert s.num_atoms == 2 and np.abs(s.coords).max() < 10


# ---- item 9: atoms before MODEL, damaged gzip, variant equal to wild type ------------


def test_atoms_before_the_first_model_record_load(tmp_path, caplog):
    lines = _complex()
    moved = [ln[:30] + f"{20.0:8.3f}" + ln[38:] for ln in lines]
    path = _write(tmp_path / "nmr.pdb", [*lines, "MODEL        2", *moved, "ENDMDL"])
    s0 = load_structure(path)
    s1 = load_structure(path, model=1)
    assert s0.num_atoms == s1.num_atoms == 20
    assert s0.coords[0, 0] == 0.0 and s1.coords[0, 0] == 20.0
    with pytest.raises(StructureError, match="model 2 requested but the file has 2"):
        load_structure(path, model=2)


def test_first_residue_written_before_model_1_is_replaced_by_it(tmp_path):
    """The MCCE layout: the first residue, then ``MODEL 1`` and the whole model again."""
    lines = _complex()
    path = _write(tmp_path / "mcce.pdb", [*lines[:5], "MODEL        1", *lines, "ENDMDL"])
    s = load_structure(path)
    assert s.num_atoms == 20 and s.num_residues == 4
    with pytest.raises(StructureError, match="model 1 requested but the file has 1"):
        load_structure(path, model=1)


def test_real_file_with_atoms_before_model_loads():
    s = load_structure(PDB / "2zta.pdb.gz")  # gemmi: "MODEL without ENDMDL?"
    assert s.chains == ("A", "B")
    assert (s.residue_aa >= 0).sum() == 62  # two GCN4 leucine-zipper helices of 31 residues
    assert s.residue_names[0] == "ACE" and s.num_atoms == 524


def _gz(tmp_path: Path) -> bytes:
    return gzip.compress((PDB / "3C8P.pdb").read_bytes())


def test_truncated_gzip_says_damaged_gzip(tmp_path):
    data = _gz(tmp_path)
    path = tmp_path / "cut.pdb.gz"
    path.write_bytes(data[: len(data) // 2])  # gemmi used to read half the atoms silently
    with pytest.raises(StructureError, match=r"cut\.pdb\.gz: damaged gzip file"):
        load_structure(path)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_corrupted_gzip_says_damaged_gzip(tmp_path, seed):
    data = bytearray(_gz(tmp_path))
    rng = random.Random(seed)
    for _ in range(20):
        data[rng.randrange(20, len(data) - 10)] ^= 0xFF
    path = tmp_path / "flip.pdb.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(StructureError, match="damaged gzip file"):
        load_structure(path)


def test_gzip_members_and_trailing_garbage(tmp_path, caplog):
    text = (PDB / "3C8P.pdb").read_bytes()
    ref = load_structure(PDB / "3C8P.pdb")
    two = tmp_path / "two.pdb.gz"
    two.write_bytes(gzip.compress(text[:5000]) + gzip.compress(text[5000:]))
    assert load_structure(two).num_atoms == ref.num_atoms
    tail = tmp_path / "tail.pdb.gz"
    tail.write_bytes(gzip.compress(text) + b"garbage")
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        assert load_structure(tail).num_atoms == ref.num_atoms
    assert "trailing garbage" in caplog.text


def test_variant_equal_to_wild_type_is_an_error():
    with pytest.raises(QueryError, match="equals wildtype_amino_acid"):
        SingleResidueVariantQuery(
            pdb_path=PDB / "101M.pdb",
            chain_ids="A",
            variant_residue_number=25,
            wildtype_amino_acid="GLY",
            variant_amino_acid="G",
        )


# ---- the inputs around them ----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"  \n\n", "empty file"),
        (gzip.compress(b""), "empty file"),
        (b"\x89HDF\r\n\x1a\n\x00\x00\x00\x00" * 10, "binary content"),
    ],
    ids=["empty", "blank", "empty-gzip", "binary"],
)
def test_empty_and_binary_files(tmp_path, content, message):
    path = tmp_path / "x.pdb"
    path.write_bytes(content)
    with pytest.raises(StructureError, match=message):
        load_structure(path)


def test_directory_is_named_as_such(tmp_path):
    (tmp_path / "d.pdb").mkdir()
    with pytest.raises(StructureError, match="is a directory"):
        load_structure(tmp_path / "d.pdb")


def test_byte_order_mark_does_not_lose_the_first_atom(tmp_path):
    path = tmp_path / "bom.pdb"
    path.write_bytes(b"\xef\xbb\xbf" + ("\n".join(_complex()) + "\n").encode())
    assert load_structure(path).num_atoms == 20


@pytest.mark.parametrize(
    ("field", "shown"),
    [(" " * 8, " " * 8), ("   1.x00", "1.x00"), ("     nan", "nan"), ("  1.0e40", "1.0e40")],
)
def test_blank_or_non_numeric_pdb_coordinates_are_an_error(tmp_path, field, shown):
    lines = _complex()
    lines[3] = lines[3][:38] + field + lines[3][46:]  # y of A 1 O
    path = _write(tmp_path / "bad.pdb", lines)
    with pytest.raises(StructureError, match="non-numeric coordinate") as err:
        load_structure(path)
    assert "line 4: A 1 ALA O" in str(err.value) and shown in str(err.value)


def test_valid_coordinate_spellings_pass(tmp_path):
    lines = _complex()
    lines[0] = lines[0][:30] + "-999.999    -1.0     7  " + lines[0][54:]
    s = load_structure(_write(tmp_path / "ok.pdb", lines))
    np.testing.assert_array_equal(s.coords[0], [-999.999, -1.0, 7.0])


@pytest.mark.parametrize(("column", "text"), [(54, "   nan"), (60, "   inf")])
def test_non_finite_occupancy_or_b_factor_is_an_error(tmp_path, column, text):
    lines = _complex()
    lines[1] = lines[1][:column] + text + lines[1][column + 6 :]
    with pytest.raises(StructureError, match=r"non-finite (occupancy|B-factor).*A 1 ALA CA"):
        load_structure(_write(tmp_path / "nan.pdb", lines))


def test_non_utf8_chain_id_is_a_structure_error(tmp_path):
    path = tmp_path / "latin1.pdb"
    text = "\n".join(_complex()).replace(" B   1", "\xe9   1")
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(StructureError, match="not UTF-8 text.*line 11"):
        load_structure(path)


def test_segment_id_and_numbers_in_element_charge_columns(tmp_path, caplog):
    """CNS/HADDOCK layout (BM5): segid in 73-76, a number in 77-80; gemmi alone rejects it."""
    lines = [ln[:66] + f"      {ln[21]}   {i + 150:4d}" for i, ln in enumerate(_complex())]
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        s = load_structure(_write(tmp_path / "cns.pdb", lines))
    assert s.num_atoms == 20 and set(s.elements) == {"N", "C", "O"}
    assert "element/charge columns (77-80) of 20 record(s)" in caplog.text


def test_occupancy_zero_and_huge_b_factors_are_kept(tmp_path):
    lines = [ln[:54] + f"{0.0:6.2f}{999.99:6.2f}" + ln[66:] for ln in _complex()]
    s = load_structure(_write(tmp_path / "occ0.pdb", lines))
    assert s.num_atoms == 20 and (s.occupancies == 0).all()
    np.testing.assert_allclose(s.b_factors, 999.99, rtol=1e-6)  # gemmi keeps float32


def test_hetatm_only_file_fails_its_query_clearly(tmp_path):
    lines = [ln.replace("ATOM  ", "HETATM").replace("ALA", "LIG") for ln in _complex()]
    path = _write(tmp_path / "lig.pdb", lines)
    assert (load_structure(path).residue_aa < 0).all()
    with pytest.raises(QueryError, match="have no amino-acid atoms"):
        ProteinProteinInterfaceQuery(pdb_path=path, chain_ids=["A", "B"]).build([])


def test_chain_without_amino_acids_fails_its_query_clearly(tmp_path):
    lines = _complex()
    lines[10:] = [ln.replace("ALA", " DA") for ln in lines[10:]]  # chain B: DNA
    path = _write(tmp_path / "dna.pdb", lines)
    with pytest.raises(QueryError, match=r"\['B'\] have no amino-acid atoms"):
        ProteinProteinInterfaceQuery(pdb_path=path, chain_ids=["A", "B"]).build([])


_CIF = """data_t
loop_
_atom_site.group_PDB
_atom_site.type_symbol
_atom_site.label_atom_id
_atom_site.label_comp_id
_atom_site.label_seq_id
_atom_site.Cartn_x
_atom_site.Cartn_y
_atom_site.Cartn_z
_atom_site.occupancy
_atom_site.B_iso_or_equiv
_atom_site.auth_asym_id
_atom_site.auth_seq_id
ATOM N N GLY 1 0.0 0.0 0.0 1.0 10 A 1
ATOM C CA GLY 1 1.5 0.0 0.0 1.0 10 A 1
ATOM C C GLY 1 3.0 0.0 0.0 1.0 10 A 1
"""


def test_mmcif_without_id_alt_and_label_asym_columns_loads(tmp_path, caplog):
    path = tmp_path / "short.cif"
    path.write_text(_CIF)  # gemmi alone reads no atoms from it
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        s = load_structure(path)
    assert s.num_atoms == 3 and s.chains == ("A",) and list(s.atom_names) == ["N", "CA", "C"]
    assert "_atom_site.label_alt_id" in caplog.text


@pytest.mark.parametrize(
    ("column", "named"),
    [
        ("_atom_site.Cartn_z", "Cartn_z (z coordinate)"),
        ("_atom_site.type_symbol", "type_symbol (element)"),
        ("_atom_site.auth_seq_id", "auth_seq_id (residue number)"),
    ],
)
def test_mmcif_without_a_required_column_names_it(tmp_path, column, named):
    header, rows = _CIF.split("ATOM", 1)
    tags = [t for t in header.splitlines() if t.startswith("_atom_site.")]
    k = tags.index(column)
    out = [ln for ln in header.splitlines() if ln != column]
    for row in ("ATOM" + rows).strip().splitlines():
        tokens = row.split()
        del tokens[k]
        out.append(" ".join(tokens))
    path = tmp_path / "cut.cif"
    path.write_text("\n".join(out) + "\n")
    with pytest.raises(StructureError, match=rf"required column.*{re.escape(named)}"):
        load_structure(path)


def test_mmcif_missing_coordinate_value_is_an_error(tmp_path):
    path = tmp_path / "q.cif"
    path.write_text(_CIF.replace("1.5 0.0 0.0", "? 0.0 0.0"))
    with pytest.raises(StructureError, match="non-finite coordinates for 1 atom.*A 1 GLY CA"):
        load_structure(path)


def test_format_is_told_by_content(tmp_path):
    cif_named_pdb = tmp_path / "a.pdb"
    cif_named_pdb.write_text(_CIF)
    assert load_structure(cif_named_pdb).num_atoms == 3
    pdb_named_cif = tmp_path / "b.cif"
    shutil.copy(PDB / "3C8P.pdb", pdb_named_cif)
    assert load_structure(pdb_named_cif).num_atoms == load_structure(PDB / "3C8P.pdb").num_atoms


def test_bad_structures_fail_per_query_in_a_batch(tmp_path):
    """Damaged files fail their own query (stage "load"); the rest of the batch is written."""
    good = _write(tmp_path / "good.pdb", _complex())
    data = gzip.compress(good.read_bytes())
    cut = tmp_path / "cut.pdb.gz"
    cut.write_bytes(data[:-12])
    blank = _complex()
    blank[0] = blank[0][:30] + " " * 8 + blank[0][38:]
    blank_path = _write(tmp_path / "blank.pdb", blank)
    qc = QueryCollection()
    for p in (good, cut, blank_path):
        qc.add(ProteinProteinInterfaceQuery(pdb_path=p, chain_ids=["A", "B"]))
    summary = process(
        qc, prefix=tmp_path / "out", feature_modules=[], executor="serial", verbose=False
    )
    assert (summary.processed, summary.failed) == (1, 2)
    failures = {f["query_id"]: f for f in read_failures(summary.output)}
    assert {f["stage"] for f in failures.values()} == {"load"}
    messages = " | ".join(f["message"] for f in failures.values())
    assert "cut.pdb.gz: damaged gzip file" in messages
    assert "blank.pdb" in messages and "non-numeric coordinate" in messages
