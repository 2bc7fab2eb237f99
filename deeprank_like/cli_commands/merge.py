"""``deeprank-like merge``: combine feature files (e.g. shards of a cluster run)."""

from __future__ import annotations

import argparse
from typing import Any

from deeprank_like.cli import add_command, fail


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = add_command(
        subparsers,
        "merge",
        help="merge feature files (shards) into one",
        description="""\
            Copy the complete entries of every input into OUTPUT (compressed data is copied as
            is), union the failure tables (dropping failures of queries that have an entry),
            and recompute the file summary. Every entry is verified first (checksum,
            readability; with --workers N, by N processes in parallel before the one-process
            copy): a corrupt entry is reported and never copied. OUTPUT is locked
            while it is written, and written to a temporary file that is renamed, so it is
            never left half-written.

            Exit status: 0 all entries merged; 1 corrupt entries or (with --repair)
            unreadable inputs were left out; 2 usage or fatal error.""",
        example="""\
            deeprank-like merge -o features.hdf5 parts/part-*.hdf5
            deeprank-like merge --workers 16 -o features.hdf5 parts/part-*.hdf5
            deeprank-like merge --append --skip-duplicates -o features.hdf5 late-part.hdf5""",
        func=run,
    )
    p.add_argument("inputs", nargs="+", metavar="FILE", help="feature files to merge")
    p.add_argument("-o", "--output", required=True, help="merged HDF5 file")
    p.add_argument(
        "--skip-duplicates",
        action="store_true",
        help="keep the first of entries with the same id (default: error)",
    )
    p.add_argument("--append", action="store_true", help="add to an existing OUTPUT")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    p.add_argument("--delete-inputs", action="store_true", help="remove the inputs after merging")
    p.add_argument(
        "--repair",
        action="store_true",
        help="repair inputs left by killed or disk-full writers (superblock flag and "
        "end-of-file address) and skip inputs that stay unreadable",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="verify the inputs in N processes before merging (default 1: the merging "
        "process verifies each entry as it copies it)",
    )
    return p


def run(args: argparse.Namespace) -> int:
    from deeprank_like.storage import merge_files

    if args.workers < 1:
        fail(f"--workers must be at least 1, got {args.workers}")
    verified = None
    if args.workers > 1:
        from deeprank_like.processing import verify_files

        verified = verify_files(args.inputs, "processes", args.workers)
    result = merge_files(
        args.inputs,
        args.output,
        overwrite=args.overwrite,
        append=args.append,
        on_duplicate="skip" if args.skip_duplicates else "error",
        delete_inputs=args.delete_inputs,
        repair=args.repair,
        verified=verified,
    )
    import sys

    for qid, path, reason in result.corrupt:
        print(f"corrupt entry {qid!r} in {path} not copied: {reason}", file=sys.stderr)
    for _path, reason in result.unreadable:
        print(f"unreadable input skipped: {reason}", file=sys.stderr)
    print(result)
    return 0 if result.ok else 1
