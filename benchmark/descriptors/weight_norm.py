"""Baseline: Euclidean norm of the weights."""

from __future__ import annotations

import numpy as np

from benchmark.descriptors.base import Descriptor, DescriptorInputs, register_descriptor


@register_descriptor("weight_norm")
class WeightNorm(Descriptor):
    """``l2``: Euclidean norm of all stored parameters (``sqrt(sum_w w^2)``, float64).

    With ``exclude_bias`` (default) only tensors of ndim >= 2 count. Data-free baseline.
    """

    kind = "baseline"
    requires = ("model",)
    version = "1"

    def __init__(self, exclude_bias: bool = True) -> None:
        self.exclude_bias = exclude_bias

    def features(self, inputs: DescriptorInputs) -> dict[str, float]:
        arrays = [
            a
            for name, a in inputs.model.state.items()
            if np.issubdtype(a.dtype, np.floating)
            and (a.ndim >= 2 or not self.exclude_bias)
            and not name.endswith(("running_mean", "running_var"))
        ]
        return {"l2": float(np.sqrt(sum(np.sum(a.astype(np.float64) ** 2) for a in arrays)))}
