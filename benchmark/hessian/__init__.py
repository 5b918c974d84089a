"""Curvature at the trained weights from Hessian-vector products (no dense Hessian)."""

from benchmark.hessian.hvp import make_hvp, parameter_blocks, parameter_index
from benchmark.hessian.spectrum import (
    exact_trace,
    hutchinson_samples,
    hutchinson_trace,
    lanczos,
    mean_and_se,
    restrict,
    slq,
    slq_density,
    slq_moment,
    top_eigenpairs,
    top_eigenvalues,
)

__all__ = [
    "exact_trace",
    "hutchinson_samples",
    "hutchinson_trace",
    "lanczos",
    "make_hvp",
    "mean_and_se",
    "parameter_blocks",
    "parameter_index",
    "restrict",
    "slq",
    "slq_density",
    "slq_moment",
    "top_eigenpairs",
    "top_eigenvalues",
]
