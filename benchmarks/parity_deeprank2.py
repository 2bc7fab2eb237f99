"""Feature-by-feature parity with DeepRank2, measured (issue #18).

Builds the same queries with DeepRank2 (in its own interpreter, as a subprocess that writes
DeepRank2's HDF5 file) and with deeprank_like (in this process), reads DeepRank2's file with
h5py, matches nodes by (chain, residue number + insertion code[, atom name]) and edges by their
two end nodes, and writes, per query set (PPI/SRV × residue/atom) and feature:

* nodes / edges in common, and only in one tool;
* the share of common rows that agree within the feature's stated tolerance
  (``|a - b| <= atol + rtol * max(|a|, |b|)`` for every column of the row);
* Pearson's r over all values, the largest absolute difference (and where);
* the reason of each difference (``ours``: our choice; ``their bug``; ``method``: a different
  method; ``inputs``: the rows differ because the graphs differ).

Rows marked *compat* are deeprank_like's DeepRank2-compatibility options
(``Contact(residue_atoms="interface_shell")`` with ``include_hydrogens=True``,
``Exposure(hse="alpha")``) on the same queries: they show that the options reproduce
DeepRank2's numbers. An evidence section recomputes the disputed residue ``distance`` values
independently (plain numpy on the PDB text, no code of either tool).

It also times both tools on the same queries in the same run (one core each, after one
warm-up build, file reading included; CPU seconds of the process and its external programs —
MSMS, mkdssp — and wall seconds) and prints ``name: value unit`` lines. DeepRank2's process
builds on request, so the timed builds come in ``--repeats`` rounds per query (one of
DeepRank2's, then three of ours) and both tools see the same state of a shared machine; each
tool's figure is the median of its timed builds. Our CPU seconds spent in freesasa are timed
too.

Needs DeepRank2 3.1.0 in a separate virtual environment (``../shared/bench/setup_deeprank2.sh``;
``mkdssp`` and ``msms`` on PATH or in that environment's ``bin``)::

    python benchmarks/parity_deeprank2.py [--dr2-python /tmp/dr2-venv/bin/python] \
        [--out docs/results/deeprank2_parity] [--repeats 3] [--core N] [--update-docs]

``--update-docs`` replaces the tables between the ``parity:begin``/``parity:end`` markers of
``docs/coming-from-deeprank2.md`` (the prose around them says which behaviour is right).

``--from-json parity.json [--update-docs]`` re-renders the report and the docs tables from a
saved run; ``--write-test-data DIR`` also writes DeepRank2's reference values used by
``tests/features/test_deeprank2_compat.py``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PSSM_DIR = ROOT / "tests" / "data" / "pssm"
EXAMPLES = ROOT / "deeprank_like" / "examples" / "pdb"
DEFAULT_DR2_PYTHON = "/tmp/dr2-venv/bin/python"
DEFAULT_OUT = ROOT / "docs" / "results" / "deeprank2_parity"

#: DeepRank2's seven feature modules; ``irc`` is a no-op for its SRV queries and not
#: applicable to ours, so SRV queries use the other six in both tools.
MODULES_PPI = [
    "components",
    "contact",
    "surfacearea",
    "secondary_structure",
    "exposure",
    "irc",
    "conservation",
]
MODULES_SRV = [m for m in MODULES_PPI if m != "irc"]


@dataclass(frozen=True)
class QuerySpec:
    """One query, built by both tools.

    ``variant`` is ``(chain, residue number, wild type, variant)`` (three-letter codes) for SRV
    queries, None for PPI.
    """

    name: str
    kind: str  # "ppi" or "srv"
    resolution: str  # "residue" or "atom"
    structure: str  # stem of an example file (deeprank_like/examples/pdb/<stem>.pdb.gz)
    chains: tuple[str, ...] = ("A", "B")
    variant: tuple[str, int, str, str] | None = None

    def pssm_paths(self, pssm_dir: Path = PSSM_DIR) -> dict[str, str]:
        base = self.structure.split("_")[0]
        return {c: str(pssm_dir / f"{base}.{c}.pdb.pssm") for c in ("A", "B")}


#: The example complexes (both 1ATN decoys — 1ATN_1w is DeepRank2's own test decoy — and 3C8P)
#: and variants of deeprank_like's examples (the SRV sites of tests/features/test_feature_reference.py).
SRV_SITES = [("3C8P", "A", 40, "ALA"), ("3C8P", "B", 20, "TRP"), ("1ATN_1w", "B", 100, "ALA")]


def default_queries() -> list[QuerySpec]:
    """PPI queries of the three example complexes and SRV queries of three variants."""
    out: list[QuerySpec] = []
    for resolution in ("residue", "atom"):
        for stem in ("1ATN_1w", "1ATN_2w", "3C8P"):
            out.append(QuerySpec(f"ppi-{resolution}-{stem}", "ppi", resolution, stem))
        for stem, chain, number, variant in SRV_SITES:
            wt = _residue_name(EXAMPLES / f"{stem}.pdb.gz", chain, number)
            out.append(
                QuerySpec(
                    f"srv-{resolution}-{stem}-{chain}{number}{variant}",
                    "srv",
                    resolution,
                    stem,
                    (chain,),
                    (chain, number, wt, variant),
                )
            )
    return out


# --------------------------------------------------------------------------------------------
# tolerances and reasons


@dataclass(frozen=True)
class Tolerance:
    """Two values agree when ``|a - b| <= atol + rtol * max(|a|, |b|)``."""

    atol: float
    rtol: float = 0.0

    def describe(self, unit: str = "") -> str:
        parts = []
        if self.atol:
            parts.append(f"{self.atol:g}{(' ' + unit) if unit else ''}")
        if self.rtol:
            parts.append(f"{100 * self.rtol:g} %")
        return " + ".join(parts) if parts else "exact"


EXACT = Tolerance(1e-6)
TOLERANCES: dict[str, Tolerance] = {
    "sasa": Tolerance(1.0, 0.05),  # Å² + 5 %
    "bsa": Tolerance(1.0, 0.05),
    "res_depth": Tolerance(0.1, 0.05),  # Å + 5 %
    "hse": Tolerance(0.05),  # counts exact, angle within 0.05 rad
    "distance": Tolerance(0.01),  # Å
    "electrostatic": Tolerance(0.01, 0.05),  # kcal/mol + 5 %
    "vanderwaals": Tolerance(0.01, 0.05),
    "atom_charge": Tolerance(1e-3),
    "pdb_occupancy": Tolerance(1e-3),
    "pssm": Tolerance(1e-3),
    "info_content": Tolerance(1e-3),
    "res_mass": Tolerance(1e-3),
    "res_pI": Tolerance(1e-3),
}
UNITS = {
    "sasa": "Å²",
    "bsa": "Å²",
    "res_depth": "Å",
    "distance": "Å",
    "electrostatic": "kcal/mol",
    "vanderwaals": "kcal/mol",
    "atom_charge": "e",
}

#: Why a feature differs, when it does: (category, explanation). Categories: "ours" (our
#: deliberate choice), "their bug", "method" (a different, valid method), "inputs" (the same
#: rule applied to different inputs). Keys: ``"<kind>-<resolution>:<feature>"``,
#: ``"<resolution>:<feature>"``, ``"<kind>:<feature>"`` or ``"<feature>"``, most specific first
#: (:func:`reason_for`). A row with full agreement prints no reason; a row that differs without
#: an entry here is reported as "unexplained".
_HYDROGENS = (
    "DeepRank2 counts hydrogen atoms where the file has them (the 1ATN decoys); ours: heavy atoms "
    "(include_hydrogens=True reproduces it)"
)
_PATCH_BUG = (
    "DeepRank2 gives every atom of a force-field-patched residue (termini; histidines with "
    "explicit hydrogens) the charge and type of the patch's last atom"
)
_ALTLOC_BUG = (
    "DeepRank2 drops every atom after the first alternate location B of a file (3C8P: from "
    "SER B36 on, so residues of chain B are missing from its SRV graphs)"
)
REASONS: dict[str, tuple[str, str]] = {
    "ppi-residue:nodes": (
        "ours",
        "DeepRank2 finds interface atoms with hydrogens included, so a residue within 10 Å of the "
        "other chain only through a hydrogen becomes a node; " + _HYDROGENS.split("; ")[1],
    ),
    "ppi-residue:edges": (
        "their bug",
        "DeepRank2 links residues through their interface-shell atoms only (its PPI residues keep "
        "just their atoms within 10 Å of the other chain), so pairs whose closest atoms lie "
        "outside the shell lose their edge; plus the extra hydrogen-contact nodes",
    ),
    "ppi-atom:nodes": ("ours", "DeepRank2's atom graphs include hydrogens as nodes; " + _HYDROGENS),
    "ppi-atom:edges": ("ours", "edges of the hydrogen nodes; " + _HYDROGENS),
    "srv:nodes": ("their bug", _ALTLOC_BUG + "; and " + _HYDROGENS),
    "srv:edges": ("their bug", "follows the nodes: " + _ALTLOC_BUG + "; and " + _HYDROGENS),
    "ppi-residue:distance": (
        "their bug",
        "DeepRank2's residue 'minimum distance' is over the interface-shell atoms of PPI residues "
        "(hydrogens included), not over the residues; ours is the minimum heavy-atom distance of "
        "the whole residues (see the evidence). Contact(residue_atoms='interface_shell') with "
        "include_hydrogens=True reproduces it",
    ),
    "srv-residue:distance": ("ours", "the minimum includes hydrogen–hydrogen pairs: " + _HYDROGENS),
    "covalent": (
        "inputs",
        "follows distance (< 2.1 Å on one chain), so it differs where distance does",
    ),
    "ppi-residue:electrostatic": (
        "their bug",
        "DeepRank2 sums over the interface-shell atoms of PPI residues only (partial residues, "
        "hydrogens included), ours over all heavy atoms of both residues; and " + _PATCH_BUG,
    ),
    "srv-residue:electrostatic": ("their bug", _PATCH_BUG + "; and " + _HYDROGENS),
    "atom:electrostatic": ("their bug", _PATCH_BUG),
    "same_chain": (
        "their bug",
        "DeepRank2's atom edges always hold 1 (it compares atom 1 with itself)",
    ),
    "atom_charge": ("their bug", _PATCH_BUG),
    "atom_type": (
        "ours",
        "we add a 7th column 'other' (Se, metals); the 6 common columns are compared",
    ),
    "sasa": (
        "their bug",
        "freesasa.Structure(path) takes hydrogens whose element column is empty (the 1ATN decoys) "
        "for heavy atoms; ours uses heavy atoms only (equal to freesasa on files without "
        "hydrogens)",
    ),
    "bsa": (
        "their bug",
        "DeepRank2 computes both states from the graph's atoms only, so a residue's unbound area "
        "ignores the rest of its chain (and depends on the influence radius); ours uses whole "
        "chains (SRV: the node's chain alone vs the whole model)",
    ),
    "sec_struct": (
        "method",
        "pydssp instead of mkdssp (DSSP H-bond rules on the backbone; see Features)",
    ),
    "res_depth": (
        "method",
        "SES distance from a 64-dot accessible surface (ProtOr radii, heavy atoms) instead of "
        "MSMS (united-atom radii, all atoms incl. hydrogens and waters)",
    ),
    "hse": (
        "ours",
        "HSE-β (counts along the real Cα→Cβ, defined at chain ends) instead of DeepRank2's HSE-α "
        "(Biopython HSExposureCA: Cα-trace pseudo-Cβ, (0, 0, 0) at segment ends); "
        "Exposure(hse='alpha') reproduces it",
    ),
    "irc_total": (
        "ours",
        "DeepRank2's pdb2sql contacts (5.5 Å) count hydrogens where the file has them and merge "
        "insertion codes; ours count heavy-atom contacts",
    ),
    "pssm": ("inputs", "DeepRank2 reads the PSSM rows of the residues it keeps"),
}
REASONS["ppi-residue:vanderwaals"] = REASONS["ppi-residue:electrostatic"]
REASONS["srv-residue:vanderwaals"] = REASONS["srv-residue:electrostatic"]
REASONS["atom:vanderwaals"] = REASONS["atom:electrostatic"]
for _p in (
    "nonpolar_nonpolar",
    "nonpolar_polar",
    "nonpolar_negative",
    "nonpolar_positive",
    "polar_polar",
    "polar_negative",
    "polar_positive",
    "negative_negative",
    "negative_positive",
    "positive_positive",
):
    REASONS[f"irc_{_p}"] = (
        "ours",
        "split of irc_total by partner polarity: " + REASONS["irc_total"][1],
    )
for _f in ("conservation", "diff_conservation", "info_content"):
    REASONS[_f] = REASONS["pssm"]


def reason_for(set_name: str, feature: str) -> tuple[str, str]:
    """The (category, explanation) of a difference of ``feature`` in query set ``set_name``."""
    kind, _, resolution = set_name.partition("-")
    for key in (f"{set_name}:{feature}", f"{resolution}:{feature}", f"{kind}:{feature}", feature):
        if key in REASONS:
            return REASONS[key]
    return ("unexplained", "no reason recorded: investigate")


# --------------------------------------------------------------------------------------------
# a graph as tables keyed by node names


@dataclass
class GraphTable:
    """Nodes, edges and features of one graph, keyed independently of node order.

    ``node_keys``: ``(chain, "123A")`` (residue) or ``(chain, "123A", atom_name)`` (atom);
    ``edge_keys``: sorted pairs of node keys; features as ``(rows, width)`` float64 arrays.
    """

    node_keys: list[tuple]
    node_features: dict[str, np.ndarray]
    edge_keys: list[tuple]
    edge_features: dict[str, np.ndarray]


def _as2d(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a.reshape(a.shape[0], -1)


def _edge_key(a: tuple, b: tuple) -> tuple:
    return (a, b) if a <= b else (b, a)


def table_from_dr2(group: Any, resolution: str) -> GraphTable:
    """Read one DeepRank2 HDF5 entry (an h5py group)."""
    names = [
        n.decode() if isinstance(n, bytes) else str(n) for n in group["node_features/_name"][()]
    ]
    keys: list[tuple] = []
    for n in names:
        parts = n.split()
        keys.append(tuple(parts[-3:]) if resolution == "atom" else tuple(parts[-2:]))
    nf = {k: _as2d(v[()]) for k, v in group["node_features"].items() if not k.startswith("_")}
    index = group["edge_features/_index"][()]
    ekeys = [_edge_key(keys[int(i)], keys[int(j)]) for i, j in index]
    ef = {k: _as2d(v[()]) for k, v in group["edge_features"].items() if not k.startswith("_")}
    return GraphTable(keys, nf, ekeys, ef)


def table_from_graph(graph: Any) -> GraphTable:
    """A deeprank_like ``Graph`` as a :class:`GraphTable`."""
    ids = graph.node_ids
    keys: list[tuple] = []
    for row in ids:
        res = f"{int(row['residue_number'])}{str(row['insertion_code']).strip()}"
        if graph.resolution == "atom":
            keys.append((str(row["chain"]), res, str(row["atom_name"])))
        else:
            keys.append((str(row["chain"]), res))
    src, dst = graph.edge_index
    ekeys = [_edge_key(keys[int(i)], keys[int(j)]) for i, j in zip(src, dst, strict=True)]
    nf = {k: _as2d(v) for k, v in graph.node_features.items()}
    ef = {k: _as2d(v) for k, v in graph.edge_features.items()}
    return GraphTable(keys, nf, ekeys, ef)


# --------------------------------------------------------------------------------------------
# comparison


@dataclass
class FeatureStats:
    """Pooled comparison of one feature over the queries of a set."""

    rows: int = 0
    agree: int = 0
    a: list[np.ndarray] = field(default_factory=list)  # DeepRank2 values
    b: list[np.ndarray] = field(default_factory=list)  # ours
    worst: float = 0.0
    worst_where: str = ""
    note: str = ""

    def add(self, a: np.ndarray, b: np.ndarray, keys: list, tol: Tolerance, query: str) -> None:
        if a.size == 0:
            return
        diff = np.abs(a - b)
        ok = diff <= tol.atol + tol.rtol * np.maximum(np.abs(a), np.abs(b))
        self.rows += a.shape[0]
        self.agree += int(ok.all(axis=1).sum())
        self.a.append(a.ravel())
        self.b.append(b.ravel())
        k = int(np.argmax(diff.max(axis=1)))
        if diff[k].max() > self.worst:
            self.worst = float(diff[k].max())
            self.worst_where = (
                f"{query} {_fmt_key(keys[k])}: {_fmt_vals(a[k])} vs {_fmt_vals(b[k])}"
            )

    def summary(self) -> dict[str, Any]:
        r = float("nan")
        if self.a:
            a, b = np.concatenate(self.a), np.concatenate(self.b)
            if a.std() > 0 and b.std() > 0:
                r = float(np.corrcoef(a, b)[0, 1])
            elif np.array_equal(a, b):
                r = 1.0
        return {
            "rows": self.rows,
            "agree": self.agree,
            "share": self.agree / self.rows if self.rows else float("nan"),
            "r": r,
            "max_abs_diff": self.worst,
            "max_diff_at": self.worst_where,
            "note": self.note,
        }


def _fmt_key(key: tuple) -> str:
    if key and isinstance(key[0], tuple):
        return "–".join(" ".join(k) for k in key)
    return " ".join(key)


def _fmt_vals(v: np.ndarray) -> str:
    v = np.asarray(v).ravel()
    if v.size > 4:
        return f"[{v.size} values]"
    return "(" + ", ".join(f"{x:.4g}" for x in v) + ")" if v.size > 1 else f"{v[0]:.4g}"


@dataclass
class SetComparison:
    """Everything compared for one query set (e.g. ``ppi-residue``)."""

    nodes_dr2: int = 0
    nodes_ours: int = 0
    nodes_common: int = 0
    edges_dr2: int = 0
    edges_ours: int = 0
    edges_common: int = 0
    features: dict[str, FeatureStats] = field(default_factory=dict)
    only_dr2: set[str] = field(default_factory=set)
    only_ours: set[str] = field(default_factory=set)


#: Features changed by the compatibility options (only these get ``compat:`` rows).
COMPAT_FEATURES = ("distance", "covalent", "electrostatic", "vanderwaals", "hse")

#: What remains when the compatibility options are on, per feature (their bugs, not reproduced).
COMPAT_RESIDUALS = {
    "hse": "residues whose Cα trace Biopython segments differently",
    "default": _PATCH_BUG + "; " + _ALTLOC_BUG,
}


def compare_tables(
    dr2: GraphTable, ours: GraphTable, out: SetComparison, query: str, prefix: str = ""
) -> None:
    """Add the comparison of one query's two tables to ``out`` (feature names get ``prefix``)."""
    if not prefix:
        out.nodes_dr2 += len(dr2.node_keys)
        out.nodes_ours += len(ours.node_keys)
        out.edges_dr2 += len(dr2.edge_keys)
        out.edges_ours += len(ours.edge_keys)
    for level in ("node", "edge"):
        kd = dr2.node_keys if level == "node" else dr2.edge_keys
        ko = ours.node_keys if level == "node" else ours.edge_keys
        fd = dr2.node_features if level == "node" else dr2.edge_features
        fo = ours.node_features if level == "node" else ours.edge_features
        pos_o = {k: i for i, k in enumerate(ko)}
        common = [k for k in kd if k in pos_o]
        if not prefix:
            if level == "node":
                out.nodes_common += len(common)
            else:
                out.edges_common += len(common)
        idx_d = np.array([i for i, k in enumerate(kd) if k in pos_o], dtype=np.int64)
        idx_o = np.array([pos_o[k] for k in common], dtype=np.int64)
        for name in sorted(set(fd) | set(fo)):
            if name not in fo:
                if not prefix:
                    out.only_dr2.add(name)
                continue
            if name not in fd:
                if not prefix:
                    out.only_ours.add(name)
                continue
            if prefix and name not in COMPAT_FEATURES:
                continue
            a, b = fd[name][idx_d], fo[name][idx_o]
            stats = out.features.setdefault(prefix + name, FeatureStats())
            if a.shape[1] != b.shape[1]:
                width = min(a.shape[1], b.shape[1])
                stats.note = f"widths {a.shape[1]} (DeepRank2) vs {b.shape[1]} (ours): first {width} compared"
                a, b = a[:, :width], b[:, :width]
            stats.add(a, b, common, TOLERANCES.get(name, EXACT), query)


