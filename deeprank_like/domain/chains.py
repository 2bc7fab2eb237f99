"""Chain specifications written as text: ``"A,B"``, ``"H+L,A"`` (the one parser of that syntax).

Sides are separated by commas and the chains of one side by ``+``, as on the command line
(``--ppi H+L,A``), in tables (a ``chains`` column) and in the docking scorer.
"""

from __future__ import annotations

__all__ = ["query_chain_ids", "split_chain_spec"]


def split_chain_spec(spec: str) -> list[list[str]]:
    """The sides of a chain specification, each a list of chain ids.

    Parameters
    ----------
    spec : str
        ``"A,B"``, ``"H+L,A"``, ...

    Returns
    -------
    list of list of str
        ``"H+L,A"`` → ``[["H", "L"], ["A"]]``. Whitespace around ids is removed; empty ids are
        kept as ``""`` so that each caller can refuse them with its own error.
    """
    return [[c.strip() for c in side.split("+")] for side in str(spec).split(",")]


def query_chain_ids(spec: str) -> list[str | list[str]]:
    """A chain specification as a PPI query's ``chain_ids``: one-chain sides as plain ids.

    Empty ids and empty sides are dropped: ``"H+L, A,"`` → ``[["H", "L"], "A"]``.
    """
    out: list[str | list[str]] = []
    for side in split_chain_spec(spec):
        chains = [c for c in side if c]
        if chains:
            out.append(chains[0] if len(chains) == 1 else chains)
    return out
