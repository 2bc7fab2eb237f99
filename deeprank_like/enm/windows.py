"""Cα traces from structures, chain-break detection, sliding windows and the Cα Coulomb matrix.

These helpers prepare the inputs of the β-GM (:func:`deeprank_like.enm.betagm_from_ca`) and of the
CNN of Giulini & Potestio (2019), whose input is the Coulomb matrix of a 100-residue window.

Conventions
-----------
* A Cα node is a residue with an atom named ``CA`` of element C (calcium ions are excluded);
  non-standard amino acids with a Cα are nodes too (not glycine).
* A *missing Cα* is a standard amino acid (one of the 20 three-letter names) without such an
  atom. :func:`ca_trace` raises on one by default (``missing_ca="raise"``: the β-GM of a chain
  with a hole is not the β-GM of the protein); with ``missing_ca="drop"`` the residue is left out
  of the trace and recorded in :attr:`CaTrace.missing_residue_indices`. The neighbours of a
  dropped residue are then consecutive in the trace, usually farther apart than
  ``gap_distance``, so :func:`chain_breaks` reports the hole as a chain break (a window never
  spans it); a hole whose neighbours stay within ``gap_distance`` is bridged like a bond.
* A *chain break* is a pair of consecutive Cα (same chain) farther apart than ``gap_distance``
  (4.2 Å by default; a trans peptide bond gives 3.8 Å, a cis one about 2.9 Å).
* A window is a standalone chain: its first and last residue are termini (no Cβ), see
  ``spec/betagm.md`` ambiguity B.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from deeprank_like.errors import EnmError

if TYPE_CHECKING:
    from deeprank_like.structure import Structure

__all__ = [
    "CaTrace",
    "ca_trace",
    "chain_breaks",
    "check_chain_breaks",
    "coulomb_matrix",
    "protein_chain_ids",
    "read_ca_structure",
    "read_ca_trace",
    "sliding_windows",
]

_GLY = "GLY"


@dataclass(frozen=True)
class CaTrace:
    """The Cα trace of the selected chains of a structure (read-only arrays, chain order).

    Attributes
    ----------
    ca : ndarray, shape (N, 3), float64
        Cα coordinates in Å.
    is_glycine : ndarray, shape (N,), bool
        Glycine mask (no Cβ in the β-GM).
    chain_ids : ndarray, shape (N,), str
        Chain of each residue (use as ``segment_ids`` of the β-GM).
    residue_numbers : ndarray, shape (N,), int64
        Author residue numbers.
    insertion_codes : ndarray, shape (N,), str
        Insertion codes ('' when none).
    residue_names : ndarray, shape (N,), str
        Standardised three-letter names.
    residue_indices : ndarray, shape (N,), int64
        Index of each residue in the structure's per-residue arrays.
    missing_residue_indices : ndarray, shape (M,), int64
        Structure residue indices of the amino acids of the selection that have no Cα and were
        left out (``missing_ca="drop"``; always empty with the default ``"raise"``). A window
        keeps those between its first and last residue.
    """

    ca: NDArray[np.float64]
    is_glycine: NDArray[np.bool_]
    chain_ids: NDArray[np.str_]
    residue_numbers: NDArray[np.int64]
    insertion_codes: NDArray[np.str_]
    residue_names: NDArray[np.str_]
    residue_indices: NDArray[np.int64]
    missing_residue_indices: NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(0, dtype=np.int64)
    )

    def __len__(self) -> int:
        return int(self.ca.shape[0])

    def window(self, start: int, length: int) -> CaTrace:
        """The sub-trace of residues ``start .. start + length - 1`` (a standalone chain)."""
        if start < 0 or length < 1 or start + length > len(self):
            raise EnmError(f"window {start}+{length} outside a trace of {len(self)} residues")
        sl = slice(start, start + length)
        first, last = self.residue_indices[start], self.residue_indices[start + length - 1]
        missing = self.missing_residue_indices
        return CaTrace(
            ca=self.ca[sl],
            is_glycine=self.is_glycine[sl],
            chain_ids=self.chain_ids[sl],
            residue_numbers=self.residue_numbers[sl],
            insertion_codes=self.insertion_codes[sl],
            residue_names=self.residue_names[sl],
            residue_indices=self.residue_indices[sl],
            missing_residue_indices=missing[(missing > first) & (missing < last)],
        )


def ca_trace(
    structure: Structure,
    chain_ids: str | Sequence[str] | None = None,
    residue_range: tuple[int, int] | None = None,
    *,
    missing_ca: Literal["raise", "drop"] = "raise",
) -> CaTrace:
    """Cα coordinates, glycine mask and residue ids of some chains of a structure.

    Parameters
    ----------
    structure : deeprank_like.structure.Structure
        A loaded structure (struct of arrays).
    chain_ids : str or sequence of str, optional
        Chains to take, in the given order; default all chains with Cα atoms, in file order.
    residue_range : (int, int), optional
        Inclusive range ``(first, last)`` of author residue numbers, applied to every selected
        chain (all insertion codes of a number are kept).
    missing_ca : {"raise", "drop"}
        What a standard amino acid without a Cα atom does: raise :class:`EnmError` (default),
        or leave the residue out of the trace and list it in
        :attr:`CaTrace.missing_residue_indices` (its neighbours become consecutive; see the
        module docstring for how :func:`chain_breaks` then sees the hole).

    Returns
    -------
    CaTrace

    Raises
    ------
    EnmError
        Unknown chain, an amino acid without Cα atom ("missing Cα") in the selection with
        ``missing_ca="raise"``, or an empty selection.
    """
    if missing_ca not in ("raise", "drop"):
        raise EnmError(f"missing_ca must be 'raise' or 'drop', got {missing_ca!r}")
    from deeprank_like.domain.aminoacids import THREE_LETTER

    ca_index = np.asarray(structure.residue_atom_index("CA"))
    elements = np.asarray(structure.elements)
    has_ca = ca_index >= 0
    has_ca[has_ca] = elements[ca_index[has_ca]] == "C"
    res_chain = np.asarray(structure.residue_chain_ids)
    res_num = np.asarray(structure.residue_numbers)
    res_names = np.asarray(structure.residue_names)
    is_aa = np.isin(res_names, THREE_LETTER)  # three-letter names only (not ions 'K', 'CA')

    if chain_ids is None:
        chains = [c for c in structure.chains if np.any(has_ca & (res_chain == c))]
    else:
        chains = [chain_ids] if isinstance(chain_ids, str) else list(chain_ids)
        known = set(np.unique(res_chain[has_ca]).tolist())
        unknown = [c for c in chains if c not in known]
        if unknown:
            raise EnmError(
                f"chain(s) {unknown} have no Cα atoms in the structure; chains with Cα: "
                f"{sorted(known)}"
            )
    in_range = np.ones(res_num.shape, dtype=bool)
    if residue_range is not None:
        first, last = residue_range
        in_range = (res_num >= first) & (res_num <= last)

    picked: list[NDArray[np.int64]] = []
    dropped: list[NDArray[np.int64]] = []
    for chain in chains:
        sel = (res_chain == chain) & in_range
        missing = np.flatnonzero(sel & is_aa & ~has_ca)
        if missing.size and missing_ca == "drop":
            dropped.append(missing.astype(np.int64))
        elif missing.size:
            labels = [
                f"{chain} {res_num[i]}{structure.residue_icodes[i]} {res_names[i]}"
                for i in missing[:5]
            ]
            raise EnmError(f"missing Cα: {missing.size} amino-acid residue(s) without CA: {labels}")
        picked.append(np.flatnonzero(sel & has_ca))
    idx = np.concatenate(picked) if picked else np.zeros(0, dtype=np.int64)
    if idx.size == 0:
        raise EnmError(f"no Cα atoms selected (chains={chains}, residue_range={residue_range})")
    coords = np.asarray(structure.coords)
    out = CaTrace(
        ca=np.ascontiguousarray(coords[ca_index[idx]], dtype=np.float64),
        is_glycine=res_names[idx] == _GLY,
        chain_ids=res_chain[idx].copy(),
        residue_numbers=res_num[idx].astype(np.int64),
        insertion_codes=np.asarray(structure.residue_icodes)[idx].copy(),
        residue_names=res_names[idx].copy(),
        residue_indices=idx.astype(np.int64),
        missing_residue_indices=(
            np.sort(np.concatenate(dropped)) if dropped else np.zeros(0, dtype=np.int64)
        ),
    )
    for value in out.__dict__.values():
        value.flags.writeable = False
    return out


_ATOM = np.frombuffer(b"ATOM", dtype=np.uint8)
_HETATM = np.frombuffer(b"HETATM", dtype=np.uint8)
_CA_NAMES = np.array([list(b" CA "), list(b"CA  "), list(b"  CA")], dtype=np.uint8)
#: Non-atom records kept by :func:`ca_records` (model layout and chain termination).
_LAYOUT_RECORDS = (b"MODEL ", b"ENDMDL", b"TER", b"END")


def ca_records(data: bytes) -> bytes:
    """The lines of a PDB text that the Cα trace depends on.

    Kept: every ATOM/HETATM record whose atom name is ``CA`` (Cα atoms, and calcium ions, which
    :func:`ca_trace` tells apart by element), the first record of every residue without such a
    record that is not a water (so that a residue without Cα is still seen: missing-Cα
    detection, chain order), every ATOM/HETATM record too short to hold a residue id, and the layout records
    ``MODEL``, ``ENDMDL``, ``TER`` and ``END``. Everything else (side-chain atoms, waters,
    ``ANISOU``, headers, ``CONECT``) is dropped. Alternate locations of a Cα are all kept, so
    the structure reader's choice among them is unchanged.

    Parameters
    ----------
    data : bytes
        PDB-format text (decompressed).

    Returns
    -------
    bytes
        The kept lines, in file order.
    """
    from deeprank_like.structure.io import _WATER

    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == ord("\n"))
    starts = np.concatenate(([0], newlines + 1))
    ends = np.concatenate((newlines, [buf.size]))
    length = ends - starts
    keep = np.zeros(starts.size, dtype=bool)

    long6 = np.flatnonzero(length >= 6)
    head = buf[starts[long6, None] + np.arange(6)]
    is_atom = np.zeros(starts.size, dtype=bool)
    is_atom[long6] = (head[:, :4] == _ATOM).all(1) | (head == _HETATM).all(1)
    keep |= is_atom & (length < 27)
    for record in _LAYOUT_RECORDS:
        width = len(record)
        cand = np.flatnonzero(~is_atom & (length >= width))
        hit = (buf[starts[cand, None] + np.arange(width)] == np.frombuffer(record, np.uint8)).all(1)
        keep[cand[hit]] = True

    atoms = np.flatnonzero(is_atom & (length >= 27))
    if atoms.size:
        cols = buf[starts[atoms, None] + np.arange(12, 27)]
        # columns 13-16 atom name, 17 altloc, 18-20 residue name, 22 chain, 23-26 number, 27 icode
        is_ca = (cols[:, None, 0:4] == _CA_NAMES[None]).all(2).any(1)
        key = cols[:, 5:15]
        same = np.zeros(atoms.size, dtype=bool)
        same[1:] = (atoms[1:] == atoms[:-1] + 1) & (key[1:] == key[:-1]).all(1)
        run_start = np.flatnonzero(~same)  # runs of consecutive records of one residue
        run_has_ca = np.maximum.reduceat(is_ca, run_start)
        first = run_start[~run_has_ca]  # the first record of each run without a CA
        res_names = np.char.strip(np.ascontiguousarray(cols[first, 5:9]).view("S4").ravel())
        first = first[~np.isin(res_names, [w.encode() for w in _WATER])]
        keep[atoms[is_ca]] = True
        keep[atoms[first]] = True
    seg = length + 1
    seg[-1] = length[-1]  # the last line has no newline
    return buf[np.repeat(keep, seg)].tobytes()


def read_ca_structure(path: str | os.PathLike, model: int = 0) -> Structure:
    """Load what the Cα trace of a structure file needs, skipping every other atom.

    For a PDB file only the records of :func:`ca_records` are parsed (about 1/8 of the atoms of
    a protein), through the same reader as :func:`deeprank_like.structure.load_structure`
    (model choice, alternate locations, insertion codes, residue order and names, duplicate and
    placeholder atoms are handled identically), so :func:`ca_trace` of the result equals
    :func:`ca_trace` of the whole structure in coordinates, residue ids, names and chains;
    only :attr:`CaTrace.residue_indices` refer to the smaller structure. Coordinate fields are
    checked on the kept records only. mmCIF files are read whole.

    Parameters
    ----------
    path : str or PathLike
        ``.pdb``/``.ent``/``.cif`` file, optionally gzipped.
    model : int
        0-based model index.

    Returns
    -------
    deeprank_like.structure.Structure
        Cα atoms, one atom of every other non-water residue.

    Raises
    ------
    StructureError
        As :func:`~deeprank_like.structure.load_structure`.
    """
    from deeprank_like.structure import io as structure_io

    path = os.fspath(path)
    data = structure_io.read_structure_bytes(path)
    if structure_io._is_mmcif(path, data):
        return structure_io.load_structure(path, model=model)
    data = ca_records(data)
    structure_io._check_pdb_coordinates(data, path)
    st = structure_io._parse_pdb(data, path)
    if len(st) == 0 or not 0 <= model < len(st):
        return structure_io.load_structure(path, model=model)  # its error names the cause
    try:
        return structure_io._from_gemmi_model(st[model], path)
    except UnicodeDecodeError:
        return structure_io.load_structure(path, model=model)  # its error names the line


_CA_FIELDS = np.array([b" CA ", b"CA  ", b"  CA"], dtype="S4")
_RECORD_HEADS = (b"ATOM", b"HETA", b"MODE", b"ENDM")


_CA_FIELD_SET = frozenset(_CA_FIELDS.tolist())


@functools.lru_cache(maxsize=4096)
def _residue_info(raw: bytes) -> tuple[str, bool]:
    """Standard name of a residue-name field (columns 18-20) and whether it is an amino acid."""
    from deeprank_like.domain.aminoacids import NONSTANDARD_PARENT, THREE_LETTER

    name = raw.strip().decode("ascii")
    std = NONSTANDARD_PARENT.get(name, name)
    return std, std in THREE_LETTER


def _plain_ca_trace(data: bytes, path: str) -> CaTrace | None:
    """The Cα trace of every chain straight from the kept records of a *plain* PDB text.

    Plain: one model, no alternate locations, every kept amino-acid record a Cα with an explicit
    element, one-character chain ids, numeric residue numbers, no duplicate or placeholder Cα.
    Anything else returns None and the caller takes the general reader; the result then equals
    ``ca_trace(read_ca_structure(path))`` (checked on every file of ``shared/data``). The
    fixed-width fields are cut from one (n, 80) byte array; the per-row checks on the few
    hundred kept rows run on Python lists, faster at that size than numpy's string functions.
    """
    from deeprank_like.structure import io as structure_io

    records = []
    for ln in data.split(b"\n"):
        if ln[:3] == b"END" and ln[3:6] != b"MDL":
            break  # the structure reader stops at END
        if ln[:4] in _RECORD_HEADS:
            records.append(ln)
    heads = [ln[:4] for ln in records]
    n_model, n_end = heads.count(b"MODE"), heads.count(b"ENDM")
    if n_model > 1 or n_end > 1 or n_model != n_end:
        return None
    if n_model and (heads[0] != b"MODE" or heads[-1] != b"ENDM"):
        return None  # atoms outside the one model: the general reader decides
    lines = [ln for ln in records if ln[:4] in (b"ATOM", b"HETA")]
    if not lines or min(map(len, lines)) < 78:
        return None
    raw = np.array(lines, dtype="S80")
    buf = np.frombuffer(raw.tobytes(), dtype=np.uint8).reshape(len(lines), 80)
    if (buf[:, 16] != 32).any() or (buf[:, 20] != 32).any():  # altloc, 4-char residue names
        return None

    def field(a: int, b: int) -> NDArray:
        return np.ascontiguousarray(buf[:, a:b]).view(f"S{b - a}").ravel()

    # ~N rows: per-row Python on lists beats numpy's string functions here
    is_ca = np.array([f in _CA_FIELD_SET for f in field(12, 16).tolist()], dtype=bool)
    try:
        info = [_residue_info(name) for name in field(17, 20).tolist()]
        chain_all = [c.decode("ascii") for c in field(21, 22).tolist()]
    except UnicodeDecodeError:
        return None  # the general reader names the line
    is_aa = np.array([aa for _, aa in info], dtype=bool)
    if (is_aa & ~is_ca).any():
        return None  # an amino acid without a Cα record: the general reader names it
    if not is_ca.any():
        return None
    element = [e.strip() for e in field(76, 78)[is_ca].tolist()]
    if b"" in element:
        return None
    keep = np.array([e == b"C" for e in element], dtype=bool)
    if (is_aa[is_ca] & ~keep).any():
        return None  # an amino acid whose CA is not a carbon: the general reader decides
    ca_rows = np.flatnonzero(is_ca)
    ca_buf = buf[ca_rows]
    try:
        num = np.array(
            [int(x) for x in np.ascontiguousarray(ca_buf[:, 22:26]).view("S4").ravel().tolist()],
            dtype=np.int64,
        )
        coords = np.ascontiguousarray(ca_buf[:, 30:54]).view("S8").ravel().tolist()
        xyz = np.array([float(x) for x in coords], dtype=np.float64).reshape(-1, 3)
    except ValueError:
        return None
    icode_list = [chr(c).strip() for c in ca_buf[:, 26].tolist()]
    if not np.isfinite(xyz).all() or (np.abs(xyz) >= structure_io.PLACEHOLDER_COORDINATE).any():
        return None
    chain_list = [chain_all[i] for i in ca_rows.tolist()]
    order_of_chain = {c: i for i, c in enumerate(dict.fromkeys(chain_all))}
    rank = np.array([order_of_chain[c] for c in chain_list], dtype=np.int64)
    chain = np.array(chain_list, dtype=str)
    icode = np.array(icode_list, dtype=str)
    sel = np.flatnonzero(keep)
    sel = sel[np.lexsort((sel, icode[sel], num[sel], rank[sel]))]
    sel_list = sel.tolist()
    keys = {(chain_list[i], int(num[i]), icode_list[i]) for i in sel_list}
    if sel.size == 0 or len(keys) != sel.size:
        return None
    std = np.array([info[i][0] for i in ca_rows.tolist()], dtype=str)
    names_std = std[sel]
    out = CaTrace(
        ca=np.ascontiguousarray(xyz[sel], dtype=np.float64),
        is_glycine=names_std == _GLY,
        chain_ids=chain[sel].copy(),
        residue_numbers=num[sel].copy(),
        insertion_codes=icode[sel].copy(),
        residue_names=names_std.copy(),
        residue_indices=np.arange(sel.size, dtype=np.int64),
        missing_residue_indices=np.zeros(0, dtype=np.int64),
    )
    for value in out.__dict__.values():
        value.flags.writeable = False
    return out


def read_ca_trace(path: str | os.PathLike) -> CaTrace:
    """The Cα trace of every chain of a structure file, as fast as the file allows.

    Equal to ``ca_trace(read_ca_structure(path))`` (default ``missing_ca="raise"``: an amino
    acid without a Cα raises) in coordinates, glycine mask, chain ids, residue numbers,
    insertion codes and names; :attr:`CaTrace.residue_indices` are trace positions. A plain PDB
    file (one model, no alternate locations, explicit elements) is read from its Cα records
    alone without building a structure; any other file goes through :func:`read_ca_structure`.

    Parameters
    ----------
    path : str or PathLike
        ``.pdb``/``.ent``/``.cif`` file, optionally gzipped.

    Returns
    -------
    CaTrace

    Raises
    ------
    StructureError, EnmError
        As :func:`read_ca_structure` and :func:`ca_trace`.
    """
    from deeprank_like.structure import io as structure_io

    path = os.fspath(path)
    data = structure_io.read_structure_bytes(path)
    if not structure_io._is_mmcif(path, data):
        kept = ca_records(data)
        structure_io._check_pdb_coordinates(kept, path)
        trace = _plain_ca_trace(kept, path)
        if trace is not None:
            return trace
    return ca_trace(read_ca_structure(path))


def protein_chain_ids(structure: Structure) -> list[str]:
    """Chains of a structure with at least one standard amino acid that has a Cα, file order.

    Parameters
    ----------
    structure : deeprank_like.structure.Structure

    Returns
    -------
    list of str
        Chain ids (ligand-, water- and nucleic-acid-only chains are left out).
    """
    from deeprank_like.domain.aminoacids import THREE_LETTER

    ca_index = np.asarray(structure.residue_atom_index("CA"))
    has_ca = ca_index >= 0
    has_ca[has_ca] = np.asarray(structure.elements)[ca_index[has_ca]] == "C"
    is_aa = np.isin(np.asarray(structure.residue_names), THREE_LETTER)
    res_chain = np.asarray(structure.residue_chain_ids)
    return [str(c) for c in structure.chains if np.any(has_ca & is_aa & (res_chain == c))]


def chain_breaks(
    ca: ArrayLike,
    gap_distance: float = 4.2,
    segment_ids: ArrayLike | None = None,
) -> NDArray[np.int64]:
    """Positions of chain breaks in a Cα trace.

    Parameters
    ----------
    ca : array_like, shape (N, 3)
        Cα coordinates in Å, in chain order.
    gap_distance : float
        Consecutive Cα farther apart than this (Å) are a break.
    segment_ids : array_like, shape (N,), optional
        Chain label per residue; a change of label is a break too.

    Returns
    -------
    ndarray, shape (B,), int64
        Indices i such that residues i and i + 1 are not connected.
    """
    ca_arr = np.asarray(ca, dtype=np.float64)
    if ca_arr.shape[0] < 2:
        return np.zeros(0, dtype=np.int64)
    step = np.linalg.norm(np.diff(ca_arr, axis=0), axis=1)
    broken = step > gap_distance
    if segment_ids is not None:
        seg = np.asarray(segment_ids)
        broken |= seg[1:] != seg[:-1]
    return np.flatnonzero(broken).astype(np.int64)


def check_chain_breaks(trace: CaTrace, gap_distance: float = 4.2) -> None:
    """Raise if consecutive Cα of one chain of ``trace`` are farther apart than ``gap_distance``.

    Parameters
    ----------
    trace : CaTrace
    gap_distance : float
        Chain-break threshold in Å.

    Raises
    ------
    EnmError
        Naming each break by chain, residue numbers (with insertion codes) and Cα–Cα distance
        in Å, e.g. ``chain A residues 218-219 (6.31 Å)`` (at most five are listed).
    """
    if len(trace) < 2:
        return
    step = np.linalg.norm(np.diff(trace.ca, axis=0), axis=1)
    same = trace.chain_ids[1:] == trace.chain_ids[:-1]
    gaps = np.flatnonzero(same & (step > gap_distance))
    if gaps.size == 0:
        return

    def label(i: int) -> str:
        return f"{trace.residue_numbers[i]}{trace.insertion_codes[i]}"

    where = ", ".join(
        f"chain {trace.chain_ids[i]} residues {label(i)}-{label(i + 1)} ({step[i]:.2f} Å)"
        for i in gaps[:5]
    )
    more = f" and {gaps.size - 5} more" if gaps.size > 5 else ""
    raise EnmError(
        f"chain break: {gaps.size} consecutive Cα pair(s) farther apart than "
        f"gap_distance={gap_distance:g} Å: {where}{more}; model each side as its own segment "
        "with chain_breaks='split' (--chain-breaks split), select residues without the gap, or "
        "raise gap_distance"
    )


def sliding_windows(
    ca: ArrayLike,
    length: int = 100,
    step: int = 1,
    *,
    gap_distance: float = 4.2,
    segment_ids: ArrayLike | None = None,
) -> Iterator[int]:
    """Start indices of the windows of ``length`` consecutive residues without a chain break.

    Parameters
    ----------
    ca : array_like, shape (N, 3)
        Cα coordinates in Å.
    length : int
        Window length in residues (100 in Giulini & Potestio).
    step : int
        Stride between candidate starts ``0, step, 2 step, ...``.
    gap_distance : float
        Chain-break threshold in Å (see :func:`chain_breaks`).
    segment_ids : array_like, shape (N,), optional
        Chain label per residue; windows never span two chains.

    Yields
    ------
    int
        Start index s of a window ``s .. s + length - 1`` that spans no break.
    """
    if length < 1 or step < 1:
        raise EnmError(f"length and step must be >= 1, got length={length}, step={step}")
    ca_arr = np.asarray(ca, dtype=np.float64)
    n = ca_arr.shape[0]
    if n < length:
        return
    broken = np.zeros(max(n - 1, 0), dtype=np.int64)
    broken[chain_breaks(ca_arr, gap_distance, segment_ids)] = 1
    # cum[i] = number of breaks between residues (0,1) .. (i-1,i)
    cum = np.concatenate([[0], np.cumsum(broken)])
    starts = np.arange(0, n - length + 1, step)
    ok = cum[starts + length - 1] == cum[starts]
    yield from starts[ok].tolist()


def coulomb_matrix(ca: ArrayLike) -> NDArray[np.float32]:
    """Cα "Coulomb matrix": ``C_ij = 1 / |R_i − R_j|`` off the diagonal, 0 on it.

    Parameters
    ----------
    ca : array_like, shape (N, 3)
        Cα coordinates in Å.

    Returns
    -------
    ndarray, shape (N, N), float32
        Symmetric, in Å⁻¹ (unit charges).

    Raises
    ------
    EnmError
        If two Cα coincide.
    """
    ca_arr = np.asarray(ca, dtype=np.float64)
    if ca_arr.ndim != 2 or ca_arr.shape[1] != 3:
        raise EnmError(f"Cα coordinates must have shape (N, 3), got {ca_arr.shape}")
    diff = ca_arr[:, None, :] - ca_arr[None, :, :]
    dist = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    np.fill_diagonal(dist, np.inf)
    if dist.min() <= 0.0:
        raise EnmError("coincident Cα atoms: the Coulomb matrix is undefined")
    return (1.0 / dist).astype(np.float32)
