"""Group-aware cross-validation of one (feature set, regressor, target).

Each repeat r shuffles the groups into ``n_splits`` folds (``GroupKFold``, seed ``seed + r``) and
predicts every model once, by a regressor fitted on the other folds: the out-of-fold predictions.
A score is computed on all out-of-fold predictions of a repeat and averaged over repeats. Its
95% interval comes from a bootstrap over groups (resampling whole hyperparameter configurations,
with their seeds, with replacement); its fold spread is the standard deviation of the score
computed on each test fold alone.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.dummy import DummyRegressor
from sklearn.model_selection import GroupKFold

from benchmark.evaluation.metrics import METRICS, RANK_METRICS

CONSTANT = "constant"
"""The constant-mean baseline feature set: predicts the training fold's mean target."""


class TooFewGroupsError(ValueError):
    """Fewer groups with finite data than folds: the feature set cannot be cross-validated."""


@dataclass(frozen=True)
class Evaluation:
    """Scores of one (feature set, regressor, target): metric name -> number."""

    value: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    fold_std: dict[str, float]
    n_used: int
    n_dropped: int
    n_folds: int


def out_of_fold_predictions(
    make_estimator: Callable[[], BaseEstimator],
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    n_splits: int,
    seed: int,
    n_repeats: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """``(predictions, fold)``, both of shape ``(n_repeats, n)``; ``fold[r, i]`` is the test fold of
    model i in repeat r. No group is ever in the training and the test part of one split."""
    n_groups = len(np.unique(groups))
    if n_splits < 2 or n_repeats < 1:
        raise ValueError(f"protocol needs n_splits >= 2 and n_repeats >= 1, got {n_splits} and {n_repeats}.")
    if n_groups < n_splits:
        raise TooFewGroupsError(
            f"protocol.n_splits={n_splits} exceeds the {n_groups} groups left; lower protocol.n_splits "
            "or use a zoo with more hyperparameter configurations."
        )
    preds = np.full((n_repeats, len(y)), np.nan)
    folds = np.full((n_repeats, len(y)), -1)
    for r in range(n_repeats):
        cv = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed + r)
        for k, (train, test) in enumerate(cv.split(X, y, groups)):
            est = make_estimator()
            est.fit(X[train], y[train])
            preds[r, test] = est.predict(X[test])
            folds[r, test] = k
    return preds, folds


def _repeat_mean(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], y: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """Score of each repeat's predictions (last axis = models), averaged over the repeat axis -2,
    ignoring repeats where it is undefined."""
    values = fn(np.broadcast_to(y, preds.shape), preds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN -> NaN is the intended result
        return np.nanmean(values, axis=-1)


def group_resamples(groups: np.ndarray, n_boot: int, seed: int) -> list[np.ndarray]:
    """``n_boot`` cluster-bootstrap resamples of the models: each draws as many groups as there are,
    with replacement, and takes all models of each drawn group. Returns row indices into ``groups``
    (one array per resample; lengths differ when groups differ in size). The same ``groups`` and
    ``seed`` give the same resamples, so scores of two feature sets on one zoo are paired."""
    labels, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(labels))]
    rng = np.random.default_rng(seed)
    return [np.concatenate([members[g] for g in rng.integers(0, len(labels), len(labels))]) for _ in range(n_boot)]


def restrict_resamples(samples: list[np.ndarray], keep: np.ndarray) -> list[np.ndarray]:
    """Resamples of the whole zoo (:func:`group_resamples` on every model's group) restricted to the
    models in the boolean mask ``keep`` (shape ``(n,)``), as indices into the kept rows. Feature sets
    that drop different models (non-finite features) still see the same groups drawn, resample by
    resample, which :func:`benchmark.evaluation.measures.paired_bootstrap_comparison` needs."""
    position = np.cumsum(keep) - 1  # index among the kept rows
    return [position[s[keep[s]]] for s in samples]