# --------------------------------------------------------------------------------------------
# independent evidence: residue-residue minimum distances from the PDB text


def read_pdb_atoms(path: Path) -> dict[str, np.ndarray]:
    """ATOM records of the first model, one conformer per atom (highest occupancy, first wins).

    Plain text parsing, independent of both tools. Returns arrays ``chain``, ``res`` (number +
    insertion code), ``name``, ``heavy`` (bool) and ``xyz`` (n, 3).
    """
    opener = gzip.open if str(path).endswith(".gz") else open
    best: dict[tuple, tuple[float, int]] = {}
    rows: list[tuple] = []
    with opener(path, "rt") as fh:
        for line in fh:
            if line.startswith("ENDMDL"):
                break
            if not line.startswith("ATOM"):
                continue
            name = line[12:16].strip()
            key = (line[21], line[22:27].strip(), name)
            occ = float(line[54:60] or 1.0)
            element = line[76:78].strip() or name.lstrip("0123456789")[:1]
            row = (
                key,
                element.upper() != "H",
                [float(line[30:38]), float(line[38:46]), float(line[46:54])],
            )
            if key in best:
                if occ > best[key][0]:
                    rows[best[key][1]] = row
                    best[key] = (occ, best[key][1])
                continue
            best[key] = (occ, len(rows))
            rows.append(row)
    return {
        "chain": np.array([r[0][0] for r in rows]),
        "res": np.array([r[0][1] for r in rows]),
        "name": np.array([r[0][2] for r in rows]),
        "heavy": np.array([r[1] for r in rows]),
        "xyz": np.array([r[2] for r in rows]),
    }


