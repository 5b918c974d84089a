"""Grid geometry around the trained weights: level, spread, sharpness, flatness, fitted curvature."""

from __future__ import annotations

import numpy as np

from benchmark.descriptors.base import Descriptor, DescriptorInputs, UndefinedFeatureError, register_descriptor
from benchmark.geometry import flat_fraction, quadratic_fit, sharpness

FEATURES = [
    "centre",
    "mean",
    "std",
    "range",
    "sharpness",
    "sharpness_rel",
    "flat_fraction",
    "quad_max",
    "quad_min",
    "quad_mean",
]


@register_descriptor("geometry")
class Geometry(Descriptor):
    """Geometry of the landscape grid (valid nodes only):

    - ``centre``: the value at the trained weights; ``mean``, ``std``, ``range`` (max - min) over the grid;
    - ``sharpness``, ``sharpness_rel``: the largest rise over the centre within ``radius``
      (axis units), absolute and divided by ``1 + centre`` (Keskar et al. 2017; NaN for a centre
      at or below -1, which no loss reaches);
    - ``flat_fraction``: share of nodes within ``flat_tolerance * (1 + |centre|)`` of the centre;
    - ``quad_max``, ``quad_min``, ``quad_mean``: eigenvalues of the Hessian of a quadratic fitted
      by least squares to the nodes within ``radius`` (curvature along the grid's directions).
    """

    kind = "geometry"
    requires = ("landscape",)
    version = "2"  # 2: sharpness_rel is NaN, not a division by 1 + centre <= 0, when the centre is <= -1

    def __init__(self, radius: float = 0.5, flat_tolerance: float = 0.05) -> None:
        self.radius = radius
        self.flat_tolerance = flat_tolerance

    def feature_names(self, inputs: DescriptorInputs) -> list[str]:
        return FEATURES

    def features(self, inputs: DescriptorInputs) -> dict[str, float]:
        ls = inputs.landscape
        assert ls is not None
        if not np.isfinite(ls.center_value):
            raise UndefinedFeatureError(f"the centre node (the trained model) is {ls.center_value}")
        v = ls.values[ls.valid]
        rise, rise_rel = sharpness(ls.values, ls.axes, self.radius)
        try:
            q = quadratic_fit(ls.values, ls.axes, self.radius)
        except ValueError as exc:
            raise UndefinedFeatureError(f"{exc} Raise descriptors.geometry.radius or landscape.steps.") from None
        return {
            "centre": ls.center_value,
            "mean": float(v.mean()),
            "std": float(v.std()),
            "range": float(v.max() - v.min()),
            "sharpness": rise,
            "sharpness_rel": rise_rel,
            "flat_fraction": flat_fraction(ls.values, self.flat_tolerance),
            "quad_max": float(q[-1]),
            "quad_min": float(q[0]),
            "quad_mean": float(q.mean()),
        }
