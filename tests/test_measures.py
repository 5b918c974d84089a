"""Scores of a measure against a target: checked against scipy/scikit-learn where they exist, against
hand computations written out below where they do not."""

from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import root_mean_squared_error

from benchmark.evaluation import resampled
from benchmark.evaluation.bootstrap import group_counts, pooled_draws
from benchmark.evaluation.measures import (
    conditional_mutual_information,
    granulated_kendall,
    model_selection_regret,
    paired_bootstrap_comparison,
    pgdl_score,
    precision_at_k,
    univariate_spearman,
)
from benchmark.evaluation.metrics import kendall_tau_a, rmse

# ----------------------------------------------------------------------------- RMSE, tau-a


def test_rmse_matches_sklearn_and_is_batched():
    rng = np.random.default_rng(0)
    y, p = rng.random((3, 20)), rng.random((3, 20))
    batched = rmse(y, p)
    assert batched.shape == (3,)
    for r in range(3):
        assert batched[r] == pytest.approx(root_mean_squared_error(y[r], p[r]), abs=1e-12)


def test_kendall_tau_a_equals_scipy_without_ties_and_counts_ties_as_zero():
    rng = np.random.default_rng(1)
    y, p = rng.random(15), rng.random(15)
    assert kendall_tau_a(y, p) == pytest.approx(stats.kendalltau(y, p)[0], abs=1e-12)
    # y = [1, 2, 3], p = [1, 1, 2]; pairs (0,1): sign(-1)*sign(0) = 0, (0,2): (-1)(-1) = 1, (1,2): (-1)(-1) = 1
    # tau-a = (0 + 1 + 1) / 3 pairs = 2/3   (tau-b would be 2 / sqrt(3 * 2) = 0.816)
    assert kendall_tau_a(np.array([1.0, 2, 3]), np.array([1.0, 1, 2])) == pytest.approx(2 / 3)
    assert kendall_tau_a(np.arange(4.0), np.zeros(4)) == 0.0
    assert math.isnan(kendall_tau_a(np.array([1.0]), np.array([2.0])))


# ----------------------------------------------------------------------------- granulated Kendall

# A 2 x 2 grid, one model per configuration:
#   model  w  lr  target  measure
#     0    1  a     1       10
#     1    2  a     2       20
#     2    1  b     3       40
#     3    2  b     4       30
GRID = pd.DataFrame({"w": [1, 2, 1, 2], "lr": ["a", "a", "b", "b"]})
TARGET = np.array([1.0, 2.0, 3.0, 4.0])
MEASURE = np.array([10.0, 20.0, 40.0, 30.0])


def test_granulated_kendall_hand_example():
    # axis w: groups by lr. lr=a: models 0,1: target up, measure up -> tau = +1.
    #                       lr=b: models 2,3: target up (3 -> 4), measure down (40 -> 30) -> tau = -1.
    #         psi_w = (+1 - 1) / 2 = 0
    # axis lr: groups by w. w=1: models 0,2: 1 -> 3 and 10 -> 40 -> +1; w=2: models 1,3: 2 -> 4 and 20 -> 30 -> +1.
    #         psi_lr = 1
    # Psi = (0 + 1) / 2 = 0.5   (the plain tau-a over all 6 pairs would be (5 - 1) / 6 = 2/3)
    gk = granulated_kendall(MEASURE, TARGET, GRID)
    assert gk.per_axis == pytest.approx({"w": 0.0, "lr": 1.0})
    assert gk.n_groups == {"w": 2, "lr": 2}
    assert gk.value == pytest.approx(0.5)
    assert kendall_tau_a(TARGET, MEASURE) == pytest.approx(2 / 3)


