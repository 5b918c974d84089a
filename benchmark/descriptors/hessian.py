"""Hessian curvature at the trained weights: top eigenvalues, trace, spectral density, layers."""

from __future__ import annotations

import numpy as np

from benchmark.descriptors.base import Descriptor, DescriptorInputs, UndefinedFeatureError, register_descriptor
from benchmark.hessian import slq_moment

NEGATIVE_TOLERANCE = 0.01
"""Eigenvalues above ``-NEGATIVE_TOLERANCE`` times the spectral radius count as zero in
:func:`slq_negative_share`."""


def slq_mass_below(nodes: np.ndarray, weights: np.ndarray, threshold: float) -> float:
    """The spectral CDF at ``threshold`` by quadrature: ``mean_i sum_{j: nodes[i, j] < threshold}
    weights[i, j]``, an estimate of the share of eigenvalues below ``threshold``.

    Per probe, the Gauss quadrature's CDF interlaces the probe's true spectral CDF (the
    Chebyshev-Markov-Stieltjes inequalities; Golub & Meurant 2010): it can be off by the weight of
    the nodes next to ``threshold``. That weight is large where eigenvalues crowd, so the estimate is poor at a
    threshold inside a crowd (for a trained network: at 0) and good where the spectrum is sparse.
    """
    ok = np.isfinite(nodes)
    return float(np.where(ok & (np.where(ok, nodes, 0.0) < threshold), weights, 0.0).sum(axis=1).mean())


def slq_negative_share(nodes: np.ndarray, weights: np.ndarray, tolerance: float = NEGATIVE_TOLERANCE) -> float:
    """Share of eigenvalues below ``-tolerance * rho``, ``rho`` the spectral radius (the largest
    ``|node|``: extreme Ritz values converge first), by :func:`slq_mass_below`; NaN without a
    finite node. The ``negative_mass`` feature.

    Not the share below 0: a network's Hessian has a crowd of eigenvalues at and near 0 (exact
    zeros from constant inputs, dead units and symmetries, whose signs rounding decides, and many
    more within ``1e-3 rho``) that ``m`` Lanczos steps cannot split by sign. The quadrature weight
    below 0 is biased there: on digits MLPs at 30 steps it was off the exact share by up to 0.27,
    either way, even with 64 probes; below ``-0.01 rho``, within 0.012 with 8 (docs/descriptors.md).
    """
    ok = np.isfinite(nodes)
    if not ok.any():
        return float("nan")
    rho = float(np.abs(nodes[ok]).max())
    return slq_mass_below(nodes, weights, -tolerance * rho)


@register_descriptor("hessian")
class Hessian(Descriptor):
    """What the ``curvature`` stage measured (its settings live in the ``curvature`` config group):

    - always ``lambda_max`` (Lanczos) and ``trace`` (Hutchinson);
    - with ``top_k >= 2``: ``lambda_<i>`` for i = 2..k and ``eig_ratio`` = lambda_max / lambda_k;
    - with a spectral density (``slq_probes > 0``): ``density_m2`` = ``tr(H^2)/n`` and
      ``density_std`` (spread of the eigenvalue distribution) by quadrature, ``negative_mass`` (the
      share of *clearly* negative eigenvalues: those below ``-0.01 rho``, ``rho`` the spectral
      radius, see :func:`slq_negative_share`; not the share below 0,
      which 30 Lanczos steps cannot resolve in the crowd of eigenvalues at 0) and
      ``negative_curvature`` (the negative eigenvalues' weighted magnitude, ``-sum_{lambda<0} w
      lambda``, per parameter: ``tr(max(-H, 0)) / n``, which the crowd at 0 barely moves);
    - with ``per_layer``: ``layer_trace_max_share`` (largest layer's share of the trace) and
      ``layer_lambda_max_ratio`` (the largest layer lambda_max over the whole lambda_max).
    """

    kind = "curvature"
    requires = ("curvature",)
    version = "3"  # 3: negative_mass counts eigenvalues below -0.01 rho (was: quadrature weight below 0)

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
            out["negative_mass"] = slq_negative_share(nodes, weights, NEGATIVE_TOLERANCE)
            out["negative_curvature"] = float(-np.where(negative, weights * nodes, 0.0).sum(axis=1).mean())
        if len(c.layers):
            out["layer_trace_max_share"] = float(c.layer_trace.max() / c.trace) if c.trace else float("nan")
            out["layer_lambda_max_ratio"] = (
                float(np.nanmax(c.layer_lambda_max) / c.lambda_max) if c.lambda_max else float("nan")
            )
        return out
