"""Interface scoring on Docking Benchmark 5: decoys → labels → features → CV → shipped scorer.

One command regenerates everything from ``../shared/data/bm5`` (185 complexes, chain A receptor,
chain B ligand; the unbound pair superposed onto the bound complex)::

    python benchmarks/interface_scoring.py --seed 0

Stages (``--stages``, default all, in this order):

``decoys``
    Rigid-body decoys of every unbound pair (near-native moves and wrong-site poses) and their
    quality against the bound complex (DockQ, Fnat, i-RMSD, L-RMSD, CAPRI class), with
    :mod:`deeprank_like.structure.docking_decoys` and :mod:`deeprank_like.targets.dockq`:
    ``<work>/decoys/<ID>/*.pdb`` and ``<work>/labels.csv``. Skipped when ``labels.csv`` exists
    (``--redo-decoys`` forces it).
``features``
    One residue interface graph per decoy through :func:`deeprank_like.processing.process`
    (modules :data:`~deeprank_like.pretrained.docking.FEATURE_MODULES`, labels as query
    targets) into ``<work>/features-NNN.hdf5``, ``--chunk-complexes`` complexes per file in
    PDB-id order, first ``--first-pass-decoys`` decoys of every complex, then the rest; resumes an
    interrupted run. Later stages use the finished files.
``cv``
    5-fold cross-validation over complexes (all decoys of a complex in one fold; folds drawn
    with the seed): a GINE network regressing DockQ (BCE on the soft DockQ label, sigmoid
    output), and the baselines on the same decoys: random, inter-residue contact count (residue
    pairs of different sides closer than 5 Å), sum of contact energies (Coulomb + Lennard-Jones
    over inter-side edges; lower is better) and buried surface area (sum of ``bsa``).
    Training takes ``--train-decoys`` decoys per complex of the training folds (a seeded
    sample, half near-native and half wrong-site); every decoy of the held-out complexes is
    scored and evaluated.
``cnn``
    The same CV for a 3D CNN on grids, on a subset (``--cnn-complexes`` complexes ×
    ``--cnn-decoys`` decoys spread over the DockQ range), with the GNN retrained on the same
    subset for a like-for-like comparison.
``modules``
    Ablation of the modules the scorer leaves out: a seeded subset (``--modules-complexes``
    complexes × ``--modules-decoys`` decoys spread over the DockQ range) featurised with every
    feature module that applies to these decoys (:data:`ALL_MODULES`; ``conservation`` needs
    PSSMs, which BM5 does not have) into ``<work>/allmodules.hdf5``, and the same
    complex-grouped CV of the GNN on those graphs with the scorer's features and with all
    features.
``ship``
    The GNN trained on every complex (``--train-decoys`` decoys of each), written with
    :func:`~deeprank_like.pretrained.docking.save_scoring_model` to ``--model-out``.
``report``
    Tables and plots into ``--docs`` (``interface-scoring.md`` between the result markers,
    PNGs under ``img/``) and ``<work>/results.json``.

Metrics (per held-out fold and pooled over all folds): median over complexes of the Spearman
correlation between score and DockQ; top-1 / top-10 success (share of complexes whose best
ranked decoy / one of the 10 best is acceptable, DockQ ≥ 0.23); AUC of acceptable vs incorrect
decoys, pooled over the decoys of the held-out complexes. The random baseline is the mean of
100 seeded shuffles.

Prints ``name: value unit`` lines (queries/s featurised, graphs/s trained, peak memory, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

# Threads that sleep when idle: on a shared machine spinning OpenMP threads collapse throughput
# (see benchmarks/train.py); must be set before torch starts.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "bm5"
LABELS = ("dockq", "fnat", "irmsd", "lrmsd", "capri_class")
ACCEPTABLE = 0.23
MEDIUM = 0.49
CONTACT_CUTOFF = 5.0  # Å, residue pairs counted by the contact-count baseline
STAGES = ("decoys", "features", "cv", "cnn", "modules", "ship", "report")
SCORES = {  # column → label, in table order
    "gnn": "GNN (GINE, mean+max+sum readout)",
    "random": "random",
    "contacts": "contact count",
    "energy": "contact energy (Coulomb + LJ)",
    "bsa": "buried surface area",
}
RESULTS_START = "<!-- results:start (written by benchmarks/interface_scoring.py) -->"
RESULTS_END = "<!-- results:end -->"


@dataclass
class Settings:
    """Everything the pipeline depends on (stored in ``results.json``)."""

    seed: int = 0
    data: str = str(DEFAULT_DATA)
    work: str = "/work/runs/bm5"
    complexes: int | None = None
    ids: list[str] | None = None
    decoys: int = 100
    folds: int = 5
    cpu_count: int = 2
    chunk_complexes: int = 10
    first_pass_decoys: int = 30
    train_decoys: int = 60
    forcefield_version: int = 2
    epochs: int = 4
    batch_size: int = 32
    hidden: int = 32
    layers: int = 3
    edge_readout: bool = False
    lr: float = 2e-3
    threads: int = 1
    cnn_complexes: int = 40
    cnn_decoys: int = 15
    cnn_epochs: int = 15
    modules_complexes: int = 40
    modules_decoys: int = 30
    modules_epochs: int = 6
    grid_points: int = 16
    grid_size: float = 24.0
    model_out: str = str(ROOT / "deeprank_like" / "pretrained" / "docking")
    docs: str = str(ROOT / "docs" / "benchmarks")
    stages: list[str] = field(default_factory=lambda: list(STAGES))
    redo_decoys: bool = False


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def figure(name: str, value: float, unit: str) -> None:
    """A ``name: value unit`` result line on stdout."""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    print(f"{name}: {text} {unit}", flush=True)


def peak_memory_mb() -> tuple[float, float]:
    """Peak resident memory (MB) of this process and of its largest finished child."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return own, kids


# ---- stage 1: decoys and labels ----------------------------------------------------------------
def complex_ids(
    data: Path, limit: int | None, seed: int, only: list[str] | None = None
) -> list[str]:
    """Complex ids with both the bound and the unbound file (``only`` those, or a seeded sample)."""
    ids = sorted(
        p.name[: -len("_target-unbound.pdb.gz")] for p in data.glob("*_target-unbound.pdb.gz")
    )
    ids = [i for i in ids if (data / f"{i}_target.pdb.gz").exists()]
    if not ids:
        raise FileNotFoundError(f"{data}: no <ID>_target.pdb.gz / <ID>_target-unbound.pdb.gz pairs")
    if only:
        missing = sorted(set(only) - set(ids))
        if missing:
            raise FileNotFoundError(f"{data}: no bound/unbound pair for {missing}")
        ids = sorted(set(only))
    if limit is not None and limit < len(ids):
        rng = np.random.default_rng(seed)
        ids = sorted(rng.choice(ids, size=limit, replace=False).tolist())
    return ids


def complex_decoys(data: str, cid: str, out_dir: str, n_decoys: int, seed: int) -> list[dict]:
    """Decoys of one complex (half near-native, half wrong-site) and their labels.

    The unbound pair (chain A receptor, B ligand) is posed with
    :func:`~deeprank_like.structure.docking_decoys.sample_docking_poses` (seeded by ``seed``
    and the complex id, so independent of the order complexes run in), written as PDB files
    and scored against the bound complex in one batch (:meth:`DockQPlan.score_rigid`).
    """
    import zlib

    from deeprank_like.structure.docking_decoys import (
        DockingDecoySettings,
        read_atom_table,
        sample_docking_poses,
        write_decoy_pdbs,
    )
    from deeprank_like.targets.dockq import DockQPlan

    unbound = read_atom_table(Path(data) / f"{cid}_target-unbound.pdb.gz")
    bound = read_atom_table(Path(data) / f"{cid}_target.pdb.gz")
    moving = unbound.chain_ids == "B"
    settings = DockingDecoySettings(
        n_near_native=n_decoys - n_decoys // 2, n_wrong_site=n_decoys // 2
    )
    poses = sample_docking_poses(
        unbound.coords[~moving],
        unbound.coords[moving],
        settings=settings,
        seed=[int(seed), zlib.crc32(cid.encode())],
    )
    names = [f"{cid}_{kind}_{k:03d}" for k, kind in enumerate(poses.kinds)]
    paths = write_decoy_pdbs(unbound, moving, poses, Path(out_dir) / cid, names)
    plan = DockQPlan(unbound, bound, "A,B")
    scores = plan.score_rigid(
        unbound.coords, moving, poses.rotations, poses.translations, poses.center
    )
    return [
        {
            "complex": cid,
            "file": f"decoys/{cid}/{p.name}",
            **scores.row(k),
            "kind": str(poses.kinds[k]),
        }
        for k, p in enumerate(paths)
    ]


