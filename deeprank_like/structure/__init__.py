"""Structures: files in, struct-of-arrays :class:`Structure` out."""

from deeprank_like.structure.io import load_structure, structure_name
from deeprank_like.structure.structure import Structure

__all__ = ["Structure", "load_structure", "structure_name"]
