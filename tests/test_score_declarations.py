"""Each score is declared once (:data:`benchmark.scores.SCORES`): the CSV columns, the protocol's
groups of scores, the directions, the Markdown headers and the overall ranking all derive from it,
and the functions that compute the scores agree with it."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from benchmark.evaluation import metrics, protocol, resampled
from benchmark.records import (
    BEST_STATS,
    CEILING_SHARED,
    COMPARED_METRICS,
    COMPARISON_STATS,
    GAIN_COLUMNS,
    SCORE_METRICS,
    SCORE_STATS,
    ScoreRow,
)
from benchmark.report import leaderboard, overall
from benchmark.scores import FAMILIES, SCORES, Score, get_score

DOCS = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"


def _names(keep) -> tuple[str, ...]:
    return tuple(s.name for s in SCORES if keep(s))


def _row() -> ScoreRow:
    return ScoreRow("z", "t", "fs", "k", "reg", "group_kfold", 12, 0, 4, {}, {}, {}, {})


def test_names_are_unique_and_looked_up_strictly():
    assert len({s.name for s in SCORES}) == len(SCORES)
    assert all(get_score(s.name) is s for s in SCORES)
    with pytest.raises(KeyError, match=r"unknown score 'kendal'.*Did you mean \['kendall'"):
        get_score("kendal")
    with pytest.raises(ValueError, match="family 'ranking'"):
        Score("x", "X", True, "ranking", "a typo'd family")  # type: ignore[arg-type]
    assert {s.family for s in SCORES} == set(FAMILIES)


@pytest.mark.parametrize("score", SCORES, ids=lambda s: s.name)
def test_header_arrow_agrees_with_direction(score: Score):
    assert score.header == f"{score.label} {score.arrow}"
    assert score.header.endswith("↑" if score.greater_is_better else "↓")
    assert leaderboard.HEADERS[score.name] == score.header


def test_csv_columns_follow_the_declaration_in_order():
    columns = list(_row().flat())
    values = [c for c in columns if c.endswith("_value")]
    assert values == [f"{s.name}_value" for s in SCORES]
    expected = [f"{s.name}_{stat}" for s in SCORES for stat in SCORE_STATS]
    expected += [f"{s.name}_{stat}" for s in SCORES if s.compared for stat in (*COMPARISON_STATS, *BEST_STATS)]
    expected += [f"{m}_share_of_ceiling" for m in CEILING_SHARED] + list(GAIN_COLUMNS)
    assert columns[-len(expected) :] == expected
    assert all(math.isnan(_row().flat()[c]) for c in expected)


def test_derived_tuples_equal_the_declaration():
    assert tuple(s.name for s in SCORES) == SCORE_METRICS
    assert _names(lambda s: s.compared) == COMPARED_METRICS
    assert _names(lambda s: s.interval == "bootstrap") == protocol.BOOTSTRAP_METRICS
    assert _names(lambda s: s.family == "selection") == protocol.SELECTION_METRICS
    assert _names(lambda s: s.interval == "repeats") == protocol.PAIR_METRICS
    assert (*protocol.BOOTSTRAP_METRICS, *protocol.PAIR_METRICS) == protocol.ALL_METRICS
    assert set(SCORE_METRICS) == set(protocol.ALL_METRICS)
    assert _names(lambda s: s.family in ("rank", "pair")) == protocol.UNDEFINED_FOR_CONSTANT
    assert _names(lambda s: s.family == "rank") == metrics.RANK_METRICS
    assert frozenset(_names(lambda s: not s.greater_is_better)) == metrics.LOWER_IS_BETTER
    assert list(SCORE_METRICS) == list(leaderboard.HEADERS)


def test_the_csv_column_order_is_pinned():
    """Reordering :data:`SCORES` reorders every leaderboard CSV; this test says so before a reader does."""
    pinned = (
        "r2",
        "mae",
        "rmse",
        "spearman",
        "kendall",
        "granulated_kendall",
        "cmi",
        "pgdl",
        "regret",
        "precision_at_k",
    )
    assert pinned == SCORE_METRICS


def test_every_bootstrapped_score_has_a_function_and_every_function_a_score():
    assert list(metrics.METRICS) == list(_names(lambda s: s.family in ("prediction", "rank")))
    assert list(resampled.RESAMPLED) == list(metrics.METRICS)  # the same scores, on many resamples at once
    batched = resampled.resampled_scores(greater_is_better=True, top_k=2)
    assert set(batched) == set(protocol.BOOTSTRAP_METRICS)
    assert set(metrics.METRICS) | set(protocol.SELECTION_METRICS) == set(protocol.BOOTSTRAP_METRICS)


@pytest.mark.parametrize("name", protocol.BOOTSTRAP_METRICS)
def test_the_function_scores_perfect_predictions_better_in_the_declared_direction(name: str):
    rng = np.random.default_rng(0)
    y = rng.normal(size=40)
    fn = resampled.resampled_scores(greater_is_better=True, top_k=5)[name]
    once = np.ones((1, 40))
    perfect, noisy = float(fn(y, y, once)[0]), float(fn(y, -y + 0.5 * rng.normal(size=40), once)[0])
    better = perfect > noisy if get_score(name).greater_is_better else perfect < noisy
    assert better, (name, perfect, noisy)


def test_overall_ranks_with_the_declared_scores_in_the_declared_order():
    rankable = sorted((s for s in SCORES if s.ranks_feature_sets), key=lambda s: s.overall_order)
    assert list(overall.SCORES) == [s.name for s in rankable]
    for s in rankable:
        assert overall.SCORES[s.name] == (s.label, s.greater_is_better)
        assert overall._arrow(s.name) == s.arrow
    assert set(overall.DEFAULT_SCORES) <= set(overall.SCORES)
    orders = [s.overall_order for s in rankable]
    assert len(set(orders)) == len(orders)


def test_docs_table_of_scores_agrees_with_the_declaration():
    rows = re.findall(r"^\| (.+?) \| `(\w+)` \| .+ \| ([↑↓]) \|$", DOCS.read_text(encoding="utf-8"), flags=re.M)
    assert rows == [(s.label, s.name, s.arrow) for s in SCORES]
