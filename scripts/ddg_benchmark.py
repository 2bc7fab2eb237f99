"""Variant-effect benchmark: protein stability (ΔΔG) and interface alanine scans.

Reproduces docs/benchmarks/variant-effects.md from the Kortemme-Lab ΔΔG benchmark capture::

    python scripts/ddg_benchmark.py --data ../shared/data/ddg --out /tmp/ddg-run --seed 0

Steps (each writes into ``--out``; featurisation resumes when its HDF5 files exist):

1. **Data.** Single mutations of the monomeric sets (curatedprotherm, guerois, potapov,
   kellogg, alascan-gpk) are pooled and deduplicated: the same structure, chain, residue,
   wild type and variant become one row with the mean ΔΔG. Sign: the tables give
   positive = destabilising (their ``DDG`` column, the Rosetta convention); we flip it and keep
   **ΔΔG < 0 = destabilising** (the ProTherm sign) everywhere. The binding set is
   ``kortemme_baker.csv`` (ASEdb interface alanine scans, ``DDG_obs``, same flip).
   Every row is checked against its structure; failures get a reason
   (``failures.csv``).
2. **Features.** Every usable row becomes a residue-level single-residue-variant graph
   (10 Å around the residue) with every feature module that applies, through
   :func:`deeprank_like.processing.process` (``stability.hdf5``, ``binding.hdf5``).
3. **Evaluation.** Proteins are grouped by sequence (single linkage at ≥ 30 % identity of the
   shorter chain, Biopython's aligner, or difflib's ratio ≥ 0.5 when Biopython is absent);
   5-fold cross-validation keeps every group in one fold. Models: the antisymmetric GNN
   (:class:`deeprank_like.nn.AntisymmetricVariantNet`), a plain GINE network on the same
   graphs, the training mean, and a linear regression on hydrophobicity and volume change
   (also times burial), with an intercept (``linear``) and without one (``linear_odd``,
   antisymmetric like the GNN). Metrics on the direct mutations and on direct + reverse (the reverse
   of A→B on the same structure is B→A with −ΔΔG): Pearson r, Spearman ρ, RMSE and the AUC of
   ``ΔΔG ≤ −1 kcal/mol`` (destabilising).
4. **Binding.** The same cross-validation on the interface alanine scans (groups: complexes).
5. **Final model.** The antisymmetric GNN trained on every stability row, written as
   ``model.pt`` (state_dict) + ``model.json`` (``--ship DIR`` writes it there too).

``results.json`` holds every figure; ``predictions_*.csv`` the out-of-fold predictions;
``*.png`` the plots.
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger("ddg_benchmark")

STABILITY_SETS = ("curatedprotherm", "guerois", "potapov", "kellogg", "alascan-gpk")
TARGET = "ddg"
DESTABILISING = -1.0  # kcal/mol, ProTherm sign

#: Kyte & Doolittle (1982) hydropathy, order ACDEFGHIKLMNPQRSTVWY.
HYDROPATHY = np.array(
    [1.8, 2.5, -3.5, -3.5, 2.8, -0.4, -3.2, 4.5, -3.9, 3.8,
     1.9, -3.5, -1.6, -3.5, -4.5, -0.8, -0.7, 4.2, -0.9, -1.3]
)  # fmt: skip
#: Residue volumes in Å³ (Zamyatnin 1972), order ACDEFGHIKLMNPQRSTVWY.
VOLUME = np.array(
    [88.6, 108.5, 111.1, 138.4, 189.9, 60.1, 153.2, 166.7, 168.6, 166.7,
     162.9, 114.1, 112.7, 143.8, 173.4, 89.0, 116.1, 140.0, 227.8, 193.6]
)  # fmt: skip
#: Maximum residue SASA in Å² (Tien et al. 2013, theoretical), order ACDEFGHIKLMNPQRSTVWY.
MAX_ASA = np.array(
    [129.0, 167.0, 193.0, 223.0, 240.0, 104.0, 224.0, 197.0, 236.0, 201.0,
     224.0, 195.0, 159.0, 225.0, 274.0, 155.0, 172.0, 174.0, 285.0, 263.0]
)  # fmt: skip


# ---- 1. data --------------------------------------------------------------------------------


def read_benchmark_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read a Kortemme-Lab benchmark CSV (``#`` comment lines, header line starting with ``#``)."""
    lines = Path(path).read_text().splitlines()
    header = [i for i, line in enumerate(lines) if line.startswith("#RecordID")]
    if header:
        body = [lines[header[0]][1:]] + [ln for ln in lines[header[0] + 1 :] if ln.strip()]
    else:
        body = [ln for ln in lines if ln.strip() and not ln.startswith("#")]
    return pd.read_csv(io.StringIO("\n".join(body)), dtype={"Mutations": str})


