"""Read PDB / mmCIF files (optionally gzipped) into a :class:`Structure` with gemmi.

Rules applied while reading (one model):

* waters are dropped; hydrogens are kept;
* alternate locations: per atom, the conformer with the highest occupancy is kept
  (ties: the first one in the file); atoms without alternates are always kept;
* residue names are standardised (``MSE`` → ``MET``, ``HSD/HSE/HSP/HID/HIE/HIP`` → ``HIS``,
  ``CYX`` → ``CYS``, …) with the original name kept;
* residues are ordered by chain (first appearance), residue number, insertion code;
* duplicate atoms (same chain, residue number, insertion code, atom name and altloc, or the
  same atom site left twice after alternate-location selection) are dropped, keeping the
  first in file order, with one warning that gives their count and the first few;
* atoms with a placeholder coordinate (``|x|``, ``|y|`` or ``|z|`` ≥ 9999 Å, e.g. the
  ``9999.999`` some tools write for missing atoms) are dropped with one warning naming them;
* a non-finite coordinate, occupancy or B-factor (``nan``, ``inf``) is an error naming the atoms;
* atoms before the first ``MODEL`` record form an implicit ``MODEL 1`` (replaced by a later
  ``MODEL 1`` block, as written by tools that restart the first model), and ``MODEL``
  records that are never closed are closed;
* a ``.gz`` file is checked whole (CRC and length) before parsing: a truncated or damaged
  gzip file is an error saying so, never a silently shortened structure;
* PDB ``ATOM``/``HETATM`` records with a blank or non-numeric x, y or z field are an error
  (gemmi would read them as 0); element/charge columns (77-80) holding something else
  (CNS/HADDOCK files) are ignored with a warning, elements then come from the atom names;
* the format is told by the content (``data_`` → mmCIF), then by the suffix; mmCIF files
  without ``_atom_site.id``, ``label_alt_id`` or ``label_asym_id`` (which gemmi needs) get them
  added with a warning, and files without coordinates, elements, names, residue numbers or
  chain ids are an error naming the missing columns.

The user's file is only read, never written.
"""

from __future__ import annotations

import logging
import os
import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from deeprank_like.domain.aminoacids import NONSTANDARD_PARENT
from deeprank_like.errors import StructureError
from deeprank_like.structure.selection import repeated_keys, select_altlocs
from deeprank_like.structure.structure import Structure

__all__ = ["load_structure", "read_structure_bytes", "structure_name"]

log = logging.getLogger(__name__)

_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".pdb1", ".gz")
_WATER = frozenset({"HOH", "WAT", "H2O", "DOD", "TIP", "TIP3", "SOL"})
_GZIP_MAGIC = b"\x1f\x8b"
#: Atoms with a coordinate of at least this magnitude (Å) are placeholders for missing atoms:
#: 9999.999 is the largest value the PDB format can hold, written by some tools for "unknown".
PLACEHOLDER_COORDINATE = 9999.0
#: How many atoms a warning or error message lists before "...".
_SHOW = 5


def structure_name(path: str | os.PathLike) -> str:
    """File stem without structure/compression suffixes (``1ATN_1w.pdb.gz`` → ``1ATN_1w``)."""
    name = Path(path).name
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if name.lower().endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                changed = True
    return name


def load_structure(path: str | os.PathLike, model: int = 0) -> Structure:
    """Load one model of a structure file.

    Parameters
    ----------
    path : str or PathLike
        ``.pdb``, ``.ent``, ``.cif``/``.mmcif``, optionally ``.gz``-compressed.
    model : int
        0-based index of the model to read (default: the first).

    Returns
    -------
    Structure

    Raises
    ------
    StructureError
        If the file is missing or unreadable, is a damaged gzip file, cannot be parsed, has no
        such model, holds no atoms, or has non-finite coordinates, occupancies or B-factors.
        The message names the file and the problem (and the atoms, where atoms are the cause).
    """
    path = os.fspath(path)
    data = read_structure_bytes(path)
    if _is_mmcif(path, data):
        st = _parse_mmcif(data, path)
    else:
        _check_pdb_coordinates(data, path)
        st = _parse_pdb(data, path)
    if len(st) == 0:
        raise StructureError(f"{path}: no models / no atoms in file")
    if not 0 <= model < len(st):
        raise StructureError(f"{path}: model {model} requested but the file has {len(st)} model(s)")
    try:
        return _from_gemmi_model(st[model], path, st)
    except UnicodeDecodeError as exc:
        raise StructureError(
            f"{path}: a chain, residue or atom name is not UTF-8 text ({exc}; first such atom "
            f"record: line {_first_non_utf8_atom_line(data)}); names must be ASCII"
        ) from None


