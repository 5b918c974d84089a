"""Group-aware cross-validation of one (feature set, regressor, target) under a split protocol.

Splits (``protocol.split``; see docs/protocol.md):

- ``group_kfold``: each repeat r shuffles the groups into ``n_splits`` folds (``GroupKFold``, seed
  ``seed + r``) and predicts every model once, by a regressor fitted on the other folds.
- ``within``: the same, inside each *stratum* (a value of ``protocol.axis``, e.g. the architecture):
  a regressor only ever sees models of the stratum it predicts.
- ``leave_one_out``: each stratum in turn is predicted by one regressor fitted on all the others
  (transfer to an unseen architecture); one repeat, the split being deterministic.

A score is computed per stratum on all out-of-fold predictions of a repeat, averaged over repeats,
then averaged over the strata where it is defined (``group_kfold`` has one stratum: the zoo). Its
95% interval comes from a bootstrap over groups within each stratum (resampling whole
hyperparameter configurations, with their seeds, with replacement); the scores that compare pairs
of models (granulated Kendall, CMI, PGDL score) take the spread over repeats instead. The fold
spread is the standard deviation of a score computed on each test fold alone.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.dummy import DummyRegressor
from sklearn.model_selection import GroupKFold

from benchmark.evaluation.bootstrap import fold_mean_draws, group_counts, inflated, pooled_draws, refit_inflation
from benchmark.evaluation.measures import conditional_mutual_information, granulated_kendall, pgdl_score
from benchmark.evaluation.metrics import RANK_METRICS
from benchmark.evaluation.resampled import resampled_scores
from benchmark.records import ScoreRow
from benchmark.scores import SCORES

log = logging.getLogger(__name__)

CONSTANT = "constant"
"""The constant-mean baseline feature set: predicts the training fold's mean target."""
CEILING = "ceiling"
"""The kind of the noise-ceiling row (:func:`evaluate_ceiling`), feature set :data:`NOISE_CEILING`."""
NOISE_CEILING = "noise_ceiling"
SEED_MEAN = "seed_mean"
"""The noise ceiling's "regressor": each model predicted by its configuration's other seeds."""

SPLITS = ("group_kfold", "within", "leave_one_out")
"""How models are split into training and test parts (``protocol.split``)."""
SELECTION_METRICS: tuple[str, ...] = tuple(s.name for s in SCORES if s.needs_direction)
"""Scores of choosing models by the predictions; they need the target's direction."""
BOOTSTRAP_METRICS: tuple[str, ...] = tuple(s.name for s in SCORES if s.interval == "bootstrap")
"""Scores with a group-bootstrap interval; their draws are kept for paired comparisons."""
PAIR_METRICS: tuple[str, ...] = tuple(s.name for s in SCORES if s.family == "pair")
"""Scores over pairs of models, conditioned on hyperparameters; interval = spread over repeats."""
ALL_METRICS: tuple[str, ...] = (*BOOTSTRAP_METRICS, *PAIR_METRICS)
UNDEFINED_FOR_CONSTANT: tuple[str, ...] = tuple(s.name for s in SCORES if s.undefined_for_constant)
"""NaN for a constant predictor: it ranks nothing (selection scores take their chance values)."""
EXCURSION_LIMIT = 10.0
"""A row whose out-of-fold predictions leave the range of the targets by more than this many target
ranges (:func:`prediction_excursion`) is flagged as untrustworthy: its regressor extrapolated."""
RANK_FOLDS_OF = "spearman"
"""The rank score whose defined test folds are counted (``rank_folds``): a fold of one configuration's
seeds, or of tied predictions, defines none, and a mean over few folds is flagged on the leaderboard."""
FOLD_COLUMN = "__test_fold__"
"""The test fold, held fixed beside the hyperparameters by the granulated Kendall coefficient."""


