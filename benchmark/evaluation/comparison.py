"""Does a feature set beat the baselines? Paired bootstrap comparisons between score rows.

Every row of one (zoo, target, protocol) is scored on the same group-bootstrap resamples (see
:mod:`benchmark.evaluation.bootstrap`), so its draws and a baseline's are paired resample by
resample. See docs/protocol.md, "Paired comparison".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from benchmark.evaluation.measures import paired_bootstrap_comparison
from benchmark.evaluation.protocol import CONSTANT
from benchmark.records import COMPARED_METRICS, ScoreRow
from benchmark.scores import get_score

BASELINE_KIND = "baseline"


def baselines_of(row: ScoreRow, rows: Sequence[ScoreRow]) -> list[ScoreRow]:
    """The rows ``row`` is compared with: of its zoo, target and protocol, of kind ``baseline``, fitted
    with its regressor or the constant (which has none), never ``row`` itself. Empty for the constant."""
    if row.feature_set == CONSTANT:
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