def read_structure_bytes(path: str) -> bytes:
    """The file's content, decompressed (and checked whole) if it is gzip-compressed.

    Also used by :func:`~deeprank_like.structure.atom_table.read_atom_table`.

    Raises
    ------
    StructureError
        A missing, unreadable, empty, binary or damaged gzip file.
    """
    if os.path.isdir(path):
        raise StructureError(f"{path}: is a directory, not a structure file")
    if not os.path.exists(path):
        raise StructureError(f"{path}: structure file not found")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise StructureError(f"{path}: cannot read structure file ({exc.strerror or exc})") from exc
    if data[:2] == _GZIP_MAGIC:
        data = _gunzip(data, path)
    elif path.lower().endswith(".gz"):
        log.info("%s: named .gz but not gzip-compressed; reading it as plain text", path)
    if data.startswith(b"\xef\xbb\xbf"):  # UTF-8 byte-order mark: not part of the first record
        data = data[3:]
    if not data.strip():
        raise StructureError(f"{path}: empty file, no atoms")
    if b"\x00" in data[:65536]:
        raise StructureError(f"{path}: binary content (NUL bytes), not a PDB or mmCIF text file")
    return data


def _gunzip(data: bytes, path: str) -> bytes:
    """Decompress every gzip member of ``data``, checking each one's CRC and length."""
    out: list[bytes] = []
    rest = data
    try:
        while rest[:2] == _GZIP_MAGIC:
            d = zlib.decompressobj(wbits=31)
            out.append(d.decompress(rest))
            out.append(d.flush())
            if not d.eof:
                raise EOFError("compressed data ends before the end-of-stream marker")
            rest = d.unused_data
    except (EOFError, zlib.error) as exc:
        raise StructureError(
            f"{path}: damaged gzip file, truncated or corrupted ({exc}); download or compress "
            "it again"
        ) from None
    if rest.strip(b"\x00"):
        log.warning("%s: %d bytes of trailing garbage after the gzip data ignored", path, len(rest))
    return b"".join(out)


#: First six columns of PDB records, to tell a PDB file from an mmCIF one by its content.
_PDB_RECORDS = (b"HEADER", b"ATOM  ", b"HETATM", b"REMARK", b"CRYST1", b"MODEL ", b"TITLE ")


def _is_mmcif(path: str, data: bytes) -> bool:
    """True for mmCIF content: the first line that is not blank or a comment is ``data_...``.

    The suffix decides only when the content does not (a ``.cif`` file that starts with
    a PDB record is read as PDB and vice versa, with a log line).
    """
    name = path.lower().removesuffix(".gz")
    suffix_cif = name.endswith((".cif", ".mmcif"))
    for line in data[:65536].splitlines():
        line = line.strip()
        if not line or line.startswith(b"#"):
            continue
        if line[:5].lower() == b"data_":
            if not suffix_cif:
                log.info("%s: mmCIF content (starts with data_); reading it as mmCIF", path)
            return True
        if suffix_cif and line.ljust(6)[:6] in _PDB_RECORDS:
            log.info("%s: PDB content in a .cif file; reading it as PDB", path)
            return False
        break
    return suffix_cif


