"""Read PDB / mmCIF files (optionally gzipped) into a :class:`Structure` with gemmi.

Rules applied while reading (one model):

* waters are dropped; hydrogens are kept;
* alternate locations: per atom, the conformer with the highest occupancy is kept
  (ties: the first one in the file); atoms without alternates are always kept;
* residue names are standardised (``MSE`` → ``MET``, ``HSD/HSE/HSP/HID/HIE/HIP`` → ``HIS``,
  ``CYX`` → ``CYS``, …) with the original name kept;
* residues are ordered by chain (first appearance), residue number, insertion code.

The user's file is only read, never written.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from deeprank_like.domain.aminoacids import NONSTANDARD_PARENT
from deeprank_like.errors import StructureError
from deeprank_like.structure.structure import Structure

__all__ = ["load_structure", "structure_name"]

log = logging.getLogger(__name__)

_SUFFIXES = (".pdb", ".ent", ".cif", ".mmcif", ".pdb1", ".gz")
_WATER = frozenset({"HOH", "WAT", "H2O", "DOD", "TIP", "TIP3", "SOL"})


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
        If the file is missing, cannot be parsed, has no such model, holds no atoms, or has
        non-finite coordinates. The message names the file and the problem.
    """
    import gemmi

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise StructureError(f"{path}: structure file not found")
    try:
        st = gemmi.read_structure(path, merge_chain_parts=True)
    except (RuntimeError, ValueError, OSError) as exc:
        if "ENDMDL" not in str(exc):
            raise StructureError(f"{path}: cannot parse structure ({exc})") from exc
        # Real-world quirk: a MODEL record that is never closed (e.g. a restarted MODEL 1).
        log.warning("%s: %s; closing unterminated models and reading again", path, exc)
        try:
            text = _repair_unterminated_models(_read_text(path))
            st = gemmi.read_pdb_string(text)
            st.merge_chain_parts()
        except (RuntimeError, ValueError, OSError) as exc2:
            raise StructureError(f"{path}: cannot parse structure ({exc2})") from exc2
    if len(st) == 0:
        raise StructureError(f"{path}: no models / no atoms in file")
    if not 0 <= model < len(st):
        raise StructureError(f"{path}: model {model} requested but the file has {len(st)} model(s)")
    return _from_gemmi_model(st[model], path)


def _from_gemmi_model(gmodel, path: str) -> Structure:
    atom_rows: list[tuple] = []
    res_rows: list[tuple] = []
    for chain in gmodel:
        cname = chain.name
        for res in chain:
            if res.name in _WATER:
                continue
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
        raise StructureError(f"{path}: no atoms (after removing waters)")

    names, elems, alts, occ_t, b_t, x, y, z = zip(*atom_rows, strict=True)
    r_chain, r_num, r_icode, r_name, r_het, r_count = zip(*res_rows, strict=True)
    counts = np.array(r_count, dtype=np.int64)
    coords = np.column_stack([x, y, z]).astype(np.float64)
    if not np.isfinite(coords).all():
        raise StructureError(f"{path}: non-finite atom coordinates")
    chain_ids = np.repeat(np.array(r_chain, dtype=str), counts)
    res_numbers = np.repeat(np.array(r_num, dtype=np.int64), counts)
    icodes = np.repeat(np.array(r_icode, dtype=str), counts)
    original = np.repeat(np.array(r_name, dtype=str), counts)
    het = np.repeat(np.array(r_het, dtype=bool), counts)
    atom_names = np.array(names, dtype=str)
    elements = np.char.upper(np.array(elems, dtype=str))
    altlocs = np.array(alts, dtype=str)
    occ = np.array(occ_t, dtype=np.float64)
    bfac = np.array(b_t, dtype=np.float64)

    keep = _select_altlocs(chain_ids, res_numbers, icodes, atom_names, altlocs, occ)
    chain_ids, res_numbers, icodes = chain_ids[keep], res_numbers[keep], icodes[keep]
    original, atom_names, elements = original[keep], atom_names[keep], elements[keep]
    coords, occ, bfac, het = coords[keep], occ[keep], bfac[keep], het[keep]

    std_names = _standardise(original)

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


def _read_text(path: str) -> str:
    if path.lower().endswith(".gz"):
        import gzip

        with gzip.open(path, "rt", errors="replace") as fh:
            return fh.read()
    with open(path, errors="replace") as fh:
        return fh.read()


def _repair_unterminated_models(text: str) -> str:
    """Close every MODEL that is not closed before the next one; a repeated model number
    replaces the earlier (partial) block."""
    header: list[str] = []
    models: dict[str, list[str]] = {}
    current: list[str] | None = None
    number = ""
    trailer: list[str] = []
    for line in text.splitlines():
        record = line[:6].strip()
        if record == "MODEL":
            number = line[6:].strip() or str(len(models) + 1)
            current = []
            models[number] = current
        elif record == "ENDMDL":
            current = None
        elif current is not None:
            current.append(line)
        elif models and record in ("CONECT", "MASTER", "END"):
            trailer.append(line)
        elif not models:
            header.append(line)
        else:
            trailer.append(line)
    out = list(header)
    for num, lines in models.items():
        out.append(f"MODEL     {num:>4}")
        out.extend(lines)
        out.append("ENDMDL")
    out.extend(trailer)
    return "\n".join(out) + "\n"


def _select_altlocs(
    chain_ids: np.ndarray,
    res_numbers: np.ndarray,
    icodes: np.ndarray,
    atom_names: np.ndarray,
    altlocs: np.ndarray,
    occ: np.ndarray,
) -> np.ndarray:
    """Boolean mask keeping, per atom site, the highest-occupancy alternate (ties: first)."""
    n = occ.shape[0]
    keep = np.ones(n, dtype=bool)
    alt = np.flatnonzero((altlocs != "") & (altlocs != "\x00") & (altlocs != " "))
    if alt.size == 0:
        return keep
    keys = np.char.add(
        np.char.add(np.char.add(chain_ids[alt], "|"), res_numbers[alt].astype(str)),
        np.char.add(np.char.add(icodes[alt], "|"), atom_names[alt]),
    )
    # sort by key, then by descending occupancy, then file order: first of each key wins
    order = np.lexsort((alt, -occ[alt], keys))
    sorted_keys = keys[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    keep[alt] = False
    keep[alt[order[first]]] = True
    return keep


def _standardise(names: np.ndarray) -> np.ndarray:
    uniq, inverse = np.unique(names, return_inverse=True)
    mapped = np.array([NONSTANDARD_PARENT.get(str(u), str(u)) for u in uniq], dtype=str)
    return mapped[inverse].reshape(-1)
