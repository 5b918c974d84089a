"""Scores of predictions against targets, batched.

Every metric takes ``y`` and ``p`` of shape ``(..., n)`` (the last axis indexes models) and returns
shape ``(...)``, so a whole bootstrap is one call. Rank correlations are NaN where either side is
constant (undefined there), never 0.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import kendalltau, rankdata

from benchmark.scores import SCORES


def r2(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Coefficient of determination ``1 - SS_res / SS_tot`` (as ``sklearn.metrics.r2_score``)."""
    ss_tot = ((y - y.mean(axis=-1, keepdims=True)) ** 2).sum(axis=-1)
    ss_res = ((y - p) ** 2).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ss_tot > 0, 1.0 - ss_res / np.where(ss_tot > 0, ss_tot, 1.0), np.nan)


def mae(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    return np.abs(y - p).mean(axis=-1)


def rmse(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Root mean squared error ``sqrt(mean((y - p)^2))`` over the last axis, in the target's units (as
    ``sklearn.metrics.root_mean_squared_error``); lower is better."""
    return np.sqrt(((y - p) ** 2).mean(axis=-1))


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    den = np.sqrt((a**2).sum(axis=-1) * (b**2).sum(axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, (a * b).sum(axis=-1) / np.where(den > 0, den, 1.0), np.nan)


def _pair_signs(a: np.ndarray) -> np.ndarray:
    """``sign(a_i - a_j)`` for every pair i < j of the last axis: shape ``(..., n (n - 1) / 2)``."""
    i, j = np.triu_indices(a.shape[-1], k=1)
    a = np.ascontiguousarray(a)
    return np.sign(np.take(a, i, axis=-1) - np.take(a, j, axis=-1))


def spearman(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Spearman's rho: Pearson correlation of average ranks (as ``scipy.stats.spearmanr``)."""
    return _pearson(rankdata(y, axis=-1), rankdata(p, axis=-1))


def kendall(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Kendall's tau-b over all pairs, by ``scipy.stats.kendalltau`` row by row (O(n log n) each);
    NaN where either side is constant or there are fewer than two models. The bootstrap scores many
    resamples at once by :func:`benchmark.evaluation.resampled.kendall` instead."""
    y, p = np.broadcast_arrays(np.asarray(y, dtype=np.float64), np.asarray(p, dtype=np.float64))
    rows = zip(y.reshape(-1, y.shape[-1]), p.reshape(-1, p.shape[-1]), strict=True)
    out = [kendalltau(a, b).statistic if len(a) >= 2 and np.ptp(a) > 0 and np.ptp(b) > 0 else np.nan for a, b in rows]
    return np.asarray(out, dtype=np.float64).reshape(y.shape[:-1])


def kendall_tau_a(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Kendall's tau-a: ``sum_{i<j} sign(y_i - y_j) sign(p_i - p_j) / (n (n - 1) / 2)`` over the last
    axis (Kendall 1938). A tie counts 0 and the denominator is all pairs, so a constant ``p`` scores 0,
    not NaN; without ties it equals tau-b. This is the tau of Jiang et al. (2020), "Fantastic
    Generalization Measures and Where to Find Them" (arXiv:1912.02178), inside the granulated
    coefficient. NaN when n < 2. O(n^2) memory per row."""
    n = y.shape[-1]
    if n < 2:
        return np.full(np.broadcast_shapes(y.shape, p.shape)[:-1], np.nan)
    return (_pair_signs(y) * _pair_signs(p)).sum(axis=-1) / (n * (n - 1) / 2)


METRICS = {"r2": r2, "mae": mae, "rmse": rmse, "spearman": spearman, "kendall": kendall}
"""Scores of predictions ``p`` against targets ``y`` that need nothing else (batched, name -> function):
the ``prediction`` and ``rank`` scores of :data:`benchmark.scores.SCORES`, in its order."""
RANK_METRICS: tuple[str, ...] = tuple(s.name for s in SCORES if s.family == "rank")
LOWER_IS_BETTER: frozenset[str] = frozenset(s.name for s in SCORES if not s.greater_is_better)
"""Scores (here and in :mod:`benchmark.evaluation.protocol`) where a smaller value is better."""


def all_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """Every metric of :data:`METRICS` for one set of predictions (1-D arrays)."""
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if len(y) < 2:
        return {name: float("nan") for name in METRICS}
    return {name: float(fn(y, p)) for name, fn in METRICS.items()}
