"""Higher-dimensional sublevel homology of the loss landscape: H1 (loops), H2 (voids), H3."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from benchmark.descriptors._grid import landscape_grid
from benchmark.descriptors.base import Descriptor, DescriptorInputs, register_descriptor
from benchmark.topology import finite_pair_statistics, sublevel_persistence

STATS = ("count", "essential", "persistence_total", "persistence_mean", "persistence_max", "persistence_std")


@register_descriptor("homology")
class Homology(Descriptor):
    """Counts and persistence statistics of the sublevel diagrams in dimensions ``dims`` (each >= 1).

    Per dimension ``d``: ``h<d>_count`` (finite pairs of positive persistence), ``h<d>_essential``
    (pairs that never die: cycles around masked nodes), ``h<d>_persistence_total|mean|max|std`` over
    the finite pairs and ``h<d>_persistence_entropy``. A grid of dimension k has no homology in
    dimensions >= k, so those features are 0 (they exist so a descriptor's columns do not depend on
    the grid). H0 is the merge tree (``sublevel_tree``).
    """

    kind = "topology"
    requires = ("landscape",)
    version = "1"

    def __init__(self, dims: Sequence[int] = (1, 2, 3)) -> None:
        self.dims = dims

    def _dims(self) -> list[int]:
        bad = [d for d in self.dims if not isinstance(d, int) or isinstance(d, bool) or d < 1]
        if bad or isinstance(self.dims, str):
            raise ValueError(
                f"descriptor 'homology': dims={self.dims!r} must be a list of homology dimensions >= 1 "
                f"(bad: {bad or self.dims!r}); e.g. dims=[1,2,3]."
            )
        return list(self.dims)

    def feature_names(self, inputs: DescriptorInputs) -> list[str]:
        return [f"h{d}_{s}" for d in self._dims() for s in (*STATS, "persistence_entropy")]

    def features(self, inputs: DescriptorInputs) -> dict[str, float]:
        values, valid = landscape_grid(inputs)
        dims = self._dims()
        diagrams = sublevel_persistence(values, valid)
        out: dict[str, float] = {}
        for d in dims:
            diagram = diagrams.get(d, np.empty((0, 2)))
            stats = finite_pair_statistics(diagram)
            out[f"h{d}_count"] = stats["count"]
            out[f"h{d}_essential"] = float(np.count_nonzero(~np.isfinite(diagram[:, 1])))
            out.update({f"h{d}_persistence_{s}": stats[s] for s in ("total", "mean", "max", "std", "entropy")})
        return out
