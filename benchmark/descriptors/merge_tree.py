"""Merge-tree counts and persistence of the loss landscape (sublevel H0 persistence)."""

from __future__ import annotations

import numpy as np

from benchmark.descriptors.base import Descriptor, DescriptorInputs, UndefinedFeatureError, register_descriptor
from benchmark.topology import merge_tree_summary, sublevel_persistence

FEATURES = ["n_minima", "n_saddles", "persistence_total", "persistence_mean", "persistence_max"]


@register_descriptor("merge_tree")
class MergeTree(Descriptor):
    """Number of minima and merge saddles; total, mean and max persistence of finite H0 pairs.

    Computed on the landscape's valid nodes (masked nodes are removed from the complex).
    ``log_values`` applies ``log`` to the loss first (it changes persistence, not counts).
    """

    kind = "topology"
    requires = ("landscape",)
    version = "1"

    def __init__(self, log_values: bool = False) -> None:
        self.log_values = log_values

    def feature_names(self, inputs: DescriptorInputs) -> list[str]:
        return FEATURES

    def features(self, inputs: DescriptorInputs) -> dict[str, float]:
        ls = inputs.landscape
        assert ls is not None
        valid = ls.valid
        if not valid.any():
            raise UndefinedFeatureError(f"all {ls.values.size} landscape nodes are non-finite")
        values = ls.values
        if self.log_values:
            if (values[valid] <= 0).any():
                raise UndefinedFeatureError("log_values needs a positive loss at every valid node")
            values = np.where(valid, np.log(np.where(valid, values, 1.0)), np.nan)
        return merge_tree_summary(sublevel_persistence(values, valid)[0])
