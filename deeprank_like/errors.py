"""The exception hierarchy of deeprank_like.

Every error the package raises on purpose derives from :class:`DeeprankLikeError`, so
batch code can tell "this query is bad" from "the program is broken".
"""

from __future__ import annotations


class DeeprankLikeError(Exception):
    """Base class of all errors raised on purpose by deeprank_like."""


class StructureError(DeeprankLikeError):
    """A structure file is missing, unreadable or holds no usable protein atoms."""


class QueryError(DeeprankLikeError):
    """A query is inconsistent with its structure (missing chain, residue, wrong wild type...)."""


class FeatureError(DeeprankLikeError):
    """A feature module failed or produced output that violates its declared spec."""


class PssmError(FeatureError):
    """A PSSM file is missing, malformed or does not match the structure."""


class RegistryError(DeeprankLikeError, KeyError):
    """An unknown feature module name was requested."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class StorageError(DeeprankLikeError):
    """An HDF5 file is corrupted, foreign, or does not hold what was requested."""


class GridError(DeeprankLikeError):
    """Invalid grid settings or a failed grid mapping."""


class TrainingError(DeeprankLikeError):
    """A model, dataset and trainer do not fit together."""


class EnmError(DeeprankLikeError):
    """The elastic network is ill-defined (floppy network, too few residues, chain break)."""
