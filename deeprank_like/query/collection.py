"""`QueryCollection`: an ordered set of queries with unique ids."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from deeprank_like.query.base import Query, query_from_dict

__all__ = ["QueryCollection"]

log = logging.getLogger(__name__)


class QueryCollection:
    """Queries to featurise together.

    Adding a query whose id is already present renames it: its ``model_id`` becomes
    ``"<model_id>_2"``, ``"_3"``, … (as DeepRank2), so every entry id is unique.
    """

    def __init__(self, queries: Iterable[Query] = ()) -> None:
        self._queries: list[Query] = []
        self._ids: set[str] = set()
        self._ids_count: dict[str, int] = {}
        for q in queries:
            self.add(q)

    def add(self, query: Query, verbose: bool = False, warn_duplicate: bool = True) -> None:
        """Append a query, renaming it if its id is taken."""
        qid = query.get_query_id()
        count = self._ids_count.get(qid, 0) + 1
        self._ids_count[qid] = count
        if qid in self._ids:
            base = query.model_id
            n = count
            while query.get_query_id() in self._ids:
                query.model_id = f"{base}_{n}"
                n += 1
            if warn_duplicate:
                log.warning("duplicate query id %s renamed to %s", qid, query.get_query_id())
        self._ids.add(query.get_query_id())
        self._queries.append(query)
        if verbose:
            log.info("added query %s", query.get_query_id())

    @property
    def queries(self) -> list[Query]:
        """The queries, in insertion order."""
        return list(self._queries)

    def __len__(self) -> int:
        return len(self._queries)

    def __iter__(self) -> Iterator[Query]:
        return iter(self._queries)

    def __contains__(self, query: object) -> bool:
        return query in self._queries

    def __getitem__(self, index: int) -> Query:
        return self._queries[index]

    def ids(self) -> list[str]:
        """Query ids in order."""
        return [q.get_query_id() for q in self._queries]

    def to_dicts(self) -> list[dict[str, Any]]:
        """Plain descriptions of every query (what workers receive)."""
        return [q.to_dict() for q in self._queries]

    @classmethod
    def from_dicts(cls, items: Iterable[dict[str, Any]]) -> QueryCollection:
        """Inverse of :meth:`to_dicts`."""
        return cls(query_from_dict(d) for d in items)

    def process(self, prefix: str = "processed-queries", **kwargs: Any) -> Any:
        """Featurise every query in parallel and write HDF5 (see :func:`deeprank_like.processing.process`)."""
        from deeprank_like.processing import process

        return process(self, prefix=prefix, **kwargs)
