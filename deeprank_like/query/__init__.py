"""Queries: what to featurise (interfaces, single-residue variants) and how to build graphs."""

from deeprank_like.query.base import DEFAULT_RADII, Query, query_from_dict
from deeprank_like.query.collection import QueryCollection
from deeprank_like.query.ppi import ProteinProteinInterfaceQuery
from deeprank_like.query.srv import SingleResidueVariantQuery
from deeprank_like.query.table import TableError

__all__ = [
    "DEFAULT_RADII",
    "ProteinProteinInterfaceQuery",
    "Query",
    "QueryCollection",
    "SingleResidueVariantQuery",
    "TableError",
    "query_from_dict",
]
