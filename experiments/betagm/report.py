"""Reports of the β-GM experiment: Markdown tables, scatter plots and the files of a run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from experiments.betagm.protocol import ExperimentResult

__all__ = ["results_markdown", "scatter_plot", "write_results"]


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
