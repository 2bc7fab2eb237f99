"""Reference DockQ numbers from the ``DockQ`` package, for tests/targets/test_dockq_reference.py.

The ``DockQ`` package (v2, PyPI ``dockq``) needs numpy < 2, so it lives in its own venv. Two steps:

1. ``prepare`` (project environment): copies a few small Docking Benchmark 5 complexes (unbound pair
   and bound reference, gzipped) and the 1igc antibody–antigen complex into ``tests/data/dockq/``,
   samples seeded rigid decoys with :mod:`deeprank_like.structure.docking_decoys`, stores their
   transforms in ``tests/data/dockq/reference.json`` and writes the decoy PDB files to ``--work``::

       python tools/dockq_reference.py prepare --bm5 ../shared/data/bm5 \
           --proteins ../shared/data/proteins --work /tmp/dockq-work

2. ``run`` (DockQ venv: ``python -m venv /tmp/dockq-venv && /tmp/dockq-venv/bin/pip install
   "numpy<2" dockq``): scores every decoy with DockQ in process and adds the numbers (and DockQ's
   speed) to ``reference.json``::

       /tmp/dockq-venv/bin/python tools/dockq_reference.py run --work /tmp/dockq-work

3. ``bench`` (project environment): labels/s of ours (from the files; and rigid poses from the
   stored transforms) and of DockQ (run in its venv) on the same decoy files of a BM5 run made by
   ``scripts/bm5_decoys.py``, with the largest DockQ difference::

       python tools/dockq_reference.py bench --runs ../runs/bm5 --complexes 1A2K 1AY7 1JTD 2PCC

For the chain-group case (antibody H+L against antigen A) DockQ has no group merge of its own, so
``prepare`` also writes copies of the decoys and the reference with chain L renamed H (L residues
renumbered +1000): DockQ scores that two-chain interface, which is what our ``H+L,A`` groups must
reproduce on the original files.

Only the standard library is imported at module level, so the script runs in both environments.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "dockq"
REFERENCE = DATA / "reference.json"
COMPLEXES = ("2OOB", "2X9A", "3PC8", "1KTZ")
N_NEAR, N_WRONG = 45, 15
ANTIBODY = "1igc"
N_ANTIBODY = 20
SEED = 0


def _merge_light_into_heavy(text: str) -> str:
    """PDB text with chain L renamed H and its residues renumbered +1000, placed before H."""
    light, rest = [], []
    for line in text.splitlines(keepends=True):
        if line.startswith(("ATOM  ", "HETATM")) and line[21] == "L":
            num = int(line[22:26]) + 1000
            light.append(f"{line[:21]}H{num:4d}{line[26:]}")
        elif line.startswith(("ATOM  ", "HETATM")):
            rest.append(line)
    return "".join(light) + "".join(rest) + "END\n"


def prepare(args: argparse.Namespace) -> None:
    """Copy inputs, sample decoys, write their PDB files and the transforms."""
    import numpy as np

    from deeprank_like.structure.docking_decoys import (
        DockingDecoySettings,
        read_atom_table,
        sample_docking_poses,
        write_decoy_pdbs,
    )

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    DATA.mkdir(parents=True, exist_ok=True)
    bm5 = Path(args.bm5)
    doc: dict = {"seed": SEED, "complexes": {}, "antibody": {}}
    for cid in COMPLEXES:
        for kind in ("target", "target-unbound"):
            shutil.copyfile(bm5 / f"{cid}_{kind}.pdb.gz", DATA / f"{cid}_{kind}.pdb.gz")
        unbound = read_atom_table(DATA / f"{cid}_target-unbound.pdb.gz")
        lig = unbound.chain_ids == "B"
        poses = sample_docking_poses(
            unbound.coords[~lig],
            unbound.coords[lig],
            settings=DockingDecoySettings(n_near_native=N_NEAR, n_wrong_site=N_WRONG),
            seed=[SEED, zlib.crc32(cid.encode())],
        )
        names = [f"{cid}_{k:03d}" for k in range(len(poses))]
        write_decoy_pdbs(unbound, lig, poses, work / cid, names)
        doc["complexes"][cid] = {
            "model": f"{cid}_target-unbound.pdb.gz",
            "reference": f"{cid}_target.pdb.gz",
            "groups": "A,B",
            "moving_chains": ["B"],
            "center": poses.center.tolist(),
            "decoys": [
                {
                    "name": names[k],
                    "kind": str(poses.kinds[k]),
                    "rotation": poses.rotations[k].tolist(),
                    "translation": poses.translations[k].tolist(),
                }
                for k in range(len(poses))
            ],
        }
    # antibody: rigid moves of the antigen (A) of the crystal structure against H+L
    src = Path(args.proteins) / f"{ANTIBODY}.pdb.gz"
    native = read_atom_table(src)
    keep = np.isin(native.chain_ids, ["H", "L", "A"])
    native = native.subset(keep)
    from deeprank_like.structure.docking_decoys import format_pdb, pdb_template

    native_path = DATA / f"{ANTIBODY}_HLA.pdb.gz"
    native_text = format_pdb(pdb_template(native), native.coords)
    with gzip.open(native_path, "wt") as fh:
        fh.write(native_text)
    antigen = native.chain_ids == "A"
    poses = sample_docking_poses(
        native.coords[~antigen],
        native.coords[antigen],
        settings=DockingDecoySettings(n_near_native=N_ANTIBODY, n_wrong_site=0),
        seed=[SEED, zlib.crc32(ANTIBODY.encode())],
    )
    names = [f"{ANTIBODY}_{k:03d}" for k in range(len(poses))]
    write_decoy_pdbs(native, antigen, poses, work / ANTIBODY, names)
    merged = work / f"{ANTIBODY}_merged"
    merged.mkdir(exist_ok=True)
    for name in names:
        text = (work / ANTIBODY / f"{name}.pdb").read_text()
        (merged / f"{name}.pdb").write_text(_merge_light_into_heavy(text))
    (merged / "reference.pdb").write_text(_merge_light_into_heavy(native_text))
    doc["antibody"] = {
        "model": native_path.name,
        "reference": native_path.name,
        "groups": "H+L,A",
        "moving_chains": ["A"],
        "center": poses.center.tolist(),
        "decoys": [
            {
                "name": names[k],
                "kind": str(poses.kinds[k]),
                "rotation": poses.rotations[k].tolist(),
                "translation": poses.translations[k].tolist(),
            }
            for k in range(len(poses))
        ],
    }
    REFERENCE.write_text(json.dumps(doc, indent=1))
    n = sum(len(c["decoys"]) for c in doc["complexes"].values()) + len(doc["antibody"]["decoys"])
    print(f"wrote {n} decoys to {work} and transforms to {REFERENCE}")


def _dockq_pair(model, native, chain_map):
    from DockQ.DockQ import run_on_all_native_interfaces

    result, _ = run_on_all_native_interfaces(model, native, chain_map=chain_map)
    (info,) = result.values()
    return {k: float(info[k]) for k in ("DockQ", "fnat", "iRMSD", "LRMSD")}


def run(args: argparse.Namespace) -> None:
    """Score the decoys with the DockQ package and store the numbers."""
    import importlib.metadata

    from DockQ.DockQ import load_PDB

    work = Path(args.work)
    doc = json.loads(REFERENCE.read_text())
    n_total = 0
    t_total = 0.0
    for cid, entry in doc["complexes"].items():
        native = load_PDB(str(DATA / entry["reference"]))
        t0 = time.perf_counter()
        for decoy in entry["decoys"]:
            model = load_PDB(str(work / cid / f"{decoy['name']}.pdb"))
            decoy["dockq_package"] = _dockq_pair(model, native, {"A": "A", "B": "B"})
        t_total += time.perf_counter() - t0
        n_total += len(entry["decoys"])
        print(f"{cid}: {len(entry['decoys'])} decoys scored", flush=True)
    ab = doc["antibody"]
    native = load_PDB(str(work / f"{ANTIBODY}_merged" / "reference.pdb"))
    for decoy in ab["decoys"]:
        model = load_PDB(str(work / f"{ANTIBODY}_merged" / f"{decoy['name']}.pdb"))
        decoy["dockq_package_merged_HL"] = _dockq_pair(model, native, {"H": "H", "A": "A"})
    doc["dockq_package"] = {
        "version": importlib.metadata.version("dockq"),
        "labels_per_s_in_process": n_total / t_total,
        "note": "in process, one core, native parsed once per complex, model parsing included",
    }
    REFERENCE.write_text(json.dumps(doc, indent=1))
    print(f"DockQ {doc['dockq_package']['version']}: {n_total / t_total:.1f} labels/s")


def bench(args: argparse.Namespace) -> None:
    """Labels/s of ours (files, and rigid poses) and of DockQ on the same decoy files."""
    import csv
    import subprocess

    import numpy as np

    from deeprank_like.structure.docking_decoys import read_atom_table
    from deeprank_like.targets.dockq import DockQPlan

    runs = Path(args.runs)
    with open(runs / "labels.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["complex"] in set(args.complexes)]
    jobs = []
    for cid in args.complexes:
        mine = [r for r in rows if r["complex"] == cid][: args.per_complex]
        jobs.append(
            {
                "complex": cid,
                "reference": str(Path(args.bm5) / f"{cid}_target.pdb.gz"),
                "files": [str(runs / r["file"]) for r in mine],
                "labels": [float(r["dockq"]) for r in mine],
            }
        )
    # ours, from the files (every file parsed; one plan per file, reference parsed once)
    t0 = time.perf_counter()
    ours = []
    for job in jobs:
        ref = read_atom_table(job["reference"])
        for f in job["files"]:
            model = read_atom_table(f)
            ours.append(DockQPlan(model, ref, "A,B").score(model.coords).dockq[0])
    t_files = time.perf_counter() - t0
    # ours, rigid poses from the transforms (as scripts/bm5_decoys.py labels them)
    t0 = time.perf_counter()
    n_rigid = 0
    for job in jobs:
        cid = job["complex"]
        npz = np.load(runs / "transforms" / f"{cid}.npz")
        # the first file is the unmoved unbound pair (<ID>_nn_000), the poses' starting point
        model = read_atom_table(job["files"][0])
        ref = read_atom_table(job["reference"])
        plan = DockQPlan(model, ref, "A,B")
        k = len(job["files"])
        plan.score_rigid(
            model.coords,
            model.chain_ids == "B",
            npz["rotations"][:k],
            npz["translations"][:k],
            npz["center"],
            round_decimals=3,
        )
        n_rigid += k
    t_rigid = time.perf_counter() - t0
    with tempfile.TemporaryDirectory(prefix="dockq_bench_") as tmp:
        spec = Path(tmp) / "jobs.json"
        spec.write_text(json.dumps(jobs))
        out = subprocess.run(
            [args.dockq_python, __file__, "time-dockq", "--jobs", str(spec)],
            check=True,
            capture_output=True,
            text=True,
        )
    theirs = json.loads(out.stdout.strip().splitlines()[-1])
    n = len(ours)
    ours_arr = np.array(ours)
    result = {
        "decoys": n,
        "complexes": args.complexes,
        "ours_from_files_labels_per_s": n / t_files,
        "ours_rigid_labels_per_s": n_rigid / t_rigid,
        "dockq_package_labels_per_s": n / theirs["seconds"],
        "max_abs_dockq_diff_ours_vs_dockq": float(np.abs(ours_arr - theirs["dockq"]).max()),
        "max_abs_dockq_diff_labels_csv_vs_dockq": float(
            np.abs(np.concatenate([j["labels"] for j in jobs]) - theirs["dockq"]).max()
        ),
    }
    print(json.dumps(result, indent=1))


def time_dockq(args: argparse.Namespace) -> None:
    """(DockQ venv) DockQ on the files of ``--jobs``; prints seconds and scores as JSON."""
    from DockQ.DockQ import load_PDB

    jobs = json.loads(Path(args.jobs).read_text())
    t0 = time.perf_counter()
    scores = []
    for job in jobs:
        native = load_PDB(job["reference"])
        for f in job["files"]:
            scores.append(_dockq_pair(load_PDB(f), native, {"A": "A", "B": "B"})["DockQ"])
    print(json.dumps({"seconds": time.perf_counter() - t0, "dockq": scores}))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="copy inputs, sample decoys (project environment)")
    p.add_argument("--bm5", default=str(ROOT.parent / "shared" / "data" / "bm5"))
    p.add_argument("--proteins", default=str(ROOT.parent / "shared" / "data" / "proteins"))
    p.add_argument("--work", required=True)
    r = sub.add_parser("run", help="score the decoys with the DockQ package (its own venv)")
    r.add_argument("--work", required=True)
    b = sub.add_parser("bench", help="labels/s of ours and of DockQ on the same decoy files")
    b.add_argument("--runs", default=str(ROOT.parent / "runs" / "bm5"))
    b.add_argument("--bm5", default=str(ROOT.parent / "shared" / "data" / "bm5"))
    b.add_argument("--complexes", nargs="+", default=["1A2K", "1AY7", "2PCC"])
    b.add_argument("--per-complex", type=int, default=40)
    b.add_argument("--dockq-python", default="/tmp/dockq-venv/bin/python")
    t = sub.add_parser("time-dockq", help="(internal, DockQ venv) time DockQ on bench jobs")
    t.add_argument("--jobs", required=True)
    args = ap.parse_args(argv)
    {"prepare": prepare, "run": run, "bench": bench, "time-dockq": time_dockq}[args.cmd](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
