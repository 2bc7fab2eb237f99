"""`conservation`: position-specific scoring matrix (PSSM) rows and information content.

Input: one PSSM file per chain, ``query.pssm_paths = {"A": "1ATN.A.pdb.pssm", ...}``, in the
format written by PSSMGen (as DeepRank2)::

    pdbresi pdbresn seqresi seqresn    A    R    N    D    C    Q    E    G    H    I    L    K    M    F    P    S    T    W    Y    V   IC
          1       K       1       K   -3    1    0   -3   -6    0   -2   -4   -3   -6   -5    7   -4   -6   -4   -3   -3   -6   -5   -5 1.73

``pdbresi`` is the residue number in the structure, optionally followed by an insertion code
(``52A``); ``pdbresn`` the one-letter (or three-letter) residue type. Columns are located by
their header names, so their order in the file does not matter.

Outputs (residue values; atom nodes inherit them):

* ``pssm`` (20): the residue's PSSM row in **BLAST column order A R N D C Q E G H I L K M F P S T
  W Y V** (alphabetical by three-letter code) — *not* the ``res_type`` order
  (A C D E F G H I K L M N P Q R S T V W Y). :data:`PSSM_ORDER` gives the column letters.
* ``info_content``: the ``IC`` column.
* SRV queries: ``conservation`` = PSSM value of the wild type at the variant node (0 elsewhere) and
  ``diff_conservation`` = PSSM(variant) − PSSM(wild type) at the variant node (0 elsewhere).

Validation
    Every amino-acid residue of a chain must have a PSSM row with the same residue type (rows for
    residues absent from the structure are ignored). A missing residue, a different residue type,
    a missing or malformed file, or a graph node on a chain without a PSSM raises
    :class:`~deeprank_like.errors.PssmError` naming the file, chain and residue(s). With
    ``query.suppress_pssm_errors=True`` the mismatches are logged as a warning instead and the
    affected rows (mismatched or missing residues, whole chains without a file) are filled with
    zeros, so the graph is still built. A missing or malformed file is always an error.
    DeepRank2 checks only the graph's residues and crashes the whole run for a chain without PSSM.

The module is unavailable (skipped by ``feature_modules="all"``) when ``query.pssm_paths`` is empty.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from dataclasses import dataclass
from operator import itemgetter

import numpy as np

from deeprank_like.domain.aminoacids import ONE_LETTER, PSSM_ORDER, amino_acid_index
from deeprank_like.errors import PssmError
from deeprank_like.features.base import FeatureContext, FeatureModule, FeatureSpec

__all__ = ["PSSM_ORDER", "Conservation", "PssmTable", "read_pssm"]

log = logging.getLogger(__name__)

_RESI = re.compile(r"^(-?\d+)([A-Za-z]?)$")
_MAX_LISTED = 5


@dataclass(frozen=True)
class PssmTable:
    """The parsed content of one PSSM file.

    Attributes
    ----------
    path : str
    numbers : ndarray (m,), int64
        ``pdbresi`` residue numbers.
    icodes : ndarray (m,), str
        Insertion codes ('' when none).
    residue_types : ndarray (m,), int64
        ``pdbresn`` as amino-acid index (0..19, ``res_type`` order), -1 if not a standard amino acid.
    values : ndarray (m, 20), float64
        Scores in BLAST column order (:data:`PSSM_ORDER`).
    info_content : ndarray (m,), float64
    """

    path: str
    numbers: np.ndarray
    icodes: np.ndarray
    residue_types: np.ndarray
    values: np.ndarray
    info_content: np.ndarray


def _aa_or_minus_one(code: str) -> int:
    try:
        return amino_acid_index(code)
    except ValueError:
        return -1


def read_pssm(path: str | os.PathLike) -> PssmTable:
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
    rows = _parse_rows(lines[1:], col, len(header))
    if rows is None:  # a malformed row: the row-by-row reader names the first one
        rows = _parse_rows_checked(lines[1:], col, len(header), path)
    numbers, icodes, types, values, ic = rows
    return PssmTable(
        path=path,
        numbers=numbers,
        icodes=icodes,
        residue_types=types,
        values=values,
        info_content=ic,
    )


_Rows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _rows_to_arrays(
    numbers: list[int], icodes: list[str], types: list[int], values: list, ic: list[float]
) -> _Rows:
    return (
        np.array(numbers, dtype=np.int64),
        np.array(icodes, dtype=str),
        np.array(types, dtype=np.int64),
        np.array(values, dtype=np.float64).reshape(-1, 20),
        np.array(ic, dtype=np.float64),
    )


def _parse_rows(rows: list[list[str]], col: dict[str, int], width: int) -> _Rows | None:
    """The PSSM rows as arrays, column by column; None if any row is malformed.

    Gives what :func:`_parse_rows_checked` gives for well-formed rows (the same ``int`` and
    ``float`` conversions), without a Python loop over every score.
    """
    if any(len(row) != width for row in rows):
        return None
    matches = [m for m in map(_RESI.match, map(itemgetter(col["pdbresi"]), rows)) if m]
    if len(matches) != len(rows):
        return None
    scores = itemgetter(*(col[c] for c in PSSM_ORDER), col["IC"])
    tokens = list(itertools.chain.from_iterable(map(scores, rows)))
    try:
        value_of = {token: float(token) for token in set(tokens)}  # scores repeat: parse once
    except ValueError:
        return None
    flat = np.array(list(map(value_of.__getitem__, tokens)), dtype=np.float64)
    flat = flat.reshape(len(rows), 21)
    codes = list(map(itemgetter(col["pdbresn"]), rows))
    type_of = {code: _aa_or_minus_one(code) for code in set(codes)}
    return (
        np.array([int(m.group(1)) for m in matches], dtype=np.int64),
        np.array([m.group(2) for m in matches], dtype=str),
        np.array([type_of[code] for code in codes], dtype=np.int64),
        np.ascontiguousarray(flat[:, :20]),
        np.ascontiguousarray(flat[:, 20]),
    )


def _parse_rows_checked(rows: list[list[str]], col: dict[str, int], width: int, path: str) -> _Rows:
    """The PSSM rows parsed one by one; a PssmError names the first malformed one."""
    numbers, icodes, types, values, ic = [], [], [], [], []
    for lineno, row in enumerate(rows, start=2):
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
    return _rows_to_arrays(numbers, icodes, types, values, ic)


def _chain_rows(structure, chain: str, table: PssmTable) -> tuple[np.ndarray, np.ndarray, list]:
    """Match the amino-acid residues of ``chain`` to PSSM rows.

    Returns
    -------
    residues : ndarray (k,), residue indices of the chain's amino acids
    rows : ndarray (k,), PSSM row of each, -1 where missing or mismatched
    problems : list of str
    """
    s = structure
    residues = np.flatnonzero((s.residue_chain_ids == chain) & (s.residue_aa >= 0))
    # plain Python ints and strs (tolist) for the keys: no NumPy scalar per residue
    lookup = {
        key: k
        for k, key in enumerate(zip(table.numbers.tolist(), table.icodes.tolist(), strict=True))
    }
    keys = zip(
        s.residue_numbers[residues].tolist(), s.residue_icodes[residues].tolist(), strict=True
    )
    rows = np.array([lookup.get(key, -1) for key in keys], dtype=np.int64)
    problems: list[str] = []
    missing = residues[rows < 0]
    if missing.size:
        labels = s.residue_labels(missing[:_MAX_LISTED])
        more = f" and {missing.size - _MAX_LISTED} more" if missing.size > _MAX_LISTED else ""
        problems.append(f"no PSSM row for residue(s) {', '.join(labels)}{more}")
    found = rows >= 0
    wrong = np.zeros(residues.size, dtype=bool)
    wrong[found] = table.residue_types[rows[found]] != s.residue_aa[residues[found]]
    if wrong.any():
        bad = np.flatnonzero(wrong)
        parts = []
        for k in bad[:_MAX_LISTED]:
            t = int(table.residue_types[rows[k]])
            parts.append(
                f"{s.residue_labels([residues[k]])[0]} is {ONE_LETTER[t] if t >= 0 else '?'} in the PSSM"
            )
        more = f" and {bad.size - _MAX_LISTED} more" if bad.size > _MAX_LISTED else ""
        problems.append(f"residue type mismatch: {'; '.join(parts)}{more}")
        rows[bad] = -1
    return residues, rows, problems


class Conservation(FeatureModule):
    """PSSM rows, information content and (SRV) wild-type / variant conservation."""

    name = "conservation"
    description = "PSSM profile and information content (needs query.pssm_paths)"

    def unavailable_reason(self, context: FeatureContext) -> str | None:
        base = super().unavailable_reason(context)
        if base is not None:
            return base
        if not getattr(context.query, "pssm_paths", None):
            return "module 'conservation' needs PSSM files, but query.pssm_paths is empty"
        return None

    def specs(self, context: FeatureContext) -> tuple[FeatureSpec, ...]:
        out = (
            FeatureSpec(name="pssm", kind="node", width=20, description=f"PSSM row, BLAST column order {' '.join(PSSM_ORDER)} (differs from res_type order)"),
            FeatureSpec(name="info_content", kind="node", description="information content (IC column of the PSSM)"),
        )  # fmt: skip
        if context.query_kind == "srv":
            out += (
                FeatureSpec(name="conservation", kind="node", description="PSSM score of the wild type at the variant node, 0 elsewhere"),
                FeatureSpec(name="diff_conservation", kind="node", description="PSSM score of the variant − that of the wild type at the variant node, 0 elsewhere"),
            )  # fmt: skip
        return out

    def _residue_table(self, context: FeatureContext) -> tuple[np.ndarray, np.ndarray]:
        """PSSM values (r, 20) and IC (r,) for every structure residue of the graph's chains."""
        s, q, g = context.structure, context.query, context.graph
        suppress = bool(getattr(q, "suppress_pssm_errors", False))
        values = np.zeros((s.num_residues, 20))
        ic = np.zeros(s.num_residues)
        problems: list[str] = []
        node_chains = sorted(set(s.residue_chain_ids[np.unique(g.residue_index)].tolist()))
        for chain in node_chains:
            path = q.pssm_paths.get(chain)
            if path is None:
                problems.append(
                    f"chain {chain}: no PSSM file (query.pssm_paths has chains "
                    f"{sorted(q.pssm_paths)})"
                )
                continue
            key = ("_pssm_rows", os.path.abspath(path), chain)
            if key not in s._cache:
                table = read_pssm(path)
                s._cache[key] = (table, *_chain_rows(s, chain, table))
            table, residues, rows, chain_problems = s._cache[key]
            problems += [f"chain {chain} ({path}): {p}" for p in chain_problems]
            ok = rows >= 0
            values[residues[ok]] = table.values[rows[ok]]
            ic[residues[ok]] = table.info_content[rows[ok]]
        if problems:
            message = "PSSM does not match the structure: " + " | ".join(problems)
            if not suppress:
                raise PssmError(message)
            log.warning(
                "query %s: %s (suppress_pssm_errors=True: affected rows set to 0)",
                g.id,
                message,
            )
        return values, ic

    def compute(self, context: FeatureContext) -> dict[str, np.ndarray]:
        values, ic = self._residue_table(context)
        out = {
            "pssm": context.residue_values_to_nodes(values),
            "info_content": context.residue_values_to_nodes(ic),
        }
        if context.query_kind == "srv":
            g, q = context.graph, context.query
            on = g.residue_index == g.metadata["variant_residue"]
            wt_col = PSSM_ORDER.index(ONE_LETTER[q.wildtype_index])
            var_col = PSSM_ORDER.index(ONE_LETTER[q.variant_index])
            rows = out["pssm"]
            out["conservation"] = np.where(on, rows[:, wt_col], 0.0)
            out["diff_conservation"] = np.where(on, rows[:, var_col] - rows[:, wt_col], 0.0)
        return out
