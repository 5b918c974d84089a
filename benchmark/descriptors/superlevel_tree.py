"""Merge tree of the loss landscape's maxima: the sublevel tree of the negated loss."""

from __future__ import annotations

from benchmark.descriptors.base import register_descriptor
from benchmark.descriptors.sublevel_tree import SublevelTree


@register_descriptor("superlevel_tree")
class SuperlevelTree(SublevelTree):
    """Every feature of ``sublevel_tree`` computed on ``-f`` (the loss negated explicitly).

    So ``n_maxima`` counts local maxima, ``n_saddles`` the saddles where superlevel components
    merge, persistence is ``max - saddle`` of each finite pair, and the basins are steepest-ascent
    basins. Masked nodes are removed as in the sublevel tree (they enter after every finite value
    of ``-f``).
    """

    version = "1"
    sign = -1.0
    extrema = "maxima"
