"""Checks of a query against its files before featurisation (tables, configs, the CLI)."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from deeprank_like.errors import QueryError

__all__ = ["StructureCache", "check_query"]


class StructureCache:
    """The last few structures loaded (rows of one structure are usually adjacent)."""

    def __init__(self, size: int = 8) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, int], Any] = OrderedDict()

    def get(self, path: str, model: int) -> Any:
        from deeprank_like.errors import StructureError
        from deeprank_like.structure import load_structure

        key = (path, model)
        if key in self._items:
            self._items.move_to_end(key)
            item = self._items[key]
        else:
            try:
                item = load_structure(path, model=model)
            except (StructureError, OSError, ValueError) as exc:
                item = exc
            self._items[key] = item
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        if isinstance(item, BaseException):
            raise item
        return item


def check_query(query: Any, cache: StructureCache | None = None) -> None:
    """Checks a query against its files before featurisation.

    Missing structure/PSSM/reference files, a variant equal to its wild type, and (when
    ``cache`` is given, i.e. the structure is read) missing chains, a missing variant residue
    or a wild type that does not match the structure raise :class:`QueryError`.
    """
    if not Path(query.pdb_path).is_file():
        raise QueryError(f"structure file {query.pdb_path} not found")
    for chain, path in query.pssm_paths.items():
        if not Path(path).is_file():
            raise QueryError(f"PSSM file of chain {chain} not found: {path}")
    reference = getattr(query, "reference_path", None)
    if reference and not Path(reference).is_file():
        raise QueryError(f"reference structure {reference} not found")
    if query.kind == "srv" and query.wildtype_amino_acid == query.variant_amino_acid:
        raise QueryError(
            f"variant equals wild type ({query.variant_amino_acid}) at "
            f"{query.chain_ids} {query.variant_residue_number}{query.insertion_code}"
        )
    if cache is None:
        return
    structure = cache.get(query.pdb_path, query.model)
    if query.kind == "srv":
        query.variant_residue(structure)  # chain, residue, standard amino acid, wild type
    else:
        missing = [c for side in query.sides for c in side if c not in structure.chains]
        if missing:
            raise QueryError(
                f"chain(s) {missing} not found in {query.pdb_path} "
                f"(chains present: {list(structure.chains)})"
            )