def _parse_pdb(data: bytes, path: str):
    """gemmi's PDB reader, with repairs of two real-world layouts it rejects."""
    import gemmi

    repaired: set[str] = set()
    while True:
        try:
            return gemmi.read_structure_string(
                data, merge_chain_parts=True, format=gemmi.CoorFormat.Pdb
            )
        except (RuntimeError, ValueError, OSError) as exc:
            message = str(exc)
            if "ENDMDL" in message and "models" not in repaired:
                # A MODEL record that is never closed (e.g. a restarted MODEL 1), or atoms
                # before the first MODEL record.
                log.warning("%s: %s; closing unterminated models and reading again", path, exc)
                text = _repair_unterminated_models(data.decode("latin-1"))
                data = text.encode("latin-1")
                repaired.add("models")
            elif "format for charge" in message and "charge" not in repaired:
                # CNS/HADDOCK files put a segment id and numbers where element and charge go.
                data, count = _blank_bad_element_charge(data)
                log.warning(
                    "%s: %s; ignored the element/charge columns (77-80) of %d record(s) that "
                    "hold no element or charge (elements are taken from the atom names)",
                    path,
                    exc,
                    count,
                )
                repaired.add("charge")
            else:
                raise StructureError(f"{path}: cannot parse structure ({exc})") from exc


_ELEMENT_CHARGE_RE = re.compile(rb"^ *[A-Za-z]{0,2}(?:[0-9][+-]|[+-][0-9]| *)$")


def _blank_bad_element_charge(data: bytes) -> tuple[bytes, int]:
    """Blank columns 77-80 of ATOM/HETATM records where they are not element + charge."""
    lines = data.split(b"\n")
    count = 0
    for i, line in enumerate(lines):
        if line.startswith((b"ATOM", b"HETATM")) and len(line.rstrip()) > 76:
            tail = line[76:80].rstrip(b"\r")
            if not _ELEMENT_CHARGE_RE.match(tail):
                lines[i] = line[:76] + b" " * len(tail) + line[76 + len(tail) :]
                count += 1
    return b"\n".join(lines), count


#: ``_atom_site`` columns without which gemmi silently reads no atoms, and which can be
#: added with a neutral value (the chain then comes from ``auth_asym_id``).
_CIF_FILLABLE = {"id": ".", "label_alt_id": ".", "label_asym_id": "?"}
#: Columns that cannot be made up: (alternatives, what they hold).
_CIF_REQUIRED = (
    (("Cartn_x",), "x coordinate"),
    (("Cartn_y",), "y coordinate"),
    (("Cartn_z",), "z coordinate"),
    (("type_symbol",), "element"),
    (("label_atom_id", "auth_atom_id"), "atom name"),
    (("label_comp_id", "auth_comp_id"), "residue name"),
    (("auth_seq_id",), "residue number"),
    (("auth_asym_id", "label_asym_id"), "chain id"),
)


def _parse_mmcif(data: bytes, path: str):
    import gemmi

    try:
        doc = gemmi.cif.read_string(data)
    except (RuntimeError, ValueError) as exc:
        raise StructureError(f"{path}: cannot parse structure ({exc})") from exc
    block = next((b for b in doc if len(b.find_mmcif_category("_atom_site."))), None)
    if block is None:
        raise StructureError(f"{path}: no _atom_site records (no atoms) in this mmCIF file")
    table = block.find_mmcif_category("_atom_site.")
    present = {t.split(".", 1)[1].lower() for t in table.tags}
    missing = [
        f"_atom_site.{alts[0]} ({what})"
        for alts, what in _CIF_REQUIRED
        if not any(a.lower() in present for a in alts)
    ]
    if missing:
        raise StructureError(f"{path}: mmCIF without required column(s) {', '.join(missing)}")
    fill = [c for c in _CIF_FILLABLE if c.lower() not in present]
    if fill:
        if table.loop is None:
            raise StructureError(
                f"{path}: mmCIF without column(s) {', '.join('_atom_site.' + c for c in fill)}"
            )
        for column in fill:
            table.loop.add_columns([f"_atom_site.{column}"], _CIF_FILLABLE[column])
        log.warning(
            "%s: mmCIF without %s; added with the value '.'/'?' (no alternate locations, "
            "chains named by auth_asym_id)",
            path,
            ", ".join(f"_atom_site.{c}" for c in fill),
        )
    try:
        st = gemmi.make_structure_from_block(block)
        st.merge_chain_parts()
    except (RuntimeError, ValueError) as exc:
        raise StructureError(f"{path}: cannot parse structure ({exc})") from exc
    if len(st) == 0 or st[0].count_atom_sites() == 0:
        raise StructureError(
            f"{path}: gemmi read no atoms from the {len(table)} _atom_site row(s) of this mmCIF "
            "file"
        )
    return st


