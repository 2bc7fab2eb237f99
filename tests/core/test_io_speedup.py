"""The faster structure loading, force-field lookup and PSSM parsing give identical outputs.

Each ``_reference_*`` function below is a verbatim copy of the implementation before the
speed-up (issue #17: per-query costs outside the feature modules), kept only here, so that
these tests compare the new code with the old one on every file of ``tests/data``: every
array of a :class:`Structure` (values bit for bit, dtype, shape), the log warnings and the
error messages; every field of :class:`AtomParameters` for both force-field versions; every
array of a :class:`PssmTable`.
"""

from __future__ import annotations

import itertools
import logging
import os
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

from deeprank_like.domain.aminoacids import NONSTANDARD_PARENT
from deeprank_like.domain.forcefield import (
    _ATOM_ALIASES,
    _PATCH_ORDER,
    FORCEFIELD_VERSIONS,
    AtomParameters,
    atom_parameters,
    check_forcefield_version,
    load_forcefield,
)
from deeprank_like.errors import PssmError, StructureError
from deeprank_like.features.conservation import (
    _RESI,
    PSSM_ORDER,
    PssmTable,
    _aa_or_minus_one,
    read_pssm,
)
from deeprank_like.structure import io
from deeprank_like.structure.io import (
    _SHOW,
    _WATER,
    PLACEHOLDER_COORDINATE,
    load_structure,
    structure_name,
)
from deeprank_like.structure.selection import repeated_keys, select_altlocs
from deeprank_like.structure.structure import Structure

DATA = Path(__file__).parents[1] / "data"
STRUCTURE_FILES = sorted(
    p
    for p in DATA.rglob("*")
    if p.is_file()
    and p.name.lower().endswith((".pdb", ".pdb.gz", ".ent", ".ent.gz", ".cif", ".cif.gz"))
)


# ---- reference: structure loading before the speed-up ---------------------------------------

log = logging.getLogger(io.__name__)  # the reference logs where load_structure logs

_CHAR_CLASS = np.full(256, 4, dtype=np.uint8)
_CHAR_CLASS[ord(" ")] = 0
_CHAR_CLASS[ord("0") : ord("9") + 1] = 1
_CHAR_CLASS[ord(".")] = 2
_CHAR_CLASS[[ord("+"), ord("-")]] = 3


# fmt: off
def _reference_check_pdb_coordinates(data: bytes, path: str) -> None:
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
    head = buf[starts[:, None] + np.arange(4)]
    atom = (head == np.frombuffer(b"ATOM", np.uint8)).all(1)
    atom |= (head == np.frombuffer(b"HETA", np.uint8)).all(1)
    records = starts[atom]
    c = _CHAR_CLASS[buf[records[:, None] + np.arange(30, 54)]].reshape(-1, 3, 8)
    text = c != 0
    blocks = text[..., 0].astype(np.int64) + (text[..., 1:] & ~text[..., :-1]).sum(-1)
    ok = (blocks == 1) & ~(c == 4).any(-1) & (c == 1).any(-1) & ((c == 2).sum(-1) <= 1)
    ok &= ~((c[..., 1:] == 3) & text[..., :-1]).any(-1)  # a sign only at the block's start
    ok = ok.all(-1)
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


