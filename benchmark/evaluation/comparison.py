"""Which rows are better? Paired bootstrap comparisons between the score rows of one table.

Every row of one (zoo, target, protocol) -- a *table* -- is scored on the same group-bootstrap
resamples (see :mod:`benchmark.evaluation.bootstrap`), so the draws of two rows are paired resample
by resample. Each row is compared with its best baseline (:func:`compare_with_baselines`) and with
the table's best row (:func:`compare_with_best`); :func:`pairwise_comparisons` compares every two
rows. See docs/protocol.md, "Paired comparison with the baselines" and "Which rows are tied".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from benchmark.evaluation.measures import PairedComparison, paired_bootstrap_comparison, paired_difference
from benchmark.evaluation.protocol import CEILING, CONSTANT
from benchmark.records import CEILING_SHARED, COMPARED_METRICS, ScoreRow
from benchmark.scores import get_score

BASELINE_KIND = "baseline"
TIE_ALPHA = 0.05
"""A row is tied with the table's best row when its Holm-adjusted p-value against it is at least this."""
PAIRWISE_COLUMNS: tuple[str, ...] = (
    "zoo",
    "target",
    "protocol",
    "score",
    "feature_set_a",
    "regressor_a",
    "feature_set_b",
    "regressor_b",
    "delta_median",
    "delta_ci_low",
    "delta_ci_high",
    "n_resamples",
    "p_value",
    "p_holm",
)
"""The columns of ``<leaderboard>.pairwise.csv``: ``delta`` is a's score minus b's, signed so that
positive means a is better; ``p_value`` the two-sided paired bootstrap p-value; ``p_holm`` it
adjusted by Holm's step-down method over every pair of the (zoo, target, protocol, score)."""


def tables(rows: Sequence[ScoreRow]) -> dict[tuple[str, str, str], list[int]]:
    """Indices of ``rows`` per table (zoo, target, protocol), in order."""
    out: dict[tuple[str, str, str], list[int]] = {}
    for i, r in enumerate(rows):
        out.setdefault((r.zoo, r.target, r.protocol), []).append(i)
    return out


def _compared(row: ScoreRow, metric: str) -> bool:
    """Whether ``row`` enters the comparisons of ``metric``: a scored row with draws, not the ceiling."""
    draws = row.draws.get(metric)
    return (
        row.feature_kind != CEILING
        and draws is not None
        and bool(np.isfinite(draws).any())
        and math.isfinite(row.value.get(metric, math.nan))
    )


def best_row(rows: Sequence[ScoreRow], members: Sequence[int], metric: str) -> int | None:
    """The index (among ``members``) of the row with the best value of ``metric``; the first on ties;
    None when no row is compared."""
    sign = 1.0 if get_score(metric).greater_is_better else -1.0
    compared = [i for i in members if _compared(rows[i], metric)]
    return max(compared, key=lambda i: sign * rows[i].value[metric]) if compared else None


