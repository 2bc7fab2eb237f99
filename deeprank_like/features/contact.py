"""`contact`: edge distances, chain/residue/covalent flags and pair energies.

Energies (kcal/mol) with DeepRank2's constants:

* Coulomb: ``E = q_i q_j · 332.0636 / (ε₀ r)``, ε₀ = 1;
* Lennard-Jones: ``E = 4 √(ε_i ε_j) [(σ_ij/r)¹² − (σ_ij/r)⁶]``, σ_ij = (σ_i + σ_j)/2;
* same-chain pairs closer than 3.6 Å (1-2/1-3 neighbours) contribute no energy, and same-chain
  pairs closer than 4.2 Å (1-4) use the 1-4 LJ parameters;
* distances are floored at :data:`MIN_ENERGY_DISTANCE` for the energies only, so overlapping
  atoms give large but finite values.

Residue edges: ``distance`` is the minimum heavy-atom distance, energies are sums over every
pair of (eligible) atoms of the two residues, ``covalent`` means distance < 2.1 Å on one chain.
"""

from __future__ import annotations

import hashlib

import numpy as np

from deeprank_like.domain.forcefield import atom_parameters, check_forcefield_version
from deeprank_like.features.base import FeatureContext, FeatureModule, FeatureSpec

__all__ = [
    "COULOMB_CONSTANT",
    "COVALENT_CUTOFF",
    "CUTOFF_13",
    "CUTOFF_14",
    "MIN_ENERGY_DISTANCE",
    "Contact",
    "pair_energies",
]

COVALENT_CUTOFF = 2.1  # Å
CUTOFF_13 = 3.6  # Å
CUTOFF_14 = 4.2  # Å
EPSILON0 = 1.0
COULOMB_CONSTANT = 332.0636  # kcal·Å/(mol·e²)
MIN_ENERGY_DISTANCE = 1.0  # Å, floor for energies of overlapping atoms

_COMMON = (
    FeatureSpec(name="distance", kind="edge", unit="Å", description="interatomic distance (residue edges: minimum heavy-atom distance)"),
    FeatureSpec(name="same_chain", kind="edge", description="1 if both ends are on the same chain"),
    FeatureSpec(name="covalent", kind="edge", description="1 if distance < 2.1 Å on the same chain"),
    FeatureSpec(name="electrostatic", kind="edge", unit="kcal/mol", description="Coulomb energy (residue edges: sum over atom pairs)"),
    FeatureSpec(name="vanderwaals", kind="edge", unit="kcal/mol", description="Lennard-Jones energy (residue edges: sum over atom pairs)"),
)  # fmt: skip
_ATOM_ONLY = (
    FeatureSpec(
        name="same_res", kind="edge", description="1 if both atoms belong to the same residue"
    ),
)


