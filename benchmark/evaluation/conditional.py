"""Conditional value: what a feature set adds beyond the obvious (docs/protocol.md, "Conditional value").

For every scored feature set F and regressor R, and each *given* set G of :data:`GIVEN`
(``evaluation.conditional`` names its descriptors or single feature columns), the run also scores
G alone and F together with G (``F+G``), both with R, on the same resamples. F's gain over G is the
score of ``F+G`` minus the score of G: positive when F carries information that G does not. The
extra rows are scored like any other and kept in the store, but only their differences reach the
leaderboard, as the columns ``<score>_gain_<G>`` (with ``_ci_low``, ``_ci_high`` and ``_p``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from benchmark.evaluation.design import PlannedScore
from benchmark.evaluation.measures import paired_bootstrap_comparison
from benchmark.evaluation.protocol import EXCURSION_LIMIT
from benchmark.records import GAIN_SCORES, GIVEN, ScoreRow
from benchmark.scores import get_score

log = logging.getLogger(__name__)

KIND = "conditional"
"""The kind of the extra rows (G alone, F+G); they never reach the leaderboard."""
NOT_CONDITIONED = ("baseline", "reference", KIND)
"""Kinds whose rows get no gain columns: the baselines and references themselves."""


def conditional_problems(evaluation: Mapping[str, Any]) -> list[str]:
    """What ``evaluation.conditional`` gets wrong, one message each (empty: fine)."""
    spec = evaluation.get("conditional") or {}
    if not isinstance(spec, Mapping):
        return [f"evaluation.conditional={spec!r} must map {list(GIVEN)} to lists of descriptors or columns."]
    problems = []
    unknown = sorted(set(spec) - set(GIVEN))
    if unknown:
        problems.append(f"evaluation.conditional has {unknown}; its sets are {list(GIVEN)} (null switches one off).")
    for g in GIVEN:
        members = spec.get(g)
        if members is not None and (isinstance(members, str) or not all(isinstance(m, str) for m in members)):
            problems.append(
                f"evaluation.conditional.{g}={members!r} must be a list of descriptor or column names, "
                "e.g. [param_count, hessian__trace]."
            )
    return problems


def given_sets(evaluation: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """``given -> members`` of ``evaluation.conditional`` (a null entry, or none, switches one off)."""
    spec = evaluation.get("conditional") or {}
    return {g: tuple(spec[g]) for g in GIVEN if spec.get(g)}


def combined_name(feature_set: str, given: str) -> str:
    """The name of the row that fits ``feature_set`` together with the given set."""
    return f"{feature_set}+{given}"


def conditional_scores(
    evaluation: Mapping[str, Any], planned: Sequence[PlannedScore], available: Collection[str]
) -> list[PlannedScore]:
    """The extra rows the gains need: each given set alone with every regressor a conditioned row uses,
    and each conditioned row (a feature set with columns, not a baseline or reference) with it. A
    given set keeps the members whose descriptor (or feature table set) is in ``available``, the
    run's; one left with none is not scored, and its gains stay NaN."""
    out: list[PlannedScore] = []
    for given, listed in given_sets(evaluation).items():
        members = tuple(m for m in listed if m.split("__", 1)[0] in available)
        if not members:
            log.info("gains over %s not scored: none of %s is selected", given, list(listed))
            continue
        conditioned = [
            p
            for p in planned
            if p.kind not in NOT_CONDITIONED and p.diagram_set is None and p.regressor_config is not None
        ]
        alone = {(p.target, p.regressor): p.regressor_config for p in conditioned}
        out += [PlannedScore(t, given, KIND, members, r, c) for (t, r), c in alone.items()]
        out += [
            PlannedScore(
                p.target,
                combined_name(p.feature_set, given),
                KIND,
                tuple(dict.fromkeys((*p.members, *members))),
                p.regressor,
                p.regressor_config,
            )
            for p in conditioned
        ]
    return out


def with_gains(rows: Sequence[ScoreRow]) -> list[ScoreRow]:
    """The rows that are not of kind :data:`KIND`, each with its gains over every given set filled
    from the extra rows (NaN where a row or its partners are missing or have no draws, and where
    either fit extrapolates: excursion above
    :data:`~benchmark.evaluation.protocol.EXCURSION_LIMIT`)."""
    index = {(r.zoo, r.target, r.protocol, r.feature_set, r.regressor): r for r in rows if r.feature_kind == KIND}
    out = []
    for r in rows:
        if r.feature_kind == KIND:
            continue
        gain: dict[str, float] = {}
        for given in GIVEN:
            both = index.get((r.zoo, r.target, r.protocol, combined_name(r.feature_set, given), r.regressor))
            alone = index.get((r.zoo, r.target, r.protocol, given, r.regressor))
            for m in GAIN_SCORES:
                gain.update(_gain(m, given, None if r.feature_kind in NOT_CONDITIONED else both, alone))
        out.append(dataclasses.replace(r, gain=gain))
    return out


def _gain(metric: str, given: str, both: ScoreRow | None, alone: ScoreRow | None) -> dict[str, float]:
    name = f"{metric}_gain_{given}"
    keys = (name, f"{name}_ci_low", f"{name}_ci_high", f"{name}_p")
    if both is None or alone is None or metric not in both.draws or metric not in alone.draws:
        return dict.fromkeys(keys, math.nan)
    if max(both.excursion, alone.excursion) > EXCURSION_LIMIT:  # an extrapolating fit: no finding
        return dict.fromkeys(keys, math.nan)
    c = paired_bootstrap_comparison(both.draws[metric], alone.draws[metric], get_score(metric).greater_is_better)
    sign = 1.0 if get_score(metric).greater_is_better else -1.0
    value = sign * (both.value.get(metric, math.nan) - alone.value.get(metric, math.nan))
    return dict(zip(keys, (value, c.delta_ci_low, c.delta_ci_high, c.p_value), strict=True))
