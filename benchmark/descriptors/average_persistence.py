"""The seed paper's average persistence of the merge tree, in each of the ways it can be read."""

from __future__ import annotations

import numpy as np

from benchmark.descriptors._grid import landscape_grid
from benchmark.descriptors.base import Descriptor, DescriptorInputs, register_descriptor
from benchmark.topology import sublevel_persistence

FEATURES = ["excl_essential", "incl_essential", "excl_essential_incl_diagonal", "incl_essential_incl_diagonal"]


@register_descriptor("average_persistence")
class AveragePersistence(Descriptor):
    """Mean ``death - birth`` over the H0 (merge tree) diagram (Xie et al. 2024, arXiv:2411.09807).

    The paper does not say which points enter the mean, so all four readings are reported:
    ``excl_|incl_essential`` leaves out / includes the essential pairs (the global minimum of each
    valid component, death taken as the maximum of the valid values), ``_incl_diagonal`` also counts
    the zero-persistence pairs in the denominator (one per valid node that is not a minimum). 0 when
    the denominator is 0. docs/descriptors.md gives the formulas.
    """

    kind = "topology"
    requires = ("landscape",)
    version = "1"

    def __init__(self) -> None:
        pass

    def feature_names(self, inputs: DescriptorInputs) -> list[str]:
        return FEATURES

    def features(self, inputs: DescriptorInputs) -> dict[str, float]:
        values, valid = landscape_grid(inputs)
        h0 = sublevel_persistence(values, valid, include_diagonal=True)[0]
        birth, death = h0[:, 0], h0[:, 1]
        essential = ~np.isfinite(death)
        finite = death[~essential] - birth[~essential]
        positive = finite[finite > 0]
        n_diagonal = int(np.count_nonzero(finite == 0))
        ess = np.nanmax(values) - birth[essential]

        def mean(total: float, n: int) -> float:
            return total / n if n else 0.0

        return {
            "excl_essential": mean(positive.sum(), len(positive)),
            "incl_essential": mean(positive.sum() + ess.sum(), len(positive) + len(ess)),
            "excl_essential_incl_diagonal": mean(positive.sum(), len(positive) + n_diagonal),
            "incl_essential_incl_diagonal": mean(positive.sum() + ess.sum(), len(positive) + len(ess) + n_diagonal),
        }
