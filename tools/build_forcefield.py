"""Convert the CNS/HADDOCK force-field files into ``deeprank_like/domain/data/forcefield.json``.

Usage: ``python tools/build_forcefield.py ../shared/data/forcefield``

Inputs (distributed with DeepRank2, Apache-2.0; parameters by M. Nilges et al.):
``protein-allhdg5-5_new.top`` (per-residue atom types and partial charges),
``protein-allhdg5-4_new.param`` (``NONBonded`` Lennard-Jones parameters),
``patch.top`` (terminal and protonation patches) and ``residue-classes`` (when a patch applies).

Versions: the tables are version 2 (``"version": 2``). Version 1 was read with a stricter
topology pattern that skipped 57 atoms; ``"missing_in_version_1"`` lists them (``"RES:ATOM"``)
so that :func:`deeprank_like.domain.forcefield.load_forcefield` can rebuild version 1 for models
trained before the fix.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

#: Topology line pattern: keywords in any case (``TYPE=`` in HIS HE2) and other keywords
#: before ``end`` (``exclude=(CZ)`` on aromatic ring atoms), as DeepRank2's TopParser reads them.
TOP_PATTERN = re.compile(
    r"^(\w+)\s+atom\s+(\S+)\s+type=\s*(\S+)\s+charge=\s*(-?[\d.]+)\b.*\bend\b",
    re.IGNORECASE,
)
#: The pattern of force-field version 1 (before the fix): case-sensitive, nothing between the
#: charge and ``end``; it skipped 57 atoms (PHE/TYR/TRP ring atoms, HIS HE2, methyl H of
#: ILE/LEU/VAL), which version 1 leaves without charge and LJ parameters.
TOP_PATTERN_V1 = re.compile(r"^(\w+)\s+atom\s+(\S+)\s+type=(\S+)\s+charge=\s*(-?[\d.]+)\s+end")
#: Version of the tables this script writes (``forcefield.json`` ``"version"``).
VERSION = 2


def parse_top(path: Path, pattern: re.Pattern[str] = TOP_PATTERN) -> dict[str, dict[str, list]]:
    residues: dict[str, dict[str, list]] = {}
    for line in path.read_text().splitlines():
        m = pattern.match(line.strip())
        if m:
            res, atom, typ, charge = m.groups()
            residues.setdefault(res, {})[atom] = [typ, float(charge)]
    return residues


def parse_param(path: Path) -> dict[str, list[float]]:
    types: dict[str, list[float]] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 6 and parts[0].upper() == "NONBONDED":
            types[parts[1]] = [float(x) for x in parts[2:6]]
    return types


def parse_patches(path: Path) -> dict[str, list[dict]]:
    patches: dict[str, list[dict]] = {}
    pattern = re.compile(
        r"^(\w+)\s+(MODIFY|ADD)\s+ATOM\s+(\S+)(?:\s+TYPE=(\S+))?\s+CHARGE=\s*(-?[\d.]+)"
    )
    for line in path.read_text().splitlines():
        m = pattern.match(line.strip())
        if m:
            name, action, atom, typ, charge = m.groups()
            patches.setdefault(name, []).append(
                {"action": action, "atom": atom, "type": typ, "charge": float(charge)}
            )
    return patches


def parse_classes(path: Path) -> dict[str, dict]:
    classes: dict[str, dict] = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^(\w+):\s+name=(\w+)\s+(.*)$", line.strip())
        if not m:
            continue
        name, residue, rest = m.groups()
        present = re.search(r"present\(([^)]*)\)", rest)
        absent = re.search(r"absent\(([^)]*)\)", rest)
        classes[name] = {
            "residue": residue,
            "present": [a.strip() for a in present.group(1).split(",")] if present else [],
            "absent": [a.strip() for a in absent.group(1).split(",")] if absent else [],
        }
    return classes


def main(src: str) -> None:
    folder = Path(src)
    top = folder / "protein-allhdg5-5_new.top"
    residues = parse_top(top)
    old = parse_top(top, TOP_PATTERN_V1)
    changed = [
        f"{res}:{atom}"
        for res, atoms in old.items()
        for atom, entry in atoms.items()
        if residues.get(res, {}).get(atom) != entry
    ]
    if changed:  # version 1 must be version 2 minus the listed atoms
        raise SystemExit(f"{top}: atoms read differently by the two patterns: {changed}")
    missing = sorted(
        f"{res}:{atom}"
        for res, atoms in residues.items()
        for atom in atoms
        if atom not in old.get(res, {})
    )
    data = {
        "version": VERSION,
        "missing_in_version_1": missing,
        "source": "CNS/HADDOCK protein-allhdg5-5 topology, protein-allhdg5-4 parameters "
        "(distributed with DeepRank2, Apache-2.0)",
        "residues": residues,
        "lj_types": parse_param(folder / "protein-allhdg5-4_new.param"),
        "patches": parse_patches(folder / "patch.top"),
        "residue_classes": parse_classes(folder / "residue-classes"),
    }
    out = Path(__file__).resolve().parents[1] / "deeprank_like" / "domain" / "data"
    out.mkdir(parents=True, exist_ok=True)
    (out / "forcefield.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out / 'forcefield.json'}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/forcefield")