def test_granulated_kendall_holds_non_axis_columns_fixed():
    # The grid above trained twice (seed 0 and 1). Seed 1 has the measure of model 3 raised to 50, so along w,
    # lr=b, seed 1 is concordant. Groups per axis now also fix the seed:
    #   psi_w  = mean(+1 [lr=a,s0], -1 [lr=b,s0], +1 [lr=a,s1], +1 [lr=b,s1]) = 0.5
    #   psi_lr = mean(+1, +1, +1, +1) = 1 ;  Psi = 0.75. Seed is not scored as an axis.
    hp = pd.concat([GRID.assign(seed=0), GRID.assign(seed=1)], ignore_index=True)
    target = np.concatenate([TARGET, TARGET + 0.5])
    measure = np.concatenate([MEASURE, [10.0, 20.0, 40.0, 50.0]])
    gk = granulated_kendall(measure, target, hp, axes=["w", "lr"])
    assert gk.per_axis == pytest.approx({"w": 0.5, "lr": 1.0}) and gk.value == pytest.approx(0.75)
    assert gk.n_groups == {"w": 4, "lr": 4}
    with pytest.raises(ValueError, match=r"axes \['depth'\] are not hyperparameter columns; valid: \['w', 'lr'"):
        granulated_kendall(measure, target, hp, axes=["depth"])


def test_granulated_kendall_undefined_axis_is_nan_and_non_finite_models_are_dropped():
    # Models 0, 1, 2 of the grid: along w only lr=a varies (models 0,1: +1), along lr only w=1 (models 0,2: +1).
    # Model 3 has a NaN measure and is dropped. A third column 'd' changes together with lr, so no two models
    # differ in d alone: psi_d is NaN and Psi averages the defined axes.
    hp = GRID.assign(d=[0, 0, 1, 1])
    measure = MEASURE.copy()
    measure[3] = np.nan
    gk = granulated_kendall(measure, TARGET, hp)
    assert gk.per_axis["w"] == 1.0 and math.isnan(gk.per_axis["lr"]) and math.isnan(gk.per_axis["d"])
    assert gk.value == 1.0 and gk.n_groups == {"w": 1, "lr": 0, "d": 0}
    # a measure constant within every group ranks nothing: tau-a = 0 there (tau-b would be undefined)
    assert granulated_kendall(np.ones(4), TARGET, GRID).per_axis == {"w": 0.0, "lr": 0.0}


# ----------------------------------------------------------------------------- conditional mutual information


def test_conditional_mutual_information_hand_example():
    # target [1, 2, 3], measure [1, 3, 2], hyperparameter h = [a, a, b].
    # Ordered pairs (i, j) of distinct models, V_g = + if t_i > t_j, V_mu = + if m_i > m_j:
    #   (1,0): g+ m+   (2,0): g+ m+   (2,1): g+ m-   (0,1): g- m-   (0,2): g- m-   (1,2): g- m+
    # S = {}: counts (++, +-, -+, --) = (2, 1, 1, 2) of 6; both marginals (1/2, 1/2), H(V_g) = 1 bit.
    #   I = 2 * 1/3 log2((1/3)/(1/4)) + 2 * 1/6 log2((1/6)/(1/4)) = 2/3 log2(4/3) + 1/3 log2(2/3) = 0.0817 bit
    # S = {h}: cells U = (h_i, h_j), each with 2 of the 6 pairs:
    #   (a,a): (1,0) g+ m+, (0,1) g- m-  -> I = 1 bit, H = 1 bit
    #   (b,a): (2,0) g+ m+, (2,1) g+ m-  -> g always +: I = 0, H = 0
    #   (a,b): (0,2) g- m-, (1,2) g- m+  -> I = 0, H = 0
    #   I(.|U) = 1/3 * 1 = 1/3, H(V_g|U) = 1/3  -> normalized 1
    # K = min(0.0817, 1) = 0.0817, reached without conditioning.
    unconditioned = 2 / 3 * math.log2(4 / 3) + 1 / 3 * math.log2(2 / 3)
    cmi = conditional_mutual_information([1.0, 3, 2], [1.0, 2, 3], {"h": ["a", "a", "b"]})
    assert cmi.per_set == pytest.approx({(): unconditioned, ("h",): 1.0})
    assert cmi.value == pytest.approx(unconditioned) and cmi.argmin == ()
    assert cmi.value == pytest.approx(0.0817, abs=1e-4)
    only_h = conditional_mutual_information([1.0, 3, 2], [1.0, 2, 3], {"h": ["a", "a", "b"]}, max_size=1)
    assert only_h.per_set.keys() == {(), ("h",)}


