"""Realistic rigid-body docking decoys of an unbound receptor–ligand pair, at benchmark scale.

Two kinds of poses are sampled for the ligand side (the receptor never moves):

* ``near_native``: rigid moves of the ligand about its own centroid, starting from the unbound
  pair superposed on the bound complex. The size of the move (translation plus the arc the
  rotation sweeps at the ligand's radius of gyration) is stratified from 0 to ``max_displacement``
  so that DockQ spans 0–1. The first decoy is the unmoved unbound pose.
* ``wrong_site``: global rigid-body sampling over the whole receptor surface: a surface atom is
  picked (farthest-point sampling over the atoms with few neighbours, so sites cover the surface),
  the ligand gets a uniformly random orientation and slides in along the local outward normal until
  it touches; the deepest position within the clash limit is kept and the best of a few
  orientations (most contacts) wins, as a docking program's scoring would.

Both kinds go through the same clash and contact filters (heavy atoms; ligand atoms with a receptor
atom within ``clash_distance`` count as clashes and those within ``contact_distance`` as contacts;
limits are relative to the unbound native pose, so that clash counts do not give the native away),
so they look like rigid-docking output rather than random placements.

A pose is a rigid transform of the ligand heavy-atom coordinates ``x``:
``x' = (x - c) @ R.T + c + t`` with ``c`` the ligand centroid of the input pose.
Everything is vectorised numpy plus :class:`scipy.spatial.cKDTree`; there are no per-atom Python
objects. The sampling is deterministic for a seed (and independent of the order complexes are run).

PDB files are read with :func:`~deeprank_like.structure.atom_table.read_atom_table` (re-exported
here with :class:`AtomTable`, :func:`pdb_template`, :func:`format_pdb` and :func:`pdb_atom_name`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from deeprank_like import geometry
from deeprank_like.errors import StructureError
from deeprank_like.structure.atom_table import (
    AtomTable,
    format_pdb,
    pdb_atom_name,
    pdb_template,
    read_atom_table,
)

__all__ = [
    "AtomTable",
    "DecoyPoses",
    "DockingDecoySettings",
    "apply_rigid",
    "format_pdb",
    "pdb_atom_name",
    "pdb_template",
    "random_rotations",
    "read_atom_table",
    "sample_docking_poses",
    "write_decoy_pdbs",
]

# ---- sampling ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DockingDecoySettings:
    """How decoys are sampled and filtered.

    Attributes
    ----------
    n_near_native : int
        Near-native decoys (the first is the unmoved input pose).
    n_wrong_site : int
        Poses from global sampling over the receptor surface.
    max_displacement : float
        Largest near-native move, Å: translation plus rotation angle × ligand radius of gyration.
    max_rotation_deg : float
        Cap on the near-native rotation angle, degrees.
    clash_distance : float
        A ligand heavy atom within this distance (Å) of a receptor heavy atom clashes.
    contact_distance : float
        A ligand heavy atom within this distance (Å) of a receptor heavy atom is in contact.
    max_clash_atoms : int
        Clashing ligand atoms allowed (raised to the native pose's own count when that is larger).
    min_contact_fraction : float
        Poses need at least this fraction of the native pose's contact atoms …
    min_contact_atoms : int
        … and at least this many contact atoms.
    orientations_per_site : int
        Random orientations tried per surface site; the one with most contacts is kept.
    surface_neighbour_radius : float
        Radius (Å) of the neighbour count that tells surface atoms from buried ones.
    surface_quantile : float
        Receptor atoms in this lowest fraction of neighbour counts are surface candidates.
    step : float
        Step (Å) of the slide along the approach direction.
    max_attempts_factor : int
        Give up after ``factor × n`` draws of one kind.
    """

    n_near_native: int = 60
    n_wrong_site: int = 60
    max_displacement: float = 16.0
    max_rotation_deg: float = 60.0
    clash_distance: float = 2.5
    contact_distance: float = 5.0
    max_clash_atoms: int = 10
    min_contact_fraction: float = 0.3
    min_contact_atoms: int = 15
    orientations_per_site: int = 3
    surface_neighbour_radius: float = 10.0
    surface_quantile: float = 0.35
    step: float = 1.0
    max_attempts_factor: int = 20

    def __post_init__(self) -> None:
        if self.n_near_native < 0 or self.n_wrong_site < 0:
            raise ValueError("DockingDecoySettings: decoy counts must be >= 0")
        if not 0 < self.clash_distance < self.contact_distance:
            raise ValueError(
                "DockingDecoySettings: need 0 < clash_distance < contact_distance, got "
                f"{self.clash_distance} and {self.contact_distance}"
            )
        if self.step <= 0 or self.orientations_per_site < 1:
            raise ValueError("DockingDecoySettings: step must be > 0, orientations_per_site >= 1")


@dataclass(frozen=True, eq=False)
class DecoyPoses:
    """Sampled rigid poses of the ligand: ``x' = (x - center) @ rotations[k].T + center + translations[k]``.

    Attributes
    ----------
    rotations : ndarray (k, 3, 3) float64
    translations : ndarray (k, 3) float64, Å
    center : ndarray (3,) float64, Å
        Ligand heavy-atom centroid of the input pose.
    kinds : ndarray (k,) str
        ``"near_native"`` or ``"wrong_site"``.
    clash_atoms, contact_atoms : ndarray (k,) int64
        Clashing / contacting ligand atoms of each pose.
    attempts : int
        Poses drawn in total (accepted or not).
    """

    rotations: np.ndarray
    translations: np.ndarray
    center: np.ndarray
    kinds: np.ndarray
    clash_atoms: np.ndarray
    contact_atoms: np.ndarray
    attempts: int

    def __len__(self) -> int:
        return int(self.rotations.shape[0])


def random_rotations(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` rotations uniform on SO(3), shape (n, 3, 3): :func:`deeprank_like.geometry.random_rotations`.

    Kept with this argument order for existing callers; draws exactly what
    ``geometry.random_rotations(n, rng)`` (and :func:`deeprank_like.grid.random_rotations`) draw.
    """
    return geometry.random_rotations(n, rng)


def _axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


def apply_rigid(
    coords: np.ndarray, rotation: np.ndarray, translation: np.ndarray, center: np.ndarray
) -> np.ndarray:
    """``(coords - center) @ rotation.T + center + translation`` for one pose or a batch.

    Parameters
    ----------
    coords : ndarray (n, 3)
    rotation : ndarray (3, 3) or (k, 3, 3)
    translation : ndarray (3,) or (k, 3)
    center : ndarray (3,)

    Returns
    -------
    ndarray (n, 3) or (k, n, 3)
    """
    rel = np.asarray(coords, dtype=np.float64) - center
    rotation = np.asarray(rotation, dtype=np.float64)
    translation = np.asarray(translation, dtype=np.float64)
    if rotation.ndim == 2:
        return rel @ rotation.T + center + translation
    return np.einsum("nj,kij->kni", rel, rotation) + center + translation[:, None, :]


class _Scorer:
    """Clash/contact counts of ligand poses against the fixed receptor."""

    def __init__(self, receptor: np.ndarray, settings: DockingDecoySettings) -> None:
        self.tree = cKDTree(receptor)
        self.clash = settings.clash_distance
        self.contact = settings.contact_distance

    def counts(self, ligand: np.ndarray) -> tuple[int, int]:
        d, _ = self.tree.query(ligand, k=1, distance_upper_bound=self.contact)
        return int((d < self.clash).sum()), int(np.isfinite(d).sum())


def _slide(
    scorer: _Scorer,
    ligand: np.ndarray,
    direction: np.ndarray,
    start: float,
    stop: float,
    step: float,
    max_clash: int,
) -> tuple[float, int, int] | None:
    """Slide ``ligand`` from ``start`` to ``stop`` along ``direction``; deepest pose within limits.

    Positions are ``ligand + s * direction`` for ``s`` going from ``start`` towards ``stop`` in
    ``step``; after the first position over the clash limit, three ``step/4`` steps refine the
    stop. Returns ``(s, clashes, contacts)`` of the deepest position within ``max_clash`` that has
    contacts, or None (no such position, or ``start`` itself over the limit).
    """
    sign = 1.0 if stop > start else -1.0
    best: tuple[float, int, int] | None = None
    s = start
    n = int(np.floor(abs(stop - start) / step)) + 1
    for k in range(n):
        clashes, contacts = scorer.counts(ligand + s * direction)
        if clashes > max_clash:
            if k == 0:
                return None
            break
        if contacts:
            best = (s, clashes, contacts)
        s += sign * step
    else:
        return best
    # refine from the deepest acceptable position (or the last free one) towards the clash
    best_s = best[0] if best is not None else s - sign * step
    fine = step / 4.0
    s = best_s + sign * fine
    for _ in range(3):
        clashes, contacts = scorer.counts(ligand + s * direction)
        if clashes > max_clash:
            break
        if contacts:
            best = (s, clashes, contacts)
        s += sign * fine
    return best


def _surface_sites(
    receptor: np.ndarray, settings: DockingDecoySettings, rng: np.random.Generator, n_sites: int
) -> tuple[np.ndarray, np.ndarray]:
    """Spread surface points (k, 3) and their outward normals (k, 3)."""
    tree = cKDTree(receptor)
    counts = tree.query_ball_point(
        receptor, settings.surface_neighbour_radius, return_length=True
    ).astype(np.float64)
    surface = np.flatnonzero(counts <= np.quantile(counts, settings.surface_quantile))
    pts = receptor[surface]
    # farthest-point sampling from a random start: sites cover the whole surface
    n_sites = min(n_sites, pts.shape[0])
    chosen = np.empty(n_sites, dtype=np.int64)
    chosen[0] = rng.integers(pts.shape[0])
    dist = np.linalg.norm(pts - pts[chosen[0]], axis=1)
    for k in range(1, n_sites):
        chosen[k] = int(np.argmax(dist))
        dist = np.minimum(dist, np.linalg.norm(pts - pts[chosen[k]], axis=1))
    sites = pts[chosen]
    neigh = tree.query_ball_point(sites, settings.surface_neighbour_radius + 2.0)
    normals = np.empty_like(sites)
    centroid = receptor.mean(axis=0)
    for k, idx in enumerate(neigh):
        v = sites[k] - receptor[idx].mean(axis=0)
        if np.linalg.norm(v) < 1e-6:
            v = sites[k] - centroid
        normals[k] = v / max(np.linalg.norm(v), 1e-9)
    return sites, normals


def sample_docking_poses(
    receptor: np.ndarray,
    ligand: np.ndarray,
    *,
    settings: DockingDecoySettings | None = None,
    seed: int | np.random.SeedSequence | list[int] = 0,
) -> DecoyPoses:
    """Sample near-native and wrong-site rigid poses of ``ligand`` against a fixed ``receptor``.

    Parameters
    ----------
    receptor : ndarray (n, 3)
        Receptor heavy-atom positions, Å (never moved).
    ligand : ndarray (m, 3)
        Ligand heavy-atom positions of the starting (near-native) pose, Å.
    settings : DockingDecoySettings, optional
    seed : int, list of int or SeedSequence
        Same seed and inputs, same poses.

    Returns
    -------
    DecoyPoses
        ``settings.n_near_native`` near-native poses followed by ``settings.n_wrong_site``
        wrong-site poses.

    Raises
    ------
    StructureError
        Empty inputs, or the filters reject too many draws (the message says which kind).
    """
    settings = settings or DockingDecoySettings()
    receptor = np.asarray(receptor, dtype=np.float64)
    ligand = np.asarray(ligand, dtype=np.float64)
    if receptor.ndim != 2 or receptor.shape[1:] != (3,) or receptor.shape[0] == 0:
        raise StructureError(
            f"receptor coordinates must be (n, 3) with n > 0, got {receptor.shape}"
        )
    if ligand.ndim != 2 or ligand.shape[1:] != (3,) or ligand.shape[0] == 0:
        raise StructureError(f"ligand coordinates must be (m, 3) with m > 0, got {ligand.shape}")
    rng = np.random.default_rng(seed)
    scorer = _Scorer(receptor, settings)
    center = ligand.mean(axis=0)
    rel = ligand - center
    radius_gyr = float(np.sqrt((rel**2).sum(axis=1).mean()))
    radius_max = float(np.sqrt((rel**2).sum(axis=1).max()))
    native_clash, native_contact = scorer.counts(ligand)
    max_clash = max(settings.max_clash_atoms, native_clash)
    min_contact = max(
        settings.min_contact_atoms, int(settings.min_contact_fraction * native_contact)
    )

    rots: list[np.ndarray] = []
    trans: list[np.ndarray] = []
    kinds: list[str] = []
    clashes: list[int] = []
    contacts: list[int] = []
    attempts = 0

    # ---- near-native: stratified move sizes, settled along the interface normal -------------
    rec_tree = scorer.tree
    near = rec_tree.query(ligand, k=1, distance_upper_bound=8.0)[0]
    iface = ligand[np.isfinite(near)]
    if iface.shape[0] == 0:
        raise StructureError("the input ligand pose has no receptor atom within 8 Å (no interface)")
    rec_iface = receptor[
        np.isfinite(cKDTree(ligand).query(receptor, k=1, distance_upper_bound=8.0)[0])
    ]
    out_dir = iface.mean(axis=0) - rec_iface.mean(axis=0)
    out_dir /= max(np.linalg.norm(out_dir), 1e-9)
    limit = settings.max_attempts_factor * max(settings.n_near_native, 1)
    k = 0
    while k < settings.n_near_native:
        attempts += 1
        if attempts > limit:
            raise StructureError(
                f"only {k} of {settings.n_near_native} near-native poses after {limit} draws; "
                "loosen DockingDecoySettings"
            )
        if k == 0:
            rot, shift = np.eye(3), np.zeros(3)
        else:
            size = (
                settings.max_displacement
                * (k - 1 + rng.uniform())
                / max(settings.n_near_native - 1, 1)
            )
            split = rng.uniform()
            angle = min(np.deg2rad(settings.max_rotation_deg), (1 - split) * size / radius_gyr)
            axis = rng.normal(size=3)
            axis /= np.linalg.norm(axis)
            rot = _axis_angle(axis, angle)
            direction = rng.normal(size=3)
            direction /= np.linalg.norm(direction)
            shift = direction * split * size
        pose = rel @ rot.T + center + shift
        c, n = scorer.counts(pose)
        if c > max_clash or n < min_contact:
            # push out along the interface normal until the clashes are gone, or pull in
            # until contact, as a docking refinement would
            sign = 1.0 if c > max_clash else -1.0
            settled = None
            s = 0.0
            for _ in range(int(12.0 / (settings.step / 2))):
                s += settings.step / 2
                cc, nn = scorer.counts(pose + sign * s * out_dir)
                if sign > 0 and cc <= max_clash:
                    settled = (s, cc, nn)
                    break
                if sign < 0:
                    if cc > max_clash:
                        break
                    if nn >= min_contact:
                        settled = (s, cc, nn)
                        break
            if settled is None or settled[2] < min_contact:
                continue
            shift = shift + sign * settled[0] * out_dir
            c, n = settled[1], settled[2]
        rots.append(rot)
        trans.append(shift)
        kinds.append("near_native")
        clashes.append(c)
        contacts.append(n)
        k += 1

    # ---- wrong-site: global sampling over the receptor surface -------------------------------
    if settings.n_wrong_site:
        n_sites = settings.max_attempts_factor * settings.n_wrong_site
        sites, normals = _surface_sites(receptor, settings, rng, n_sites)
        order = rng.permutation(sites.shape[0])
        accepted = 0
        for site_idx in order:
            if accepted == settings.n_wrong_site:
                break
            site, normal = sites[site_idx], normals[site_idx]
            best = None
            for rot in random_rotations(rng, settings.orientations_per_site):
                attempts += 1
                placed = rel @ rot.T + site
                start = radius_max + settings.contact_distance
                found = _slide(scorer, placed, normal, start, -radius_max, settings.step, max_clash)
                if found is None or found[2] < min_contact:
                    continue
                if best is None or found[2] > best[3]:
                    best = (rot, found[0], found[1], found[2])
            if best is None:
                continue
            rot, s, c, n = best
            rots.append(rot)
            trans.append(site + s * normal - center)
            kinds.append("wrong_site")
            clashes.append(c)
            contacts.append(n)
            accepted += 1
        if accepted < settings.n_wrong_site:
            raise StructureError(
                f"only {accepted} of {settings.n_wrong_site} wrong-site poses from "
                f"{sites.shape[0]} surface sites; loosen DockingDecoySettings"
            )
    return DecoyPoses(
        rotations=np.array(rots, dtype=np.float64).reshape(-1, 3, 3),
        translations=np.array(trans, dtype=np.float64).reshape(-1, 3),
        center=center,
        kinds=np.array(kinds, dtype=str),
        clash_atoms=np.array(clashes, dtype=np.int64),
        contact_atoms=np.array(contacts, dtype=np.int64),
        attempts=attempts,
    )


def write_decoy_pdbs(
    table: AtomTable,
    moving: np.ndarray,
    poses: DecoyPoses,
    out_dir: str | os.PathLike,
    names: list[str],
) -> list[Path]:
    """Write one PDB file per pose: the atoms of ``table`` with the ``moving`` atoms posed.

    Parameters
    ----------
    table : AtomTable
        The input complex (all its atoms are written).
    moving : ndarray (n,) bool
        Atoms that move (the ligand side).
    poses : DecoyPoses
    out_dir : path
        Created if needed.
    names : list of str
        File stems, one per pose.

    Returns
    -------
    list of Path
    """
    if len(names) != len(poses):
        raise ValueError(f"write_decoy_pdbs: {len(names)} names for {len(poses)} poses")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    template = pdb_template(table)
    moving = np.asarray(moving, dtype=bool)
    coords = table.coords.copy()
    paths = []
    for k, name in enumerate(names):
        coords[moving] = apply_rigid(
            table.coords[moving], poses.rotations[k], poses.translations[k], poses.center
        )
        path = out / f"{name}.pdb"
        path.write_text(format_pdb(template, coords))
        paths.append(path)
    return paths
