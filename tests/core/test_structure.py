"""Structure loading: formats, alternate locations, quirks and errors."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import gemmi
import numpy as np
import pytest

from deeprank_like.errors import StructureError
from deeprank_like.structure import load_structure, structure_name

PDB = Path(__file__).parents[1] / "data" / "pdb"


def _atom(serial, name, alt, res, chain, num, x, y, z, occ, element, icode=" ", record="ATOM  "):
    return (
        f"{record}{serial:5d} {name:<4}{alt}{res:>3} {chain}{num:4d}{icode}   "
        f"{x:8.3f}{y:8.3f}{z:8.3f}{occ:6.2f}{10.0:6.2f}          {element:>2}"
    )


def test_loads_pdb_arrays_and_order():
    s = load_structure(PDB / "1ATN_1w.pdb")
    assert s.name == "1ATN_1w"
    assert s.chains == ("A", "B")
    assert s.coords.dtype == np.float64 and s.coords.shape == (s.num_atoms, 3)
    assert s.residue_atom_start[-1] == s.num_atoms
    # residues sorted by chain then number within chain
    for c in s.chains:
        nums = s.residue_numbers[s.residue_chain_ids == c]
        assert np.all(np.diff(nums) >= 0)
    assert not s.coords.flags.writeable


def test_waters_dropped_hetero_kept_and_nonamino_flagged():
    s = load_structure(PDB / "101M.pdb")
    assert "HOH" not in set(s.res_names.tolist())
    assert "HEM" in set(s.res_names.tolist())
    hem = np.flatnonzero(s.residue_names == "HEM")
    assert (s.residue_aa[hem] == -1).all()
    assert (s.residue_aa >= 0).sum() == 154


def test_altloc_keeps_highest_occupancy_and_following_atoms():
    s = load_structure(PDB / "3C8P.pdb")
    assert (s.residue_chain_ids == "B").sum() == 46  # DeepRank2 loses 10 residues here
    res = s.find_residue("B", 36)
    lo, hi = s.residue_atom_start[res], s.residue_atom_start[res + 1]
    names = s.atom_names[lo:hi].tolist()
    assert names.count("CB") == 1 and names.count("OG") == 1
    cb = lo + names.index("CB")
    np.testing.assert_allclose(s.coords[cb], [6.391, 9.747, 24.047])
    assert s.occupancies[cb] == pytest.approx(0.75)


def test_altloc_tie_and_second_conformer_winning(tmp_path):
    lines = [
        _atom(1, "N", " ", "SER", "A", 1, 0, 0, 0, 1.0, "N"),
        _atom(2, "CA", " ", "SER", "A", 1, 1.4, 0, 0, 1.0, "C"),
        _atom(3, "CB", "A", "SER", "A", 1, 2.0, 1.0, 0, 0.3, "C"),
        _atom(4, "CB", "B", "SER", "A", 1, 2.0, -1.0, 0, 0.7, "C"),
        _atom(5, "OG", "A", "SER", "A", 1, 3.0, 1.0, 0, 0.5, "O"),
        _atom(6, "OG", "B", "SER", "A", 1, 3.0, -1.0, 0, 0.5, "O"),
        _atom(7, "C", " ", "SER", "A", 1, 2.0, 0, 1.2, 1.0, "C"),
        "END",
    ]
    path = tmp_path / "alt.pdb"
    path.write_text("\n".join(lines) + "\n")
    s = load_structure(path)
    assert s.atom_names.tolist() == ["N", "CA", "CB", "OG", "C"]
    np.testing.assert_allclose(s.coords[2], [2.0, -1.0, 0.0])  # B wins on occupancy
    np.testing.assert_allclose(s.coords[3], [3.0, 1.0, 0.0])  # tie: first wins


def test_nonstandard_names_insertion_codes_and_multichar_cif(tmp_path):
    lines = [
        _atom(1, "N", " ", "MSE", "A", 5, 0, 0, 0, 1.0, "N", record="HETATM"),
        _atom(2, "CA", " ", "MSE", "A", 5, 1.4, 0, 0, 1.0, "C", record="HETATM"),
        _atom(3, "SE", " ", "MSE", "A", 5, 2.4, 1, 0, 1.0, "SE", record="HETATM"),
        _atom(4, "N", " ", "HSD", "A", 5, 3, 0, 0, 1.0, "N", icode="A"),
        _atom(5, "CA", " ", "HSD", "A", 5, 4.4, 0, 0, 1.0, "C", icode="A"),
        "END",
    ]
    pdb = tmp_path / "ns.pdb"
    pdb.write_text("\n".join(lines) + "\n")
    s = load_structure(pdb)
    assert s.residue_names.tolist() == ["MET", "HIS"]
    assert s.original_res_names[s.residue_first_atom].tolist() == ["MSE", "HSD"]
    assert s.residue_icodes.tolist() == ["", "A"]
    assert s.find_residue("A", 5, "A") == 1
    assert "SE" in s.elements.tolist()
    # mmCIF with a two-character chain name
    st = gemmi.read_structure(str(pdb))
    st[0][0].name = "AB"
    st.setup_entities()
    cif = tmp_path / "ns.cif"
    st.make_mmcif_document().write_file(str(cif))
    s2 = load_structure(cif)
    assert s2.chains == ("AB",)
    np.testing.assert_allclose(s2.coords, s.coords)


def test_gzip_and_name(tmp_path):
    gz = tmp_path / "3C8P.pdb.gz"
    with open(PDB / "3C8P.pdb", "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    s = load_structure(gz)
    assert s.name == "3C8P" == structure_name(gz)
    np.testing.assert_array_equal(s.coords, load_structure(PDB / "3C8P.pdb").coords)


def test_model_without_endmdl_loads():
    s = load_structure(PDB / "1fmh.pdb.gz")
    assert (s.residue_aa >= 0).sum() == 62
    assert s.chains == ("A", "B")


def test_model_selection(tmp_path):
    base = [_atom(1, "CA", " ", "GLY", "A", 1, 0, 0, 0, 1.0, "C")]
    moved = [_atom(1, "CA", " ", "GLY", "A", 1, 5, 0, 0, 1.0, "C")]
    text = "\n".join(["MODEL        1", *base, "ENDMDL", "MODEL        2", *moved, "ENDMDL", "END"])
    path = tmp_path / "nmr.pdb"
    path.write_text(text + "\n")
    assert load_structure(path).coords[0, 0] == 0.0
    assert load_structure(path, model=1).coords[0, 0] == 5.0
    with pytest.raises(StructureError, match="model 2 requested"):
        load_structure(path, model=2)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no atoms"),
        (
            "HETATM    1  O   HOH A   1       0.000   0.000   0.000  1.00 10.00           O\nEND\n",
            "no atoms",
        ),
        ("ATOM      1  CA  GLY A   1\n", "cannot parse"),
    ],
)
def test_broken_files_raise(tmp_path, content, message):
    path = tmp_path / "broken.pdb"
    path.write_text(content)
    with pytest.raises(StructureError, match=message) as info:
        load_structure(path)
    assert "broken.pdb" in str(info.value)


def test_broken_cif_raises(tmp_path):
    path = tmp_path / "broken.cif"
    path.write_text("data_x\nloop_\n_atom_site.id\n")
    with pytest.raises(StructureError, match="broken.cif"):
        load_structure(path)


def test_missing_file():
    with pytest.raises(StructureError, match="not found"):
        load_structure("/nonexistent/x.pdb")
