"""Data-free baselines from the weight matrices' spectra (Jiang et al. 2020; Martin & Mahoney 2021)."""

from __future__ import annotations

import math

import numpy as np

from benchmark.descriptors.base import Descriptor, DescriptorInputs, UndefinedFeatureError, register_descriptor
from benchmark.geometry import esd_alpha, layer_matrices, spectral_norm

FEATURES = ["log_prod_frobenius", "log_prod_spectral", "log_sum_frobenius_sq", "alpha_mean", "alpha_weighted"]


@register_descriptor("weight_spectrum")
class WeightSpectrum(Descriptor):
    """Per weight matrix ``W_l`` (tensors of ndim >= 2 reshaped to ``(out, in * kernel)``):

    - ``log_prod_frobenius`` = ``sum_l log ||W_l||_F``, ``log_prod_spectral`` = ``sum_l log ||W_l||_2``
      (the norm-product measures of Jiang et al. 2020), ``log_sum_frobenius_sq`` =
      ``log sum_l ||W_l||_F^2``;
    - ``alpha_mean``: mean over layers of the power-law exponent of the spectrum of ``W^T W / N``
      (WeightWatcher's alpha), and ``alpha_weighted`` = ``mean_l alpha_l log10 lambda_max,l``
      (WeightWatcher's alpha-hat), over the layers large enough for a fit
      (:data:`benchmark.geometry.ALPHA_MIN_EIGENVALUES`).
    """

    kind = "baseline"
    requires = ("model",)
    version = "1"

    def __init__(self) -> None:
        pass

    def feature_names(self, inputs: DescriptorInputs) -> list[str]:
        return FEATURES

    def features(self, inputs: DescriptorInputs) -> dict[str, float]:
        mats = layer_matrices(inputs.model.state)
        if not mats:
            raise UndefinedFeatureError("the model has no weight matrices")
        if not all(np.isfinite(m).all() for m in mats.values()):
            raise UndefinedFeatureError("the weights are not finite (a diverged model)")
        fro = [float(np.linalg.norm(m)) for m in mats.values()]
        if min(fro) == 0.0:
            raise UndefinedFeatureError("a weight matrix is zero; its log norm is undefined")
        fits = [esd_alpha(m) for m in mats.values()]
        fitted = [(a, lam) for a, lam in fits if math.isfinite(a)]
        if not fitted:
            raise UndefinedFeatureError("no layer is large enough for a power-law fit of its spectrum")
        return {
            "log_prod_frobenius": float(sum(math.log(f) for f in fro)),
            "log_prod_spectral": float(sum(math.log(spectral_norm(m)) for m in mats.values())),
            "log_sum_frobenius_sq": float(math.log(sum(f**2 for f in fro))),
            "alpha_mean": float(np.mean([a for a, _ in fitted])),
            "alpha_weighted": float(np.mean([a * math.log10(lam) for a, lam in fitted])),
        }
