"""Graph container and graph construction (nodes, KD-tree edges)."""

from deeprank_like.graph.graph import NODE_ID_DTYPE, SKELETON_FIELDS, Graph, make_node_ids

__all__ = ["NODE_ID_DTYPE", "SKELETON_FIELDS", "Graph", "make_node_ids"]
