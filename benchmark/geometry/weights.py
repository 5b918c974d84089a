"""Data-free quantities of the weight matrices (Jiang et al. 2020; Martin & Mahoney 2021)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np

ALPHA_MIN_EIGENVALUES = 5
"""Fewest eigenvalues a layer's spectrum needs for a power-law fit here (WeightWatcher skips
small layers too; on layers this small the exponent is a noisy estimate)."""


def layer_matrices(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each weight tensor of ndim >= 2 as a float64 matrix ``(out, in * kernel)``; normalisation
    statistics and vectors (biases, norm-layer scales) are left out."""
    return {
        name: np.asarray(w, dtype=np.float64).reshape(w.shape[0], -1)
        for name, w in state.items()
        if np.issubdtype(np.asarray(w).dtype, np.floating) and np.asarray(w).ndim >= 2
    }


def spectral_norm(matrix: np.ndarray) -> float:
    """Largest singular value."""
    return float(np.linalg.svd(matrix, compute_uv=False)[0])


def esd_alpha(matrix: np.ndarray) -> tuple[float, float]:
    """``(alpha, lambda_max)``: the power-law exponent of the tail of the empirical spectral density
    of ``W^T W / N`` (eigenvalues ``s_i^2 / N``, N the larger dimension), fitted by maximum
    likelihood with the ``powerlaw`` package and its KS-chosen ``xmin``, ``xmax`` the largest
    eigenvalue, as WeightWatcher fits it; NaN when fewer than :data:`ALPHA_MIN_EIGENVALUES`
    eigenvalues are positive."""
    import powerlaw

    evals = np.linalg.svd(matrix, compute_uv=False) ** 2 / max(matrix.shape)
    evals = np.sort(evals[evals > 1e-12 * max(evals.max(), 1e-300)])
    if len(evals) < ALPHA_MIN_EIGENVALUES:
        return float("nan"), float(evals.max()) if len(evals) else float("nan")
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        fit = powerlaw.Fit(evals, xmax=float(evals.max()), verbose=False)
    return float(fit.alpha), float(evals.max())
