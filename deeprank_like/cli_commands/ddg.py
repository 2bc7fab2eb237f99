"""``deeprank-like ddg``: stability change (ΔΔG) of single amino-acid substitutions."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from deeprank_like.cli import add_command, fail


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = add_command(
        subparsers,
        "ddg",
        help="predict protein-stability changes (ΔΔG) of single mutations",
        description="""\
            Predict the folding-stability change of every substitution in a CSV/TSV table with
            the model shipped in the package (an antisymmetric graph network, see
            docs/benchmarks/variant-effects.md). Columns: pdb_path, chain, residue (52 or
            52A), wildtype, variant (one- or three-letter codes); others are kept. The output
            adds predicted_ddg in kcal/mol, negative = destabilising (the ProTherm sign), and
            a reason column that says why a row could not be predicted (missing file, residue
            not found, wild type that does not match the structure, ...). Relative pdb_path
            values resolve against the table's folder.""",
        example="""\
            deeprank-like ddg -o predictions.csv variants.csv
            deeprank-like ddg --model my_model/ -o out.tsv variants.tsv""",
        func=run,
    )
    p.add_argument("table", help="variant table (.csv, or .tsv/.tab for tab-separated)")
    p.add_argument("-o", "--output", required=True, help="output table (.csv or .tsv)")
    p.add_argument(
        "--model", help="folder with model.json and model.pt (default: the shipped model)"
    )
    return p


def _sep(path: Path) -> str:
    return "\t" if path.suffix.lower() in (".tsv", ".tab") else ","


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from deeprank_like.pretrained.ddg import predict_ddg

    table_path = Path(args.table)
    if not table_path.is_file():
        fail(f"table {table_path} not found")
    try:
        table = pd.read_csv(table_path, sep=_sep(table_path), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        fail(f"cannot read table {table_path}: {exc}")
    result = predict_ddg(table, model_dir=args.model, base_dir=table_path.parent)
    out = Path(args.output)
    result.to_csv(out, sep=_sep(out), index=False, float_format="%.4f")
    done = int(result["predicted_ddg"].notna().sum())
    print(f"{done} of {len(result)} rows predicted -> {out}")
    if done < len(result):
        failed = result[result["reason"] != ""]
        for reason, count in failed["reason"].str.split(":").str[0].value_counts().items():
            print(f"  not predicted: {count} × {reason}")
    return 0
