"""Score docking models with the shipped DockQ predictor.

:func:`score_models` ranks the models (poses) of a docking run by predicted DockQ::

    from deeprank_like import score_models

    table = score_models(["models/m1.pdb", "models/m2.pdb"], chain_ids="A,B")
    table.head()  # file, predicted_dockq, predicted_capri_class, rank, error

The command line does the same: ``deeprank-like score --ppi A,B -o scores.csv models/*.pdb``.

The model
    :class:`DockingGINE` (a GINE graph network whose readout also sums the node embeddings, so
    it sees the size of the interface that mean and max pooling hide) on residue graphs of the
    interface (``components``, ``contact``,
    ``surfacearea`` and ``irc`` features), trained on rigid-body decoys of the 185 complexes of
    Docking Benchmark 5 to predict DockQ against the bound complex; the output is a logit and
    ``predicted_dockq = sigmoid(logit)`` lies in (0, 1). The ``contact`` energies are computed
    with the force-field tables the model was trained with (``model.json``
    ``query.forcefield_version``; a model without it was trained before the force-field fix and
    gets version 1, see :func:`deeprank_like.domain.forcefield.load_forcefield`). The weights (a plain ``state_dict``
    read with ``torch.load(weights_only=True)``) and a JSON file with the network config, the
    feature standardisation and the evaluation figures live in ``deeprank_like/pretrained/docking/``
    with a model card (``MODEL_CARD.md``). Nothing is downloaded.

Input preparation
    Models from other docking programs differ in details that must not change the features, so
    each file is first rewritten (in a temporary folder, the input is only read) as a plain
    two-chain PDB file: the chains of each side are kept (every other chain, waters,
    hydrogens and non-amino-acid HETATM residues are dropped; modified amino acids such as
    ``MSE`` and force-field names such as ``HSD`` become their parent residue), side 1 becomes
    chain ``A`` and side 2 chain ``B``. A side made of several chains (``H+L``) becomes one
    chain with its residues renumbered in file order, as the training complexes had one chain
    per side (an antibody's heavy and light chains were one receptor chain). A few heavy-atom
    name variants are mapped to the PDB names (``OT1``/``OC1`` → ``O``, ``OT2``/``OC2`` → ``OXT``,
    CHARMM's isoleucine ``CD`` → ``CD1``).

Predicted CAPRI class
    From the predicted DockQ with the DockQ paper's thresholds (Basu & Wallner 2016):
    ``high`` ≥ 0.80, ``medium`` ≥ 0.49, ``acceptable`` ≥ 0.23, else ``incorrect``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

from deeprank_like.domain.chains import split_chain_spec
from deeprank_like.errors import DeeprankLikeError, QueryError, StructureError, TrainingError
from deeprank_like.nn.gnn import GINENet
from deeprank_like.nn.registry import record_config, register_model
from deeprank_like.structure.docking_decoys import pdb_atom_name

__all__ = [
    "CAPRI_DOCKQ_THRESHOLDS",
    "DEFAULT_MODEL_DIR",
    "FEATURE_MODULES",
    "DockingGINE",
    "ScoringModel",
    "dockq_capri_class",
    "load_scoring_model",
    "parse_sides",
    "prepare_model_file",
    "save_scoring_model",
    "score_models",
]

#: Folder of the shipped model (``weights.pt`` + ``model.json`` + ``MODEL_CARD.md``).
DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "docking"
#: Feature modules the shipped model was trained with.
FEATURE_MODULES: tuple[str, ...] = ("components", "contact", "surfacearea", "irc")
#: (lowest DockQ, class) from best to worst; below the last one: ``incorrect``.
CAPRI_DOCKQ_THRESHOLDS: tuple[tuple[float, str], ...] = (
    (0.80, "high"),
    (0.49, "medium"),
    (0.23, "acceptable"),
)
WEIGHTS_FILE = "weights.pt"
METADATA_FILE = "model.json"
FORMAT = "deeprank_like.pretrained"
FORMAT_VERSION = 1
COLUMNS = ("file", "predicted_dockq", "predicted_capri_class", "rank", "error")

#: Heavy-atom names of other conventions → PDB names: (residue or "*", name) → name.
_ATOM_ALIASES: dict[tuple[str, str], str] = {
    ("*", "OT1"): "O",
    ("*", "OT2"): "OXT",
    ("*", "OC1"): "O",
    ("*", "OC2"): "OXT",
    ("*", "O1"): "O",
    ("*", "O2"): "OXT",
    ("ILE", "CD"): "CD1",
}


@register_model("docking_gine")
class DockingGINE(GINENet):
    """:class:`~deeprank_like.nn.gnn.GINENet` with a mean ‖ max ‖ sum/``SUM_SCALE`` readout.

    Mean and max pooling make a graph of 50 interface residues look like one of 150 with the
    same kind of residues; the scaled sum keeps the size of the interface, which the
    contact-count and buried-area baselines live on. Parameters as ``GINENet`` (pooling fixed),
    and:

    Parameters
    ----------
    edge_readout : bool
        Also pool the edges: a two-layer MLP of each edge's features (Fe → H → H), then the mean
        and the max over the edges of each graph go into the head beside the node pooling. One
        edge decides a clash (the largest Lennard-Jones term), which node pooling after message
        passing sees only diluted; the contact-energy baseline lives on it. ``False`` is the
        network of scorers saved before this option (their config records it).
    """

    SUM_SCALE = 100.0

    def __init__(
        self,
        num_node_features: int,
        num_edge_features: int = 0,
        output_size: int = 1,
        hidden_size: int = 32,
        num_layers: int = 3,
        head_hidden_size: int = 64,
        dropout: float = 0.0,
        norm: str = "none",
        edge_readout: bool = False,
    ) -> None:
        super().__init__(
            num_node_features,
            num_edge_features,
            output_size,
            hidden_size,
            num_layers,
            head_hidden_size,
            dropout,
            ("mean", "max"),
            norm,
        )
        record_config(self, locals())
        h = int(hidden_size)
        self.edge_readout = bool(edge_readout) and self.num_edge_features > 0
        self.edge_mlp = (
            nn.Sequential(
                nn.Linear(self.num_edge_features, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU()
            )
            if self.edge_readout
            else None
        )
        self.head = nn.Sequential(
            nn.Linear((5 if self.edge_readout else 3) * h, int(head_hidden_size)),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(int(head_hidden_size), int(output_size)),
        )

    def forward(self, data: Any) -> torch.Tensor:
        """(B, output_size) outputs (logits) for a PyG batch."""
        x = torch.relu(self.node_encoder(data.x))
        e = self.edge_encoder(data.edge_attr) if self.edge_encoder is not None else None
        for conv, norm in zip(self.convs, self.norms, strict=True):
            h = conv(x, data.edge_index, e) if e is not None else conv(x, data.edge_index)
            x = norm(x + torch.relu(h))
        batch = getattr(data, "batch", None)
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        size = getattr(data, "num_graphs", None) or (int(batch.max()) + 1 if batch.numel() else 1)
        parts = [
            global_mean_pool(x, batch, size),
            global_max_pool(x, batch, size),
            global_add_pool(x, batch, size) / self.SUM_SCALE,
        ]
        if self.edge_mlp is not None:
            y = self.edge_mlp(data.edge_attr)  # (E, H), ≥ 0
            edge_batch = batch[data.edge_index[0]]
            parts += [global_mean_pool(y, edge_batch, size), global_max_pool(y, edge_batch, size)]
        return self.head(torch.cat(parts, dim=1))


def dockq_capri_class(dockq: float) -> str:
    """CAPRI class name of a DockQ value: ``high``, ``medium``, ``acceptable`` or ``incorrect``."""
    for threshold, name in CAPRI_DOCKQ_THRESHOLDS:
        if dockq >= threshold:
            return name
    return "incorrect"


def parse_sides(chain_ids: str | Sequence[Any]) -> list[list[str]]:
    """The two sides of an interface as lists of chain ids.

    Parameters
    ----------
    chain_ids : str or sequence
        ``"A,B"``, ``"H+L,A"``, ``["A", "B"]`` or ``[["H", "L"], "A"]``.

    Returns
    -------
    list of two lists of str

    Raises
    ------
    QueryError
        Not exactly two sides, an empty chain id, or a chain in both sides.
    """
    if isinstance(chain_ids, str):
        sides = split_chain_spec(chain_ids)
    else:
        sides = [
            [str(side)] if isinstance(side, str) else [str(c) for c in side] for side in chain_ids
        ]
    if len(sides) != 2:
        raise QueryError(
            f"the docking scorer needs exactly two sides (e.g. 'A,B' or 'H+L,A'), got {chain_ids!r}"
        )
    flat = [c for side in sides for c in side]
    if any(not c for c in flat):
        raise QueryError(f"empty chain id in {chain_ids!r}")
    if len(set(flat)) != len(flat):
        raise QueryError(f"a chain appears twice in {chain_ids!r}")
    return sides


def prepare_model_file(
    path: str | os.PathLike, sides: Sequence[Sequence[str]], out_path: str | os.PathLike
) -> dict[str, int]:
    """Rewrite a docking model as the two-chain PDB file the scorer reads.

    See the module docstring for the rules. The input file is only read.

    Parameters
    ----------
    path : path
        The model (PDB or mmCIF, optionally gzipped).
    sides : two sequences of chain ids
        E.g. ``[["A"], ["B"]]`` or ``[["H", "L"], ["A"]]``.
    out_path : path
        PDB file to write (chains ``A`` and ``B``).

    Returns
    -------
    dict
        ``atoms`` written and atoms dropped as ``hydrogens``, ``other_residues`` (non-amino
        acids, including ligands and ions) and ``other_chains``.

    Raises
    ------
    StructureError
        The file cannot be read, a chain is missing, or a side has no amino-acid atoms.
    """
    from deeprank_like.structure import load_structure

    s = load_structure(path)
    missing = [c for side in sides for c in side if c not in s.chains]
    if missing:
        raise StructureError(
            f"{os.fspath(path)}: chain(s) {missing} not found (chains present: {list(s.chains)})"
        )
    aa = s.residue_aa[s.residue_index] >= 0
    heavy = ~s.is_hydrogen
    lines: list[str] = []
    serial = 0
    for new_chain, side in zip("AB", sides, strict=True):
        in_side = np.isin(s.chain_ids, list(side))
        keep = np.flatnonzero(in_side & aa & heavy)
        if keep.size == 0:
            raise StructureError(
                f"{os.fspath(path)}: chain(s) {list(side)} have no amino-acid atoms"
            )
        residues = s.residue_index[keep]
        renumber = len(side) > 1 or not (
            (s.res_numbers[keep] >= -999).all() and (s.res_numbers[keep] <= 9999).all()
        )
        if renumber:  # sequential numbers in file order, insertion codes dropped
            order = {int(r): k + 1 for k, r in enumerate(dict.fromkeys(residues.tolist()))}
        for i in keep:
            serial += 1
            res = str(s.res_names[i])
            name = str(s.atom_names[i])
            name = _ATOM_ALIASES.get((res, name), _ATOM_ALIASES.get(("*", name), name))
            element = str(s.elements[i]).upper() or name[0]
            if renumber:
                number, icode = order[int(s.residue_index[i])], ""
            else:
                number, icode = int(s.res_numbers[i]), str(s.insertion_codes[i])[:1]
            x, y, z = s.coords[i]
            lines.append(
                f"ATOM  {serial % 100000:5d} {pdb_atom_name(name, element)} {res:>3} {new_chain}"
                f"{number:4d}{icode or ' ':1}   {x:8.3f}{y:8.3f}{z:8.3f}{1.0:6.2f}"
                f"{float(s.b_factors[i]):6.2f}          {element:>2}\n"
            )
        lines.append("TER\n")
    lines.append("END\n")
    Path(out_path).write_text("".join(lines))
    sided = np.isin(s.chain_ids, [c for side in sides for c in side])
    return {
        "atoms": serial,
        "hydrogens": int((sided & ~heavy).sum()),
        "other_residues": int((sided & heavy & ~aa).sum()),
        "other_chains": int((~sided).sum()),
    }


@dataclass(frozen=True)
class ScoringModel:
    """A loaded docking scorer.

    Attributes
    ----------
    network : torch.nn.Module
        In eval mode, on CPU; outputs (B, 1) logits.
    metadata : dict
        The content of ``model.json`` (``model``, ``data``, ``query``, ``training``, ``metrics``).
    path : Path
        Folder the model was read from.
    """

    network: Any
    metadata: dict[str, Any]
    path: Path

    @property
    def data_config(self) -> dict[str, Any]:
        """Dataset config (features, transforms, standardisation) for ``GraphDataset``."""
        return self.metadata["data"]

    @property
    def query_settings(self) -> dict[str, Any]:
        """``resolution``, ``influence_radius``, ``max_edge_length`` of the training graphs."""
        q = self.metadata["query"]
        return {k: q[k] for k in ("resolution", "influence_radius", "max_edge_length")}

    @property
    def feature_modules(self) -> list[str]:
        """Feature modules the network was trained with (names)."""
        return list(self.metadata["query"]["feature_modules"])

    @property
    def forcefield_version(self) -> int:
        """Force-field table version of the training features (1 when ``model.json`` has none:
        every model written before versioned tables was trained on version 1)."""
        from deeprank_like.domain.forcefield import check_forcefield_version

        return check_forcefield_version(
            self.metadata["query"].get("forcefield_version", 1),
            f"{self.path / METADATA_FILE}: query.forcefield_version",
        )

    def featurizers(self) -> list[Any]:
        """The feature modules to featurise with: the names of :attr:`feature_modules`, with
        ``contact`` as ``Contact(forcefield_version=...)`` of :attr:`forcefield_version`."""
        from deeprank_like.features.contact import Contact

        version = self.forcefield_version
        return [
            Contact(forcefield_version=version) if name == "contact" else name
            for name in self.feature_modules
        ]


def save_scoring_model(
    out_dir: str | os.PathLike,
    network: Any,
    data_config: dict[str, Any],
    *,
    query: dict[str, Any],
    training: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    forcefield_version: int | None = None,
) -> Path:
    """Write a scorer: ``weights.pt`` (plain ``state_dict``) and ``model.json``.

    Parameters
    ----------
    out_dir : path
        Folder (created if needed).
    network : torch.nn.Module
        A registered network (its constructor config is recorded).
    data_config : dict
        ``GraphDataset.data_config()`` of the training set (with standardisation).
    query : dict
        ``resolution``, ``influence_radius``, ``max_edge_length``, ``feature_modules``.
    training, metrics : dict, optional
        Free JSON-serialisable records (how it was trained, how well it does).
    forcefield_version : {2, 1}, optional
        Force-field tables the training ``contact`` energies were computed with; recorded as
        ``query.forcefield_version`` and used by :func:`score_models`. Default: the
        ``forcefield_version`` of ``query`` if it has one (it must agree with this argument
        when both are given), else 2 (the current tables). 1 only for features computed
        before the force-field fix.

    Returns
    -------
    Path
        The folder.
    """
    import datetime as dt

    from deeprank_like import __version__
    from deeprank_like.domain.forcefield import check_forcefield_version
    from deeprank_like.nn.registry import model_config, model_name

    given = query.get("forcefield_version")
    if forcefield_version is None:
        forcefield_version = 2 if given is None else given
    version = check_forcefield_version(forcefield_version)
    if given is not None and given != version:
        raise ValueError(
            f"save_scoring_model: query['forcefield_version']={given!r} disagrees with "
            f"forcefield_version={version}"
        )
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
    torch.save(state, out / WEIGHTS_FILE)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "torch_version": torch.__version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "model": {"name": model_name(network), "config": model_config(network)},
        "output": {"target": "dockq", "transform": "sigmoid"},
        "capri_dockq_thresholds": [list(t) for t in CAPRI_DOCKQ_THRESHOLDS],
        "data": data_config,
        "query": {**query, "forcefield_version": version},
        "training": training or {},
        "metrics": metrics or {},
    }
    (out / METADATA_FILE).write_text(json.dumps(meta, indent=1, default=_json_default) + "\n")
    return out


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON-serialisable: {obj!r}")


def load_scoring_model(model_dir: str | os.PathLike | None = None) -> ScoringModel:
    """Load a scorer folder (default: the shipped model).

    Raises
    ------
    TrainingError
        Missing files, a ``model.json`` that is not this format, or weights that do not fit.
    """

    from deeprank_like.training.checkpoint import restore_model

    folder = Path(model_dir) if model_dir is not None else DEFAULT_MODEL_DIR
    meta_path, weights_path = folder / METADATA_FILE, folder / WEIGHTS_FILE
    for p in (meta_path, weights_path):
        if not p.is_file():
            raise TrainingError(f"{folder}: not a docking scorer folder ({p.name} is missing)")
    try:
        meta = json.loads(meta_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TrainingError(f"{meta_path}: not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise TrainingError(f"{meta_path}: not a {FORMAT} metadata file")
    for key in ("model", "data", "query"):
        if key not in meta:
            raise TrainingError(f"{meta_path}: the {key!r} record is missing")
    try:
        state = torch.load(weights_path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for damaged or foreign files
        raise TrainingError(
            f"{weights_path}: not a loadable state_dict ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TrainingError(f"{weights_path}: expected a mapping of parameter names to tensors")
    network = restore_model({"state_dict": state, "metadata": meta}, os.fspath(weights_path))
    return ScoringModel(network=network.eval(), metadata=meta, path=folder)


def _predict_logits(model: ScoringModel, hdf5_path: str, batch_size: int) -> pd.Series:
    from torch_geometric.loader import DataLoader

    from deeprank_like.data import GraphDataset

    dataset = GraphDataset(hdf5_path, train_source=model.data_config)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False)
    out: list[np.ndarray] = []
    with torch.no_grad():
        for batch in loader:
            out.append(model.network(batch).reshape(-1).double().numpy())
    dataset.close()
    values = np.concatenate(out) if out else np.zeros(0)
    return pd.Series(values, index=dataset.entry_ids())


def score_models(
    paths: Iterable[str | os.PathLike],
    chain_ids: str | Sequence[Any] = ("A", "B"),
    *,
    model_dir: str | os.PathLike | None = None,
    cpu_count: int = 1,
    batch_size: int = 64,
) -> pd.DataFrame:
    """Predict the DockQ of docking models and rank them.

    Parameters
    ----------
    paths : iterable of path
        Model files (PDB/mmCIF, optionally gzipped), e.g. the output of a docking run.
    chain_ids : str or sequence
        The two sides of the interface: ``"A,B"``, ``"H+L,A"`` or ``[["H", "L"], "A"]``; the
        same for every file.
    model_dir : path, optional
        A scorer folder written by :func:`save_scoring_model` (default: the shipped model).
    cpu_count : int
        Featurisation processes (1: in this process).
    batch_size : int
        Graphs per forward pass.

    Returns
    -------
    DataFrame
        One row per input file: ``file`` (as given), ``predicted_dockq`` (0–1, higher is
        better), ``predicted_capri_class`` (``high``/``medium``/``acceptable``/``incorrect``),
        ``rank`` (1 = best) and ``error`` (empty, or why the file could not be scored; such
        rows have no prediction and no rank and come last). Sorted best first.

    Raises
    ------
    QueryError
        ``chain_ids`` is not two sides. Problems of single files never raise: they are rows.
    TrainingError
        The scorer folder cannot be loaded.
    """
    from deeprank_like.processing import process
    from deeprank_like.query import ProteinProteinInterfaceQuery

    sides = parse_sides(chain_ids)
    files = [os.fspath(p) for p in paths]
    if int(cpu_count) < 1:
        raise ValueError(f"cpu_count must be >= 1, got {cpu_count}")
    model = load_scoring_model(model_dir)
    errors: dict[int, str] = {}
    logits: dict[int, float] = {}
    with tempfile.TemporaryDirectory(prefix="deeprank_like_score_") as tmp:
        queries = []
        for i, path in enumerate(files):
            prepared = os.path.join(tmp, f"m{i:06d}.pdb")
            try:
                prepare_model_file(path, sides, prepared)
            except (DeeprankLikeError, OSError, ValueError) as exc:
                errors[i] = f"read: {exc}"
                continue
            queries.append(
                ProteinProteinInterfaceQuery(
                    pdb_path=prepared,
                    chain_ids=["A", "B"],
                    model_id=f"m{i:06d}",
                    **model.query_settings,
                )
            )
        index_of = {q.get_query_id(): int(q.model_id[1:]) for q in queries}
        if queries:
            summary = process(
                queries,
                prefix=os.path.join(tmp, "features"),
                feature_modules=model.featurizers(),
                cpu_count=min(int(cpu_count), len(queries)),
                executor="serial" if int(cpu_count) == 1 else "processes",
                progress=False,
                verbose=False,
            )
            for failure in summary.failures:
                message = failure.message.replace(os.path.join(tmp, ""), "")
                errors[index_of[failure.query_id]] = (
                    f"{failure.stage}: {failure.exc_type}: {message}"
                )
            if summary.processed:
                series = _predict_logits(model, summary.output, int(batch_size))
                for qid, value in series.items():
                    logits[index_of[qid]] = float(value)
    for i in range(len(files)):
        if i not in logits and i not in errors:
            errors[i] = "no graph was written for this model"
    predicted = {i: float(1.0 / (1.0 + np.exp(-v))) for i, v in logits.items()}
    frame = pd.DataFrame(
        {
            "file": files,
            "predicted_dockq": [predicted.get(i, np.nan) for i in range(len(files))],
            "predicted_capri_class": [
                dockq_capri_class(predicted[i]) if i in predicted else "" for i in range(len(files))
            ],
            "error": [errors.get(i, "") for i in range(len(files))],
        }
    )
    frame = frame.sort_values(
        "predicted_dockq", ascending=False, kind="stable", na_position="last"
    ).reset_index(drop=True)
    ok = frame["predicted_dockq"].notna()
    frame["rank"] = pd.array([pd.NA] * len(frame), dtype="Int64")
    frame.loc[ok, "rank"] = np.arange(1, int(ok.sum()) + 1)
    return frame[list(COLUMNS)]
