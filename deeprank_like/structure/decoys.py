"""Docking decoys: random rigid-body moves of one side of a complex, clashing poses dropped.

Used by the docking tutorial to make training data with a known native: each decoy is written
as a new PDB file in an output folder (the input file is only read).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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
    """

    max_rotation_deg: float = 35.0
    max_translation: float = 8.0
    clash_distance: float = 3.0
    max_clashes: int = 5
    contact_distance: float = 5.0


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
    other chain stays put. Poses that clash or lose contact are dropped and redrawn.

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
        Unknown chains, or too many rejected poses.
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
    centroid = move_heavy.mean(axis=0)

    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    st = gemmi.read_structure(os.fspath(native_path))
    st.remove_waters()
    stem = prefix or f"{structure_name(native_path)}_decoy"
    written: list[Path] = []
    attempts = 0
    limit = max_attempts if max_attempts is not None else 50 * n_decoys
    while len(written) < n_decoys:
        attempts += 1
        if attempts > limit:
            raise StructureError(
                f"{native_path}: only {len(written)} of {n_decoys} decoys after {limit} attempts; "
                "loosen DecoySettings"
            )
        rot, shift = random_rigid_move(rng, settings.max_rotation_deg, settings.max_translation)
        moved = (move_heavy - centroid) @ rot.T + centroid + shift
        clashes = fixed_tree.query_ball_point(
            moved, settings.clash_distance, return_length=True
        ).sum()
        if clashes > settings.max_clashes:
            continue
        nearest, _ = fixed_tree.query(moved, k=1, distance_upper_bound=settings.contact_distance)
        if not np.isfinite(nearest).any():
            continue
        decoy = st.clone()
        for model in decoy:
            for chain in model:
                if chain.name not in moving:
                    continue
                for residue in chain:
                    for atom in residue:
                        p = np.array([atom.pos.x, atom.pos.y, atom.pos.z])
                        q = (p - centroid) @ rot.T + centroid + shift
                        atom.pos = gemmi.Position(*q)
            break  # first model only
        while len(decoy) > 1:
            del decoy[1]
        path = out / f"{stem}_{len(written):03d}.pdb"
        decoy.write_pdb(os.fspath(path))
        written.append(path)
    return written