# character classes of coordinate fields: 0 blank, 1 digit, 2 ".", 3 sign, 4 anything else
_CHAR_CLASS = np.full(256, 4, dtype=np.uint8)
_CHAR_CLASS[ord(" ")] = 0
_CHAR_CLASS[ord("0") : ord("9") + 1] = 1
_CHAR_CLASS[ord(".")] = 2
_CHAR_CLASS[[ord("+"), ord("-")]] = 3


def _bit_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tables over the 256 masks of 8 characters (bit 7 = first character).

    ``one_run[m]``: the set bits form exactly one run; ``at_most_one[m]``: at most one bit is
    set; ``first_bit[m]``: the mask of the highest set bit (0 for none).
    """
    m = np.arange(256)
    bits = (m[:, None] >> np.arange(7, -1, -1)) & 1
    runs = bits[:, 0] + (bits[:, 1:] & (1 - bits[:, :-1])).sum(axis=1)
    first = np.where(m > 0, 1 << np.floor(np.log2(np.maximum(m, 1))).astype(np.int64), 0)
    return runs == 1, bits.sum(axis=1) <= 1, first.astype(np.uint8)


_ONE_RUN, _AT_MOST_ONE, _FIRST_BIT = _bit_tables()
_COORD_COLUMNS = np.arange(30, 54)
_GATHER_BITS = np.uint64(0x8040201008040201)
_ATOM_WORD = np.frombuffer(b"ATOM", dtype=np.uint32)[0]
_HETA_WORD = np.frombuffer(b"HETA", dtype=np.uint32)[0]


def _numeric_fields(classes: np.ndarray) -> np.ndarray:
    """Which 8-character fields hold one number, from their character classes.

    Parameters
    ----------
    classes : ndarray (m, 8) uint8
        ``_CHAR_CLASS`` of each character.

    Returns
    -------
    ndarray (m,) bool
        Blanks around one block made of an optional sign, then digits with at most one
        ``.``, holding at least one digit (the rule of :func:`_check_pdb_coordinates`). Each
        class becomes an 8-bit mask of the field (one multiplication per field), so the rules
        are table look-ups, not reductions over characters.
    """

    def mask(selected: np.ndarray) -> np.ndarray:
        # the 8 bytes (0 or 1) of a field as one little-endian word; the multiplication moves
        # byte i to bit 63 - i without carries, so the top byte is the mask (first char = bit 7)
        word = np.ascontiguousarray(selected, dtype=np.uint8).view("<u8").reshape(-1)
        return ((word * _GATHER_BITS) >> np.uint64(56)).astype(np.intp)

    text = mask(classes != 0)
    sign = mask(classes == 3)
    return (
        _ONE_RUN[text]
        & (mask(classes == 1) != 0)  # a digit
        & _AT_MOST_ONE[mask(classes == 2)]  # at most one "."
        & (mask(classes == 4) == 0)  # nothing else
        & ((sign & ~_FIRST_BIT[text]) == 0)  # a sign only at the block's start
    )


def _check_pdb_coordinates(data: bytes, path: str) -> None:
    """Reject ATOM/HETATM records whose x, y or z field (columns 31-54) is not a number.

    gemmi reads a blank field as 0 and ``1.x00`` as 1; both would move an atom silently.
    A valid field is blanks around one block made of an optional sign, then digits with at
    most one ``.``, holding at least one digit (``nan``, ``inf`` and ``1e5`` are rejected).
    Vectorised over the whole file (records shorter than 54 columns are left to gemmi).
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == ord("\n"))
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [buf.size]))
    starts = starts[ends - starts >= 54]
    if starts.size == 0:
        return
    head = buf[starts[:, None] + np.arange(4)].view(np.uint32).reshape(-1)
    records = starts[(head == _ATOM_WORD) | (head == _HETA_WORD)]
    classes = _CHAR_CLASS[buf[records[:, None] + _COORD_COLUMNS]].reshape(-1, 8)
    ok = _numeric_fields(classes).reshape(-1, 3).all(axis=1)
    if ok.all():
        return
    bad = records[~ok]
    shown = []
    for start in bad[:_SHOW]:
        rec = data[start : start + 54].decode("latin-1")
        atom_label = (
            f"{rec[21]} {rec[22:26].strip()}{rec[26].strip()} {rec[17:20].strip()} "
            f"{rec[12:16].strip()}"
        )
        line = int(np.searchsorted(newlines, start)) + 1
        shown.append(f"line {line}: {atom_label} (x, y, z columns {rec[30:54]!r})")
    more = f"; ... ({bad.size} in all)" if bad.size > _SHOW else ""
    raise StructureError(
        f"{path}: {bad.size} ATOM/HETATM record(s) with a blank or non-numeric coordinate "
        f"in columns 31-54: {'; '.join(shown)}{more}"
    )