def _reference_from_gemmi_model(gmodel, path: str) -> Structure:
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
        raise StructureError(f"{path}: no atoms (no ATOM/HETATM records, or only waters)")

    names, elems, alts, occ_t, b_t, x, y, z = zip(*atom_rows, strict=True)
    r_chain, r_num, r_icode, r_name, r_het, r_count = zip(*res_rows, strict=True)
    counts = np.array(r_count, dtype=np.int64)
    coords = np.column_stack([x, y, z]).astype(np.float64)
    chain_ids = np.repeat(np.array(r_chain, dtype=str), counts)
    res_numbers = np.repeat(np.array(r_num, dtype=np.int64), counts)
    icodes = np.repeat(np.array(r_icode, dtype=str), counts)
    original = np.repeat(np.array(r_name, dtype=str), counts)
    het = np.repeat(np.array(r_het, dtype=bool), counts)
    atom_names = np.array(names, dtype=str)
    elements = np.char.upper(np.array(elems, dtype=str))
    altlocs = np.array(alts, dtype=str)
    altlocs = np.where(np.isin(altlocs, ["\x00", " "]), "", altlocs)
    occ = np.array(occ_t, dtype=np.float64)
    bfac = np.array(b_t, dtype=np.float64)

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
    dup = repeated_keys(keep, chain_ids, res_numbers, icodes, atom_names, altlocs)
    keep &= ~dup
    keep &= select_altlocs(chain_ids, res_numbers, icodes, atom_names, altlocs, occ, keep)
    # the same site left twice after altloc selection (e.g. a blank and an "A" conformer)
    dup2 = repeated_keys(keep, chain_ids, res_numbers, icodes, atom_names)
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

    chain_ids, res_numbers, icodes = chain_ids[keep], res_numbers[keep], icodes[keep]
    original, atom_names, elements = original[keep], atom_names[keep], elements[keep]
    coords, occ, bfac, het = coords[keep], occ[keep], bfac[keep], het[keep]

    std_names = _reference_standardise(original)

    # order: chain (first appearance), residue number, insertion code, file order
    chains, first = np.unique(chain_ids, return_index=True)
    chain_order = chains[np.argsort(first)]
    chain_rank = {c: i for i, c in enumerate(chain_order)}
    chain_key = np.array([chain_rank[c] for c in chain_ids], dtype=np.int64)
    file_order = np.arange(coords.shape[0])
    order = np.lexsort((file_order, icodes, res_numbers, chain_key))

    def take(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a[order])

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


def _reference_standardise(names: np.ndarray) -> np.ndarray:
    uniq, inverse = np.unique(names, return_inverse=True)
    mapped = np.array([NONSTANDARD_PARENT.get(str(u), str(u)) for u in uniq], dtype=str)
    return mapped[inverse].reshape(-1)
# fmt: on


def _reference_load_structure(path, model: int = 0) -> Structure:
    """``load_structure`` before the speed-up (the file-level helpers are unchanged)."""
    import os

    path = os.fspath(path)
    data = io.read_structure_bytes(path)
    if io._is_mmcif(path, data):
        st = io._parse_mmcif(data, path)
    else:
        _reference_check_pdb_coordinates(data, path)
        st = io._parse_pdb(data, path)
    if len(st) == 0:
        raise StructureError(f"{path}: no models / no atoms in file")
    if not 0 <= model < len(st):
        raise StructureError(f"{path}: model {model} requested but the file has {len(st)} model(s)")
    try:
        return _reference_from_gemmi_model(st[model], path)
    except UnicodeDecodeError as exc:
        raise StructureError(
            f"{path}: a chain, residue or atom name is not UTF-8 text ({exc}; first such atom "
            f"record: line {io._first_non_utf8_atom_line(data)}); names must be ASCII"
        ) from None


# ---- reference: force-field atom parameters before the speed-up -------------------------------


