"""Docking decoys and DockQ labels for the Docking Benchmark 5 complexes, in one command.

For every complex of ``<data>/index.csv`` the unbound receptor (chain A) and ligand (chain B),
superposed on the bound complex, are the starting pose; ``--n-near`` near-native and ``--n-wrong``
wrong-site rigid poses of the ligand are sampled (``deeprank_like.structure.docking_decoys``),
written as PDB files, and labelled against the bound reference with our vectorised DockQ
(``deeprank_like.targets.dockq``)::

    nice -n 10 python scripts/bm5_decoys.py --data ../shared/data/bm5 --out ../runs/bm5 \
        --processes 2 --seed 0

Outputs under ``--out``:

* ``decoys/<ID>/<ID>_nn_<k>.pdb`` (near-native) and ``<ID>_ws_<k>.pdb`` (wrong-site);
* ``transforms/<ID>.npz``: the rigid transforms (``rotations``, ``translations``, ``center``, ``kinds``);
* ``labels.csv``: ``complex, file, dockq, fnat, irmsd, lrmsd, capri_class, kind, clash_atoms,
  contact_atoms`` (``file`` relative to ``--out``; ``capri_class`` high/medium/acceptable/incorrect,
  official CAPRI criteria);
* ``summary.json``: timings (decoys/s, labels/s), class counts per complex, disk size;
* ``READY`` once everything is written.

A complex already done (its ``labels/<ID>.csv`` exists) is skipped, so a killed run resumes.
Sampling is seeded per complex (``[seed, crc32(ID)]``): the output does not depend on the order
or the number of processes.

Data quirk handled here: when the unbound receptor or ligand holds a whole extra copy of a domain
that the bound reference does not have (1AZS: the unbound VC1 domain twice), the sequence
alignment cannot tell the copies apart. Residues of the unbound chain whose CA lies more than
``--crop-distance`` Å from every CA of the same bound chain are dropped when they are at least
``--crop-min`` residues (a whole domain, not a disordered loop); the cropped complexes are listed in
``summary.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import multiprocessing as mp
import os
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from deeprank_like.structure.docking_decoys import (
    AtomTable,
    DockingDecoySettings,
    read_atom_table,
    sample_docking_poses,
    write_decoy_pdbs,
)
from deeprank_like.targets.dockq import CAPRI_CLASS_NAMES, DockQPlan

FIELDS = [
    "complex", "file", "dockq", "fnat", "irmsd", "lrmsd", "capri_class", "kind",
    "clash_atoms", "contact_atoms",
]  # fmt: skip


def crop_extra_domains(
    unbound: AtomTable, bound: AtomTable, distance: float, min_residues: int
) -> tuple[AtomTable, int]:
    """Drop unbound residues far (CA > ``distance`` Å) from the same bound chain, if many."""
    keep = np.ones(unbound.num_atoms, dtype=bool)
    dropped = 0
    for chain in unbound.chains:
        b_ca = bound.coords[(bound.chain_ids == chain) & (bound.atom_names == "CA")]
        u_ca_idx = np.flatnonzero((unbound.chain_ids == chain) & (unbound.atom_names == "CA"))
        if b_ca.size == 0 or u_ca_idx.size == 0:
            continue
        d, _ = cKDTree(b_ca).query(unbound.coords[u_ca_idx])
        far_res = unbound.residue_index[u_ca_idx[d > distance]]
        if far_res.size >= min_residues:
            keep &= ~np.isin(unbound.residue_index, far_res)
            dropped += int(far_res.size)
    return (unbound.subset(keep) if dropped else unbound), dropped


def run_complex(job: tuple[str, dict]) -> dict:
    """Sample, write and label the decoys of one complex; returns its summary."""
    cid, cfg = job
    out = Path(cfg["out"])
    data = Path(cfg["data"])
    t0 = time.perf_counter()
    unbound = read_atom_table(data / f"{cid}_target-unbound.pdb.gz")
    bound = read_atom_table(data / f"{cid}_target.pdb.gz")
    unbound, cropped = crop_extra_domains(unbound, bound, cfg["crop_distance"], cfg["crop_min"])
    ligand = unbound.chain_ids == "B"
    settings = DockingDecoySettings(n_near_native=cfg["n_near"], n_wrong_site=cfg["n_wrong"])
    t1 = time.perf_counter()
    poses = sample_docking_poses(
        unbound.coords[~ligand],
        unbound.coords[ligand],
        settings=settings,
        seed=[cfg["seed"], zlib.crc32(cid.encode())],
    )
    t2 = time.perf_counter()
    tags = {"near_native": "nn", "wrong_site": "ws"}
    counters = {"nn": 0, "ws": 0}
    names = []
    for kind in poses.kinds.tolist():
        tag = tags[kind]
        names.append(f"{cid}_{tag}_{counters[tag]:03d}")
        counters[tag] += 1
    paths = write_decoy_pdbs(unbound, ligand, poses, out / "decoys" / cid, names)
    t3 = time.perf_counter()
    plan = DockQPlan(unbound, bound, "A,B")
    scores = plan.score_rigid(
        unbound.coords, ligand, poses.rotations, poses.translations, poses.center, round_decimals=3
    )
    t4 = time.perf_counter()
    np.savez_compressed(
        out / "transforms" / f"{cid}.npz",
        rotations=poses.rotations,
        translations=poses.translations,
        center=poses.center,
        kinds=poses.kinds,
        names=np.array(names),
        seed=np.array([cfg["seed"], zlib.crc32(cid.encode())]),
    )
    rows = []
    for k, path in enumerate(paths):
        rows.append(
            {
                "complex": cid,
                "file": str(path.relative_to(out)),
                "dockq": f"{scores.dockq[k]:.4f}",
                "fnat": f"{scores.fnat[k]:.4f}",
                "irmsd": f"{scores.irmsd[k]:.3f}",
                "lrmsd": f"{scores.lrmsd[k]:.3f}",
                "capri_class": CAPRI_CLASS_NAMES[int(scores.capri_class[k])],
                "kind": str(poses.kinds[k]),
                "clash_atoms": int(poses.clash_atoms[k]),
                "contact_atoms": int(poses.contact_atoms[k]),
            }
        )
    tmp = out / "labels" / f"{cid}.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, out / "labels" / f"{cid}.csv")
    nn = poses.kinds == "near_native"
    return {
        "complex": cid,
        "atoms": unbound.num_atoms,
        "cropped_residues": cropped,
        "decoys": len(poses),
        "attempts": poses.attempts,
        "native_pose_dockq": float(scores.dockq[0]),
        "native_pose_irmsd": float(scores.irmsd[0]),
        "classes_near_native": np.bincount(scores.capri_class[nn], minlength=5)[1:].tolist(),
        "classes_wrong_site": np.bincount(scores.capri_class[~nn], minlength=5)[1:].tolist(),
        "seconds": {
            "read": t1 - t0,
            "sample": t2 - t1,
            "write": t3 - t2,
            "label": t4 - t3,
        },
    }


def relabel(out: Path, data: Path, ids: list[str], crop_distance: float, crop_min: int) -> int:
    """Recompute ``labels/<ID>.csv`` and ``labels.csv`` from the stored transforms.

    Scores the coordinates as written in the PDB files (rounded to 1e-3 Å). Returns the number of
    labels whose DockQ changed by more than 1e-4.
    """
    changed = 0
    t0 = time.perf_counter()
    n = 0
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else None
    for cid in ids:
        npz = np.load(out / "transforms" / f"{cid}.npz")
        unbound = read_atom_table(data / f"{cid}_target-unbound.pdb.gz")
        bound = read_atom_table(data / f"{cid}_target.pdb.gz")
        unbound, _ = crop_extra_domains(unbound, bound, crop_distance, crop_min)
        ligand = unbound.chain_ids == "B"
        scores = DockQPlan(unbound, bound, "A,B").score_rigid(
            unbound.coords, ligand, npz["rotations"], npz["translations"], npz["center"],
            round_decimals=3,
        )  # fmt: skip
        path = out / "labels" / f"{cid}.csv"
        with open(path) as fh:
            rows = list(csv.DictReader(fh))
        for k, row in enumerate(rows):
            changed += abs(float(row["dockq"]) - scores.dockq[k]) > 1e-4
            row["dockq"] = f"{scores.dockq[k]:.4f}"
            row["fnat"] = f"{scores.fnat[k]:.4f}"
            row["irmsd"] = f"{scores.irmsd[k]:.3f}"
            row["lrmsd"] = f"{scores.lrmsd[k]:.3f}"
            row["capri_class"] = CAPRI_CLASS_NAMES[int(scores.capri_class[k])]
        n += len(rows)
        if summary is not None and cid in summary.get("per_complex", {}):
            nn = npz["kinds"] == "near_native"
            summary["per_complex"][cid].update(
                native_pose_dockq=float(scores.dockq[0]),
                native_pose_irmsd=float(scores.irmsd[0]),
                classes_near_native=np.bincount(scores.capri_class[nn], minlength=5)[1:].tolist(),
                classes_wrong_site=np.bincount(scores.capri_class[~nn], minlength=5)[1:].tolist(),
            )
        tmp = path.with_suffix(".csv.tmp")
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=FIELDS)
            w.writeheader()
            w.writerows(rows)
        os.replace(tmp, path)
    _merge_labels(out, ids)
    if summary is not None:
        tmp = summary_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(summary, indent=1))
        os.replace(tmp, summary_path)
    dt = time.perf_counter() - t0
    print(f"relabelled {n} decoys of {len(ids)} complexes in {dt:.1f}s ({n / dt:.0f}/s, "
          f"files read included); {changed} DockQ values changed by > 1e-4")  # fmt: skip
    return changed


def _merge_labels(out: Path, ids: list[str]) -> None:
    tmp = out / "labels.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        for cid in ids:
            path = out / "labels" / f"{cid}.csv"
            if path.exists():
                with open(path) as part:
                    w.writerows(csv.DictReader(part))
    os.replace(tmp, out / "labels.csv")


def main(argv: list[str] | None = None) -> int:
    """Run the generation; returns the exit status."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="../shared/data/bm5", help="BM5 folder with index.csv")
    ap.add_argument("--out", default="../runs/bm5", help="output folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-near", type=int, default=60, help="near-native decoys per complex")
    ap.add_argument("--n-wrong", type=int, default=60, help="wrong-site decoys per complex")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--ids", nargs="*", help="only these complexes")
    ap.add_argument("--crop-distance", type=float, default=15.0)
    ap.add_argument("--crop-min", type=int, default=20)
    ap.add_argument(
        "--relabel", action="store_true", help="only recompute the labels from the transforms"
    )
    args = ap.parse_args(argv)

    data, out = Path(args.data), Path(args.out)
    with open(data / "index.csv") as fh:
        index = list(csv.DictReader(fh))
    ids = [row["id"] for row in index]
    if args.ids:
        unknown = sorted(set(args.ids) - set(ids))
        if unknown:
            ap.error(f"unknown complex ids {unknown}")
        ids = [i for i in ids if i in set(args.ids)]
    if args.relabel:
        relabel(out, data, ids, args.crop_distance, args.crop_min)
        return 0
    for sub in ("decoys", "transforms", "labels"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    (out / "READY").unlink(missing_ok=True)
    cfg = {
        "data": str(data), "out": str(out), "seed": args.seed, "n_near": args.n_near,
        "n_wrong": args.n_wrong, "crop_distance": args.crop_distance, "crop_min": args.crop_min,
    }  # fmt: skip
    todo = [i for i in ids if not (out / "labels" / f"{i}.csv").exists()]
    summary_path = out / "summary_parts.jsonl"
    print(f"{len(ids)} complexes, {len(ids) - len(todo)} already done", flush=True)
    t0 = time.perf_counter()
    failures = []
    jobs = [(i, cfg) for i in todo]
    with contextlib.ExitStack() as stack:
        if args.processes > 1:
            pool = stack.enter_context(
                mp.get_context("spawn").Pool(args.processes, maxtasksperchild=20)
            )
            results = pool.imap_unordered(_safe_run, jobs)
        else:  # in process: simpler to debug, and no pickling of this script's functions
            results = map(_safe_run, jobs)
        log = stack.enter_context(open(summary_path, "a"))
        for done, res in enumerate(results, start=1):
            if "error" in res:
                failures.append(res)
                print(f"[{done}/{len(todo)}] {res['complex']} FAILED: {res['error']}", flush=True)
                continue
            log.write(json.dumps(res) + "\n")
            log.flush()
            s = res["seconds"]
            print(
                f"[{done}/{len(todo)}] {res['complex']} {res['decoys']} decoys, native-pose "
                f"DockQ {res['native_pose_dockq']:.2f}, nn classes {res['classes_near_native']} "
                f"sample {s['sample']:.1f}s write {s['write']:.1f}s label {s['label']:.2f}s "
                f"({time.perf_counter() - t0:.0f}s)",
                flush=True,
            )
    wall = time.perf_counter() - t0

    parts = {}
    with open(summary_path) as fh:
        for line in fh:
            rec = json.loads(line)
            parts[rec["complex"]] = rec
    missing = [i for i in ids if not (out / "labels" / f"{i}.csv").exists()]
    _merge_labels(out, ids)
    recs = [parts[i] for i in ids if i in parts]
    total = sum(r["decoys"] for r in recs)
    secs = {k: sum(r["seconds"][k] for r in recs) for k in ("read", "sample", "write", "label")}
    disk = sum(f.stat().st_size for f in (out / "decoys").rglob("*.pdb"))
    summary = {
        "complexes": len(recs),
        "decoys": total,
        "wall_seconds_this_run": wall,
        "cpu_seconds": secs,
        "decoys_per_s_per_core_sample_write": total / max(secs["sample"] + secs["write"], 1e-9),
        "labels_per_s_per_core": total / max(secs["label"], 1e-9),
        "disk_bytes_decoys": disk,
        "cropped": {r["complex"]: r["cropped_residues"] for r in recs if r["cropped_residues"]},
        "failures": failures,
        "missing": missing,
        "per_complex": {r["complex"]: r for r in recs},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "per_complex"}, indent=1))
    if missing:
        print(f"{len(missing)} complexes missing: {missing}", file=sys.stderr)
        return 1
    (out / "READY").write_text(
        f"{total} decoys of {len(recs)} complexes; labels.csv columns {','.join(FIELDS)}; "
        "file paths relative to this folder\n"
    )
    return 0


def _safe_run(job: tuple[str, dict]) -> dict:
    try:
        return run_complex(job)
    except Exception as exc:  # one bad complex must not stop the others; reported in summary
        return {"complex": job[0], "error": f"{type(exc).__name__}: {exc}"}


if __name__ == "__main__":
    raise SystemExit(main())