def _first_non_utf8_atom_line(data: bytes) -> int | None:
    for number, line in enumerate(data.splitlines(), start=1):
        if line.startswith((b"ATOM", b"HETATM")):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


#: The per-atom columns :func:`_from_gemmi_model` works on (waters already dropped):
#: chain_ids, icodes, original (residue name as read), atom_names, elements (upper case),
#: altlocs ('' for none): str; res_numbers: int64; het: bool; coords (n, 3), occ, bfac: float64.
_Columns = dict[str, np.ndarray]

_WATER_BYTES = np.array(sorted(_WATER), dtype="S8")
#: gemmi's value of a missing residue number (``SeqId.num`` is ``None`` in Python).
_GEMMI_NO_NUMBER = np.iinfo(np.int32).min


def _object_columns(gmodel, path: str) -> _Columns:
    """Atom columns read atom by atom from gemmi's objects (the general, slower path).

    Raises
    ------
    StructureError
        A residue without a number.
    UnicodeDecodeError
        A name that is not UTF-8 (turned into a StructureError by :func:`load_structure`).
    """
    atom_rows: list[tuple] = []
    res_rows: list[tuple] = []
    for chain in gmodel:
        cname = chain.name
        for res in chain:
            if res.name in _WATER:
                continue
            if res.seqid.num is None:
                raise StructureError(f"{path}: residue {res.name} of chain {cname} has no number")
            before = len(atom_rows)
            for atom in res:
                atom_rows.append(
                    (
                        atom.name,
                        atom.element.name,
                        atom.altloc,
                        atom.occ,
                        atom.b_iso,
                        *atom.pos.tolist(),
                    )
                )
            res_rows.append(
                (cname, res.seqid.num, res.seqid.icode.strip(), res.name, res.het_flag == "H",
                 len(atom_rows) - before)
            )  # fmt: skip
    if not atom_rows:
        empty = np.zeros(0, dtype=str)
        return {
            "chain_ids": empty, "res_numbers": np.zeros(0, dtype=np.int64), "icodes": empty,
            "original": empty, "het": np.zeros(0, dtype=bool), "atom_names": empty,
            "elements": empty, "altlocs": empty, "coords": np.zeros((0, 3)),
            "occ": np.zeros(0), "bfac": np.zeros(0),
        }  # fmt: skip
    names, elems, alts, occ_t, b_t, x, y, z = zip(*atom_rows, strict=True)
    r_chain, r_num, r_icode, r_name, r_het, r_count = zip(*res_rows, strict=True)
    counts = np.array(r_count, dtype=np.int64)
    altlocs = np.array(alts, dtype=str)
    return {
        "chain_ids": np.repeat(np.array(r_chain, dtype=str), counts),
        "res_numbers": np.repeat(np.array(r_num, dtype=np.int64), counts),
        "icodes": np.repeat(np.array(r_icode, dtype=str), counts),
        "original": np.repeat(np.array(r_name, dtype=str), counts),
        "het": np.repeat(np.array(r_het, dtype=bool), counts),
        "atom_names": np.array(names, dtype=str),
        "elements": np.char.upper(np.array(elems, dtype=str)),
        "altlocs": np.where(np.isin(altlocs, ["\x00", " "]), "", altlocs),
        "coords": np.column_stack([x, y, z]).astype(np.float64),
        "occ": np.array(occ_t, dtype=np.float64),
        "bfac": np.array(b_t, dtype=np.float64),
    }


