"""The chain pool and the paper's windows over all of ``shared/data`` (issue 14, parts 1 and 2).

Every protein chain of every entry of ``proteins/``, ``bm5/`` (bound ``*_target`` and unbound
``*_target-unbound`` files) and ``ddg/pdbs/`` is read with the library's Cα reader
(:func:`deeprank_like.enm.read_ca_structure`, :func:`~deeprank_like.enm.ca_trace` with
``missing_ca="drop"``, first model). Then:

1. **Filters.** A chain is kept with at least ``min_length`` (100) residues having a Cα (the
   experiment's filter); an exact copy of a kept chain (same sequence and identical Cα
   coordinates, e.g. an entry in two folders) is left out. Every left-out chain or file is listed
   with its reason.
2. **Protein groups.** Union of (a) the bound and unbound copies of one BM5 partner (same id,
   same chain letter) and (b) sequence groups (:func:`deeprank_like.data.split.sequence_groups`:
   ≥ 50 % shared 3-mers, single linkage), which also joins the point mutants of one protein
   (T4 lysozyme, barnase, staphylococcal nuclease, ...).
3. **Windows as the paper made them.** All 100-residue windows (step 1) of chains of 101–110
   residues; of longer chains, only *compact* windows: radius of gyration at most the
   ``rg_quantile`` quantile of the windows of the 101–110-residue chains (windows as globular as
   the paper's decoys; extended fragments and dangling ends are left out). Windows spanning a
   chain break (Cα–Cα > 4.2 Å) are never taken. Each protein group then contributes at most
   ``cap`` windows: all of its 101–110-residue windows first (evenly spaced over its chains and
   starts if there are more), then compact windows of its longer chains, evenly spaced over
   chains and starts. The cap keeps a few long, many-copy proteins from dominating the set.
4. **Targets (optional).** λ₇..λ₁₆ of each selected window (``--targets``), computed in chunks
   appended to ``targets.csv`` (resumable: windows already in the file are skipped); a window with
   a zero-mode count ≠ 6 is written with its count and NaN targets.

Usage, from the repository root::

    python -m experiments.betagm.pool --data ../shared/data --out docs/results/betagm_pool
    python -m experiments.betagm.pool --data ../shared/data --out ... --measure 50
    nice -n 15 python -m experiments.betagm.pool --data ../shared/data --out ... --targets

Writes ``chains.csv`` (the pool, one row per kept chain), ``skipped.csv``, ``windows.csv`` (the
selected windows, without targets), ``summary.md`` (tables) and optionally ``targets.csv``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

from deeprank_like.data.split import sequence_groups  # noqa: E402
from deeprank_like.domain.aminoacids import residue_name_indices  # noqa: E402
from deeprank_like.enm import (  # noqa: E402
    BetaGMConfig,
    ChainRecord,
    betagm_from_ca,
    ca_trace,
    chain_breaks,
    eigenvalue_names,
    protein_chain_ids,
    read_ca_structure,
)
from deeprank_like.errors import EnmError, StructureError  # noqa: E402
from deeprank_like.structure import structure_name  # noqa: E402

__all__ = [
    "PoolConfig",
    "assign_pool_groups",
    "compute_targets",
    "read_pool",
    "select_windows",
    "window_rg",
]

#: (source name, sub-folder, file glob) of ``shared/data``.
SOURCES = (
    ("proteins", "proteins", "*.pdb.gz"),
    ("bm5", "bm5", "*_target*.pdb.gz"),
    ("ddg", "ddg/pdbs", "*.pdb.gz"),
)


@dataclass(frozen=True)
class PoolConfig:
    """Choices of the pool and of the windows (see the module docstring)."""

    min_length: int = 100
    window: int = 100
    short_max: int = 110
    rg_quantile: float = 0.95
    cap: int = 40
    gap_distance: float = 4.2


# ----------------------------------------------------------------------------------------------
# chains


def _kind(source: str, stem: str) -> str:
    if source == "bm5":
        return "unbound" if stem.endswith("-unbound") else "bound"
    return "entry"


def read_pool(
    data: str | os.PathLike,
    config: PoolConfig = PoolConfig(),
    progress: Callable[[str], None] | None = None,
) -> tuple[list[ChainRecord], pd.DataFrame, pd.DataFrame]:
    """Every protein chain of every entry of ``data`` with its filters applied.

    Parameters
    ----------
    data : str or PathLike
        The ``shared/data`` folder (with ``proteins/``, ``bm5/``, ``ddg/pdbs/``).
    config : PoolConfig
    progress : callable, optional
        Called with a line of text every 100 files.

    Returns
    -------
    chains : list of ChainRecord
        Kept chains, ``protein_id = "<source>/<file stem>"``, ``group = -1``.
    info : DataFrame
        One row per kept chain: ``protein_id, chain_id, source, entry, kind, length,
        n_missing_ca, n_breaks``.
    skipped : DataFrame
        ``protein_id, chain_id, reason`` for every file or chain left out.
    """
    root = Path(data)
    files = [
        (source, p) for source, sub, pattern in SOURCES for p in sorted((root / sub).glob(pattern))
    ]
    if not files:
        raise EnmError(f"{root}: no structure files under proteins/, bm5/ or ddg/pdbs/")
    chains: list[ChainRecord] = []
    info: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    seen: dict[tuple[str, bytes], str] = {}
    for i, (source, path) in enumerate(files):
        if progress is not None and i % 100 == 0:
            progress(f"read {i}/{len(files)} files, {len(chains)} chains kept")
        stem = structure_name(path)
        pid = f"{source}/{stem}"
        try:
            structure = read_ca_structure(path)
            chain_ids = protein_chain_ids(structure)
        except (EnmError, StructureError) as exc:
            skipped.append({"protein_id": pid, "chain_id": "", "reason": f"unreadable: {exc}"})
            continue
        if not chain_ids:
            skipped.append({"protein_id": pid, "chain_id": "", "reason": "no protein chain"})
        for chain in chain_ids:
            try:
                trace = ca_trace(structure, chain, missing_ca="drop")
            except EnmError as exc:
                skipped.append({"protein_id": pid, "chain_id": chain, "reason": str(exc)})
                continue
            n = len(trace)
            if n < config.min_length:
                reason = f"length {n} < {config.min_length}"
                skipped.append({"protein_id": pid, "chain_id": chain, "reason": reason})
                continue
            rec = ChainRecord(
                protein_id=pid,
                chain_id=chain,
                path=os.fspath(path),
                ca=np.array(trace.ca, dtype=np.float64),
                aa=residue_name_indices(np.asarray(trace.residue_names)).astype(np.int64),
                is_glycine=np.array(trace.is_glycine),
                n_missing_ca=int(trace.missing_residue_indices.size),
            )
            key = (rec.sequence, rec.ca.tobytes())
            if key in seen:
                reason = f"exact copy of {seen[key]}"
                skipped.append({"protein_id": pid, "chain_id": chain, "reason": reason})
                continue
            seen[key] = f"{pid}:{chain}"
            chains.append(rec)
            info.append(
                {
                    "protein_id": pid,
                    "chain_id": chain,
                    "source": source,
                    "entry": stem.split("_")[0].upper(),
                    "kind": _kind(source, stem),
                    "length": n,
                    "n_missing_ca": rec.n_missing_ca,
                    "n_breaks": int(chain_breaks(rec.ca, config.gap_distance).size),
                }
            )
    return (
        chains,
        pd.DataFrame(info),
        pd.DataFrame(skipped, columns=["protein_id", "chain_id", "reason"]),
    )


def assign_pool_groups(chains: Sequence[ChainRecord], info: pd.DataFrame) -> NDArray[np.int64]:
    """Protein group of every chain: BM5 bound/unbound copies joined, then sequence groups.

    Returns
    -------
    ndarray, shape (n_chains,), int64
        Groups 0, 1, ... in order of first appearance.
    """
    seq = sequence_groups([c.sequence for c in chains])
    parent = list(range(len(chains)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    first: dict[tuple[str, int], int] = {}
    for i, g in enumerate(seq):
        union(i, first.setdefault(("seq", int(g)), i))
    bm5 = info["source"].to_numpy() == "bm5"
    for i in np.flatnonzero(bm5):
        key = ("bm5:" + str(info["entry"].iat[i]) + ":" + str(info["chain_id"].iat[i]), 0)
        union(int(i), first.setdefault(key, int(i)))
    roots = [find(i) for i in range(len(chains))]
    relabel: dict[int, int] = {}
    return np.array([relabel.setdefault(r, len(relabel)) for r in roots], dtype=np.int64)


# ----------------------------------------------------------------------------------------------
# windows


def window_rg(ca: NDArray[np.float64], window: int) -> NDArray[np.float64]:
    """Radius of gyration (Å) of every ``window``-residue window of a trace, shape (N − w + 1,)."""
    n = ca.shape[0]
    if n < window:
        return np.zeros(0)
    c1 = np.concatenate([np.zeros((1, 3)), np.cumsum(ca, axis=0)])
    c2 = np.concatenate([[0.0], np.cumsum((ca**2).sum(axis=1))])
    s1 = c1[window:] - c1[:-window]
    s2 = c2[window:] - c2[:-window]
    return np.sqrt(np.maximum(s2 / window - (s1**2).sum(axis=1) / window**2, 0.0))


def _break_free_starts(ca: NDArray[np.float64], window: int, gap: float) -> NDArray[np.bool_]:
    n = ca.shape[0]
    broken = np.zeros(max(n - 1, 0), dtype=np.int64)
    broken[chain_breaks(ca, gap)] = 1
    c = np.concatenate([[0], np.cumsum(broken)])
    starts = np.arange(n - window + 1)
    return (c[starts + window - 1] - c[starts]) == 0


def _spread(n_items: int, k: int) -> NDArray[np.int64]:
    """k indices spread evenly over range(n_items) (all of them when k >= n_items)."""
    if k >= n_items:
        return np.arange(n_items)
    return np.unique(np.round(np.linspace(0, n_items - 1, k)).astype(np.int64))


def select_windows(
    chains: Sequence[ChainRecord], groups: NDArray[np.int64], config: PoolConfig = PoolConfig()
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The paper's windows plus compact windows of longer chains, capped per protein group.

    Returns
    -------
    windows : DataFrame
        One row per selected window: ``protein_id, chain_id, chain_index, group, chain_length,
        start, rg, kind`` (``"short"``: chain of 101–``short_max`` residues; ``"long"``).
    stats : dict
        Candidate counts and the Rg threshold (Å).
    """
    w = config.window
    rows: list[tuple[int, int, int, float, bool]] = []
    for ci, rec in enumerate(chains):
        n = len(rec)
        if n <= w:
            continue
        ok = _break_free_starts(rec.ca, w, config.gap_distance)
        rg = window_rg(rec.ca, w)
        short = n <= config.short_max
        rows.extend((ci, int(groups[ci]), s, float(rg[s]), short) for s in np.flatnonzero(ok))
    cand = pd.DataFrame(rows, columns=["chain_index", "group", "start", "rg", "short"])
    short_rg = cand.loc[cand["short"], "rg"]
    threshold = float(short_rg.quantile(config.rg_quantile)) if len(short_rg) else np.inf
    compact = cand["short"] | (cand["rg"] <= threshold)
    eligible = cand[compact]
    picked: list[pd.DataFrame] = []
    for _, part in eligible.groupby("group", sort=True):
        s_part = part[part["short"]]
        l_part = part[~part["short"]]
        take = s_part.iloc[_spread(len(s_part), config.cap)]
        room = config.cap - len(take)
        if room > 0 and len(l_part):
            take = pd.concat([take, l_part.iloc[_spread(len(l_part), room)]])
        picked.append(take)
    sel = pd.concat(picked, ignore_index=True) if picked else eligible.iloc[:0]
    sel = sel.sort_values(["chain_index", "start"]).reset_index(drop=True)
    out = pd.DataFrame(
        {
            "protein_id": [chains[i].protein_id for i in sel["chain_index"]],
            "chain_id": [chains[i].chain_id for i in sel["chain_index"]],
            "chain_index": sel["chain_index"].to_numpy(),
            "group": sel["group"].to_numpy(),
            "chain_length": [len(chains[i]) for i in sel["chain_index"]],
            "start": sel["start"].to_numpy(),
            "rg": sel["rg"].round(3).to_numpy(),
            "kind": np.where(sel["short"], "short", "long"),
        }
    )
    stats = {
        "candidates": len(cand),
        "candidates_short": int(cand["short"].sum()),
        "candidates_long": int((~cand["short"]).sum()),
        "compact_long": int((~cand["short"] & compact).sum()),
        "rg_threshold": threshold,
        "groups_with_candidates": int(cand["group"].nunique()) if len(cand) else 0,
    }
    return out, stats


