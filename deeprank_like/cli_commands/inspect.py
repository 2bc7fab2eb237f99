"""``deeprank-like inspect``: what a feature file holds."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from deeprank_like.cli import add_command


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = add_command(
        subparsers,
        "inspect",
        help="list the entries, features (widths, units), targets and failures of an HDF5 file",
        description="""\
            Print a summary of a feature file written by 'deeprank-like featurize' or
            deeprank_like.process(): its entries (nodes, edges, targets, grids), every feature
            with its width, unit and description, the targets, and the failed queries.
            --verify reads every entry and checks it against its checksum; exit status 1
            if an entry is damaged or the file cannot be read completely.""",
        example="""\
            deeprank-like inspect features.hdf5
            deeprank-like inspect features.hdf5 --entry residue-ppi:A-B:1ATN_1w
            deeprank-like inspect features.hdf5 --json | jq .failures
            deeprank-like inspect --verify features.hdf5""",
        func=run,
    )
    p.add_argument("file", help="HDF5 feature file")
    p.add_argument(
        "--entries",
        type=int,
        default=20,
        metavar="N",
        help="list at most N entries (default 20; 0: all)",
    )
    p.add_argument("--entry", metavar="ID", help="show the arrays of one entry")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--repair",
        action="store_true",
        help="repair the superblock left by a killed or disk-full writer ('open for write' "
        "flag, end-of-file address)",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="read every entry and check its checksum; exit 1 if one is damaged",
    )
    return p


def _verify(path: str, repair: bool, as_json: bool) -> int:
    from deeprank_like.storage.files import open_h5
    from deeprank_like.storage.integrity import check_file, describe_check
    from deeprank_like.storage.schema import entry_id

    with open_h5(path, "r", repair=repair) as f:
        check = check_file(f)
    if as_json:
        report = {
            "file": path,
            "ok": check.ok,
            "verified": len(check.good),
            "without_checksum": check.unchecked,
            "bad": {entry_id(k): v for k, v in check.bad.items()},
            "incomplete": [entry_id(k) for k in check.incomplete],
            "error": check.error,
        }
        print(json.dumps(report, indent=2))
    else:
        print(describe_check(check))
        for name, reason in check.bad.items():
            print(f"  BAD {entry_id(name)}: {reason}")
        for name in check.incomplete:
            print(f"  incomplete {entry_id(name)} (no complete flag; ignored by readers)")
    return 0 if check.ok else 1


def _entry_row(ff: Any, qid: str) -> dict[str, Any]:
    info = ff.describe_entry(qid)  # storage owns the entry's names
    targets = {k: (v.tolist() if hasattr(v, "tolist") else v) for k, v in ff.targets(qid).items()}
    return {
        "id": qid,
        **{k: info[k] for k in ("kind", "resolution", "nodes", "edges")},
        "targets": targets,
        "grids": info["grids"],
    }


def _report(ff: Any, limit: int) -> dict[str, Any]:
    attrs = ff.attrs
    specs = ff.feature_specs
    counts = ff.feature_counts
    entries = ff.entries
    shown = entries if limit <= 0 else entries[:limit]
    return {
        "file": ff.path,
        "size_bytes": os.path.getsize(ff.path),
        "schema_version": int(attrs.get("schema_version", 0)),
        "package_version": attrs.get("package_version"),
        "created_by": attrs.get("created_by"),
        "config": attrs.get("config", {}),
        "entry_count": len(entries),
        "entries": [_entry_row(ff, q) for q in shown],
        "features": [{**s.to_dict(), "entries": counts.get(name, 0)} for name, s in specs.items()],
        "failures": ff.failures(),
    }


def _print_table(rows: list[list[str]], indent: str = "  ") -> None:
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print(indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def _fmt_target(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, list):
        return (
            "[" + ", ".join(_fmt_target(x) for x in v[:4]) + (", ..." if len(v) > 4 else "") + "]"
        )
    return str(v)


def _print_report(r: dict[str, Any], limit: int) -> None:
    n = r["entry_count"]
    print(
        f"{r['file']}: {n} entries, {len(r['failures'])} failures, "
        f"{r['size_bytes'] / 1e6:.2f} MB ({r['size_bytes'] / max(n, 1) / 1e3:.1f} KB/entry)"
    )
    print(
        f"  schema {r['schema_version']}, written by deeprank_like {r['package_version']} "
        f"({r['created_by']})"
    )
    cfg = r["config"] or {}
    if cfg:
        print("  config: " + ", ".join(f"{k}={v}" for k, v in cfg.items() if v is not None))
    print(f"\nentries ({n}{'' if limit <= 0 or n <= limit else f', first {limit}'}):")
    rows = [["id", "nodes", "edges", "grids", "targets"]]
    for e in r["entries"]:
        targets = " ".join(f"{k}={_fmt_target(v)}" for k, v in e["targets"].items())
        rows.append([e["id"], str(e["nodes"]), str(e["edges"]), str(e["grids"]), targets or "-"])
    _print_table(rows)
    for kind, title in (
        ("node", "node features"),
        ("edge", "edge features"),
        ("target", "targets"),
    ):
        feats = [f for f in r["features"] if f["kind"] == kind]
        print(f"\n{title} ({len(feats)}):")
        rows = [["name", "width", "unit", "entries", "module", "description"]]
        for f in feats:
            rows.append(
                [
                    f["name"],
                    str(f["width"]),
                    f["unit"],
                    str(f["entries"]),
                    f["module"] or "-",
                    f["description"],
                ]
            )
        if feats:
            _print_table(rows)
    print(f"\nfailures ({len(r['failures'])}):")
    rows = [["query_id", "stage", "exception", "message"]]
    for f in r["failures"]:
        msg = " ".join(f["message"].split())
        rows.append(
            [
                f["query_id"],
                f["stage"],
                f["exc_type"],
                msg[:120] + ("..." if len(msg) > 120 else ""),
            ]
        )
    if r["failures"]:
        _print_table(rows)


def _print_entry(ff: Any, qid: str, as_json: bool) -> None:
    arrays = ff.arrays(qid)
    info = {**_entry_row(ff, qid), "arrays": arrays, "query": ff.query(qid)}
    if as_json:
        print(json.dumps(info, indent=2, default=str))
        return
    print(
        f"{qid}: {info['kind']} {info['resolution']} graph, {info['nodes']} nodes, {info['edges']} edges"
    )
    print("  query: " + ", ".join(f"{k}={v}" for k, v in info["query"].items()))
    rows = [["array", "shape", "dtype", "compression"]]
    for name, a in arrays.items():
        rows.append(
            [name, "x".join(map(str, a["shape"])) or "scalar", a["dtype"], a["compression"] or "-"]
        )
    _print_table(rows)


def run(args: argparse.Namespace) -> int:
    from deeprank_like.storage import FeatureFile

    if args.verify:
        return _verify(args.file, args.repair, args.json)
    with FeatureFile(args.file, repair=args.repair) as ff:
        if args.entry:
            _print_entry(ff, args.entry, args.json)
            return 0
        report = _report(ff, args.entries)
        if args.json:
            print(json.dumps(report, indent=2, default=str))
        else:
            _print_report(report, args.entries)
    return 0
