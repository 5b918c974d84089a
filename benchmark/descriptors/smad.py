"""Landscaper's saddle-minimum average distance (SMAD) of the loss landscape."""

from __future__ import annotations

from benchmark.descriptors._grid import landscape_grid
from benchmark.descriptors.base import Descriptor, DescriptorInputs, register_descriptor
from benchmark.topology import saddle_minimum_average_distance
from benchmark.topology.smad import Tree

FEATURES = ["smad", "smad_normalized", "smad_weighted", "n_pairs"]


@register_descriptor("smad")
class Smad(Descriptor):
    """Mean gap between each minimum and the saddle paired with it (Chen et al. 2026, arXiv:2602.07135).

    ``smad`` = mean gap, ``smad_normalized`` = mean gap / (max - min), ``smad_weighted`` = mean of
    gap x the share of valid nodes in the minimum's steepest-descent basin, ``n_pairs``. ``tree``
    chooses the pairing: ``landscaper`` (what Landscaper 1.3.1 computes; tested equal to it),
    ``contour`` (the complete contour tree) or ``merge`` (each minimum's first merge saddle).
    :mod:`benchmark.topology.smad` and docs/descriptors.md define them.
    """

    kind = "topology"
    requires = ("landscape",)
    version = "1"

    def __init__(self, tree: Tree = "landscaper") -> None:
        self.tree = tree

    def feature_names(self, inputs: DescriptorInputs) -> list[str]:
        return FEATURES

    def features(self, inputs: DescriptorInputs) -> dict[str, float]:
        values, valid = landscape_grid(inputs)
        return saddle_minimum_average_distance(values, valid, self.tree)
