"""Every score of one set of predictions on many bootstrap resamples at once.

A cluster-bootstrap resample (:mod:`benchmark.evaluation.bootstrap`) draws whole groups with
replacement, so it holds each model zero, one or several times: it is a vector of multiplicities.
Every score here takes the targets ``y`` and predictions ``p`` of ``m`` models (shape ``(m,)``) and
the multiplicities ``w`` of ``B`` resamples (shape ``(B, m)``), and returns each resample's score
(shape ``(B,)``): the plain score (:mod:`benchmark.evaluation.metrics`) of the resample written out
copy by copy (``np.repeat(y, w[b])``), ties between copies of one model included. A resample of
fewer than two copies scores NaN.

Sums over the copies become products with ``w``; the pairwise parts of the rank scores become
quadratic forms ``w A w`` over one ``m x m`` matrix of the models' pairs (Kendall) or products
``w L`` with the matrix of who ranks below whom (Spearman's average ranks). A whole bootstrap is
then a few matrix products: ``O(B m^2)`` multiply-adds in BLAS (milliseconds for a test fold of a few
hundred models) instead of ``B`` sorts or ``B`` lists of ``m^2 / 2`` pairs, and no resample is
rebuilt as an array of copies. ``w = np.ones((1, m))`` scores the predictions themselves.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

ResampledScore = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""``fn(y, p, w)``: shapes ``(m,)``, ``(m,)``, ``(B, m)`` -> ``(B,)``."""


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` where ``den > 0``, NaN elsewhere."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _defined(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``values`` where the resample holds two or more copies, NaN elsewhere."""
    return np.where(w.sum(axis=1) >= 2, values, np.nan)


def r2(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Coefficient of determination ``1 - SS_res / SS_tot`` of each resample."""
    total = w.sum(axis=1)
    mean = _ratio(w @ y, total)
    ss_tot = (w * (y[None, :] - mean[:, None]) ** 2).sum(axis=1)
    return _defined(1.0 - _ratio(w @ (y - p) ** 2, ss_tot), w)


def mae(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mean absolute error of each resample."""
    return _defined(_ratio(w @ np.abs(y - p), w.sum(axis=1)), w)


def rmse(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Root mean squared error of each resample, in the target's units."""
    return _defined(np.sqrt(_ratio(w @ (y - p) ** 2, w.sum(axis=1))), w)


def _average_ranks(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Shape ``(B, m)``: the average rank (1-based, as ``scipy.stats.rankdata``) that the copies of
    each model take among the copies of resample b: the copies below it, plus the mean position
    ``(k + 1) / 2`` inside its block of ``k`` tied copies."""
    below = (x[:, None] < x[None, :]).astype(np.float64)  # below[j, i]: model j ranks below model i
    tied = (x[:, None] == x[None, :]).astype(np.float64)
    return w @ below + (w @ tied + 1.0) / 2.0


def _pearson(a: np.ndarray, b: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Pearson correlation of the rows of ``a`` and ``b`` (shape ``(B, m)``) with weights ``w``;
    NaN where either side is constant."""
    total = w.sum(axis=1, keepdims=True)
    da = a - _ratio((w * a).sum(axis=1, keepdims=True), total)
    db = b - _ratio((w * b).sum(axis=1, keepdims=True), total)
    den = np.sqrt((w * da**2).sum(axis=1) * (w * db**2).sum(axis=1))
    return _ratio((w * da * db).sum(axis=1), den)


def spearman(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Spearman's rho of each resample: Pearson correlation of the copies' average ranks."""
    return _defined(_pearson(_average_ranks(y, w), _average_ranks(p, w), w), w)


def _signs(x: np.ndarray) -> np.ndarray:
    """``sign(x_i - x_j)``, shape ``(m, m)``."""
    return np.sign(x[:, None] - x[None, :])


def _pair_sum(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``sum over unordered pairs of copies of a[i, j]`` for a symmetric ``a`` with zero diagonal
    (copies of one model pair to 0): ``w a w / 2`` for each resample."""
    return ((w @ a) * w).sum(axis=1) / 2.0


def kendall(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each resample (as ``scipy.stats.kendalltau``): the concordant minus the
    discordant pairs of copies over the root of the untied pairs in each variable."""
    sy, sp = _signs(y), _signs(p)
    den = np.sqrt(_pair_sum(np.abs(sy), w) * _pair_sum(np.abs(sp), w))
    return _defined(_ratio(_pair_sum(sy * sp, w), den), w)


def _oriented(y: np.ndarray, p: np.ndarray, greater_is_better: bool) -> tuple[np.ndarray, np.ndarray]:
    sign = 1.0 if greater_is_better else -1.0
    return sign * y, sign * p


def regret(y: np.ndarray, p: np.ndarray, w: np.ndarray, greater_is_better: bool = True) -> np.ndarray:
    """Model-selection regret of each resample
    (:func:`~benchmark.evaluation.measures.model_selection_regret`): the best target present minus
    the mean target of the copies tied at the top of the predictions."""
    y, p = _oriented(y, p, greater_is_better)
    present = w > 0
    top = present & (p[None, :] == np.where(present, p[None, :], -np.inf).max(axis=1, keepdims=True))
    chosen = _ratio((w * top) @ y, (w * top).sum(axis=1))
    best = np.where(present, y[None, :], -np.inf).max(axis=1)
    return _defined(best - chosen, w)


def _top_k_share(v: np.ndarray, w: np.ndarray, k: int) -> np.ndarray:
    """Shape ``(B, m)``: the probability that a copy of each model is among the ``k`` largest copies
    of resample b, ties at the k-th value broken uniformly at random
    (:func:`~benchmark.evaluation.measures.precision_at_k`)."""
    order = np.argsort(-v, kind="stable")
    reached = np.cumsum(w[:, order], axis=1) >= k
    kth = v[order][reached.argmax(axis=1)][:, None]  # the k-th largest copy of each resample
    above = (w * (v[None, :] > kth)).sum(axis=1, keepdims=True)
    tied = (w * (v[None, :] == kth)).sum(axis=1, keepdims=True)
    return np.where(v[None, :] > kth, 1.0, np.where(v[None, :] == kth, _ratio(k - above, tied), 0.0))


def precision_at_k(y: np.ndarray, p: np.ndarray, w: np.ndarray, k: int, greater_is_better: bool = True) -> np.ndarray:
    """Precision@k of each resample: the expected share of the predictions' top ``k`` copies that are
    in the targets' top ``k``; NaN on a resample of ``k`` copies or fewer (every copy is in the top k)."""
    y, p = _oriented(y, p, greater_is_better)
    share = (w * _top_k_share(p, w, k) * _top_k_share(y, w, k)).sum(axis=1) / k
    return np.where(w.sum(axis=1) > k, share, np.nan)


RESAMPLED: dict[str, ResampledScore] = {"r2": r2, "mae": mae, "rmse": rmse, "spearman": spearman, "kendall": kendall}
"""The scores that need nothing but ``y`` and ``p`` (name -> function), as
:data:`benchmark.evaluation.metrics.METRICS`."""


def resampled_scores(greater_is_better: bool, top_k: int) -> dict[str, ResampledScore]:
    """Every bootstrapped score (:data:`RESAMPLED`, then regret and precision@k, which choose by the
    predictions: larger targets are better when ``greater_is_better``) as ``fn(y, p, w)``."""

    def chosen_regret(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
        return regret(y, p, w, greater_is_better)

    def precision(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> np.ndarray:
        return precision_at_k(y, p, w, top_k, greater_is_better)

    return {**RESAMPLED, "regret": chosen_regret, "precision_at_k": precision}