@dataclass(frozen=True)
class Protocol:
    """How models are split and scored: a ``protocol`` config node as one typed value.

    The defaults are those of ``conf/protocol/group_kfold.yaml`` (a test holds them equal), so a
    protocol file names only what it changes. ``name`` labels the leaderboard rows; ``split`` is one
    of :data:`SPLITS`, ``axis`` the hyperparameter that defines the strata of ``within`` and
    ``leave_one_out``; ``n_splits`` folds, ``n_repeats`` repeats (seeds ``seed + r``);
    ``n_bootstrap`` group-bootstrap resamples at ``ci_level``; ``top_k`` the k of precision@k.
    """

    name: str = "group_kfold"
    split: str = "group_kfold"
    axis: str | None = None
    n_splits: int = 4
    n_repeats: int = 3
    seed: int = 0
    n_bootstrap: int = 1000
    ci_level: float = 0.95
    top_k: int = 5

    @classmethod
    def from_config(cls, node: Mapping[str, Any]) -> Protocol:
        """The protocol of a config node; an unknown setting raises a ``ValueError`` naming it."""
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(node) - fields)
        if unknown:
            raise ValueError(f"protocol settings {unknown} are unknown; valid settings: {sorted(fields)}.")
        return cls(**node)

    def problems(self) -> list[str]:
        """What makes this protocol unusable, one message each (empty: fine)."""
        problems = []
        if self.split not in SPLITS:
            problems.append(f"protocol.split={self.split!r} is unknown; use one of {list(SPLITS)}.")
        elif self.split != "group_kfold" and not self.axis:
            problems.append(f"protocol.split={self.split!r} needs protocol.axis (e.g. architecture).")
        top_k = self.top_k
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            problems.append(f"protocol.top_k={top_k!r} must be an integer >= 1 (the k of precision@k), e.g. 5.")
        return problems


def protocol_problems(node: Mapping[str, Any]) -> list[str]:
    """What a ``protocol`` config node gets wrong, one message each (empty: fine)."""
    try:
        return Protocol.from_config(node).problems()
    except (TypeError, ValueError) as exc:
        return [str(exc)]


class TooFewGroupsError(ValueError):
    """Fewer groups with finite data than folds: the feature set cannot be cross-validated."""


@dataclass(frozen=True)
class Evaluation:
    """Scores of one (feature set, regressor, target): metric name -> number.

    ``draws[m]`` (shape ``(n_bootstrap,)``) holds the bootstrap scores of each metric of
    :data:`BOOTSTRAP_METRICS`, resample by resample; every feature set of one zoo and target is
    scored on the same resamples, so draws of two feature sets are paired.
    """

    value: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    fold_std: dict[str, float]
    n_used: int
    n_dropped: int
    n_folds: int
    draws: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)
    excursion: float = math.nan
    rank_folds: int = 0

    def row(self, zoo: str, target: str, feature_set: str, kind: str, regressor: str, protocol: str) -> ScoreRow:
        """These scores as the leaderboard row of (zoo, target, feature set, regressor, protocol)."""
        return ScoreRow(
            zoo=zoo,
            target=target,
            feature_set=feature_set,
            feature_kind=kind,
            regressor=regressor,
            protocol=protocol,
            n_models=self.n_used,
            n_dropped=self.n_dropped,
            n_folds=self.n_folds,
            value=self.value,
            ci_low=self.ci_low,
            ci_high=self.ci_high,
            fold_std=self.fold_std,
            draws=self.draws,
            excursion=self.excursion,
            rank_folds=self.rank_folds,
        )


