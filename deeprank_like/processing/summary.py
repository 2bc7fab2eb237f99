"""`ProcessSummary`: what a ``process`` run did."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from deeprank_like.errors import DeeprankLikeError

__all__ = ["ProcessSummary", "QueryFailure"]


@dataclass(frozen=True)
class QueryFailure:
    """One failed query: where it failed and why."""

    query_id: str
    stage: str  # load | build | features | grid | write | worker
    exc_type: str
    message: str

    def to_dict(self) -> dict[str, str]:
        """Plain dict (the row of the ``/_failures`` table)."""
        return {
            "query_id": self.query_id,
            "stage": self.stage,
            "exc_type": self.exc_type,
            "message": self.message,
        }

    def __str__(self) -> str:
        return f"{self.query_id} [{self.stage}] {self.exc_type}: {self.message}"


@dataclass
class ProcessSummary:
    """Result of :func:`deeprank_like.processing.process`.

    Iterating over a summary (or indexing it) gives the output files, like the list DeepRank2's
    ``process`` returned; with a single output file it is also path-like
    (``h5py.File(summary)`` works).

    Attributes
    ----------
    files : list of str
        Output HDF5 files: ``[<prefix>.hdf5]``, or the shard files with ``combine_output=False``.
    output : str or None
        The combined file (None with ``combine_output=False``).
    total : int
        Queries in this run (after ``shard`` selection).
    processed : int
        Entries written by this run.
    skipped : int
        Queries already complete (``resume=True``).
    failures : list of QueryFailure
    seconds : float
        Wall time of the run, merging included.
    executor : str
    workers : int
    skipped_modules : dict of str to str
        Feature modules that ``feature_modules="all"`` skipped for some queries of this run:
        name → ``"<n> of <m> queries: <reason>"``.
    """

    files: list[str] = field(default_factory=list)
    output: str | None = None
    total: int = 0
    processed: int = 0
    skipped: int = 0
    failures: list[QueryFailure] = field(default_factory=list)
    seconds: float = 0.0
    executor: str = ""
    workers: int = 1
    skipped_modules: dict[str, str] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        """Number of failed queries."""
        return len(self.failures)

    @property
    def entries_per_second(self) -> float:
        """Entries written per second of wall time."""
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        """True if no query failed."""
        return not self.failures

    def line(self) -> str:
        """The one-line summary printed at the end of a run."""
        where = self.output or (f"{len(self.files)} shard files" if self.files else "no output")
        skipped = f", skipped {self.skipped} (already done)" if self.skipped else ""
        modules = "".join(
            f"; module {name!r} skipped for {why}" for name, why in self.skipped_modules.items()
        )
        return (
            f"processed {self.processed}, failed {self.failed}{skipped} in {self.seconds:.1f} s "
            f"({self.entries_per_second:.2f} entries/s, {self.executor} x{self.workers}) -> {where}"
            f"{modules}"
        )

    def raise_for_failures(self) -> None:
        """Raise :class:`DeeprankLikeError` listing the failures, if any."""
        if self.failures:
            shown = "; ".join(str(f) for f in self.failures[:5])
            more = f" (+{len(self.failures) - 5} more)" if len(self.failures) > 5 else ""
            raise DeeprankLikeError(f"{self.failed} queries failed: {shown}{more}")

    # ---- DeepRank2 compatibility: behave like the list of output files -------------------
    def __iter__(self) -> Any:
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> str:
        return self.files[index]

    def __fspath__(self) -> str:
        if len(self.files) != 1:
            raise TypeError(f"this run produced {len(self.files)} files, not one; use .files")
        return os.fspath(self.files[0])

    def __str__(self) -> str:
        return self.line()
