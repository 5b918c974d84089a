"""Merge tree of the loss landscape's minima: counts, persistence statistics and descent basins."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from benchmark.descriptors._grid import landscape_grid
from benchmark.descriptors.base import Descriptor, DescriptorInputs, register_descriptor
from benchmark.topology import (
    basin_summary,
    count_above,
    descent_basins,
    finite_pair_statistics,
    sublevel_persistence,
)


@register_descriptor("sublevel_tree")
class SublevelTree(Descriptor):
    """The merge tree of sublevel sets (H0 persistence, 2k axis neighbours, masked nodes removed).

    - ``n_minima``: H0 points (local minima; a plateau counts once; one per valid component);
    - ``n_saddles``: finite H0 pairs (merge saddles, elder rule);
    - ``n_saddles_above_<t>`` for each ``t`` in ``thresholds``: finite pairs with persistence
      ``> t * (max - min)`` of the valid values;
    - ``persistence_total|mean|max|std|entropy``: over the finite pairs (essential pairs excluded);
      entropy is persistent entropy in nats (Chintakunta et al. 2015; Atienza et al. 2020);
    - ``n_basins``, ``basin_largest_fraction``, ``basin_entropy``: steepest-descent basins of the
      valid nodes (ties broken by flat index), shares of the valid nodes.

    docs/descriptors.md gives the formulas.
    """

    kind = "topology"
    requires = ("landscape",)
    version = "1"
    sign: ClassVar[float] = 1.0  # the superlevel tree runs the same code on -f
    extrema: ClassVar[str] = "minima"

    def __init__(self, thresholds: Sequence[float] = (0.01, 0.05, 0.1)) -> None:
        self.thresholds = thresholds

    def _thresholds(self) -> list[float]:
        bad = [t for t in self.thresholds if not isinstance(t, int | float) or isinstance(t, bool) or not t >= 0]
        if bad or isinstance(self.thresholds, str):
            raise ValueError(
                f"descriptor {self.name!r}: thresholds={self.thresholds!r} must be a list of shares of the value "
                f"range >= 0 (bad: {bad or self.thresholds!r}); e.g. thresholds=[0.01,0.05,0.1]."
            )
        return [float(t) for t in self.thresholds]

    def feature_names(self, inputs: DescriptorInputs) -> list[str]:
        return [
            f"n_{self.extrema}",
            "n_saddles",
            *(f"n_saddles_above_{t:g}" for t in self._thresholds()),
            *(f"persistence_{s}" for s in ("total", "mean", "max", "std", "entropy")),
            "n_basins",
            "basin_largest_fraction",
            "basin_entropy",
        ]

    def features(self, inputs: DescriptorInputs) -> dict[str, float]:
        values, valid = landscape_grid(inputs)
        f = np.where(valid, self.sign * values, np.nan)
        h0 = sublevel_persistence(f, valid)[0]
        stats = finite_pair_statistics(h0)
        thresholds = self._thresholds()
        value_range = float(np.nanmax(f) - np.nanmin(f))
        out = {f"n_{self.extrema}": float(len(h0)), "n_saddles": stats["count"]}
        above = count_above(h0, value_range, thresholds)
        out.update({f"n_saddles_above_{t:g}": n for t, n in zip(thresholds, above, strict=True)})
        out.update({f"persistence_{s}": stats[s] for s in ("total", "mean", "max", "std", "entropy")})
        out.update(basin_summary(descent_basins(f, valid)))
        return out
