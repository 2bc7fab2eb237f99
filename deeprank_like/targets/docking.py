"""Docking-quality targets: i-RMSD, L-RMSD, Fnat, DockQ, CAPRI class, binary.

:func:`compute_docking_scores` compares a docking model (decoy) with the native (reference)
complex using pdb2sql's ``StructureSimilarity`` — the same calls and settings as DeepRank2's
``compute_ppi_scores`` (``enforce_residue_matching=False``, ``compute_lrmsd_fast`` /
``compute_irmsd_fast`` with ``method="svd"``, ``compute_fnat_fast``, ``compute_DockQScore``). We
checked that these calls work with numpy 2 (pdb2sql 0.5.3), so no score is re-implemented.

Definitions (pdb2sql, after the DockQ paper, Basu & Wallner 2016):

* ``fnat``: fraction of the reference's inter-chain residue contacts (heavy atoms within 5 Å)
  present in the decoy.
* ``irmsd`` (Å): backbone RMSD, after superposition, of the reference's interface residues (any
  heavy atom within 10 Å of the other chain).
* ``lrmsd`` (Å): backbone RMSD of the shorter chain ("ligand") after superposing the longer one.
* ``dockq`` = ``(fnat + 1/(1 + (lrmsd/8.5)²) + 1/(1 + (irmsd/1.5)²)) / 3``.
* ``capri_class``: DeepRank2's i-RMSD-only rule: 1 if irmsd < 1 Å, 2 if < 2 Å, 3 if < 4 Å, else 4
  (1 high, 2 medium, 3 acceptable, 4 incorrect). The official CAPRI criteria also use Fnat and
  L-RMSD (high: fnat ≥ 0.5 and (lrmsd ≤ 1 or irmsd ≤ 1); medium: fnat ≥ 0.3 and (lrmsd ≤ 5 or
  irmsd ≤ 2); acceptable: fnat ≥ 0.1 and (lrmsd ≤ 10 or irmsd ≤ 4)); :func:`capri_class_official`
  implements them, but the stored target keeps DeepRank2's definition.
* ``binary``: ``irmsd < 4 Å`` (DeepRank2's threshold).

Files
    pdb2sql writes ``<reference>.lzone`` / ``.izone`` zone files next to the working directory
    when asked to. Every file it may write is placed in a private temporary directory (the zone
    file names are passed explicitly), so nothing ever lands in the user's folders, and the
    process-wide working directory is not changed (safe with threads). pdb2sql needs plain PDB
    files with exactly two chains: when ``chain_ids`` is given, or the input is mmCIF or gzipped,
    the two chains are first written to a PDB file in that temporary directory with gemmi.
    pdb2sql matches residues by chain and number, ignoring insertion codes.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import warnings
from typing import Any

import numpy as np

from deeprank_like.errors import FeatureError, StructureError
from deeprank_like.features.base import FeatureContext, FeatureModule, FeatureSpec

__all__ = [
    "BINARY_IRMSD_THRESHOLD",
    "DockingScores",
    "capri_class",
    "capri_class_official",
    "compute_docking_scores",
]

BINARY_IRMSD_THRESHOLD = 4.0  # Å
_CAPRI_IRMSD = ((1.0, 1), (2.0, 2), (4.0, 3))


def capri_class(irmsd: float) -> int:
    """DeepRank2's CAPRI class from the i-RMSD alone: 1 (<1 Å), 2 (<2 Å), 3 (<4 Å), else 4."""
    for threshold, value in _CAPRI_IRMSD:
        if irmsd < threshold:
            return value
    return 4


def capri_class_official(fnat: float, lrmsd: float, irmsd: float) -> int:
    """CAPRI quality class from Fnat, L-RMSD and i-RMSD: 1 high … 4 incorrect."""
    if fnat >= 0.5 and (lrmsd <= 1.0 or irmsd <= 1.0):
        return 1
    if fnat >= 0.3 and (lrmsd <= 5.0 or irmsd <= 2.0):
        return 2
    if fnat >= 0.1 and (lrmsd <= 10.0 or irmsd <= 4.0):
        return 3
    return 4


def _as_two_chain_pdb(path: str, chain_ids: list[str] | None, out_path: str) -> str:
    """``path`` itself when pdb2sql can read it as it is, else a two-chain PDB copy."""
    plain = path.lower().endswith((".pdb", ".ent"))
    if chain_ids is None and plain:
        return path
    import gemmi

    try:
        st = gemmi.read_structure(path, merge_chain_parts=True)
    except (RuntimeError, ValueError, OSError) as exc:
        raise StructureError(f"{path}: cannot parse structure ({exc})") from exc
    if len(st) == 0:
        raise StructureError(f"{path}: no models in file")
    st.remove_waters()
    present = list(dict.fromkeys(ch.name for ch in st[0]))
    if chain_ids is not None:
        missing = [c for c in chain_ids if c not in present]
        if missing:
            raise StructureError(f"{path}: chain(s) {missing} not found (chains: {present})")
        if plain and len(st) == 1 and set(present) == set(chain_ids):
            return path
    while len(st) > 1:
        del st[len(st) - 1]
    if chain_ids is not None:
        for name in present:
            if name not in chain_ids:
                st[0].remove_chain(name)
    st.write_pdb(out_path)
    return out_path


