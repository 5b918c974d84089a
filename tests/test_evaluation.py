"""Scores, grouped cross-validation and the regressors built from config."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import Ridge
from sklearn.model_selection import GroupKFold

from benchmark.evaluation import build_regressor, evaluate_feature_set, fold_scores


def test_fold_scores_match_scipy_and_sklearn():
    rng = np.random.default_rng(0)
    y, p = rng.random(30), rng.random(30)
    s = fold_scores(y, p)
    assert s["spearman"] == pytest.approx(stats.spearmanr(y, p)[0])
    assert s["kendall"] == pytest.approx(stats.kendalltau(y, p)[0])
    assert s["mae"] == pytest.approx(np.abs(y - p).mean())
    assert s["r2"] == pytest.approx(1 - ((y - p) ** 2).sum() / ((y - y.mean()) ** 2).sum())
    assert np.isnan(fold_scores(y, np.full(30, 0.5))["spearman"])


def _data(n_groups: int = 12, per: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"g{i}" for i in range(n_groups)], per)
    y = rng.normal(size=n_groups * per)
    return y, groups, rng


def test_target_as_feature_scores_perfectly_noise_does_not():
    y, groups, rng = _data()
    make = lambda: build_regressor("ridge", {"_target_": "sklearn.linear_model.LinearRegression"})  # noqa: E731
    mean, _, n, dropped = evaluate_feature_set(y[:, None], y, groups, make, 4, 0)
    assert mean["r2"] == pytest.approx(1.0) and mean["spearman"] == pytest.approx(1.0) and n == 36 and dropped == 0
    noise_mean, _, _, _ = evaluate_feature_set(rng.normal(size=(36, 3)), y, groups, make, 4, 0)
    const_mean, const_std, _, _ = evaluate_feature_set(None, y, groups, None, 4, 0)
    assert noise_mean["r2"] <= const_mean["r2"] + 2 * const_std["r2"]


def test_groups_never_straddle_folds():
    y, groups, _ = _data()
    for train, test in GroupKFold(4, shuffle=True, random_state=0).split(y, y, groups):
        assert not set(groups[train]) & set(groups[test])


def test_non_finite_rows_are_dropped_and_counted():
    y, groups, rng = _data()
    X = rng.normal(size=(36, 2))
    X[0, 1] = np.nan
    y = y.copy()
    y[5] = np.inf
    _, _, n, dropped = evaluate_feature_set(X, y, groups, lambda: Ridge(), 4, 0)
    assert (n, dropped) == (34, 2)


def test_too_few_groups_is_a_clear_error():
    y, groups, rng = _data(n_groups=3)
    with pytest.raises(ValueError, match=r"protocol\.n_splits=4 exceeds the 3 groups"):
        evaluate_feature_set(rng.normal(size=(9, 1)), y, groups, lambda: Ridge(), 4, 0)


def test_regressor_config_errors_are_clear():
    with pytest.raises(ValueError, match="no '_target_'"):
        build_regressor("ridge", {"alpha": 1.0})
    with pytest.raises(TypeError, match="not a scikit-learn regressor"):
        build_regressor("scaler", {"_target_": "sklearn.preprocessing.StandardScaler"})