def out_of_fold_predictions(
    make_estimator: Callable[[], BaseEstimator],
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    n_splits: int,
    seed: int,
    n_repeats: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """``(predictions, fold)``, both of shape ``(n_repeats, n)``; ``fold[r, i]`` is the test fold of
    model i in repeat r. No group is ever in the training and the test part of one split."""
    n_groups = len(np.unique(groups))
    if n_splits < 2 or n_repeats < 1:
        raise ValueError(f"protocol needs n_splits >= 2 and n_repeats >= 1, got {n_splits} and {n_repeats}.")
    if n_groups == 0:
        raise TooFewGroupsError(
            "no model is left to cross-validate: every one has a non-finite feature or target (the "
            "descriptor warnings above say why)."
        )
    if n_groups < n_splits:
        raise TooFewGroupsError(
            f"protocol.n_splits={n_splits} exceeds the {n_groups} groups left; lower protocol.n_splits "
            "or use a zoo with more hyperparameter configurations."
        )
    preds = np.full((n_repeats, len(y)), np.nan)
    folds = np.full((n_repeats, len(y)), -1)
    for r in range(n_repeats):
        cv = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed + r)
        for k, (train, test) in enumerate(cv.split(X, y, groups)):
            est = make_estimator()
            est.fit(X[train], y[train])
            preds[r, test] = est.predict(X[test])
            folds[r, test] = k
    return preds, folds


# ----------------------------------------------------------------------------- scores of a stratum


def pair_scores(
    pred: np.ndarray,
    y: np.ndarray,
    hparams: pd.DataFrame | None,
    axes: Sequence[str],
    blocks: np.ndarray | None = None,
) -> dict[str, float]:
    """:data:`PAIR_METRICS` of one set of predictions (shape ``(n,)``), over the pairs within one of
    ``blocks`` (shape ``(n,)``: the test fold, so both predictions come from one fitted regressor;
    all pairs when None): granulated Kendall over ``axes`` with every other column of ``hparams``
    (``seed`` included) and the block held fixed; conditional mutual information and the PGDL score
    conditioned on the ``axes`` columns. NaN without hyperparameters."""
    if hparams is None or len(y) < 2:
        return dict.fromkeys(PAIR_METRICS, math.nan)
    conditioning = hparams[list(axes)]
    held = hparams if blocks is None else hparams.assign(**{FOLD_COLUMN: np.asarray(blocks)})
    return {
        "granulated_kendall": granulated_kendall(pred, y, held, axes).value,
        "cmi": conditional_mutual_information(pred, y, conditioning, blocks=blocks).value,
        "pgdl": pgdl_score(pred, y, conditioning, blocks=blocks).value,
    }


def _nanmean(values: np.ndarray, axis: int = 0) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN -> NaN is the intended result
        return np.nanmean(values, axis=axis)


def _scalar(x: Any) -> float:
    """``float(x)``, every NaN as the one ``math.nan``, so that equal evaluations compare equal."""
    v = float(x)
    return math.nan if math.isnan(v) else v


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    """Percentile interval of the finite ``values``; NaN with fewer than two."""
    v = values[np.isfinite(values)]
    if len(v) < 2:
        return math.nan, math.nan
    alpha = (1.0 - level) / 2.0
    return float(np.quantile(v, alpha)), float(np.quantile(v, 1.0 - alpha))


def prediction_excursion(y: np.ndarray, preds: np.ndarray) -> float:
    """How far the predictions ``preds`` (any shape) leave the range ``[min y, max y]`` of the targets,
    in units of that range: 0 when every prediction lies inside it, ``inf`` when the targets are
    constant and a prediction differs from them, NaN without predictions. Above
    :data:`EXCURSION_LIMIT` a regressor extrapolated by orders of magnitude (e.g. a training column of
    numerical noise standardised to huge z-scores on the test fold), and its scores mean nothing."""
    p = np.asarray(preds, dtype=np.float64)
    p = p[np.isfinite(p)]
    if not len(p) or not len(y):
        return math.nan
    low, high = float(np.min(y)), float(np.max(y))
    beyond = max(low - float(p.min()), float(p.max()) - high, 0.0)
    if beyond == 0.0:
        return 0.0
    return beyond / (high - low) if high > low else math.inf


# ----------------------------------------------------------------------------- predictions under a split


