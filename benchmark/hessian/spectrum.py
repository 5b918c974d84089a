"""Spectral estimates of a symmetric operator given only its matrix-vector product.

- :func:`lanczos`: Lanczos tridiagonalisation with full reorthogonalisation (float64).
- :func:`top_eigenvalues`: largest Ritz values (Golub & Van Loan, ch. 10).
- :func:`top_eigenpairs`: the same with Ritz vectors (e.g. Hessian directions for a landscape).
- :func:`slq`: stochastic Lanczos quadrature of the spectral density (Ubaru, Chen & Saad 2017;
  Ghorbani, Krishnan & Xiao 2019): per probe, Ritz values (nodes) and squared first components
  of the tridiagonal's eigenvectors (weights); :func:`slq_density` and :func:`slq_moment` read it
  (and :mod:`benchmark.descriptors.hessian`'s ``slq_negative_share``).
- :func:`hutchinson_trace`: Hutchinson's estimator with Rademacher probes, with standard error,
  for the whole operator and, from the same probes, for diagonal blocks (per-layer traces).
- :func:`restrict`: the operator restricted to some coordinates (a layer's block: per-layer lambda_max).
- :func:`exact_trace`: sum of ``e_i^T H e_i`` (n products; small models and tests).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

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


def top_eigenpairs(
    matvec: MatVec, dim: int, k: int = 1, n_iter: int = 30, seed: int = 0
) -> tuple[np.ndarray, torch.Tensor, int]:
    """The ``k`` largest eigenvalue estimates (descending), their unit Ritz vectors ``(k, dim)``
    (float64; each signed so its largest-magnitude entry is positive, for determinism) and the
    number of products used. Raises ``ValueError`` when a product is not finite."""
    if k > dim:
        raise ValueError(f"{k} eigenvectors were asked of an operator of dimension {dim}; ask for at most {dim}.")
    alpha, beta, Q = lanczos(matvec, dim, max(n_iter, k), seed)
    if not (np.isfinite(alpha).all() and np.isfinite(beta).all()):
        raise ValueError("Hessian-vector products are not finite (a diverged model?); no eigenvectors exist.")
    if len(alpha) < k:
        raise ValueError(f"Lanczos found an invariant subspace of dimension {len(alpha)} < {k} requested vectors.")
    evals, evecs = ritz(alpha, beta)
    order = np.argsort(evals)[::-1][:k]
    vecs = (torch.from_numpy(evecs[:, order].copy()).T @ Q).contiguous()  # (k, dim)
    vecs /= vecs.norm(dim=1, keepdim=True)
    pivot = vecs.abs().argmax(dim=1)
    signs = torch.sign(vecs[torch.arange(k), pivot])
    return evals[order].copy(), vecs * signs[:, None], len(alpha)


def slq(matvec: MatVec, dim: int, n_probes: int, n_iter: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Stochastic Lanczos quadrature: ``(nodes, weights)``, each ``(n_probes, m)``.

    Probe ``i`` runs :func:`lanczos` from the seed ``seed + i`` (so probe 0 is the run that
    :func:`top_eigenvalues` makes with ``seed``); its nodes are the Ritz values and its weights the
    squared first components of the tridiagonal's eigenvectors (they sum to 1). The density of
    eigenvalues, normalised to 1, is approximated by ``mean_i sum_j weights[i, j] delta(nodes[i, j])``.
    A probe that stops early is padded with NaN nodes of weight 0; a non-finite product gives NaN.
    """
    if n_probes < 1:
        raise ValueError(f"curvature.slq_probes={n_probes} must be >= 1 to estimate a density.")
    m = min(n_iter, dim)
    nodes = np.full((n_probes, m), np.nan)
    weights = np.zeros((n_probes, m))
    for i in range(n_probes):
        alpha, beta, _ = lanczos(matvec, dim, m, seed + i)
        if not (np.isfinite(alpha).all() and np.isfinite(beta).all()):
            return np.full((n_probes, m), np.nan), np.full((n_probes, m), np.nan)
        evals, evecs = ritz(alpha, beta)
        nodes[i, : len(evals)] = evals
        weights[i, : len(evals)] = evecs[0] ** 2
    return nodes, weights


