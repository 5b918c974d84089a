"""Hessian curvature at the trained weights: top eigenvalues, trace, spectral density, layers."""

from __future__ import annotations

import numpy as np

from benchmark.descriptors.base import Descriptor, DescriptorInputs, UndefinedFeatureError, register_descriptor
from benchmark.hessian import slq_moment


@register_descriptor("hessian")
class Hessian(Descriptor):
    """What the ``curvature`` stage measured (its settings live in the ``curvature`` config group):

    - always ``lambda_max`` (Lanczos) and ``trace`` (Hutchinson);
    - with ``top_k >= 2``: ``lambda_<i>`` for i = 2..k and ``eig_ratio`` = lambda_max / lambda_k;
    - with a spectral density (``slq_probes > 0``): ``density_m2`` = ``tr(H^2)/n`` and
      ``density_std`` (spread of the eigenvalue distribution) by quadrature, ``negative_mass`` (share
      of the spectral weight on negative eigenvalues) and ``negative_curvature`` (their weighted
      magnitude, ``-sum_{lambda<0} w lambda``, per parameter);
    - with ``per_layer``: ``layer_trace_max_share`` (largest layer's share of the trace) and
      ``layer_lambda_max_ratio`` (the largest layer lambda_max over the whole lambda_max).
    """

    kind = "curvature"
    requires = ("curvature",)
    version = "2"

    def __init__(self) -> None:
        pass

    def feature_names(self, inputs: DescriptorInputs) -> list[str]:
        return list(self._template(inputs))

    def _template(self, inputs: DescriptorInputs) -> dict[str, float]:
        c = inputs.curvature
        assert c is not None
        out = {"lambda_max": float("nan"), "trace": float("nan")}
        if len(c.eigenvalues) >= 2:
            out.update({f"lambda_{i}": float("nan") for i in range(2, len(c.eigenvalues) + 1)})
            out["eig_ratio"] = float("nan")
        if c.slq_nodes.size:
            out.update(
                dict.fromkeys(["density_m2", "density_std", "negative_mass", "negative_curvature"], float("nan"))
            )
        if len(c.layers):
            out.update(dict.fromkeys(["layer_trace_max_share", "layer_lambda_max_ratio"], float("nan")))
        return out

    def features(self, inputs: DescriptorInputs) -> dict[str, float]:
        c = inputs.curvature
        assert c is not None
        if c.note:
            raise UndefinedFeatureError(c.note)
        out = self._template(inputs)
        ev = c.eigenvalues
        out["lambda_max"], out["trace"] = c.lambda_max, c.trace
        for i in range(2, len(ev) + 1):
            out[f"lambda_{i}"] = float(ev[i - 1])
        if len(ev) >= 2:
            out["eig_ratio"] = float(ev[0] / ev[-1]) if ev[-1] != 0 else float("nan")
        if c.slq_nodes.size:
            nodes, weights = c.slq_nodes, c.slq_weights
            m1, m2 = slq_moment(nodes, weights, 1), slq_moment(nodes, weights, 2)
            negative = np.isfinite(nodes) & (nodes < 0)
            out["density_m2"] = m2
            out["density_std"] = float(np.sqrt(max(m2 - m1**2, 0.0)))
            out["negative_mass"] = float(np.where(negative, weights, 0.0).sum(axis=1).mean())
            out["negative_curvature"] = float(-np.where(negative, weights * nodes, 0.0).sum(axis=1).mean())
        if len(c.layers):
            out["layer_trace_max_share"] = float(c.layer_trace.max() / c.trace) if c.trace else float("nan")
            out["layer_lambda_max_ratio"] = (
                float(np.nanmax(c.layer_lambda_max) / c.lambda_max) if c.lambda_max else float("nan")
            )
        return out
