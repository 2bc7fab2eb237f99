"""deeprank_like: geometric deep learning on 3D protein structures."""

from deeprank_like.query import (
    ProteinProteinInterfaceQuery,
    QueryCollection,
    SingleResidueVariantQuery,
)

__version__ = "0.1.0"

__all__ = [
    "ProteinProteinInterfaceQuery",
    "QueryCollection",
    "SingleResidueVariantQuery",
    "__version__",
]
