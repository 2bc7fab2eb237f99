"""``deeprank-like betagm``: the β-GM eigenvalues of a structure file."""

from __future__ import annotations

import argparse
import json
from typing import Any

from deeprank_like.cli import add_command, fail


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = add_command(
        subparsers,
        "betagm",
        help="β-Gaussian elastic network eigenvalues of a structure",
        description="""\
            Print the lowest non-zero eigenvalues (λ7..λ16 by default) of the β-Gaussian elastic
            network model of a structure (whole structure, or the chains and residue range you
            name). Eigenvalues are in units of the spring constant. See docs/betagm.md for the
            conventions; every one of them is an option here.""",
        example="""\
            deeprank-like betagm protein.pdb
            deeprank-like betagm --chains A --residues 1 100 --json protein.cif.gz
            deeprank-like betagm --chains A,B --chain-breaks split --model 0 complex.pdb
            deeprank-like betagm --no-cb --cutoff 15 --k 1 1 1 1 ubiquitin_ca.pdb   # ProDy ANM""",
        func=run,
    )
    p.add_argument("structure", help="structure file (.pdb/.cif, optionally .gz)")
    p.add_argument(
        "-c",
        "--chains",
        help="comma-separated chain ids modelled together (default: all amino-acid chains)",
    )
    p.add_argument(
        "--model",
        type=int,
        default=0,
        help="0-based index of the model to read from a multi-model file (default 0: the first)",
    )
    p.add_argument(
        "--gap-distance",
        type=float,
        help="consecutive Cα of one chain farther apart than this (Å) are a chain break "
        "(default 4.2)",
    )
    p.add_argument(
        "--chain-breaks",
        choices=["raise", "split"],
        help="a chain break is an error (raise, default) or splits the chain into segments "
        "without a bond across the gap (split)",
    )
    p.add_argument(
        "--residues", nargs=2, type=int, metavar=("FIRST", "LAST"), help="inclusive residue range"
    )
    p.add_argument("--cutoff", type=float, help="spring cut-off in Å (default 7.5)")
    p.add_argument(
        "--k",
        nargs=4,
        type=float,
        metavar=("BONDED", "CA_CA", "CA_CB", "CB_CB"),
        help="spring constants (default 2 1 1 0.5)",
    )
    p.add_argument("--n", type=int, help="number of eigenvalues (default 10)")
    p.add_argument("--no-cb", action="store_true", help="Cα-only network (no Cβ nodes)")
    p.add_argument("--jacobian", choices=["exact", "fixed_norm"], help="Cβ linearisation")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


def run(args: argparse.Namespace) -> int:
    from deeprank_like.enm import BetaGMConfig, betagm_modes
    from deeprank_like.structure import load_structure

    structure = args.structure
    chains = [c.strip() for c in args.chains.split(",") if c.strip()] if args.chains else None
    if args.chains is not None and not chains:
        fail(f"--chains: no chain ids in {args.chains!r}")
    changes: dict[str, Any] = {}
    if args.cutoff is not None:
        changes["cutoff"] = args.cutoff
    if args.k is not None:
        changes.update(k_bonded=args.k[0], k_ca_ca=args.k[1], k_ca_cb=args.k[2], k_cb_cb=args.k[3])
    if args.n is not None:
        changes["n_eigenvalues"] = args.n
    if args.no_cb:
        changes["use_cb"] = False
    if args.jacobian:
        changes["jacobian"] = args.jacobian
    if args.gap_distance is not None:
        changes["gap_distance"] = args.gap_distance
    if args.chain_breaks is not None:
        changes["chain_breaks"] = args.chain_breaks
    try:
        config = BetaGMConfig(**changes)
    except (TypeError, ValueError) as exc:
        fail(f"invalid model settings: {exc}")
    if args.model < 0:
        fail(f"--model must be >= 0 (0 is the first model), got {args.model}")
    result = betagm_modes(
        load_structure(structure, model=args.model),
        chain_ids=chains,
        residue_range=tuple(args.residues) if args.residues else None,
        config=config,
        return_eigenvectors=False,
    )
    first = result.n_zero_modes + 1
    if args.json:
        print(
            json.dumps(
                {
                    "structure": structure,
                    "model": args.model,
                    "chains": chains,
                    "n_residues": int(result.n_residues),
                    "n_zero_modes": int(result.n_zero_modes),
                    "eigenvalues": [float(v) for v in result.eigenvalues],
                    "first_index": first,
                    "config": config.to_dict(),
                },
                indent=1,
            )
        )
        return 0
    print(f"{structure}: {result.n_residues} residues, {result.n_zero_modes} zero modes")
    for i, value in enumerate(result.eigenvalues):
        print(f"lambda_{first + i}: {value:.6g}")
    return 0