# fmt: off
def _reference_atom_parameters(structure, version: int = 2) -> AtomParameters:
    """Charges and LJ parameters for every atom of ``structure`` (cached on the structure).

    Parameters
    ----------
    structure : Structure
        Anything with the arrays of :class:`AtomArrays`.
    version : {2, 1}
        Force-field table version (see :func:`load_forcefield`; 1 only for models trained
        before the topology-parser fix). Cached separately per version.

    Returns
    -------
    AtomParameters

    Raises
    ------
    ValueError
        ``version`` is not 1 or 2.
    """
    version = check_forcefield_version(version, "atom_parameters(version)")
    cache_key = "ff_params" if version == 2 else f"ff_params_v{version}"
    if cache_key in structure._cache:
        return structure._cache[cache_key]
    ff = load_forcefield(version)
    residues: dict[str, dict[str, list]] = ff["residues"]
    lj: dict[str, list[float]] = ff["lj_types"]

    atom_names = np.array([_ATOM_ALIASES.get(a, a) for a in structure.atom_names.tolist()])
    n = structure.num_atoms
    types = np.full(n, "", dtype=object)
    charge = np.zeros(n, dtype=np.float64)
    known = np.zeros(n, dtype=bool)

    keys = np.char.add(np.char.add(structure.original_res_names, ":"), atom_names)
    std_keys = np.char.add(np.char.add(structure.res_names, ":"), atom_names)
    uniq, inverse = np.unique(np.stack([keys, std_keys]), return_inverse=True)
    table_type = np.full(uniq.shape[0], "", dtype=object)
    table_charge = np.zeros(uniq.shape[0])
    table_known = np.zeros(uniq.shape[0], dtype=bool)
    for i, key in enumerate(uniq.tolist()):
        res, atom = key.split(":", 1)
        entry = residues.get(res, {}).get(atom)
        if entry is not None:
            table_type[i], table_charge[i], table_known[i] = entry[0], entry[1], True
    inverse = inverse.reshape(2, n)
    use_orig = table_known[inverse[0]]
    pick = np.where(use_orig, inverse[0], inverse[1])
    types[:] = table_type[pick]
    charge[:] = table_charge[pick]
    known[:] = table_known[pick]

    _reference_apply_patches(structure, atom_names, types, charge, known, ff)

    params = np.zeros((n, 4))
    uniq_t, inv_t = np.unique(types.astype(str), return_inverse=True)
    rows = np.array([lj.get(t, [0.0, 0.0, 0.0, 0.0]) for t in uniq_t.tolist()]).reshape(-1, 4)
    params = rows[inv_t.reshape(-1)]
    known &= np.isin(types.astype(str), list(lj))
    heavy_unknown = int(
        (
            ~known & ~structure.is_hydrogen & (structure.residue_aa[structure.residue_index] >= 0)
        ).sum()
    )
    if heavy_unknown:
        log.info(
            "%s: %d amino-acid heavy atom(s) unknown to the force field (charge 0, no LJ)",
            structure.name,
            heavy_unknown,
        )
    result = AtomParameters(
        charge=charge,
        epsilon=params[:, 0].copy(),
        sigma=params[:, 1].copy(),
        epsilon14=params[:, 2].copy(),
        sigma14=params[:, 3].copy(),
        known=known,
    )
    structure._cache[cache_key] = result
    return result


def _reference_apply_patches(
    structure,
    atom_names: np.ndarray,
    types: np.ndarray,
    charge: np.ndarray,
    known: np.ndarray,
    ff: dict,
) -> None:
    classes: dict[str, dict] = ff["residue_classes"]
    patches: dict[str, list[dict]] = ff["patches"]
    r = structure.num_residues
    res_of_atom = structure.residue_index
    present_cache: dict[str, np.ndarray] = {}

    def has(name: str) -> np.ndarray:
        if name not in present_cache:
            mask = np.zeros(r, dtype=bool)
            mask[np.unique(res_of_atom[atom_names == name])] = True
            present_cache[name] = mask
        return present_cache[name]

    for cls_name in _PATCH_ORDER:
        rule = classes.get(cls_name)
        if rule is None or cls_name not in patches:
            continue
        applies = structure.residue_aa >= 0
        if rule["residue"] != "all":
            applies &= structure.residue_names == rule["residue"]
        if cls_name in ("NTER", "CTN"):
            applies &= structure.residue_names != "PRO" if cls_name == "NTER" else True
        for name in rule["present"]:
            applies &= has(name)
        for name in rule["absent"]:
            applies &= ~has(name)
        if not applies.any():
            continue
        atom_in = applies[res_of_atom]
        for action in patches[cls_name]:
            target = atom_in & (atom_names == action["atom"])
            if not target.any():
                continue
            charge[target] = action["charge"]
            if action["type"]:
                types[target] = action["type"]
            known[target] = True
# fmt: on


