"""Topological summaries of gridded functions (gudhi cubical complexes)."""

from benchmark.topology.persistence import merge_tree_summary, sublevel_persistence

__all__ = ["merge_tree_summary", "sublevel_persistence"]
