"""``deeprank-like targets add``: labels from a CSV/TSV table onto an existing feature file."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from deeprank_like.cli import add_command, fail

EXAMPLE = """\
deeprank-like targets add features.hdf5 labels.csv            # entry_id,ddg or pdb_path,...,ddg
deeprank-like targets add features.hdf5 labels.csv --target-columns ddg --overwrite
deeprank-like targets add features.hdf5 dockq.tsv --column "model=pdb_path" --dry-run"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = add_command(
        subparsers,
        "targets",
        help="add target values from a table to an existing feature file",
        description="""\
            'targets add FILE TABLE' writes target values from a CSV/TSV table into the
            entries of FILE in place, without refeaturising. Rows join entries by an
            'entry_id' column (ids as 'inspect' lists them) or, without one, by the query
            fields the table has (pdb_path, kind, chain(s), residue, wildtype, variant,
            resolution, model_id; see docs/tables.md). Rows matching no entry, rows with bad
            values and rows setting a value an earlier row set are listed on stderr. FILE is
            locked while it is changed; entries with a checksum are verified first and
            re-sealed after.

            Exit status: 0 every row used; 1 some rows matched nothing or were invalid;
            2 usage or fatal error (nothing written).""",
        example=EXAMPLE,
        func=run,
    )
    sub = p.add_subparsers(dest="targets_action", metavar="<action>")
    a = sub.add_parser(
        "add",
        help="add or replace target values from a table",
        description="Add or replace target values of FILE's entries from TABLE.",
        epilog="example:\n  " + EXAMPLE.replace("\n", "\n  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    a.add_argument("file", metavar="FILE", help="feature file (.hdf5), changed in place")
    a.add_argument("table", metavar="TABLE", help="CSV/TSV table of labels")
    a.add_argument(
        "--target-columns",
        metavar="COLS",
        help="comma-separated target columns, COL=NAME to rename "
        "(default: every other all-numeric column)",
    )
    a.add_argument(
        "--column",
        action="append",
        metavar="THEIRS=FIELD",
        default=[],
        help="read your column THEIRS as FIELD (e.g. 'id=entry_id'); repeatable",
    )
    a.add_argument("--kind", choices=["ppi", "srv"], help="only entries of this query kind")
    a.add_argument(
        "--overwrite", action="store_true", help="replace values of targets entries already have"
    )
    a.add_argument(
        "--missing-targets",
        choices=["omit", "error"],
        default="omit",
        help="an empty cell writes nothing (default) or makes the row invalid",
    )
    a.add_argument("--dry-run", action="store_true", help="match and report, write nothing")
    a.add_argument("--sep", help="column separator (default: from the suffix, else guessed)")
    return p


def run(args: argparse.Namespace) -> int:
    if getattr(args, "targets_action", None) != "add":
        fail("say what to do: 'deeprank-like targets add FILE TABLE'")
    from deeprank_like.cli_commands.featurize import _column_map, _target_columns
    from deeprank_like.storage.targets import add_targets

    target_columns = _target_columns(args.target_columns)
    if target_columns == []:
        fail("--target-columns none leaves nothing to add")
    result = add_targets(
        args.file,
        args.table,
        target_columns=target_columns,
        columns=_column_map(args.column),
        kind=args.kind,
        sep=args.sep,
        overwrite=args.overwrite,
        missing_targets=args.missing_targets,
        dry_run=args.dry_run,
    )
    for word, rows in (
        ("matched no entry", result.unmatched),
        ("invalid", result.invalid),
        ("conflicts with an earlier row", result.conflicts),
    ):
        for row, reason in rows[:20]:
            print(f"row {row} {word}: {reason}", file=sys.stderr)
        if len(rows) > 20:
            print(f"... and {len(rows) - 20} more rows {word}", file=sys.stderr)
    print(("dry run: " if args.dry_run else "") + result.line())
    return 0 if result.ok else 1
