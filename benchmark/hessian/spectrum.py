"""Spectral estimates of a symmetric operator given only its matrix-vector product.

- :func:`lanczos`: Lanczos tridiagonalisation with full reorthogonalisation (float64).
- :func:`top_eigenvalues`: largest Ritz values (Golub & Van Loan, ch. 10).
- :func:`hutchinson_trace`: Hutchinson's estimator with Rademacher probes, with standard error.
- :func:`exact_trace`: sum of ``e_i^T H e_i`` (n products; small models and tests).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

MatVec = Callable[[torch.Tensor], torch.Tensor]


def _apply(matvec: MatVec, v: torch.Tensor) -> torch.Tensor:
    return matvec(v.to(torch.float32)).to(torch.float64)


def lanczos(matvec: MatVec, dim: int, n_iter: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """Run ``m = min(n_iter, dim)`` Lanczos steps from a seeded random unit vector.

    Returns ``(alpha, beta, Q)``: the tridiagonal's diagonal (m,), off-diagonal (m-1,) and the
    Lanczos basis (m, dim). Stops early, exactly, when an invariant subspace is found.
    """
    if dim < 1 or n_iter < 1:
        raise ValueError(f"lanczos needs dim >= 1 and n_iter >= 1, got dim={dim}, n_iter={n_iter}.")
    m = min(n_iter, dim)
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(dim, generator=g, dtype=torch.float64)
    q /= q.norm()
    Q = torch.zeros(m, dim, dtype=torch.float64)
    alpha, beta = [], []
    for j in range(m):
        Q[j] = q
        w = _apply(matvec, q)
        a = float(w @ q)
        alpha.append(a)
        # full reorthogonalisation (twice is enough: Giraud et al. 2005)
        for _ in range(2):
            w -= Q[: j + 1].T @ (Q[: j + 1] @ w)
        b = float(w.norm())
        if not np.isfinite(b):
            break
        scale = max(abs(a), *(abs(x) for x in beta), 1e-300)
        if j == m - 1 or b <= 1e-12 * scale:
            Q = Q[: j + 1]
            break
        beta.append(b)
        q = w / b
    return np.array(alpha), np.array(beta), Q


def ritz(alpha: np.ndarray, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues (ascending) and eigenvectors of the Lanczos tridiagonal."""
    T = np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1)
    return np.linalg.eigh(T)


def top_eigenvalues(matvec: MatVec, dim: int, k: int = 1, n_iter: int = 30, seed: int = 0) -> tuple[np.ndarray, int]:
    """The ``k`` largest (algebraic) eigenvalue estimates, descending, and the number of products used.

    A non-finite product (a diverged model) gives NaN estimates, never a silent number.
    """
    alpha, beta, _ = lanczos(matvec, dim, max(n_iter, k), seed)
    if not (np.isfinite(alpha).all() and np.isfinite(beta).all()):
        return np.full(k, np.nan), len(alpha)
    evals, _ = ritz(alpha, beta)
    return evals[::-1][:k].copy(), len(alpha)


def hutchinson_trace(matvec: MatVec, dim: int, n_samples: int = 64, seed: int = 0) -> tuple[float, float]:
    """Hutchinson (1989): ``tr(H) ~ mean_i z_i^T H z_i`` with Rademacher ``z_i``.

    Returns ``(estimate, standard error)``; the standard error is ``std(samples) / sqrt(n)``.
    """
    if n_samples < 2:
        raise ValueError(f"curvature.trace_samples={n_samples} is too small; use at least 2 (64 is typical).")
    g = torch.Generator().manual_seed(seed)
    samples = []
    for _ in range(n_samples):
        z = torch.randint(0, 2, (dim,), generator=g, dtype=torch.float64) * 2 - 1
        samples.append(float(z @ _apply(matvec, z)))
    s = np.array(samples)
    return float(s.mean()), float(s.std(ddof=1) / math.sqrt(n_samples))


def exact_trace(matvec: MatVec, dim: int) -> float:
    """``sum_i e_i^T H e_i``: exact up to rounding, ``dim`` products."""
    total = 0.0
    e = torch.zeros(dim, dtype=torch.float64)
    for i in range(dim):
        e[i] = 1.0
        total += float(_apply(matvec, e)[i])
        e[i] = 0.0
    return total