def _flat_columns(gmodel, structure=None) -> _Columns | None:
    """Atom columns from gemmi's ``FlatStructure`` (numpy arrays filled in C++), or None.

    The same arrays as :func:`_object_columns`, without a Python call per atom. None (use
    :func:`_object_columns`) where the flat table cannot stand for the model exactly: a gemmi
    without ``FlatStructure`` (< 0.7), names of 8+ characters or a multi-character
    insertion code (which it refuses), non-ASCII bytes in a name, a residue without a number
    (the error comes from the object path), or a model whose atoms cannot be told apart.
    ``structure`` is the gemmi Structure ``gmodel`` belongs to (saves a copy when it is the
    only model).
    """
    import gemmi

    if not hasattr(gemmi, "FlatStructure"):
        return None
    if structure is None or len(structure) != 1:
        structure = gemmi.Structure()
        structure.add_model(gmodel)
    try:
        flat: Any = gemmi.FlatStructure(structure)  # its arrays are typed `object`
    except (RuntimeError, ValueError):
        return None
    flat.strings_as_numbers = True
    residue_names = flat.residue_names
    res_bytes = np.ascontiguousarray(residue_names).view("S8").reshape(-1)
    keep = ~np.isin(res_bytes, _WATER_BYTES)
    res_numbers = flat.resnums
    if (res_numbers[keep] == _GEMMI_NO_NUMBER).any():
        return None
    every = bool(keep.all())

    def take(a: np.ndarray) -> np.ndarray:
        return a if every else a[keep]

    cols: _Columns = {}
    texts: tuple[tuple[str, np.ndarray], ...] = (
        ("atom_names", flat.atom_names),
        ("original", residue_names),
        ("chain_ids", flat.chain_ids),
    )
    for name, array in texts:
        decoded = _flat_text(take(array))
        if decoded is None:
            return None  # not ASCII: the object path decodes (or rejects) it as UTF-8
        cols[name] = decoded
    # gemmi keeps altloc "\0" (none) or " " and an insertion code " " (none): both map to ""
    altlocs = _flat_char(take(flat.altlocs), strip=("\x00", " "))
    icodes = _flat_char(take(flat.icodes), strip=None)
    if altlocs is None or icodes is None:
        return None
    cols["altlocs"], cols["icodes"] = altlocs, icodes
    cols["res_numbers"] = take(res_numbers).astype(np.int64)
    cols["het"] = take(flat.het_flags) == ord("H")
    codes = take(flat.elements)
    present, first = np.unique(codes, return_index=True)
    names = [n.decode("ascii").upper() for n in take(flat.element_names)[first].tolist()]
    table = np.array(names, dtype=str) if names else np.zeros(0, dtype=str)
    cols["elements"] = table[np.searchsorted(present, codes)]
    cols["coords"] = np.array(take(flat.pos), dtype=np.float64)
    cols["occ"] = take(flat.occ).astype(np.float64)
    cols["bfac"] = take(flat.b_iso).astype(np.float64)
    return cols


def _flat_text(a: np.ndarray) -> np.ndarray | None:
    """(n, 8) int8 NUL-padded ASCII → (n,) str, as wide as the longest value (at least 1).

    None if a value is not ASCII. Each distinct value is decoded once (the 8 bytes of a value
    are compared as one 64-bit integer).
    """
    keys = np.ascontiguousarray(a).view(np.uint64).reshape(-1)
    values, inverse = np.unique(keys, return_inverse=True)
    try:
        decoded = [v.decode("ascii") for v in values.view("S8").tolist()]
    except UnicodeDecodeError:
        return None
    table = np.array(decoded, dtype=str) if decoded else np.zeros(0, dtype="U1")
    return table[inverse.reshape(-1)]


def _flat_char(a: np.ndarray, strip: tuple[str, ...] | None) -> np.ndarray | None:
    """(n,) int8 character codes → (n,) ``<U1``: ``strip`` values (None: whitespace) → ''.

    None if a code is not ASCII.
    """
    values, inverse = np.unique(a, return_inverse=True)
    if values.size and values[0] < 0:
        return None
    chars = [chr(v) for v in values.tolist()]
    out = [("" if c in strip else c) if strip is not None else c.strip() for c in chars]
    return np.array(out, dtype="U1")[inverse.reshape(-1)]