def test_pgdl_score_hand_example():
    # Two hyperparameters h1 in {a, b}, h2 in {x, y}: four configurations c0..c3, two seeds each (8 models).
    # Targets sit in bands per configuration (c0: 0, 1; c1: 10, 11; c2: 20, 21; c3: 30, 31), so every cell
    # (h1_i, h1_j, h2_i, h2_j) = (c_i, c_j) with c_i != c_j has one gap sign: I_c = 0, H_c = 0. There are
    # 16 cells; the 4 with c_i = c_j hold 4 pairs: 2 self-pairs (g- m-), (s1, s0) g+ and (s0, s1) g-.
    #   concordant (measure up with the seed, c0 and c1): counts ++ 1, -- 3; g and m marginals (1/4, 3/4)
    #       I = H = -(1/4 log2 1/4 + 3/4 log2 3/4) = 0.8113
    #   discordant (c2 and c3): (s1,s0) g+ m-, (s0,s1) g- m+, self g- m- x2; marginals (1/4, 3/4) both
    #       I = 2 * 1/4 log2((1/4)/(3/16)) + 1/2 log2((1/2)/(9/16)) = 1/2 log2(32/27) = 0.1226,  H = 0.8113
    # score = mean_c I_c / mean_c H_c = (2 * 0.8113 + 2 * 0.1226) / (4 * 0.8113) = 0.5755
    h = -(0.25 * math.log2(0.25) + 0.75 * math.log2(0.75))
    i_disc = 0.5 * math.log2(32 / 27)
    configs = [("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")]
    hp = pd.DataFrame([c for c in configs for _ in range(2)], columns=["h1", "h2"])
    target = np.array([0, 1, 10, 11, 20, 21, 30, 31], dtype=float)
    measure = np.array([0, 1, 0, 1, 1, 0, 1, 0], dtype=float)
    score = pgdl_score(measure, target, hp)
    assert score.value == pytest.approx((2 * h + 2 * i_disc) / (4 * h)) and score.argmin == ("h1", "h2")
    assert score.value == pytest.approx(0.5755, abs=1e-4)
    assert math.isnan(pgdl_score(measure, target, hp[["h1"]]).value)  # needs two varying hyperparameters


def _brute_force_cmi(measure, target, hp: pd.DataFrame, subset, self_pairs: bool, uniform: bool) -> float:
    """The definition, one pair at a time: 2 x 2 tables per cell of conditioning values, in bits."""
    tables: dict[tuple, list[list[int]]] = defaultdict(lambda: [[0, 0], [0, 0]])
    rows = hp.to_dict("records")
    for i, j in itertools.product(range(len(target)), repeat=2):
        if i == j and not self_pairs:
            continue
        cell = tuple((rows[i][h], rows[j][h]) for h in subset)
        tables[cell][int(target[i] > target[j])][int(measure[i] > measure[j])] += 1
    total = sum(sum(map(sum, t)) for t in tables.values())
    weighted_mi, weighted_h = 0.0, 0.0
    for t in tables.values():
        n = sum(map(sum, t))
        w = 1 / len(tables) if uniform else n / total
        pg = [sum(t[a]) / n for a in range(2)]
        pm = [(t[0][b] + t[1][b]) / n for b in range(2)]
        for a, b in itertools.product(range(2), repeat=2):
            if t[a][b]:
                weighted_mi += w * t[a][b] / n * math.log2(t[a][b] / n / (pg[a] * pm[b]))
        weighted_h -= w * sum(p * math.log2(p) for p in pg if p > 0)
    return weighted_mi / weighted_h if weighted_h > 0 else math.nan