def compute_docking_scores(
    decoy_path: str | os.PathLike,
    reference_path: str | os.PathLike,
    chain_ids: list[str] | tuple[str, str] | None = None,
) -> dict[str, Any]:
    """Docking-quality scores of a decoy against the reference complex.

    Parameters
    ----------
    decoy_path, reference_path : str or PathLike
        Structure files (PDB; mmCIF or gzip is converted first). Only read.
    chain_ids : two chain ids, optional
        The two chains forming the interface; required when the files have more than two chains.

    Returns
    -------
    dict
        ``irmsd``, ``lrmsd`` (Å), ``fnat``, ``dockq`` (floats), ``capri_class`` (int, 1..4) and
        ``binary`` (bool, irmsd < 4 Å).

    Raises
    ------
    StructureError
        A file is missing or unreadable, or a chain is absent.
    FeatureError
        pdb2sql failed (e.g. not exactly two chains); the message names both files.
    """
    decoy = os.path.abspath(os.fspath(decoy_path))
    ref = os.path.abspath(os.fspath(reference_path))
    for p, what in ((decoy, "decoy"), (ref, "reference")):
        if not os.path.isfile(p):
            raise StructureError(f"{p}: {what} structure file not found")
    if chain_ids is not None:
        chain_ids = [str(c) for c in chain_ids]
        if len(chain_ids) != 2 or len(set(chain_ids)) != 2:
            raise FeatureError(
                f"docking scores need exactly two distinct chains, got chain_ids={chain_ids!r}"
            )
    from pdb2sql import StructureSimilarity

    with tempfile.TemporaryDirectory(prefix="deeprank_like_dock_") as tmp:
        decoy_in = _as_two_chain_pdb(decoy, chain_ids, os.path.join(tmp, "decoy.pdb"))
        ref_in = _as_two_chain_pdb(ref, chain_ids, os.path.join(tmp, "reference.pdb"))
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
                warnings.simplefilter("ignore")
                sim = StructureSimilarity(decoy_in, ref_in, enforce_residue_matching=False)
                lrmsd = float(
                    sim.compute_lrmsd_fast(method="svd", lzone=os.path.join(tmp, "ref.lzone"))
                )
                irmsd = float(
                    sim.compute_irmsd_fast(method="svd", izone=os.path.join(tmp, "ref.izone"))
                )
                fnat = float(sim.compute_fnat_fast())
                dockq = float(sim.compute_DockQScore(fnat, lrmsd, irmsd))
        except (ValueError, KeyError, IndexError, ZeroDivisionError) as exc:
            raise FeatureError(
                f"docking scores of {decoy} against {ref} failed: {type(exc).__name__}: {exc}"
            ) from exc
    return {
        "irmsd": irmsd,
        "lrmsd": lrmsd,
        "fnat": fnat,
        "dockq": dockq,
        "capri_class": capri_class(irmsd),
        "binary": bool(irmsd < BINARY_IRMSD_THRESHOLD),
    }


_TARGET_SPECS = (
    FeatureSpec(name="irmsd", kind="target", unit="Å", description="interface backbone RMSD to the reference (pdb2sql)"),
    FeatureSpec(name="lrmsd", kind="target", unit="Å", description="ligand backbone RMSD after superposing the receptor (pdb2sql)"),
    FeatureSpec(name="fnat", kind="target", description="fraction of native inter-chain residue contacts (5 Å)"),
    FeatureSpec(name="dockq", kind="target", description="DockQ score"),
    FeatureSpec(name="capri_class", kind="target", dtype="int64", description="1 (i-RMSD < 1 Å), 2 (< 2 Å), 3 (< 4 Å), 4 otherwise (DeepRank2)"),
    FeatureSpec(name="binary", kind="target", dtype="int64", description="1 if i-RMSD < 4 Å else 0"),
)  # fmt: skip


class DockingScores(FeatureModule):
    """Docking-quality targets of a PPI query against ``query.reference_path``."""

    name = "docking"
    target_module = True
    description = "docking-quality targets (needs query.reference_path)"
    query_kinds = ("ppi",)

    def unavailable_reason(self, context: FeatureContext) -> str | None:
        base = super().unavailable_reason(context)
        if base is not None:
            return base
        if not getattr(context.query, "reference_path", None):
            return (
                "module 'docking' needs a reference structure, but query.reference_path is not set"
            )
        return None

    def specs(self, context: FeatureContext) -> tuple[FeatureSpec, ...]:
        return _TARGET_SPECS

    def compute(self, context: FeatureContext) -> dict[str, np.ndarray]:
        q = context.query
        sides = q.sides
        if len(sides) != 2 or any(len(side) != 1 for side in sides):
            raise FeatureError(
                f"docking scores need two single-chain sides, got chain_ids={q.chain_ids!r}"
            )
        chains = [sides[0][0], sides[1][0]]
        key = ("_docking", os.path.abspath(q.pdb_path), os.path.abspath(q.reference_path), *chains)
        if key not in context.cache:
            context.cache[key] = compute_docking_scores(q.pdb_path, q.reference_path, chains)
        scores = context.cache[key]
        return {spec.name: np.array([float(scores[spec.name])]) for spec in _TARGET_SPECS}
