"""The quickstart job: docking decoys → DockQ targets → graphs (HDF5) → GNN → ranked decoys.

Everything runs on data shipped in the package (the 3C8P complex), in a few minutes on two CPU
cores. ``deeprank-like quickstart --output DIR`` calls :func:`run_quickstart`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["QuickstartResult", "run_quickstart"]

log = logging.getLogger(__name__)

#: Decoy groups: (number share, max rotation in degrees, max translation in Å).
_MOVES = ((0.35, 6.0, 1.5), (0.35, 15.0, 4.0), (0.30, 35.0, 8.0))
FEATURES = ("components", "contact", "surfacearea", "irc", "docking")


@dataclass(frozen=True)
class QuickstartResult:
    """What the quickstart produced.

    Attributes
    ----------
    output : Path
        The output folder.
    features_file : Path
        HDF5 file with one residue graph per decoy.
    n_entries, n_failed : int
    test_metrics : dict of str to float
    ranking : DataFrame
        Test decoys ranked by predicted DockQ (columns ``entry``, ``target``, ``output``;
        ``output`` is in (0, 1): the network has a sigmoid output).
    seconds : float
    """

    output: Path
    features_file: Path
    n_entries: int
    n_failed: int
    test_metrics: dict[str, float]
    ranking: pd.DataFrame
    seconds: float


def run_quickstart(
    output: str | Path = "quickstart-output",
    *,
    n_decoys: int = 60,
    epochs: int = 40,
    cpu_count: int | None = None,
    seed: int = 0,
    plots: bool = True,
) -> QuickstartResult:
    """Make docking decoys of the example complex, featurise them and train a GNN on DockQ.

    Parameters
    ----------
    output : path
        Folder for decoys, the HDF5 file, metrics, plots, predictions and the model.
    n_decoys : int
        Decoys to generate (plus the native itself).
    epochs : int
        Training epochs (the best validation epoch is kept).
    cpu_count : int, optional
        Featurisation processes (default: all CPUs).
    seed : int
        Seeds decoys, the split and training.
    plots : bool
        Write loss and predicted-vs-true plots (needs matplotlib).

    Returns
    -------
    QuickstartResult
    """
    from deeprank_like import ProteinProteinInterfaceQuery, QueryCollection
    from deeprank_like.data import GraphDataset, split_dataset
    from deeprank_like.examples import example_path
    from deeprank_like.processing import Execution, FeaturizeConfig, process
    from deeprank_like.structure.decoys import DecoySettings, make_docking_decoys
    from deeprank_like.training import Trainer, build_model_for

    t0 = time.perf_counter()
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    native = example_path("3C8P")
    decoy_dir = out / "decoys"
    paths: list[Path] = [native]
    for k, (share, rot, shift) in enumerate(_MOVES):
        count = max(1, round(share * n_decoys))
        settings = DecoySettings(max_rotation_deg=rot, max_translation=shift)
        paths += make_docking_decoys(
            native, "B", count, decoy_dir, settings=settings, seed=seed + k, prefix=f"3C8P_move{k}"
        )
    queries = QueryCollection(
        ProteinProteinInterfaceQuery(
            pdb_path=str(p), chain_ids=["A", "B"], reference_path=str(native)
        )
        for p in paths
    )
    features = out / "features.hdf5"
    config = FeaturizeConfig(
        output=out / "features",
        feature_modules=list(FEATURES),
        processing=Execution(cpu_count=cpu_count, overwrite=True),
    )
    summary = process(queries, config)
    dataset = GraphDataset(str(features), target="dockq", task="regress", standardize=True)
    train, val, test = split_dataset(dataset, (0.7, 0.15, 0.15), seed=seed)
    # DockQ lies in [0, 1]: a sigmoid output keeps every prediction there (build_model_for's
    # choice for DockQ and Fnat; recorded in the checkpoint)
    model = build_model_for(
        "gine", train, hidden_size=32, num_layers=3, output_activation="sigmoid"
    )
    trainer = Trainer(model, train, val, test, lr=3e-3, seed=seed, output_dir=out, plots=plots)
    trainer.train(epochs=epochs, batch_size=8, early_stopping_patience=15)
    metrics = trainer.test()
    predictions = pd.read_csv(out / "predictions_test.csv")
    ranking = predictions.sort_values("output", ascending=False)[["entry", "target", "output"]]
    ranking.to_csv(out / "ranking_test.csv", index=False)
    return QuickstartResult(
        output=out,
        features_file=features,
        n_entries=len(dataset),
        n_failed=int(getattr(summary, "failed", 0)),
        test_metrics={k: float(v) for k, v in metrics.items() if np.isscalar(v)},
        ranking=ranking.reset_index(drop=True),
        seconds=time.perf_counter() - t0,
    )
