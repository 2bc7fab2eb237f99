"""3D grids of graph features for convolutional networks.

See ``docs/grids.md``. Main entry points: :class:`GridSettings`, :class:`MapMethod`,
:func:`map_graph_to_grid`, :func:`random_rotations`, :func:`write_grids`, :func:`read_grid`.
"""

from deeprank_like.grid.hdf5 import add_grids, list_grids, load_grid, read_grid, write_grids
from deeprank_like.grid.mapping import (
    FAST_GAUSSIAN_CUTOFF,
    FLOAT32_EXACT_CUTOFF,
    GAUSSIAN_CUTOFF,
    Grid,
    graph_channel_values,
    kernel_radius,
    map_graph_to_grid,
    map_graph_to_grids,
    map_points,
    point_weights,
)
from deeprank_like.grid.rotation import (
    query_rotations,
    random_rotations,
    rotate_about_center,
    rotation_about_axis,
)
from deeprank_like.grid.settings import GridSettings, MapMethod

__all__ = [
    "FAST_GAUSSIAN_CUTOFF",
    "FLOAT32_EXACT_CUTOFF",
    "GAUSSIAN_CUTOFF",
    "Grid",
    "GridSettings",
    "MapMethod",
    "add_grids",
    "graph_channel_values",
    "kernel_radius",
    "list_grids",
    "load_grid",
    "map_graph_to_grid",
    "map_graph_to_grids",
    "map_points",
    "point_weights",
    "query_rotations",
    "random_rotations",
    "read_grid",
    "rotate_about_center",
    "rotation_about_axis",
    "write_grids",
]
