"""Cluster bootstrap over groups: resamples of whole training configurations, scored in batches.

Resamples are drawn once over every model of a zoo (or of a stratum) from a seed, then restricted to
the models a feature set keeps, so two feature sets are scored on the same groups, resample by
resample: their draws are paired.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np


def repeat_mean(fn: Callable[[np.ndarray, np.ndarray], np.ndarray], y: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """Score of each repeat's predictions (last axis = models), averaged over the repeat axis -2,
    ignoring repeats where it is undefined."""
    values = fn(np.broadcast_to(y, preds.shape), preds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN -> NaN is the intended result
        return np.nanmean(values, axis=-1)


def group_resamples(groups: np.ndarray, n_boot: int, seed: int | Sequence[int]) -> list[np.ndarray]:
    """``n_boot`` cluster-bootstrap resamples of the models: each draws as many groups as there are,
    with replacement, and takes all models of each drawn group. Returns row indices into ``groups``
    (one array per resample; lengths differ when groups differ in size). The same ``groups`` and
    ``seed`` (an integer, or integers for ``numpy.random.default_rng``) give the same resamples, so
    scores of two feature sets on one zoo are paired."""
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
        out[pos] = repeat_mean(fn, y[idx][:, None, :], np.transpose(preds[:, idx], (1, 0, 2)))
    return out


def fold_mean_draws(
    fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
    y: np.ndarray,
    preds: np.ndarray,
    folds: np.ndarray,
    samples: list[np.ndarray],
) -> np.ndarray:
    """Score ``fn`` within each test fold, averaged over the folds and repeats where it is defined, for
    every resample: shape ``(len(samples),)``.

    ``preds`` and ``folds`` have shape ``(repeats, n)`` (``folds[r, i]``: the test fold of model i in
    repeat r). Within a fold one fitted regressor made every prediction, so a score there compares
    models on one scale: pooling folds would also compare the folds' training means, which drop when
    a high-target group is held out and give an uninformative feature a negative rank correlation
    (docs/protocol.md, "Rank scores within test folds"). Resample b keeps, in each fold, the drawn
    models of that fold (with their multiplicity); a fold with fewer than two of them is left out of
    b's mean. ``samples=[np.arange(n)]`` gives the score of the predictions themselves.
    """
    total = np.zeros(len(samples))
    count = np.zeros(len(samples))
    for r in range(preds.shape[0]):
        for k in np.unique(folds[r]):
            inside = folds[r] == k
            d = bootstrap_draws(fn, y[inside], preds[r : r + 1, inside], restrict_resamples(samples, inside))
            ok = np.isfinite(d)
            total[ok] += d[ok]
            count[ok] += 1
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)