def _predictions(
    protocol: Protocol,
    make_estimator: Callable[[], BaseEstimator],
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    strata: np.ndarray,
    names: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold ``(predictions, fold)`` of shape ``(repeats, n)`` under ``protocol``'s split, folds
    and repeats; fold ids are unique across strata. ``strata`` holds integer codes, ``names`` their labels."""
    split, n_splits, seed, n_repeats = protocol.split, protocol.n_splits, protocol.seed, protocol.n_repeats
    if split == "group_kfold":
        return out_of_fold_predictions(make_estimator, X, y, groups, n_splits, seed, n_repeats)
    present = np.unique(strata)
    if split == "within":
        preds = np.full((n_repeats, len(y)), np.nan)
        folds = np.full((n_repeats, len(y)), -1)
        for j, s in enumerate(present):
            rows = np.flatnonzero(strata == s)
            try:
                p, f = out_of_fold_predictions(
                    make_estimator, X[rows], y[rows], groups[rows], n_splits, seed, n_repeats
                )
            except TooFewGroupsError as exc:
                raise TooFewGroupsError(f"stratum {names[s]!r}: {exc}") from None
            preds[:, rows] = p
            folds[:, rows] = f + j * n_splits
        return preds, folds
    if len(present) < 2:
        left = ", ".join(repr(names[s]) for s in present) or "none"
        raise TooFewGroupsError(f"leave-one-out needs two or more values of protocol.axis; left: {left}.")
    preds = np.full((1, len(y)), np.nan)
    folds = np.full((1, len(y)), -1)
    for j, s in enumerate(present):
        test = strata == s
        est = make_estimator()
        est.fit(X[~test], y[~test])
        preds[0, test] = est.predict(X[test])
        folds[0, test] = j
    return preds, folds


def _stratum_codes(split: str, strata: Sequence[Any] | None, groups: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Integer stratum of every model and the strata's labels; one stratum for ``group_kfold``."""
    if split not in SPLITS:
        raise ValueError(f"protocol.split={split!r} is unknown; use one of {list(SPLITS)}.")
    if split == "group_kfold":
        return np.zeros(len(groups), dtype=np.int64), ["all"]
    if strata is None or len(strata) != len(groups):
        raise ValueError(f"protocol.split={split!r} needs one stratum (value of protocol.axis) per model.")
    labels = np.array([str(s) for s in strata])
    names, codes = np.unique(labels, return_inverse=True)
    mixed = pd.DataFrame({"g": groups, "s": codes}).groupby("g")["s"].nunique()
    if (mixed > 1).any():
        raise ValueError(
            f"groups {list(mixed[mixed > 1].index[:3])} span several values of protocol.axis; the axis must be a "
            "hyperparameter of the configuration (not the seed), so that one training run sits in one stratum."
        )
    return codes.reshape(-1), [str(n) for n in names]


def evaluate_feature_set(
    X: np.ndarray | None,
    y: np.ndarray,
    groups: np.ndarray,
    make_estimator: Callable[[], BaseEstimator] | None,
    protocol: Protocol,
    *,
    strata: Sequence[Any] | None = None,
    hparams: pd.DataFrame | None = None,
    axes: Sequence[str] | None = None,
    greater_is_better: bool = True,
) -> Evaluation:
    """Drop rows with non-finite features or target, then score out-of-fold predictions.

    Args:
        X: features, shape ``(n, d)``; ``None`` evaluates the constant-mean baseline.
        y, groups: shape ``(n,)``; ``groups`` names each model's training configuration.
        make_estimator: builds a fresh regressor (ignored for the constant).
        protocol: the split, its folds and repeats (``leave_one_out`` uses neither), the bootstrap
            and its level, and the k of precision@k.
        strata: shape ``(n,)``, the value of ``protocol.axis`` of each model, needed by ``within``
            and ``leave_one_out``.
        hparams: ``n`` rows, one column per hyperparameter (``seed`` included), for the pair scores;
            ``axes`` the columns they score and condition on (default: every varying column but
            ``seed``). Without ``hparams`` the pair scores are NaN.
        greater_is_better: the target's direction.

    The constant baseline's rank and pair scores are NaN (a constant ranks nothing); its regret and
    precision@k are those of a constant prediction, their chance values (best minus mean target,
    k / n). A feature set whose every column is constant over the models is the same baseline in
    disguise and is reported the same way.
    """
    y = np.asarray(y, dtype=np.float64)
    groups = np.asarray(groups)
    codes, names = _stratum_codes(protocol.split, strata, groups)
    keep = np.isfinite(y)
    if X is not None:
        keep &= np.isfinite(X).all(axis=1)
    if X is None:
        X_k = np.zeros((int(keep.sum()), 1))
        make_estimator = DummyRegressor
    else:
        X_k = X[keep]
    assert make_estimator is not None
    constant = X is None or not len(X_k) or bool((np.ptp(X_k, axis=0) == 0).all())
    preds, folds = _predictions(
        protocol,
        make_estimator,
        X_k,
        y[keep],
        groups[keep],
        codes[keep],
        names,
    )
    return score_predictions(
        preds,
        folds,
        y,
        groups,
        keep,
        protocol,
        (codes, names),
        constant=constant,
        hparams=hparams,
        axes=axes,
        greater_is_better=greater_is_better,
    )


def score_predictions(
    preds: np.ndarray,
    folds: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    keep: np.ndarray,
    protocol: Protocol,
    strata: tuple[np.ndarray, Sequence[str]],
    *,
    constant: bool = False,
    fitted: bool = True,
    hparams: pd.DataFrame | None = None,
    axes: Sequence[str] | None = None,
    greater_is_better: bool = True,
) -> Evaluation:
    """Every score of out-of-fold predictions, with intervals, fold spread and draws.

    ``preds`` and ``folds`` (shape ``(repeats, k)``) cover the ``k`` models kept by the boolean mask
    ``keep`` (shape ``(n,)``) of ``y`` and ``groups``; ``strata`` is every model's integer stratum
    and the strata's labels. Prediction and selection scores pool each repeat's predictions of a
    stratum; rank scores (Spearman, Kendall) are computed within each test fold, where one fitted
    regressor made every prediction, and averaged over folds and repeats; the granulated Kendall
    coefficient holds the test fold fixed with the other hyperparameters. Each bootstrap resample
    draws whole groups of the stratum (of every model, then restricted to the kept ones, so that feature
    sets are paired) and is scored the same way. The draws' spread is then widened by
    :func:`~benchmark.evaluation.bootstrap.refit_inflation` when ``fitted`` (the predictions come from
    regressors fitted on the other folds; the noise ceiling's do not). ``constant``: the predictions
    are a constant's (rank and pair scores NaN; selection scores at chance).
    """
    seed, n_bootstrap, level = protocol.seed, protocol.n_bootstrap, protocol.ci_level
    codes, names = strata
    y_k, s_k = y[keep], codes[keep]
    chosen = np.zeros_like(preds) if constant else preds  # what regret and precision@k choose by
    fns = resampled_scores(greater_is_better, protocol.top_k)
    hp_k = None if hparams is None else hparams.reset_index(drop=True).loc[keep].reset_index(drop=True)
    if hp_k is not None and axes is None:
        axes = [str(c) for c in hp_k.columns if c != "seed" and hp_k[c].nunique(dropna=False) > 1]
    single = len(names) == 1  # one stratum: the zoo's resamples, as under group_kfold
    values, draws, pairs = [], [], []
    present = np.unique(s_k)  # strata with a kept model (a zoo whose models all lack a feature has none)
    for s in present:
        rows = np.flatnonzero(s_k == s)
        everyone = np.flatnonzero(codes == s)  # resample all models of the stratum, then drop: paired draws
        counts = group_counts(groups[everyone], n_bootstrap, seed if single else [seed, s])[:, keep[everyone]]
        y_s, f_s = y_k[rows], folds[:, rows]
        counts = np.vstack([np.ones((1, len(rows))), counts])  # row 0: the predictions themselves
        val, drw = {}, {}
        for name, fn in fns.items():
            p = chosen[:, rows] if name in SELECTION_METRICS else preds[:, rows]
            within_folds = name in RANK_METRICS
            scored = fold_mean_draws(fn, y_s, p, f_s, counts) if within_folds else pooled_draws(fn, y_s, p, counts)
            val[name], drw[name] = float(scored[0]), scored[1:]
        values.append(val)
        draws.append(drw)
        if not constant and len(rows) >= 2:
            hp_s = None if hp_k is None else hp_k.iloc[rows].reset_index(drop=True)
            per_repeat = [pair_scores(preds[r, rows], y_s, hp_s, axes or [], f_s[r]) for r in range(len(preds))]
            pairs.append({m: np.array([d[m] for d in per_repeat]) for m in PAIR_METRICS})
    value, low, high, fold_std, kept_draws = {}, {}, {}, {}, {}
    pools = s_k if protocol.split == "within" else np.zeros_like(s_k)
    factor = refit_inflation(folds, pools) if fitted else 1.0
    for name, fn in fns.items():
        value[name] = _scalar(_nanmean(np.array([v[name] for v in values])))
        kept_draws[name] = inflated(_nanmean(np.stack([d[name] for d in draws])), factor)
        low[name], high[name] = _interval(kept_draws[name], level)
        p = chosen if name in SELECTION_METRICS else preds
        per_fold = [
            fn(y_k[inside], p[r, inside], np.ones((1, int(inside.sum()))))[0]
            for r in range(len(preds))
            for inside in (folds[r] == k for k in np.unique(folds[r]))
        ]
        finite = [float(v) for v in per_fold if math.isfinite(v)]
        fold_std[name] = float(np.std(finite, ddof=1)) if len(finite) > 1 else math.nan
        if name == RANK_FOLDS_OF:
            rank_folds = 0 if constant else len(finite)
    for name in PAIR_METRICS:
        per_repeat = _nanmean(np.stack([p[name] for p in pairs])) if pairs else np.full(len(preds), np.nan)
        value[name] = _scalar(_nanmean(per_repeat))
        low[name], high[name] = _interval(per_repeat, level)
        fold_std[name] = math.nan
    if constant:
        for name in UNDEFINED_FOR_CONSTANT:
            value[name] = low[name] = high[name] = fold_std[name] = math.nan
            if name in kept_draws:
                kept_draws[name] = np.full(n_bootstrap, np.nan)
    g_k = groups[keep]
    if any(len(np.unique(g_k[s_k == s])) < 2 for s in present):
        # a stratum of one group: every resample draws it again, so the draws would show no spread at
        # all (a zero-width interval printed as certainty); no interval, no paired comparison
        for name in fns:
            low[name] = high[name] = math.nan
            kept_draws[name] = np.full(n_bootstrap, np.nan)
    n_folds = sum(len(np.unique(folds[r])) for r in range(len(preds)))
    return Evaluation(
        value,
        low,
        high,
        fold_std,
        int(keep.sum()),
        int((~keep).sum()),
        n_folds,
        kept_draws,
        _scalar(prediction_excursion(y_k, preds)),
        rank_folds,
    )


def seed_means(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each model's prediction by the mean target of the other models of its group (the other seeds
    of its configuration), shape ``(n,)``; NaN for a model whose target is not finite or whose group
    has no other model with a finite target."""
    y = np.asarray(y, dtype=np.float64)
    frame = pd.DataFrame({"g": np.asarray(groups), "y": y, "ok": np.isfinite(y)})
    total = frame["y"].where(frame["ok"], 0.0).groupby(frame["g"]).transform("sum").to_numpy()
    count = frame["ok"].groupby(frame["g"]).transform("sum").to_numpy()
    others = count - frame["ok"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (total - np.where(frame["ok"], y, 0.0)) / others
    return np.where(frame["ok"].to_numpy() & (others > 0), out, np.nan)


def evaluate_ceiling(
    y: np.ndarray,
    groups: np.ndarray,
    protocol: Protocol,
    *,
    strata: Sequence[Any] | None = None,
    hparams: pd.DataFrame | None = None,
    axes: Sequence[str] | None = None,
    greater_is_better: bool = True,
) -> Evaluation:
    """The noise ceiling: the scores of predicting each model by its configuration's mean target, under
    the protocol's split (the same test folds and repeats a feature set of these models gets, so rank
    scores are computed within the same folds): what knowing each configuration's mean exactly gives;
    the rest is seed-to-seed variation. Prediction and selection scores use :func:`seed_means`, the
    mean over the *other* seeds, so no model predicts itself. Rank and pair scores use the mean over
    all its seeds, constant within a configuration: leave-one-out means anti-correlate inside a
    configuration by construction (a seed's high target lowers its siblings' predictions), which on
    folds of few configurations would drive the within-fold rank ceiling towards -1. Models without
    another seed are dropped; with too few groups left, the all-NaN row (:func:`unscored`) and a
    log line."""
    y = np.asarray(y, dtype=np.float64)
    groups = np.asarray(groups)
    means = seed_means(y, groups)
    codes, names = _stratum_codes(protocol.split, strata, groups)
    keep = np.isfinite(y) & np.isfinite(means)
    try:
        _, folds = _predictions(
            protocol,
            DummyRegressor,
            np.zeros((int(keep.sum()), 1)),
            y[keep],
            groups[keep],
            codes[keep],
            names,
        )
    except TooFewGroupsError as exc:
        why = "no configuration has two or more seeds with a finite target" if not keep.any() else str(exc)
        log.info("noise ceiling not scored: %s", why)
        return unscored(means[:, None], y)
    configuration = pd.Series(y).where(keep).groupby(groups).transform("mean").to_numpy()

    def scores(predicted: np.ndarray) -> Evaluation:
        preds = np.broadcast_to(predicted[keep], folds.shape).copy()
        return score_predictions(
            preds,
            folds,
            y,
            groups,
            keep,
            protocol,
            (codes, names),
            fitted=False,
            hparams=hparams,
            axes=axes,
            greater_is_better=greater_is_better,
        )

    values, ranks = scores(means), scores(configuration)
    ranked = set(UNDEFINED_FOR_CONSTANT)

    def merged(field_name: str) -> dict:
        a, b = getattr(values, field_name), getattr(ranks, field_name)
        return {m: (b if m in ranked else a)[m] for m in a}

    fields = {f: merged(f) for f in ("value", "ci_low", "ci_high", "fold_std", "draws")}
    return dataclasses.replace(values, **fields, rank_folds=ranks.rank_folds)


def unscored(X: np.ndarray | None, y: np.ndarray) -> Evaluation:
    """The all-NaN evaluation of a feature set that could not be cross-validated (its row stays on
    the leaderboard, with its model and drop counts)."""
    keep = np.isfinite(y) if X is None else np.isfinite(y) & np.isfinite(X).all(axis=1)
    nan = dict.fromkeys(ALL_METRICS, math.nan)
    return Evaluation(nan, dict(nan), dict(nan), dict(nan), int(keep.sum()), int((~keep).sum()), 0)


def evaluate_or_unscored(
    label: str,
    X: np.ndarray | None,
    y: np.ndarray,
    groups: np.ndarray,
    make_estimator: Callable[[], BaseEstimator] | None,
    protocol: Protocol,
    *,
    strata: Sequence[Any] | None = None,
    hparams: pd.DataFrame | None = None,
    axes: Sequence[str] | None = None,
    greater_is_better: bool = True,
) -> Evaluation:
    """:func:`evaluate_feature_set`, or :func:`unscored` (with a warning naming ``label``) when too
    few groups are left to cross-validate: the row stays on the leaderboard either way."""
    try:
        return evaluate_feature_set(
            X,
            y,
            groups,
            make_estimator,
            protocol,
            strata=strata,
            hparams=hparams,
            axes=axes,
            greater_is_better=greater_is_better,
        )
    except TooFewGroupsError as exc:
        log.warning("%s not scored: %s", label, exc)
        return unscored(X, y)
