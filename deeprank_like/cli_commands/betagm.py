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
            deeprank-like betagm --no-cb --cutoff 15 --k 1 1 1 1 ubiquitin_ca.pdb   # ProDy ANM""",
        func=run,
    )
    p.add_argument("structure", help="structure file (.pdb/.cif, optionally .gz)")
    p.add_argument("--chains", help="comma-separated chain ids (default: all amino-acid chains)")
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
    try:
        config = BetaGMConfig(**changes)
    except (TypeError, ValueError) as exc:
        fail(f"invalid model settings: {exc}")
    chains = [c.strip() for c in args.chains.split(",")] if args.chains else None
    result = betagm_modes(
        args.structure,
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
                    "structure": args.structure,
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
    print(f"{args.structure}: {result.n_residues} residues, {result.n_zero_modes} zero modes")
    for i, value in enumerate(result.eigenvalues):
        print(f"lambda_{first + i}: {value:.6g}")
    return 0
