"""The ``deeprank-like`` command line.

Subcommands live in :mod:`deeprank_like.cli_commands`, one module each, discovered at start-up:
a module ``deeprank_like/cli_commands/<name>.py`` exposing ``add_parser(subparsers)`` becomes
``deeprank-like <name>``. See that package's docstring for the protocol.

Errors are reported as one line on stderr (``deeprank-like: error: ...``) with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["CLIParser", "add_command", "build_parser", "fail", "main"]

PROG = "deeprank-like"
#: Listing order of known commands; other discovered commands follow alphabetically.
ORDER = ("featurize", "inspect", "merge", "train", "predict", "betagm")


class CLIError(Exception):
    """A usage problem detected by a command (printed as one line, exit status 2)."""


def fail(message: str) -> None:
    """Abort the current command with a one-line error (exit status 2)."""
    raise CLIError(message)


class CLIParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr (exit status 2)."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise SystemExit(2)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def add_command(
    subparsers: Any,
    name: str,
    *,
    help: str,
    description: str,
    example: str,
    func: Callable[[argparse.Namespace], int | None],
) -> argparse.ArgumentParser:
    """Add a subcommand with a description, an ``Example:`` epilog and a handler.

    ``func(args)`` returns the exit status (None means 0).
    """
    parser = subparsers.add_parser(
        name,
        help=help,
        description=textwrap.dedent(description).strip(),
        epilog="example:\n" + textwrap.indent(textwrap.dedent(example).strip(), "  "),
        formatter_class=_Formatter,
    )
    parser.set_defaults(func=func)
    return parser


def _command_modules() -> list[str]:
    import deeprank_like.cli_commands as pkg

    found = {m.name for m in pkgutil.iter_modules(pkg.__path__) if not m.name.startswith("_")}
    return [n for n in ORDER if n in found] + sorted(found - set(ORDER))


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every discovered subcommand."""
    from deeprank_like import __version__

    parser = CLIParser(
        prog=PROG,
        description="Featurise protein structures into graphs/grids (HDF5), train and predict.",
        epilog="example:\n  deeprank-like featurize --ppi A,B -o features.hdf5 complexes/*.pdb\n"
        "  deeprank-like inspect features.hdf5\n\n"
        f"Run '{PROG} <command> --help' for the options of a command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv: debug)"
    )
    sub = parser.add_subparsers(title="commands", dest="command", metavar="<command>")
    for name in _command_modules():
        try:
            module = importlib.import_module(f"deeprank_like.cli_commands.{name}")
            module.add_parser(sub)
        except Exception as exc:  # a broken optional command must not break the others
            _add_broken(sub, name, exc)
    return parser


def _add_broken(sub: Any, name: str, exc: Exception) -> None:
    message = f"the '{name}' command is unavailable: {type(exc).__name__}: {exc}"

    def run(args: argparse.Namespace) -> int:
        fail(message)
        return 2

    add_command(
        sub,
        name,
        help=f"(unavailable: {exc})",
        description=message,
        example=f"{PROG} {name} --help",
        func=run,
    )


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) < 2000 else text[:1997] + "..."


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``deeprank-like``; returns the exit status."""
    from deeprank_like.errors import DeeprankLikeError

    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        status = args.func(args)
    except BrokenPipeError:  # e.g. `deeprank-like inspect big.hdf5 | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except CLIError as exc:
        sys.stderr.write(f"{PROG} {args.command}: error: {_one_line(exc)}\n")
        return 2
    except (DeeprankLikeError, OSError, ValueError, ImportError, KeyError, TypeError) as exc:
        if args.verbose >= 2:
            raise
        sys.stderr.write(f"{PROG} {args.command}: error: {_one_line(exc)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"{PROG}: interrupted\n")
        return 130
    return int(status or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
