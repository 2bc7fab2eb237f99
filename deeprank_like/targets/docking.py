"""Docking-quality targets: i-RMSD, L-RMSD, Fnat, DockQ, CAPRI class, binary.

:func:`compute_docking_scores` compares a docking model (decoy) with the native (reference)
complex using our vectorised DockQ (:mod:`deeprank_like.targets.dockq`, held to the ``DockQ``
package v2 within 0.01 DockQ by ``tests/targets/test_dockq_reference.py``). It replaced the
pdb2sql ``StructureSimilarity`` calls DeepRank2 makes (``compute_ppi_scores``), which agree with it
to 1e-3 on the test decoys but cost ~1–9 s per decoy against ~0.1–0.3 s here, files read included.

Definitions (DockQ v2; Basu & Wallner 2016):

* ``fnat``: fraction of the reference's inter-side residue contacts (heavy atoms within 5 Å)
  present in the decoy.
* ``irmsd`` (Å): backbone RMSD, after superposition, of the reference's interface residues (a heavy
  atom within 10 Å of the other side).
* ``lrmsd`` (Å): backbone RMSD of the side with fewer residues ("ligand") after superposing the
  other one.
* ``dockq`` = ``(fnat + 1/(1 + (lrmsd/8.5)²) + 1/(1 + (irmsd/1.5)²)) / 3``.
* ``capri_class``: DeepRank2's i-RMSD-only rule: 1 if irmsd < 1 Å, 2 if < 2 Å, 3 if < 4 Å, else 4
  (1 high, 2 medium, 3 acceptable, 4 incorrect). The official CAPRI criteria also use Fnat and
  L-RMSD (high: fnat ≥ 0.5 and (lrmsd ≤ 1 or irmsd ≤ 1); medium: fnat ≥ 0.3 and (lrmsd ≤ 5 or
  irmsd ≤ 2); acceptable: fnat ≥ 0.1 and (lrmsd ≤ 10 or irmsd ≤ 4)); :func:`capri_class_official`
  implements them (and ``dockq.capri_class_official`` vectorised), but the stored target keeps
  DeepRank2's definition.
* ``binary``: ``irmsd < 4 Å`` (DeepRank2's threshold).

Residues of decoy and reference are matched per chain by sequence alignment (not by number), ATOM
records only, heavy atoms only. Sides may be chain groups (antibody ``H+L`` against antigen ``A``).
Nothing is written to disk. The reference's atom table and the DockQ plan are cached per process
(keyed by the files' paths and modification times), so scoring many decoys of one complex
parses the reference once.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any

import numpy as np

from deeprank_like.domain.chains import split_chain_spec
from deeprank_like.errors import FeatureError, StructureError
from deeprank_like.features.base import FeatureContext, FeatureModule, FeatureSpec
from deeprank_like.structure.docking_decoys import AtomTable, read_atom_table
from deeprank_like.targets.dockq import DockQPlan

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


_REF_CACHE: OrderedDict[tuple, AtomTable] = OrderedDict()
_REF_CACHE_SIZE = 8


def _reference_table(path: str) -> AtomTable:
    key = (path, os.stat(path).st_mtime_ns)
    table = _REF_CACHE.get(key)
    if table is None:
        table = read_atom_table(path)
        _REF_CACHE[key] = table
        while len(_REF_CACHE) > _REF_CACHE_SIZE:
            _REF_CACHE.popitem(last=False)
    else:
        _REF_CACHE.move_to_end(key)
    return table


def _groups(chain_ids: Any) -> list[list[str]] | None:
    """Two sides from ``["A", "B"]``, ``[["H", "L"], "A"]`` or ``"H+L,A"``; None stays None."""
    if chain_ids is None:
        return None
    if isinstance(chain_ids, str):
        sides: list = split_chain_spec(chain_ids)
    else:
        sides = [[c] if isinstance(c, str) else list(c) for c in chain_ids]
    flat = [str(c) for side in sides for c in side]
    if len(sides) != 2 or not all(sides) or len(set(flat)) != len(flat):
        raise FeatureError(
            f"docking scores need exactly two distinct chains (or chain groups), got "
            f"chain_ids={chain_ids!r}"
        )
    return [[str(c) for c in side] for side in sides]


def compute_docking_scores(
    decoy_path: str | os.PathLike,
    reference_path: str | os.PathLike,
    chain_ids: list[str] | tuple[str, str] | str | None = None,
) -> dict[str, Any]:
    """Docking-quality scores of a decoy against the reference complex.

    Parameters
    ----------
    decoy_path, reference_path : str or PathLike
        Structure files (PDB or mmCIF, optionally gzipped). Only read.
    chain_ids : two chain ids or chain groups, optional
        The two sides forming the interface (``["A", "B"]``, ``[["H", "L"], "A"]`` or
        ``"H+L,A"``), the same ids in decoy and reference; required when the reference has more
        than two chains.

    Returns
    -------
    dict
        ``irmsd``, ``lrmsd`` (Å), ``fnat``, ``dockq`` (floats), ``capri_class`` (int, 1..4,
        DeepRank2's i-RMSD rule) and ``binary`` (bool, irmsd < 4 Å).

    Raises
    ------
    StructureError
        A file is missing or unreadable, or a chain is absent.
    FeatureError
        Not two sides, no residue of a side matches the reference, or the reference has no
        contact between the sides; the message names both files.
    """
    decoy = os.path.abspath(os.fspath(decoy_path))
    ref = os.path.abspath(os.fspath(reference_path))
    for p, what in ((decoy, "decoy"), (ref, "reference")):
        if not os.path.isfile(p):
            raise StructureError(f"{p}: {what} structure file not found")
    groups = _groups(chain_ids)
    model_table = read_atom_table(decoy)
    ref_table = _reference_table(ref)
    if groups is not None:
        for table, path in ((model_table, decoy), (ref_table, ref)):
            missing = [c for side in groups for c in side if c not in table.chains]
            if missing:
                raise StructureError(
                    f"{path}: chain(s) {missing} not found (chains: {list(table.chains)})"
                )
    try:
        scores = DockQPlan(model_table, ref_table, groups).score(model_table.coords).row(0)
    except FeatureError as exc:
        raise FeatureError(f"docking scores of {decoy} against {ref} failed: {exc}") from exc
    irmsd = scores["irmsd"]
    return {
        "irmsd": irmsd,
        "lrmsd": scores["lrmsd"],
        "fnat": scores["fnat"],
        "dockq": scores["dockq"],
        "capri_class": capri_class(irmsd),
        "binary": bool(irmsd < BINARY_IRMSD_THRESHOLD),
    }


_TARGET_SPECS = (
    FeatureSpec(name="irmsd", kind="target", unit="Å", description="interface backbone RMSD to the reference (DockQ v2 definition)"),
    FeatureSpec(name="lrmsd", kind="target", unit="Å", description="ligand backbone RMSD after superposing the receptor (DockQ v2 definition)"),
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
        sides = [list(side) for side in q.sides]
        if len(sides) != 2:
            raise FeatureError(
                f"docking scores need two sides (chains or chain groups), got "
                f"chain_ids={q.chain_ids!r}"
            )
        key = (
            "_docking",
            os.path.abspath(q.pdb_path),
            os.path.abspath(q.reference_path),
            tuple(tuple(side) for side in sides),
        )
        if key not in context.cache:
            context.cache[key] = compute_docking_scores(q.pdb_path, q.reference_path, sides)
        scores = context.cache[key]
        return {spec.name: np.array([float(scores[spec.name])]) for spec in _TARGET_SPECS}