def _key_codes(values: np.ndarray) -> np.ndarray:
    """Integers equal exactly where the strings ``values`` (n,) are equal (for comparisons).

    Strings of at most 8 characters below U+0100 are packed into one uint64 each (no sort);
    anything else is returned as it is.
    """
    width = values.dtype.itemsize // 4 if values.dtype.kind == "U" else 0
    if not 0 < width <= 8 or values.size == 0:
        return values
    chars = np.ascontiguousarray(values).view(np.uint32).reshape(-1, width)
    if int(chars.max()) >= 256:
        return values
    codes = np.zeros(values.shape[0], dtype=np.uint64)
    for i in range(width):
        codes = (codes << np.uint64(8)) | chars[:, i].astype(np.uint64)
    return codes


def _from_gemmi_model(gmodel, path: str, structure=None) -> Structure:
    """The :class:`Structure` of one gemmi model (``structure``: its gemmi Structure, if at hand).

    The atom columns come from :func:`_flat_columns` (gemmi's ``FlatStructure``: numpy arrays
    filled in C++) or, where that cannot represent the model exactly, from
    :func:`_object_columns` (a loop over gemmi's atom objects); both give the same arrays.
    """
    cols = _flat_columns(gmodel, structure)
    if cols is None:
        cols = _object_columns(gmodel, path)
    if cols["coords"].shape[0] == 0:
        raise StructureError(f"{path}: no atoms (no ATOM/HETATM records, or only waters)")
    chain_ids, res_numbers, icodes = cols["chain_ids"], cols["res_numbers"], cols["icodes"]
    original, het, atom_names = cols["original"], cols["het"], cols["atom_names"]
    elements, altlocs, coords = cols["elements"], cols["altlocs"], cols["coords"]
    occ, bfac = cols["occ"], cols["bfac"]

    def labels(idx: np.ndarray) -> str:
        shown = [
            f"{chain_ids[i]} {res_numbers[i]}{icodes[i]} {original[i]} {atom_names[i]}"
            + (f" (altloc {altlocs[i]})" if altlocs[i] else "")
            for i in idx[:_SHOW]
        ]
        return ", ".join(shown) + (f", ... ({idx.size} in all)" if idx.size > _SHOW else "")

    for what, values in (("coordinates", coords), ("occupancy", occ), ("B-factor", bfac)):
        bad = ~np.isfinite(values.reshape(values.shape[0], -1)).all(axis=1)
        if bad.any():
            raise StructureError(
                f"{path}: missing, non-numeric or non-finite {what} for {bad.sum()} atom(s): "
                f"{labels(np.flatnonzero(bad))}"
            )

    keep = ~(np.abs(coords) >= PLACEHOLDER_COORDINATE).any(axis=1)
    if not keep.all():
        log.warning(
            "%s: dropped %d atom(s) with a placeholder coordinate (|x|, |y| or |z| >= %g Å, "
            "e.g. 9999.999 written for a missing atom): %s",
            path,
            (~keep).sum(),
            PLACEHOLDER_COORDINATE,
            labels(np.flatnonzero(~keep)),
        )
        if not keep.any():
            raise StructureError(
                f"{path}: every atom has a placeholder coordinate (|x|, |y| or |z| >= "
                f"{PLACEHOLDER_COORDINATE:g} Å); no usable atoms"
            )

    # exact duplicates: same site and same altloc; keep the first in file order
    site = [_key_codes(chain_ids), res_numbers, _key_codes(icodes), _key_codes(atom_names)]
    dup = repeated_keys(keep, *site, _key_codes(altlocs))
    keep &= ~dup
    keep &= select_altlocs(chain_ids, res_numbers, icodes, atom_names, altlocs, occ, keep)
    # the same site left twice after altloc selection (e.g. a blank and an "A" conformer)
    dup2 = repeated_keys(keep, *site)
    keep &= ~dup2
    dup |= dup2
    if dup.any():
        log.warning(
            "%s: ignored %d duplicate atom(s) (same chain, residue number, insertion code, "
            "atom name and altloc as an earlier atom; the first is kept): %s",
            path,
            dup.sum(),
            labels(np.flatnonzero(dup)),
        )

    if not keep.all():
        chain_ids, res_numbers, icodes = chain_ids[keep], res_numbers[keep], icodes[keep]
        original, atom_names, elements = original[keep], atom_names[keep], elements[keep]
        coords, occ, bfac, het = coords[keep], occ[keep], bfac[keep], het[keep]

    std_names = _standardise(original)

    # order: chain (first appearance), residue number, insertion code, file order
    chains, first, chain_inverse = np.unique(chain_ids, return_index=True, return_inverse=True)
    by_first = np.argsort(first)
    chain_order = chains[by_first]
    chain_rank = np.empty(chains.size, dtype=np.int64)
    chain_rank[by_first] = np.arange(chains.size)
    chain_key = chain_rank[chain_inverse.reshape(-1)]
    file_order = np.arange(coords.shape[0])
    order = np.lexsort((file_order, icodes, res_numbers, chain_key))

    in_order = bool((order[1:] > order[:-1]).all())  # already sorted: keep the arrays

    def take(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a) if in_order else np.ascontiguousarray(a[order])

    chain_ids, res_numbers, icodes = take(chain_ids), take(res_numbers), take(icodes)
    original, std_names, atom_names = take(original), take(std_names), take(atom_names)
    elements, coords, occ, bfac, het = (
        take(elements),
        take(coords),
        take(occ),
        take(bfac),
        take(het),
    )
    chain_key = chain_key[order]

    new_res = np.ones(coords.shape[0], dtype=bool)
    new_res[1:] = (
        (chain_key[1:] != chain_key[:-1])
        | (res_numbers[1:] != res_numbers[:-1])
        | (icodes[1:] != icodes[:-1])
    )
    residue_index = np.cumsum(new_res) - 1
    starts = np.flatnonzero(new_res)
    residue_atom_start = np.append(starts, coords.shape[0]).astype(np.int64)
    # a residue id shared by two residue names (microheterogeneity): keep the first name
    std_names = std_names[starts][residue_index]
    original = original[starts][residue_index]

    return Structure(
        name=structure_name(path),
        path=path,
        coords=coords,
        chain_ids=chain_ids,
        res_numbers=res_numbers,
        insertion_codes=icodes,
        res_names=std_names,
        original_res_names=original,
        atom_names=atom_names,
        elements=elements,
        occupancies=occ,
        b_factors=bfac,
        is_hetero=het,
        residue_index=residue_index.astype(np.int64),
        residue_atom_start=residue_atom_start,
        chains=tuple(str(c) for c in chain_order),
    )


