"""Regenerate the docking-model fixtures of tests/benchmarks/test_score_cli.py.

Source: ``tests/data/dockq/2OOB_target-unbound.pdb.gz`` (Docking Benchmark 5, BM5-clean,
Apache-2.0: unbound UBA domain, chain A, and ubiquitin, chain B, superposed on the complex).
Each file imitates the output of another docking program; the heavy atoms of chains A and B
are the same in all of them except ``2OOB_wrong_site.pdb``.

Run from the repository root: ``python tests/data/score/make_fixtures.py``.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import gemmi
import numpy as np

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent / "dockq" / "2OOB_target-unbound.pdb.gz"


def atoms() -> list[dict]:
    st = gemmi.read_structure(str(SOURCE))
    out = []
    for ch in st[0]:
        for res in ch:
            for a in res:
                out.append(
                    {
                        "chain": ch.name, "resname": res.name, "resnum": res.seqid.num,
                        "name": a.name, "element": a.element.name.upper(),
                        "xyz": np.array([a.pos.x, a.pos.y, a.pos.z]), "het": False,
                    }
                )  # fmt: skip
    return out


def line(i: int, a: dict, *, element: bool = True, segid: str = "") -> str:
    name = a["name"]
    field = f" {name:<3}" if len(name) < 4 and len(a["element"]) == 1 else f"{name:<4}"
    rec = "HETATM" if a["het"] else "ATOM  "
    x, y, z = a["xyz"]
    el = a["element"] if element else ""
    return (
        f"{rec}{i:5d} {field} {a['resname']:>3} {a['chain']}{a['resnum']:4d}    "
        f"{x:8.3f}{y:8.3f}{z:8.3f}  1.00 20.00      {segid:<4}{el:>2}\n"
    )


def write(path: Path, items: list[dict], header: str = "", **kw) -> None:
    text = header + "".join(line(i + 1, a, **kw) for i, a in enumerate(items)) + "END\n"
    path.write_text(text)


def main() -> None:
    base = atoms()
    write(HERE / "2OOB_model.pdb", base)

    # HADDOCK/CNS style: hydrogens (no element column anywhere), segids, HSD, OT1/OT2, ILE CD.
    cns: list[dict] = []
    last = {c: max(a["resnum"] for a in base if a["chain"] == c) for c in "AB"}
    for a in base:
        b = dict(a)
        if b["resname"] == "HIS":
            b["resname"] = "HSD"
        if b["resname"] == "ILE" and b["name"] == "CD1":
            b["name"] = "CD"
        if b["resnum"] == last[b["chain"]] and b["name"] in ("O", "OXT"):
            b["name"] = {"O": "OT1", "OXT": "OT2"}[b["name"]]
        cns.append(b)
        if a["name"] in ("N", "CA"):
            h = dict(b, name="HN" if a["name"] == "N" else "HA", element="H")
            h["xyz"] = a["xyz"] + np.array([0.6, 0.6, 0.5])
            cns.append(h)
    remark = "REMARK HADDOCK-like model: CNS names, hydrogens, segids, no element column\n"
    with open(HERE / "2OOB_haddock_style.pdb", "w") as fh:
        fh.write(remark)
        for i, a in enumerate(cns):
            fh.write(line(i + 1, a, element=False, segid=a["chain"]))
        fh.write("END\n")

    # Extra chain, waters, ligand and ion HETATM records, a selenomethionine.
    extra = []
    for a in base:
        b = dict(a)
        if b["chain"] == "B" and b["resname"] == "MET":
            b["resname"], b["het"] = "MSE", True
            if b["name"] == "SD":
                b["name"], b["element"] = "SE", "SE"
        extra.append(b)
    centre = np.mean([a["xyz"] for a in base], axis=0)
    for a in base:
        if a["chain"] == "A":
            extra.append(dict(a, chain="C", xyz=a["xyz"] + np.array([60.0, 0.0, 0.0])))
    extra.append(dict(chain="B", resname="SO4", resnum=901, name="S", element="S", het=True,
                      xyz=centre + np.array([0.5, 0.5, 0.5])))  # fmt: skip
    extra.append(dict(chain="A", resname="ZN", resnum=902, name="ZN", element="ZN", het=True,
                      xyz=centre - np.array([1.0, 0.0, 0.0])))  # fmt: skip
    for k in range(3):
        extra.append(dict(chain="W", resname="HOH", resnum=k + 1, name="O", element="O",
                          het=True, xyz=centre + np.array([3.0 * k, 8.0, 0.0])))  # fmt: skip
    write(HERE / "2OOB_extra_chains_hetatm.pdb", extra)

    # mmCIF, gzipped, other chain names (R receptor, L ligand).
    st = gemmi.read_structure(str(HERE / "2OOB_model.pdb"))
    st.setup_entities()
    for ch in st[0]:
        ch.name = {"A": "R", "B": "L"}[ch.name]
    doc = st.make_mmcif_document()
    with gzip.open(HERE / "2OOB_model_RL.cif.gz", "wt") as fh:
        fh.write(doc.as_string())

    # A wrong-site pose: the ligand turned 150 degrees about the receptor centre.
    rec = np.mean([a["xyz"] for a in base if a["chain"] == "A"], axis=0)
    t = np.deg2rad(150.0)
    rot = np.array([[np.cos(t), -np.sin(t), 0.0], [np.sin(t), np.cos(t), 0.0], [0.0, 0.0, 1.0]])
    wrong = [dict(a, xyz=(a["xyz"] - rec) @ rot.T + rec) if a["chain"] == "B" else a for a in base]
    write(HERE / "2OOB_wrong_site.pdb", wrong)

    (HERE / "not_a_structure.pdb").write_text("this is not a PDB file\n")


if __name__ == "__main__":
    main()
