"""Scores of a generalization measure against a target over a zoo, beyond a regressor's error.

A *measure* is one number per model: a single feature, or a regressor's out-of-fold predictions of
the target. The scores here ask what the literature on predicting generalization asks of it:

- :func:`granulated_kendall`: does it rank models correctly along each hyperparameter axis, the
  others held fixed (Jiang et al. 2020)?
- :func:`conditional_mutual_information`, :func:`pgdl_score`: does the sign of its difference between
  two models carry information about the sign of their target difference once hyperparameters are
  known (Jiang et al. 2020; the PGDL competition, Jiang et al. 2021)?
- :func:`model_selection_regret`, :func:`precision_at_k`: what would choosing models by it cost?
- :func:`paired_bootstrap_comparison`: does one feature set beat the best baseline on the same
  group-bootstrap resamples?
- :func:`univariate_spearman`: each feature's own rank correlation with the target, with a
  group-bootstrap interval.

Hyperparameters come as a table with one row per model (a ``pandas.DataFrame``, or a mapping
``name -> values``), aligned with the measure; any hashable values (numbers, strings, booleans).
Models whose measure or target is non-finite are dropped first.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from benchmark.evaluation import resampled
from benchmark.evaluation.bootstrap import group_counts
from benchmark.evaluation.metrics import spearman

HParams = pd.DataFrame | Mapping[str, Sequence[Any]]


def _finite_1d(name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one value per model (shape (n,)), got shape {arr.shape}.")
    return arr


def _prepare(
    measure: Any, target: Any, hparams: HParams
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], list[str]]:
    """Measure, target and integer codes of every hyperparameter column, restricted to models whose
    measure and target are finite; also the names of the columns that vary over those models."""
    m = _finite_1d("measure", measure)
    t = _finite_1d("target", target)
    table = pd.DataFrame(hparams).reset_index(drop=True)
    if not (len(m) == len(t) == len(table)):
        raise ValueError(
            f"measure, target and hyperparameter table must have one entry per model; got lengths "
            f"{len(m)}, {len(t)} and {len(table)}."
        )
    keep = np.isfinite(m) & np.isfinite(t)
    codes = {str(c): pd.factorize(table[c], use_na_sentinel=False)[0][keep] for c in table.columns}
    varying = [c for c, v in codes.items() if len(np.unique(v)) > 1]
    return m[keep], t[keep], codes, varying


def _group_ids(columns: Sequence[np.ndarray], n: int) -> np.ndarray:
    """Shape ``(n,)``: one integer per distinct row of the stacked ``columns`` (0 for all if none)."""
    key = np.zeros(n, dtype=np.int64)
    if n == 0:
        return key
    for col in columns:  # mixed-radix code of the row so far, compacted after each column (no overflow)
        key = np.unique(key * (int(col.max()) + 1) + col, return_inverse=True)[1].reshape(-1)
    return key


# ----------------------------------------------------------------------------- granulated Kendall


@dataclass(frozen=True)
class GranulatedKendall:
    """Granulated Kendall coefficient: ``value`` = Psi, ``per_axis[a]`` = psi_a, ``n_groups[a]`` the
    number of groups (models equal in every other column, at least two values of ``a``) it averages."""

    value: float
    per_axis: dict[str, float]
    n_groups: dict[str, int]


def granulated_kendall(
    measure: Any, target: Any, hparams: HParams, axes: Sequence[str] | None = None
) -> GranulatedKendall:
    """Jiang et al. (2020), "Fantastic Generalization Measures and Where to Find Them"
    (arXiv:1912.02178), granulated Kendall's coefficient.

    For an axis a, the models are split into groups that are equal in every other column of
    ``hparams``; a group with at least two distinct values of a is a set of models that differ only
    in a. Then::

        psi_a = mean over those groups G of tau_a(measure[G], target[G])
        Psi   = mean over axes a of psi_a

    with tau_a Kendall's tau-a (:func:`~benchmark.evaluation.metrics.kendall_tau_a`, the paper's tau:
    a tie counts 0). Columns that are not axes are still held fixed: pass ``axes`` without ``seed``
    and keep ``seed`` in the table, and each group compares models of one seed.

    Args:
        measure, target: shape ``(n,)``. A measure that should *decrease* with the target scores
            negative; higher is better for a measure meant to increase with it.
        hparams: ``n`` rows, one column per hyperparameter.
        axes: columns to score (default: every column that takes two or more values).

    Returns:
        ``psi_a`` is NaN for an axis along which no two models differ alone (a sampled grid may have
        none); ``Psi`` is the mean of the defined ``psi_a`` (equal to the paper's Psi on a full grid),
        NaN when none is.
    """
    m, t, codes, varying = _prepare(measure, target, hparams)
    chosen = varying if axes is None else [str(a) for a in axes]
    unknown = [a for a in chosen if a not in codes]
    if unknown:
        raise ValueError(f"granulated_kendall axes {unknown} are not hyperparameter columns; valid: {list(codes)}.")
    per_axis: dict[str, float] = {}
    n_groups: dict[str, int] = {}
    concordance = np.sign(t[:, None] - t[None, :]) * np.sign(m[:, None] - m[None, :])
    for axis in chosen:
        gid = _group_ids([codes[c] for c in codes if c != axis], len(m))
        i, j = np.nonzero(np.triu(gid[:, None] == gid[None, :], k=1))  # the pairs inside each group
        n_in = np.bincount(gid, minlength=int(gid.max(initial=0)) + 1)
        varies = np.bincount(gid[i], weights=codes[axis][i] != codes[axis][j], minlength=len(n_in)) > 0
        total = np.bincount(gid[i], weights=concordance[i, j], minlength=len(n_in))
        taus = total[varies] / (n_in[varies] * (n_in[varies] - 1) / 2)  # Kendall's tau-a of each group
        per_axis[axis] = float(np.mean(taus)) if len(taus) else math.nan
        n_groups[axis] = len(taus)
    defined = [v for v in per_axis.values() if math.isfinite(v)]
    return GranulatedKendall(float(np.mean(defined)) if defined else math.nan, per_axis, n_groups)


# ----------------------------------------------------------------------------- conditional mutual information


@dataclass(frozen=True)
class ConditionalMI:
    """Normalized conditional mutual information of each conditioning set (``per_set``, keyed by the
    tuple of hyperparameter names, ``()`` for none) and its minimum ``value``, reached at ``argmin``."""

    value: float
    argmin: tuple[str, ...] | None
    per_set: dict[tuple[str, ...], float]


def _normalized_cmi(gap_up: np.ndarray, measure_up: np.ndarray, cells: np.ndarray, uniform: bool) -> float:
    """``sum_c w_c I_c(V_g; V_mu) / sum_c w_c H_c(V_g)`` in bits over cells ``c`` of pairs.

    ``gap_up``, ``measure_up``, ``cells``: shape ``(pairs,)``. ``w_c`` is the cell's share of pairs
    (``uniform=False``: the paper's p(U_S)) or ``1 / #cells`` (``uniform=True``: the PGDL scoring
    program's plain mean over cells). NaN when the denominator is 0.
    """
    n_cells = int(cells.max()) + 1
    flat = cells * 4 + gap_up.astype(np.int64) * 2 + measure_up.astype(np.int64)
    counts = np.bincount(flat, minlength=n_cells * 4).reshape(n_cells, 2, 2).astype(np.float64)
    counts = counts[counts.sum(axis=(1, 2)) > 0]  # the cells that occur
    n_cells = len(counts)
    n_c = counts.sum(axis=(1, 2))
    joint = counts / n_c[:, None, None]  # p(V_g, V_mu | cell)
    p_g = joint.sum(axis=2)  # (cells, 2)
    p_m = joint.sum(axis=1)  # (cells, 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        mi = np.where(joint > 0, joint * np.log2(joint / (p_g[:, :, None] * p_m[:, None, :])), 0.0).sum(axis=(1, 2))
        h_g = -np.where(p_g > 0, p_g * np.log2(p_g), 0.0).sum(axis=1)
    w = np.full(n_cells, 1.0 / n_cells) if uniform else n_c / n_c.sum()
    den = float((w * h_g).sum())
    return float((w * mi).sum()) / den if den > 0 else math.nan


def _cmi_over_sets(
    measure: Any,
    target: Any,
    hparams: HParams,
    sizes: Sequence[int],
    self_pairs: bool,
    uniform: bool,
    blocks: Any = None,
) -> ConditionalMI:
    m, t, codes, varying = _prepare(measure, target, hparams)
    n = len(m)
    if n < 2:
        return ConditionalMI(math.nan, None, {})
    pairs = np.ones((n, n), dtype=bool) if self_pairs else ~np.eye(n, dtype=bool)
    if blocks is not None:
        b = np.asarray(blocks)
        if b.shape != np.shape(measure):
            raise ValueError(f"blocks must be one label per model (shape {np.shape(measure)}), got shape {b.shape}.")
        b = b[np.isfinite(_finite_1d("measure", measure)) & np.isfinite(_finite_1d("target", target))]
        pairs &= b[:, None] == b[None, :]
    i, j = np.nonzero(pairs)
    if not len(i):  # no two models share a block
        return ConditionalMI(math.nan, None, {})
    gap_up = t[i] > t[j]  # V_g = +1 when the first model's target is strictly larger, else -1
    measure_up = m[i] > m[j]
    per_set: dict[tuple[str, ...], float] = {}
    for size in sizes:
        for subset in combinations(varying, size):
            values = _group_ids([codes[h] for h in subset], n)  # each model's values of the subset
            n_values = int(values.max()) + 1
            cells = values[i] * n_values + values[j]  # the pair's cell: (values of i, values of j)
            if n_values * n_values > len(i):  # more possible cells than pairs: number those that occur
                cells = np.unique(cells, return_inverse=True)[1].reshape(-1)
            per_set[subset] = _normalized_cmi(gap_up, measure_up, cells, uniform)
    finite = {k: v for k, v in per_set.items() if math.isfinite(v)}
    if not finite:
        return ConditionalMI(math.nan, None, per_set)
    argmin = min(finite, key=finite.__getitem__)
    return ConditionalMI(finite[argmin], argmin, per_set)


def conditional_mutual_information(
    measure: Any, target: Any, hparams: HParams, max_size: int = 2, blocks: Any = None
) -> ConditionalMI:
    """Jiang et al. (2020), "Fantastic Generalization Measures and Where to Find Them"
    (arXiv:1912.02178), the conditional-independence score K(mu).

    Over ordered pairs (i, j) of distinct models, V_mu = sign(mu_i - mu_j) and V_g = sign(g_i - g_j)
    with g the target (+1 if strictly larger, else -1, so a tie counts -1, as in the PGDL scoring
    program). For a set S of hyperparameters, U_S = (the values of S for model i, for model j), and::

        I(V_mu; V_g | U_S) = sum_u p(u) sum_{a,b} p(a, b | u) log2[p(a, b | u) / (p(a | u) p(b | u))]
        K(mu) = min over |S| <= max_size of  I(V_mu; V_g | U_S) / H(V_g | U_S)

    with p the empirical frequencies over pairs. In [0, 1], higher is better: 1 when, given any such
    S, the measure's sign decides the target's sign. It does not see the direction: a measure that
    decreases with the target scores as high as one that increases with it. Only varying columns
    condition (a constant one adds nothing). A set where H(V_g | U_S) = 0 (the hyperparameters
    alone decide every sign) is undefined and skipped; ``value`` is NaN if every set is.

    Args:
        measure, target: shape ``(n,)``.
        hparams: ``n`` rows, one column per hyperparameter to condition on (leave ``seed`` out).
        max_size: the largest conditioning set.
        blocks: shape ``(n,)``; when given, only pairs of models with the same label count (e.g. models
            predicted by the same fitted regressor: one test fold).
    """
    return _cmi_over_sets(measure, target, hparams, range(max_size + 1), self_pairs=False, uniform=False, blocks=blocks)


def pgdl_score(measure: Any, gap: Any, hparams: HParams, blocks: Any = None) -> ConditionalMI:
    """The PGDL competition's score (Jiang et al. 2021, "NeurIPS 2020 Competition: Predicting
    Generalization in Deep Learning", arXiv:2012.07976), as its public scoring program computes it
    (``conditional_mutual_information``); the leaderboard there shows it times 100.

    Over *all* ordered pairs (i, j), a model with itself included, a pair counts ``+gap`` when
    ``gap_i > gap_j`` (else ``-gap``) and ``+measure`` when ``measure_i > measure_j`` (else
    ``-measure``). For every two distinct hyperparameters h1, h2 the pairs fall in cells
    ``(h1_i, h1_j, h2_i, h2_j)``; with ``I_c`` the mutual information (bits) of the 2 x 2 table of
    cell c and ``H_c`` the entropy of its gap marginal::

        score(h1, h2) = mean_c I_c / mean_c H_c        (plain means over the cells)
        PGDL score    = min over {h1, h2} of score(h1, h2)

    In [0, 1], higher is better. The self-pairs (always ``-gap, -measure``) make it not quite blind
    to direction: a measure that *decreases* with the gap scores below 1 even when it orders every
    pair, so orient the measure to increase with the target (as the competition's complexity
    measures increase with the gap). Apart from the self-pairs and the weighting, on the
    competition's complete grids (one model per configuration, equal cell sizes) this is
    :func:`conditional_mutual_information` restricted to |S| = 2; on other zoos the means run over
    the cells that occur. NaN with fewer than two varying hyperparameters.

    Args:
        measure, gap: shape ``(n,)``; ``gap`` is the generalization gap (train minus test accuracy)
            in the competition, any target here.
        hparams: ``n`` rows, one column per hyperparameter (leave ``seed`` out).
        blocks: shape ``(n,)``; when given, only pairs of models with the same label count (as in
            :func:`conditional_mutual_information`).
    """
    return _cmi_over_sets(measure, gap, hparams, (2,), self_pairs=True, uniform=True, blocks=blocks)


# ----------------------------------------------------------------------------- model selection


def _oriented(pred: np.ndarray, target: np.ndarray, greater_is_better: bool) -> tuple[np.ndarray, np.ndarray]:
    sign = 1.0 if greater_is_better else -1.0
    return sign * np.asarray(pred, dtype=np.float64), sign * np.asarray(target, dtype=np.float64)


def model_selection_regret(pred: np.ndarray, target: np.ndarray, greater_is_better: bool = True) -> np.ndarray:
    """What choosing the model the measure ranks best costs, in the target's units; lower is better.

    ``regret = target(best model) - target(chosen model)`` when larger targets are better
    (``greater_is_better=True``, e.g. test accuracy), ``target(chosen) - target(best)`` when smaller
    are (e.g. error, loss, generalization gap), so regret >= 0 and 0 means the best model was chosen.
    The chosen model maximises ``pred`` (minimises it when ``greater_is_better=False``): ``pred`` is on
    the target's scale (a regressor's predictions; negate a measure that decreases with the target).
    Models tied at the top of ``pred`` are chosen with equal probability (their mean target), so a
    constant predictor's regret is ``best - mean``.

    Args:
        pred: shape ``(..., n)``; target: shape ``(..., n)`` or ``(n,)``. Returns shape ``(...)``.
    """
    p, y = _oriented(pred, target, greater_is_better)
    top = p == p.max(axis=-1, keepdims=True)
    chosen = (y * top).sum(axis=-1) / top.sum(axis=-1)
    return y.max(axis=-1) - chosen


def _top_k_membership(v: np.ndarray, k: int) -> np.ndarray:
    """Probability that each model is among the k largest of ``v`` (last axis) when ties are broken
    uniformly at random: 1 above the k-th value, 0 below, (slots left) / (models tied) at it.
    O(n log n) per row (a sort), so a whole bootstrap is cheap."""
    kth = np.sort(v, axis=-1)[..., -k, None]  # the k-th largest value of each row
    above = (v > kth).sum(axis=-1, keepdims=True)
    tied = (v == kth).sum(axis=-1, keepdims=True)
    return np.where(v > kth, 1.0, np.where(v == kth, (k - above) / tied, 0.0))


def precision_at_k(pred: np.ndarray, target: np.ndarray, k: int, greater_is_better: bool = True) -> np.ndarray:
    """Fraction of the measure's top-k models that are in the true top-k; higher is better.

    ``|top_k(pred) & top_k(target)| / k``, "top" meaning largest values when ``greater_is_better``,
    smallest otherwise (``pred`` on the target's scale, as in :func:`model_selection_regret`). Ties at
    the k-th place, in either ranking, are broken uniformly at random and the expectation is
    returned, so the score is deterministic and a constant predictor scores k / n (chance).

    Args:
        pred: shape ``(..., n)``; target: shape ``(..., n)`` or ``(n,)``; 1 <= k <= n.
        Returns shape ``(...)``. O(n log n) per row.
    """
    p, y = _oriented(pred, target, greater_is_better)
    n = p.shape[-1]
    if not 1 <= k <= n:
        raise ValueError(f"precision_at_k needs 1 <= k <= n models; got k={k} with n={n}.")
    return (_top_k_membership(p, k) * _top_k_membership(y, k)).sum(axis=-1) / k


# ----------------------------------------------------------------------------- paired comparison


@dataclass(frozen=True)
class PairedComparison:
    """A candidate's score minus the best baseline's, on the same bootstrap resamples.

    ``delta`` is the improvement (positive: the candidate is better) with its median over resamples
    and the percentile interval at the requested level; ``win_rate`` the fraction of resamples where
    the candidate is strictly better; ``p_value`` the one-sided bootstrap p-value of "the candidate
    is no better"; ``n_resamples`` the resamples where both scores are defined.
    """

    win_rate: float
    p_value: float
    delta_median: float
    delta_ci_low: float
    delta_ci_high: float
    n_resamples: int


def paired_bootstrap_comparison(
    candidate: np.ndarray, baselines: np.ndarray, greater_is_better: bool = True, level: float = 0.95
) -> PairedComparison:
    """Compare a feature set's score with the best of several baselines, resample by resample.

    ``candidate[b]`` and ``baselines[:, b]`` must be scores on the *same* resample b (the same
    :func:`~benchmark.evaluation.bootstrap.group_counts`, scored with
    :func:`~benchmark.evaluation.bootstrap.pooled_draws`). On each resample::

        delta_b = s * (candidate_b - best_b),   best_b = the best baseline on resample b

    with s = +1 for greater-is-better scores (R2, rank correlations), -1 otherwise (MAE, RMSE,
    regret). Taking the best baseline on each resample is conservative: the candidate must beat
    whichever baseline does best there. Then ``win_rate = mean(delta_b > 0)`` and the one-sided
    percentile-bootstrap p-value (Efron & Tibshirani 1993, An Introduction to the Bootstrap, ch. 16)
    ``p = (1 + #{delta_b <= 0}) / (1 + B)``, never 0. Resamples where the candidate or every baseline
    is NaN are left out.

    Args:
        candidate: shape ``(B,)``. baselines: shape ``(m, B)`` or ``(B,)`` for one baseline.
    """
    a = np.asarray(candidate, dtype=np.float64)
    b = np.atleast_2d(np.asarray(baselines, dtype=np.float64))
    if a.ndim != 1 or b.ndim != 2 or b.shape[1] != a.shape[0]:
        raise ValueError(
            f"paired_bootstrap_comparison needs candidate (B,) and baselines (m, B) on the same resamples; "
            f"got shapes {a.shape} and {np.shape(baselines)}."
        )
    sign = 1.0 if greater_is_better else -1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a resample where every baseline is NaN -> NaN
        best = np.nanmax(sign * b, axis=0)
    delta = sign * a - best
    delta = delta[np.isfinite(delta)]
    if not len(delta):
        return PairedComparison(math.nan, math.nan, math.nan, math.nan, math.nan, 0)
    alpha = (1.0 - level) / 2.0
    return PairedComparison(
        win_rate=float(np.mean(delta > 0)),
        p_value=float((1 + np.count_nonzero(delta <= 0)) / (1 + len(delta))),
        delta_median=float(np.median(delta)),
        delta_ci_low=float(np.quantile(delta, alpha)),
        delta_ci_high=float(np.quantile(delta, 1.0 - alpha)),
        n_resamples=len(delta),
    )


def paired_difference(
    a: np.ndarray,
    b: np.ndarray,
    greater_is_better: bool = True,
    level: float = 0.95,
    observed: float | None = None,
) -> PairedComparison:
    """Two rows' scores on the same bootstrap resamples, compared both ways.

    ``delta_b = s * (a_b - b_b)`` (s = +1 for greater-is-better scores, -1 otherwise; positive: ``a``
    is better) over the resamples where both are defined gives ``win_rate = mean(delta_b > 0)`` and the
    median and percentile interval of ``delta``. The two-sided p-value of "neither is better" is the
    bootstrap z-test's (Efron & Tibshirani 1993, An Introduction to the Bootstrap, ch. 16):
    ``z = d / sd(delta)`` with ``d`` the ``observed`` difference ``s * (a - b)`` of the two rows' values
    (the mean of ``delta`` when None), ``p = 2 (1 - Phi(|z|))``; 1 for identical draws. Unlike a
    percentile p-value it has no floor of ``2 / (1 + B)``, which a multiple-comparison correction over
    a table's rows would push above any level.
    """
    one = paired_bootstrap_comparison(a, np.asarray(b)[None, :], greater_is_better, level)
    if not one.n_resamples:
        return one
    sign = 1.0 if greater_is_better else -1.0
    delta = sign * (np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    delta = delta[np.isfinite(delta)]
    d = float(np.mean(delta)) if observed is None or not math.isfinite(observed) else float(observed)
    se = float(np.std(delta, ddof=1)) if len(delta) > 1 else 0.0
    if se == 0:  # every resample gives the same difference
        return dataclasses.replace(one, p_value=1.0 if d == 0 else 0.0)
    return dataclasses.replace(one, p_value=float(2.0 * norm.sf(abs(d) / se)))


# ----------------------------------------------------------------------------- univariate view


def univariate_spearman(
    features: pd.DataFrame, target: Any, groups: Any, n_boot: int = 1000, level: float = 0.95, seed: int = 0
) -> pd.DataFrame:
    """Each feature's own Spearman rank correlation with the target, with a group-bootstrap interval.

    No regressor and no cross-validation: the view of a feature on its own. For each column, models
    with a non-finite feature or target are dropped; rho is Spearman's rho (as
    ``scipy.stats.spearmanr``) and ``[ci_low, ci_high]`` its percentile interval over ``n_boot``
    resamples of whole groups (:func:`~benchmark.evaluation.bootstrap.group_counts` with ``seed``,
    so features with the same models kept share resamples). rho is NaN for a constant feature.

    Args:
        features: ``n`` rows, one column per feature (``<descriptor>__<feature>``).
        target, groups: shape ``(n,)``.

    Returns:
        One row per feature, in column order: ``feature, spearman, ci_low, ci_high, n_used, n_dropped``.
    """
    y = _finite_1d("target", target)
    g = np.asarray(groups)
    if not (len(features) == len(y) == len(g)):
        raise ValueError(
            f"features, target and groups must have one entry per model; got {len(features)}, {len(y)}, {len(g)}."
        )
    alpha = (1.0 - level) / 2.0
    rows = []
    for name in features.columns:
        x = features[name].to_numpy(dtype=np.float64)
        keep = np.isfinite(x) & np.isfinite(y)
        row: dict[str, Any] = {"feature": str(name), "spearman": math.nan, "ci_low": math.nan, "ci_high": math.nan}
        if keep.sum() >= 2:
            xk, yk = x[keep], y[keep]
            row["spearman"] = float(spearman(yk, xk))
            draws = resampled.spearman(yk, xk, group_counts(g[keep], n_boot, seed))
            draws = draws[np.isfinite(draws)]
            if len(draws):
                row["ci_low"] = float(np.quantile(draws, alpha))
                row["ci_high"] = float(np.quantile(draws, 1.0 - alpha))
        row["n_used"] = int(keep.sum())
        row["n_dropped"] = int((~keep).sum())
        rows.append(row)
    return pd.DataFrame(rows, columns=["feature", "spearman", "ci_low", "ci_high", "n_used", "n_dropped"])