def stability_table(
    data_dir: Path, sets: tuple[str, ...] = STABILITY_SETS
) -> tuple[pd.DataFrame, dict]:
    """Pooled, deduplicated single mutations (``ddg``: kcal/mol, negative = destabilising)."""
    frames, stats = [], {"records": {}, "multiple_mutations_dropped": {}}
    for name in sets:
        path = data_dir / "csv" / f"{name}.csv"
        if not path.is_file():
            log.warning("%s not found: set %s skipped", path, name)
            continue
        df = read_benchmark_csv(path)
        stats["records"][name] = len(df)
        multi = df["Mutations"].str.contains("_")
        stats["multiple_mutations_dropped"][name] = int(multi.sum())
        df = df[~multi]
        parts = df["Mutations"].str.split(expand=True)
        frames.append(
            pd.DataFrame(
                {
                    "pdb": df["PDBFileID"].astype(str).str.upper(),
                    "chain": parts[0],
                    "wildtype": parts[1],
                    "residue": parts[2],
                    "variant": parts[3],
                    "ddg": -df["DDG"].astype(float),  # flip: positive = destabilising → ProTherm
                    "set": name,
                }
            )
        )
    rows = pd.concat(frames, ignore_index=True)
    stats["single_mutation_records"] = len(rows)
    key = ["pdb", "chain", "residue", "wildtype", "variant"]
    grouped = rows.groupby(key, sort=True)
    table = grouped.agg(
        ddg=("ddg", "mean"),
        ddg_spread=("ddg", lambda v: float(v.max() - v.min())),
        n_records=("ddg", "size"),
        sets=("set", lambda v: "+".join(sorted(set(v)))),
    ).reset_index()
    table["pdb_path"] = [str(data_dir / "pdbs" / f"{p}.pdb.gz") for p in table["pdb"]]
    stats["unique_mutations"] = len(table)
    stats["merged_duplicates"] = len(rows) - len(table)
    stats["unique_structures"] = int(table["pdb"].nunique())
    stats["duplicates_spread_gt_1kcal"] = int((table["ddg_spread"] > 1.0).sum())
    return table, stats


def binding_table(data_dir: Path) -> pd.DataFrame:
    """Interface alanine scans of kortemme_baker.csv (``ddg``: negative = weaker binding)."""
    df = pd.read_csv(
        data_dir / "csv" / "kortemme_baker.csv", dtype={"PDB_res#": str, "DDG_obs": str}
    )
    raw = df["DDG_obs"].astype(str).str.strip()
    censored = raw.str.startswith((">", "<"))  # e.g. ">4.50": kept at the bound
    value = pd.to_numeric(raw.str.lstrip("<>").str.strip(), errors="raise")
    table = pd.DataFrame(
        {
            "pdb": df["PDB_ID"].astype(str).str.upper(),
            "chain": df["Chain_ID"].astype(str),
            "residue": df["PDB_res#"].astype(str),
            "wildtype": df["Amino_acid"].astype(str),
            "variant": "A",
            "ddg": -value.astype(float),
            "interface": df["Interface(O:no,1:yes)"].astype(int),
            "censored": censored.astype(int),
        }
    )
    table = (
        table.groupby(["pdb", "chain", "residue", "wildtype", "variant"], sort=True)
        .agg(
            ddg=("ddg", "mean"),
            interface=("interface", "max"),
            censored=("censored", "max"),
            n_records=("ddg", "size"),
        )
        .reset_index()
    )
    table["pdb_path"] = [str(data_dir / "pdbs" / f"{p}_0001.pdb.gz") for p in table["pdb"]]
    return table