def distance_evidence(
    pdb: Path, edges: list[tuple], dr2_values: np.ndarray, our_values: np.ndarray, radius: float
) -> dict[str, Any]:
    """Recompute residue-edge minimum distances two ways for PPI residue edges.

    *full*: minimum heavy-atom distance over the whole residues; *shell*: minimum over the
    residues' atoms (hydrogens included) within ``radius`` of the other chain, DeepRank2's
    contact-atom rule. Returns the share of edges where ours equals *full* and DeepRank2's
    equals *shell* (0.01 Å), and the largest example.
    """
    atoms = read_pdb_atoms(pdb)
    xyz, chain = atoms["xyz"], atoms["chain"]
    shell = np.zeros(len(xyz), dtype=bool)
    for c in np.unique(chain):
        mine, other = chain == c, chain != c
        if not other.any():
            continue
        d, _ = cKDTree(xyz[other]).query(xyz[mine], k=1)
        shell[np.flatnonzero(mine)[d < radius]] = True
    by_res: dict[tuple, np.ndarray] = {}
    for i, key in enumerate(zip(chain, atoms["res"], strict=True)):
        by_res.setdefault(key, []).append(i)  # type: ignore[attr-defined]
    by_res = {k: np.array(v) for k, v in by_res.items()}
    ours_full = dr2_shell = 0
    example: dict[str, Any] = {}
    biggest = -1.0
    for (r1, r2), a, b in zip(edges, dr2_values, our_values, strict=True):
        i, j = by_res[r1], by_res[r2]
        hi, hj = i[atoms["heavy"][i]], j[atoms["heavy"][j]]
        full = np.sqrt(((xyz[hi][:, None] - xyz[hj][None]) ** 2).sum(-1)).min()
        si, sj = i[shell[i]], j[shell[j]]
        sh = (
            np.sqrt(((xyz[si][:, None] - xyz[sj][None]) ** 2).sum(-1)).min()
            if si.size and sj.size
            else math.inf
        )
        ours_full += abs(b - full) <= 0.01
        dr2_shell += abs(a - sh) <= 0.01
        if abs(a - b) > biggest:
            biggest = abs(a - b)
            example = {
                "edge": _fmt_key((r1, r2)),
                "deeprank2": round(float(a), 3),
                "ours": round(float(b), 3),
                "full_structure_min_heavy": round(float(full), 3),
                "shell_min": round(float(sh), 3),
                "shell_atoms": f"{int(shell[i].sum())}/{len(i)} and {int(shell[j].sum())}/{len(j)}",
            }
    n = len(edges)
    return {
        "edges": n,
        "ours_equals_full_structure": ours_full / n if n else float("nan"),
        "deeprank2_equals_shell": dr2_shell / n if n else float("nan"),
        "largest": example,
    }


