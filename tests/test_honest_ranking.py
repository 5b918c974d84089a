"""Rows of one table compared with each other, the noise ceiling, and fits flagged as extrapolating
(docs/protocol.md: "Rank scores within test folds", "Which rows are tied", "Noise ceiling",
"Extrapolating fits")."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmark.evaluation import Protocol, evaluate_feature_set, resampled
from benchmark.evaluation.bootstrap import fold_mean_draws
from benchmark.evaluation.comparison import TIE_ALPHA, compare_rows, pairwise_comparisons
from benchmark.evaluation.diagrams import CommonScale
from benchmark.evaluation.measures import paired_difference
from benchmark.evaluation.metrics import spearman
from benchmark.evaluation.protocol import (
    CEILING,
    EXCURSION_LIMIT,
    NOISE_CEILING,
    SEED_MEAN,
    evaluate_ceiling,
    prediction_excursion,
    seed_means,
)
from benchmark.report.leaderboard import render_markdown

PROTOCOL = Protocol(n_bootstrap=300)
PROV = {
    "date": "d",
    "git_commit": "c",
    "python": "3",
    "packages": {},
    "overrides": [],
    "timings_s": {},
    "config": "x: 1",
}


def ridge():
    return make_pipeline(StandardScaler(), Ridge())


def zoo(n_configs: int = 12, seeds: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_configs), seeds).astype(str)
    y = rng.normal(size=n_configs)[np.repeat(np.arange(n_configs), seeds)] + 0.2 * rng.normal(size=len(groups))
    return y, groups, rng


def scored(name: str, X: np.ndarray | None, y: np.ndarray, groups: np.ndarray):
    ev = evaluate_feature_set(X, y, groups, ridge, PROTOCOL)
    return ev.row("z", "t", name, "landscape", "ridge" if X is not None else "mean", PROTOCOL.name)


# ----------------------------------------------------------------------------- rank scores within folds


def test_fold_mean_is_the_mean_of_per_fold_spearman() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=12)
    preds = rng.normal(size=(2, 12))
    folds = np.array([np.repeat([0, 1, 2], 4), np.tile([0, 1], 6)])
    expected = np.mean(
        [spearmanr(y[folds[r] == k], preds[r, folds[r] == k])[0] for r in range(2) for k in np.unique(folds[r])]
    )
    got = fold_mean_draws(resampled.spearman, y, preds, folds, np.ones((1, 12)))[0]
    assert got == pytest.approx(expected, abs=1e-12)


def test_a_perfect_feature_has_spearman_one_within_every_fold() -> None:
    y, groups, _ = zoo()
    ev = evaluate_feature_set(y[:, None], y, groups, ridge, PROTOCOL)
    assert ev.value["spearman"] == pytest.approx(1.0)
    assert ev.value["kendall"] == pytest.approx(1.0)


# ----------------------------------------------------------------------------- which rows are tied


def test_an_informative_feature_beats_noise_and_two_copies_are_tied() -> None:
    y, groups, rng = zoo(n_configs=16)
    signal = (y + 0.3 * rng.normal(size=len(y)))[:, None]
    noise = rng.normal(size=(len(y), 1))
    rows = [
        scored("constant", None, y, groups),
        scored("signal", signal, y, groups),
        scored("signal_copy", signal.copy(), y, groups),
        scored("noise", noise, y, groups),
    ]
    out = {r.feature_set: r for r in compare_rows(rows)}
    best = out["signal"] if out["signal"].value["r2"] >= out["signal_copy"].value["r2"] else out["signal_copy"]
    assert math.isnan(best.p_vs_best["r2"]) and best.tied_with_best["r2"] == 1.0
    copy = out["signal_copy"] if best is out["signal"] else out["signal"]
    assert copy.tied_with_best["r2"] == 1.0 and copy.p_vs_best["r2"] == pytest.approx(1.0)
    assert out["noise"].tied_with_best["r2"] == 0.0 and out["noise"].p_vs_best["r2"] < TIE_ALPHA
    assert out["noise"].tied_with_best["spearman"] == 0.0

    pairs = pairwise_comparisons(out.values())
    r2 = pairs[pairs["score"] == "r2"].set_index(["feature_set_a", "feature_set_b"])
    assert r2.loc[("signal", "signal_copy"), "p_value"] == pytest.approx(1.0)
    assert r2.loc[("signal", "noise"), "p_holm"] < TIE_ALPHA
    assert r2.loc[("signal", "noise"), "delta_median"] > 0  # a better than b: positive
    assert (r2["p_holm"] >= r2["p_value"] - 1e-12).all()  # Holm never lowers a p-value
    # the constant has no rank score: it is left out of the rank comparisons
    assert "constant" not in set(pairs.loc[pairs["score"] == "spearman", "feature_set_a"])


def test_two_sided_paired_p_value() -> None:
    from scipy.stats import norm

    a = np.linspace(0.0, 1.0, 99)
    assert paired_difference(a, a).p_value == 1.0
    assert paired_difference(a + 1.0, a).p_value == 0.0  # the same difference on every resample
    b = a + np.random.default_rng(0).normal(0.2, 0.5, size=len(a))
    delta = b - a
    z = delta.mean() / delta.std(ddof=1)
    assert paired_difference(b, a).p_value == pytest.approx(2 * norm.sf(abs(z)))
    assert paired_difference(a, b).p_value == pytest.approx(2 * norm.sf(abs(z)))  # two-sided: symmetric
    at = paired_difference(b, a, observed=0.5).p_value
    assert at == pytest.approx(2 * norm.sf(0.5 / delta.std(ddof=1)))
    lower = paired_difference(a + 1.0, a, greater_is_better=False)
    assert lower.delta_median == pytest.approx(-1.0)


# ----------------------------------------------------------------------------- noise ceiling


def test_seed_means_predict_each_model_by_its_other_seeds() -> None:
    y = np.array([1.0, 2.0, 6.0, 5.0, np.nan, 3.0, 7.0])
    groups = np.array(["a", "a", "a", "b", "b", "c", "d"])
    got = seed_means(y, groups)
    np.testing.assert_allclose(got[:3], [4.0, 3.5, 1.5])
    assert math.isnan(got[3])  # its only other seed has no target
    assert math.isnan(got[4]) and math.isnan(got[5]) and math.isnan(got[6])


def test_the_ceiling_row_and_each_rows_share_of_it() -> None:
    y, groups, rng = zoo(n_configs=16)
    ceiling = evaluate_ceiling(y, groups, PROTOCOL).row("z", "t", NOISE_CEILING, CEILING, SEED_MEAN, PROTOCOL.name)
    assert ceiling.n_models == len(y) and ceiling.value["r2"] > 0.5
    signal = scored("signal", (y + 0.5 * rng.normal(size=len(y)))[:, None], y, groups)
    out = {r.feature_set: r for r in compare_rows([signal, ceiling])}
    share = out["signal"].share_of_ceiling
    assert share["r2"] == pytest.approx(signal.value["r2"] / ceiling.value["r2"])
    assert share["spearman"] == pytest.approx(signal.value["spearman"] / ceiling.value["spearman"])
    assert math.isnan(out[NOISE_CEILING].tied_with_best["r2"])  # the ceiling is never a competitor
    md = render_markdown(pd.DataFrame([r.flat() for r in out.values()]), "t", PROV, "cmd")
    assert "Noise ceiling (48 models" in md
    assert f"| {NOISE_CEILING} |" not in md


def test_a_zoo_of_single_seeds_has_no_ceiling() -> None:
    y = np.arange(8.0)
    ev = evaluate_ceiling(y, np.arange(8).astype(str), PROTOCOL)
    assert math.isnan(ev.value["r2"]) and ev.n_used == 0
    row = ev.row("z", "t", NOISE_CEILING, CEILING, SEED_MEAN, PROTOCOL.name)
    assert "Noise ceiling: not defined" in render_markdown(pd.DataFrame([row.flat()]), "t", PROV, "cmd")


# ----------------------------------------------------------------------------- extrapolating fits


def test_prediction_excursion() -> None:
    y = np.array([0.0, 1.0, 2.0])
    assert prediction_excursion(y, np.array([[0.5, 1.5]])) == 0.0
    assert prediction_excursion(y, np.array([[-4.0, 2.0]])) == pytest.approx(2.0)
    assert prediction_excursion(np.ones(3), np.array([2.0])) == math.inf


def test_a_wildly_extrapolating_fit_is_flagged_on_the_leaderboard() -> None:
    y, groups, rng = zoo(n_configs=8)
    X = np.zeros((len(y), 1))
    X[0, 0] = 1e-13  # a training column of numerical noise ...
    X[groups == groups[-1], 0] = 1.0  # ... and a held-out group where it is large
    X += 1e-15 * rng.normal(size=X.shape)
    ev = evaluate_feature_set(X, y, groups, lambda: make_pipeline(StandardScaler(), LinearRegression()), PROTOCOL)
    assert ev.excursion > EXCURSION_LIMIT
    row = ev.row("z", "t", "noisy", "landscape", "ols", PROTOCOL.name)
    md = render_markdown(pd.DataFrame([row.flat()]), "t", PROV, "cmd")
    assert "noisy ⚠ extrapolates" in md and "its scores are not a finding" in md


def test_common_scale_keeps_a_pixel_of_gaussian_tails_negligible() -> None:
    train = np.array([[0.07, 0.0], [0.0, 2.6e-13], [0.05, 0.0], [0.0, 0.0]])
    held_out = np.array([[0.0, 2.4e-6]])
    z = CommonScale().fit(train).transform(held_out)
    assert np.abs(z).max() < 10  # a per-column standard scaler gives ~2e7 here
    assert np.abs(StandardScaler().fit(train).transform(held_out)).max() > 1e6


# ----------------------------------------------------------------------------- conditional value


def test_gain_over_a_given_set_is_what_the_feature_adds() -> None:
    from benchmark.evaluation.conditional import KIND, combined_name, with_gains

    y, groups, rng = zoo(n_configs=20)
    part = rng.normal(size=len(y))
    y = y + 2.0 * part  # the target = the configuration's effect + a part the baseline cannot see
    base = (y - 2.0 * part + 0.1 * rng.normal(size=len(y)))[:, None]  # the baseline sees the configuration
    new = (part + 0.1 * rng.normal(size=len(y)))[:, None]  # a feature that sees the other part
    copy = base + 1e-3 * rng.normal(size=base.shape)  # one that adds nothing to the baseline

    def row(name, kind, X):
        ev = evaluate_feature_set(X, y, groups, ridge, PROTOCOL)
        return ev.row("z", "t", name, kind, "ridge", PROTOCOL.name)

    rows = [
        row("new", "landscape", new),
        row("copy", "landscape", copy),
        row("baselines", KIND, base),
        row(combined_name("new", "baselines"), KIND, np.hstack([new, base])),
        row(combined_name("copy", "baselines"), KIND, np.hstack([copy, base])),
    ]
    out = {r.feature_set: r for r in with_gains(rows)}
    assert set(out) == {"new", "copy"}  # the extra rows never reach the leaderboard
    gain_new, gain_copy = out["new"].gain, out["copy"].gain
    assert gain_new["r2_gain_baselines"] > 0.3 and gain_new["r2_gain_baselines_p"] < 0.01
    assert gain_new["r2_gain_baselines_ci_low"] > 0
    assert abs(gain_copy["r2_gain_baselines"]) < 0.05 and gain_copy["r2_gain_baselines_p"] > 0.05
    assert math.isnan(gain_new["r2_gain_hyperparameters"])  # no such rows scored


def test_conditional_settings_are_checked() -> None:
    from benchmark.evaluation.conditional import conditional_problems

    assert conditional_problems({"conditional": {"baselines": ["param_count"], "hyperparameters": None}}) == []
    (problem,) = conditional_problems({"conditional": {"baseline": ["param_count"]}})
    assert "'baseline'" in problem and "baselines" in problem
    (problem,) = conditional_problems({"conditional": {"baselines": "param_count"}})
    assert "must be a list" in problem


def test_rank_scores_defined_in_few_folds_are_marked() -> None:
    y, groups, rng = zoo(n_configs=8)
    row = scored("signal", (y + 0.1 * rng.normal(size=len(y)))[:, None], y, groups)
    assert row.rank_folds == row.n_folds  # every fold of three seeds per configuration defines rho
    md = render_markdown(pd.DataFrame([row.flat()]), "t", PROV, "cmd")
    assert "†" not in md.split("| signal |")[1].splitlines()[0]
    few = dataclasses.replace(row, rank_folds=row.n_folds // 2 - 1)
    md = render_markdown(pd.DataFrame([few.flat()]), "t", PROV, "cmd")
    assert md.split("| signal |")[1].splitlines()[0].count("†") == 2  # Spearman and Kendall


def test_the_rank_ceiling_does_not_anticorrelate_sibling_seeds() -> None:
    y, groups, _ = zoo(n_configs=8, seeds=2)
    protocol = Protocol(n_splits=4, n_bootstrap=100)
    ev = evaluate_ceiling(y, groups, protocol)
    assert ev.value["spearman"] > 0.5  # two configurations per fold, ordered by their means
    # what leave-one-seed-out means would do inside one configuration: rank its two seeds backwards
    loo = seed_means(y, groups)
    assert spearman(y[groups == "0"], loo[groups == "0"]) == pytest.approx(-1.0)


def test_no_gain_is_reported_from_an_extrapolating_fit() -> None:
    from benchmark.evaluation.conditional import KIND, combined_name, with_gains

    y, groups, rng = zoo(n_configs=12)
    X = (y + 0.3 * rng.normal(size=len(y)))[:, None]

    def row(name, kind, excursion=0.0):
        ev = evaluate_feature_set(X, y, groups, ridge, PROTOCOL)
        return dataclasses.replace(ev.row("z", "t", name, kind, "ridge", PROTOCOL.name), excursion=excursion)

    rows = [row("f", "landscape"), row("baselines", KIND, 1e3), row(combined_name("f", "baselines"), KIND)]
    (out,) = with_gains(rows)
    assert math.isnan(out.gain["r2_gain_baselines"]) and math.isnan(out.gain["spearman_gain_baselines_p"])


def test_holm_gives_statsmodels_numbers_bit_for_bit():
    from statsmodels.stats.multitest import multipletests

    from benchmark.evaluation.comparison import holm

    rng = np.random.default_rng(0)
    for m in (1, 2, 7, 38, 200):
        p = rng.uniform(size=m) ** 3
        p[rng.integers(0, m, size=max(1, m // 5))] = 1.0  # undefined comparisons enter as 1
        p[: m // 3] = np.round(p[: m // 3], 2)  # ties
        assert np.array_equal(holm(p), multipletests(p, method="holm")[1])
    assert holm([]).shape == (0,)