def _difference(a: ScoreRow, b: ScoreRow, metric: str) -> PairedComparison:
    """:func:`~benchmark.evaluation.measures.paired_difference` of two rows on ``metric``, at their values."""
    sign = 1.0 if get_score(metric).greater_is_better else -1.0
    observed = sign * (a.value[metric] - b.value[metric])
    return paired_difference(a.draws[metric], b.draws[metric], get_score(metric).greater_is_better, observed=observed)


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values, in the order of ``p``: the i-th smallest times (m − i),
    made non-decreasing along the sorted order, capped at 1. The same numbers as statsmodels'
    ``multipletests(p, method="holm")[1]`` (a test compares them), which is not called because it
    runs a full ``gc.collect()`` on every call: a quarter second each over a process holding a zoo,
    and a leaderboard calls it for every row block."""
    p = np.asarray(p, dtype=np.float64)
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(np.maximum.accumulate(p[order] * np.arange(len(p), 0, -1)), 1.0)
    return adjusted


def compare_with_best(rows: Sequence[ScoreRow]) -> list[ScoreRow]:
    """``rows`` with ``p_vs_best`` and ``tied_with_best`` filled for each metric of
    :data:`~benchmark.records.COMPARED_METRICS`: the two-sided paired p-value of the row against its
    table's best row (:func:`best_row`), Holm-adjusted over the table's comparisons with that row,
    and 1.0 (tied: adjusted p >= :data:`TIE_ALPHA`) or 0.0. The best row itself has p NaN, tied 1.0;
    rows not compared (no draws, the ceiling) NaN for both."""
    p_best = [dict.fromkeys(COMPARED_METRICS, math.nan) for _ in rows]
    tied = [dict.fromkeys(COMPARED_METRICS, math.nan) for _ in rows]
    for members in tables(rows).values():
        for m in COMPARED_METRICS:
            best = best_row(rows, members, m)
            if best is None:
                continue
            tied[best][m] = 1.0
            others = [i for i in members if i != best and _compared(rows[i], m)]
            raw = [_difference(rows[i], rows[best], m).p_value for i in others]
            for i, p in zip(others, holm([1.0 if math.isnan(v) else v for v in raw]), strict=True):
                p_best[i][m] = float(p)
                tied[i][m] = float(p >= TIE_ALPHA)
    return [dataclasses.replace(r, p_vs_best=p, tied_with_best=t) for r, p, t in zip(rows, p_best, tied, strict=True)]


def pairwise_comparisons(rows: Sequence[ScoreRow]) -> pd.DataFrame:
    """Every two compared rows of each table, for each metric of
    :data:`~benchmark.records.COMPARED_METRICS`: one line per pair (a before b in ``rows``' order),
    columns :data:`PAIRWISE_COLUMNS`."""
    rows = list(rows)
    lines = []
    for (zoo, target, protocol), members in tables(rows).items():
        for m in COMPARED_METRICS:
            compared = [i for i in members if _compared(rows[i], m)]
            block = []
            for x, i in enumerate(compared):
                for j in compared[x + 1 :]:
                    a, b = rows[i], rows[j]
                    c = _difference(a, b, m)
                    keys = [zoo, target, protocol, m, a.feature_set, a.regressor, b.feature_set, b.regressor]
                    block.append([*keys, c.delta_median, c.delta_ci_low, c.delta_ci_high, c.n_resamples, c.p_value])
            adjusted = holm([1.0 if math.isnan(line[-1]) else line[-1] for line in block])
            lines += [[*line, float(p)] for line, p in zip(block, adjusted, strict=True)]
    return pd.DataFrame(lines, columns=list(PAIRWISE_COLUMNS))


def with_ceiling_shares(rows: Sequence[ScoreRow]) -> list[ScoreRow]:
    """``rows`` with ``share_of_ceiling`` filled for each score of
    :data:`~benchmark.records.CEILING_SHARED`: the row's value divided by its table's noise ceiling
    (the row of kind ``ceiling``); NaN without a ceiling, or where it is not positive."""
    ceilings = {(r.zoo, r.target, r.protocol): r for r in rows if r.feature_kind == CEILING}
    out = []
    for r in rows:
        c = ceilings.get((r.zoo, r.target, r.protocol))
        share = {}
        for m in CEILING_SHARED:
            top = math.nan if c is None or r.feature_kind == CEILING else c.value.get(m, math.nan)
            share[m] = r.value.get(m, math.nan) / top if math.isfinite(top) and top > 0 else math.nan
        out.append(dataclasses.replace(r, share_of_ceiling=share))
    return out


def compare_rows(rows: Sequence[ScoreRow]) -> list[ScoreRow]:
    """Every comparison of a table's rows: with the best baseline, with the best row, with the ceiling."""
    return with_ceiling_shares(compare_with_best(compare_with_baselines(rows)))


def baselines_of(row: ScoreRow, rows: Sequence[ScoreRow]) -> list[ScoreRow]:
    """The rows ``row`` is compared with: of its zoo, target and protocol, of kind ``baseline``, fitted
    with its regressor or the constant (which has none), never ``row`` itself. Empty for the constant."""
    if row.feature_set == CONSTANT or row.feature_kind == CEILING:
        return []
    return [
        b
        for b in rows
        if (b.zoo, b.target, b.protocol) == (row.zoo, row.target, row.protocol)
        and b.feature_kind == BASELINE_KIND
        and (b.feature_set == CONSTANT or b.regressor == row.regressor)
        and b.feature_set != row.feature_set
    ]


def compare_with_baselines(rows: Sequence[ScoreRow]) -> list[ScoreRow]:
    """``rows`` with ``win_rate`` and ``p_vs_baseline`` filled for each metric of
    :data:`~benchmark.records.COMPARED_METRICS`: the row's draws against the best of its baselines
    (:func:`baselines_of`) on each resample, by
    :func:`~benchmark.evaluation.measures.paired_bootstrap_comparison`. NaN where the row or every
    baseline has no draws for the metric."""
    out = []
    for row in rows:
        base = baselines_of(row, rows)
        win, p = {}, {}
        for m in COMPARED_METRICS:
            a = row.draws.get(m)
            bs = [b.draws[m] for b in base if m in b.draws and a is not None and len(b.draws[m]) == len(a)]
            if a is None or not bs:
                win[m] = p[m] = math.nan
                continue
            c = paired_bootstrap_comparison(a, np.stack(bs), greater_is_better=get_score(m).greater_is_better)
            win[m], p[m] = c.win_rate, c.p_value
        out.append(dataclasses.replace(row, win_rate=win, p_vs_baseline=p))
    return out
