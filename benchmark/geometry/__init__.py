"""Geometry of a sampled landscape and of the weights: pure functions on arrays."""

from benchmark.geometry.grid import flat_fraction, quadratic_fit, sharpness
from benchmark.geometry.weights import ALPHA_MIN_EIGENVALUES, esd_alpha, layer_matrices, spectral_norm

__all__ = [
    "ALPHA_MIN_EIGENVALUES",
    "esd_alpha",
    "flat_fraction",
    "layer_matrices",
    "quadratic_fit",
    "sharpness",
    "spectral_norm",
]