def slq_density(nodes: np.ndarray, weights: np.ndarray, grid: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-smoothed spectral density on ``grid`` (Ghorbani et al. 2019, eq. 3): integrates to
    ~1 when ``grid`` covers the spectrum finely against ``sigma``."""
    ok = np.isfinite(nodes)
    diff = grid[None, None, :] - np.where(ok, nodes, 0.0)[..., None]
    kernel = np.exp(-0.5 * (diff / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    return (np.where(ok, weights, 0.0)[..., None] * kernel).sum(axis=1).mean(axis=0)


def slq_moment(nodes: np.ndarray, weights: np.ndarray, p: int) -> float:
    """``(1/n) tr(H^p)`` estimated by quadrature: ``mean_i sum_j weights[i, j] nodes[i, j]^p``.
    Times the dimension ``n``, ``p = 1`` estimates the trace."""
    ok = np.isfinite(nodes)
    return float((np.where(ok, weights, 0.0) * np.where(ok, nodes, 0.0) ** p).sum(axis=1).mean())


def hutchinson_samples(
    matvec: MatVec, dim: int, n_samples: int = 64, seed: int = 0, blocks: Sequence[slice] = ()
) -> tuple[np.ndarray, np.ndarray]:
    """Hutchinson's (1989) probes ``z_i^T H z_i`` with seeded Rademacher ``z_i``, shape ``(n,)``,
    and per-block probes ``z_ib^T (H z_i)_b``, shape ``(n, len(blocks))``.

    Each is unbiased for its trace: ``E[z_b^T (H z)_b] = tr(H_bb)`` because the entries of ``z`` are
    independent with unit variance. So per-layer traces come free with the total's probes.
    """
    if n_samples < 2:
        raise ValueError(f"curvature.trace_samples={n_samples} is too small; use at least 2 (64 is typical).")
    g = torch.Generator().manual_seed(seed)
    samples = np.empty(n_samples)
    block_samples = np.empty((n_samples, len(blocks)))
    for i in range(n_samples):
        z = torch.randint(0, 2, (dim,), generator=g, dtype=torch.float64) * 2 - 1
        prod = z * _apply(matvec, z)
        samples[i] = float(prod.sum())
        for b, sl in enumerate(blocks):
            block_samples[i, b] = float(prod[sl].sum())
    return samples, block_samples


def mean_and_se(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over axis 0 and its standard error ``std(ddof=1) / sqrt(n)``."""
    return samples.mean(axis=0), samples.std(axis=0, ddof=1) / math.sqrt(len(samples))


def hutchinson_trace(matvec: MatVec, dim: int, n_samples: int = 64, seed: int = 0) -> tuple[float, float]:
    """Hutchinson (1989): ``tr(H) ~ mean_i z_i^T H z_i`` with Rademacher ``z_i``.

    Returns ``(estimate, standard error)``; the standard error is ``std(samples) / sqrt(n)``.
    """
    estimate, se = mean_and_se(hutchinson_samples(matvec, dim, n_samples, seed)[0])
    return float(estimate), float(se)


def restrict(matvec: MatVec, dim: int, index: slice | torch.Tensor) -> tuple[MatVec, int]:
    """``(v_s -> (H [v_s on index, 0 elsewhere])_s, size)``: the operator restricted to the
    coordinates ``index`` (a slice, e.g. one layer's block, or a tensor of indices)."""
    size = len(range(*index.indices(dim))) if isinstance(index, slice) else int(index.numel())

    def restricted(v: torch.Tensor) -> torch.Tensor:
        full = torch.zeros(dim, dtype=v.dtype)
        full[index] = v
        return matvec(full)[index]

    return restricted, size


def exact_trace(matvec: MatVec, dim: int) -> float:
    """``sum_i e_i^T H e_i``: exact up to rounding, ``dim`` products."""
    total = 0.0
    e = torch.zeros(dim, dtype=torch.float64)
    for i in range(dim):
        e[i] = 1.0
        total += float(_apply(matvec, e)[i])
        e[i] = 0.0
    return total