# --------------------------------------------------------------------------------------------
# running the tools


def _residue_name(path: Path, chain: str, number: int) -> str:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        for line in fh:
            if line.startswith("ATOM") and line[21] == chain and line[22:26].strip() == str(number):
                return line[17:20]
    raise ValueError(f"{path}: no residue {chain} {number}")


def prepare_inputs(queries: list[QuerySpec], folder: Path) -> dict[str, Path]:
    """Uncompressed copies of the example structures without ``REMARK`` records.

    Copies, because DeepRank2's ``secondary_structure`` rewrites its input file; without
    REMARKs, because mkdssp 4 fails on the HADDOCK REMARK header of the 1ATN decoys after
    DeepRank2 prepends its HEADER line (``DSSPError: DSSP failed to produce an output``, which
    stops DeepRank2's whole query). Both tools read the same REMARK-free text.
    """
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for stem in sorted({q.structure for q in queries}):
        target = folder / f"{stem}.pdb"
        with gzip.open(EXAMPLES / f"{stem}.pdb.gz", "rt") as src:
            text = [line for line in src if not line.startswith("REMARK")]
        target.write_text("".join(text))
        out[stem] = target
    return out


#: Runs in DeepRank2's interpreter: ``python -c RUNNER job.json``. It answers commands, one JSON
#: line each on stdin (``{"op": "first" | "time", "query": name}``), with one ``PARITY_JSON`` line
#: each: ``first`` builds the query (warm-up) and writes its graph to the HDF5 file, ``time``
#: times one more build. The first line it prints gives DeepRank2's version.
RUNNER = r"""
import json, os, resource, sys, time, traceback
def cpu_now():  # microsecond resolution (os.times counts 10 ms ticks), external programs included
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
job = json.load(open(sys.argv[1]))
import deeprank2
from deeprank2.query import ProteinProteinInterfaceQuery, SingleResidueVariantQuery
from deeprank2.domain.aminoacidlist import amino_acids
AA = {aa.three_letter_code.upper(): aa for aa in amino_acids}
queries = {q["name"]: q for q in job["queries"]}
def make(q):
    if q["kind"] == "ppi":
        return ProteinProteinInterfaceQuery(pdb_path=q["pdb"], resolution=q["resolution"],
            chain_ids=q["chains"], pssm_paths=q["pssm"])
    chain, number, wt, var = q["variant"]
    return SingleResidueVariantQuery(pdb_path=q["pdb"], resolution=q["resolution"],
        chain_ids=[chain], variant_residue_number=number, insertion_code=None,
        wildtype_amino_acid=AA[wt], variant_amino_acid=AA[var], pssm_paths=q["pssm"])
print("PARITY_JSON " + json.dumps({"version": deeprank2.__version__}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    q = queries[cmd["query"]]
    try:
        if cmd["op"] == "first":
            graph = make(q).build(q["modules"])  # warm-up, and the graph we write
            graph.write_to_hdf5(job["hdf5"])
            reply = {"entry": graph.id, "nodes": len(graph.nodes), "edges": len(graph.edges)}
        else:
            t, c = time.perf_counter(), cpu_now()
            make(q).build(q["modules"])
            c2 = cpu_now()
            reply = {"seconds": time.perf_counter() - t, "cpu_seconds": c2 - c}
    except Exception as exc:
        reply = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]}
    print("PARITY_JSON " + json.dumps(reply), flush=True)
"""


