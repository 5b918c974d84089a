"""Scores of many bootstrap resamples at once (benchmark/evaluation/resampled.py) equal the plain
scores of each resample written out copy by copy, ties between copies included; the vectorised pair
scores equal their definitions computed group by group."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmark.evaluation import metrics, resampled
from benchmark.evaluation.bootstrap import fold_mean_draws, group_counts, inflated, refit_inflation
from benchmark.evaluation.measures import granulated_kendall, model_selection_regret, precision_at_k


def copies(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.repeat(values, w.astype(int))


def cases(rng: np.random.Generator, m: int = 9, b: int = 40) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(y, p, counts): continuous values, heavy ties, and resamples with zero to three copies each."""
    w = rng.integers(0, 4, size=(b, m)).astype(np.float64)
    w[0] = 0.0  # an empty resample
    w[1] = 0.0
    w[1, 3] = 2.0  # copies of one model only: constant on both sides
    continuous = (rng.normal(size=m), rng.normal(size=m))
    tied = (rng.integers(0, 3, m).astype(float), rng.integers(0, 2, m).astype(float))
    return [(*continuous, w), (*tied, w)]


PLAIN = {
    "r2": metrics.r2,
    "mae": metrics.mae,
    "rmse": metrics.rmse,
    "spearman": lambda y, p: stats.spearmanr(y, p).statistic,
    "kendall": lambda y, p: stats.kendalltau(y, p).statistic,
}


def plain_or_nan(name: str, y: np.ndarray, p: np.ndarray) -> float:
    if len(y) < 2 or (name in ("spearman", "kendall") and (np.ptp(y) == 0 or np.ptp(p) == 0)):
        return math.nan
    return float(PLAIN[name](y, p))


@pytest.mark.parametrize("name", list(resampled.RESAMPLED))
def test_each_resample_scores_as_its_copies_written_out(name: str) -> None:
    for y, p, w in cases(np.random.default_rng(0)):
        got = resampled.RESAMPLED[name](y, p, w)
        expected = [plain_or_nan(name, copies(y, row), copies(p, row)) for row in w]
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("greater_is_better", [True, False])
def test_selection_scores_of_each_resample_match_the_plain_ones(greater_is_better: bool) -> None:
    for y, p, w in cases(np.random.default_rng(1)):
        for k in (1, 3):
            got = resampled.precision_at_k(y, p, w, k, greater_is_better)
            regret = resampled.regret(y, p, w, greater_is_better)
            for b, row in enumerate(w):
                yc, pc = copies(y, row), copies(p, row)
                if len(yc) < 2:
                    assert math.isnan(regret[b])
                else:
                    assert regret[b] == pytest.approx(model_selection_regret(pc, yc, greater_is_better), abs=1e-12)
                if len(yc) <= k:
                    assert math.isnan(got[b])
                else:
                    assert got[b] == pytest.approx(precision_at_k(pc, yc, k, greater_is_better), abs=1e-12)


def test_ones_score_the_predictions_themselves_and_fold_means_average_folds() -> None:
    rng = np.random.default_rng(2)
    y, p = rng.normal(size=20), rng.normal(size=20)
    once = np.ones((1, 20))
    assert resampled.kendall(y, p, once)[0] == pytest.approx(stats.kendalltau(y, p).statistic, abs=1e-12)
    assert resampled.spearman(y, p, once)[0] == pytest.approx(stats.spearmanr(y, p).statistic, abs=1e-12)
    folds = np.repeat([0, 1, 2, 3], 5)[None, :]
    counts = group_counts(np.repeat(np.arange(10), 2), 30, seed=3)
    got = fold_mean_draws(resampled.kendall, y, p[None, :], folds, counts)
    per_fold = np.stack(
        [resampled.kendall(y[folds[0] == k], p[folds[0] == k], counts[:, folds[0] == k]) for k in range(4)]
    )
    np.testing.assert_allclose(got, np.nanmean(per_fold, axis=0), rtol=1e-12)


def test_plain_kendall_is_scipys_row_by_row() -> None:
    rng = np.random.default_rng(4)
    y, p = rng.integers(0, 5, size=(3, 30)).astype(float), rng.normal(size=(3, 30))
    expected = [stats.kendalltau(a, b).statistic for a, b in zip(y, p, strict=True)]
    np.testing.assert_allclose(metrics.kendall(y, p), expected, rtol=1e-12)
    assert math.isnan(float(metrics.kendall(np.ones(4), np.arange(4.0))))


def reference_granulated(measure: np.ndarray, target: np.ndarray, table: pd.DataFrame, axis: str) -> tuple[float, int]:
    """psi_axis by its definition: a loop over the groups equal in every other column."""
    others = [c for c in table.columns if c != axis]
    taus = []
    for _, members in table.groupby(others, sort=True).groups.items():
        members = np.asarray(members)
        if table.loc[members, axis].nunique() > 1:
            taus.append(float(metrics.kendall_tau_a(target[members], measure[members])))
    return (float(np.mean(taus)) if taus else math.nan), len(taus)


def test_granulated_kendall_equals_its_definition_group_by_group() -> None:
    rng = np.random.default_rng(5)
    n = 60
    table = pd.DataFrame({"a": rng.integers(0, 3, n), "b": rng.integers(0, 2, n), "seed": rng.integers(0, 2, n)})
    measure, target = rng.integers(0, 4, n).astype(float), rng.normal(size=n)
    got = granulated_kendall(measure, target, table, ["a", "b"])
    for axis in ("a", "b"):
        value, groups = reference_granulated(measure, target, table, axis)
        assert got.per_axis[axis] == pytest.approx(value, abs=1e-12) and got.n_groups[axis] == groups


def test_refit_inflation_is_nadeau_and_bengios_factor() -> None:
    """sqrt(1 + J n_test / n_train): K equal folds give sqrt(1 + K / (K - 1)) in every repeat; folds
    of ``within`` are counted inside their pool; a single fold (nothing fitted elsewhere) gives 1."""
    four = np.tile(np.repeat(np.arange(4), 5), (3, 1))  # 3 repeats of 4 folds of 5 models
    assert refit_inflation(four, np.zeros(20)) == pytest.approx(math.sqrt(1 + 4 / 3))
    unequal = np.array([[0] * 2 + [1] * 6])  # J = 2: 1 + 2 * mean(2/6, 6/2)
    assert refit_inflation(unequal, np.zeros(8)) == pytest.approx(math.sqrt(1 + 2 * (2 / 6 + 6 / 2) / 2))
    pools = np.repeat([0, 1], 10)  # two strata of 10, each split into 2 folds of 5
    within = np.array([np.repeat(np.arange(4), 5)])
    assert refit_inflation(within, pools) == pytest.approx(math.sqrt(1 + 2 * 5 / 5))
    assert refit_inflation(np.zeros((2, 6), dtype=int), np.zeros(6)) == 1.0


def test_inflated_widens_about_the_mean_and_keeps_nans() -> None:
    draws = np.array([0.0, 1.0, np.nan, 2.0])
    out = inflated(draws, 2.0)
    np.testing.assert_allclose(out[[0, 1, 3]], [-1.0, 1.0, 3.0])
    assert math.isnan(out[2])
    assert inflated(draws, 1.0) is draws
    assert np.isnan(inflated(np.full(3, np.nan), 2.0)).all()
