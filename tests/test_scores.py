"""The scores wired into the leaderboard: target directions, splits, the constant's chance values,
paired comparisons with the baselines, the hyperparameter table, rendering and the univariate view."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, Ridge

from benchmark import pipeline
from benchmark.evaluation import Protocol, compare_with_baselines, design, evaluate_feature_set, resampled
from benchmark.evaluation.bootstrap import group_counts, pooled_draws
from benchmark.evaluation.comparison import baselines_of
from benchmark.evaluation.measures import paired_bootstrap_comparison
from benchmark.evaluation.protocol import ALL_METRICS, BOOTSTRAP_METRICS, PAIR_METRICS
from benchmark.evaluation.univariate import univariate_frame
from benchmark.records import COMPARED_METRICS, SCORE_METRICS, ScoreRow
from benchmark.report.leaderboard import HEADERS, render_markdown, write_univariate
from benchmark.zoo import TASKS

from .conftest import compose_plain


def test_every_task_says_which_way_each_target_is_better():
    for name in TASKS.names():
        task = TASKS.get(name)
        assert set(task.greater_is_better) == set(task.targets), name
    assert TASKS.get("classification").greater_is_better["test_accuracy"] is True
    assert TASKS.get("classification").greater_is_better["generalization_gap"] is False
    assert TASKS.get("pinn_convection").greater_is_better["rel_l2_error"] is False


def test_records_and_evaluation_name_the_same_scores():
    assert set(SCORE_METRICS) == set(ALL_METRICS) == set(HEADERS)
    assert set(COMPARED_METRICS) == set(BOOTSTRAP_METRICS)
    for m in SCORE_METRICS:
        assert HEADERS[m].endswith(("↑", "↓"))


def _zoo(n_groups: int = 12, per: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"g{i}" for i in range(n_groups)], per)
    hp = pd.DataFrame(
        {
            "arch": np.repeat(["a", "b"], n_groups // 2 * per),
            "width": np.repeat(np.tile([1, 2, 3], n_groups // 3), per),
            "lr": np.repeat(np.tile([0.1, 0.1, 0.1, 0.2, 0.2, 0.2], n_groups // 6), per),
            "seed": np.tile(np.arange(per), n_groups),
        }
    )
    y = rng.normal(size=n_groups)[np.repeat(np.arange(n_groups), per)] + 0.1 * rng.normal(size=n_groups * per)
    return y, groups, hp, rng


def test_constant_takes_chance_selection_scores_and_no_rank_or_pair_scores():
    y, groups, hp, _ = _zoo()
    ev = evaluate_feature_set(
        None, y, groups, None, Protocol(n_splits=4, seed=0, n_repeats=2, n_bootstrap=200, top_k=3), hparams=hp
    )
    # a constant chooses every model with equal probability: regret = best - mean; precision@3 = 3 / 36
    assert ev.value["regret"] == pytest.approx(y.max() - y.mean())
    assert ev.value["precision_at_k"] == pytest.approx(3 / 36)
    smaller = evaluate_feature_set(
        None, y, groups, None, Protocol(n_splits=4, seed=0, n_repeats=2, n_bootstrap=200), greater_is_better=False
    )
    assert smaller.value["regret"] == pytest.approx(y.mean() - y.min())
    for m in ("spearman", "kendall", *PAIR_METRICS):
        assert math.isnan(ev.value[m]) and math.isnan(ev.ci_low[m]) and np.isnan(ev.draws.get(m, np.nan)).all()
    assert ev.ci_low["regret"] <= ev.value["regret"] <= ev.ci_high["regret"]


def test_bootstrap_draws_are_shared_by_feature_sets_that_drop_different_models():
    y, groups, _, rng = _zoo()
    X = rng.normal(size=(36, 2))
    X[4, 0] = np.nan  # this feature set loses model 4
    ev = evaluate_feature_set(X, y, groups, Ridge, Protocol(n_splits=4, seed=0, n_repeats=2, n_bootstrap=100))
    keep = np.isfinite(X).all(axis=1)
    counts = group_counts(groups, 100, 0)[:, keep]  # drawn over every model, then restricted
    from benchmark.evaluation.bootstrap import inflated, refit_inflation
    from benchmark.evaluation.protocol import out_of_fold_predictions

    preds, folds = out_of_fold_predictions(Ridge, X[keep], y[keep], groups[keep], 4, 0, 2)
    widened = inflated(
        pooled_draws(resampled.mae, y[keep], preds, counts), refit_inflation(folds, np.zeros(keep.sum()))
    )
    np.testing.assert_allclose(ev.draws["mae"], widened)
    assert ev.ci_low["mae"] == pytest.approx(np.quantile(ev.draws["mae"], 0.025))


def test_within_split_averages_group_kfold_inside_each_stratum():
    y, groups, hp, rng = _zoo()
    X = y[:, None] + rng.normal(scale=0.5, size=(36, 1))
    strata = hp["arch"].to_numpy()
    within = evaluate_feature_set(
        X, y, groups, Ridge, Protocol(n_splits=3, seed=0, n_repeats=2, n_bootstrap=50, split="within"), strata=strata
    )
    parts = [
        evaluate_feature_set(
            X[strata == s],
            y[strata == s],
            groups[strata == s],
            Ridge,
            Protocol(n_splits=3, seed=0, n_repeats=2, n_bootstrap=50),
        )
        for s in ("a", "b")
    ]
    for m in ("r2", "mae", "rmse", "spearman", "kendall", "regret", "precision_at_k"):
        assert within.value[m] == pytest.approx(np.mean([p.value[m] for p in parts])), m
    assert within.n_folds == 2 * 3 * 2  # strata x folds x repeats
    one = evaluate_feature_set(
        X,
        y,
        groups,
        Ridge,
        Protocol(n_splits=3, seed=0, n_repeats=2, n_bootstrap=50, split="within"),
        strata=["mlp"] * 36,
    )
    assert one == evaluate_feature_set(
        X, y, groups, Ridge, Protocol(n_splits=3, seed=0, n_repeats=2, n_bootstrap=50)
    )  # one stratum: group K-fold


def test_leave_one_out_predicts_each_stratum_from_the_others():
    y, groups, hp, rng = _zoo()
    X = rng.normal(size=(36, 2))
    strata = hp["arch"].to_numpy()
    ev = evaluate_feature_set(
        X,
        y,
        groups,
        LinearRegression,
        Protocol(n_splits=4, seed=0, n_repeats=3, n_bootstrap=50, split="leave_one_out"),
        strata=strata,
    )
    r2 = []
    for s in ("a", "b"):
        test = strata == s
        p = LinearRegression().fit(X[~test], y[~test]).predict(X[test])
        r2.append(1 - ((y[test] - p) ** 2).sum() / ((y[test] - y[test].mean()) ** 2).sum())
    assert ev.value["r2"] == pytest.approx(np.mean(r2)) and ev.n_folds == 2  # one fold per held-out value
    with pytest.raises(ValueError, match=r"span several values of protocol\.axis"):
        evaluate_feature_set(
            X, y, groups, Ridge, Protocol(n_splits=4, seed=0, split="within", n_repeats=1), strata=hp["seed"].to_numpy()
        )
    with pytest.raises(ValueError, match=r"protocol.split='nope' is unknown"):
        evaluate_feature_set(X, y, groups, Ridge, Protocol(n_splits=4, seed=0, split="nope", n_repeats=1))


def _row(fs: str, kind: str, reg: str, draws: dict[str, np.ndarray]) -> ScoreRow:
    nan = dict.fromkeys(SCORE_METRICS, math.nan)
    return ScoreRow("z", "t", fs, kind, reg, "p", 10, 0, 4, nan, nan, nan, nan, draws=draws)


def test_each_row_is_compared_with_the_best_baseline_of_its_regressor_and_the_constant():
    rng = np.random.default_rng(0)
    d = {name: {"r2": rng.normal(size=50), "mae": rng.random(50)} for name in ("c", "pr", "pf", "tr", "hr")}
    rows = [
        _row("constant", "baseline", "mean", d["c"]),
        _row("param_count", "baseline", "ridge", d["pr"]),
        _row("param_count", "baseline", "random_forest", d["pf"]),
        _row("merge_tree", "topology", "ridge", d["tr"]),
        _row("hyperparameters", "reference", "ridge", d["hr"]),
    ]
    assert [b.feature_set for b in baselines_of(rows[3], rows)] == ["constant", "param_count"]
    assert [(b.feature_set, b.regressor) for b in baselines_of(rows[1], rows)] == [("constant", "mean")]
    assert baselines_of(rows[0], rows) == []
    out = compare_with_baselines(rows)
    expected = paired_bootstrap_comparison(d["tr"]["mae"], np.stack([d["c"]["mae"], d["pr"]["mae"]]), False)
    assert out[3].win_rate["mae"] == expected.win_rate and out[3].p_vs_baseline["mae"] == expected.p_value
    assert math.isnan(out[0].win_rate["r2"]) and math.isnan(out[3].win_rate["spearman"])  # no draws: no comparison
    assert out[3].flat()["mae_p_vs_baseline"] == expected.p_value


def test_hparam_table_keeps_varying_columns_in_name_order(tiny_record):
    a = dataclasses.replace(tiny_record, hparams={"width": 6, "lr": 0.01, "seed": 0, "act": "tanh"}, seed=0)
    b = dataclasses.replace(tiny_record, hparams={"lr": 0.02, "seed": 1, "width": 8, "act": "tanh"}, seed=1)
    c = dataclasses.replace(tiny_record, hparams={"lr": 0.02, "seed": 0, "width": 8, "act": "tanh"}, seed=0)
    table = design.hparam_table([a, b, c])
    # act does not vary; width splits the models as lr does, so only lr (first by name) is kept
    assert list(table.columns) == ["lr", "seed"] and table["seed"].tolist() == [0, 1, 0]
    assert table.equals(design.hparam_table([a, b, c]))
    timm = dataclasses.replace(tiny_record, architecture={"name": "timm", "model_name": "resnet18"})
    assert design.architecture_label(timm) == "timm/resnet18"
    assert design.architecture_label(tiny_record) == "mlp"


def test_protocol_configuration_errors_name_the_fix():
    with pytest.raises(pipeline.ConfigError, match=r"protocol.split='nope' is unknown"):
        design.check_protocol({"split": "nope"})
    with pytest.raises(pipeline.ConfigError, match=r"protocol.top_k=0 must be an integer >= 1"):
        design.check_protocol({"split": "group_kfold", "top_k": 0})
    with pytest.raises(pipeline.ConfigError, match=r"needs protocol.axis"):
        design.check_protocol({"split": "within"})


@pytest.fixture(scope="module")
def tiny_home(tmp_path_factory):
    return tmp_path_factory.mktemp("scores")


FAST = ["experiment=tiny", "descriptors=[weight_norm,param_count]", "regressor=[ridge]"]


@pytest.mark.parametrize(
    ("overrides", "name", "folds"),
    [
        ([], "group_kfold", 2),  # tiny: 2 splits, 1 repeat
        (["protocol=within_architecture", "protocol.axis=label_noise", "protocol.top_k=1"], "within_label_noise", 4),
        (["protocol=leave_one_architecture_out", "protocol.axis=width"], "leave_one_width_out", 2),
    ],
)
def test_pipeline_scores_every_protocol(tiny_home, overrides, name, folds):
    result = pipeline.run(compose_plain([*FAST, *overrides], tiny_home))
    frame = result.scores_frame()
    assert set(frame["protocol"]) == {name} and set(frame["n_folds"]) == {folds}
    assert {f"{m}_value" for m in SCORE_METRICS} <= set(frame.columns)
    assert {f"{m}_p_vs_baseline" for m in COMPARED_METRICS} <= set(frame.columns)
    weight_norm = frame[frame["feature_set"] == "weight_norm"]
    assert weight_norm["r2_p_vs_baseline"].notna().all() and weight_norm["regret_value"].notna().all()
    assert frame.loc[frame["feature_set"] == "constant", "r2_win_rate"].isna().all()


def test_leave_one_out_over_a_single_value_is_a_configuration_error(tiny_home):
    cfg = compose_plain([*FAST, "protocol=leave_one_architecture_out"], tiny_home)
    with pytest.raises(pipeline.ConfigError, match=r"needs two or more values of 'architecture'.*protocol.axis=<one"):
        pipeline.run(cfg)
    bad = compose_plain([*FAST, "protocol=within_architecture", "protocol.axis=seed"], tiny_home)
    with pytest.raises(pipeline.ConfigError, match=r"protocol.axis='seed' is not a hyperparameter"):
        pipeline.run(bad)


def test_markdown_marks_directions_and_renders_scores_written_before_new_scores():
    frame = pd.DataFrame(
        [
            {
                "zoo": "z",
                "target": "t",
                "feature_set": "fs",
                "kind": "topology",
                "regressor": "ridge",
                "protocol": "group_kfold",
                "n_models": 10,
                "n_dropped": 0,
                "n_folds": 4,
                **{
                    f"{m}_{s}": 0.5
                    for m in ("r2", "mae", "spearman", "kendall")
                    for s in ("value", "ci_low", "ci_high")
                },
                "mae_fold_std": 0.1,
            }
        ]
    )
    prov = {
        "date": "d",
        "git_commit": "c",
        "python": "3",
        "packages": {},
        "overrides": [],
        "timings_s": {},
        "config": "",
    }
    text = render_markdown(frame, "old", prov, "cmd")
    assert "## z: t (group_kfold)" in text
    for header in HEADERS.values():
        assert header in text
    assert "| 0.500 [0.500, 0.500] |" in text and "R2 vs baselines (win ↑, p ↓)" in text


def test_univariate_view_sorts_by_strength_and_writes_both_files(tmp_path):
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(10), 3)
    y = rng.normal(size=30)
    feats = pd.DataFrame({"a__noise": rng.normal(size=30), "b__good": -y + 0.1 * rng.normal(size=30)})
    frame = univariate_frame(feats, {"acc": y, "gap": -y}, groups, 200, 0.95, 0)
    assert frame["target"].tolist() == ["acc", "acc", "gap", "gap"]
    assert frame["feature"].tolist()[:2] == ["b__good", "a__noise"] and frame["spearman"].iloc[0] < -0.9
    prov = {"date": "d", "git_commit": "c"}
    md, csv = write_univariate(frame, tmp_path, "x", prov, "cmd")
    assert md.name == "x.univariate.md" and "| b__good | -0.9" in md.read_text()
    pd.testing.assert_frame_equal(pd.read_csv(csv), frame)


def test_protocol_defaults_are_those_of_the_group_kfold_file():
    """One declaration of the protocol's defaults: the ``Protocol`` value equals
    conf/protocol/group_kfold.yaml, so a protocol file or a caller names only what it changes."""
    import yaml

    from benchmark.cli import conf_dir

    node = yaml.safe_load((conf_dir() / "protocol" / "group_kfold.yaml").read_text())
    assert Protocol.from_config(node) == Protocol()
    with pytest.raises(ValueError, match=r"protocol settings \['n_split'\] are unknown"):
        Protocol.from_config({**node, "n_split": 3})
    assert Protocol(split="within").problems() == ["protocol.split='within' needs protocol.axis (e.g. architecture)."]