_COORDINATE_RECORDS = frozenset({"ATOM", "HETATM", "ANISOU", "SIGATM", "SIGUIJ", "TER"})


def _repair_unterminated_models(text: str) -> str:
    """Rewrite the MODEL/ENDMDL layout of a PDB text so that gemmi reads it.

    * every MODEL not closed before the next one is closed;
    * coordinate records before the first MODEL record form an implicit ``MODEL 1``;
    * a repeated model number replaces the earlier (partial) block, in its place: files
      that write the first residue, then ``MODEL 1`` and the whole model again (as MCCE
      does) are read as that one model;
    * models are renumbered 1, 2, ... in the order they are kept.
    """
    header: list[str] = []
    models: dict[str, list[str]] = {}
    current: list[str] | None = None
    trailer: list[str] = []
    for line in text.splitlines():
        record = line[:6].strip()
        if record == "MODEL":
            number = line[6:].strip() or str(len(models) + 1)
            current = []
            models[number] = current  # a restarted model: the later block wins, in its place
        elif record == "ENDMDL":
            current = None
        elif current is not None:
            current.append(line)
        elif not models and record in _COORDINATE_RECORDS:
            current = models["1"] = [line]  # atoms before any MODEL record: implicit model 1
        elif models and record in ("CONECT", "MASTER", "END"):
            trailer.append(line)
        elif not models:
            header.append(line)
        else:
            trailer.append(line)
    out = list(header)
    for num, lines in enumerate(models.values(), start=1):
        out.append(f"MODEL     {num:>4}")
        out.extend(lines)
        out.append("ENDMDL")
    out.extend(trailer)
    return "\n".join(out) + "\n"


def _standardise(names: np.ndarray) -> np.ndarray:
    uniq, inverse = np.unique(names, return_inverse=True)
    mapped = np.array([NONSTANDARD_PARENT.get(str(u), str(u)) for u in uniq], dtype=str)
    return mapped[inverse].reshape(-1)