def featurize(
    table: pd.DataFrame, prefix: Path, cpu_count: int
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Check rows against structures, featurise the good ones; return (usable rows, failures, stats)."""
    from deeprank_like import QueryCollection
    from deeprank_like.pretrained.ddg import variant_queries
    from deeprank_like.processing import Execution, FeaturizeConfig, process

    t0 = time.perf_counter()
    made = variant_queries(table, targets={TARGET: "ddg"})
    check_s = time.perf_counter() - t0
    failures = made.failures.assign(stage="table")
    ids = [q.get_query_id() for q in made.queries]
    usable = table.loc[made.rows].assign(entry_id=ids)
    collection = QueryCollection(made.queries)
    out = Path(f"{prefix}.hdf5")
    t0 = time.perf_counter()
    config = FeaturizeConfig(
        output=prefix,
        feature_modules=list(FEATURE_MODULES),
        processing=Execution(cpu_count=cpu_count, resume=out.exists(), progress=False),
    )
    summary = process(collection, config)
    seconds = time.perf_counter() - t0
    by_id = dict(zip(ids, made.rows, strict=True))
    if summary.failures:
        extra = pd.DataFrame(
            {
                "row": [by_id[f.query_id] for f in summary.failures],
                "reason": [f"features failed: {f.exc_type}: {f.message}" for f in summary.failures],
                "stage": "process",
            }
        )
        failures = pd.concat([failures, extra], ignore_index=True)
        usable = usable[~usable["entry_id"].isin({f.query_id for f in summary.failures})]
    stats = {
        "rows": len(table),
        "usable": len(usable),
        "failed": len(failures),
        "failure_reasons": failures["reason"]
        .astype(str)
        .str.split(":")
        .str[0]
        .value_counts()
        .to_dict(),
        "check_seconds": round(check_s, 1),
        "process_seconds": round(seconds, 1),
        "processed_this_run": summary.processed,
        "resumed_entries": summary.skipped,
        "cpu_count": cpu_count,
    }
    return usable.reset_index(drop=True), failures, stats


# ---- sequence groups ------------------------------------------------------------------------


def chain_sequences(table: pd.DataFrame) -> dict[tuple[str, str], str]:
    """One-letter sequence of every (structure, chain) in the table."""
    from deeprank_like.domain.aminoacids import ONE_LETTER
    from deeprank_like.structure import load_structure

    seqs = {}
    for path, sub in table.groupby("pdb_path"):
        s = load_structure(path)
        chains = s.residue_chain_ids
        aa = s.residue_aa
        for chain in sorted(set(sub["chain"])):
            idx = aa[(chains == chain) & (aa >= 0)]
            seqs[(sub["pdb"].iloc[0], chain)] = "".join(ONE_LETTER[i] for i in idx)
    return seqs


def _identity_fn() -> tuple[Any, str]:
    try:
        from Bio import Align

        aligner = Align.PairwiseAligner(mode="local", match_score=1.0, mismatch_score=0.0)
        aligner.open_gap_score = -1.0
        aligner.extend_gap_score = -0.1

        def identity(a: str, b: str) -> float:
            score = aligner.score(a, b)  # ≈ identical aligned positions minus gap penalties
            return float(score) / max(1, min(len(a), len(b)))

        return identity, "Biopython local alignment, identity ≥ 0.30 of the shorter chain"
    except ImportError:

        def ratio(a: str, b: str) -> float:
            return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()

        return ratio, "difflib ratio ≥ 0.5"


def sequence_groups(seqs: dict[tuple[str, str], str]) -> tuple[dict[tuple[str, str], str], str]:
    """Single-linkage clusters of chains; each (structure, chain) → group name."""
    identity, method = _identity_fn()
    threshold = 0.30 if method.startswith("Bio") else 0.5
    keys = sorted(seqs)
    unique = sorted(set(seqs.values()))
    parent = list(range(len(unique)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(unique)):
        for j in range(i + 1, len(unique)):
            if find(i) != find(j) and identity(unique[i], unique[j]) >= threshold:
                parent[find(i)] = find(j)
    index = {s: i for i, s in enumerate(unique)}
    root_name: dict[int, str] = {}
    for k in keys:  # name a cluster after its first (structure, chain)
        root_name.setdefault(find(index[seqs[k]]), f"{k[0]}_{k[1]}")
    return {k: root_name[find(index[seqs[k]])] for k in keys}, method


def group_folds(groups: list[str], k: int, seed: int) -> np.ndarray:
    """Fold number of each row; whole groups per fold, balanced by rows (largest first)."""
    rng = np.random.default_rng(seed)
    names, counts = np.unique(np.asarray(groups), return_counts=True)
    if len(names) < 2:
        raise ValueError(f"grouped cross-validation needs at least 2 groups, got {len(names)}")
    if len(names) < k:
        log.warning("only %d sequence groups: %d folds instead of %d", len(names), len(names), k)
        k = len(names)
    order = np.lexsort((rng.random(len(names)), -counts))
    load = np.zeros(k, dtype=np.int64)
    fold_of = {}
    for i in order:
        f = int(np.argmin(load))
        fold_of[names[i]] = f
        load[f] += counts[i]
    return np.array([fold_of[g] for g in groups], dtype=np.int64)


# ---- 3. graphs, models, metrics -------------------------------------------------------------

#: Every built-in feature module that applies to a variant query without PSSMs
#: (``conservation`` needs PSSMs, ``irc`` is for interfaces, ``docking``/``betagm`` are targets).
FEATURE_MODULES = ("components", "contact", "surfacearea", "secondary_structure", "exposure")


def load_graphs(path: Path, entries: list[str]) -> tuple[list[Any], dict[str, Any]]:
    """PyG ``Data`` of the given entries (all node and edge features, sorted) and the layout."""
    from deeprank_like.pretrained.ddg import graph_to_data
    from deeprank_like.storage.reader import FeatureFile

    datas, layout = [], {}
    with FeatureFile(path) as f:  # one entry index for the whole file
        for entry in entries:
            graph = f.read_graph(entry)
            if not layout:
                nodes = sorted(graph.node_features)
                edges = sorted(graph.edge_features)
                widths = {
                    k: int(np.asarray(v).reshape(graph.num_nodes, -1).shape[1])
                    for k, v in graph.node_features.items()
                }
                layout = {"node_features": nodes, "edge_features": edges, "widths": widths}
            data = graph_to_data(graph, layout["node_features"], layout["edge_features"], TARGET)
            variant = graph.residue_index == graph.metadata.get("variant_residue", -1)
            if not variant.any():  # read back from HDF5: the node whose one-hots differ
                variant = (
                    graph.node_features["res_type"] != graph.node_features["variant_res"]
                ).any(1)
            data.variant_sasa = float(np.asarray(graph.node_features["sasa"])[variant].sum())
            datas.append(data)
    return datas, layout


def normalisation(datas: list[Any], cols: dict[str, list[int]]) -> dict[str, list[float]]:
    """Per-column mean/scale of the training graphs (swap columns: 0/1; odd columns: 0/std)."""
    import torch

    x = torch.cat([d.x for d in datas]).double()
    e = torch.cat([d.edge_attr for d in datas]).double()
    mean, std = x.mean(0), x.std(0)
    std[std < 1e-6] = 1.0
    for c in cols["wildtype_columns"] + cols["variant_columns"]:
        mean[c], std[c] = 0.0, 1.0
    for c in cols["odd_columns"]:
        mean[c] = 0.0
    emean, estd = e.mean(0), e.std(0)
    estd[estd < 1e-6] = 1.0
    return {
        "node_mean": mean.float().tolist(),
        "node_scale": std.float().tolist(),
        "edge_mean": emean.float().tolist(),
        "edge_scale": estd.float().tolist(),
    }


def make_model(kind: str, datas: list[Any], layout: dict, hp: dict) -> Any:
    """A fresh network: ``antisymmetric`` (AntisymmetricVariantNet) or ``gine`` (plain GINENet)."""
    from deeprank_like.nn import build_model
    from deeprank_like.nn.antisymmetric import swap_columns

    cols = swap_columns(layout["node_features"], layout["widths"])
    norm = normalisation(datas, cols)
    f, fe = datas[0].x.shape[1], datas[0].edge_attr.shape[1]
    if kind == "antisymmetric":
        config = {"num_node_features": f, "num_edge_features": fe, **cols, **norm, **hp}
        return build_model("antisymmetric_variant", config)
    return _Standardised(
        build_model("gine", {"num_node_features": f, "num_edge_features": fe, **hp}), norm
    )


class _Standardised:
    """Plain GINENet behind the same per-column normalisation (baseline, not antisymmetric)."""

    def __init__(self, net: Any, norm: dict[str, list[float]]) -> None:
        import torch

        self.net = net
        self.stats = {k: torch.tensor(v) for k, v in norm.items()}

    def parameters(self) -> Any:
        return self.net.parameters()

    def train(self, mode: bool = True) -> Any:
        self.net.train(mode)
        return self

    def eval(self) -> Any:
        return self.train(False)

    def __call__(self, batch: Any) -> Any:
        b = batch.clone()
        b.x = (batch.x - self.stats["node_mean"]) / self.stats["node_scale"]
        b.edge_attr = (batch.edge_attr - self.stats["edge_mean"]) / self.stats["edge_scale"]
        return self.net(b)


def fit(
    model: Any, datas: list[Any], epochs: int, seed: int, lr: float = 1e-3, batch_size: int = 32
) -> Any:
    """Adam + MSE on ``y``; cosine learning-rate decay; returns the model in eval mode."""
    import torch
    from torch_geometric.loader import DataLoader

    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(datas, batch_size=batch_size, shuffle=True, generator=g)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs * len(loader)))
    model.train()
    for _ in range(epochs):
        for batch in loader:
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(batch), batch.y)
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def predict(
    model: Any, datas: list[Any], reverse_with: Any = None, batch_size: int = 128
) -> np.ndarray:
    """Predictions (n,) for graphs; with ``reverse_with`` (an antisymmetric net) for their reverses."""
    import torch
    from torch_geometric.data import Batch

    out = []
    with torch.no_grad():
        for i in range(0, len(datas), batch_size):
            batch = Batch.from_data_list(datas[i : i + batch_size])
            if reverse_with is not None:
                batch.x = reverse_with.swap(batch.x)
            out.append(model(batch)[:, 0].double().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def linear_features(rows: pd.DataFrame, sasa: np.ndarray, reverse: bool = False) -> np.ndarray:
    """Δhydropathy, Δvolume and both times burial (1 − relative SASA of the wild type)."""
    from deeprank_like.domain.aminoacids import amino_acid_index

    wt = np.array([amino_acid_index(a) for a in rows["wildtype"]])
    var = np.array([amino_acid_index(a) for a in rows["variant"]])
    burial = 1.0 - np.clip(sasa / MAX_ASA[wt], 0.0, 1.0)
    sign = -1.0 if reverse else 1.0
    dh, dv = sign * (HYDROPATHY[var] - HYDROPATHY[wt]), sign * (VOLUME[var] - VOLUME[wt]) / 100.0
    return np.column_stack([dh, dv, dh * burial, dv * burial])


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Pearson r, Spearman ρ, RMSE and AUC of ``y ≤ −1`` scored by ``−p``."""
    from scipy import stats

    y, p = np.asarray(y, float), np.asarray(p, float)
    if len(y) < 3:
        nan = float("nan")
        return {
            "n": len(y),
            "pearson": nan,
            "spearman": nan,
            "rmse": nan,
            "auc": nan,
            "n_destabilising": int((y <= DESTABILISING).sum()),
        }
    const = np.ptp(p) == 0 or np.ptp(y) == 0
    out = {
        "n": len(y),
        "pearson": float("nan") if const else float(stats.pearsonr(y, p)[0]),
        "spearman": float("nan") if const else float(stats.spearmanr(y, p)[0]),
        "rmse": float(np.sqrt(np.mean((y - p) ** 2))),
    }
    pos = y <= DESTABILISING
    ranks = stats.rankdata(-p)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    out["auc"] = (
        float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
        if n_pos and n_neg
        else float("nan")
    )
    out["n_destabilising"] = n_pos
    return out


def cross_validate(
    rows: pd.DataFrame,
    datas: list[Any],
    layout: dict,
    folds: np.ndarray,
    args: Any,
    models: tuple[str, ...],
) -> pd.DataFrame:
    """Out-of-fold direct and reverse predictions of every model, one column pair per model."""
    pred = pd.DataFrame(index=rows.index)
    sasa = np.array([d.variant_sasa for d in datas])
    y = rows["ddg"].to_numpy()
    for k in range(int(folds.max()) + 1):
        t0 = time.perf_counter()
        tr, te = np.flatnonzero(folds != k), np.flatnonzero(folds == k)
        train = [datas[i] for i in tr]
        test = [datas[i] for i in te]
        pred.loc[te, "mean"] = y[tr].mean()
        pred.loc[te, "mean_rev"] = y[tr].mean()
        design = np.column_stack([np.ones(len(tr)), linear_features(rows.iloc[tr], sasa[tr])])
        coef = np.linalg.lstsq(design, y[tr], rcond=None)[0]
        odd = np.linalg.lstsq(linear_features(rows.iloc[tr], sasa[tr]), y[tr], rcond=None)[0]
        for suffix, rev in (("", False), ("_rev", True)):
            feats = linear_features(rows.iloc[te], sasa[te], rev)
            pred.loc[te, "linear" + suffix] = np.column_stack([np.ones(len(te)), feats]) @ coef
            pred.loc[te, "linear_odd" + suffix] = feats @ odd  # no intercept: antisymmetric
        for kind in models:
            import torch

            torch.manual_seed(args.seed + k)
            model = make_model(kind, train, layout, HYPER[kind])
            fit(model, train, args.epochs, args.seed + k)
            swapper = (
                model
                if kind == "antisymmetric"
                else make_model("antisymmetric", train[:1], layout, {})
            )
            pred.loc[te, kind] = predict(model, test)
            pred.loc[te, kind + "_rev"] = predict(model, test, reverse_with=swapper)
        log.info(
            "fold %d: %d train, %d test, %.0f s", k, len(tr), len(te), time.perf_counter() - t0
        )
    return pred


HYPER: dict[str, dict[str, Any]] = {
    "antisymmetric": {"hidden_size": 32, "num_layers": 3, "head_hidden_size": 64, "dropout": 0.1},
    "gine": {"hidden_size": 32, "num_layers": 3, "head_hidden_size": 64, "dropout": 0.1},
}


def summarise(rows: pd.DataFrame, pred: pd.DataFrame, models: list[str]) -> dict[str, Any]:
    """Metrics per model on direct, reverse and direct + reverse mutations."""
    y = rows["ddg"].to_numpy()
    out: dict[str, Any] = {}
    for m in models:
        d, r = pred[m].to_numpy(), pred[m + "_rev"].to_numpy()
        out[m] = {
            "direct": metrics(y, d),
            "reverse": metrics(-y, r),
            "direct+reverse": metrics(np.concatenate([y, -y]), np.concatenate([d, r])),
            "antisymmetry_max_abs_d_plus_r": float(np.max(np.abs(d + r))),
        }
    return out


def per_protein(
    rows: pd.DataFrame, pred: pd.DataFrame, model: str, min_rows: int = 10
) -> pd.DataFrame:
    """Pearson r of one model per structure with at least ``min_rows`` mutations."""
    from scipy import stats

    recs = []
    for pdb, sub in rows.groupby("pdb"):
        p = pred.loc[sub.index, model].to_numpy()
        if len(sub) >= min_rows and np.ptp(p) > 0 and np.ptp(sub["ddg"]) > 0:
            recs.append(
                {"pdb": pdb, "n": len(sub), "pearson": float(stats.pearsonr(sub["ddg"], p)[0])}
            )
    return pd.DataFrame(recs, columns=["pdb", "n", "pearson"]).sort_values("n", ascending=False)


def plots(
    out: Path, rows: pd.DataFrame, pred: pd.DataFrame, prot: pd.DataFrame, name: str, title: str
) -> None:
    """Predicted vs measured (direct, reverse) and per-protein r (needs matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib not installed: no plots")
        return
    y = rows["ddg"].to_numpy()
    fig, ax = plt.subplots(figsize=(4.6, 4.4))
    ax.scatter(y, pred["antisymmetric"], s=5, alpha=0.4, label="direct")
    ax.scatter(-y, pred["antisymmetric_rev"], s=5, alpha=0.25, label="reverse")
    lim = [min(-y.max(), y.min()) - 0.5, max(y.max(), -y.min()) + 0.5]
    ax.plot(lim, lim, "k--", lw=0.8)
    ax.set(xlabel="measured ΔΔG (kcal/mol)", ylabel="predicted ΔΔG (kcal/mol)", title=title)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out / f"{name}_scatter.png", dpi=110)
    plt.close(fig)
    if len(prot):
        fig, ax = plt.subplots(figsize=(max(4.0, 0.22 * len(prot)), 3.2))
        ax.bar(range(len(prot)), prot["pearson"], color="tab:blue")
        ax.set_xticks(
            range(len(prot)),
            [f"{p} ({n})" for p, n in zip(prot["pdb"], prot["n"], strict=True)],
            rotation=90,
            fontsize=6,
        )
        ax.axhline(0, color="k", lw=0.6)
        ax.set(ylabel="Pearson r (out of fold)", title=f"{title}: per structure (≥10 mutations)")
        fig.tight_layout()
        fig.savefig(out / f"{name}_per_protein.png", dpi=110)
        plt.close(fig)


# ---- driver ---------------------------------------------------------------------------------


def prepare_data(
    data_dir: Path, out: Path, cpu_count: int, max_rows: int | None, seed: int
) -> dict:
    """Step 1–2: tables, failures, features. Writes rows/failure CSVs and HDF5 files."""
    results: dict[str, Any] = {}
    for kind in ("stability", "binding"):
        if kind == "stability":
            table, stats = stability_table(data_dir)
        else:
            table, stats = binding_table(data_dir), {"unique_mutations": None}
            stats["unique_mutations"] = len(table)
        if max_rows is not None and len(table) > max_rows:
            table = table.sample(n=max_rows, random_state=seed).sort_index()
        usable, failures, fstats = featurize(table, out / kind, cpu_count)
        failures = failures.assign(
            **{
                c: table.loc[failures["row"], c].to_numpy()
                for c in ("pdb", "chain", "residue", "wildtype", "variant")
            }
        )
        failures.to_csv(out / f"{kind}_failures.csv", index=False)
        usable.to_csv(out / f"{kind}_rows.csv", index=False)
        results[kind] = {**stats, **fstats}
        log.info("%s: %s", kind, json.dumps(results[kind]))
    return results


def evaluate(kind: str, args: Any, data_summary: dict) -> dict[str, Any]:
    """Steps 3–4 for one table: sequence groups, 5-fold grouped CV, metrics, plots."""
    rows = pd.read_csv(args.out / f"{kind}_rows.csv", dtype={"residue": str})
    t0 = time.perf_counter()
    datas, layout = load_graphs(args.out / f"{kind}.hdf5", list(rows["entry_id"]))
    load_s = time.perf_counter() - t0
    # a complex is one unit: complexes that share any similar chain are grouped
    seqs = _complex_sequences(rows) if kind == "binding" else chain_sequences(rows)
    groups_of, method = sequence_groups(seqs)
    key = (lambda r: (r.pdb, "*")) if kind == "binding" else (lambda r: (r.pdb, r.chain))
    rows["group"] = [groups_of[key(r)] for r in rows.itertuples()]
    folds = group_folds(list(rows["group"]), args.folds, args.seed)
    rows["fold"] = folds
    models = tuple(m for m in args.models if m in HYPER)
    t0 = time.perf_counter()
    pred = cross_validate(rows, datas, layout, folds, args, models)
    cv_s = time.perf_counter() - t0
    names = ["mean", "linear", "linear_odd", *models]
    result: dict[str, Any] = {
        "rows": len(rows),
        "structures": int(rows["pdb"].nunique()),
        "groups": int(rows["group"].nunique()),
        "largest_group_rows": int(rows["group"].value_counts().iloc[0]),
        "grouping": method,
        "fold_sizes": np.bincount(folds).tolist(),
        "metrics": summarise(rows, pred, names),
        "load_seconds": round(load_s, 1),
        "cv_seconds": round(cv_s, 1),
    }
    if kind == "stability":
        alascan = rows["sets"].str.contains("alascan-gpk").to_numpy()
        result["alascan_gpk_subset"] = {
            m: metrics(rows["ddg"].to_numpy()[alascan], pred[m].to_numpy()[alascan]) for m in names
        }
    else:
        inter = rows["interface"].to_numpy() == 1
        result["interface_only"] = {
            m: metrics(rows["ddg"].to_numpy()[inter], pred[m].to_numpy()[inter]) for m in names
        }
    best = "antisymmetric" if "antisymmetric" in models else "linear"
    prot = per_protein(rows, pred, best)
    result["per_structure_pearson"] = {
        "model": best,
        "structures": len(prot),
        "median": float(prot["pearson"].median()) if len(prot) else None,
        "values": prot.to_dict(orient="records"),
    }
    pd.concat([rows, pred], axis=1).to_csv(args.out / f"predictions_{kind}.csv", index=False)
    if "antisymmetric" in models:
        title = "stability ΔΔG" if kind == "stability" else "binding ΔΔG (alanine scans)"
        plots(args.out, rows, pred, prot, kind, title)
    return result


def _complex_sequences(rows: pd.DataFrame) -> dict[tuple[str, str], str]:
    """One pseudo-sequence per complex: its chains joined by 'X' (identity of any chain pair)."""
    from deeprank_like.domain.aminoacids import ONE_LETTER
    from deeprank_like.structure import load_structure

    out = {}
    for path, sub in rows.groupby("pdb_path"):
        s = load_structure(path)
        chains = s.residue_chain_ids
        parts = []
        for chain in s.chains:
            idx = s.residue_aa[(chains == chain) & (s.residue_aa >= 0)]
            if len(idx) >= 20:
                parts.append("".join(ONE_LETTER[i] for i in idx))
        out[(sub["pdb"].iloc[0], "*")] = "X".join(parts)
    return out


def train_final(args: Any) -> dict[str, Any]:
    """Step 5: the antisymmetric GNN on every stability row → model.pt + model.json."""
    import torch

    import deeprank_like
    from deeprank_like.nn import model_config, model_name

    rows = pd.read_csv(args.out / "stability_rows.csv", dtype={"residue": str})
    datas, layout = load_graphs(args.out / "stability.hdf5", list(rows["entry_id"]))
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    model = make_model("antisymmetric", datas, layout, HYPER["antisymmetric"])
    fit(model, datas, args.epochs, args.seed)
    seconds = time.perf_counter() - t0
    train_fit = metrics(rows["ddg"].to_numpy(), predict(model, datas))
    meta = {
        "name": "deeprank_like stability ΔΔG (antisymmetric GNN)",
        "network": model_name(model),
        "config": model_config(model),
        "node_features": layout["node_features"],
        "edge_features": layout["edge_features"],
        "feature_modules": list(FEATURE_MODULES),
        "query": {"resolution": "residue"},
        "target": "ddg",
        "unit": "kcal/mol",
        "sign": "negative = destabilising (ProTherm sign: ΔG_unfold(variant) - ΔG_unfold(wild type))",
        "training": {
            "rows": len(rows),
            "structures": int(rows["pdb"].nunique()),
            "data": "Kortemme-Lab ddg benchmark capture (curatedprotherm, guerois, potapov, kellogg, alascan-gpk), deduplicated",
            "epochs": args.epochs,
            "seed": args.seed,
            "seconds": round(seconds, 1),
            "training_set_fit": train_fit,
        },
        "package_version": deeprank_like.__version__,
        "script": "scripts/ddg_benchmark.py",
    }
    targets = [args.out / "model"] + ([args.ship] if args.ship else [])
    for folder in targets:
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), folder / "model.pt")
        (folder / "model.json").write_text(json.dumps(meta, indent=1, ensure_ascii=False) + "\n")
    return {
        "seconds": round(seconds, 1),
        "training_set_fit": train_fit,
        "written_to": [str(t) for t in targets],
    }


def report(results: dict[str, Any]) -> str:
    """Markdown tables of the figures in ``results`` (pasted into docs/benchmarks/variant-effects.md)."""

    def fmt(v: Any) -> str:
        return "—" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.2f}"

    lines = []
    for kind in ("stability", "binding"):
        if kind not in results:
            continue
        r = results[kind]
        lines += [
            f"### {kind}: {r['rows']} mutations, {r['structures']} structures, {r['groups']} sequence groups, "
            f"folds of {r['fold_sizes']} rows",
            "",
            "| model | set | Pearson r | Spearman ρ | RMSE (kcal/mol) | AUC (ΔΔG ≤ −1) |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for model, m in r["metrics"].items():
            for part in ("direct", "reverse", "direct+reverse"):
                x = dict(m[part])
                if model == "mean":  # a constant per fold: only the RMSE means something
                    x["pearson"] = x["spearman"] = x["auc"] = None
                lines.append(
                    f"| {model} | {part} | {fmt(x['pearson'])} | {fmt(x['spearman'])} | {fmt(x['rmse'])} | {fmt(x['auc'])} |"
                )
        extra = "alascan_gpk_subset" if kind == "stability" else "interface_only"
        if extra in r:
            lines += [
                "",
                f"{extra} (direct):",
                "",
                "| model | n | Pearson r | Spearman ρ | RMSE | AUC |",
                "|---|---:|---:|---:|---:|---:|",
            ]
            for model, x in r[extra].items():
                if model == "mean":
                    x = {**x, "pearson": None, "spearman": None, "auc": None}
                lines.append(
                    f"| {model} | {x['n']} | {fmt(x['pearson'])} | {fmt(x['spearman'])} | {fmt(x['rmse'])} | {fmt(x['auc'])} |"
                )
        p = r["per_structure_pearson"]
        lines += [
            "",
            f"Per structure ({p['model']}, ≥ 10 mutations): {p['structures']} structures, median r {fmt(p['median'])}",
            "",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/ddg"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--models", nargs="*", default=["antisymmetric", "gine"], help="GNNs to cross-validate"
    )
    parser.add_argument("--cpu-count", type=int, default=2, help="featurisation processes")
    parser.add_argument("--threads", type=int, default=2, help="torch threads for training")
    parser.add_argument(
        "--max-rows", type=int, default=None, help="subsample each table (smoke runs)"
    )
    parser.add_argument("--ship", type=Path, default=None, help="also write the final model here")
    parser.add_argument(
        "--stage",
        choices=("data", "evaluate", "all"),
        default="all",
        help="data: tables and features only; evaluate: reuse the features",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    args.out.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(args.threads)
    summary_path = args.out / "data_summary.json"
    if args.stage in ("data", "all"):
        data = prepare_data(args.data, args.out, args.cpu_count, args.max_rows, args.seed)
        summary_path.write_text(json.dumps(data, indent=2, default=str))
        if args.stage == "data":
            return 0
    data = json.loads(summary_path.read_text())
    results: dict[str, Any] = {
        "data": data,
        "seed": args.seed,
        "epochs": args.epochs,
        "folds": args.folds,
    }
    for kind in ("stability", "binding"):
        results[kind] = evaluate(kind, args, data)
        log.info("%s: %s", kind, json.dumps(results[kind]["metrics"], indent=1))
        (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
        (args.out / "results.md").write_text(report(results))
    results["final_model"] = train_final(args)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