def _complex_decoys_task(args: tuple) -> tuple[str, list[dict] | str]:
    cid = args[1]
    try:
        return cid, complex_decoys(*args)
    except Exception as exc:  # one bad complex must not stop the benchmark
        return cid, f"{type(exc).__name__}: {exc}"


def stage_decoys(s: Settings) -> Path:
    """Generate decoys and labels (``<work>/labels.csv``) with the decoy library."""
    from concurrent.futures import ProcessPoolExecutor

    work = Path(s.work)
    labels = work / "labels.csv"
    if labels.exists() and not s.redo_decoys:
        log(f"decoys: {labels} exists, kept (--redo-decoys to regenerate)")
        return labels
    ids = complex_ids(Path(s.data), s.complexes, s.seed, s.ids)
    t0 = time.perf_counter()
    tasks = [(s.data, cid, str(work / "decoys"), s.decoys, s.seed) for cid in ids]
    rows: list[dict] = []
    failed: dict[str, str] = {}
    if s.cpu_count > 1 and len(tasks) > 1:
        with ProcessPoolExecutor(min(s.cpu_count, len(tasks))) as pool:
            results = list(pool.map(_complex_decoys_task, tasks))
    else:
        results = [_complex_decoys_task(t) for t in tasks]
    for cid, out in results:
        if isinstance(out, str):
            failed[cid] = out
            log(f"decoys: {cid} failed: {out}")
        else:
            rows += out
    if not rows:
        raise RuntimeError(f"no decoys generated; failures: {failed}")
    pd.DataFrame(rows).to_csv(labels, index=False)
    dt = time.perf_counter() - t0
    figure("decoys_generated", len(rows), "decoys")
    figure("decoys_failed_complexes", len(failed), "complexes")
    figure("decoys_per_s", len(rows) / dt, "decoys/s")
    return labels


CAPRI_CODES = {"high": 1, "medium": 2, "acceptable": 3, "incorrect": 4}