# ---- reference: PSSM parsing before the speed-up ----------------------------------------------


# fmt: off
def _reference_read_pssm(path: str | os.PathLike) -> PssmTable:
    """Parse a PSSMGen-format PSSM file.

    Raises
    ------
    PssmError
        If the file is missing, has no recognisable header, or a row is malformed.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise PssmError(f"PSSM file not found: {path}")
    with open(path, encoding="utf-8", errors="replace") as fh:
        lines = [line.split() for line in fh if line.strip()]
    if not lines:
        raise PssmError(f"{path}: empty PSSM file")
    header = lines[0]
    required = ["pdbresi", "pdbresn", *PSSM_ORDER, "IC"]
    missing = [name for name in required if name not in header]
    if missing:
        raise PssmError(
            f"{path}: not a PSSMGen-format PSSM (header lacks {missing}); expected a header "
            f"'pdbresi pdbresn seqresi seqresn {' '.join(PSSM_ORDER)} IC'"
        )
    col = {name: header.index(name) for name in required}
    width = len(header)
    numbers, icodes, types, values, ic = [], [], [], [], []
    for lineno, row in enumerate(lines[1:], start=2):
        if len(row) != width:
            raise PssmError(f"{path}, line {lineno}: {len(row)} fields, header has {width}")
        match = _RESI.match(row[col["pdbresi"]])
        if not match:
            raise PssmError(
                f"{path}, line {lineno}: bad residue number {row[col['pdbresi']]!r} (pdbresi)"
            )
        try:
            values.append([float(row[col[c]]) for c in PSSM_ORDER])
            ic.append(float(row[col["IC"]]))
        except ValueError as exc:
            raise PssmError(f"{path}, line {lineno}: non-numeric score ({exc})") from None
        numbers.append(int(match.group(1)))
        icodes.append(match.group(2))
        types.append(_aa_or_minus_one(row[col["pdbresn"]]))
    return PssmTable(
        path=path,
        numbers=np.array(numbers, dtype=np.int64),
        icodes=np.array(icodes, dtype=str),
        residue_types=np.array(types, dtype=np.int64),
        values=np.array(values, dtype=np.float64).reshape(-1, 20),
        info_content=np.array(ic, dtype=np.float64),
    )
# fmt: on


# ---- comparison helpers -----------------------------------------------------------------------


def assert_same_arrays(new, old, what: str) -> None:
    """Every field of two dataclass instances equal: arrays by dtype, shape and bytes."""
    for f in fields(old):
        if f.name.startswith("_"):
            continue
        a, b = getattr(new, f.name), getattr(old, f.name)
        if isinstance(b, np.ndarray):
            assert isinstance(a, np.ndarray), f"{what}: {f.name} is not an array"
            assert a.dtype == b.dtype, f"{what}: {f.name} dtype {a.dtype} != {b.dtype}"
            assert a.shape == b.shape, f"{what}: {f.name} shape {a.shape} != {b.shape}"
            assert a.flags.c_contiguous == b.flags.c_contiguous, f"{what}: {f.name} layout"
            assert a.tobytes() == b.tobytes(), f"{what}: {f.name} values differ"
        else:
            assert a == b, f"{what}: {f.name} {a!r} != {b!r}"


@contextmanager
def captured_log():
    """Messages logged by the structure reader while the block runs."""
    messages: list[str] = []

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(f"{record.levelname}: {record.getMessage()}")

    handler = Handler(level=logging.DEBUG)
    logger = logging.getLogger(io.__name__)
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def _outcome(load, path, model: int = 0):
    """(structure or None, error message or None, log messages) of one load."""
    with captured_log() as messages:
        try:
            return load(path, model), None, messages
        except StructureError as exc:
            return None, str(exc), messages


def assert_loads_like_reference(path, model: int = 0) -> Structure | None:
    new, new_error, new_log = _outcome(load_structure, path, model)
    old, old_error, old_log = _outcome(_reference_load_structure, path, model)
    assert new_error == old_error
    assert new_log == old_log
    if old is not None:
        assert_same_arrays(new, old, str(path))
    return new


# ---- structure loading ------------------------------------------------------------------------


def test_data_files_are_found():
    assert len(STRUCTURE_FILES) >= 30
    assert any(p.name.endswith(".gz") for p in STRUCTURE_FILES)
    assert any(".cif" in p.name for p in STRUCTURE_FILES)


@pytest.mark.parametrize("path", STRUCTURE_FILES, ids=lambda p: str(p.relative_to(DATA)))
def test_every_data_file_loads_as_before(path):
    assert_loads_like_reference(path)


def test_the_flat_path_is_taken_for_ordinary_files(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("per-atom object path used")

    monkeypatch.setattr(io, "_object_columns", refuse)
    for name in ("1ATN_1w.pdb", "3C8P.pdb", "101M.pdb", "2sni.pdb.gz"):
        assert_loads_like_reference(DATA / "pdb" / name)
    assert_loads_like_reference(DATA / "score" / "2OOB_model_RL.cif.gz")


@pytest.mark.parametrize("name", ["pdb/3C8P.pdb", "pdb/101M.pdb", "score/2OOB_model_RL.cif.gz"])
def test_the_object_path_gives_the_same_structure(monkeypatch, name):
    monkeypatch.setattr(io, "_flat_columns", lambda *args, **kwargs: None)
    assert_loads_like_reference(DATA / name)


def _atom(serial, name, alt, res, chain, num, x, y, z, occ, element, icode=" ", record="ATOM  "):
    return (
        f"{record}{serial:5d} {name:<4}{alt}{res:>3} {chain}{num:4d}{icode}   "
        f"{x:8.3f}{y:8.3f}{z:8.3f}{occ:6.2f}{10.0:6.2f}          {element:>2}"
    )


def test_awkward_pdb_records_load_as_before(tmp_path):
    """Waters, HETATM, MSE, altlocs, insertion codes, duplicates, placeholders, element case."""
    lines = [
        _atom(1, "N", " ", "MSE", "B", 5, 0, 0, 0, 1.0, "N"),
        _atom(2, "CA", " ", "MSE", "B", 5, 1.4, 0, 0, 1.0, "C"),
        _atom(3, "SE", "A", "MSE", "B", 5, 2.0, 1.0, 0, 0.4, "Se", record="HETATM"),
        _atom(4, "SE", "B", "MSE", "B", 5, 2.0, -1.0, 0, 0.6, "SE", record="HETATM"),
        _atom(5, "CA", " ", "GLY", "B", 5, 9.0, 0, 0, 1.0, "C", icode="A"),
        _atom(6, "CA", " ", "GLY", "B", 5, 9.0, 0, 0, 1.0, "C", icode="A"),  # duplicate
        _atom(7, "CA", " ", "ALA", "A", 3, 3.0, 3.0, 3.0, 1.0, "C"),
        _atom(8, "CB", " ", "ALA", "A", 3, 9999.999, 3.0, 3.0, 1.0, "C"),  # placeholder
        _atom(9, "O", " ", "HOH", "A", 101, 5.0, 5.0, 5.0, 1.0, "O", record="HETATM"),
        _atom(10, "ZN", " ", " ZN", "A", 102, 6.0, 5.0, 5.0, 1.0, "ZN", record="HETATM"),
        _atom(11, "CA", " ", "HSD", "A", 2, 1.0, 2.0, 3.0, 0.5, "C"),
        _atom(12, "H1", " ", "HSD", "A", 2, 1.1, 2.0, 3.0, 0.5, "H"),
        _atom(13, "CA", " ", "ALA", "A", 1, 0.5, 0.5, 0.5, 1.0, "", icode="B"),
        "END",
    ]
    path = tmp_path / "awkward.pdb"
    path.write_text("\n".join(lines) + "\n")
    s = assert_loads_like_reference(path)
    assert s is not None and "SE" in s.elements.tolist() and s.chains == ("B", "A")


def test_models_and_model_errors_as_before(tmp_path):
    model = [_atom(1, "CA", " ", "ALA", "A", 1, 0, 0, 0, 1.0, "C")]
    moved = [_atom(1, "CA", " ", "ALA", "A", 1, 1.0, 2.0, 3.0, 1.0, "C")]
    text = ["MODEL        1", *model, "ENDMDL", "MODEL        2", *moved, "ENDMDL", "END"]
    path = tmp_path / "models.pdb"
    path.write_text("\n".join(text) + "\n")
    for index in (0, 1, 2):
        assert_loads_like_reference(path, index)
    assert load_structure(path, 1).coords.tolist() == [[1.0, 2.0, 3.0]]


def test_waters_only_and_non_utf8_names_fail_as_before(tmp_path):
    water = tmp_path / "water.pdb"
    water.write_text(_atom(1, "O", " ", "HOH", "A", 1, 0, 0, 0, 1.0, "O", record="HETATM") + "\n")
    assert_loads_like_reference(water)
    latin = tmp_path / "latin.pdb"
    record = _atom(1, "CA", " ", "ALA", "A", 1, 0, 0, 0, 1.0, "C").encode()
    latin.write_bytes(record[:13] + b"\xe9" + record[14:] + b"\n")
    _, error, _ = _outcome(load_structure, latin)
    assert error is not None and "not UTF-8" in error
    assert_loads_like_reference(latin)


def test_numeric_field_rule_equals_the_old_rule_on_every_class_sequence():
    """All 5**8 character-class sequences of an 8-column coordinate field."""
    c = np.array(list(itertools.product(range(5), repeat=8)), dtype=np.uint8)
    text = c != 0
    blocks = text[..., 0].astype(np.int64) + (text[..., 1:] & ~text[..., :-1]).sum(-1)
    ok = (blocks == 1) & ~(c == 4).any(-1) & (c == 1).any(-1) & ((c == 2).sum(-1) <= 1)
    ok &= ~((c[..., 1:] == 3) & text[..., :-1]).any(-1)
    new = io._numeric_fields(c)
    assert new.dtype == bool and new.shape == ok.shape
    assert (new == ok).all() and 0 < ok.sum() < ok.size


@pytest.mark.parametrize(
    "field",
    ["        ", "   1.x00", "  +-1.00", " 1.0.000", "  1 2.00", "     nan", "  1.0-00", " 1e5    ",
     "-", "   -.   ", "    12.5", "+12     ", "     .5 "],
)  # fmt: skip
def test_coordinate_field_errors_as_before(tmp_path, field):
    good = _atom(1, "N", " ", "ALA", "A", 1, 0, 0, 0, 1.0, "N")
    bad = _atom(2, "CA", " ", "ALA", "A", 1, 1.5, 0, 0, 1.0, "C")
    bad = bad[:38] + f"{field:<8}"[:8] + bad[46:]
    many = [bad.replace(" CA ", f" C{i} ") for i in range(7)]
    path = tmp_path / "coords.pdb"
    path.write_text("\n".join([good, bad, *many, "END"]) + "\n")
    assert_loads_like_reference(path)


_CIF_HEAD = """data_x
loop_
_atom_site.group_PDB
_atom_site.id
_atom_site.type_symbol
_atom_site.label_atom_id
_atom_site.label_alt_id
_atom_site.label_comp_id
_atom_site.label_asym_id
_atom_site.auth_asym_id
_atom_site.auth_seq_id
_atom_site.pdbx_PDB_ins_code
_atom_site.Cartn_x
_atom_site.Cartn_y
_atom_site.Cartn_z
_atom_site.occupancy
_atom_site.B_iso_or_equiv
_atom_site.pdbx_PDB_model_num
"""


@pytest.mark.parametrize(
    "rows",
    [
        # full-precision coordinates, altlocs, a two-letter element, an insertion code
        [
            "ATOM 1 C CA . ALA A A 1 ? 1.123456789 -2.5 3 1 7.25 1",
            "ATOM 2 C CB A ALA A A 1 ? 1.5 2.5 3.5 0.4 8 1",
            "ATOM 3 C CB B ALA A A 1 ? 1.6 2.6 3.6 0.6 9 1",
            "HETATM 4 Se SE . MSE A B 5 A 4 5 6 1 0 1",
            "HETATM 5 O O . HOH C B 6 ? 7 8 9 1 0 1",
        ],
        # names of 8+ characters (gemmi's flat table refuses them: the object path reads them)
        [
            "ATOM 1 C CA . ALA A LONGCHAIN1 1 ? 1 2 3 1 0 1",
            "ATOM 2 C CA12345678 . ALA A LONGCHAIN1 2 ? 1 2 4 1 0 1",
        ],
        # a 7-character chain name and residue name
        ["HETATM 1 C C1 . LIG1234 A CHAIN12 1 ? 1 2 3 1 0 1"],
        # a residue without a number: the error of the object path
        ["ATOM 1 C CA . ALA A A ? ? 1 2 3 1 0 1"],
        # only waters
        ["HETATM 1 O O . HOH A A 1 ? 1 2 3 1 0 1"],
    ],
    ids=["mixed", "long-names", "seven-chars", "no-number", "only-water"],
)
def test_mmcif_cases_as_before(tmp_path, rows):
    path = tmp_path / "case.cif"
    path.write_text(_CIF_HEAD + "\n".join(rows) + "\n")
    assert_loads_like_reference(path)


# ---- force-field atom parameters --------------------------------------------------------------

FORCEFIELD_FILES = [
    "pdb/1ATN_1w.pdb",  # two chains, hydrogens
    "pdb/3C8P.pdb",  # altlocs
    "pdb/101M.pdb",  # heme, waters, MSE-free SRV
    "pdb/1ak4.pdb",
    "pdb/9api.pdb",
    "pdb/2zta.pdb.gz",
    "pdb/1fmh.pdb.gz",
    "pdb/2sni.pdb.gz",
    "ddg/pdbs/1BRS_0001.pdb.gz",
    "dockq/1igc_HLA.pdb.gz",
    "enm/pdb1ubi.pdb",
    "score/2OOB_haddock_style.pdb",
]


@pytest.mark.parametrize("version", FORCEFIELD_VERSIONS)
@pytest.mark.parametrize("name", FORCEFIELD_FILES)
def test_atom_parameters_as_before(name, version):
    path = DATA / name
    new = atom_parameters(load_structure(path), version)
    old = _reference_atom_parameters(load_structure(path), version)
    assert new.known.sum() > 0.5 * new.known.size
    assert_same_arrays(new, old, f"{name} v{version}")


def test_atom_parameters_of_renamed_atoms_and_residues_as_before(tmp_path):
    """Aliased atom names (H, OT1, OT2), non-standard residues (MSE, HSD), termini, unknowns."""
    lines = [
        _atom(1, "N", " ", "MSE", "A", 1, 0, 0, 0, 1.0, "N"),
        _atom(2, "H1", " ", "MSE", "A", 1, 0, 1, 0, 1.0, "H"),
        _atom(3, "CA", " ", "MSE", "A", 1, 1.4, 0, 0, 1.0, "C"),
        _atom(4, "SE", " ", "MSE", "A", 1, 2.0, 1.0, 0, 1.0, "SE"),
        _atom(5, "N", " ", "HSD", "A", 2, 3, 0, 0, 1.0, "N"),
        _atom(6, "H", " ", "HSD", "A", 2, 3, 1, 0, 1.0, "H"),
        _atom(7, "CA", " ", "HSD", "A", 2, 4, 0, 0, 1.0, "C"),
        _atom(8, "HD1", " ", "HSD", "A", 2, 4, 1, 0, 1.0, "H"),
        _atom(9, "N", " ", "GLY", "A", 3, 6, 0, 0, 1.0, "N"),
        _atom(10, "CA", " ", "GLY", "A", 3, 7, 0, 0, 1.0, "C"),
        _atom(11, "OT1", " ", "GLY", "A", 3, 8, 0, 0, 1.0, "O"),
        _atom(12, "OT2", " ", "GLY", "A", 3, 8, 1, 0, 1.0, "O"),
        _atom(13, "XX", " ", "GLY", "A", 3, 8, 2, 0, 1.0, "C"),
        _atom(14, "C1", " ", "LIG", "B", 1, 9, 2, 0, 1.0, "C", record="HETATM"),
        "END",
    ]
    path = tmp_path / "renamed.pdb"
    path.write_text("\n".join(lines) + "\n")
    for version in FORCEFIELD_VERSIONS:
        new = atom_parameters(load_structure(path), version)
        old = _reference_atom_parameters(load_structure(path), version)
        assert_same_arrays(new, old, f"renamed v{version}")
        assert new.known[[0, 2]].all() and not new.known[-2:].any()  # MSE N, CA; XX, LIG C1


# ---- PSSM parsing -----------------------------------------------------------------------------

PSSM_FILES = sorted((DATA / "pssm").glob("*.pssm"))


def _pssm_outcome(read, path):
    try:
        return read(path), None
    except PssmError as exc:
        return None, str(exc)


def assert_pssm_like_reference(path) -> PssmTable | None:
    new, new_error = _pssm_outcome(read_pssm, path)
    old, old_error = _pssm_outcome(_reference_read_pssm, path)
    assert new_error == old_error
    if old is not None:
        assert_same_arrays(new, old, str(path))
    return new


@pytest.mark.parametrize("path", PSSM_FILES, ids=lambda p: p.name)
def test_every_pssm_file_reads_as_before(path):
    assert assert_pssm_like_reference(path) is not None


_PSSM_HEADER = "pdbresi pdbresn seqresi seqresn " + " ".join(PSSM_ORDER) + " IC"


def _pssm_row(resi: str, resn: str, scores: list[str] | None = None, ic: str = "0.5") -> str:
    scores = scores or [str(i - 10) for i in range(20)]
    return f"{resi} {resn} 1 {resn} " + " ".join(scores) + f" {ic}"


@pytest.mark.parametrize(
    "rows",
    [
        [],  # a header only
        [_pssm_row("1", "A"), _pssm_row("2A", "GLY"), _pssm_row("-3", "X"), _pssm_row("4", "Z")],
        [_pssm_row("1", "A", ic="1e-3"), _pssm_row("2", "C", ["1_0", *["0.25"] * 19], "nan")],
        [_pssm_row("1", "A"), _pssm_row("2", "C") + " 7"],  # a field too many
        [_pssm_row("1", "A"), _pssm_row("2B1", "C")],  # a bad residue number
        [_pssm_row("1", "A"), _pssm_row("2", "C", ["x", *["0"] * 19])],  # a non-numeric score
        [_pssm_row("1", "A", ic="?"), _pssm_row("2", "C") + " 7"],  # the first error wins
        [_pssm_row("1", "A"), "", "   ", _pssm_row("2", "C", ic="abc")],  # blank lines
    ],
    ids=["header-only", "codes", "python-floats", "width", "resi", "score", "first", "blank"],
)
def test_pssm_cases_as_before(tmp_path, rows):
    path = tmp_path / "case.pssm"
    path.write_text("\n".join([_PSSM_HEADER, *rows]) + "\n")
    assert_pssm_like_reference(path)


def test_pssm_column_order_and_crlf_as_before(tmp_path):
    header = _PSSM_HEADER.split()
    order = [*header[:4], *reversed(header[4:])]
    path = tmp_path / "reordered.pssm"
    lines = [
        " ".join(order),
        *(" ".join(reversed(_pssm_row(str(i), "W").split()[4:])) for i in range(3)),
    ]
    lines[1:] = [f"{i} W {i} W {line}" for i, line in enumerate(lines[1:], start=1)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    table = assert_pssm_like_reference(path)
    assert table is not None and table.values.shape == (3, 20)