def test_cmi_and_pgdl_score_match_the_definition_pair_by_pair_on_a_grid():
    rng = np.random.default_rng(3)
    grid = list(itertools.product([16, 32, 64], [1e-3, 1e-2], ["sgd", "adam"]))
    hp = pd.DataFrame(grid, columns=["width", "lr", "opt"])
    target = rng.normal(size=len(hp)) + 0.3 * np.log(hp["width"].to_numpy())
    measure = target + rng.normal(scale=0.8, size=len(hp))
    sets = [s for k in range(3) for s in itertools.combinations(["width", "lr", "opt"], k)]
    # the full grid (cells of equal size), then a sampled one (unequal cells: the two weightings differ)
    for keep in (np.arange(len(hp)), np.array([0, 2, 3, 5, 6, 8, 9, 10])):
        m, t, h = measure[keep], target[keep], hp.iloc[keep].reset_index(drop=True)
        cmi, pgdl = conditional_mutual_information(m, t, h), pgdl_score(m, t, h)
        assert list(cmi.per_set) == sets
        for s in sets:
            assert cmi.per_set[s] == pytest.approx(_brute_force_cmi(m, t, h, s, False, False), abs=1e-12)
        for s in [s for s in sets if len(s) == 2]:
            assert pgdl.per_set[s] == pytest.approx(_brute_force_cmi(m, t, h, s, True, True), abs=1e-12)
        assert cmi.value == min(cmi.per_set.values()) and pgdl.value == min(pgdl.per_set.values())


def test_cmi_is_one_for_a_perfect_measure_and_zero_for_a_constant():
    rng = np.random.default_rng(4)
    hp = pd.DataFrame(list(itertools.product([1, 2, 3], ["a", "b"], [0.1, 0.2])), columns=["w", "o", "lr"])
    target = rng.normal(size=len(hp))
    for fn in (conditional_mutual_information, pgdl_score):
        assert fn(target, target, hp).value == pytest.approx(1.0)
        assert fn(np.zeros(len(hp)), target, hp).value == pytest.approx(0.0, abs=1e-12)
    assert conditional_mutual_information(-target, target, hp).value == pytest.approx(1.0)  # blind to direction
    # PGDL's self-pairs (always -gap, -measure) agree with an increasing measure only: a perfectly decreasing one
    # scores below 1 (as the discordant cells of the hand example above)
    assert pgdl_score(-target, target, hp).value < 0.9
    # a measure that is a function of w alone: informative without conditioning, 0 once S holds w
    tracks_w = hp["w"].to_numpy() * 1.0
    target_with_w = target + 2 * tracks_w
    cmi = conditional_mutual_information(tracks_w, target_with_w, hp)
    assert cmi.per_set[()] > 0.1 and cmi.per_set[("w",)] == pytest.approx(0.0, abs=1e-12) and cmi.value < 1e-12


def test_blocks_keep_only_pairs_within_a_block():
    # target [1, 2, 3, 4], blocks [0, 0, 1, 1] (e.g. two test folds); pairs within blocks: (0,1), (1,0), (2,3), (3,2).
    # measure [1, 2, 4, 3]: (1,0) g+ m+, (0,1) g- m-, (3,2) g+ m-, (2,3) g- m+: counts 1 each, I = 0 -> K = 0
    # (over all 12 pairs the measure is mostly concordant and K > 0). measure [1, 2, 3, 4]: all concordant -> K = 1.
    hp = {"h": ["a"] * 4}  # constant: only the empty conditioning set
    target, blocks = [1.0, 2, 3, 4], np.array([0, 0, 1, 1])
    assert conditional_mutual_information([1.0, 2, 4, 3], target, hp, blocks=blocks).value == pytest.approx(0.0)
    assert conditional_mutual_information([1.0, 2, 4, 3], target, hp).value > 0.2
    assert conditional_mutual_information([1.0, 2, 3, 4], target, hp, blocks=blocks).value == pytest.approx(1.0)
    with pytest.raises(ValueError, match="blocks must be one label per model"):
        pgdl_score([1.0, 2, 3, 4], target, hp, blocks=np.array([0, 1]))


# ----------------------------------------------------------------------------- model selection