# ----------------------------------------------------------------------------------------------
# targets


def compute_targets(
    chains: Sequence[ChainRecord],
    windows: pd.DataFrame,
    out_csv: str | os.PathLike,
    chunk: int = 200,
    config: BetaGMConfig | None = None,
    limit: int | None = None,
    progress: Callable[[str], None] | None = None,
    window: int = 100,
) -> float:
    """β-GM targets of the windows, appended to ``out_csv`` in chunks (resumable).

    Windows already in ``out_csv`` (by ``protein_id, chain_id, start``) are skipped. Columns:
    ``protein_id, chain_id, start, n_zero_modes, lambda_07 … lambda_16`` (NaN targets when the
    zero-mode count is not 6). Returns the CPU seconds spent.
    """
    cfg = (config or BetaGMConfig()).replace(require_rigid=False)
    names = eigenvalue_names(cfg.n_eigenvalues)
    path = Path(out_csv)
    done: set[tuple[str, str, int]] = set()
    if path.exists() and path.stat().st_size:
        prev = pd.read_csv(
            path, usecols=["protein_id", "chain_id", "start"], dtype={"chain_id": str}
        )
        done = set(
            zip(prev["protein_id"], prev["chain_id"], prev["start"].astype(int), strict=True)
        )
    todo = [
        r
        for r in windows.itertuples(index=False)
        if (r.protein_id, str(r.chain_id), int(r.start)) not in done
    ]
    if limit is not None:
        todo = todo[:limit]
    cpu0 = time.process_time()
    for c0 in range(0, len(todo), chunk):
        out: list[dict[str, Any]] = []
        for r in todo[c0 : c0 + chunk]:
            rec = chains[int(r.chain_index)]
            sl = slice(int(r.start), int(r.start) + window)
            res = betagm_from_ca(rec.ca[sl], rec.is_glycine[sl], cfg)
            ok = res.n_zero_modes == cfg.n_zero_modes
            row = {"protein_id": r.protein_id, "chain_id": r.chain_id, "start": int(r.start)}
            row["n_zero_modes"] = res.n_zero_modes
            for j, name in enumerate(names):
                row[name] = float(res.eigenvalues[j]) if ok else np.nan
            out.append(row)
        pd.DataFrame(out).to_csv(
            path, mode="a", header=not (path.exists() and path.stat().st_size), index=False
        )
        if progress is not None:
            progress(
                f"targets: {c0 + len(out)}/{len(todo)} ({time.process_time() - cpu0:.0f} CPU-s)"
            )
    return time.process_time() - cpu0


