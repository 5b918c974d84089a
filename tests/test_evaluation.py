"""Scores, grouped cross-validation and the regressors built from config."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.metrics import r2_score

from benchmark.evaluation import Protocol, all_scores, build_regressor, evaluate_feature_set, out_of_fold_predictions


def test_scores_match_scipy_and_sklearn_with_and_without_ties():
    rng = np.random.default_rng(0)
    for y, p in [(rng.random(30), rng.random(30)), (rng.integers(0, 4, 25) * 1.0, rng.integers(0, 5, 25) * 1.0)]:
        s = all_scores(y, p)
        assert s["spearman"] == pytest.approx(stats.spearmanr(y, p)[0], abs=1e-12)
        assert s["kendall"] == pytest.approx(stats.kendalltau(y, p)[0], abs=1e-12)
        assert s["mae"] == pytest.approx(np.abs(y - p).mean())
        assert s["r2"] == pytest.approx(r2_score(y, p))
    assert math.isnan(all_scores(np.arange(5.0), np.full(5, 0.5))["spearman"])
    assert math.isnan(all_scores(np.arange(5.0), np.full(5, 0.5))["kendall"])


def _data(n_groups: int = 12, per: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"g{i}" for i in range(n_groups)], per)
    y = rng.normal(size=n_groups * per)
    return y, groups, rng


def test_groups_never_straddle_folds_and_every_model_is_predicted_once():
    y, groups, rng = _data()
    X = rng.normal(size=(36, 2))
    preds, folds = out_of_fold_predictions(LinearRegression, X, y, groups, 4, 0, n_repeats=3)
    assert np.isfinite(preds).all() and (folds >= 0).all()
    for r in range(3):
        for g in np.unique(groups):
            assert len(set(folds[r, groups == g])) == 1  # a group sits in one test fold
    assert not np.array_equal(folds[0], folds[1])  # repeats reshuffle


def test_target_as_feature_scores_perfectly_noise_scores_like_constant():
    y, groups, rng = _data()

    def make() -> object:
        return build_regressor("linear", {"_target_": "sklearn.linear_model.LinearRegression"})

    perfect = evaluate_feature_set(
        y[:, None], y, groups, make, Protocol(n_splits=4, seed=0, n_repeats=2, n_bootstrap=200)
    )
    assert perfect.value["r2"] == pytest.approx(1.0) and perfect.value["spearman"] == pytest.approx(1.0)
    assert perfect.ci_low["kendall"] == pytest.approx(1.0)
    assert (perfect.n_used, perfect.n_dropped, perfect.n_folds) == (36, 0, 8)
    noise = evaluate_feature_set(
        rng.normal(size=(36, 3)), y, groups, make, Protocol(n_splits=4, seed=0, n_repeats=2, n_bootstrap=200)
    )
    const = evaluate_feature_set(None, y, groups, None, Protocol(n_splits=4, seed=0, n_repeats=2, n_bootstrap=200))
    assert noise.ci_low["r2"] <= const.value["r2"]  # no better than the constant within its interval
    assert noise.ci_low["spearman"] <= 0.0 <= noise.ci_high["spearman"]
    assert math.isnan(const.value["spearman"]) and const.value["r2"] <= 0.0


def test_bootstrap_interval_contains_value_and_is_deterministic():
    y, groups, rng = _data()
    X = y[:, None] + rng.normal(scale=1.0, size=(36, 1))
    a = evaluate_feature_set(X, y, groups, Ridge, Protocol(n_splits=4, seed=0, n_repeats=2, n_bootstrap=300))
    b = evaluate_feature_set(X, y, groups, Ridge, Protocol(n_splits=4, seed=0, n_repeats=2, n_bootstrap=300))
    assert a == b
    for m in ("r2", "mae", "spearman", "kendall"):
        assert a.ci_low[m] <= a.value[m] <= a.ci_high[m]
        assert a.fold_std[m] > 0


def test_non_finite_rows_are_dropped_and_counted():
    y, groups, rng = _data()
    X = rng.normal(size=(36, 2))
    X[0, 1] = np.nan
    y = y.copy()
    y[5] = np.inf
    ev = evaluate_feature_set(X, y, groups, Ridge, Protocol(n_splits=4, seed=0, n_bootstrap=10, n_repeats=1))
    assert (ev.n_used, ev.n_dropped) == (34, 2)


def test_too_few_groups_is_a_clear_error():
    y, groups, rng = _data(n_groups=3)
    with pytest.raises(ValueError, match=r"protocol\.n_splits=4 exceeds the 3 groups"):
        evaluate_feature_set(rng.normal(size=(9, 1)), y, groups, Ridge, Protocol(n_splits=4, seed=0, n_repeats=1))


def test_regressor_config_errors_are_clear():
    with pytest.raises(ValueError, match="no '_target_'"):
        build_regressor("ridge", {"alpha": 1.0})
    with pytest.raises(TypeError, match="not a scikit-learn regressor"):
        build_regressor("scaler", {"_target_": "sklearn.preprocessing.StandardScaler"})


def test_constant_features_report_no_ranking():
    y, groups, _ = _data()
    ev = evaluate_feature_set(
        np.ones((36, 2)), y, groups, Ridge, Protocol(n_splits=4, seed=0, n_bootstrap=50, n_repeats=1)
    )
    assert math.isnan(ev.value["spearman"]) and math.isnan(ev.value["kendall"]) and math.isfinite(ev.value["r2"])


def test_too_few_groups_after_dropping_is_an_unscored_row_not_a_crash():
    from benchmark.evaluation.protocol import TooFewGroupsError, unscored

    y, groups, rng = _data(n_groups=3)
    X = rng.normal(size=(9, 1))
    with pytest.raises(TooFewGroupsError):
        evaluate_feature_set(X, y, groups, Ridge, Protocol(n_splits=4, seed=0, n_repeats=1))
    X[0, 0] = np.nan
    ev = unscored(X, y)
    assert (ev.n_used, ev.n_dropped, ev.n_folds) == (8, 1, 0) and math.isnan(ev.value["r2"])


def test_a_stratum_whose_models_all_lack_the_feature_is_left_out_not_a_crash():
    """Leave-one-zoo-out with a descriptor undefined on one whole zoo (path_norm on BatchNorm
    convnets): the other strata are scored, the empty one takes no part."""
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(30), 2).astype(str)
    strata = np.repeat(["a", "b", "c"], 20)
    y = rng.normal(size=60)
    X = (y + 0.5 * rng.normal(size=60))[:, None]
    X[strata == "c"] = np.nan
    protocol = Protocol(name="loo", split="leave_one_out", axis="zoo", n_bootstrap=50)
    ev = evaluate_feature_set(X, y, groups, Ridge, protocol, strata=strata)
    assert ev.n_used == 40 and ev.n_dropped == 20
    assert np.isfinite([ev.value["spearman"], ev.value["regret"], ev.ci_low["spearman"]]).all()