def test_regret_hand_examples_both_directions_ties_and_batches():
    acc = np.array([0.90, 0.80, 0.95, 0.70])
    # pred ranks model 1 first (0.90): it scores 0.80, the best model scores 0.95 -> regret 0.15
    assert model_selection_regret(np.array([0.85, 0.90, 0.88, 0.60]), acc) == pytest.approx(0.15)
    err = np.array([0.10, 0.20, 0.05, 0.30])
    # lower is better: pred picks model 1 (0.08) with error 0.20; the best error is 0.05 -> regret 0.15
    assert model_selection_regret(np.array([0.12, 0.08, 0.09, 0.30]), err, greater_is_better=False) == pytest.approx(
        0.15
    )
    # a constant predictor picks every model with probability 1/4: 0.95 - mean(acc) = 0.95 - 0.8375 = 0.1125
    assert model_selection_regret(np.full(4, 0.5), acc) == pytest.approx(0.1125)
    batch = model_selection_regret(np.stack([acc, np.full(4, 0.5)]), acc)
    assert batch.shape == (2,) and batch == pytest.approx([0.0, 0.1125])


def test_precision_at_k_hand_examples():
    target = np.array([5.0, 4, 3, 2, 1])  # true top-2 = {0, 1}, top-3 = {0, 1, 2}
    pred = np.array([5.0, 3, 4, 1, 2])  # predicted top-2 = {0, 2}, top-3 = {0, 2, 1}
    assert precision_at_k(pred, target, 2) == pytest.approx(1 / 2)  # |{0}| / 2
    assert precision_at_k(pred, target, 3) == pytest.approx(1.0)
    # lower is better: the same as negating both
    assert precision_at_k(-pred, -target, 2, greater_is_better=False) == pytest.approx(1 / 2)
    # pred [1, 1, 1, 0, 0]: three models tied for 2 places, each in with probability 2/3;
    # true top-2 = {0, 1}: expected overlap 2/3 + 2/3 = 4/3, precision (4/3) / 2 = 2/3
    assert precision_at_k(np.array([1.0, 1, 1, 0, 0]), target, 2) == pytest.approx(2 / 3)
    assert precision_at_k(np.zeros(5), target, 2) == pytest.approx(2 / 5)  # a constant scores chance, k / n
    assert precision_at_k(np.stack([target, pred]), target, 2) == pytest.approx([1.0, 0.5])
    with pytest.raises(ValueError, match="1 <= k <= n models; got k=6 with n=5"):
        precision_at_k(pred, target, 6)


def test_top_k_membership_equals_the_pairwise_definition_with_ties():
    # P(model i in the top k, ties broken at random) = clip((k - #{v > v_i}) / #{v == v_i}, 0, 1)
    from benchmark.evaluation.measures import _top_k_membership

    v = np.random.default_rng(3).integers(0, 4, size=(200, 9)).astype(float)
    greater = (v[..., None, :] > v[..., :, None]).sum(axis=-1)
    equal = (v[..., None, :] == v[..., :, None]).sum(axis=-1)
    for k in (1, 3, 9):
        membership = _top_k_membership(v, k)
        np.testing.assert_allclose(membership, np.clip((k - greater) / equal, 0.0, 1.0))
        np.testing.assert_allclose(membership.sum(axis=-1), k)


# ----------------------------------------------------------------------------- paired comparison


def test_paired_comparison_hand_example():
    candidate = np.array([0.50, 0.60, 0.40, 0.70])
    baselines = np.array([[0.45, 0.65, 0.30, 0.60], [0.55, 0.50, 0.35, 0.80]])
    # best baseline per resample: [0.55, 0.65, 0.35, 0.80]; delta = [-0.05, -0.05, +0.05, -0.10]
    # win rate 1/4; p = (1 + #{delta <= 0}) / (1 + 4) = (1 + 3) / 5 = 0.8; median delta -0.05
    c = paired_bootstrap_comparison(candidate, baselines)
    assert (c.win_rate, c.p_value, c.n_resamples) == pytest.approx((0.25, 0.8, 4))
    assert c.delta_median == pytest.approx(-0.05)
    # lower is better (an error): the best baseline is the smallest, [0.45, 0.50, 0.30, 0.60];
    # delta = best - candidate = [-0.05, -0.10, -0.10, -0.10] -> never wins, p = (1 + 4) / 5 = 1
    low = paired_bootstrap_comparison(candidate, baselines, greater_is_better=False)
    assert (low.win_rate, low.p_value) == pytest.approx((0.0, 1.0))
    assert low.delta_median == pytest.approx(-0.10)
    # a NaN candidate resample is left out; one NaN baseline leaves the other as the best
    nan_case = paired_bootstrap_comparison(np.array([0.5, np.nan]), np.array([[np.nan, 0.1], [0.4, 0.2]]))
    assert nan_case.n_resamples == 1 and nan_case.win_rate == 1.0 and nan_case.p_value == pytest.approx(0.5)
    with pytest.raises(ValueError, match=r"candidate \(B,\) and baselines \(m, B\)"):
        paired_bootstrap_comparison(candidate, baselines[:, :3])


