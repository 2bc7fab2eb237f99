"""``deeprank-like featurize``: structures → graphs (and grids) in HDF5."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

from deeprank_like.cli import add_command, fail
from deeprank_like.domain.chains import query_chain_ids

STRUCTURE_SUFFIXES = (
    ".pdb",
    ".ent",
    ".cif",
    ".mmcif",
    ".pdb.gz",
    ".ent.gz",
    ".cif.gz",
    ".mmcif.gz",
)
CONFIG_SUFFIXES = (".toml", ".yaml", ".yml", ".json")

EXAMPLE = """\
deeprank-like featurize --ppi A,B --resolution residue -o features.hdf5 complexes/*.pdb
deeprank-like featurize --srv A:25:GLY:ALA -o variants.hdf5 101M.pdb
deeprank-like featurize --srv A:25:GLY:ALA --pssm A=101M.A.pdb.pssm --modules all 101M.pdb
deeprank-like featurize --ppi A,B --pssm-dir pssm/ --modules all complexes/*.pdb   # {pdb}.{chain}.pdb.pssm
deeprank-like featurize --ppi A,B --model 3 -o nmr.hdf5 nmr_ensemble.pdb       # 4th model (0-based)
deeprank-like featurize --table variants.csv -o variants.hdf5   # one query per row (docs/tables.md)
deeprank-like featurize run.toml --cpu-count 8          # config file (see docs/processing.md)
deeprank-like featurize run.toml --shard 3/10 -o part-3.hdf5   # slice 3 of 10 (0-based)"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = add_command(
        subparsers,
        "featurize",
        help="build graphs (and grids) from structures and write them to HDF5",
        description="""\
            Build one graph per query and write all of them to one HDF5 file (layout: docs/hdf5.md).
            Queries come from a config file (TOML/YAML/JSON, see docs/processing.md), from a
            CSV/TSV table with one query (and its targets) per row (--table, see docs/tables.md),
            or from --ppi/--srv applied to every structure given. A query that fails, or a table
            row that cannot become a query, is recorded in the file's failure table and the run
            goes on.

            Exit status: 0 every query written; 1 some queries failed; 2 usage or fatal error.""",
        example=EXAMPLE,
        func=run,
    )
    p.add_argument(
        "inputs",
        nargs="*",
        metavar="FILE",
        help="structure files or folders (.pdb/.cif, optionally .gz), or one config file",
    )
    p.add_argument("-c", "--config", help="config file (.toml/.yaml/.json)")
    p.add_argument(
        "-o", "--output", help="output HDF5 file (default with --ppi/--srv: features.hdf5)"
    )
    t = p.add_argument_group("queries from a table (docs/tables.md)")
    t.add_argument(
        "--table",
        metavar="CSV",
        help="CSV/TSV file, one query per row: pdb_path, chain(s), residue, wildtype, variant, "
        "pssm_<CHAIN>, ... and target columns; relative paths are relative to the table",
    )
    t.add_argument(
        "--kind",
        choices=["ppi", "srv"],
        default=None,
        help="query kind of rows without a 'kind' column (default: srv if the table has a "
        "residue/wildtype/variant column, else ppi)",
    )
    t.add_argument(
        "--column",
        action="append",
        metavar="THEIRS=FIELD",
        default=[],
        help="read your column THEIRS as FIELD, e.g. 'Mutation pos=residue'; repeatable",
    )
    t.add_argument(
        "--target-columns",
        metavar="COLS",
        help="comma-separated target columns, COL=NAME to rename, or 'none' "
        "(default: every other all-numeric column)",
    )
    t.add_argument(
        "--missing-targets",
        choices=["error", "omit"],
        default=None,
        help="an empty target cell fails the row (default) or leaves that target out",
    )
    q = p.add_argument_group("queries (without a config file)")
    q.add_argument(
        "--ppi",
        action="append",
        metavar="CHAINS",
        default=[],
        help="interface between chains, e.g. A,B or H+L,A (groups joined by +); repeatable",
    )
    q.add_argument(
        "--srv",
        action="append",
        metavar="C:NUM[ICODE]:WT:VAR",
        default=[],
        help="single-residue variant, e.g. A:25:GLY:ALA or A:52A:G:A; repeatable",
    )
    q.add_argument(
        "--resolution",
        choices=["residue", "atom"],
        default=None,
        help="graph nodes (default residue)",
    )
    q.add_argument(
        "--radius", type=float, help="influence radius in Å (default 10 residue / 4.5 atom)"
    )
    q.add_argument("--edge-length", type=float, help="maximum edge length in Å (default as radius)")
    q.add_argument(
        "--modules",
        default=None,
        help="feature modules, comma-separated, or 'all' (default components,contact)",
    )
    q.add_argument(
        "--model",
        type=int,
        default=None,
        help="0-based index of the model read from multi-model files (default 0: the first)",
    )
    q.add_argument(
        "--pssm",
        action="append",
        metavar="CHAIN=FILE",
        default=[],
        help="PSSM file of a chain (for the conservation module), used for every structure; "
        "repeatable",
    )
    q.add_argument(
        "--pssm-dir",
        metavar="DIR",
        help="folder of PSSM files named by --pssm-pattern; each structure gets the files of its "
        "chains",
    )
    q.add_argument(
        "--pssm-pattern",
        metavar="PATTERN",
        default=None,
        help="PSSM file names in --pssm-dir: {pdb} is the structure file name without suffixes, "
        "{chain} the chain id (default {pdb}.{chain}.pdb.pssm; e.g. '1ATN.{chain}.pdb.pssm' "
        "for decoys of 1ATN)",
    )
    r = p.add_argument_group("processing")
    r.add_argument("--cpu-count", type=int, help="worker processes (default: all available CPUs)")
    r.add_argument(
        "--executor",
        choices=["processes", "serial", "mpi", "dask"],
        default=None,
        help="where queries run (default processes)",
    )
    r.add_argument(
        "--dask-address",
        help="scheduler address of a running dask cluster (implies --executor dask)",
    )
    r.add_argument(
        "--shard", metavar="I/N", help="process only slice I (0-based) of N of the sorted query ids"
    )
    r.add_argument(
        "--resume",
        action="store_true",
        default=None,
        help="finish an interrupted run with the same output",
    )
    r.add_argument("--overwrite", action="store_true", default=None, help="replace existing output")
    r.add_argument("--no-combine", action="store_true", help="keep one shard file per worker")
    r.add_argument(
        "--float64", action="store_true", help="store features as float64 (default float32)"
    )
    r.add_argument(
        "--compression", choices=["gzip", "lzf", "none"], default=None, help="default gzip"
    )
    r.add_argument(
        "--on-error",
        choices=["record", "raise"],
        default=None,
        help="record failures and go on (default) or stop at the first one",
    )
    r.add_argument(
        "--traceback", action="store_true", help="store full tracebacks in failure messages"
    )
    r.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )
    g = p.add_argument_group("grids (optional)")
    g.add_argument(
        "--grid", metavar="NX,NY,NZ", help="also map each graph to a grid of this many points"
    )
    g.add_argument(
        "--grid-size", metavar="SX,SY,SZ", help="grid box edge lengths in Å (required with --grid)"
    )
    g.add_argument(
        "--grid-method",
        default=None,
        help="gaussian (default), fast_gaussian, nearest, exp_deeprank2",
    )
    g.add_argument(
        "--grid-augment", type=int, default=None, help="extra randomly rotated grids per query"
    )
    g.add_argument("--grid-seed", type=int, default=None, help="seed of the rotations (default 0)")
    return p


def _triple(text: str, what: str, cast: Any) -> list:
    parts = text.replace("x", ",").split(",")
    if len(parts) != 3:
        fail(f"{what} needs three comma-separated values, got {text!r}")
    try:
        return [cast(v) for v in parts]
    except ValueError:
        fail(f"{what}: cannot read {text!r} as three numbers")
    return []


def _shard(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not m or not int(m.group(1)) < int(m.group(2)):
        fail(f"--shard must look like I/N with 0 <= I < N (e.g. 0/4), got {text!r}")
    return int(m.group(1)), int(m.group(2))  # type: ignore[union-attr]


def _structures(inputs: list[str]) -> list[str]:
    out: list[str] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(
                str(p) for p in path.iterdir() if p.name.lower().endswith(STRUCTURE_SUFFIXES)
            )
            if not found:
                fail(f"{item}: folder holds no structure files ({', '.join(STRUCTURE_SUFFIXES)})")
            out += found
        elif path.is_file():
            out.append(str(path))
        else:
            fail(f"{item}: no such file or folder")
    return out


def _parse_ppi(text: str) -> list:
    sides = query_chain_ids(text)
    if len(sides) < 2:
        fail(f"--ppi needs at least two chains or chain groups, e.g. A,B or H+L,A; got {text!r}")
    return sides


def _parse_srv(text: str) -> dict[str, Any]:
    m = re.fullmatch(r"\s*([^:\s]+):(-?\d+)([A-Za-z]?):([A-Za-z]+):([A-Za-z]+)\s*", text)
    if not m:
        fail(
            f"--srv must look like CHAIN:NUMBER[ICODE]:WILDTYPE:VARIANT (e.g. A:25:GLY:ALA), got {text!r}"
        )
    chain, num, icode, wt, var = m.groups()  # type: ignore[union-attr]
    return {
        "chain_ids": chain,
        "variant_residue_number": int(num),
        "insertion_code": icode or None,
        "wildtype_amino_acid": wt,
        "variant_amino_acid": var,
    }


def _modules(text: str | None) -> Any:
    if text is None:
        return None
    if text.strip().lower() == "all":
        return "all"
    return [m.strip() for m in text.split(",") if m.strip()]


def _common_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "cpu_count": args.cpu_count,
        "executor": args.executor,
        "resume": args.resume,
        "overwrite": args.overwrite,
        "on_error": args.on_error,
        "compression": args.compression,
        "progress": args.progress,
    }
    if args.dask_address:
        kw["executor"] = args.dask_address
    if args.shard:
        kw["shard"] = _shard(args.shard)
    if args.no_combine:
        kw["combine_output"] = False
    if args.float64:
        kw["float_dtype"] = "float64"
    if args.traceback:
        kw["log_error_traceback"] = True
    if args.modules is not None:
        kw["feature_modules"] = _modules(args.modules)
    if args.grid or args.grid_size:
        if not (args.grid and args.grid_size):
            fail("--grid and --grid-size go together (points per axis and box size in Å)")
        kw["grid_settings"] = {
            "points_counts": _triple(args.grid, "--grid", int),
            "sizes": _triple(args.grid_size, "--grid-size", float),
        }
    if args.grid_method is not None:
        kw["grid_map_method"] = args.grid_method
    if args.grid_augment is not None:
        kw["grid_augmentation_count"] = args.grid_augment
    if args.grid_seed is not None:
        kw["grid_seed"] = args.grid_seed
    if args.output:
        kw["prefix"] = args.output
    return {k: v for k, v in kw.items() if v is not None}


def _column_map(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        theirs, eq, ours = item.rpartition("=")
        if not eq or not theirs.strip() or not ours.strip():
            fail(
                f"--column must look like THEIRS=FIELD (e.g. 'Mutation pos=residue'), got {item!r}"
            )
        out[theirs.strip()] = ours.strip()
    return out


def _target_columns(text: str | None) -> Any:
    if text is None:
        return None
    if text.strip().lower() == "none":
        return []
    items = [c.strip() for c in text.split(",") if c.strip()]
    if not items:
        fail(f"--target-columns: no column names in {text!r}")
    if any("=" in c for c in items):
        pairs = [c.partition("=") for c in items]
        return {a.strip(): (b.strip() if eq else a.strip()) for a, eq, b in pairs}
    return items


DEFAULT_PSSM_PATTERN = "{pdb}.{chain}.pdb.pssm"


def _pssm_options(args: argparse.Namespace) -> tuple[dict[str, str], Any]:
    """(``--pssm`` chain → file, ``--pssm-dir`` lookup or None), checked."""
    if args.pssm_pattern is not None and not args.pssm_dir:
        fail("--pssm-pattern goes with --pssm-dir")
    if args.pssm and args.pssm_dir:
        fail("give PSSMs either with --pssm CHAIN=FILE or with --pssm-dir, not both")
    files: dict[str, str] = {}
    for item in args.pssm:
        chain, eq, path = item.partition("=")
        if not eq or not chain.strip() or not path.strip():
            fail(f"--pssm must look like CHAIN=FILE (e.g. A=1ATN.A.pdb.pssm), got {item!r}")
        chain, path = chain.strip(), path.strip()
        if chain in files:
            fail(f"--pssm: chain {chain} given twice ({files[chain]} and {path})")
        if not Path(path).is_file():
            fail(f"--pssm {item}: no such file {path}")
        files[chain] = path
    if not args.pssm_dir:
        return files, None
    folder = Path(args.pssm_dir)
    if not folder.is_dir():
        fail(f"--pssm-dir {args.pssm_dir}: no such folder")
    pattern = args.pssm_pattern or DEFAULT_PSSM_PATTERN
    if "{chain}" not in pattern:
        fail(f"--pssm-pattern must contain {{chain}}, got {pattern!r}")
    try:
        pattern.format(pdb="x", chain="A")
    except (KeyError, IndexError, ValueError) as exc:
        fail(f"--pssm-pattern {pattern!r}: only {{pdb}} and {{chain}} can be filled in ({exc})")
    return files, _PssmFolder(folder, pattern)


class _PssmFolder:
    """PSSM files of a folder named by a pattern with ``{pdb}`` and ``{chain}``."""

    def __init__(self, folder: Path, pattern: str) -> None:
        self.folder, self.pattern = folder, pattern
        self.names = sorted(p.name for p in folder.iterdir() if p.is_file())

    def files(self, structure: str) -> dict[str, str]:
        """Chain → PSSM path of every file of ``structure`` in the folder."""
        from deeprank_like.structure.io import structure_name

        head, _, tail = self.pattern.replace("{pdb}", structure_name(structure)).partition(
            "{chain}"
        )
        out = {}
        for name in self.names:
            if name.startswith(head) and name.endswith(tail) and len(name) > len(head + tail):
                chain = name[len(head) : len(name) - len(tail)]
                if chain and not any(c in chain for c in "./ "):
                    out[chain] = str(self.folder / name)
        return out

    def expected(self, structure: str, chain: str) -> str:
        """The path the pattern gives for one chain of ``structure``."""
        from deeprank_like.structure.io import structure_name

        name = self.pattern.format(pdb=structure_name(structure), chain=chain)
        return str(self.folder / name)


def _query_chains(fields: dict[str, Any]) -> list[str]:
    chains = fields["chain_ids"]
    chains = [chains] if isinstance(chains, str) else chains
    return [c for side in chains for c in ([side] if isinstance(side, str) else side)]


def _check_output(kwargs: dict[str, Any]) -> None:
    """Refuse an existing output unless --resume/--overwrite (named as command-line flags)."""
    from deeprank_like.processing.run import output_paths

    if kwargs.get("resume") or kwargs.get("overwrite"):
        return
    out, shards = output_paths(kwargs["prefix"])
    existing = ([out] if Path(out).exists() else []) + shards
    if existing:
        fail(
            f"{existing[0]} exists (output of an earlier run); use --resume to finish that run, "
            "or --overwrite to replace it"
        )


def _table_flags_used(args: argparse.Namespace) -> list[str]:
    used = [
        flag
        for flag, value in (
            ("--kind", args.kind),
            ("--column", args.column),
            ("--target-columns", args.target_columns),
            ("--missing-targets", args.missing_targets),
        )
        if value
    ]
    return used


def run(args: argparse.Namespace) -> int:
    from deeprank_like.processing.config import build_collection, config_kwargs
    from deeprank_like.processing.run import process

    config = args.config
    inputs = list(args.inputs)
    if config is None and len(inputs) == 1 and inputs[0].lower().endswith(CONFIG_SUFFIXES):
        config = inputs.pop()
    kwargs = _common_kwargs(args)
    if not args.table and _table_flags_used(args):
        fail(f"{', '.join(_table_flags_used(args))} go with --table")
    query_flags = [
        flag
        for flag, value in (
            ("--pssm", args.pssm),
            ("--pssm-dir", args.pssm_dir),
            ("--pssm-pattern", args.pssm_pattern),
            ("--model", args.model is not None),
        )
        if value
    ]
    if config is not None:
        if inputs or args.ppi or args.srv or args.table:
            fail("give either a config file, a --table, or structures with --ppi/--srv")
        if query_flags:
            fail(f"{', '.join(query_flags)} belong in the config file when one is used")
        for flag, value in (
            ("--resolution", args.resolution),
            ("--radius", args.radius),
            ("--edge-length", args.edge_length),
        ):
            if value is not None:
                fail(f"{flag} belongs in the config file when one is used")
        data, base, kwargs = config_kwargs(config, **kwargs)
        _check_output(kwargs)
        summary = process(build_collection(data, base), **kwargs)
    elif args.table:
        if inputs or args.ppi or args.srv:
            fail("--table gives the queries; do not add structures or --ppi/--srv")
        if query_flags:
            fail(
                f"{', '.join(query_flags)}: with --table, give PSSMs in pssm_<CHAIN> columns and "
                "the model in a 'model' column (docs/tables.md)"
            )
        from deeprank_like.query import QueryCollection

        defaults = {
            k: v
            for k, v in (
                ("resolution", args.resolution),
                ("influence_radius", args.radius),
                ("max_edge_length", args.edge_length),
            )
            if v is not None
        }
        kwargs.setdefault("prefix", "features.hdf5")
        _check_output(kwargs)
        qc = QueryCollection.from_table(
            args.table,
            kind=args.kind,
            columns=_column_map(args.column),
            target_columns=_target_columns(args.target_columns),
            missing_targets=args.missing_targets or "error",
            **defaults,
        )
        summary = process(qc, **kwargs)
    else:
        if not (args.ppi or args.srv):
            fail("give a config file, a --table, or --ppi and/or --srv with structure files")
        if not inputs:
            fail("no structure files given")
        if args.model is not None and args.model < 0:
            fail(f"--model must be >= 0 (0 is the first model), got {args.model}")
        pssm_files, pssm_folder = _pssm_options(args)
        from deeprank_like.query import (
            ProteinProteinInterfaceQuery,
            QueryCollection,
            SingleResidueVariantQuery,
        )

        common = {
            "resolution": args.resolution or "residue",
            "influence_radius": args.radius,
            "max_edge_length": args.edge_length,
        }
        if args.model is not None:
            common["model"] = args.model
        from deeprank_like.errors import QueryError
        from deeprank_like.query.table import check_query

        specs = [
            ("--ppi", t, ProteinProteinInterfaceQuery, {"chain_ids": _parse_ppi(t)})
            for t in args.ppi
        ]
        specs += [("--srv", t, SingleResidueVariantQuery, _parse_srv(t)) for t in args.srv]
        qc = QueryCollection()
        for path in _structures(inputs):
            pssms = dict(pssm_files)
            if pssm_folder is not None:
                pssms = pssm_folder.files(path)
            for flag, text, cls, fields in specs:
                try:  # a bad query (same chain twice, unknown code) fails alone
                    if pssm_folder is not None:
                        missing = [c for c in _query_chains(fields) if c not in pssms]
                        if missing:
                            raise QueryError(
                                "no PSSM file for chain(s) "
                                f"{', '.join(missing)}: expected "
                                f"{', '.join(pssm_folder.expected(path, c) for c in missing)} "
                                f"(--pssm-dir {args.pssm_dir}, pattern {pssm_folder.pattern!r})"
                            )
                    extra = {"pssm_paths": pssms} if pssms else {}
                    query = cls(pdb_path=path, **fields, **common, **extra)
                    check_query(query)
                except (QueryError, ValueError) as exc:
                    qc.add_failure(f"{Path(path).name}:{flag} {text}", exc)
                    continue
                qc.add(query)
        kwargs.setdefault("prefix", "features.hdf5")
        _check_output(kwargs)
        summary = process(qc, **kwargs)
    return 1 if summary.failures else 0