class DeepRank2Process:
    """DeepRank2 in its own interpreter (``python``), building queries on request (:data:`RUNNER`).

    Parameters
    ----------
    python : str
        DeepRank2's interpreter; its ``bin`` folder goes first on ``PATH`` (mkdssp, msms).
    queries : list of QuerySpec
    paths : dict
        Structure stem → the PDB file DeepRank2 reads.
    hdf5 : Path
        Where DeepRank2 writes the graphs of ``first`` builds.
    """

    def __init__(
        self, python: str, queries: list[QuerySpec], paths: dict[str, Path], hdf5: Path
    ) -> None:
        jobs = [
            {
                "name": q.name,
                "kind": q.kind,
                "resolution": q.resolution,
                "pdb": str(paths[q.structure]),
                "chains": list(q.chains),
                "variant": list(q.variant) if q.variant else None,
                "pssm": q.pssm_paths(),
                "modules": MODULES_PPI if q.kind == "ppi" else MODULES_SRV,
            }
            for q in queries
        ]
        job_file = hdf5.with_suffix(".job.json")
        job_file.write_text(json.dumps({"queries": jobs, "hdf5": str(hdf5)}))
        env = dict(os.environ)
        env["PATH"] = str(Path(python).parent) + os.pathsep + env.get("PATH", "")
        # a file, not a pipe: nobody reads it until a failure, so it can never fill up and block
        self._stderr = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in close()
        self._proc = subprocess.Popen(
            [python, "-c", RUNNER, str(job_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )
        self.version = self._reply()["version"]

    def _reply(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.startswith("PARITY_JSON "):
                return json.loads(line[len("PARITY_JSON ") :])
        self._proc.wait()
        self._stderr.seek(0)
        raise RuntimeError(
            f"DeepRank2 run failed (exit {self._proc.returncode}); stderr tail:\n"
            f"{self._stderr.read()[-3000:]}"
        )

    def ask(self, op: str, name: str) -> dict[str, Any]:
        """``op`` (``"first"`` or ``"time"``) for query ``name``; DeepRank2's reply."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"op": op, "query": name}) + "\n")
        self._proc.stdin.flush()
        return self._reply()

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        self._proc.wait()
        self._stderr.close()


def our_query(q: QuerySpec, path: Path, include_hydrogens: bool = False) -> Any:
    """The deeprank_like query for ``q``."""
    from deeprank_like import ProteinProteinInterfaceQuery, SingleResidueVariantQuery

    common = {
        "pdb_path": str(path),
        "resolution": q.resolution,
        "pssm_paths": q.pssm_paths(),
        "include_hydrogens": include_hydrogens,
    }
    if q.kind == "ppi":
        return ProteinProteinInterfaceQuery(chain_ids=list(q.chains), **common)
    chain, number, wt, var = q.variant  # type: ignore[misc]
    return SingleResidueVariantQuery(
        chain_ids=chain,
        variant_residue_number=number,
        wildtype_amino_acid=wt,
        variant_amino_acid=var,
        **common,
    )


def compat_modules(kind: str) -> list[Any]:
    """Our modules with every DeepRank2-compatibility option switched on."""
    from deeprank_like.features.contact import Contact
    from deeprank_like.features.exposure import Exposure

    names = MODULES_PPI if kind == "ppi" else MODULES_SRV
    swap = {"contact": Contact(residue_atoms="interface_shell"), "exposure": Exposure(hse="alpha")}
    return [swap.get(n, n) for n in names]


def _clear_structure_cache() -> None:
    try:
        from deeprank_like.features import cache
    except ImportError:  # a version without the per-structure cache
        return
    cache.clear()


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (microsecond resolution).

    ``os.times`` counts clock ticks (10 ms), too coarse for queries of a few tens of ms.
    """
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


class _FreesasaClock:
    """CPU seconds spent inside ``freesasa.calcCoord`` (the Lee–Richards runs) while active.

    Our surface areas are freesasa's C code on the atoms a query needs; this time is the part of
    a build no change of ours can remove without another SASA engine, so ``DeepRank2 / this`` is
    the ratio a query would reach if every other stage cost nothing. Versions that call freesasa
    otherwise count 0.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self._original: Any = None

    def __enter__(self) -> _FreesasaClock:
        import freesasa

        self._original = original = freesasa.calcCoord

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = _cpu_seconds()
            try:
                return original(*args, **kwargs)
            finally:
                self.seconds += _cpu_seconds() - start

        freesasa.calcCoord = timed
        return self

    def __exit__(self, *exc: object) -> None:
        import freesasa

        freesasa.calcCoord = self._original


def _our_timed_build(q: QuerySpec, path: Path, modules: list[str]) -> tuple[float, float, float]:
    """One cold build: (wall s, CPU s, CPU s in freesasa)."""
    _clear_structure_cache()  # cold: DeepRank2 has no per-structure cache either
    with _FreesasaClock() as clock:
        t, c = time.perf_counter(), _cpu_seconds()
        our_query(q, path).build(modules)
        c2 = _cpu_seconds()
    return time.perf_counter() - t, c2 - c, clock.seconds


#: Our timed builds after each of DeepRank2's: ours are short, so the first after a DeepRank2
#: build can pay for caches DeepRank2 filled; the median over all of ours is a warm one.
OUR_BUILDS_PER_ROUND = 3


def run_both(
    dr2: DeepRank2Process,
    queries: list[QuerySpec],
    paths: dict[str, Path],
    repeats: int,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, dict[str, list[float]]]]:
    """Build every query with both tools, their timed builds in rounds.

    Per query: DeepRank2's warm-up build (its graph is written), ours, then ``repeats`` rounds
    of one timed DeepRank2 build followed by :data:`OUR_BUILDS_PER_ROUND` timed builds of ours,
    so both tools' builds of a query see the same state of a shared machine. ``paths``: our
    copies of the structures.

    Returns DeepRank2's result (``{"version", "queries": {name: {"entry", "seconds",
    "cpu_seconds", "nodes", "edges"} or {"error", "traceback"}}}``), our default graphs, our
    compat graphs and, per query, our wall and CPU seconds of each timed build and the CPU
    seconds of it spent in freesasa (:class:`_FreesasaClock`).
    """
    theirs: dict[str, Any] = {"version": dr2.version, "queries": {}}
    graphs, compat, seconds = {}, {}, {}
    for q in queries:
        modules = MODULES_PPI if q.kind == "ppi" else MODULES_SRV
        info = dr2.ask("first", q.name)
        _clear_structure_cache()
        graphs[q.name] = our_query(q, paths[q.structure]).build(modules)  # warm-up
        times, cpu, in_freesasa, their_wall, their_cpu = [], [], [], [], []
        for _ in range(repeats):
            if "error" not in info:
                timed = dr2.ask("time", q.name)
                if "error" in timed:
                    info = timed
                else:
                    their_wall.append(timed["seconds"])
                    their_cpu.append(timed["cpu_seconds"])
            for _ in range(OUR_BUILDS_PER_ROUND):
                wall, spent, in_sasa = _our_timed_build(q, paths[q.structure], modules)
                times.append(wall)
                cpu.append(spent)
                in_freesasa.append(in_sasa)
        if "error" not in info:
            info = {**info, "seconds": their_wall, "cpu_seconds": their_cpu}
        theirs["queries"][q.name] = info
        seconds[q.name] = {"wall": times, "cpu": cpu, "freesasa": in_freesasa}
        compat[q.name] = our_query(q, paths[q.structure], include_hydrogens=True).build(
            compat_modules(q.kind)
        )
    return theirs, graphs, compat, seconds


# --------------------------------------------------------------------------------------------
# report


def _pct(x: float) -> str:
    return "–" if x != x else f"{100 * x:.0f} %" if x < 0.995 or x == 1 else f"{100 * x:.1f} %"


def _num(x: float, digits: int = 3) -> str:
    return "–" if x != x else f"{x:.{digits}g}"


def feature_rows(sets: dict[str, SetComparison]) -> list[dict[str, Any]]:
    """One JSON-ready row per (set, feature), with the reason where agreement is not full."""
    rows = []
    for set_name, cmp in sets.items():
        for name, stats in sorted(cmp.features.items()):
            s = stats.summary()
            base = name.removeprefix("compat:")
            reason = ("", "")
            if s["rows"] and s["agree"] < s["rows"]:
                reason = reason_for(set_name, base)
                if name.startswith("compat:"):
                    reason = ("compat", COMPAT_RESIDUALS.get(base, COMPAT_RESIDUALS["default"]))
            rows.append(
                {"set": set_name, "feature": name, **s, "category": reason[0], "reason": reason[1]}
            )
    return rows


def render_markdown(result: dict[str, Any], level: int = 1) -> str:
    """The parity report as markdown (what docs/coming-from-deeprank2.md includes).

    ``level`` is the heading level of the title (``None``-like 0: no title); sections are one
    level below.
    """
    h = "#" * (level + 1)
    lines = [f"{'#' * level} Parity with DeepRank2, measured", ""] if level else []
    lines += [
        f"Made by `benchmarks/parity_deeprank2.py` on {result['date']}: DeepRank2 "
        f"{result['versions']['deeprank2']}, deeprank_like {result['versions']['deeprank_like']}, "
        f"Python {result['versions']['python']}. Queries: {', '.join(result['queries'])}. "
        "Modules: all seven of DeepRank2's (SRV: without `irc`). Agreement: share of common rows "
        "whose every column satisfies |a − b| ≤ atol + rtol·max(|a|, |b|) (tolerance column); "
        "r: Pearson over all values; max |Δ|: largest absolute difference, where, DeepRank2's "
        "value vs ours. Rows `compat:` use our DeepRank2-compatibility options "
        '(`Contact(residue_atoms="interface_shell")`, `Exposure(hse="alpha")`, '
        "`include_hydrogens=True`).",
        "",
        f"{h} Graph sizes",
        "",
        "| query | nodes DeepRank2 | nodes ours | in common | edges DeepRank2 | edges ours | in common |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    rows = list(result.get("sizes", {}).items()) + [
        (f"**{k}**", g) for k, g in result["sets"].items()
    ]
    for name, g in rows:
        lines.append(
            f"| {name} | {g['nodes_dr2']} | {g['nodes_ours']} | {g['nodes_common']} | "
            f"{g['edges_dr2']} | {g['edges_ours']} | {g['edges_common']} |"
        )
    lines += ["", "Why the node and edge sets differ:", ""]
    for name, g in result["sets"].items():
        for what in ("nodes", "edges"):
            if g[f"{what}_dr2"] == g[f"{what}_ours"] == g[f"{what}_common"]:
                continue
            category, text = reason_for(name, what)
            lines.append(f"- {name}, {what}: **{category}**: {text}")
    lines += [
        "",
        f"{h} Features",
        "",
        "| set | feature | rows | agree | tolerance | r | max \\|Δ\\| | where (DeepRank2 vs ours) | reason |",
        "|---|---|---:|---:|---|---:|---:|---|---|",
    ]
    identical: dict[str, list[str]] = {}
    for row in result["features"]:
        if row["rows"] and row["agree"] == row["rows"] and not row["note"]:
            identical.setdefault(row["set"], []).append(row["feature"])
            continue
        base = row["feature"].removeprefix("compat:")
        tol = TOLERANCES.get(base, EXACT).describe(UNITS.get(base, ""))
        reason = f"**{row['category']}**: {row['reason']}" if row["category"] else ""
        if row["note"]:
            reason = (reason + "; " if reason else "") + row["note"]
        where = row["max_diff_at"] if row["agree"] < row["rows"] else ""
        lines.append(
            f"| {row['set']} | `{row['feature']}` | {row['rows']} | {_pct(row['share'])} | {tol} | "
            f"{_num(row['r'])} | {_num(row['max_abs_diff'])} | {where} | {reason} |"
        )
    lines += ["", "Features whose every common row agrees within its tolerance:", ""]
    for name, feats in identical.items():
        lines.append(f"- {name}: " + ", ".join(f"`{f}`" for f in feats))
    lines += ["", "Features in one tool only:", ""]
    for name, g in result["sets"].items():
        lines.append(
            f"- {name}: DeepRank2 only {sorted(g['only_dr2']) or '–'}; ours only {sorted(g['only_ours']) or '–'}"
        )
    ev = result.get("evidence", {}).get("distance")
    if ev:
        lines += [
            "",
            f"{h} Evidence: residue `distance`",
            "",
            f"Recomputed from the PDB text with numpy (no code of either tool) for the {ev['edges']} "
            "common PPI residue edges: ours equals the minimum heavy-atom distance of the whole "
            f"residues on {_pct(ev['ours_equals_full_structure'])} of them; DeepRank2's equals the "
            "minimum over the residues' atoms within 10 Å of the other chain (hydrogens included) "
            f"on {_pct(ev['deeprank2_equals_shell'])}. Largest difference: "
            f"{ev['largest'].get('edge')}: DeepRank2 {ev['largest'].get('deeprank2')} Å, ours "
            f"{ev['largest'].get('ours')} Å, whole residues {ev['largest'].get('full_structure_min_heavy')} Å, "
            f"shell {ev['largest'].get('shell_min')} Å (shell atoms kept: {ev['largest'].get('shell_atoms')}).",
        ]
    lines += [
        "",
        f"{h} Seconds per query (one core, median of repeats, file reading included)",
        "",
        "Both tools in the same run, one process each pinned to one core, cold (our per-structure "
        "cache cleared before every build)"
        + (
            "; the timed builds of a query come in rounds (one of DeepRank2's, then three of "
            "ours), so both tools see the same state of the machine"
            if result["timing"].get("interleaved")
            else ""
        )
        + ". CPU: seconds of the process and of the programs it "
        "waits for (DeepRank2's MSMS and mkdssp), robust to a busy machine; wall: elapsed "
        f"seconds (machine load average at the end: {result.get('load_average')}).",
        "",
    ]
    lines += [
        "| query | DeepRank2 CPU | ours CPU | ratio | ours in freesasa | ratio if only freesasa "
        "| DeepRank2 wall | ours wall |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, t in result["timing"]["per_query"].items():
        ratio = t["deeprank2"] / t["ours"] if t["ours"] and t["deeprank2"] else float("nan")
        sasa = t.get("ours_freesasa", float("nan"))  # absent from runs before 2026-12-02
        ceiling = f"{t['deeprank2'] / sasa:.0f}×" if sasa and sasa == sasa else "–"
        lines.append(
            f"| {name} | {_num(t['deeprank2'])} s | {_num(t['ours'])} s | {ratio:.0f}× | "
            f"{_num(sasa) + ' s' if sasa == sasa else '–'} | {ceiling} | "
            f"{_num(t.get('deeprank2_wall', float('nan')))} s | {_num(t.get('ours_wall', float('nan')))} s |"
        )
    lines += [
        "",
        "*Ours in freesasa*: the CPU seconds of our build spent in freesasa's Lee–Richards "
        "(`freesasa.calcCoord` on the atoms the query needs, for `sasa` and `bsa`); "
        "*ratio if only freesasa* is DeepRank2's time over it, the ratio the query would reach "
        "if every other stage cost nothing.",
    ]
    if result.get("errors"):
        lines += ["", "Queries DeepRank2 failed:", ""]
        lines += [f"- {k}: {v}" for k, v in result["errors"].items()]
    return "\n".join(lines) + "\n"


#: Queries whose DeepRank2 values become test references (tests/data/deeprank2).
TEST_DATA_QUERIES = ("ppi-residue-3C8P", "ppi-residue-1ATN_1w")


def _patched_residues(pdb_text: list[str]) -> set[tuple[str, str]]:
    """Residues a force-field patch applies to: termini (OXT, HT1-3) and histidines.

    DeepRank2 gives *every* atom of such a residue the charge and type of the patch's last atom
    (a bug the compatibility options do not reproduce), so their edges are left out of the
    references.
    """
    out = set()
    for line in pdb_text:
        if line.startswith("ATOM"):
            key = (line[21], line[22:27].strip())
            if line[12:16].strip() in ("OXT", "HT1", "HT2", "HT3") or line[17:20] == "HIS":
                out.add(key)
    return out


def write_test_data(f: Any, dr2: dict[str, Any], queries: list[QuerySpec], folder: Path) -> None:
    """DeepRank2's values for the compatibility tests, as small CSV files.

    ``<structure>_ppi_residue_edges.csv``: residue edges (``distance``, ``electrostatic``,
    ``vanderwaals``) of the PPI residue graph, edges touching a patched residue left out;
    ``<structure>_ppi_residue_hse.csv``: ``hse`` (up, down, angle) of every node.
    """
    folder.mkdir(parents=True, exist_ok=True)
    version = dr2["version"]
    for q in queries:
        if q.name not in TEST_DATA_QUERIES or "error" in dr2["queries"][q.name]:
            continue
        tab = table_from_dr2(f[dr2["queries"][q.name]["entry"]], "residue")
        with gzip.open(EXAMPLES / f"{q.structure}.pdb.gz", "rt") as fh:
            patched = _patched_residues(fh.readlines())
        head = f"# DeepRank2 {version}, {q.name} (influence radius 10 A), made by benchmarks/parity_deeprank2.py\n"
        rows = [head + "chain1,res1,chain2,res2,distance,electrostatic,vanderwaals"]
        ef = tab.edge_features
        for i, (a, b) in enumerate(tab.edge_keys):
            if a in patched or b in patched:
                continue
            vals = ",".join(
                f"{ef[k][i, 0]:.10g}" for k in ("distance", "electrostatic", "vanderwaals")
            )
            rows.append(f"{a[0]},{a[1]},{b[0]},{b[1]},{vals}")
        (folder / f"{q.structure}_ppi_residue_edges.csv").write_text("\n".join(rows) + "\n")
        rows = [head + "chain,res,up,down,angle"]
        hse = tab.node_features["hse"]
        for i, (chain, res) in enumerate(tab.node_keys):
            rows.append(f"{chain},{res},{hse[i, 0]:.0f},{hse[i, 1]:.0f},{hse[i, 2]:.10g}")
        (folder / f"{q.structure}_ppi_residue_hse.csv").write_text("\n".join(rows) + "\n")


DOCS_PAGE = ROOT / "docs" / "coming-from-deeprank2.md"
BEGIN, END = "<!-- parity:begin (benchmarks/parity_deeprank2.py) -->", "<!-- parity:end -->"


def update_docs(result: dict[str, Any], page: Path = DOCS_PAGE) -> None:
    """Replace the text between the parity markers of ``page`` with the measured tables."""
    text = page.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{page}: no {BEGIN} ... {END} markers to replace")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    page.write_text(
        head + BEGIN + "\n" + render_markdown(result, level=3) + END + tail, encoding="utf-8"
    )


def print_timing(result: dict[str, Any]) -> None:
    """``name: value unit`` lines: CPU and wall seconds per query, medians per query set."""
    per_query = result["timing"]["per_query"]
    for name, t in per_query.items():
        for tool in ("deeprank2", "ours"):
            print(f"cpu_s_per_query.{tool}.{name}: {t[tool]:.3f} s")
            print(f"wall_s_per_query.{tool}.{name}: {t[tool + '_wall']:.3f} s")
        if "ours_freesasa" in t:
            print(f"cpu_s_per_query.ours_in_freesasa.{name}: {t['ours_freesasa']:.3f} s")
    for kind in ("ppi", "srv"):
        for res in ("residue", "atom"):
            sel = [t for n, t in per_query.items() if n.startswith(f"{kind}-{res}-")]
            if not sel:
                continue
            for what, suffix in (("cpu", ""), ("wall", "_wall")):
                d = _median([t["deeprank2" + suffix] for t in sel])
                o = _median([t["ours" + suffix] for t in sel])
                print(f"median_{what}_s_per_query.deeprank2.{kind}_{res}: {d:.3f} s")
                print(f"median_{what}_s_per_query.ours.{kind}_{res}: {o:.3f} s")
                print(f"speedup_{what}.{kind}_{res}: {d / o:.1f} x")


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dr2-python", default=DEFAULT_DR2_PYTHON, help="DeepRank2's python")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for parity.md/.json")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="rounds per query: one timed DeepRank2 build and three of ours each",
    )
    parser.add_argument("--only", default="", help="comma-separated query names (default: all)")
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help=f"replace the measured tables in {DOCS_PAGE.relative_to(ROOT)}",
    )
    parser.add_argument(
        "--write-test-data",
        type=Path,
        default=None,
        help="also write DeepRank2's reference values for tests/data/deeprank2 to this folder",
    )
    parser.add_argument(
        "--modules", default="", help="comma-separated modules (default: DeepRank2's seven)"
    )
    parser.add_argument(
        "--core",
        type=int,
        default=None,
        help="CPU core both tools run on (default: the lowest allowed; pick a quiet one)",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        default=None,
        help="re-render parity.md (and the docs with --update-docs) from a saved parity.json",
    )
    args = parser.parse_args(argv)
    if args.from_json:
        result = json.loads(args.from_json.read_text())
        args.out.mkdir(parents=True, exist_ok=True)
        out_json = args.out / "parity.json"
        if not out_json.exists() or not out_json.samefile(args.from_json):
            # the report, the docs and the JSON beside them must come from one run
            out_json.write_text(json.dumps(result, indent=1, default=float) + "\n")
        (args.out / "parity.md").write_text(render_markdown(result))
        if args.update_docs:
            update_docs(result)
        print_timing(result)
        return result

    if not Path(args.dr2_python).exists():
        raise SystemExit(
            f"DeepRank2's python {args.dr2_python!r} does not exist: install DeepRank2 with "
            "../shared/bench/setup_deeprank2.sh or pass --dr2-python"
        )
    import h5py

    import deeprank_like

    core = min(os.sched_getaffinity(0)) if args.core is None else args.core
    os.sched_setaffinity(0, {core})  # DeepRank2's process inherits it
    if args.modules:
        wanted_modules = args.modules.split(",")
        MODULES_PPI[:] = [m for m in MODULES_PPI if m in wanted_modules]
        MODULES_SRV[:] = [m for m in MODULES_SRV if m in wanted_modules]
    queries = default_queries()
    if args.only:
        wanted = set(args.only.split(","))
        queries = [q for q in queries if q.name in wanted]
    tmp = Path(tempfile.mkdtemp(prefix="parity-dr2-"))
    try:
        paths_dr2 = prepare_inputs(queries, tmp / "dr2")
        paths_ours = prepare_inputs(queries, tmp / "ours")
        hdf5 = tmp / "deeprank2.hdf5"
        process = DeepRank2Process(args.dr2_python, queries, paths_dr2, hdf5)
        try:
            dr2, graphs, compat, our_seconds = run_both(process, queries, paths_ours, args.repeats)
        finally:
            process.close()

        sets: dict[str, SetComparison] = {}
        errors: dict[str, str] = {}
        sizes: dict[str, dict[str, int]] = {}
        dist_edges: list[tuple] = []
        dist_a: list[float] = []
        dist_b: list[float] = []
        dist_pdb: dict[str, Path] = {}
        with h5py.File(hdf5, "r") as f:
            if args.write_test_data:
                write_test_data(f, dr2, queries, args.write_test_data)
            for q in queries:
                info = dr2["queries"][q.name]
                if "error" in info:
                    errors[q.name] = info["error"]
                    continue
                set_name = f"{q.kind}-{q.resolution}"
                cmp = sets.setdefault(set_name, SetComparison())
                tab_d = table_from_dr2(f[info["entry"]], q.resolution)
                tab_o = table_from_graph(graphs[q.name])
                compare_tables(tab_d, tab_o, cmp, q.name)
                sizes[q.name] = {
                    "nodes_dr2": len(tab_d.node_keys),
                    "nodes_ours": len(tab_o.node_keys),
                    "nodes_common": len(set(tab_d.node_keys) & set(tab_o.node_keys)),
                    "edges_dr2": len(tab_d.edge_keys),
                    "edges_ours": len(tab_o.edge_keys),
                    "edges_common": len(set(tab_d.edge_keys) & set(tab_o.edge_keys)),
                }
                compare_tables(tab_d, table_from_graph(compat[q.name]), cmp, q.name, "compat:")
                if q.kind == "ppi" and q.resolution == "residue":
                    pos = {k: i for i, k in enumerate(tab_o.edge_keys)}
                    for i, k in enumerate(tab_d.edge_keys):
                        if k in pos:
                            dist_edges.append((q.structure, k))
                            dist_a.append(float(tab_d.edge_features["distance"][i, 0]))
                            dist_b.append(float(tab_o.edge_features["distance"][pos[k], 0]))
                    dist_pdb[q.structure] = paths_ours[q.structure]
        evidence: dict[str, Any] = {}
        if dist_edges:
            parts = []
            for stem, pdb in dist_pdb.items():
                sel = [i for i, (s, _) in enumerate(dist_edges) if s == stem]
                ev = distance_evidence(
                    pdb,
                    [dist_edges[i][1] for i in sel],
                    np.array(dist_a)[sel],
                    np.array(dist_b)[sel],
                    radius=10.0,
                )
                ev["largest"]["edge"] = f"{stem} {ev['largest'].get('edge', '')}"
                parts.append(ev)
            n = sum(p["edges"] for p in parts)
            evidence["distance"] = {
                "edges": n,
                "ours_equals_full_structure": sum(
                    p["ours_equals_full_structure"] * p["edges"] for p in parts
                )
                / n,
                "deeprank2_equals_shell": sum(
                    p["deeprank2_equals_shell"] * p["edges"] for p in parts
                )
                / n,
                "largest": max(
                    parts, key=lambda p: abs(p["largest"]["deeprank2"] - p["largest"]["ours"])
                )["largest"],
            }

        timing: dict[str, Any] = {"per_query": {}, "interleaved": True}
        for q in queries:
            info = dr2["queries"][q.name]
            timing["per_query"][q.name] = {
                "deeprank2": _median(info.get("cpu_seconds", [])),
                "ours": _median(our_seconds[q.name]["cpu"]),
                "deeprank2_wall": _median(info.get("seconds", [])),
                "ours_wall": _median(our_seconds[q.name]["wall"]),
                "ours_freesasa": _median(our_seconds[q.name]["freesasa"]),
            }
        result = {
            "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d"),
            "versions": {
                "deeprank2": dr2["version"],
                "deeprank_like": deeprank_like.__version__,
                "python": sys.version.split()[0],
            },
            "queries": [q.name for q in queries],
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "sets": {
                k: {
                    "nodes_dr2": c.nodes_dr2,
                    "nodes_ours": c.nodes_ours,
                    "nodes_common": c.nodes_common,
                    "edges_dr2": c.edges_dr2,
                    "edges_ours": c.edges_ours,
                    "edges_common": c.edges_common,
                    "only_dr2": sorted(c.only_dr2),
                    "only_ours": sorted(c.only_ours),
                }
                for k, c in sets.items()
            },
            "sizes": sizes,
            "features": feature_rows(sets),
            "evidence": evidence,
            "timing": timing,
            "errors": errors,
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "parity.json").write_text(json.dumps(result, indent=1, default=float) + "\n")
    (args.out / "parity.md").write_text(render_markdown(result))
    if args.update_docs:
        update_docs(result)
    print_timing(result)
    print(f"wrote {args.out / 'parity.md'} and {args.out / 'parity.json'}")
    return result


if __name__ == "__main__":
    main()
