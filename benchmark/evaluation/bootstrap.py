"""Cluster bootstrap over groups: resamples of whole training configurations, scored all at once.

A resample is a vector of multiplicities, one per model (how often its group was drawn), so ``B``
resamples are one ``(B, n)`` array and every score of them is a few matrix products
(:mod:`benchmark.evaluation.resampled`). Resamples are drawn once over every model of a zoo (or of
a stratum) from a seed, then restricted to the models a feature set keeps (its columns), so two
feature sets are scored on the same groups, resample by resample: their draws are paired.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from benchmark.evaluation.resampled import ResampledScore


def group_counts(groups: np.ndarray, n_boot: int, seed: int | Sequence[int]) -> np.ndarray:
    """``n_boot`` cluster-bootstrap resamples of the models, shape ``(n_boot, n)``: each draws as many
    groups as there are, with replacement, and holds every model of a drawn group once per draw. The
    same ``groups`` and ``seed`` (an integer, or integers for ``numpy.random.default_rng``) give the
    same resamples, so scores of two feature sets on one zoo are paired; restricting the columns to
    the models a feature set keeps (``counts[:, keep]``) keeps them paired."""
    labels, inverse = np.unique(np.asarray(groups), return_inverse=True)
    n_groups = len(labels)
    rng = np.random.default_rng(seed)
    drawn = np.array([rng.integers(0, n_groups, n_groups) for _ in range(n_boot)], dtype=np.int64)
    drawn = drawn.reshape(n_boot, n_groups)
    offsets = (n_groups * np.arange(n_boot))[:, None]
    per_group = np.bincount((drawn + offsets).ravel(), minlength=n_boot * n_groups).reshape(n_boot, n_groups)
    return per_group[:, inverse.reshape(-1)].astype(np.float64)


def _nanmean(values: np.ndarray, axis: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN -> NaN is the intended result
        return np.nanmean(values, axis=axis)


def pooled_draws(fn: ResampledScore, y: np.ndarray, preds: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Score ``fn`` of each repeat's predictions over every model, averaged over the repeats where it
    is defined, for every resample: shape ``(B,)``.

    ``y`` has shape ``(n,)``, ``preds`` ``(repeats, n)`` (out-of-fold predictions, or one feature as
    ``(1, n)``), ``counts`` ``(B, n)`` from :func:`group_counts`; ``np.ones((1, n))`` scores the
    predictions themselves. Two feature sets scored on the same counts give aligned draws, the input
    of :func:`benchmark.evaluation.measures.paired_bootstrap_comparison`.
    """
    return _nanmean(np.stack([fn(y, p, counts) for p in preds]), axis=0)


def fold_mean_draws(
    fn: ResampledScore, y: np.ndarray, preds: np.ndarray, folds: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Score ``fn`` within each test fold, averaged over the folds and repeats where it is defined, for
    every resample: shape ``(B,)``.

    ``preds`` and ``folds`` have shape ``(repeats, n)`` (``folds[r, i]``: the test fold of model i in
    repeat r). Within a fold one fitted regressor made every prediction, so a score there compares
    models on one scale: pooling folds would also compare the folds' training means, which drop when
    a high-target group is held out and give an uninformative feature a negative rank correlation
    (docs/protocol.md, "Rank scores within test folds"). Resample b keeps, in each fold, the drawn
    models of that fold (with their multiplicity); a fold with fewer than two of them is left out of
    b's mean. ``counts=np.ones((1, n))`` gives the score of the predictions themselves.
    """
    per_fold = [
        fn(y[inside], preds[r, inside], counts[:, inside])
        for r in range(preds.shape[0])
        for inside in (folds[r] == k for k in np.unique(folds[r]))
    ]
    return _nanmean(np.stack(per_fold), axis=0) if per_fold else np.full(len(counts), np.nan)


def refit_inflation(folds: np.ndarray, pools: np.ndarray) -> float:
    """The factor ``sqrt(1 + J · n_test / n_train)`` by which the spread of bootstrap draws of
    cross-validated scores is widened (Nadeau and Bengio 2003, "Inference for the Generalization
    Error": the corrected resampled variance; Bouckaert and Frank 2004 for repeated K-fold).

    The draws resample test models with the out-of-fold predictions held fixed, so they treat the J
    test folds of a repeat as independent. They are not: the regressor that predicts fold k was
    fitted on the other folds, so a fold's models also move the predictions of every other fold, and
    for a weak feature the fitted direction itself moves with them. Nadeau and Bengio's correction
    takes the correlation between folds to be ``n_test / n`` and multiplies the variance of the mean
    over J folds by ``1 + J · n_test / n_train``: ``1 + K / (K - 1)`` for K equal folds (K = 4:
    ×2.33 in variance, ×1.53 in spread), the factor by which the spread of a pure-noise feature's
    score was measured to exceed the draws' on the committed zoos (tests/test_null_features.py).

    ``folds`` has shape ``(repeats, n)`` (each model's test fold in each repeat), ``pools`` shape
    ``(n,)``: which models a fold's regressor may be fitted on (the stratum under ``within``; the
    same value for every model under ``group_kfold`` and ``leave_one_out``). The variance factor is
    averaged over repeats and pools; 1 without two folds in any of them.
    """
    factors = []
    for r in range(folds.shape[0]):
        for pool in np.unique(pools):
            inside = folds[r, pools == pool]
            _, n_test = np.unique(inside, return_counts=True)
            if len(n_test) < 2:
                continue
            factors.append(1.0 + len(n_test) * float(np.mean(n_test / (len(inside) - n_test))))
    return float(np.sqrt(np.mean(factors))) if factors else 1.0


def inflated(draws: np.ndarray, factor: float) -> np.ndarray:
    """``draws`` spread ``factor`` times as wide about their mean (NaN draws stay NaN)."""
    finite = np.isfinite(draws)
    if factor == 1.0 or not finite.any():
        return draws
    center = float(np.mean(draws[finite]))
    return center + factor * (draws - center)
