"""Curvature at the trained weights from Hessian-vector products (no dense Hessian)."""

from benchmark.hessian.hvp import make_hvp
from benchmark.hessian.spectrum import exact_trace, hutchinson_trace, lanczos, top_eigenvalues

__all__ = ["exact_trace", "hutchinson_trace", "lanczos", "make_hvp", "top_eigenvalues"]
