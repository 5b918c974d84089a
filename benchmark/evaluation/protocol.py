"""Group-aware cross-validation of one (feature set, regressor, target)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.dummy import DummyRegressor
from sklearn.model_selection import GroupKFold

from benchmark.evaluation.metrics import fold_scores
from benchmark.records import SCORE_METRICS

CONSTANT = "constant"
"""The constant-mean baseline feature set: predicts the training fold's mean target."""


def cross_validate_grouped(
    make_estimator: Callable[[], BaseEstimator],
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    n_splits: int,
    seed: int,
    n_repeats: int = 1,
) -> list[dict[str, float]]:
    """Scores per fold of repeated ``GroupKFold``: repeat r shuffles groups into folds with seed
    ``seed + r``; within a repeat no group straddles train and test."""
    n_groups = len(np.unique(groups))
    if n_groups < n_splits:
        raise ValueError(
            f"protocol.n_splits={n_splits} exceeds the {n_groups} groups left; lower protocol.n_splits "
            "or use a zoo with more hyperparameter configurations."
        )
    if n_splits < 2 or n_repeats < 1:
        raise ValueError(f"protocol needs n_splits >= 2 and n_repeats >= 1, got {n_splits} and {n_repeats}.")
    scores = []
    for r in range(n_repeats):
        cv = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed + r)
        for train, test in cv.split(X, y, groups):
            est = make_estimator()
            est.fit(X[train], y[train])
            scores.append(fold_scores(y[test], est.predict(X[test])))
    return scores


def evaluate_feature_set(
    X: np.ndarray | None,
    y: np.ndarray,
    groups: np.ndarray,
    make_estimator: Callable[[], BaseEstimator] | None,
    n_splits: int,
    seed: int,
    n_repeats: int = 1,
) -> tuple[dict[str, float], dict[str, float], int, int]:
    """Drop rows with non-finite features or target, cross-validate, aggregate over folds.

    ``X=None`` evaluates the constant-mean baseline. Returns ``(mean, std, n_used, n_dropped)``;
    ``std`` is the standard deviation over all folds of all repeats (ddof=1); folds where a score is undefined
    (rank correlation of constant predictions) are left out of that score.
    """
    keep = np.isfinite(y)
    if X is not None:
        keep &= np.isfinite(X).all(axis=1)
    n_dropped = int((~keep).sum())
    y_k, g_k = y[keep], groups[keep]
    if X is None:
        X_k = np.zeros((len(y_k), 1))
        make_estimator = DummyRegressor
    else:
        X_k = X[keep]
    assert make_estimator is not None
    per_fold = cross_validate_grouped(make_estimator, X_k, y_k, g_k, n_splits, seed, n_repeats)
    mean, std = {}, {}
    for m in SCORE_METRICS:
        vals = np.array([f[m] for f in per_fold])
        finite = vals[np.isfinite(vals)]
        # a fold where a score is undefined (constant predictions) is left out of its mean
        mean[m] = float(finite.mean()) if len(finite) else math.nan
        std[m] = float(finite.std(ddof=1)) if len(finite) > 1 else math.nan
    return mean, std, int(keep.sum()), n_dropped