def bootstrap_draws(
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray], y: np.ndarray, preds: np.ndarray, samples: list[np.ndarray]
) -> np.ndarray:
    """Repeat-averaged score ``fn`` of every resample, in resample order: shape ``(len(samples),)``.

    ``y`` has shape ``(n,)``, ``preds`` ``(repeats, n)`` (out-of-fold predictions, or one feature as
    ``(1, n)``), ``samples`` row indices from :func:`group_resamples`. Resamples of equal length are
    scored in one batch; one of fewer than two models scores NaN. Two feature sets scored on the
    same samples give aligned draws, the input of
    :func:`benchmark.evaluation.measures.paired_bootstrap_comparison`.
    """
    out = np.full(len(samples), np.nan)
    lengths = np.array([len(s) for s in samples])
    for length in np.unique(lengths[lengths >= 2]):
        pos = np.flatnonzero(lengths == length)
        idx = np.stack([samples[i] for i in pos])  # (b, length)
        out[pos] = _repeat_mean(fn, y[idx][:, None, :], np.transpose(preds[:, idx], (1, 0, 2)))
    return out


def group_bootstrap(
    y: np.ndarray, preds: np.ndarray, groups: np.ndarray, n_boot: int, level: float, seed: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Percentile interval of each repeat-averaged score, resampling groups with replacement."""
    samples = group_resamples(groups, n_boot, seed)
    alpha = (1.0 - level) / 2.0
    low, high = {}, {}
    for name, fn in METRICS.items():
        v = bootstrap_draws(fn, y, preds, samples)
        v = v[np.isfinite(v)]
        low[name] = float(np.quantile(v, alpha)) if len(v) else math.nan
        high[name] = float(np.quantile(v, 1.0 - alpha)) if len(v) else math.nan
    return low, high


def evaluate_feature_set(
    X: np.ndarray | None,
    y: np.ndarray,
    groups: np.ndarray,
    make_estimator: Callable[[], BaseEstimator] | None,
    n_splits: int,
    seed: int,
    n_repeats: int = 1,
    n_bootstrap: int = 1000,
    level: float = 0.95,
) -> Evaluation:
    """Drop rows with non-finite features or target, then score out-of-fold predictions.

    ``X=None`` evaluates the constant-mean baseline; its rank correlations are NaN (a constant
    ranks nothing; pooled across folds its predictions would only reflect fold composition). A
    feature set whose every column is constant over the models is the same baseline in disguise
    and is reported the same way.
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
    preds, folds = out_of_fold_predictions(make_estimator, X_k, y_k, g_k, n_splits, seed, n_repeats)
    value = {name: float(_repeat_mean(fn, y_k, preds)) for name, fn in METRICS.items()}
    low, high = group_bootstrap(y_k, preds, g_k, n_bootstrap, level, seed)
    fold_std = {}
    for name, fn in METRICS.items():
        per_fold = [fn(y_k[folds[r] == k], preds[r, folds[r] == k]) for r in range(n_repeats) for k in range(n_splits)]
        finite = [v for v in per_fold if math.isfinite(v)]
        fold_std[name] = float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan
    if X is None or bool((np.ptp(X_k, axis=0) == 0).all()):
        for name in RANK_METRICS:
            value[name] = low[name] = high[name] = fold_std[name] = math.nan
    return Evaluation(value, low, high, fold_std, int(keep.sum()), n_dropped, n_splits * n_repeats)


def unscored(X: np.ndarray | None, y: np.ndarray) -> Evaluation:
    """The all-NaN evaluation of a feature set that could not be cross-validated (its row stays on
    the leaderboard, with its model and drop counts)."""
    keep = np.isfinite(y) if X is None else np.isfinite(y) & np.isfinite(X).all(axis=1)
    nan = {name: math.nan for name in METRICS}
    return Evaluation(nan, dict(nan), dict(nan), dict(nan), int(keep.sum()), int((~keep).sum()), 0)
