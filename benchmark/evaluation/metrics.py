"""Scores of predictions against targets on one test fold."""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats
from sklearn.metrics import mean_absolute_error, r2_score


def _rank_corr(fn, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    if len(y_true) < 2 or np.ptp(y_true) == 0 or np.ptp(y_pred) == 0:
        return math.nan  # undefined for constant input (e.g. the constant-mean predictor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(y_true, y_pred)[0])


def fold_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """R2 (sklearn), MAE, Spearman rho and Kendall tau-b (scipy) of one fold.

    Rank correlations are NaN when either side is constant.
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    return {
        "r2": float(r2_score(y_true, y_pred)) if len(y_true) >= 2 else math.nan,
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "spearman": _rank_corr(stats.spearmanr, y_true, y_pred),
        "kendall": _rank_corr(stats.kendalltau, y_true, y_pred),
    }