def test_paired_comparison_on_aligned_group_resamples_separates_signal_from_noise():
    rng = np.random.default_rng(5)
    groups = np.repeat(np.arange(15), 3)
    y = rng.normal(size=45)
    informative = (y + 0.5 * rng.normal(size=45))[None, :]  # (repeats=1, n) like out-of-fold predictions
    noise = rng.normal(size=(1, 45))
    counts = group_counts(groups, 400, seed=0)
    a, b = pooled_draws(resampled.r2, y, informative, counts), pooled_draws(resampled.r2, y, noise, counts)
    better = paired_bootstrap_comparison(a, b)
    assert better.win_rate > 0.95 and better.p_value < 0.05 and better.delta_ci_low > 0
    worse = paired_bootstrap_comparison(b, a)
    assert worse.win_rate < 0.05 and worse.p_value > 0.95


def test_group_counts_draw_whole_groups_and_stay_paired_when_columns_are_dropped():
    groups = np.array(["a", "a", "b", "b", "c", "c"])
    counts = group_counts(groups, 50, seed=1)
    assert counts.shape == (50, 6) and (counts.sum(axis=1) == 6).all()  # three groups of two drawn
    np.testing.assert_array_equal(counts[:, 0::2], counts[:, 1::2])  # both models of a group, always
    np.testing.assert_array_equal(counts, group_counts(groups, 50, seed=1))
    keep = np.array([True, False, True, True, False, False])  # a feature set that lost models 1, 4 and 5
    np.testing.assert_array_equal(counts[:, keep], counts[:, [0, 2, 3]])  # the same draws, restricted
    # a resample left with fewer than two copies has no score
    y, p = np.arange(3.0), np.arange(3.0)[None, :]
    draws = pooled_draws(resampled.rmse, y, p, np.array([[0.0, 0, 0], [0, 1, 0], [1, 1, 1]]))
    assert np.isnan(draws[:2]).all() and draws[2] == 0.0


# ----------------------------------------------------------------------------- univariate view


def test_univariate_spearman_matches_scipy_with_group_intervals():
    rng = np.random.default_rng(6)
    groups = np.repeat(np.arange(12), 3)
    y = rng.normal(size=36)
    feats = pd.DataFrame({"a__good": y + 0.3 * rng.normal(size=36), "b__noise": rng.normal(size=36)})
    feats["c__const"] = 1.0
    feats.loc[0, "b__noise"] = np.nan
    table = univariate_spearman(feats, y, groups, n_boot=300, seed=0)
    assert list(table["feature"]) == ["a__good", "b__noise", "c__const"]
    good, noise, const = (table.iloc[k] for k in range(3))
    assert good["spearman"] == pytest.approx(stats.spearmanr(y, feats["a__good"])[0], abs=1e-12)
    assert noise["spearman"] == pytest.approx(stats.spearmanr(y[1:], feats["b__noise"][1:])[0], abs=1e-12)
    assert (noise["n_used"], noise["n_dropped"]) == (35, 1)
    assert good["ci_low"] <= good["spearman"] <= good["ci_high"] and good["ci_low"] > 0.5
    assert noise["ci_low"] < 0 < noise["ci_high"]
    assert math.isnan(const["spearman"]) and math.isnan(const["ci_low"])
    pd.testing.assert_frame_equal(table, univariate_spearman(feats, y, groups, n_boot=300, seed=0))