# ----------------------------------------------------------------------------------------------
# report


def _length_table(lengths: pd.Series) -> str:
    bins = [100, 101, 111, 151, 201, 301, 601, 10**6]
    labels = ["100", "101–110", "111–150", "151–200", "201–300", "301–600", "> 600"]
    counts = pd.cut(lengths, bins=bins, right=False, labels=labels).value_counts(sort=False)
    return "\n".join(f"| {k} | {v} |" for k, v in counts.items())


def summary_markdown(
    info: pd.DataFrame,
    skipped: pd.DataFrame,
    windows: pd.DataFrame,
    stats: dict[str, Any],
    config: PoolConfig,
    command: str,
) -> str:
    """The pool and window tables as markdown."""
    lines = [
        "# β-GM chain pool and windows over shared/data",
        "",
        f"Command: `{command}`",
        "",
        "## Chains by source",
        "",
        "| source | kind | files | chains kept | groups | length median | min | max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (source, kind), part in info.groupby(["source", "kind"], sort=True):
        lines.append(
            f"| {source} | {kind} | {part['protein_id'].nunique()} | {len(part)} | "
            f"{part['group'].nunique()} | {part['length'].median():.0f} | "
            f"{part['length'].min()} | {part['length'].max()} |"
        )
    lines.append(
        f"| **all** | | {info['protein_id'].nunique()} | {len(info)} | {info['group'].nunique()} "
        f"| {info['length'].median():.0f} | {info['length'].min()} | {info['length'].max()} |"
    )
    lines += ["", "## Length distribution (residues with Cα) of kept chains", "",
              "| length | chains |", "|---|---|", _length_table(info["length"]), ""]  # fmt: skip
    reasons = skipped["reason"].str.replace(r"length \d+ <", "length <", regex=True)
    reasons = reasons.str.replace(r"exact copy of .*", "exact copy of a kept chain", regex=True)
    reasons = reasons.str.replace(r"unreadable: .*", "unreadable file", regex=True)
    lines += ["## Skipped chains and files", "", "| reason | count |", "|---|---|"]
    lines += [f"| {r} | {c} |" for r, c in reasons.value_counts().items()]
    per_group = windows.groupby("group").size()
    lines += [
        "",
        "## Windows",
        "",
        f"Window {config.window}, step 1; short chains: {config.window + 1}–{config.short_max} "
        f"residues (all windows); long chains: windows with Rg ≤ {stats['rg_threshold']:.2f} Å "
        f"(the {config.rg_quantile:.2f} quantile of the short chains' windows); at most "
        f"{config.cap} windows per protein group.",
        "",
        "| quantity | value |",
        "|---|---|",
        f"| break-free candidate windows | {stats['candidates']} |",
        f"| … of short chains | {stats['candidates_short']} |",
        f"| … of long chains | {stats['candidates_long']} |",
        f"| … of long chains, compact | {stats['compact_long']} |",
        f"| groups with candidates | {stats['groups_with_candidates']} |",
        f"| **selected windows** | **{len(windows)}** |",
        f"| … from short chains | {(windows['kind'] == 'short').sum()} |",
        f"| … from long chains | {(windows['kind'] == 'long').sum()} |",
        f"| chains contributing | {windows['chain_index'].nunique()} |",
        f"| **protein groups contributing** | **{windows['group'].nunique()}** |",
        f"| windows per group: median / max | {per_group.median():.0f} / {per_group.max()} |",
        f"| largest group's share | {100 * per_group.max() / max(len(windows), 1):.1f} % |",
        f"| chains of exactly {config.window} residues (evaluation candidates) | "
        f"{(info['length'] == config.window).sum()} |",
        "",
    ]
    return "\n".join(lines)


def targets_markdown(windows: pd.DataFrame, targets: pd.DataFrame) -> str:
    """Zero-mode counts and target statistics of the computed windows, as markdown."""
    merged = windows.merge(targets, on=["protein_id", "chain_id", "start"])
    rigid = merged[merged["n_zero_modes"] == 6]
    counts = merged["n_zero_modes"].value_counts().sort_index()
    lines = [
        "## Targets",
        "",
        f"Computed: {len(merged)} of {len(windows)} windows. Rigid (6 zero modes): "
        f"**{len(rigid)} windows from {rigid['group'].nunique()} protein groups** "
        f"({rigid['chain_index'].nunique()} chains). Zero-mode counts: "
        + ", ".join(f"{k}: {v}" for k, v in counts.items())
        + " (windows with ≠ 6 have NaN targets and are left out of learning).",
        "",
        "| windows | n | λ₇ median | λ₇ < 10⁻³ | λ₁₆ median |",
        "|---|---|---|---|---|",
    ]
    for kind, part in [("short chains", rigid[rigid["kind"] == "short"]),
                       ("long chains", rigid[rigid["kind"] == "long"]), ("all", rigid)]:  # fmt: skip
        if len(part):
            lines.append(
                f"| {kind} | {len(part)} | {part['lambda_07'].median():.4f} | "
                f"{100 * (part['lambda_07'] < 1e-3).mean():.1f} % | "
                f"{part['lambda_16'].median():.3f} |"
            )
    return "\n".join(lines) + "\n"


def _read_targets(out: Path) -> pd.DataFrame | None:
    for name in ("targets.csv", "targets.csv.gz"):
        if (out / name).exists():
            return pd.read_csv(out / name, dtype={"chain_id": str})
    return None


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(
        prog="python -m experiments.betagm.pool",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--data", required=True, help="the shared/data folder")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--cap", type=int, default=PoolConfig.cap, help="windows per protein group")
    p.add_argument("--rg-quantile", type=float, default=PoolConfig.rg_quantile)
    p.add_argument("--measure", type=int, default=0, help="time the targets of N windows")
    p.add_argument("--targets", action="store_true", help="compute targets (resumable)")
    p.add_argument("--chunk", type=int, default=200)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    library = logging.getLogger("deeprank_like")
    level = library.level
    library.setLevel(logging.ERROR)  # per-chain warnings go to skipped.csv instead
    try:
        return _run(args, argv)
    finally:
        library.setLevel(level)  # main() called in-process (tests) leaves logging as it was


def _run(args: argparse.Namespace, argv: list[str] | None) -> int:
    config = PoolConfig(cap=args.cap, rg_quantile=args.rg_quantile)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    chains, info, skipped = read_pool(args.data, config, progress=lambda m: print(m, flush=True))
    groups = assign_pool_groups(chains, info)
    chains = [c.with_group(int(g)) for c, g in zip(chains, groups, strict=True)]
    info["group"] = groups
    windows, stats = select_windows(chains, groups, config)
    print(f"{len(chains)} chains, {len(set(groups.tolist()))} groups, {len(windows)} windows "
          f"from {windows['group'].nunique()} groups ({time.perf_counter() - t0:.0f} s)")  # fmt: skip
    command = "python -m experiments.betagm.pool " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    info.to_csv(out / "chains.csv", index=False)
    skipped.to_csv(out / "skipped.csv", index=False)
    windows.to_csv(out / "windows.csv", index=False)
    (out / "summary.md").write_text(
        summary_markdown(info, skipped, windows, stats, config, command)
    )
    if args.measure:
        sample = windows.iloc[_spread(len(windows), args.measure)]
        tmp = out / "measure_targets.csv"
        tmp.unlink(missing_ok=True)
        compute_targets(chains, windows.iloc[-1:], tmp)  # warm-up: imports, LAPACK workspace
        tmp.unlink(missing_ok=True)
        cpu = compute_targets(chains, sample, tmp)
        tmp.unlink(missing_ok=True)
        per = cpu / max(len(sample), 1)
        print(f"targets: {1e3 * per:.1f} CPU-ms per window ({len(sample)} windows); "
              f"all {len(windows)}: {per * len(windows) / 60:.1f} CPU-min")  # fmt: skip
    if args.targets:
        cpu = compute_targets(
            chains, windows, out / "targets.csv", chunk=args.chunk,
            progress=lambda m: print(m, flush=True),
        )  # fmt: skip
        print(f"targets done ({cpu:.0f} CPU-s)")
    targets = _read_targets(out)
    if targets is not None:
        text = summary_markdown(info, skipped, windows, stats, config, command)
        (out / "summary.md").write_text(text + "\n" + targets_markdown(windows, targets))
    return 0


if __name__ == "__main__":
    sys.exit(main())
