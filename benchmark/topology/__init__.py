"""Topological summaries of gridded functions (gudhi cubical complexes, merge and contour trees)."""

from benchmark.topology.merge_tree import (
    basin_summary,
    count_above,
    descent_basins,
    finite_pair_statistics,
    neighbour_table,
    persistent_entropy,
    sos_rank,
)
from benchmark.topology.persistence import merge_tree_summary, sublevel_persistence
from benchmark.topology.smad import contour_tree_edges, saddle_minimum_average_distance, saddle_minimum_pairs

__all__ = [
    "basin_summary",
    "contour_tree_edges",
    "count_above",
    "descent_basins",
    "finite_pair_statistics",
    "merge_tree_summary",
    "neighbour_table",
    "persistent_entropy",
    "saddle_minimum_average_distance",
    "saddle_minimum_pairs",
    "sos_rank",
    "sublevel_persistence",
]
