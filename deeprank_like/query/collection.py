"""`QueryCollection`: an ordered set of queries with unique ids."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from deeprank_like.query.base import Query, query_from_dict

__all__ = ["QueryCollection"]

log = logging.getLogger(__name__)


class QueryCollection:
    """Queries to featurise together.

    Adding a query whose id is already present stores a renamed copy of it: the copy's
    ``model_id`` becomes ``"<model_id>_2"``, ``"_3"``, … (as DeepRank2), so every entry id is
    unique; the query passed in is never changed. Featurise a collection with
    :func:`deeprank_like.processing.process` (``deeprank_like.process(collection, ...)``).

    Attributes
    ----------
    failures : list of dict
        Queries that could not even be made (a bad table row, an unknown amino-acid code in a
        config): dicts with ``query_id``, ``stage`` (``"query"``), ``exc_type``, ``message``
        and ``row`` (0-based table row or None). :func:`deeprank_like.processing.process`
        writes them to the output's failure table and counts them as failed.
    table_rows : dict of str to int
        Query id → 0-based row of the table it came from (:meth:`from_table`).
    """

    def __init__(self, queries: Iterable[Query] = ()) -> None:
        self._queries: list[Query] = []
        self._ids: set[str] = set()
        self._ids_count: dict[str, int] = {}
        self.failures: list[dict[str, Any]] = []
        self.table_rows: dict[str, int] = {}
        for q in queries:
            self.add(q)

    def add_failure(
        self,
        query_id: str,
        error: BaseException | str,
        *,
        stage: str = "query",
        row: int | None = None,
    ) -> None:
        """Record a query that could not be made; ``process`` writes it to ``/_failures``.

        Parameters
        ----------
        query_id : str
            What names the query, e.g. ``"variants.csv:row 3"``.
        error : Exception or str
            The cause; its type name becomes ``exc_type`` (``"QueryError"`` for a str).
        stage : str
        row : int, optional
            0-based table row.
        """
        if isinstance(error, BaseException):
            exc_type, message = type(error).__name__, str(error)
        else:
            exc_type, message = "QueryError", str(error)
        self.failures.append(
            {
                "query_id": str(query_id),
                "stage": stage,
                "exc_type": exc_type,
                "message": message,
                "row": row,
            }
        )
        log.info("%s: %s: %s", query_id, exc_type, message)

    def add(self, query: Query, verbose: bool = False, warn_duplicate: bool = True) -> Query:
        """Append a query; a taken id is renamed on a copy, never on ``query`` itself.

        Parameters
        ----------
        query : Query
            Not modified: when its id is already present the collection stores a copy
            (:func:`dataclasses.replace`) whose ``model_id`` is ``"<model_id>_2"``, ``"_3"``, ….
        verbose : bool
            Log the id added.
        warn_duplicate : bool
            Log a warning when the id is renamed.

        Returns
        -------
        Query
            The query as stored: ``query`` itself, or its renamed copy.
        """
        if not isinstance(query, Query):
            raise TypeError(f"QueryCollection.add: expected a Query, got {type(query).__name__}")
        qid = query.get_query_id()
        count = self._ids_count.get(qid, 0) + 1
        self._ids_count[qid] = count
        stored = query
        if qid in self._ids:
            base, n = query.model_id, count
            while stored.get_query_id() in self._ids:
                stored = replace(query, model_id=f"{base}_{n}")
                n += 1
            if warn_duplicate:
                log.warning("duplicate query id %s renamed to %s", qid, stored.get_query_id())
        self._ids.add(stored.get_query_id())
        self._queries.append(stored)
        if verbose:
            log.info("added query %s", stored.get_query_id())
        return stored

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
    def from_table(
        cls,
        table: Any,
        *,
        kind: str | None = None,
        columns: Mapping[str, str] | None = None,
        target_columns: Sequence[str] | Mapping[str, str] | str | None = None,
        base_dir: str | os.PathLike | None = None,
        sep: str | None = None,
        check_structures: bool = True,
        missing_targets: str = "error",
        **query_defaults: Any,
    ) -> QueryCollection:
        """Queries (and their targets) from a CSV/TSV file or a pandas DataFrame, one per row.

        Column names, aliases and formats are listed in :mod:`deeprank_like.query.table` and
        ``docs/tables.md``; e.g. ``pdb_path,chain,residue,wildtype,variant,ddg`` for variants
        and ``pdb_path,chains,dockq`` (``chains`` like ``A,B`` or ``H+L,A``) for interfaces.

        A row that cannot become a query (missing file, bad residue, wild type that does not
        match the structure, variant equal to wild type, unknown amino-acid code, empty or
        non-numeric target) is not added: it is recorded in :attr:`failures` with its row
        number (id ``"<table file name>:row <n>"``, n 0-based) and the run goes on.

        Parameters
        ----------
        table : str, PathLike or pandas.DataFrame
            ``.csv`` (comma), ``.tsv``/``.tab`` (tab), other suffixes sniffed; may be
            compressed (``.gz`` …). File cells are read as text (chain ``"1"`` stays a string).
        kind : {"ppi", "srv"}, optional
            Kind of every row without a ``kind`` column; default: ``"srv"`` when the table has a
            residue, wild-type or variant column, else ``"ppi"``.
        columns : dict of str to str, optional
            Your column name → field name (or alias), e.g. ``{"Mutation pos": "residue"}``.
        target_columns : list of str, dict of str to str, str, optional
            Columns stored as targets (a dict renames them: column → target name). Default:
            every column that is not a query field and holds only numbers (empty cells
            allowed); ``[]`` for none.
        base_dir : str or PathLike, optional
            Folder of relative paths; default: the table's folder (the current directory
            for a DataFrame).
        sep : str, optional
            Column separator, overriding the guess from the suffix.
        check_structures : bool
            Read each structure (a few at a time) to check chains, the variant residue and its
            wild type now, so such rows fail here with their row number rather than later.
        missing_targets : {"error", "omit"}
            An empty target cell makes the row a failure (default) or leaves that target out.
        **query_defaults
            Fields given to every query unless the row has them (``resolution="atom"``,
            ``influence_radius=8.0``, ``targets={"binary": 1}`` …).

        Returns
        -------
        QueryCollection
            With :attr:`failures` and :attr:`table_rows` (query id → row) filled in.

        Raises
        ------
        TableError
            Only for the table as a whole: unreadable, no ``pdb_path`` column, a mapped or
            target column that does not exist.
        TypeError
            A keyword argument that is not a query field.
        """
        from deeprank_like.query.table import table_queries

        items, label = table_queries(
            table,
            kind=kind,
            columns=columns,
            target_columns=target_columns,
            base_dir=base_dir,
            sep=sep,
            check_structures=check_structures,
            missing_targets=missing_targets,
            defaults=query_defaults,
        )
        qc = cls()
        qc.extend_from_rows(items, label)
        if qc.failures:
            first = qc.failures[0]
            log.warning(
                "%s: %d of %d rows cannot become queries (first: %s: %s); see .failures",
                label, len(qc.failures), len(items), first["query_id"], first["message"],
            )  # fmt: skip
        return qc

    def extend_from_rows(self, items: Iterable[Any], label: str) -> None:
        """Add the queries of :func:`~deeprank_like.query.table.table_queries` rows; record the rest."""
        for item in items:
            if item.query is None:
                self.add_failure(f"{label}:row {item.row}", item.error, row=item.row)
            else:
                stored = self.add(item.query)
                self.table_rows[stored.get_query_id()] = item.row

    @classmethod
    def from_dicts(cls, items: Iterable[dict[str, Any]]) -> QueryCollection:
        """Inverse of :meth:`to_dicts`."""
        return cls(query_from_dict(d) for d in items)

    def __getattr__(self, name: str) -> Any:
        if name == "process":
            raise AttributeError(
                "QueryCollection.process(...) was removed (queries do not import the processing "
                "stage): call deeprank_like.process(collection, ...) instead "
                "(deeprank_like.processing.process, same keyword arguments)"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
