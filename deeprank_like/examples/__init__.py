"""Small example structures shipped with the package (DeepRank2 test data, Apache-2.0).

* ``pdb/1ATN_1w.pdb.gz``, ``pdb/1ATN_2w.pdb.gz``: docking decoys of actin/DNase I (1ATN), chains A, B
* ``pdb/3C8P.pdb.gz``: a two-chain complex with alternate locations, chains A, B

Example::

    deeprank-like featurize --ppi A,B -o features.hdf5 $(python -m deeprank_like.examples)

    >>> from deeprank_like.examples import example_path
    >>> example_path("1ATN_1w")          # one structure
    >>> example_path("pdb")              # the folder of all of them
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["EXAMPLES_DIR", "example_path", "example_structures"]

EXAMPLES_DIR = Path(__file__).parent


def example_structures() -> list[Path]:
    """Every example structure file, sorted."""
    return sorted((EXAMPLES_DIR / "pdb").glob("*.pdb.gz"))


def example_path(name: str) -> Path:
    """Path of an example structure (``"1ATN_1w"``, with or without suffix) or folder (``"pdb"``).

    Raises
    ------
    FileNotFoundError
        Naming the available examples.
    """
    direct = EXAMPLES_DIR / name
    if direct.exists() and direct.name != "__init__.py":
        return direct
    stem = name
    for suffix in (".gz", ".pdb"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    for path in example_structures():
        if path.name.split(".")[0] == stem:
            return path
    names = ", ".join(p.name.split(".")[0] for p in example_structures())
    raise FileNotFoundError(f"no example named {name!r}; available: {names}, or 'pdb' (the folder)")
