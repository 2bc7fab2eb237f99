"""``deeprank-like featurize``: structures → graphs (and grids) in HDF5."""

from __future__ import annotations

import argparse
import re
from dataclasses import fields, replace
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
DEFAULT_OUTPUT = "features.hdf5"

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
    g = p.add_argument_group("grids (optional; [grid] of the config file)")
    for f in _grid_flags():
        cli = f.metadata["cli"]
        g.add_argument(
            cli["flag"],
            dest=f"grid_{f.name}",
            metavar=cli["metavar"],
            type=_arg_type(cli["parse"]),
            default=None,
            help=cli["help"],
        )
    return p


def _grid_flags() -> list[Any]:
    """The fields of GridConfig that have a command-line flag (in their metadata)."""
    from deeprank_like.processing.featurize_config import GridConfig

    return [f for f in fields(GridConfig) if f.metadata.get("cli")]


def _arg_type(parse: Any) -> Any:
    """An argparse ``type=``: a ValueError of ``parse`` becomes a one-line usage error."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


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


def _apply_flags(config: Any, args: argparse.Namespace) -> Any:
    """``config`` with the fields given on the command line replaced (``dataclasses.replace``).

    Each flag names one field; a bad value is a one-line error naming the flag.
    """
    from deeprank_like.processing.config_fields import required_fields
    from deeprank_like.processing.featurize_config import ConfigError, GridConfig

    executor = args.dask_address or args.executor
    changes: dict[str, dict[str, tuple[str, Any]]] = {
        "processing": {
            "cpu_count": ("--cpu-count", args.cpu_count),
            "executor": ("--executor/--dask-address", executor),
            "resume": ("--resume", args.resume),
            "overwrite": ("--overwrite", args.overwrite),
            "on_error": ("--on-error", args.on_error),
            "progress": ("--progress", args.progress),
            "shard": ("--shard", _shard(args.shard) if args.shard else None),
            "log_error_traceback": ("--traceback", True if args.traceback else None),
        },
        "storage": {
            "compression": ("--compression", args.compression),
            "combine_output": ("--no-combine", False if args.no_combine else None),
            "float_dtype": ("--float64", "float64" if args.float64 else None),
        },
        "grid": {
            f.name: (f.metadata["cli"]["flag"], getattr(args, f"grid_{f.name}"))
            for f in _grid_flags()
        },
    }
    top = {
        "feature_modules": ("--modules", _modules(args.modules)),
        "resolution": ("--resolution", args.resolution),
        "influence_radius": ("--radius", args.radius),
        "max_edge_length": ("--edge-length", args.edge_length),
    }
    given = {k: v for k, (_, v) in top.items() if v is not None}
    flags = {k: flag for k, (flag, _) in top.items()}
    try:
        for section, items in changes.items():
            values = {k: v for k, (_, v) in items.items() if v is not None}
            flags.update({k: flag for k, (flag, _) in items.items()})
            current = getattr(config, section)
            if not values:
                continue
            if current is None:  # grid: made from the flags alone
                if any(k not in values for k in required_fields(GridConfig)):
                    fail(
                        "a grid needs --grid and --grid-size together (points per axis and "
                        "box size in Å), or a [grid] table in the config file"
                    )
                given[section] = GridConfig(**values)
            else:
                given[section] = replace(current, **values)
        return replace(config, **given)
    except ConfigError as exc:
        flag = flags.get(exc.field or "")
        fail(f"{flag}: {exc}" if flag else str(exc))
    return config


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


def _check_output(config: Any) -> None:
    """Refuse an existing output unless --resume/--overwrite (named as command-line flags)."""
    from deeprank_like.processing.output import output_paths

    if config.processing.resume or config.processing.overwrite:
        return
    out, shards = output_paths(config.output)
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
    from deeprank_like.processing.config import build_collection, read_config
    from deeprank_like.processing.featurize_config import FeaturizeConfig
    from deeprank_like.processing.run import process

    config = args.config
    inputs = list(args.inputs)
    if config is None and len(inputs) == 1 and inputs[0].lower().endswith(CONFIG_SUFFIXES):
        config = inputs.pop()
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
        settings, data, base = read_config(config, output=args.output)
        settings = _apply_flags(settings, args)
        _check_output(settings)
        summary = process(build_collection(data, base, settings.query_defaults()), settings)
    elif args.table:
        if inputs or args.ppi or args.srv:
            fail("--table gives the queries; do not add structures or --ppi/--srv")
        if query_flags:
            fail(
                f"{', '.join(query_flags)}: with --table, give PSSMs in pssm_<CHAIN> columns and "
                "the model in a 'model' column (docs/tables.md)"
            )
        from deeprank_like.query import QueryCollection

        settings = _apply_flags(FeaturizeConfig(output=args.output or DEFAULT_OUTPUT), args)
        _check_output(settings)
        qc = QueryCollection.from_table(
            args.table,
            kind=args.kind,
            columns=_column_map(args.column),
            target_columns=_target_columns(args.target_columns),
            missing_targets=args.missing_targets or "error",
            **settings.query_defaults(),
        )
        summary = process(qc, settings)
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

        settings = _apply_flags(FeaturizeConfig(output=args.output or DEFAULT_OUTPUT), args)
        common = {
            "resolution": settings.resolution or "residue",
            "influence_radius": settings.influence_radius,
            "max_edge_length": settings.max_edge_length,
        }
        if args.model is not None:
            common["model"] = args.model
        from deeprank_like.errors import QueryError
        from deeprank_like.query.table import check_query

        specs: list[tuple[str, str, Any, dict[str, Any]]] = [
            ("--ppi", t, ProteinProteinInterfaceQuery, {"chain_ids": _parse_ppi(t)})
            for t in args.ppi
        ]
        specs += [("--srv", t, SingleResidueVariantQuery, _parse_srv(t)) for t in args.srv]
        qc = QueryCollection()
        for path in _structures(inputs):
            pssms = dict(pssm_files)
            if pssm_folder is not None:
                pssms = pssm_folder.files(path)
            for flag, text, cls, query_fields in specs:
                try:  # a bad query (same chain twice, unknown code) fails alone
                    if pssm_folder is not None:
                        missing = [c for c in _query_chains(query_fields) if c not in pssms]
                        if missing:
                            raise QueryError(
                                "no PSSM file for chain(s) "
                                f"{', '.join(missing)}: expected "
                                f"{', '.join(pssm_folder.expected(path, c) for c in missing)} "
                                f"(--pssm-dir {args.pssm_dir}, pattern {pssm_folder.pattern!r})"
                            )
                    extra: dict[str, Any] = {"pssm_paths": pssms} if pssms else {}
                    query = cls(pdb_path=path, **query_fields, **common, **extra)
                    check_query(query)
                except (QueryError, ValueError) as exc:
                    qc.add_failure(f"{Path(path).name}:{flag} {text}", exc)
                    continue
                qc.add(query)
        _check_output(settings)
        summary = process(qc, settings)
    return 1 if summary.failures else 0