def coordinate_columns(structure) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contiguous x, y, z columns of ``structure.coords`` (memoised on the structure).

    Returns
    -------
    x, y, z : ndarray (n,), float64, Å
    """
    key = "_coordinate_columns"
    if key not in structure._cache:
        cols = tuple(np.ascontiguousarray(structure.coords[:, k]) for k in range(3))
        for col in cols:
            col.setflags(write=False)
        structure._cache[key] = cols
    return structure._cache[key]


def pair_energies(
    structure, i: np.ndarray, j: np.ndarray, forcefield_version: int = 2
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coulomb and Lennard-Jones energies of atom pairs ``(i, j)`` of ``structure``.

    Parameters
    ----------
    i, j : ndarray (m,), int64
        Atom indices.
    forcefield_version : {2, 1}
        Force-field tables (:func:`deeprank_like.domain.forcefield.load_forcefield`); 1 exists
        only to reproduce the features of models trained before the topology-parser fix.

    Returns
    -------
    electrostatic, vanderwaals : ndarray (m,), kcal/mol
    distance : ndarray (m,), Å (not floored)
    """
    p = atom_parameters(structure, forcefield_version)
    x, y, z = coordinate_columns(structure)
    # 1-D gathers per axis are several times faster than gathering (m, 3) rows; the sum is
    # evaluated in the order of np.linalg.norm(..., axis=1), so the distances are identical.
    # In-place operations keep the number of passes over the pair arrays small.
    r = x[i]
    r -= x[j]
    r *= r
    d = y[i]
    d -= y[j]
    d *= d
    r += d
    d = z[i]
    d -= z[j]
    d *= d
    r += d
    np.sqrt(r, out=r)
    r_e = np.maximum(r, MIN_ENERGY_DISTANCE)
    # Coulomb: q_i q_j C / (ε₀ r), evaluated in this order
    elec = p.charge[i] * p.charge[j]
    elec *= COULOMB_CONSTANT
    elec /= EPSILON0 * r_e
    # Lennard-Jones with the ordinary parameters, then the few same-chain pairs closer than
    # CUTOFF_14 get the 1-4 parameters and those closer than CUTOFF_13 no energy at all
    eps = p.epsilon[i] * p.epsilon[j]
    np.sqrt(eps, out=eps)
    sig = p.sigma[i] + p.sigma[j]
    sig *= 0.5
    close = np.flatnonzero(r < CUTOFF_14)
    close = close[structure.chain_index[i[close]] == structure.chain_index[j[close]]]
    if close.size:
        ci, cj = i[close], j[close]
        eps[close] = np.sqrt(p.epsilon14[ci] * p.epsilon14[cj])
        sig[close] = 0.5 * (p.sigma14[ci] + p.sigma14[cj])
    sig /= r_e
    sr6 = sig**6
    vdw = sr6 * sr6
    vdw -= sr6
    vdw *= eps
    vdw *= 4.0
    if close.size:
        excluded = close[r[close] < CUTOFF_13]
        elec[excluded] = 0.0
        vdw[excluded] = 0.0
    return elec, vdw, r


