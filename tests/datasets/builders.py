"""Small HDF5 feature files for the dataset, network and training tests (built once per process).

Graphs: residue interfaces of 1ATN_1w, 1ATN_2w and 3C8P (chains A/B, ``components`` +
``contact``) at influence radii 8, 10 and 12 Å: 9 entries of 28-192 nodes, with targets
``irmsd`` (a smooth function of the graph, so that a network can learn it), ``binary``
(irmsd > median) and ``capri`` (4 classes). Grids: 6 of those entries with 8×8×8 grids
(16 Å box) and 2 augmented rotations each.
"""

from __future__ import annotations

import atexit
import copy
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np

PDB = Path(__file__).resolve().parents[1] / "data" / "pdb"
MODELS = ("1ATN_1w", "1ATN_2w", "3C8P")
RADII = (8.0, 10.0, 12.0)


@functools.lru_cache(maxsize=1)
def workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="deeprank_like_training_tests_"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.lru_cache(maxsize=1)
def graphs() -> tuple:
    """The 9 featurised graphs with targets."""
    from deeprank_like import ProteinProteinInterfaceQuery

    out = []
    for model in MODELS:
        for radius in RADII:
            query = ProteinProteinInterfaceQuery(
                pdb_path=str(PDB / f"{model}.pdb"),
                chain_ids=["A", "B"],
                influence_radius=radius,
                model_id=f"{model}_r{radius:g}",
            )
            out.append(query.build())
    sizes = np.array([g.num_nodes for g in out], dtype=float)
    irmsd = 1.0 + 9.0 * (sizes - sizes.min()) / (sizes.max() - sizes.min())
    median = np.median(irmsd)
    for g, value in zip(out, irmsd, strict=True):
        g.targets = {
            "irmsd": float(value),
            "binary": int(value > median),
            "capri": int(min(3, value // 2.5)),
        }
    return tuple(out)


def _add_grids(group, graph) -> None:
    from deeprank_like.grid.hdf5 import add_grids
    from deeprank_like.grid.settings import GridSettings

    settings = GridSettings(points_counts=(8, 8, 8), sizes=(16.0, 16.0, 16.0))
    add_grids(group, graph, settings, augmentations=2, seed=0)


def _write(path: Path, items: list, grids: bool = False) -> Path:
    import h5py

    from deeprank_like.storage import write_graph

    with h5py.File(path, "w") as f:
        for g in items:
            extra = functools.partial(_add_grids, graph=g) if grids else None
            write_graph(f, g, extra=extra)
    return path


@functools.lru_cache(maxsize=1)
def graph_file() -> Path:
    """All 9 graphs in one file."""
    return _write(workdir() / "graphs.hdf5", list(graphs()))


@functools.lru_cache(maxsize=1)
def graph_files_split() -> tuple[Path, Path]:
    """The 1ATN graphs in one file, the 3C8P graphs in another."""
    g = graphs()
    return (
        _write(workdir() / "graphs_1atn.hdf5", list(g[:6])),
        _write(workdir() / "graphs_3c8p.hdf5", list(g[6:])),
    )


@functools.lru_cache(maxsize=1)
def unlabelled_file() -> Path:
    """Two graphs without targets (inference data)."""
    items = []
    for g in graphs()[:2]:
        h = copy.copy(g)
        h.id = f"{g.id}_unlabelled"
        h.targets = {}
        items.append(h)
    return _write(workdir() / "unlabelled.hdf5", items)


@functools.lru_cache(maxsize=1)
def grid_file() -> Path:
    """6 graphs (radii 8 and 10 Å) with 3 grids each."""
    items = [g for g in graphs() if not g.id.endswith("_r12")]
    return _write(workdir() / "grids.hdf5", items, grids=True)