def load_labels(path: Path) -> pd.DataFrame:
    """labels.csv with absolute decoy paths (column ``path``), CAPRI class as 1 (high) … 4.

    Without ``labels.csv``, the per-complex files ``labels/<ID>.csv`` next to it (written by
    the decoy generator as each complex finishes) are read: only finished complexes.
    """
    parts = sorted((path.parent / "labels").glob("*.csv"))
    if path.exists():
        frame = pd.read_csv(path)
    elif parts:
        frame = pd.concat([pd.read_csv(p) for p in parts], ignore_index=True)
    else:
        raise FileNotFoundError(f"{path}: no labels (and no {path.parent / 'labels'}/*.csv)")
    if not pd.api.types.is_numeric_dtype(frame["capri_class"]):
        frame["capri_class"] = frame["capri_class"].map(CAPRI_CODES)
    missing = [c for c in ("complex", "file", *LABELS) if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    base = path.parent

    def resolve(row: Any) -> str:
        p = Path(str(row.file))
        first = p if p.is_absolute() else base / p
        for cand in (first, base / "decoys" / str(row.complex) / p.name):
            if cand.exists():
                return str(cand.resolve())
        return str(base / p)

    frame["path"] = [resolve(r) for r in frame.itertuples()]
    frame["complex"] = frame["complex"].astype(str)
    return frame


# ---- stage 2: features ------------------------------------------------------------------------
def model_id(row: Any) -> str:
    stem = Path(str(row.path)).name.split(".")[0]
    return stem if stem.startswith(str(row.complex)) else f"{row.complex}_{stem}"


def build_queries(labels: pd.DataFrame) -> tuple[list, dict[str, str]]:
    """PPI queries (labels as targets) and the map query id → complex."""
    from deeprank_like import ProteinProteinInterfaceQuery

    queries, groups = [], {}
    for row in labels.itertuples():
        targets = {k: float(getattr(row, k)) for k in LABELS}
        targets["capri_class"] = int(row.capri_class)
        q = ProteinProteinInterfaceQuery(
            pdb_path=row.path, chain_ids=["A", "B"], targets=targets, model_id=model_id(row)
        )
        queries.append(q)
        groups[q.get_query_id()] = str(row.complex)
    return queries, groups


def feature_modules(s: Settings) -> list[Any]:
    """The scorer's feature modules, ``contact`` on the force-field tables of ``s``.

    Version 1 reproduces the committed run (featurised before the force-field fix; see
    :func:`deeprank_like.domain.forcefield.load_forcefield`); the scorer shipped from it
    records the version and computes its features the same way.
    """
    from deeprank_like.features.contact import Contact
    from deeprank_like.pretrained.docking import FEATURE_MODULES

    return [
        Contact(forcefield_version=s.forcefield_version) if m == "contact" else m
        for m in FEATURE_MODULES
    ]


def feature_files(work: str | Path) -> list[Path]:
    """The finished chunk files ``features-NNN.hdf5`` (shards of a running chunk excluded)."""
    return sorted(Path(work).glob("features-[0-9][0-9][0-9].hdf5"))


def decoy_tiers(labels: pd.DataFrame, first: int, seed: int) -> np.ndarray:
    """0 for the ``first`` decoys of each complex featurised in the first pass, else 1.

    The first-pass decoys are a seeded random half from each ``kind`` (near-native,
    wrong-site), so a first pass alone already covers every complex and the DockQ range.
    """
    import zlib

    tier = np.ones(len(labels), dtype=np.int64)
    if first <= 0:
        return tier * 0
    kinds = labels["kind"].astype(str) if "kind" in labels else pd.Series([""] * len(labels))
    for cid, idx in labels.groupby("complex", sort=True).indices.items():
        rng = np.random.default_rng([int(seed), zlib.crc32(str(cid).encode())])
        groups = [idx[kinds.to_numpy()[idx] == k] for k in sorted(set(kinds.to_numpy()[idx]))]
        quota = [first // len(groups) + (g < first % len(groups)) for g in range(len(groups))]
        for members, n in zip(groups, quota, strict=True):
            chosen = rng.permutation(np.sort(members))[:n]
            tier[chosen] = 0
    return tier


def feature_chunks(labels: pd.DataFrame, s: Settings) -> list[np.ndarray | None]:
    """Row indices of ``labels`` per chunk file: first-pass decoys of every complex, then the
    rest; each pass cut into chunks of ``chunk_complexes`` complexes of the data folder in
    PDB-id order (the decoy generator's order, so chunks can start while it runs). None for a
    chunk with a complex that has no labels (yet)."""
    order = complex_ids(Path(s.data), s.complexes, s.seed, s.ids)
    tier = decoy_tiers(labels, s.first_pass_decoys, s.seed)
    complexes = labels["complex"].to_numpy()
    chunks = []
    for t in (0, 1):
        for k in range(0, len(order), s.chunk_complexes):
            members = order[k : k + s.chunk_complexes]
            rows = np.flatnonzero(np.isin(complexes, members) & (tier == t))
            ready = set(members) <= set(complexes)
            chunks.append(rows if ready else None)
    return chunks


def feature_totals(work: str | Path) -> dict[str, Any]:
    """Totals over every featurisation run of ``work`` (``features_chunks.jsonl``): queries
    computed, failed, seconds spent computing them and queries/s (chunks with work only)."""
    path = Path(work) / "features_chunks.jsonl"
    if not path.exists():
        return {}
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    busy = [r for r in records if r["processed"] or r["failed"]]
    seconds = sum(r["seconds"] for r in busy)
    processed = sum(r["processed"] for r in busy)
    return {
        "processed": processed,
        "failed": sum(r["failed"] for r in busy),
        "seconds": seconds,
        "queries_per_s": processed / seconds if seconds else float("nan"),
        "chunks": len({r["chunk"] for r in records}),
    }


def stage_features(s: Settings, labels: pd.DataFrame) -> dict[str, Any]:
    """Featurise every decoy, ``chunk_complexes`` complexes per HDF5 file (resumable)."""
    from deeprank_like.pretrained.docking import FEATURE_MODULES
    from deeprank_like.processing import Execution, FeaturizeConfig, process

    t0 = time.perf_counter()
    processed = skipped = 0
    failures: list[str] = []
    chunks = feature_chunks(labels, s)
    for k, rows in enumerate(chunks):
        if rows is None:
            log(
                f"features: chunk {k + 1}/{len(chunks)} skipped, its complexes are not all labelled"
            )
            continue
        if rows.size == 0:
            continue
        queries, _ = build_queries(labels.iloc[rows])
        prefix = Path(s.work) / f"features-{k:03d}"
        resume = Path(f"{prefix}.hdf5").exists() or any(
            Path(s.work).glob(f"features-{k:03d}.shard-*.hdf5")
        )
        config = FeaturizeConfig(
            output=str(prefix),
            feature_modules=feature_modules(s),
            processing=Execution(cpu_count=s.cpu_count, resume=resume, progress=True),
        )
        summary = process(queries, config)
        processed += summary.processed
        skipped += summary.skipped
        record = {
            "chunk": k,
            "queries": len(queries),
            "processed": summary.processed,
            "skipped": summary.skipped,
            "failed": len(summary.failures),
            "seconds": summary.seconds,
            "peak_rss_worker_mb": peak_memory_mb()[1],
        }
        with open(Path(s.work) / "features_chunks.jsonl", "a") as fh:
            fh.write(json.dumps(record) + "\n")
        failures += [str(f) for f in summary.failures]
        dt = time.perf_counter() - t0
        log(f"features: chunk {k + 1}/{len(chunks)} done, {processed} queries in {dt:.0f} s")
    dt = time.perf_counter() - t0
    own, kids = peak_memory_mb()
    out = {
        "queries": len(labels),
        "processed": processed,
        "skipped": skipped,
        "failed": len(failures),
        "wall_s": dt,
        "queries_per_s": processed / dt if dt > 0 else float("nan"),
        "file_mb": sum(p.stat().st_size for p in feature_files(s.work)) / 1e6,
        "files": len(feature_files(s.work)),
        "peak_rss_main_mb": own,
        "peak_rss_worker_mb": kids,
        "modules": list(FEATURE_MODULES),
        "failures": failures[:50],
    }
    figure("featurize_queries", len(labels), "queries")
    figure("featurize_wall", dt, "s")
    figure("featurize_queries_per_s", out["queries_per_s"], "queries/s")
    figure("featurize_failed", out["failed"], "queries")
    figure("features_files", out["file_mb"], "MB")
    figure("featurize_peak_rss_worker", kids, "MB")
    return out


# ---- per-decoy table and baselines ------------------------------------------------------------
def entry_table(files: list[Path], labels: pd.DataFrame) -> pd.DataFrame:
    """One row per stored entry: labels, complex and the baseline scores."""
    _, groups = build_queries(labels)
    by_qid = {qid: row for qid, row in zip(groups, labels.itertuples(), strict=True)}
    rows = []
    for path in files:
        rows += _entry_rows(path, by_qid)
    frame = pd.DataFrame(rows).drop_duplicates("entry", keep="first")  # a resumed pass may repeat
    return frame.sort_values("entry").reset_index(drop=True)


def _entry_rows(path: Path, by_qid: dict[str, Any]) -> list[dict[str, Any]]:
    import h5py

    from deeprank_like.storage.schema import entry_id as decode_entry

    rows = []
    with h5py.File(path, "r") as f:
        for name in f:
            if name.startswith("_"):
                continue
            g = f[name]
            qid = decode_entry(name)
            if qid not in by_qid:
                continue
            query = json.loads(g.attrs["query"])
            side_of = {
                c: k
                for k, side in enumerate(query["chain_ids"])
                for c in ([side] if isinstance(side, str) else side)
            }
            chains = [c.decode() for c in g["node_ids"]["chain"]]
            side = np.array([side_of.get(c, -1) for c in chains])
            ei = g["edge_index"][()]
            inter = side[ei[0]] != side[ei[1]]
            ef = g["edge_features"]
            dist = ef["distance"][()]
            energy = ef["electrostatic"][()] + ef["vanderwaals"][()]
            row = by_qid[qid]
            rows.append(
                {
                    "entry": qid,
                    "complex": str(row.complex),
                    "file": str(row.path),
                    "kind": getattr(row, "kind", ""),
                    **{k: getattr(row, k) for k in LABELS},
                    "nodes": len(chains),
                    "edges": ei.shape[1],
                    "contacts": float((inter & (dist < CONTACT_CUTOFF)).sum()),
                    "energy": -float(energy[inter].astype(np.float64).sum()),
                    "bsa": float(g["node_features"]["bsa"][()].astype(np.float64).sum()),
                }
            )
    return rows


# ---- metrics ----------------------------------------------------------------------------------
def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney, ties count half); NaN with one class only."""
    from scipy.stats import rankdata

    pos = np.asarray(positive, dtype=bool)
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if n1 == 0 or n0 == 0:
        return float("nan")
    r = rankdata(scores)
    return float((r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def ranked(group: pd.DataFrame, score: str) -> pd.DataFrame:
    """The decoys of one complex best first; ties in a seeded random order (by complex id), so
    a constant score ranks like a random one instead of like the file order."""
    import zlib

    key = zlib.crc32(str(group["complex"].iloc[0]).encode())
    tie = np.random.default_rng(key).permutation(len(group))
    return group.assign(_tie=tie).sort_values([score, "_tie"], ascending=[False, True])


def success_curve(frame: pd.DataFrame, score: str, n_max: int = 100) -> np.ndarray:
    """Share of complexes with an acceptable decoy among the N best ranked, N = 1..n_max."""
    hits = np.zeros(n_max)
    groups = list(frame.groupby("complex", sort=True))
    for _, g in groups:
        order = ranked(g, score)["dockq"].to_numpy()
        good = np.flatnonzero(order >= ACCEPTABLE)
        if good.size and good[0] < n_max:
            hits[good[0] :] += 1
    return hits / max(len(groups), 1)


def ranking_metrics(frame: pd.DataFrame, score: str) -> dict[str, float]:
    """Median per-complex Spearman, top-1/5/10 success, top-1 at medium quality, pooled AUC.

    ``score``: higher is better. ``top1_medium``: share of complexes whose best-ranked decoy
    has DockQ ≥ 0.49 (medium or high).
    """
    from scipy.stats import spearmanr

    rhos = []
    for _, g in frame.groupby("complex", sort=True):
        if g[score].nunique() > 1 and g["dockq"].nunique() > 1:
            rhos.append(float(spearmanr(g[score], g["dockq"]).statistic))
    curve = success_curve(frame, score, 10)
    firsts = pd.concat([ranked(g, score).head(1) for _, g in frame.groupby("complex", sort=True)])
    return {
        "complexes": int(frame["complex"].nunique()),
        "decoys": len(frame),
        "spearman_median": float(np.median(rhos)) if rhos else float("nan"),
        "top1": float(curve[0]),
        "top5": float(curve[4]),
        "top10": float(curve[9]),
        "top1_medium": float((firsts["dockq"] >= MEDIUM).mean()),
        "auc": auc(frame[score].to_numpy(), frame["dockq"].to_numpy() >= ACCEPTABLE),
    }


def random_metrics(frame: pd.DataFrame, seed: int, repeats: int = 100) -> dict[str, float]:
    """Mean metrics of ``repeats`` seeded random scorings."""
    rng = np.random.default_rng(seed)
    runs = []
    for _ in range(repeats):
        f = frame.assign(_random=rng.random(len(frame)))
        runs.append(ranking_metrics(f, "_random"))
    out = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
    out["complexes"], out["decoys"] = runs[0]["complexes"], runs[0]["decoys"]
    return out


def random_curve(
    frame: pd.DataFrame, seed: int, n_max: int = 100, repeats: int = 100
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    curves = [
        success_curve(frame.assign(_r=rng.random(len(frame))), "_r", n_max) for _ in range(repeats)
    ]
    return np.mean(curves, axis=0)


def complex_folds(complexes: list[str], k: int, seed: int) -> dict[str, int]:
    """complex → fold (0..k-1): sorted ids, seeded permutation, dealt round-robin."""
    ids = sorted(set(complexes))
    k = min(k, len(ids))
    order = np.random.default_rng(seed).permutation(len(ids))
    return {ids[j]: pos % k for pos, j in enumerate(order)}


# ---- GNN ----------------------------------------------------------------------------------
#: Feature transforms of the GNN (energies span many orders of magnitude).
TRANSFORMS = {"electrostatic": "signed_log1p", "vanderwaals": "signed_log1p", "distance": "log1p"}


def soft_bce(output: Any, target: Any) -> Any:
    """Binary cross-entropy of the logit against the soft label DockQ ∈ [0, 1]."""
    import torch.nn.functional as F

    return F.binary_cross_entropy_with_logits(output, target.clamp(0.0, 1.0))


def graph_dataset(files: list[Path], subset: list[str] | None = None) -> Any:
    from deeprank_like.data import GraphDataset

    return GraphDataset(
        [str(p) for p in files],
        subset=subset,
        target="dockq",
        task="regress",
        transforms=TRANSFORMS,
        standardize=True,
        in_memory=True,
    )


def train_gnn(s: Settings, train: Any, out_dir: Path, seed: int) -> tuple[Any, float]:
    """Train a GINE network on ``train``; returns (trainer, median train graphs/s)."""
    from deeprank_like.pretrained.docking import DockingGINE
    from deeprank_like.training import Trainer, build_model_for

    model = build_model_for(
        DockingGINE, train, hidden_size=s.hidden, num_layers=s.layers, edge_readout=s.edge_readout
    )
    trainer = Trainer(
        model,
        train,
        loss=soft_bce,
        lr=s.lr,
        scheduler="cosine",
        seed=seed,
        output_dir=out_dir,
        device="cpu",
        distributed=False,
    )
    history = trainer.train(s.epochs, batch_size=s.batch_size, checkpoint=None, best_model=False)
    rate = history.loc[history["phase"] == "train", "items_per_s"].median()
    return trainer, float(rate)


def predict_logits(trainer: Any, dataset: Any) -> pd.Series:
    frame = trainer.predict(dataset, batch_size=128)
    return pd.Series(frame["output"].to_numpy(), index=frame["entry"].astype(str))


def load_graphs(s: Settings, table: pd.DataFrame) -> Any:
    """Every graph of ``table`` read into memory once (shared by CV, CNN comparison, shipping)."""
    dataset = graph_dataset(feature_files(s.work), subset=table["entry"].tolist())
    ids = pd.Series(dataset.entry_ids())
    if ids.duplicated().any():  # the same entry in two chunk files: keep the first
        dataset = dataset.subset(np.flatnonzero(~ids.duplicated().to_numpy()))
    t0 = time.perf_counter()
    dataset.preload(num_workers=s.cpu_count if s.cpu_count > 1 else 0)
    figure("load_graphs_per_s", len(dataset) / (time.perf_counter() - t0), "graphs/s")
    return dataset


def training_rows(s: Settings, table: pd.DataFrame, entries: np.ndarray) -> np.ndarray:
    """Mask over ``entries``: the ``train_decoys`` decoys per complex that training uses.

    A seeded sample per complex, half near-native and half wrong-site moves
    (:func:`decoy_tiers`); every decoy of a held-out complex is still scored and evaluated.
    ``train_decoys <= 0`` trains on every decoy.
    """
    if s.train_decoys <= 0:
        return np.ones(len(entries), dtype=bool)
    frame = table.reset_index(drop=True)
    chosen = set(frame.loc[decoy_tiers(frame, s.train_decoys, s.seed) == 0, "entry"])
    return np.array([e in chosen for e in entries], dtype=bool)


def stage_cv(s: Settings, dataset: Any, table: pd.DataFrame) -> dict[str, Any]:
    """5-fold complex-grouped CV of the GNN; adds column ``gnn`` (held-out logits) to ``table``."""
    import torch

    torch.set_num_threads(s.threads)
    folds = complex_folds(table["complex"].tolist(), s.folds, s.seed)
    table["fold"] = table["complex"].map(folds)
    t0 = time.perf_counter()
    entries = np.array(dataset.entry_ids())
    fold_of = table.set_index("entry")["fold"].reindex(entries).to_numpy()
    trainable = training_rows(s, table, entries)
    preds: dict[str, float] = {}
    rates = []
    for k in sorted(set(folds.values())):
        t1 = time.perf_counter()
        train = dataset.subset(np.flatnonzero((fold_of != k) & trainable))
        test = dataset.subset(np.flatnonzero(fold_of == k), train_source=train)
        trainer, rate = train_gnn(s, train, Path(s.work) / "cv" / f"fold{k}", s.seed + k)
        rates.append(rate)
        preds.update(predict_logits(trainer, test).to_dict())
        log(f"cv fold {k}: {len(train)} train / {len(test)} test graphs, {rate:.0f} graphs/s, "
            f"{time.perf_counter() - t1:.0f} s")  # fmt: skip
    table["gnn"] = table["entry"].map(preds)
    figure("train_graphs_per_s", float(np.median(rates)), "graphs/s")
    own, _ = peak_memory_mb()
    figure("cv_peak_rss", own, "MB")
    return {"train_graphs_per_s": rates, "wall_s": time.perf_counter() - t0, "peak_rss_mb": own}


def evaluate(table: pd.DataFrame, scores: list[str], seed: int) -> dict[str, Any]:
    """Metrics per fold and pooled, for each score column (and random)."""
    out: dict[str, Any] = {"pooled": {}, "folds": {}}
    for name in scores:
        if name == "random":
            out["pooled"][name] = random_metrics(table, seed)
        else:
            out["pooled"][name] = ranking_metrics(table, name)
    for k, g in table.groupby("fold", sort=True):
        out["folds"][int(k)] = {
            name: random_metrics(g, seed) if name == "random" else ranking_metrics(g, name)
            for name in scores
        }
    return out


# ---- CNN on grids (subset) ----------------------------------------------------------------
def cnn_subset(
    table: pd.DataFrame,
    s: Settings,
    complexes: int | None = None,
    decoys: int | None = None,
    offset: int = 1,
) -> pd.DataFrame:
    """``complexes`` complexes (seeded; default ``cnn_complexes``) × ``decoys`` decoys (default
    ``cnn_decoys``) evenly spread over DockQ."""
    complexes = s.cnn_complexes if complexes is None else complexes
    decoys = s.cnn_decoys if decoys is None else decoys
    ids = sorted(table["complex"].unique())
    rng = np.random.default_rng(s.seed + offset)
    chosen = sorted(rng.choice(ids, size=min(complexes, len(ids)), replace=False).tolist())
    parts = []
    for cid in chosen:
        g = table[table["complex"] == cid].sort_values(["dockq", "entry"])
        take = np.unique(np.linspace(0, len(g) - 1, min(decoys, len(g))).round().astype(int))
        parts.append(g.iloc[take])
    return pd.concat(parts).reset_index(drop=True)


def cnn_model(train: Any) -> Any:
    """The 3D CNN of the comparison, sized for the grid dataset ``train``; outputs logits.

    :func:`soft_bce` takes logits. Without ``output_activation="none"``,
    :func:`~deeprank_like.training.build_model_for` gives a DockQ regression a sigmoid
    output, and BCE-with-logits on a sigmoid pushes every output to 0, where its gradient
    vanishes: the constant CNN of the first run (loss ln 2 and zero gradient from the second
    epoch on).
    """
    from deeprank_like.training import build_model_for

    return build_model_for(
        "cnn3d", train, channels=[16, 32], hidden_size=64, output_activation="none"
    )


def subset_cv_gnn(
    s: Settings, ds: Any, sub: pd.DataFrame, epochs: int, prefix: Path
) -> dict[str, float]:
    """Held-out GNN logits (entry → logit) for the decoys of ``sub`` over its ``fold`` column.

    ``ds`` holds exactly those graphs; fold ``k`` trains ``epochs`` epochs with seed
    ``s.seed + k`` into ``<prefix><k>``.
    """
    fold_of = sub.set_index("entry")["fold"].reindex(np.array(ds.entry_ids())).to_numpy()
    fold_settings = Settings(**{**asdict(s), "epochs": epochs})
    preds: dict[str, float] = {}
    for k in sorted(sub["fold"].unique()):
        train = ds.subset(np.flatnonzero(fold_of != k))
        test = ds.subset(np.flatnonzero(fold_of == k), train_source=train)
        trainer, _ = train_gnn(fold_settings, train, Path(f"{prefix}{k}"), s.seed + k)
        preds.update(predict_logits(trainer, test).to_dict())
    return preds


def stage_cnn(
    s: Settings, labels: pd.DataFrame, table: pd.DataFrame, all_graphs: Any
) -> dict[str, Any]:
    """Grids for the subset, then the same complex-grouped CV for a 3D CNN and the GNN."""
    import torch

    from deeprank_like.data import GridDataset
    from deeprank_like.processing import Execution, FeaturizeConfig, GridConfig, process
    from deeprank_like.training import Trainer

    torch.set_num_threads(s.threads)
    sub = cnn_subset(table, s)
    keep = set(sub["file"])
    queries, _ = build_queries(labels[labels["path"].isin(keep)])
    prefix = Path(s.work) / "grids"
    t0 = time.perf_counter()
    config = FeaturizeConfig(
        output=str(prefix),
        feature_modules=feature_modules(s),
        processing=Execution(
            cpu_count=s.cpu_count, resume=Path(f"{prefix}.hdf5").exists(), progress=False
        ),
        grid=GridConfig(
            points_counts=(s.grid_points,) * 3, sizes=(s.grid_size,) * 3, method="gaussian"
        ),
    )
    summary = process(queries, config)
    grid_wall = time.perf_counter() - t0
    figure("grid_queries_per_s", summary.processed / grid_wall if grid_wall else 0.0, "queries/s")
    h5 = Path(f"{prefix}.hdf5")
    figure("grids_file", h5.stat().st_size / 1e6, "MB")
    grids = GridDataset(
        str(h5),
        subset=sub["entry"].tolist(),
        features=["res_type", "polarity", "res_charge", "sasa", "bsa", "irc_total",
                  "electrostatic", "vanderwaals"],
        augment=False,
        target="dockq",
        task="regress",
        transforms={"electrostatic": "signed_log1p", "vanderwaals": "signed_log1p"},
        standardize=True,
        in_memory=True,
    )  # fmt: skip
    grids.preload()
    position = {e: i for i, e in enumerate(all_graphs.entry_ids())}
    graphs = all_graphs.subset([position[e] for e in sub["entry"]])
    folds = complex_folds(table["complex"].tolist(), s.folds, s.seed)
    sub["fold"] = sub["complex"].map(folds)
    preds: dict[str, dict[str, float]] = {"cnn": {}, "gnn_subset": {}}
    rates = []
    fold_of = sub.set_index("entry")["fold"].reindex(np.array(grids.entry_ids())).to_numpy()
    for k in sorted(sub["fold"].unique()):
        train = grids.subset(np.flatnonzero(fold_of != k))
        test = grids.subset(np.flatnonzero(fold_of == k), train_source=train)
        trainer = Trainer(
            cnn_model(train), train, loss=soft_bce, lr=1e-3, scheduler="cosine", seed=s.seed + k,
            output_dir=Path(s.work) / "cnn" / f"fold{k}", device="cpu", distributed=False,
        )  # fmt: skip
        hist = trainer.train(s.cnn_epochs, batch_size=16, checkpoint=None, best_model=False)
        rates.append(float(hist.loc[hist["phase"] == "train", "items_per_s"].median()))
        preds["cnn"].update(predict_logits(trainer, test).to_dict())
        log(f"cnn fold {k} done")
    preds["gnn_subset"] = subset_cv_gnn(s, graphs, sub, s.cnn_epochs, Path(s.work) / "cnn" / "gnn")
    for name, p in preds.items():
        sub[name] = sub["entry"].map(p)
    figure("cnn_train_grids_per_s", float(np.median(rates)), "grids/s")
    result = evaluate(
        sub, ["cnn", "gnn_subset", "gnn", "random", "contacts", "energy", "bsa"], s.seed
    )
    result["grid"] = {"points": s.grid_points, "size": s.grid_size, "wall_s": grid_wall,
                      "channels": len(grids.channels), "queries": summary.processed}  # fmt: skip
    result["subset_complexes"] = sorted(sub["complex"].unique().tolist())
    sub.to_csv(Path(s.work) / "cnn_predictions.csv", index=False)
    return result


# ---- module ablation (subset) ---------------------------------------------------------------
#: Every registered feature module that applies to BM5 decoys (``conservation`` needs PSSMs).
ALL_MODULES: tuple[str, ...] = (
    "components", "contact", "surfacearea", "irc", "exposure", "secondary_structure",
)  # fmt: skip


def stage_modules(s: Settings, labels: pd.DataFrame, table: pd.DataFrame) -> dict[str, Any]:
    """The subset featurised with :data:`ALL_MODULES`; GNN CV with the scorer's features vs all."""
    import torch

    from deeprank_like.data import GraphDataset
    from deeprank_like.features.contact import Contact
    from deeprank_like.processing import Execution, FeaturizeConfig, process

    torch.set_num_threads(s.threads)
    sub = cnn_subset(table, s, s.modules_complexes, s.modules_decoys, offset=2)
    queries, _ = build_queries(labels[labels["path"].isin(set(sub["file"]))])
    prefix = Path(s.work) / "allmodules"
    h5 = Path(f"{prefix}.hdf5")
    modules = [
        Contact(forcefield_version=s.forcefield_version) if m == "contact" else m
        for m in ALL_MODULES
    ]
    config = FeaturizeConfig(
        output=str(prefix),
        feature_modules=modules,
        processing=Execution(cpu_count=s.cpu_count, resume=h5.exists(), progress=False),
    )
    t0 = time.perf_counter()
    summary = process(queries, config)
    wall = time.perf_counter() - t0
    if summary.processed:
        figure("modules_queries_per_s", summary.processed / wall, "queries/s")
    scorer = graph_dataset(feature_files(s.work), subset=sub["entry"].head(1).tolist())
    variants = {  # the scorer's feature names, read from the scorer's own graphs
        "gnn_scorer_features": (scorer.node_features, scorer.edge_features),
        "gnn_all_features": ("all", "all"),
    }
    folds = complex_folds(table["complex"].tolist(), s.folds, s.seed)
    sub["fold"] = sub["complex"].map(folds)
    out: dict[str, Any] = {
        "queries": len(queries),
        "wall_s": wall,
        "modules": list(ALL_MODULES),
        "epochs": s.modules_epochs,
    }
    for name, (node, edge) in variants.items():
        ds = GraphDataset(
            str(h5), subset=sub["entry"].tolist(), node_features=node, edge_features=edge,
            target="dockq", task="regress", transforms=TRANSFORMS, standardize=True,
            in_memory=True,
        )  # fmt: skip
        ds.preload()
        out[f"{name}_node_features"] = len(ds.node_features)
        preds = subset_cv_gnn(s, ds, sub, s.modules_epochs, Path(s.work) / "modules" / name)
        sub[name] = sub["entry"].map(preds)
        log(f"modules: {name} done ({len(ds.node_features)} node features)")
    out.update(evaluate(sub, [*variants, "random", "contacts", "energy", "bsa"], s.seed))
    sub.to_csv(Path(s.work) / "modules_predictions.csv", index=False)
    return out


# ---- shipping -----------------------------------------------------------------------------
def stage_ship(s: Settings, dataset: Any, table: pd.DataFrame, metrics: dict[str, Any]) -> Path:
    """Train on every complex and write the scorer folder."""
    import torch

    from deeprank_like.pretrained.docking import FEATURE_MODULES, save_scoring_model

    torch.set_num_threads(s.threads)
    entries = np.array(dataset.entry_ids())
    train = dataset.subset(np.flatnonzero(training_rows(s, table, entries)))
    trainer, rate = train_gnn(s, train, Path(s.work) / "final", s.seed)
    figure("final_train_graphs_per_s", rate, "graphs/s")
    out = save_scoring_model(
        s.model_out,
        trainer.model.cpu().eval(),
        dataset.data_config(),
        query={
            "resolution": "residue",
            "influence_radius": 10.0,
            "max_edge_length": 10.0,
            "feature_modules": list(FEATURE_MODULES),
            "chain_ids": ["A", "B"],
        },
        forcefield_version=s.forcefield_version,
        training={
            "data": "Docking Benchmark 5 (BM5-clean), rigid-body decoys of the unbound pairs",
            "complexes": int(table["complex"].nunique()),
            "decoys": len(train),
            "decoys_featurised": len(table),
            "epochs": s.epochs,
            "batch_size": s.batch_size,
            "lr": s.lr,
            "optimizer": "adam",
            "scheduler": "cosine",
            "loss": "binary cross-entropy on the soft label DockQ",
            "seed": s.seed,
            "command": "python benchmarks/interface_scoring.py " + run_flags(asdict(s)),
        },
        metrics=metrics,
    )
    log(f"ship: scorer written to {out}")
    return out


def readout_text(s: Settings) -> str:
    """The GNN's readout in words (model card and report)."""
    if s.edge_readout:
        return (
            "a mean ‖ max ‖ sum/100 readout of the nodes plus the mean ‖ max of an edge MLP "
            "(one clashing edge reaches the head undiluted)"
        )
    return "mean ‖ max ‖ sum/100 readout"


def forcefield_note(version: int) -> str:
    """The model card's sentence on the force-field tables of the contact energies."""
    if version == 2:
        return "Energies use the force-field tables of this release (version 2)."
    return (
        "Energies use force-field tables version 1: the tables from before the fix of the "
        "topology parser that left 57 atoms (PHE/TYR/TRP ring atoms, HIS HE2, ILE/LEU/VAL "
        "methyl hydrogens) without charge and Lennard-Jones parameters. The scorer computes "
        "its features the same way (`model.json` records the version), so they match training."
    )


def model_card(s: Settings, table: pd.DataFrame, results: dict[str, Any]) -> str:
    """MODEL_CARD.md of the shipped scorer, with the cross-validation figures of this run."""
    from deeprank_like.pretrained.docking import FEATURE_MODULES

    cv = results.get("cv_metrics", {}).get("pooled", {})
    rows = metrics_table({k: cv[k] for k in SCORES if k in cv}, SCORES) if cv else "(not run)"
    n_complexes = int(table["complex"].nunique())
    n_decoys = int(training_rows(s, table, table["entry"].to_numpy()).sum())
    sample_text = (
        f"every one of the {len(table)} featurised"
        if n_decoys == len(table)
        else f"a seeded sample of the {len(table)} featurised"
    )
    class_note = ""
    if "gnn" in table.columns:  # held-out CV predictions: how far to trust the predicted class
        called = 1.0 / (1.0 + np.exp(-table["gnn"].to_numpy())) >= ACCEPTABLE
        good = table["dockq"].to_numpy() >= ACCEPTABLE
        class_note = (
            f" The predicted class is a rough guide: in the cross-validation "
            f"{100 * called[good].mean():.0f} % of the acceptable decoys were predicted "
            f"acceptable, and so were {100 * called[~good].mean():.0f} % of the incorrect ones."
        )
    return f"""# Model card: docking-model scorer (`deeprank-like score`)

## What it does
Predicts the DockQ (0–1, higher is better) of a protein–protein docking model from a residue
graph of its interface, to rank the models of a docking run. The predicted CAPRI class follows
from the predicted DockQ (acceptable ≥ 0.23, medium ≥ 0.49, high ≥ 0.80).

    deeprank-like score --ppi A,B -o scores.csv models/*.pdb
    deeprank_like.pretrained.docking.score_models(paths, "A,B")  # → DataFrame

## Model
`DockingGINE` (registered as `docking_gine`): {s.layers} GINE message-passing layers of width
{s.hidden} with a shared edge encoder, residual connections, {readout_text(s)} and an
MLP head; one logit, `predicted_dockq = sigmoid(logit)`. Files: `weights.pt` (a plain
`state_dict`, read with `torch.load(weights_only=True)`), `model.json` (network config, feature
list, transforms and standardisation, training record, metrics). No network access.

## Data
Docking Benchmark 5 (BM5-clean, Vreven et al. 2015; Apache-2.0): rigid-body decoys of the
unbound receptor–ligand pair superposed on the bound complex, near-native moves and wrong-site
poses over the receptor surface, labelled with DockQ against the bound complex. Trained on
{n_complexes} complexes, {n_decoys} decoys (about {n_decoys // max(n_complexes, 1)} per complex,
{sample_text}),
{s.epochs} epochs, Adam (lr {s.lr}), cosine schedule, batch
{s.batch_size}, binary cross-entropy on the soft label DockQ, seed {s.seed}:
`python benchmarks/interface_scoring.py {run_flags(asdict(s))}`.

## Features
Residue nodes of the interface (a heavy atom within 10 Å of the other side), edges up to 10 Å;
modules {", ".join(f"`{m}`" for m in FEATURE_MODULES)}: residue type, charge, polarity, size,
mass, pI, H-bond donors/acceptors; SASA and buried surface area; inter-residue contact counts by
polarity; edge distance, same-chain and covalent flags, Coulomb and Lennard-Jones energies.
{forcefield_note(s.forcefield_version)}

## Evaluation (5-fold cross-validation over complexes, held-out complexes only)
{rows}

Spearman: median over complexes of the rank correlation between score and DockQ; top-1 /
top-10: share of complexes with an acceptable decoy ranked first / in the 10 best; AUC:
acceptable against incorrect decoys, pooled. Details and per-fold figures:
`docs/benchmarks/interface-scoring.md`.

## Intended use
Ranking and triaging the models of one docking run of a protein–protein complex (two sides;
a side may be a chain group such as an antibody `H+L`, merged into one chain before scoring).

## Limits
* Trained on rigid-body decoys of unbound structures; accuracy on models refined with
  flexibility, or from other programs, is not measured (they are read correctly: other atom
  names, hydrogens, extra chains, HETATM records and mmCIF are handled).
* Scores are for ranking models of the same complex; absolute values across complexes are less
  reliable (predicted DockQ is pulled towards the training mean).{class_note}
* Two sides only; nucleic acids, ligands and glycans are ignored; non-standard residues are read
  as their parent amino acid.
* The training complexes are the BM5 set: do not use it to benchmark on BM5 itself.
"""


# ---- report ---------------------------------------------------------------------------------
def _fmt(v: float, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    return f"{100 * v:.1f} %" if pct else f"{v:.3f}"


def metrics_table(rows: dict[str, dict[str, float]], labels: dict[str, str]) -> str:
    lines = [
        "| scorer | complexes | decoys | Spearman (median per complex) | top-1 | top-5 | top-10 "
        "| top-1, medium | AUC |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key, m in rows.items():
        lines.append(
            f"| {labels.get(key, key)} | {m['complexes']} | {m['decoys']} | "
            f"{_fmt(m['spearman_median'])} | {_fmt(m['top1'], True)} | {_fmt(m['top5'], True)} | "
            f"{_fmt(m['top10'], True)} | {_fmt(m.get('top1_medium', float('nan')), True)} | "
            f"{_fmt(m['auc'])} |"
        )
    return "\n".join(lines)


def folds_table(folds: dict[int, dict[str, dict[str, float]]], scores: list[str]) -> str:
    head = "| fold | complexes | " + " | ".join(
        f"{SCORES.get(n, n)} ρ / top-1 / AUC" for n in scores
    )
    lines = [head + " |", "|---:|---:|" + "---:|" * len(scores)]
    for k, per in folds.items():
        cells = [
            f"{_fmt(per[n]['spearman_median'])} / {_fmt(per[n]['top1'], True)} / {_fmt(per[n]['auc'])}"
            for n in scores
        ]
        lines.append(f"| {k} | {per[scores[0]]['complexes']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plots(table: pd.DataFrame, img: Path, seed: int) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img.mkdir(parents=True, exist_ok=True)
    written = []
    pred = 1.0 / (1.0 + np.exp(-table["gnn"].to_numpy()))
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    ax.scatter(table["dockq"], pred, s=3, alpha=0.25, lw=0)
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set_xlabel("true DockQ")
    ax.set_ylabel("predicted DockQ (held-out fold)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(f"GNN, 5-fold CV over complexes ({table['complex'].nunique()} complexes)")
    fig.tight_layout()
    fig.savefig(img / "interface-scoring-pred-vs-true.png", dpi=120)
    plt.close(fig)
    written.append("interface-scoring-pred-vs-true.png")
    n_max = int(min(100, table.groupby("complex").size().max()))
    n = np.arange(1, n_max + 1)
    fig, ax = plt.subplots(figsize=(5.2, 4.0))
    for key in ("gnn", "contacts", "energy", "bsa"):
        ax.plot(n, success_curve(table, key, n_max), label=SCORES[key])
    ax.plot(n, random_curve(table, seed, n_max), "k:", label="random (mean of 100)")
    ax.set_xscale("log")
    ax.set_xlabel("N (top-ranked decoys per complex)")
    ax.set_ylabel("complexes with an acceptable decoy in the top N")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(img / "interface-scoring-success.png", dpi=120)
    plt.close(fig)
    written.append("interface-scoring-success.png")
    return written


def run_flags(settings: dict[str, Any]) -> str:
    """The command-line flags that reproduce a run (seed, and settings off their default)."""
    flags = [f"--seed {settings['seed']}"]
    for key in ("forcefield_version", "train_decoys", "epochs", "batch_size", "hidden", "layers",
                "lr", "edge_readout"):  # fmt: skip
        default = getattr(Settings, key)
        value = settings.get(key, default)
        if value == default:
            continue
        flag = "--" + key.replace("_", "-")
        flags.append(flag if value is True else f"{flag} {value}")
    return " ".join(flags)


def train_note(settings: dict[str, Any]) -> str:
    """One sentence on which decoys the networks were trained on."""
    n = settings.get("train_decoys", 0)
    if not n:
        return "The networks are trained on every decoy of the training complexes."
    return (
        f"The networks are trained on {n} decoys per training complex (a seeded sample, half "
        "near-native moves and half wrong-site poses); every decoy of a held-out complex is "
        "scored and counts in the metrics."
    )


def report_markdown(results: dict[str, Any]) -> str:
    cv = results["cv_metrics"]
    d = results["data"]
    scores = [k for k in SCORES if k in cv["pooled"]]
    parts = [
        f"Run: `python benchmarks/interface_scoring.py {run_flags(results['settings'])}` "
        f"({results['data']['complexes']} complexes, {results['data']['decoys']} decoys, "
        f"{results['data']['acceptable_share']:.1%} of them acceptable). "
        + train_note(results["settings"]),
        "",
        f"### Pooled over the {len(cv['folds'])} held-out folds",
        "",
        metrics_table({k: cv["pooled"][k] for k in scores}, SCORES),
        "",
        f"A complex has {d.get('decoys_per_complex_median', float('nan')):.0f} decoys (median), "
        f"{d.get('acceptable_per_complex_median', float('nan')):.0f} of them acceptable (at least "
        f"{d.get('acceptable_per_complex_min', 0)}), so even a random ranking puts an acceptable "
        f"decoy in the top 10 for {100 * cv['pooled']['random']['top10']:.1f} % of complexes: "
        "top-10 success cannot separate the scorers on these decoy sets; top-1, top-1 at medium "
        "quality (DockQ ≥ 0.49), the Spearman correlation and the AUC can.",
        "",
        "### Per fold (held-out complexes): median Spearman / top-1 / AUC",
        "",
        folds_table(cv["folds"], scores),
        "",
    ]
    if "cnn_metrics" in results:
        c = results["cnn_metrics"]
        labels = {**SCORES, "cnn": "3D CNN (grids)", "gnn_subset": "GNN trained on the subset",
                  "gnn": "GNN (full CV, same decoys)"}  # fmt: skip
        g = c["grid"]
        parts += [
            f"### 3D CNN on grids (subset: {len(c['subset_complexes'])} complexes)",
            "",
            f"Grids {g['points']}³ points over {g['size']:g} Å ({g['channels']} channels, "
            "Gaussian mapping); same folds.",
            "",
            metrics_table(c["pooled"], labels),
            "",
        ]
    if "modules" in results:
        m = results["modules"]
        labels = {
            **SCORES,
            "gnn_scorer_features": "GNN, the scorer's features "
            f"({m['gnn_scorer_features_node_features']} node features)",
            "gnn_all_features": "GNN, all modules "
            f"({m['gnn_all_features_node_features']} node features)",
        }
        names = ["gnn_scorer_features", "gnn_all_features", "random", "contacts", "energy", "bsa"]
        parts += [
            f"### Feature modules (subset: {m['queries']} decoys, "
            f"{m['pooled']['random']['complexes']} complexes)",
            "",
            "The same decoys featurised with every module that applies "
            f"({', '.join(f'`{x}`' for x in m['modules'])}; `conservation` needs PSSMs, which "
            f"BM5 does not have; {m['wall_s'] / 60:.0f} min); the GNN trained on the same folds "
            f"({m.get('epochs', '?')} epochs) with the scorer's features and with all of them.",
            "",
            metrics_table({k: m["pooled"][k] for k in names}, labels),
            "",
        ]
    tot = results.get("feature_totals") or {}
    if tot:
        cv_run = results.get("cv", {})
        rates = cv_run.get("train_graphs_per_s") or [float("nan")]
        parts += [
            "### Scale",
            "",
            "| figure | value |",
            "|---|---:|",
            f"| graphs in the feature files (all passes) | {tot['graphs']} ({tot['failed']} queries "
            "failed) |",
            f"| featurisation time ({results['settings']['cpu_count']} processes) | "
            f"{tot['seconds'] / 60:.0f} min |",
            f"| queries/s (over the chunks that computed queries) | {tot['queries_per_s']:.2f} |",
            f"| HDF5 files | {tot.get('file_mb', float('nan')):.0f} MB "
            f"({tot.get('kb_per_graph', float('nan')):.0f} kB per graph) |",
            f"| peak memory, featurisation worker | {tot['peak_rss_worker_mb']:.0f} MB |",
            f"| GNN training, graphs/s (median over folds) | {np.median(rates):.0f} |",
            f"| peak memory, CV (every graph in memory) | {cv_run.get('peak_rss_mb', float('nan')):.0f} MB |",
            "",
            "The two cores were shared with other jobs throughout (load average 3-14), so the "
            "rates are those of a busy machine. Featurisation time: the chunk runs that "
            "completed (time spent in interrupted runs is not counted).",
            "",
        ]
    parts += [
        "![predicted vs true DockQ](img/interface-scoring-pred-vs-true.png)",
        "![success rate vs N](img/interface-scoring-success.png)",
    ]
    return "\n".join(parts)


def report_totals(work: Path) -> dict[str, Any]:
    """Featurisation totals (``features_chunks.jsonl``), graphs and size of the finished files,
    peak resident memory of the worker processes (``ru_maxrss``, recorded per chunk)."""
    import h5py

    tot = feature_totals(work)
    if not tot:
        return {}
    files = feature_files(work)
    graphs = 0
    for path in files:
        with h5py.File(path, "r") as f:
            graphs += sum(1 for k in f if not k.startswith("_"))
    size = sum(p.stat().st_size for p in files)
    tot["graphs"] = graphs
    tot["file_mb"] = size / 1e6
    tot["kb_per_graph"] = size / 1e3 / max(graphs, 1)
    records = [
        json.loads(x) for x in (work / "features_chunks.jsonl").read_text().splitlines() if x
    ]
    peaks = [r["peak_rss_worker_mb"] for r in records if r.get("peak_rss_worker_mb")]
    tot["peak_rss_worker_mb"] = max(peaks, default=float("nan"))
    return tot


def write_docs(docs: Path, body: str) -> Path:
    """Put ``body`` between the result markers of ``interface-scoring.md`` (created if needed)."""
    docs.mkdir(parents=True, exist_ok=True)
    path = docs / "interface-scoring.md"
    text = path.read_text() if path.exists() else "# Interface scoring on Docking Benchmark 5\n\n"
    block = f"{RESULTS_START}\n{body}\n{RESULTS_END}"
    if RESULTS_START in text and RESULTS_END in text:
        head, rest = text.split(RESULTS_START, 1)
        tail = rest.split(RESULTS_END, 1)[1]
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
    return path


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and np.isnan(obj):
        return None
    return obj


# ---- driver -------------------------------------------------------------------------------
def run(s: Settings) -> dict[str, Any]:
    """Run the selected stages; returns the results dict (also written to results.json)."""
    work = Path(s.work)
    work.mkdir(parents=True, exist_ok=True)
    results_path = work / "results.json"
    results: dict[str, Any] = json.loads(results_path.read_text()) if results_path.exists() else {}
    results["settings"] = asdict(s)
    labels_path = stage_decoys(s) if "decoys" in s.stages else work / "labels.csv"
    labels = load_labels(labels_path)
    if "features" in s.stages:
        results["features"] = stage_features(s, labels)
    table_path = work / "decoys_table.csv"
    need_table = any(st in s.stages for st in ("cv", "cnn", "modules", "ship", "report"))
    if need_table:
        if "cv" in s.stages or not table_path.exists():
            table = entry_table(feature_files(work), labels)
        else:
            table = pd.read_csv(table_path, dtype={"complex": str})
        results["data"] = {
            "complexes": int(table["complex"].nunique()),
            "decoys": len(table),
            "acceptable_share": float((table["dockq"] >= ACCEPTABLE).mean()),
            "complexes_without_acceptable": int(
                (table.groupby("complex")["dockq"].max() < ACCEPTABLE).sum()
            ),
            "decoys_per_complex_median": float(table.groupby("complex").size().median()),
            "acceptable_per_complex_median": float(
                table.groupby("complex")["dockq"].apply(lambda d: (d >= ACCEPTABLE).sum()).median()
            ),
            "acceptable_per_complex_min": int(
                table.groupby("complex")["dockq"].apply(lambda d: (d >= ACCEPTABLE).sum()).min()
            ),
        }
    cache: list[Any] = []

    def graphs() -> Any:
        if not cache:
            cache.append(load_graphs(s, table))
        return cache[0]

    if "cv" in s.stages:
        results["cv"] = stage_cv(s, graphs(), table)
        table.to_csv(table_path, index=False)
    stale = "top1_medium" not in results.get("cv_metrics", {}).get("pooled", {}).get("gnn", {})
    if ("cv" in s.stages or ("report" in s.stages and stale)) and "gnn" in table.columns:
        results["cv_metrics"] = evaluate(table, list(SCORES), s.seed)  # from saved predictions
        for name, m in results["cv_metrics"]["pooled"].items():
            for key in ("spearman_median", "top1", "top5", "top10", "top1_medium", "auc"):
                figure(f"cv_{name}_{key}", m[key], "")
    cnn_path = work / "cnn_predictions.csv"
    if "cnn" in s.stages:
        results["cnn_metrics"] = stage_cnn(s, labels, table, graphs())
    elif "report" in s.stages and cnn_path.exists() and "cnn_metrics" in results and stale:
        sub = pd.read_csv(cnn_path, dtype={"complex": str})  # re-evaluate saved predictions
        scores = ["cnn", "gnn_subset", "gnn", "random", "contacts", "energy", "bsa"]
        results["cnn_metrics"].update(evaluate(sub, scores, s.seed))
    if "modules" in s.stages:
        results["modules"] = stage_modules(s, labels, table)
        for name in ("gnn_scorer_features", "gnn_all_features"):
            m = results["modules"]["pooled"][name]
            for key in ("spearman_median", "top1", "top10", "auc"):
                figure(f"modules_{name}_{key}", m[key], "")
    if "cnn_metrics" in results:
        for name, m in results["cnn_metrics"]["pooled"].items():
            figure(f"cnn_subset_{name}_top1", m["top1"], "")
            figure(f"cnn_subset_{name}_spearman_median", m["spearman_median"], "")
    results_path.write_text(json.dumps(_json_safe(results), indent=1))
    if "ship" in s.stages:
        summary = {
            "cv_pooled": results.get("cv_metrics", {}).get("pooled"),
            "protocol": "5-fold CV over complexes; metrics on held-out complexes",
        }
        stage_ship(s, graphs(), table, _json_safe(summary))
    if "report" in s.stages and "cv_metrics" in results:
        results["feature_totals"] = report_totals(work)
        if "gnn" not in table.columns:
            table = pd.read_csv(table_path, dtype={"complex": str})
        written = plots(table, Path(s.docs) / "img", s.seed)
        if (Path(s.model_out) / "model.json").exists():
            (Path(s.model_out) / "MODEL_CARD.md").write_text(model_card(s, table, results))
        path = write_docs(Path(s.docs), report_markdown(results))
        log(f"report: {path} and {', '.join(written)}")
    results_path.write_text(json.dumps(_json_safe(results), indent=1))
    return results


def parse_args(argv: list[str] | None = None) -> Settings:
    d = Settings()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--data", default=d.data, help="BM5 folder (<ID>_target[-unbound].pdb.gz)")
    p.add_argument("--work", default=d.work, help="output folder (decoys, HDF5, results)")
    p.add_argument("--complexes", type=int, default=None, help="use a seeded sample of N complexes")
    p.add_argument("--ids", help="comma-separated complex ids (default: all in --data)")
    p.add_argument("--decoys", type=int, default=d.decoys, help="decoys per complex")
    p.add_argument("--folds", type=int, default=d.folds)
    p.add_argument("--cpu-count", type=int, default=d.cpu_count)
    p.add_argument(
        "--first-pass-decoys",
        type=int,
        default=d.first_pass_decoys,
        help="decoys per complex featurised first (0: one pass)",
    )
    p.add_argument(
        "--chunk-complexes", type=int, default=d.chunk_complexes, help="complexes per HDF5 file"
    )
    p.add_argument(
        "--train-decoys",
        type=int,
        default=d.train_decoys,
        help="decoys per complex that training uses (seeded; 0: all); evaluation scores all",
    )
    p.add_argument(
        "--forcefield-version",
        type=int,
        choices=(1, 2),
        default=d.forcefield_version,
        help="force-field tables of the contact energies (1: before the parser fix, as the "
        "committed run)",
    )
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--hidden", type=int, default=d.hidden)
    p.add_argument("--layers", type=int, default=d.layers)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--threads", type=int, default=d.threads, help="torch threads")
    p.add_argument("--cnn-complexes", type=int, default=d.cnn_complexes)
    p.add_argument("--cnn-decoys", type=int, default=d.cnn_decoys)
    p.add_argument(
        "--edge-readout",
        action="store_true",
        help="the GNN also pools its edges (mean and max of an edge MLP) into the readout",
    )
    p.add_argument("--modules-complexes", type=int, default=d.modules_complexes)
    p.add_argument("--modules-decoys", type=int, default=d.modules_decoys)
    p.add_argument("--modules-epochs", type=int, default=d.modules_epochs)
    p.add_argument("--cnn-epochs", type=int, default=d.cnn_epochs)
    p.add_argument("--grid-points", type=int, default=d.grid_points)
    p.add_argument("--grid-size", type=float, default=d.grid_size)
    p.add_argument("--model-out", default=d.model_out, help="scorer folder to write")
    p.add_argument("--docs", default=d.docs, help="docs folder for the report")
    p.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated subset of {STAGES}")
    p.add_argument("--redo-decoys", action="store_true")
    a = p.parse_args(argv)
    stages = [x.strip() for x in a.stages.split(",") if x.strip()]
    bad = [x for x in stages if x not in STAGES]
    if bad:
        p.error(f"unknown stage(s) {bad}; choose from {STAGES}")
    values = {k: v for k, v in vars(a).items() if k != "stages"}
    values["ids"] = [x.strip() for x in a.ids.split(",") if x.strip()] if a.ids else None
    return Settings(**values, stages=stages)


def main(argv: list[str] | None = None) -> int:
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
