"""The eigenvalue-prediction experiment of Giulini & Potestio (2019), with a GNN beside the CNN.

Protocol (``docs/betagm_experiment.md``; facts from ``spec/paper-cnn.md``, decisions ours)
-------------------------------------------------------------------------------------------
1. **Chains.** Single-chain PDB entries (``index.json`` of the protein folder, or every file with
   exactly one amino-acid chain) of at least ``window`` residues. A chain's trace is its residues
   with a Cα atom, in file order; amino acids without Cα leave a gap that the chain-break test sees.
2. **Decoys.** Sliding windows of ``window`` (100) consecutive residues, every ``step`` residues
   (the paper uses step 1 on 101–110-residue chains). Each window is a standalone chain (its ends
   are termini without Cβ). A window is *skipped, and recorded in the skip table*, when it spans a
   chain break (consecutive Cα > 4.2 Å) or when its β-GM has a zero-mode count other than 6.
3. **Targets.** λ₇..λ₁₆ of the β-GM (:mod:`deeprank_like.enm.betagm`, spec defaults).
4. **Groups.** Windows inherit the *protein group* of their chain: chains whose sequences share at
   least half of their 3-mers (single linkage) form one group, so the many PDB entries of one
   protein (e.g. lysozyme mutants) are one group. Cross-validation folds are groups, never windows:
   every test prediction is for a protein the models have not seen in any form.
5. **Reversal.** A window and its reverse (``ca[::-1]``) have the same β-GM spectrum; the reverse is
   added to the training folds only (J C J for the Coulomb matrix; reversed node order for graphs).
6. **Models.** The paper's CNN on the Cα Coulomb matrix (:class:`~deeprank_like.nn.CoulombCNN`);
   a residue-graph GNN (:class:`ResidueGraphGNN`, a wrapper around
   :class:`~deeprank_like.nn.GINENet`) on Cα contact graphs with residue-type features; and the
   uninformative baseline (training-set mean of each eigenvalue). A second, stronger constant
   reference is reported too: the MAPE-optimal constant (the 1/λ-weighted median of the training
   targets), because with heavy-tailed targets MAPE rewards shrinking predictions towards zero.
7. **Metric.** Per-eigenvalue MAPE (%) on the held-out folds, averaged over folds and repeats.
8. **Any length.** The GNN is also evaluated on whole chains longer than ``window`` (no pruning),
   held out by protein group (5-fold grouped CV over chains, trained on the windows of the other
   groups).

Everything here is free functions over numpy arrays plus two small dataclasses; the script
``scripts/betagm_experiment.py`` and the tutorial notebook drive them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from numpy.typing import NDArray
from torch import nn
from torch_geometric.data import Data

from deeprank_like.domain.aminoacids import ONE_LETTER, residue_name_indices
from deeprank_like.enm.betagm import betagm_from_ca
from deeprank_like.enm.config import BetaGMConfig
from deeprank_like.enm.windows import chain_breaks
from deeprank_like.errors import EnmError, StructureError
from deeprank_like.nn.gnn import GINENet
from deeprank_like.nn.registry import record_config

__all__ = [
    "ChainRecord",
    "EigenSamples",
    "ExperimentConfig",
    "ExperimentResult",
    "GraphSampleDataset",
    "ResidueGraphGNN",
    "assign_groups",
    "chains_from_folder",
    "fit_predict",
    "grouped_kfold",
    "load_chain",
    "make_windows",
    "mape_optimal_constant",
    "mape_per_eigenvalue",
    "mean_baseline",
    "residue_graph",
    "results_markdown",
    "run_experiment",
    "scatter_plot",
    "sequence_groups",
    "whole_chains",
    "write_results",
]

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# chains


@dataclass(frozen=True)
class ChainRecord:
    """The Cα trace of one protein chain.

    Attributes
    ----------
    protein_id : str
        File stem (e.g. ``"1a2p"``).
    chain_id : str
    path : str
        Structure file.
    ca : ndarray, shape (N, 3), float64
        Cα coordinates in Å (residues with a Cα atom, file order).
    aa : ndarray, shape (N,), int64
        Amino-acid index 0..19 (order ``ACDEFGHIKLMNPQRSTVWY``), -1 if non-standard.
    is_glycine : ndarray, shape (N,), bool
    n_missing_ca : int
        Amino-acid residues of the chain without a Cα atom (dropped; they leave a gap).
    group : int
        Protein group (set by :func:`sequence_groups`; -1 until assigned).
    """

    protein_id: str
    chain_id: str
    path: str
    ca: NDArray[np.float64]
    aa: NDArray[np.int64]
    is_glycine: NDArray[np.bool_]
    n_missing_ca: int = 0
    group: int = -1

    def __len__(self) -> int:
        return int(self.ca.shape[0])

    @property
    def sequence(self) -> str:
        """One-letter sequence (``X`` for non-standard residues)."""
        return "".join(ONE_LETTER[i] if i >= 0 else "X" for i in self.aa)


def load_chain(path: str | os.PathLike, chain_id: str | None = None) -> ChainRecord:
    """Read the Cα trace of one chain of a structure file.

    Parameters
    ----------
    path : str or PathLike
        PDB/mmCIF file (optionally gzipped); the first model is read.
    chain_id : str, optional
        Chain to take; default: the structure's only chain with amino acids (EnmError if several).

    Returns
    -------
    ChainRecord
    """
    from deeprank_like.structure import load_structure, structure_name

    s = load_structure(path)
    ca_index = np.asarray(s.residue_atom_index("CA"))
    has_ca = ca_index >= 0
    has_ca[has_ca] = np.asarray(s.elements)[ca_index[has_ca]] == "C"
    aa_all = residue_name_indices(np.asarray(s.residue_names))
    chains = np.asarray(s.residue_chain_ids)
    if chain_id is None:
        protein_chains = [c for c in s.chains if np.any(has_ca & (chains == c) & (aa_all >= 0))]
        if len(protein_chains) != 1:
            raise EnmError(f"{path}: expected one amino-acid chain, found {protein_chains}")
        chain_id = protein_chains[0]
    in_chain = chains == chain_id
    if not in_chain.any():
        raise EnmError(f"{path}: no chain {chain_id!r} (chains: {list(s.chains)})")
    sel = np.flatnonzero(in_chain & has_ca)
    n_missing = int(np.sum(in_chain & ~has_ca & (aa_all >= 0)))
    if sel.size == 0:
        raise EnmError(f"{path}: chain {chain_id!r} has no Cα atoms")
    return ChainRecord(
        protein_id=structure_name(path),
        chain_id=str(chain_id),
        path=os.fspath(path),
        ca=np.ascontiguousarray(np.asarray(s.coords)[ca_index[sel]], dtype=np.float64),
        aa=aa_all[sel].astype(np.int64),
        is_glycine=np.asarray(s.residue_names)[sel] == "GLY",
        n_missing_ca=n_missing,
    )


def chains_from_folder(
    folder: str | os.PathLike,
    min_length: int = 100,
    max_length: int | None = None,
    limit: int | None = None,
) -> tuple[list[ChainRecord], pd.DataFrame]:
    """Single-chain entries of a folder of structures, with a table of what was left out.

    With an ``index.json`` (a list of ``{"file", "chains": [[id, n_ca], ...]}``, as in
    ``shared/data/proteins``) only entries listed with exactly one chain are read; otherwise every
    ``*.pdb*``/``*.cif*`` file with exactly one amino-acid chain.

    Parameters
    ----------
    folder : path
    min_length, max_length : int
        Keep chains with ``min_length <= N (<= max_length)`` Cα atoms.
    limit : int, optional
        Read at most this many files (sorted by name).

    Returns
    -------
    chains : list of ChainRecord
        Sorted by protein id, with :attr:`ChainRecord.group` assigned by :func:`sequence_groups`.
    skipped : DataFrame
        Columns ``protein_id, chain_id, reason``.
    """
    folder = Path(folder)
    skipped: list[dict[str, Any]] = []
    index_file = folder / "index.json"
    todo: list[tuple[Path, str | None]] = []
    if index_file.exists():
        for entry in sorted(json.loads(index_file.read_text()), key=lambda e: e["file"]):
            pid = entry["file"].split(".")[0]
            chains = entry.get("chains")
            if not chains or len(chains) != 1:
                n = "unknown" if not chains else len(chains)
                skipped.append({"protein_id": pid, "chain_id": "", "reason": f"{n} chains"})
                continue
            todo.append((folder / entry["file"], str(chains[0][0])))
    else:
        files = sorted(
            p for p in folder.iterdir() if any(s in p.name for s in (".pdb", ".cif", ".ent"))
        )
        todo = [(p, None) for p in files]
    if limit is not None:
        todo = todo[:limit]
    out: list[ChainRecord] = []
    for path, chain in todo:
        pid = path.name.split(".")[0]
        try:
            rec = load_chain(path, chain)
        except (EnmError, StructureError) as exc:
            skipped.append({"protein_id": pid, "chain_id": chain or "", "reason": str(exc)})
            continue
        n = len(rec)
        if n < min_length or (max_length is not None and n > max_length):
            skipped.append({"protein_id": pid, "chain_id": rec.chain_id, "reason": f"length {n}"})
            continue
        out.append(rec)
    return assign_groups(out), pd.DataFrame(skipped, columns=["protein_id", "chain_id", "reason"])


def assign_groups(chains: Sequence[ChainRecord], **kwargs: Any) -> list[ChainRecord]:
    """Copies of ``chains`` with :attr:`ChainRecord.group` set by :func:`sequence_groups`
    (keyword arguments go to it)."""
    groups = sequence_groups([r.sequence for r in chains], **kwargs)
    return [
        ChainRecord(**{**r.__dict__, "group": int(g)}) for r, g in zip(chains, groups, strict=True)
    ]


def sequence_groups(sequences: Sequence[str], k: int = 3, min_shared: float = 0.5) -> NDArray:
    """Cluster sequences into protein groups by shared k-mers (single linkage).

    Two sequences are linked when ``|K_a ∩ K_b| / min(|K_a|, |K_b|) >= min_shared`` for their sets
    of k-mers; groups are the connected components, numbered in order of first appearance. Point
    mutants and constructs of one protein share almost all 3-mers; unrelated proteins share few
    (about 5 % for two random 130-residue sequences).

    Returns
    -------
    ndarray, shape (n,), int64
    """
    kmers = [{s[i : i + k] for i in range(len(s) - k + 1)} for s in sequences]
    parent = list(range(len(sequences)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a in range(len(kmers)):
        for b in range(a + 1, len(kmers)):
            small = min(len(kmers[a]), len(kmers[b]))
            if small and len(kmers[a] & kmers[b]) >= min_shared * small:
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
    roots = [find(i) for i in range(len(sequences))]
    relabel: dict[int, int] = {}
    return np.array([relabel.setdefault(r, len(relabel)) for r in roots], dtype=np.int64)


# ----------------------------------------------------------------------------------------------
# samples


@dataclass
class EigenSamples:
    """Structures (windows or whole chains) with their β-GM targets.

    Attributes
    ----------
    ca : list of ndarray (N_i, 3)
        Cα coordinates in Å.
    aa : list of ndarray (N_i,) int64
        Amino-acid indices (-1 non-standard).
    targets : ndarray, shape (S, K), float64
        λ₇..λ₁₆ of each sample.
    protein_ids, chain_ids : ndarray (S,) str
    groups : ndarray (S,) int64
        Protein group of each sample (folds are unions of groups).
    starts : ndarray (S,) int64
        Index of the first residue of the window in its chain (0 for whole chains).
    """

    ca: list[NDArray[np.float64]]
    aa: list[NDArray[np.int64]]
    targets: NDArray[np.float64]
    protein_ids: NDArray[np.str_]
    chain_ids: NDArray[np.str_]
    groups: NDArray[np.int64]
    starts: NDArray[np.int64]
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ca)

    @property
    def lengths(self) -> NDArray[np.int64]:
        """Residues of each sample."""
        return np.array([c.shape[0] for c in self.ca], dtype=np.int64)

    def subset(self, index: Iterable[int]) -> EigenSamples:
        """The samples at ``index`` (a new object; arrays are shared, not copied)."""
        idx = np.asarray(list(index), dtype=np.int64)
        return EigenSamples(
            ca=[self.ca[i] for i in idx],
            aa=[self.aa[i] for i in idx],
            targets=self.targets[idx],
            protein_ids=self.protein_ids[idx],
            chain_ids=self.chain_ids[idx],
            groups=self.groups[idx],
            starts=self.starts[idx],
            meta=dict(self.meta),
        )

    def table(self) -> pd.DataFrame:
        """One row per sample: ids, start, length and the targets ``lambda_07`` ...."""
        df = pd.DataFrame(
            {
                "protein_id": self.protein_ids,
                "chain_id": self.chain_ids,
                "group": self.groups,
                "start": self.starts,
                "length": self.lengths,
            }
        )
        for j, name in enumerate(eigenvalue_names(self.targets.shape[1])):
            df[name] = self.targets[:, j]
        return df


def eigenvalue_names(k: int = 10, first: int = 7) -> list[str]:
    """Column names ``lambda_07`` ... for k eigenvalues starting at λ_first."""
    return [f"lambda_{first + j:02d}" for j in range(k)]


def _empty_samples(k: int) -> EigenSamples:
    return EigenSamples(
        ca=[], aa=[], targets=np.zeros((0, k)), protein_ids=np.zeros(0, dtype=str),
        chain_ids=np.zeros(0, dtype=str), groups=np.zeros(0, dtype=np.int64),
        starts=np.zeros(0, dtype=np.int64),
    )  # fmt: skip


def _spectrum_or_reason(
    ca: NDArray, gly: NDArray, config: BetaGMConfig
) -> tuple[NDArray | None, str, int]:
    """(targets or None, skip reason, zero-mode count) of one trace."""
    breaks = chain_breaks(ca, config.gap_distance)
    if breaks.size:
        step = np.linalg.norm(ca[breaks + 1] - ca[breaks], axis=1)
        return None, f"chain break ({breaks.size} gap(s), max {step.max():.1f} Å)", -1
    try:
        res = betagm_from_ca(ca, gly, config.replace(require_rigid=False))
    except EnmError as exc:
        return None, f"β-GM error: {exc}", -1
    if res.n_zero_modes != config.n_zero_modes:
        return None, f"{res.n_zero_modes} zero modes", res.n_zero_modes
    return np.asarray(res.eigenvalues, dtype=np.float64), "", res.n_zero_modes


def _collect(
    rows: list[tuple[ChainRecord, int, int]], config: BetaGMConfig
) -> tuple[EigenSamples, pd.DataFrame]:
    kept: list[tuple[ChainRecord, int, int, NDArray]] = []
    skipped: list[dict[str, Any]] = []
    for rec, start, length in rows:
        sl = slice(start, start + length)
        ev, reason, nzero = _spectrum_or_reason(rec.ca[sl], rec.is_glycine[sl], config)
        if ev is None:
            skipped.append(
                {
                    "protein_id": rec.protein_id, "chain_id": rec.chain_id, "start": start,
                    "length": length, "reason": reason, "n_zero_modes": nzero,
                }
            )  # fmt: skip
        else:
            kept.append((rec, start, length, ev))
    k = config.n_eigenvalues
    if not kept:
        samples = _empty_samples(k)
    else:
        samples = EigenSamples(
            ca=[r.ca[s : s + n] for r, s, n, _ in kept],
            aa=[r.aa[s : s + n] for r, s, n, _ in kept],
            targets=np.stack([ev for *_, ev in kept]),
            protein_ids=np.array([r.protein_id for r, *_ in kept]),
            chain_ids=np.array([r.chain_id for r, *_ in kept]),
            groups=np.array([r.group for r, *_ in kept], dtype=np.int64),
            starts=np.array([s for _, s, _, _ in kept], dtype=np.int64),
        )
    samples.meta["config"] = config.to_dict()
    cols = ["protein_id", "chain_id", "start", "length", "reason", "n_zero_modes"]
    return samples, pd.DataFrame(skipped, columns=cols)


def make_windows(
    chains: Sequence[ChainRecord],
    window: int = 100,
    step: int = 10,
    config: BetaGMConfig | None = None,
) -> tuple[EigenSamples, pd.DataFrame]:
    """Sliding-window decoys of the chains and their β-GM targets.

    Parameters
    ----------
    chains : sequence of ChainRecord
    window : int
        Residues per decoy (100).
    step : int
        Stride between window starts ``0, step, 2·step, …`` (every chain yields at least its first
        window).
    config : BetaGMConfig, optional
        β-GM conventions (default spec config). ``require_rigid`` is ignored: the zero-mode
        count is checked here and recorded.

    Returns
    -------
    windows : EigenSamples
    skipped : DataFrame
        One row per skipped window: ``protein_id, chain_id, start, length, reason,
        n_zero_modes`` (reason ``"chain break (...)"`` or ``"<k> zero modes"``).
    """
    cfg = config if config is not None else BetaGMConfig()
    if window < 1 or step < 1:
        raise EnmError(f"window and step must be >= 1, got {window}, {step}")
    rows = [
        (rec, start, window) for rec in chains for start in range(0, len(rec) - window + 1, step)
    ]
    return _collect(rows, cfg)


def whole_chains(
    chains: Sequence[ChainRecord],
    min_length: int = 101,
    config: BetaGMConfig | None = None,
) -> tuple[EigenSamples, pd.DataFrame]:
    """Whole chains of at least ``min_length`` residues with their β-GM targets (any length).

    Chains with a chain break or a zero-mode count ≠ 6 are skipped and recorded, as windows are.
    """
    cfg = config if config is not None else BetaGMConfig()
    rows = [(rec, 0, len(rec)) for rec in chains if len(rec) >= min_length]
    return _collect(rows, cfg)


# ----------------------------------------------------------------------------------------------
# protocol pieces


def grouped_kfold(
    groups: ArrayLikeInt, n_folds: int, seed: int
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """K folds whose members are whole groups, balanced by sample count, shuffled by ``seed``.

    Groups are visited in a random order (``numpy.random.default_rng(seed)``), largest first
    among equals broken randomly, and each goes to the fold with the fewest samples so far.

    Returns
    -------
    list of (train_index, test_index)
        Sorted int64 index arrays; every sample is in exactly one test fold.
    """
    groups = np.asarray(groups)
    uniq, counts = np.unique(groups, return_counts=True)
    if n_folds < 2 or n_folds > uniq.size:
        raise EnmError(f"need 2 <= n_folds <= number of groups ({uniq.size}), got {n_folds}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(uniq.size)
    order = order[np.argsort(-counts[order], kind="stable")]
    load = np.zeros(n_folds, dtype=np.int64)
    fold_of: dict[Any, int] = {}
    for gi in order:
        f = int(np.flatnonzero(load == load.min())[rng.integers((load == load.min()).sum())])
        fold_of[uniq[gi]] = f
        load[f] += counts[gi]
    sample_fold = np.array([fold_of[g] for g in groups], dtype=np.int64)
    return [
        (np.flatnonzero(sample_fold != f), np.flatnonzero(sample_fold == f)) for f in range(n_folds)
    ]


ArrayLikeInt = Sequence[int] | NDArray[np.int64]


def mean_baseline(train_targets: NDArray, n: int) -> NDArray[np.float64]:
    """The uninformative model: the training-set mean of each eigenvalue, repeated n times."""
    return np.repeat(np.asarray(train_targets).mean(axis=0, keepdims=True), n, axis=0)


def mape_optimal_constant(train_targets: NDArray, n: int) -> NDArray[np.float64]:
    """The best constant under MAPE, per eigenvalue, repeated n times (a stronger reference).

    ``argmin_c Σ_i |c − t_i| / t_i`` is the median of the training targets weighted by ``1/t_i``:
    with heavy-tailed targets it is far below the mean. A model that only learned this shrinkage
    scores like this constant; one that learned structure beats it.
    """
    t = np.asarray(train_targets, dtype=np.float64)
    out = np.empty(t.shape[1])
    for j in range(t.shape[1]):
        order = np.argsort(t[:, j])
        values, weights = t[order, j], 1.0 / np.abs(t[order, j])
        cum = np.cumsum(weights)
        out[j] = values[np.searchsorted(cum, 0.5 * cum[-1])]
    return np.repeat(out[None, :], n, axis=0)


def mape_per_eigenvalue(pred: NDArray, true: NDArray) -> NDArray[np.float64]:
    """Mean absolute percentage error (%) of each column: ``100 · mean |p − t| / |t|``."""
    pred = np.asarray(pred, dtype=np.float64)
    true = np.asarray(true, dtype=np.float64)
    if pred.shape != true.shape:
        raise EnmError(f"prediction shape {pred.shape} differs from target shape {true.shape}")
    return 100.0 * np.mean(np.abs(pred - true) / np.abs(true), axis=0)


# ----------------------------------------------------------------------------------------------
# models: graphs, the GNN wrapper, training through the project Trainer


def residue_graph(ca: NDArray, aa: NDArray, cutoff: float = 10.0, reverse: bool = False):
    """A residue graph of one Cα trace for the GNN (a ``torch_geometric.data.Data``).

    Nodes are residues (in chain order, or reversed with ``reverse=True``); edges join residues
    whose Cα are closer than ``cutoff`` Å (both directions). All features are invariant under rigid
    motions and under sequence reversal (up to the node order):

    * node ``x`` (F = 27, :data:`NODE_FEATURES`): residue-type one-hot (20; zeros for
      non-standard residues; glycines carry no Cβ in the β-GM), terminus flag (first/last
      residue: no Cβ either), Cα neighbours within 7.5 Å and 10 Å (/10), distance to the centroid
      (/10 Å and /R_g), and two graph-level values repeated on every node: ``log(N)/5`` and
      ``R_g/10 Å``;
    * edge ``edge_attr`` (Fe = 5, :data:`EDGE_FEATURES`): ``d/cutoff``, ``3.8 Å/d``, bonded
      (``|i − j| = 1``), ``min(|i − j|, 20)/20``, ``d < 7.5 Å`` (the β-GM cutoff).

    Returns
    -------
    torch_geometric.data.Data
        ``x`` (N, 27) float32, ``edge_index`` (2, E) int64, ``edge_attr`` (E, 5) float32.
    """
    ca = np.asarray(ca, dtype=np.float64)
    aa = np.asarray(aa, dtype=np.int64)
    if reverse:
        ca, aa = ca[::-1], aa[::-1]
    n = ca.shape[0]
    diff = ca[:, None, :] - ca[None, :, :]
    dist = np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))
    adj = dist < cutoff
    np.fill_diagonal(adj, False)
    src, dst = np.nonzero(adj)
    d = dist[src, dst]
    sep = np.abs(src - dst)

    onehot = np.zeros((n, 20), dtype=np.float32)
    ok = aa >= 0
    onehot[np.flatnonzero(ok), aa[ok]] = 1.0
    terminus = np.zeros(n, dtype=np.float32)
    terminus[[0, -1]] = 1.0
    centre = ca.mean(axis=0)
    r_centre = np.linalg.norm(ca - centre, axis=1)
    rg = math.sqrt(float(np.mean(r_centre**2)))
    n_7 = (dist < 7.5).sum(axis=1) - 1
    n_10 = adj.sum(axis=1)
    x = np.column_stack(
        [
            onehot,
            terminus,
            n_7 / 10.0,
            n_10 / 10.0,
            r_centre / 10.0,
            r_centre / max(rg, 1e-6),
            np.full(n, math.log(n) / 5.0),
            np.full(n, rg / 10.0),
        ]
    ).astype(np.float32)
    edge_attr = np.column_stack(
        [
            d / cutoff,
            3.8 / d,
            (sep == 1).astype(np.float64),
            np.minimum(sep, 20) / 20.0,
            (d < 7.5).astype(np.float64),
        ]
    ).astype(np.float32)
    return Data(
        x=torch.from_numpy(x),
        edge_index=torch.from_numpy(np.stack([src, dst]).astype(np.int64)),
        edge_attr=torch.from_numpy(edge_attr),
        num_nodes=n,
    )


#: Node feature columns of :func:`residue_graph`.
NODE_FEATURES = [f"res_{c}" for c in ONE_LETTER] + [
    "terminus", "n_ca_7.5A/10", "n_ca_10A/10", "r_centroid/10A", "r_centroid/Rg", "log(N)/5",
    "Rg/10A",
]  # fmt: skip
#: Edge feature columns of :func:`residue_graph`.
EDGE_FEATURES = ["d/cutoff", "3.8A/d", "bonded", "min(|i-j|,20)/20", "d<7.5A"]


class GraphSampleDataset:
    """Residue graphs (:func:`residue_graph`) of samples, optionally with their reverses.

    A minimal in-memory, map-style dataset of PyG ``Data`` (``y`` float32 (1, K), ``entry_id``),
    the graph counterpart of :class:`~deeprank_like.data.coulomb_dataset.CoulombMatrixDataset`.
    """

    def __init__(
        self,
        samples: EigenSamples,
        augment_reverse: bool = False,
        cutoff: float = 10.0,
        with_targets: bool = True,
    ) -> None:
        self.items = []
        for reverse in (False, True) if augment_reverse else (False,):
            for i in range(len(samples)):
                g = residue_graph(samples.ca[i], samples.aa[i], cutoff=cutoff, reverse=reverse)
                if with_targets:
                    g.y = torch.tensor(samples.targets[i], dtype=torch.float32).unsqueeze(0)
                g.entry_id = _sample_id(samples, i) + (":rev" if reverse else "")
                self.items.append(g)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx: int):
        return self.items[idx]


def _sample_id(samples: EigenSamples, i: int) -> str:
    return f"{samples.protein_ids[i]}:{samples.chain_ids[i]}:{samples.starts[i]}"


def _log_stats(targets: NDArray) -> tuple[list[float], list[float]]:
    logs = np.log(np.asarray(targets, dtype=np.float64))
    return logs.mean(axis=0).tolist(), np.maximum(logs.std(axis=0), 1e-3).tolist()


class ResidueGraphGNN(nn.Module):
    """:class:`~deeprank_like.nn.GINENet` with positive, log-scaled outputs.

    The output is ``exp(mean + std · z)`` of the GINENet output z (per eigenvalue), with
    ``mean``/``std`` of ``log λ`` over the training set given as constructor lists (so checkpoints
    re-create the network exactly). Predictions are positive and start near the geometric mean.

    Parameters
    ----------
    num_node_features, num_edge_features : int
        F and Fe of :func:`residue_graph` (27 and 5).
    output_size, hidden_size, num_layers, head_hidden_size, dropout, norm
        As :class:`~deeprank_like.nn.GINENet`.
    target_log_mean, target_log_std : sequence of float, optional
        Per-output mean and standard deviation of ``log(target)`` (default 0 and 1).
    """

    def __init__(
        self,
        num_node_features: int,
        num_edge_features: int,
        output_size: int = 10,
        hidden_size: int = 64,
        num_layers: int = 4,
        head_hidden_size: int = 128,
        dropout: float = 0.0,
        norm: str = "layer",
        target_log_mean: Sequence[float] | None = None,
        target_log_std: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        record_config(self, locals())
        self.gnn = GINENet(
            num_node_features, num_edge_features, output_size=output_size,
            hidden_size=hidden_size, num_layers=num_layers,
            head_hidden_size=head_hidden_size, dropout=dropout, norm=norm,
        )  # fmt: skip
        mean = target_log_mean if target_log_mean is not None else [0.0] * output_size
        std = target_log_std if target_log_std is not None else [1.0] * output_size
        self.register_buffer("log_mean", torch.tensor(list(mean), dtype=torch.float32))
        self.register_buffer("log_std", torch.tensor(list(std), dtype=torch.float32))

    def forward(self, data) -> torch.Tensor:
        """(B, output_size) positive predictions."""
        return torch.exp(self.log_mean + self.log_std * self.gnn(data))


def log_l1_loss(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """Mean absolute error of ``log`` predictions (scale-free; needs positive outputs)."""
    return (torch.log(pred) - torch.log(true)).abs().mean()


def mape_log_l1_loss(pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
    """MAPE (as a fraction) plus :func:`log_l1_loss`."""
    return ((pred - true).abs() / true.abs()).mean() + log_l1_loss(pred, true)


#: Training losses by name: the Trainer's "mape" (percent) or custom callables.
LOSS_CHOICES: dict[str, Any] = {
    "mape": "mape",
    "log_l1": log_l1_loss,
    "mape+log_l1": mape_log_l1_loss,
}
_OPTIMIZERS: dict[str, Any] = {"adagrad": torch.optim.Adagrad, "adam": "adam", "adamw": "adamw"}


def fit_predict(
    model: nn.Module,
    train_dataset: Any,
    test_datasets: Sequence[Any],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    optimizer: str = "adagrad",
    loss: str = "mape",
    seed: int = 0,
    output_dir: str | os.PathLike | None = None,
) -> tuple[pd.DataFrame, list[NDArray[np.float64]]]:
    """Train ``model`` with the project :class:`~deeprank_like.training.Trainer`, then predict.

    A fixed number of epochs, the last epoch's weights (nothing of the training folds is held
    out for early stopping), no checkpoint. ``optimizer`` is ``"adagrad"`` (the paper's),
    ``"adam"`` or ``"adamw"``; ``loss`` a key of :data:`LOSS_CHOICES`.

    Returns
    -------
    history : DataFrame
        The Trainer's per-epoch metrics table.
    predictions : list of ndarray (n_i, K)
        Predictions for each of ``test_datasets``, in item order.
    """
    import tempfile

    from deeprank_like.training import Trainer

    if optimizer not in _OPTIMIZERS:
        raise EnmError(f"optimizer must be one of {sorted(_OPTIMIZERS)}, got {optimizer!r}")
    if loss not in LOSS_CHOICES:
        raise EnmError(f"loss must be one of {sorted(LOSS_CHOICES)}, got {loss!r}")
    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer(
            model, train_dataset, task="regress", loss=LOSS_CHOICES[loss],
            optimizer=_OPTIMIZERS[optimizer], lr=lr, seed=seed, device="cpu",
            output_dir=output_dir if output_dir is not None else tmp,
        )  # fmt: skip
        history = trainer.train(epochs, batch_size, best_model=False, checkpoint=None)
        preds = []
        for ds in test_datasets:
            frame = trainer.predict(ds, batch_size=128)
            k = sum(c.startswith("output_") for c in frame.columns)
            preds.append(frame[[f"output_{j}" for j in range(k)]].to_numpy(dtype=np.float64))
    return history, preds


# ----------------------------------------------------------------------------------------------
# the whole protocol


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """Every knob of :func:`run_experiment` (plain data; ``to_dict`` round-trips to JSON).

    Data: ``window`` residues per decoy, ``step`` between window starts, chains of at least
    ``min_length`` residues, β-GM conventions ``betagm`` (a :class:`BetaGMConfig` dict; spec
    defaults when None). Protocol: ``n_folds``-fold CV grouped by protein group, repeated once per
    seed in ``seeds``. Models: ``models`` ⊂ {"cnn", "gnn"}; each has epochs, batch size, learning
    rate, optimiser and training loss (a key of :data:`LOSS_CHOICES`: ``"mape"`` as the paper,
    ``"log_l1"`` or ``"mape+log_l1"``; defaults: MAPE for the CNN, |log| for the GNN, the best of
    each on probe folds, see ``docs/betagm_experiment.md``).
    ``log_output``: both networks predict ``exp(mean + std · z)`` with the training folds' log-target
    statistics (MAPE is still computed on the original scale). ``whole_chains``: also predict the
    whole chains longer than ``window`` of the held-out groups with each fold's GNN.
    """

    window: int = 100
    step: int = 20
    min_length: int = 100
    n_folds: int = 5
    seeds: tuple[int, ...] = (0, 1)
    models: tuple[str, ...] = ("cnn", "gnn")
    log_output: bool = True
    cnn_loss: str = "mape"
    cnn_epochs: int = 30
    cnn_batch_size: int = 32
    cnn_lr: float = 0.008
    cnn_optimizer: str = "adagrad"
    gnn_loss: str = "log_l1"
    gnn_epochs: int = 25
    gnn_batch_size: int = 32
    gnn_lr: float = 0.003
    gnn_optimizer: str = "adam"
    gnn_hidden_size: int = 64
    gnn_num_layers: int = 4
    graph_cutoff: float = 10.0
    whole_chains: bool = True
    threads: int = 2
    betagm: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        bad = sorted(set(self.models) - {"cnn", "gnn"})
        if bad:
            raise EnmError(f"unknown model(s) {bad}; choose from ['cnn', 'gnn']")
        if not self.seeds:
            raise EnmError("seeds must name at least one CV repeat")
        for name in ("cnn_loss", "gnn_loss"):
            if getattr(self, name) not in LOSS_CHOICES:
                raise EnmError(f"{name} must be one of {sorted(LOSS_CHOICES)}")
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        object.__setattr__(self, "models", tuple(self.models))

    def betagm_config(self) -> BetaGMConfig:
        """The β-GM conventions of the targets."""
        return BetaGMConfig.from_dict(self.betagm) if self.betagm else BetaGMConfig()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of all fields."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}


@dataclass
class ExperimentResult:
    """What :func:`run_experiment` produced.

    Attributes
    ----------
    summary : DataFrame
        One row per (model, eigenvalue): ``mape`` (mean over repeats of the MAPE of the pooled
        held-out predictions of one repeat), ``mape_sd`` (sd over repeats), ``median_ape``,
        ``n`` (held-out predictions per repeat), ``set`` (``"windows"`` or ``"whole_chains"``).
    predictions : DataFrame
        Held-out predictions: ``set, repeat, fold, model, sample, protein_id, start, length,
        eigenvalue, true, pred``.
    windows, whole : EigenSamples
    skipped : DataFrame
        Chains and windows left out, with the reason (``what`` = chain, window or whole_chain).
    timings : dict
        Seconds per stage.
    config : ExperimentConfig
    """

    summary: pd.DataFrame
    predictions: pd.DataFrame
    windows: EigenSamples
    whole: EigenSamples | None
    skipped: pd.DataFrame
    timings: dict[str, float]
    config: ExperimentConfig

    def mape_table(self, set_name: str = "windows") -> pd.DataFrame:
        """Eigenvalues × models table of MAPE (%) for ``set_name``."""
        df = self.summary[self.summary["set"] == set_name]
        return df.pivot(index="eigenvalue", columns="model", values="mape")


def _fit_predict_cnn(train: EigenSamples, tests: Sequence[EigenSamples], cfg: ExperimentConfig,
                     seed: int) -> list[NDArray]:  # fmt: skip
    from deeprank_like.data.coulomb_dataset import CoulombMatrixDataset
    from deeprank_like.nn.coulomb_cnn import CoulombCNN

    torch.manual_seed(seed)
    kwargs: dict[str, Any] = {"input_size": cfg.window, "output_size": train.targets.shape[1]}
    if cfg.log_output:
        kwargs["target_log_mean"], kwargs["target_log_std"] = _log_stats(train.targets)
    model = CoulombCNN(**kwargs)
    _, preds = fit_predict(
        model, CoulombMatrixDataset(train.ca, train.targets, augment_reverse=True),
        [CoulombMatrixDataset(t.ca) for t in tests],
        epochs=cfg.cnn_epochs, batch_size=cfg.cnn_batch_size, lr=cfg.cnn_lr,
        optimizer=cfg.cnn_optimizer, loss=cfg.cnn_loss, seed=seed,
    )  # fmt: skip
    return preds


def _fit_predict_gnn(train: EigenSamples, tests: Sequence[EigenSamples], cfg: ExperimentConfig,
                     seed: int) -> list[NDArray]:  # fmt: skip
    torch.manual_seed(seed)
    kwargs: dict[str, Any] = {
        "num_node_features": len(NODE_FEATURES), "num_edge_features": len(EDGE_FEATURES),
        "output_size": train.targets.shape[1], "hidden_size": cfg.gnn_hidden_size,
        "num_layers": cfg.gnn_num_layers,
    }  # fmt: skip
    if cfg.log_output:
        kwargs["target_log_mean"], kwargs["target_log_std"] = _log_stats(train.targets)
    model = ResidueGraphGNN(**kwargs)
    _, preds = fit_predict(
        model, GraphSampleDataset(train, augment_reverse=True, cutoff=cfg.graph_cutoff),
        [GraphSampleDataset(t, cutoff=cfg.graph_cutoff, with_targets=False) for t in tests],
        epochs=cfg.gnn_epochs, batch_size=cfg.gnn_batch_size, lr=cfg.gnn_lr,
        optimizer=cfg.gnn_optimizer, loss=cfg.gnn_loss, seed=seed,
    )  # fmt: skip
    return preds


def _long_predictions(
    samples: EigenSamples, idx: NDArray, pred: NDArray, **labels: Any
) -> pd.DataFrame:
    k = pred.shape[1]
    names = eigenvalue_names(k)
    n = len(idx)
    return pd.DataFrame(
        {
            **{key: [value] * (n * k) for key, value in labels.items()},
            "sample": np.repeat(idx, k),
            "protein_id": np.repeat(samples.protein_ids[idx], k),
            "start": np.repeat(samples.starts[idx], k),
            "length": np.repeat(samples.lengths[idx], k),
            "eigenvalue": np.tile(names, n),
            "true": samples.targets[idx].reshape(-1),
            "pred": pred.reshape(-1),
        }
    )


def summarise(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per (set, model, eigenvalue): MAPE per repeat (pooled folds), then mean/sd over repeats."""
    df = predictions.assign(ape=100.0 * (predictions["pred"] - predictions["true"]).abs()
                            / predictions["true"].abs())  # fmt: skip
    per_repeat = (
        df.groupby(["set", "model", "eigenvalue", "repeat"])["ape"]
        .agg(mape="mean", median_ape="median", n="size")
        .reset_index()
    )
    out = (
        per_repeat.groupby(["set", "model", "eigenvalue"])
        .agg(
            mape=("mape", "mean"),
            mape_sd=("mape", lambda s: float(s.std(ddof=1)) if len(s) > 1 else 0.0),
            median_ape=("median_ape", "mean"),
            n=("n", "first"),
            repeats=("repeat", "nunique"),
        )
        .reset_index()
    )
    return out


def run_experiment(
    chains: Sequence[ChainRecord],
    config: ExperimentConfig | None = None,
    *,
    skipped_chains: pd.DataFrame | None = None,
    progress: Any = None,
) -> ExperimentResult:
    """Run the whole protocol (module docstring) on some chains.

    Parameters
    ----------
    chains : sequence of ChainRecord
        From :func:`chains_from_folder` or :func:`load_chain` (groups are assigned with
        :func:`assign_groups` if any chain has none).
    config : ExperimentConfig, optional
    skipped_chains : DataFrame, optional
        The chain-level skip table of :func:`chains_from_folder`, merged into the result's.
    progress : callable, optional
        Called with one-line progress messages (e.g. ``print``).

    Returns
    -------
    ExperimentResult
    """
    cfg = config if config is not None else ExperimentConfig()
    if any(c.group < 0 for c in chains):
        chains = assign_groups(chains)
    say = progress if progress is not None else (lambda msg: log.info("%s", msg))
    threads_before = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    timings: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        bcfg = cfg.betagm_config()
        windows, skipped_w = make_windows(chains, cfg.window, cfg.step, bcfg)
        whole = None
        skipped_c = pd.DataFrame(columns=skipped_w.columns)
        if cfg.whole_chains and "gnn" in cfg.models:
            whole, skipped_c = whole_chains(chains, cfg.window + 1, bcfg)
        timings["targets_s"] = time.perf_counter() - t0
        say(
            f"{len(chains)} chains, {len(set(windows.groups.tolist()))} protein groups: "
            f"{len(windows)} windows kept, {len(skipped_w)} skipped; "
            f"{0 if whole is None else len(whole)} whole chains > {cfg.window} residues "
            f"({timings['targets_s']:.1f} s)"
        )
        skipped = pd.concat(
            [
                (skipped_chains if skipped_chains is not None else pd.DataFrame()).assign(
                    what="chain"
                ),
                skipped_w.assign(what="window"),
                skipped_c.assign(what="whole_chain"),
            ],
            ignore_index=True,
        )
        frames: list[pd.DataFrame] = []
        timings.update({f"{m}_train_s": 0.0 for m in cfg.models})
        for seed in cfg.seeds:
            folds = grouped_kfold(windows.groups, cfg.n_folds, seed)
            group_fold = {
                int(g): f for f, (_, te) in enumerate(folds) for g in np.unique(windows.groups[te])
            }
            for f, (tr, te) in enumerate(folds):
                train, test = windows.subset(tr), windows.subset(te)
                labels = {"set": "windows", "repeat": seed, "fold": f}
                base = mean_baseline(train.targets, len(te))
                frames.append(_long_predictions(windows, te, base, model="baseline", **labels))
                const = mape_optimal_constant(train.targets, len(te))
                frames.append(_long_predictions(windows, te, const, model="mape_constant",
                                                **labels))  # fmt: skip
                held = np.zeros(0, dtype=np.int64)
                if whole is not None and len(whole):
                    held = np.flatnonzero([group_fold.get(int(g), 0) == f for g in whole.groups])
                wl = {"set": "whole_chains", "repeat": seed, "fold": f}
                if held.size and "gnn" in cfg.models:
                    for name, fn in (("baseline", mean_baseline),
                                     ("mape_constant", mape_optimal_constant)):  # fmt: skip
                        frames.append(
                            _long_predictions(
                                whole, held, fn(train.targets, held.size), model=name, **wl
                            )
                        )
                for name in cfg.models:
                    t1 = time.perf_counter()
                    tests = [test]
                    if name == "gnn" and held.size:
                        tests.append(whole.subset(held))
                    fit = _fit_predict_cnn if name == "cnn" else _fit_predict_gnn
                    preds = fit(train, tests, cfg, seed * 1000 + f)
                    timings[f"{name}_train_s"] += time.perf_counter() - t1
                    frames.append(_long_predictions(windows, te, preds[0], model=name, **labels))
                    if len(preds) > 1:
                        frames.append(_long_predictions(whole, held, preds[1], model=name, **wl))
                done = pd.concat(frames, ignore_index=True)
                cur = done[(done["repeat"] == seed) & (done["fold"] == f)
                           & (done["set"] == "windows")]  # fmt: skip
                msg = ", ".join(
                    f"{m} {100 * np.mean(np.abs(g.pred - g.true) / g.true):.0f}%"
                    for m, g in cur.groupby("model")
                )
                say(f"repeat {seed} fold {f + 1}/{cfg.n_folds}: test MAPE (all λ) {msg}")
        predictions = pd.concat(frames, ignore_index=True)
        timings["total_s"] = time.perf_counter() - t0
    finally:
        torch.set_num_threads(threads_before)
    return ExperimentResult(
        summary=summarise(predictions),
        predictions=predictions,
        windows=windows,
        whole=whole,
        skipped=skipped,
        timings=timings,
        config=cfg,
    )


# ----------------------------------------------------------------------------------------------
# reporting


def results_markdown(result: ExperimentResult, command: str | None = None) -> str:
    """The results as Markdown: per-eigenvalue MAPE tables, data counts, timings, config."""
    cfg = result.config
    lines = ["# β-GM eigenvalue prediction: results", ""]
    if command:
        lines += ["Command:", "", "```", command, "```", ""]
    n_groups = len(set(result.windows.groups.tolist()))
    n_chains = len(set(zip(result.windows.protein_ids.tolist(),
                           result.windows.chain_ids.tolist(), strict=True)))  # fmt: skip
    sk = result.skipped
    win_sk = sk[sk["what"] == "window"]
    lines += [
        f"Data: {len(result.windows)} windows of {cfg.window} residues (step {cfg.step}) from "
        f"{n_chains} chains in {n_groups} protein groups; {len(win_sk)} windows skipped "
        f"({int(win_sk['reason'].str.startswith('chain break').sum())} chain breaks, "
        f"{int(win_sk['reason'].str.endswith('zero modes').sum())} with ≠ "
        f"{cfg.betagm_config().n_zero_modes} zero modes). Protocol: {cfg.n_folds}-fold CV "
        f"grouped by protein group, {len(cfg.seeds)} repeat(s) (seeds {list(cfg.seeds)}); each "
        f"window and its reverse are in the same fold (reverses used for training only). "
        f"Training losses: CNN `{cfg.cnn_loss}`, GNN `{cfg.gnn_loss}`; log-scaled outputs: "
        f"{cfg.log_output}. MAPE and median APE are on the original scale. `mape_constant` is "
        "the MAPE-optimal constant (1/λ-weighted median of the training targets).",
        "",
    ]
    for set_name, title in (
        ("windows", "Held-out windows: MAPE (%) per eigenvalue, mean ± sd over repeats"),
        ("whole_chains", "Whole chains longer than the window (GNN, no pruning): MAPE (%)"),
    ):
        df = result.summary[result.summary["set"] == set_name]
        if df.empty:
            continue
        models = [m for m in ("cnn", "gnn", "baseline", "mape_constant") if m in set(df["model"])]
        lines += [f"## {title}", ""]
        header = "| eigenvalue | " + " | ".join(f"{m} MAPE" for m in models) + " | "
        header += " | ".join(f"{m} median APE" for m in models) + " |"
        lines += [header, "|---" * (1 + 2 * len(models)) + "|"]
        for ev in sorted(set(df["eigenvalue"])):
            row = df[df["eigenvalue"] == ev].set_index("model")
            cells = [
                f"{row.loc[m, 'mape']:.1f} ± {row.loc[m, 'mape_sd']:.1f}"
                if row.loc[m, "repeats"] > 1 else f"{row.loc[m, 'mape']:.1f}"
                for m in models
            ]  # fmt: skip
            cells += [f"{row.loc[m, 'median_ape']:.1f}" for m in models]
            lines.append(f"| {ev} | " + " | ".join(cells) + " |")
        n = int(df["n"].iloc[0]) if set_name == "windows" else int(df["n"].max())
        lines += ["", f"({n} held-out predictions per eigenvalue and repeat.)", ""]
        learned = [m for m in models if m in ("cnn", "gnn")]
        pivot = df.pivot(index="eigenvalue", columns="model", values="mape")
        for m in learned:
            wins = int((pivot[m] < pivot["baseline"]).sum())
            lines.append(f"- {m} beats the baseline MAPE on {wins}/{len(pivot)} eigenvalues.")
            if "mape_constant" in pivot:
                wins = int((pivot[m] < pivot["mape_constant"]).sum())
                lines.append(
                    f"- {m} beats the MAPE-optimal constant on {wins}/{len(pivot)} eigenvalues."
                )
        lines.append("")
    lines += ["## Timings (s)", ""]
    lines += [f"- {k}: {v:.1f}" for k, v in result.timings.items()]
    lines += ["", "## Config", "", "```json", json.dumps(cfg.to_dict(), indent=1), "```", ""]
    return "\n".join(lines)


def scatter_plot(result: ExperimentResult, path: str | os.PathLike | None = None, repeat=None):
    """Predicted vs exact eigenvalues (linear and log-log) of every learned model.

    One row per (set, model) with held-out predictions (first repeat unless ``repeat`` is
    given), colour = eigenvalue index. On the log panels, predictions more than 1000 × below the
    smallest exact value are drawn on the lower edge. Returns the matplotlib figure (saved to ``path`` if given).
    """
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    pred = result.predictions
    rep = result.config.seeds[0] if repeat is None else repeat
    pred = pred[(pred["repeat"] == rep) & pred["model"].isin(["cnn", "gnn"])]
    panels = [(s, m) for s in ("windows", "whole_chains") for m in ("cnn", "gnn")
              if not pred[(pred["set"] == s) & (pred["model"] == m)].empty]  # fmt: skip
    fig, axes = plt.subplots(
        len(panels), 2, figsize=(9, 3.4 * len(panels)), squeeze=False, layout="constrained"
    )
    names = sorted(set(pred["eigenvalue"]))
    cmap = plt.get_cmap("viridis", len(names))
    for r, (set_name, model) in enumerate(panels):
        df = pred[(pred["set"] == set_name) & (pred["model"] == model)]
        colour = list(df["eigenvalue"].map({n: cmap(i) for i, n in enumerate(names)}))
        lo, hi = float(df["true"].min()), float(max(df["true"].max(), df["pred"].max()))
        label = "held-out windows" if set_name == "windows" else "whole chains (> window)"
        for c, scale in enumerate(("linear", "log")):
            ax = axes[r, c]
            y = df["pred"].to_numpy()
            if scale == "log":  # show predictions far below the data range on the lower edge
                floor = lo / 1e3
                y = np.maximum(y, floor)
                ax.set_ylim(floor / 2, hi * 2)
            ax.scatter(df["true"], y, s=4, c=colour, alpha=0.6, linewidths=0)
            start = lo if scale == "log" else 0.0
            ax.plot([start, hi], [start, hi], "k--", lw=0.8)
            ax.set_xscale(scale)
            ax.set_yscale(scale)
            ax.set_xlabel("exact λ (k units)")
            ax.set_ylabel("predicted λ")
            ax.set_title(f"{model.upper()}, {label}, {scale}", fontsize=9)
    sm = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(7, 6 + len(names)))
    fig.colorbar(sm, ax=axes, label="eigenvalue index", shrink=0.5)
    if path is not None:
        fig.savefig(path, dpi=90)
        plt.close(fig)
    return fig


def write_results(
    result: ExperimentResult,
    out_dir: str | os.PathLike,
    command: str | None = None,
    predictions: bool = True,
) -> dict[str, Path]:
    """Write ``results.csv``, ``results.md``, ``scatter.png``, ``skipped.csv``, ``windows.csv``
    (and ``predictions.csv.gz``) to ``out_dir``; returns the paths by name."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "results_csv": out / "results.csv",
        "results_md": out / "results.md",
        "scatter": out / "scatter.png",
        "skipped": out / "skipped.csv",
        "windows": out / "windows.csv",
    }
    result.summary.round(4).to_csv(paths["results_csv"], index=False)
    paths["results_md"].write_text(results_markdown(result, command))
    scatter_plot(result, paths["scatter"])
    result.skipped.to_csv(paths["skipped"], index=False)
    result.windows.table().to_csv(paths["windows"], index=False, float_format="%.6g")
    if predictions:
        paths["predictions"] = out / "predictions.csv.gz"
        result.predictions.to_csv(paths["predictions"], index=False, float_format="%.6g")
    return paths
