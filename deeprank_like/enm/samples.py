"""β-GM samples: the Cα chains of structure files, their windows and whole chains with targets.

The data side of learning the β-GM spectrum (Giulini & Potestio 2019), as free functions over
numpy arrays:

* :func:`load_chain` / :func:`chains_from_folder` read Cα traces (:class:`ChainRecord`) through
  :func:`~deeprank_like.enm.ca_trace` with ``missing_ca="drop"``: an amino acid without a Cα
  is left out and counted (:attr:`ChainRecord.n_missing_ca`); the hole it leaves is seen by the
  chain-break test, so no window spans it.
* :func:`make_windows` / :func:`whole_chains` compute λ₇..λ₁₆ of sliding windows or whole chains
  (:class:`EigenSamples`), recording every skipped one (chain break, zero-mode count ≠ 6) with
  its reason.
* :func:`mean_baseline`, :func:`mape_optimal_constant` and :func:`mape_per_eigenvalue`: the
  reference predictors and the metric of the paper.

Protein groups (which chains are the same protein) are not decided here: chains come with
``group = -1`` and :func:`deeprank_like.data.split.assign_sequence_groups` sets them.
Units: Å for coordinates; eigenvalues in the units of the spring constants.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from deeprank_like.domain.aminoacids import ONE_LETTER, residue_name_indices
from deeprank_like.enm.betagm import betagm_from_ca
from deeprank_like.enm.config import BetaGMConfig
from deeprank_like.enm.windows import ca_trace, chain_breaks, protein_chain_ids, read_ca_structure
from deeprank_like.errors import EnmError, StructureError

__all__ = [
    "ChainRecord",
    "EigenSamples",
    "chains_from_folder",
    "eigenvalue_names",
    "load_chain",
    "make_windows",
    "mape_optimal_constant",
    "mape_per_eigenvalue",
    "mean_baseline",
    "whole_chains",
]


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
        Protein group (-1 until assigned, e.g. by
        :func:`deeprank_like.data.split.assign_sequence_groups`).
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

    def with_group(self, group: int) -> ChainRecord:
        """A copy in protein group ``group`` (arrays shared, not copied)."""
        return dataclasses.replace(self, group=int(group))


def load_chain(path: str | os.PathLike, chain_id: str | None = None) -> ChainRecord:
    """Read the Cα trace of one chain of a structure file.

    The trace is :func:`~deeprank_like.enm.ca_trace` with ``missing_ca="drop"``: residues with
    a Cα atom, in file order; amino acids without one are left out and counted in
    :attr:`ChainRecord.n_missing_ca`.

    Parameters
    ----------
    path : str or PathLike
        PDB/mmCIF file (optionally gzipped); the first model is read.
    chain_id : str, optional
        Chain to take; default: the structure's only chain with amino acids (EnmError if several).

    Returns
    -------
    ChainRecord
        With ``group = -1``.

    Raises
    ------
    EnmError
        No or several amino-acid chains (``chain_id`` not given), an unknown chain, or a chain
        without Cα atoms; the message starts with the file name.
    """
    from deeprank_like.structure import structure_name

    s = read_ca_structure(path)
    if chain_id is None:
        protein_chains = protein_chain_ids(s)
        if len(protein_chains) != 1:
            raise EnmError(f"{path}: expected one amino-acid chain, found {protein_chains}")
        chain_id = protein_chains[0]
    try:
        trace = ca_trace(s, chain_ids=str(chain_id), missing_ca="drop")
    except EnmError as exc:
        raise EnmError(f"{path}: chain {chain_id!r}: {exc}") from exc
    return ChainRecord(
        protein_id=structure_name(path),
        chain_id=str(chain_id),
        path=os.fspath(path),
        ca=np.array(trace.ca, dtype=np.float64),
        aa=residue_name_indices(np.asarray(trace.residue_names)).astype(np.int64),
        is_glycine=np.array(trace.is_glycine),
        n_missing_ca=int(trace.missing_residue_indices.size),
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
    folder : str or PathLike
    min_length, max_length : int
        Keep chains with ``min_length <= N (<= max_length)`` Cα atoms.
    limit : int, optional
        Read at most this many files (sorted by name).

    Returns
    -------
    chains : list of ChainRecord
        Sorted by protein id (file name), with ``group = -1`` (assign protein groups with
        :func:`deeprank_like.data.split.assign_sequence_groups`).
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
    return out, pd.DataFrame(skipped, columns=["protein_id", "chain_id", "reason"])


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
# reference predictors and the metric


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
