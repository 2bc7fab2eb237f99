"""Docking decoys: random rigid-body moves of one side of a complex, without clashes.

Used by the docking tutorial and the quickstart to make training data with a known native:
each decoy is written as a new PDB file in an output folder (the input file is only read).
A pose that clashes is pushed out of the interface until it no longer does (tight interfaces,
such as an inhibitor in a protease's cleft, clash after almost every random move); a pose that
then lost contact is redrawn. The files are written only once every pose is found, so a call
that fails leaves no decoy files behind.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from deeprank_like.errors import StructureError
from deeprank_like.structure.io import load_structure, structure_name

__all__ = ["DecoySettings", "make_docking_decoys", "random_rigid_move"]


@dataclass(frozen=True, kw_only=True)
class DecoySettings:
    """How far decoys move and which poses are kept.

    Attributes
    ----------
    max_rotation_deg : float
        Largest rotation of the moving side about its own centroid, degrees.
    max_translation : float
        Largest displacement of the moving side, Å.
    clash_distance : float
        Heavy atoms of different sides closer than this (Å) clash.
    max_clashes : int
        Poses with more clashing atom pairs are dropped.
    contact_distance : float
        Poses must keep at least one inter-side heavy-atom pair closer than this (Å).
    separate : bool
        Push a clashing pose out along the line from the fixed side's interface centre to the
        moving side's centroid, ``separation_step`` Å at a time, until it has at most
        ``max_clashes`` clashes (default). False: drop clashing poses and redraw (then tight
        interfaces need small moves or many attempts).
    separation_step : float
        Step of the push, Å.
    max_separation : float
        Longest push, Å; a pose still clashing after it is redrawn.
    """

    max_rotation_deg: float = 35.0
    max_translation: float = 8.0
    clash_distance: float = 3.0
    max_clashes: int = 5
    contact_distance: float = 5.0
    separate: bool = True
    separation_step: float = 0.5
    max_separation: float = 15.0

    def __post_init__(self) -> None:
        if self.max_rotation_deg < 0 or self.max_translation < 0:
            raise ValueError(
                "DecoySettings: max_rotation_deg and max_translation must be >= 0, got "
                f"{self.max_rotation_deg} and {self.max_translation}"
            )
        if not (self.separation_step > 0 and self.max_separation >= 0):
            raise ValueError(
                "DecoySettings: separation_step must be > 0 and max_separation >= 0, got "
                f"{self.separation_step} and {self.max_separation}"
            )


def random_rigid_move(
    rng: np.random.Generator, max_rotation_deg: float, max_translation: float
) -> tuple[np.ndarray, np.ndarray]:
    """A random rotation (axis uniform on the sphere, angle uniform up to the maximum) and shift.

    Returns
    -------
    rotation : ndarray (3, 3)
    translation : ndarray (3,), Å (direction uniform, length uniform in [0, max])
    """
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    angle = np.deg2rad(rng.uniform(0.0, max_rotation_deg))
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    return rotation, direction * rng.uniform(0.0, max_translation)


def make_docking_decoys(
    native_path: str | os.PathLike,
    moving_chains: list[str] | str,
    n_decoys: int,
    out_dir: str | os.PathLike,
    *,
    settings: DecoySettings | None = None,
    seed: int = 0,
    max_attempts: int | None = None,
    prefix: str | None = None,
) -> list[Path]:
    """Write ``n_decoys`` rigid-body decoys of a complex.

    The chains in ``moving_chains`` are rotated about their centroid and translated; every
    other chain stays put. A pose that clashes is pushed out of the interface until it no
    longer does (``settings.separate``, default); poses that lose contact are redrawn. Files
    are written only when all ``n_decoys`` poses are found: a call that raises leaves no
    decoy file behind (and does not create ``out_dir``).

    Parameters
    ----------
    native_path : path
        The native complex (read only).
    moving_chains : str or list of str
        Chains that move together (e.g. the ligand or antigen).
    n_decoys : int
    out_dir : path
        Folder for the decoy files (created if needed).
    settings : DecoySettings, optional
    seed : int
        Same seed, same decoys.
    max_attempts : int, optional
        Give up after this many draws (default ``50 * n_decoys``).
    prefix : str, optional
        File-name prefix (default ``<name>_decoy``): files are ``<prefix>_<k>.pdb``.

    Returns
    -------
    list of Path
        The written decoy files, in order.

    Raises
    ------
    StructureError
        Unknown chains, or too many rejected poses (the message counts the reasons).
    """
    import gemmi

    settings = settings or DecoySettings()
    moving = [moving_chains] if isinstance(moving_chains, str) else list(moving_chains)
    s = load_structure(native_path)
    missing = [c for c in moving if c not in s.chains]
    if missing:
        raise StructureError(
            f"{native_path}: chain(s) {missing} not found (chains: {list(s.chains)})"
        )
    heavy = (~s.is_hydrogen) & (s.residue_aa[s.residue_index] >= 0)
    is_moving = np.isin(s.chain_ids, moving)
    fixed_xyz = s.coords[heavy & ~is_moving]
    if fixed_xyz.size == 0:
        raise StructureError(f"{native_path}: no fixed side left when moving {moving}")
    fixed_tree = cKDTree(fixed_xyz)
    move_heavy = s.coords[heavy & is_moving]
    if move_heavy.size == 0:
        raise StructureError(f"{native_path}: chain(s) {moving} have no amino-acid heavy atoms")
    centroid = move_heavy.mean(axis=0)
    outward = _outward_direction(fixed_tree, fixed_xyz, move_heavy, centroid)

    rng = np.random.default_rng(seed)
    poses: list[tuple[np.ndarray, np.ndarray]] = []
    attempts = 0
    rejected = {"clash": 0, "contact": 0}
    limit = max_attempts if max_attempts is not None else 50 * n_decoys
    while len(poses) < n_decoys:
        attempts += 1
        if attempts > limit:
            push = (
                f"pushed out up to {settings.max_separation:g} Å"
                if settings.separate
                else "separate=False"
            )
            raise StructureError(
                f"{native_path}: only {len(poses)} of {n_decoys} decoys after {limit} attempts "
                f"({rejected['clash']} poses still clashed ({push}), {rejected['contact']} lost "
                f"contact (no heavy-atom pair < {settings.contact_distance:g} Å)); loosen "
                "DecoySettings (smaller moves, more max_clashes) or raise max_attempts; no file "
                "was written"
            )
        rot, shift = random_rigid_move(rng, settings.max_rotation_deg, settings.max_translation)
        moved = (move_heavy - centroid) @ rot.T + centroid + shift
        shift = shift + _separation(fixed_tree, moved, outward, settings)
        if not np.isfinite(shift).all():
            rejected["clash"] += 1
            continue
        moved = (move_heavy - centroid) @ rot.T + centroid + shift
        nearest, _ = fixed_tree.query(moved, k=1, distance_upper_bound=settings.contact_distance)
        if not np.isfinite(nearest).any():
            rejected["contact"] += 1
            continue
        poses.append((rot, shift))

    out = Path(out_dir)
    st = gemmi.read_structure(os.fspath(native_path))
    st.remove_waters()
    stem = prefix or f"{structure_name(native_path)}_decoy"
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        for rot, shift in poses:
            written.append(_write_decoy(st, moving, rot, shift, centroid, out, stem, len(written)))
    except BaseException:  # disk full, interrupted: no half set of decoys
        for path in written:
            path.unlink(missing_ok=True)
        raise
    return written


def _outward_direction(
    fixed_tree: cKDTree, fixed_xyz: np.ndarray, move_xyz: np.ndarray, centroid: np.ndarray
) -> np.ndarray:
    """Unit vector (3,) from the fixed side's interface atoms to the moving side's centroid."""
    near = fixed_tree.query_ball_point(move_xyz, 10.0)
    index = np.unique(np.concatenate([np.asarray(n, dtype=np.int64) for n in near]))
    anchor = fixed_xyz[index].mean(axis=0) if index.size else fixed_xyz.mean(axis=0)
    direction = centroid - anchor
    if float(np.linalg.norm(direction)) < 1e-6:  # moving side at the interface centre
        direction = centroid - fixed_xyz.mean(axis=0)
    norm = float(np.linalg.norm(direction))
    return direction / norm if norm >= 1e-6 else np.array([1.0, 0.0, 0.0])


def _separation(
    fixed_tree: cKDTree, moved: np.ndarray, outward: np.ndarray, settings: DecoySettings
) -> np.ndarray:
    """Extra shift (3,) Å that clears the clashes of ``moved``; ``inf`` when none does."""

    def clashes(shift: np.ndarray) -> int:
        hits = fixed_tree.query_ball_point(
            moved + shift, settings.clash_distance, return_length=True
        )
        return int(hits.sum())

    zero = np.zeros(3)
    if clashes(zero) <= settings.max_clashes:
        return zero
    if settings.separate:
        steps = int(np.floor(settings.max_separation / settings.separation_step + 1e-9))
        for k in range(1, steps + 1):
            shift = outward * (k * settings.separation_step)
            if clashes(shift) <= settings.max_clashes:
                return shift
    return np.full(3, np.inf)


def _write_decoy(
    st: Any,
    moving: list[str],
    rot: np.ndarray,
    shift: np.ndarray,
    centroid: np.ndarray,
    out: Path,
    stem: str,
    k: int,
) -> Path:
    """Write the first model of ``st`` with the ``moving`` chains moved: ``<stem>_<k:03d>.pdb``."""
    import gemmi

    decoy = st.clone()
    for chain in decoy[0]:
        if chain.name not in moving:
            continue
        for residue in chain:
            for atom in residue:
                p = np.array([atom.pos.x, atom.pos.y, atom.pos.z])
                q = (p - centroid) @ rot.T + centroid + shift
                atom.pos = gemmi.Position(*q)
    while len(decoy) > 1:
        del decoy[1]
    path = out / f"{stem}_{k:03d}.pdb"
    decoy.write_pdb(os.fspath(path))
    return path