class Contact(FeatureModule):
    """Edge features: distance, same_chain, same_res (atoms), covalent, Coulomb and LJ energies.

    Parameters
    ----------
    residue_atoms : {"all", "interface_shell"}
        Atoms of a residue node that take part in its edges' ``distance`` and energies.
        ``"all"`` (default): every eligible atom of the residue. ``"interface_shell"``:
        DeepRank2's PPI convention, only the residue's atoms within ``influence_radius`` of
        another side (with ``include_hydrogens=True`` on the query this reproduces DeepRank2's
        residue-edge values; see ``docs/coming-from-deeprank2.md``). No effect on atom graphs
        and SRV queries.
    forcefield_version : {2, 1}
        Force-field tables of the energies (:func:`deeprank_like.domain.forcefield.load_forcefield`).
        2 (default): current. 1: the tables before the topology-parser fix (57 atoms, e.g.
        aromatic ring carbons and HIS HE2, without charge and LJ); it exists only to reproduce
        the features of models trained before the fix (the shipped docking and ΔΔG models use
        it through their metadata).
    """

    name = "contact"
    description = "edge distances, flags and pairwise energies"
    residue_atoms: str = "all"
    forcefield_version: int = 2

    def __init__(self, residue_atoms: str = "all", forcefield_version: int = 2) -> None:
        if residue_atoms not in ("all", "interface_shell"):
            raise ValueError(
                f"Contact(residue_atoms={residue_atoms!r}): choose 'all' or 'interface_shell'"
            )
        version = check_forcefield_version(forcefield_version, "Contact(forcefield_version)")
        # a default instance keeps no state
        if residue_atoms != type(self).residue_atoms:
            self.residue_atoms = residue_atoms
        if version != type(self).forcefield_version:
            self.forcefield_version = version

    def specs(self, context: FeatureContext) -> tuple[FeatureSpec, ...]:
        return _COMMON + (_ATOM_ONLY if context.resolution == "atom" else ())

    def compute(self, context: FeatureContext) -> dict[str, np.ndarray]:
        # The values depend only on the structure, the graph's nodes and edges and the atom
        # choice: variant queries at one position (19 variants, same graph) reuse them when
        # the structure is shared (features/cache.py). Memoised on the structure, keyed by
        # the force-field version too.
        if self.residue_atoms != "all":
            return self._compute(context)
        g = context.graph
        digest = hashlib.blake2b(digest_size=16)
        digest.update(
            f"{g.resolution}|{getattr(context.query, 'include_hydrogens', False)}|"
            f"ff{self.forcefield_version}".encode()
        )
        for arr in (g.edge_index, g.residue_index, g.atom_index):
            if arr is not None:
                digest.update(np.ascontiguousarray(arr, dtype=np.int64).tobytes())
                digest.update(b"|")
        key = ("_contact_values", digest.hexdigest())
        memo = context.structure._cache
        if key not in memo:
            values = self._compute(context)
            for value in values.values():
                value.setflags(write=False)
            memo[key] = values
        return {name: value.copy() for name, value in memo[key].items()}

    def _compute(self, context: FeatureContext) -> dict[str, np.ndarray]:
        s, g = context.structure, context.graph
        src, dst = g.edge_index
        if g.resolution == "atom":
            a, b = g.atom_index[src], g.atom_index[dst]
            elec, vdw, dist = pair_energies(s, a, b, self.forcefield_version)
            same_chain = (s.chain_index[a] == s.chain_index[b]).astype(np.float64)
            return {
                "distance": dist,
                "same_chain": same_chain,
                "same_res": (s.residue_index[a] == s.residue_index[b]).astype(np.float64),
                "covalent": ((dist < COVALENT_CUTOFF) & (same_chain > 0)).astype(np.float64),
                "electrostatic": elec,
                "vanderwaals": vdw,
            }
        atoms, start = context.node_atom_groups()
        if self.residue_atoms == "interface_shell" and context.query_kind == "ppi":
            from deeprank_like.features import compat_deeprank2 as compat

            atoms, start = compat.restrict_groups(
                atoms, start, compat.interface_shell_mask(context)
            )
        counts = np.diff(start)
        # every (src atom, dst atom) pair of every edge, edge by edge, src-major: a "row" is
        # one src atom of one edge, followed by all atoms of the dst node
        c_src, c_dst = counts[src], counts[dst]
        n_pairs = c_src * c_dst  # >= 1: every node has an eligible atom
        first_pair = np.zeros(g.num_edges, dtype=np.int64)
        np.cumsum(n_pairs[:-1], out=first_pair[1:])
        n_rows = int(c_src.sum())
        row_edge = np.repeat(np.arange(g.num_edges), c_src)
        first_row = np.zeros(g.num_edges, dtype=np.int64)
        np.cumsum(c_src[:-1], out=first_row[1:])
        row_slot = np.arange(n_rows) + (start[src] - first_row)[row_edge]  # its src atom
        row_len = c_dst[row_edge]
        row_first = np.zeros(n_rows, dtype=np.int64)
        np.cumsum(row_len[:-1], out=row_first[1:])
        ai = atoms[np.repeat(row_slot, row_len)]
        bi_slot = np.arange(int(n_pairs.sum()))
        bi_slot += np.repeat(start[dst][row_edge] - row_first, row_len)
        bi = atoms[bi_slot]
        edge_of_pair = np.repeat(np.arange(g.num_edges), n_pairs)
        elec, vdw, r = pair_energies(s, ai, bi, self.forcefield_version)
        e_sum = np.bincount(edge_of_pair, weights=elec, minlength=g.num_edges)
        v_sum = np.bincount(edge_of_pair, weights=vdw, minlength=g.num_edges)
        dmin = np.minimum.reduceat(r, first_pair) if g.num_edges else np.zeros(0)
        chain = s.residue_chain_index[g.residue_index]
        same_chain = (chain[src] == chain[dst]).astype(np.float64)
        return {
            "distance": dmin,
            "same_chain": same_chain,
            "covalent": ((dmin < COVALENT_CUTOFF) & (same_chain > 0)).astype(np.float64),
            "electrostatic": e_sum,
            "vanderwaals": v_sum,
        }
