"""The evaluation design of one run: which (target, feature set, regressor) rows are scored, on
which data, under which protocol and strata.

:func:`planned_scores` lists the rows from the config alone (the dry run counts them);
:func:`score_jobs` gives each row its data once the features exist; :func:`evaluate_job` scores
one. :data:`VERSION` names this package's scoring code in the store keys (tests/test_versions.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from benchmark.descriptors import DESCRIPTORS, Descriptor
from benchmark.errors import ConfigError
from benchmark.evaluation.diagrams import (
    DISTANCES,
    VECTORIZERS,
    DiagramDistances,
    DiagramKNNRegressor,
    diagram_pipeline,
)
from benchmark.evaluation.protocol import (
    CEILING,
    CONSTANT,
    NOISE_CEILING,
    SEED_MEAN,
    Protocol,
    evaluate_ceiling,
    evaluate_or_unscored,
    protocol_problems,
)
from benchmark.evaluation.regressors import build_regressor
from benchmark.models.base import architecture_kwargs
from benchmark.records import Landscape, ModelRecord, ScoreRow
from benchmark.topology import sublevel_persistence
from benchmark.zoo import TASKS, table, zoo_specs

log = logging.getLogger(__name__)

VERSION = "9"
"""Code version of the scores stage (joins every score's store key)."""


# ----------------------------------------------------------------------------- the models' design


def _hashable(value: Any) -> Any:
    """A hyperparameter value as a table cell: lists and dicts as canonical JSON text."""
    return json.dumps(value, sort_keys=True) if isinstance(value, (list, dict)) else value


def architecture_label(model: ModelRecord) -> str:
    """The name of a model's architecture; ``timm/<model_name>`` for timm models."""
    name = str(model.architecture.get("name"))
    return f"{name}/{model.architecture['model_name']}" if "model_name" in model.architecture else name


def hparam_table(models: Sequence[ModelRecord]) -> pd.DataFrame:
    """One row per model: the hyperparameter columns that vary over the zoo (``architecture`` and
    ``epoch`` included when they vary), in name order, each distinct partition of the models once
    (the first name keeps it), and ``seed``.
    The pair scores hold ``seed`` fixed and score the other columns as axes."""
    table = pd.DataFrame(
        [
            {
                **{k: _hashable(v) for k, v in m.hparams.items()},
                "architecture": architecture_label(m),
                "epoch": m.epoch,
                "seed": m.seed,
            }
            for m in models
        ]
    )
    columns, seen = [], set()
    for c in sorted(table.columns):  # by name: stored records may list hyperparameters in another order
        codes = tuple(pd.factorize(table[c], use_na_sentinel=False)[0])
        if c == "seed" or (len(set(codes)) > 1 and codes not in seen):
            columns.append(c)
            seen.add(codes)
    return table[columns]


def model_table(models: Sequence[ModelRecord], targets: Sequence[str]) -> pd.DataFrame:
    """One row per model: ``model_id``, ``group``, the :func:`hparam_table` columns and the
    ``targets``: everything the protocol needs to split and score the models, without features
    (``<name>.models.csv`` beside each leaderboard, which the null tests re-score)."""
    ids = pd.DataFrame({"model_id": [m.model_id for m in models], "group": [m.group for m in models]})
    measured = pd.DataFrame({t: [m.metrics.get(t, math.nan) for m in models] for t in targets})
    return pd.concat([ids, hparam_table(models).add_prefix("hp:"), measured], axis=1)


def protocol_strata(protocol: Protocol, zoo: str, models: Sequence[ModelRecord]) -> list[str] | None:
    """The value of ``protocol.axis`` of each model (``None`` for ``group_kfold``); raises a
    ``ConfigError`` when the axis is not a hyperparameter of every model, splits a training run, or
    (``leave_one_out``) takes one value only."""
    if protocol.split == "group_kfold":
        return None
    axis = str(protocol.axis)
    names = sorted({"architecture", *(k for m in models for k in m.hparams if k != "seed")})
    if axis == "architecture":
        strata = [architecture_label(m) for m in models]
    elif axis != "seed" and all(axis in m.hparams for m in models):
        strata = [str(_hashable(m.hparams[axis])) for m in models]
    else:
        raise ConfigError(
            f"protocol.axis={axis!r} is not a hyperparameter of every model of zoo {zoo!r}; use one of {names}."
        )
    split_runs = pd.DataFrame({"g": [m.group for m in models], "s": strata}).groupby("g")["s"].nunique()
    if (split_runs > 1).any():
        raise ConfigError(
            f"protocol.axis={axis!r} varies inside a training configuration ({split_runs.idxmax()!r}); "
            "choose an axis of the configuration, such as the architecture."
        )
    values = sorted(set(strata))
    if len(values) < 2:
        varying = [c for c in hparam_table(models).columns if c != "seed"]
        message = (
            f"protocol {protocol.name!r} needs two or more values of {axis!r}; zoo {zoo!r} has "
            f"one ({values[0]!r}). Choose an axis that varies: protocol.axis=<one of {varying}>."
        )
        if protocol.split == "leave_one_out":
            raise ConfigError(message)
        log.info("%s: within one stratum this is group K-fold", message.split(". Choose")[0])
    return strata


def check_protocol(node: Mapping[str, Any]) -> None:
    """Raise a ``ConfigError`` for an unknown ``protocol.split``, a missing ``protocol.axis`` or a
    ``protocol.top_k`` below 1."""
    problems = protocol_problems(node)
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))


# ----------------------------------------------------------------------------- feature sets


def feature_sets(
    descriptors: Mapping[str, Descriptor], combinations: Mapping[str, Sequence[str]]
) -> dict[str, tuple[str, list[str]]]:
    """``name -> (kind, descriptor names)``: the constant baseline, each descriptor, each combination."""
    sets: dict[str, tuple[str, list[str]]] = {CONSTANT: ("baseline", [])}
    for name, desc in descriptors.items():
        sets[name] = (desc.kind, [name])
    for combo, members in combinations.items():
        missing = [m for m in members if m not in descriptors]
        if missing:
            log.info("feature set %s skipped: descriptors %s are not selected", combo, missing)
            continue
        kinds = {descriptors[m].kind for m in members}
        sets[combo] = ("reference" if "reference" in kinds else "combination", list(members))
    return sets


def landscape_diagrams(landscapes: Sequence[Landscape], homology: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Each landscape's persistence diagram in dimension ``homology`` and the index column a
    diagram feature set regresses on (NaN for a landscape without valid nodes, which the
    evaluation then drops)."""
    diagrams, index = [], []
    for i, ls in enumerate(landscapes):
        if homology >= ls.ndim:
            raise ConfigError(
                f"a diagram set asks for H{homology} of {ls.ndim}-D landscapes; use homology < landscape.ndim."
            )
        diagrams.append(sublevel_persistence(ls.values)[homology])
        index.append(float(i) if ls.valid.any() else math.nan)
    return diagrams, np.array(index)[:, None]


def diagram_regressors(spec: Mapping[str, Any], regressors: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The (name, config) pairs a diagram set is scored with: every selected regressor after a
    vectorizer, or one k-NN by a diagram distance."""
    if "distance" in spec:
        if spec["distance"] not in DISTANCES:
            raise ConfigError(f"diagram set distance={spec['distance']!r} is unknown; use one of {DISTANCES}.")
        return [(f"knn_{spec['distance']}", {"n_neighbors": int(spec.get("n_neighbors", 3))})]
    if spec.get("vectorizer") not in VECTORIZERS:
        raise ConfigError(
            f"diagram set vectorizer={spec.get('vectorizer')!r} is unknown; use one of {VECTORIZERS} "
            f"(or give a distance: one of {DISTANCES})."
        )
    return list(regressors.items())


def fold_problems(node: Mapping[str, Any], zoo: str, models: Sequence[Any]) -> list[str]:
    """What makes the protocol ``node`` unable to split the zoo's models (records, or the
    stand-ins of :func:`planned_models`), one message each: fewer hyperparameter configurations
    (groups) than ``n_splits`` folds, over the zoo or (``within``) in a stratum; an axis that is not
    a hyperparameter or takes one value (``leave_one_out``). Empty when ``node`` itself is invalid
    (:func:`protocol_problems` says why)."""
    try:
        protocol = Protocol.from_config(node)
    except (TypeError, ValueError):
        return []
    if protocol.problems() or not models:
        return []
    k = protocol.n_splits
    if len(models) == 1:
        need = (
            f"two values of protocol.axis={protocol.axis!r}"
            if protocol.split == "leave_one_out"
            else f"at least as many hyperparameter configurations (groups) as folds (protocol.n_splits={k})"
        )
        return [
            f"zoo {zoo!r} has one model; cross-validation needs {need}. Use a zoo of more configurations "
            "(e.g. add models of other hyperparameters to the manifest)."
        ]
    try:
        strata = protocol_strata(protocol, zoo, models)
    except ConfigError as exc:
        return [str(exc)]
    if protocol.split == "leave_one_out":
        return []
    groups = pd.Series([m.group for m in models])
    if strata is None:
        n = groups.nunique()
        if n >= k:
            return []
        return [
            f"protocol.n_splits={k} exceeds the {n} hyperparameter configuration(s) (groups) of the "
            f"{len(models)} models of zoo {zoo!r}: every fold needs at least one (the seeds of a configuration "
            f"stay in one fold), so nothing would be scored. {_fewer_folds(n)}configurations to the zoo "
            "(more axis values, or manifest models of other groups)."
        ]
    per_stratum = groups.groupby(pd.Series(strata)).nunique()
    small = per_stratum[per_stratum < k]
    if small.empty:
        return []
    counts = ", ".join(f"{s!r}: {n}" for s, n in small.items())
    return [
        f"protocol.n_splits={k} exceeds the hyperparameter configurations (groups) of some values of "
        f"protocol.axis={protocol.axis!r} in zoo {zoo!r} ({counts}): split={protocol.split!r} makes {k} folds "
        f"inside each value, so those would not be scored. {_fewer_folds(int(small.min()))}configurations to "
        "those values, or use protocol=group_kfold."
    ]


def _fewer_folds(n: int) -> str:
    """The start of a fix for ``n`` configurations: fewer folds when two or more exist."""
    return f"Lower protocol.n_splits to {n} or fewer, or add " if n >= 2 else "Add "


def planned_models(zoo: Mapping[str, Any]) -> list[Any]:
    """Stand-ins for the models a trained zoo will produce (final epochs; id, group,
    hyperparameters, seed, architecture name) from its config alone, for :func:`fold_problems`
    before training; empty when the recipe is invalid (:func:`checks.zoo_problems` says why)."""
    try:
        specs = zoo_specs(zoo)
    except (ValueError, TypeError):
        return []
    models = []
    for spec in specs:
        try:
            arch = {"name": spec.architecture, **architecture_kwargs(spec.architecture, spec.hparams)}
        except (KeyError, ValueError):  # an unknown architecture: zoo_problems names it
            return []
        stand_in = {"model_id": spec.model_id, "group": spec.group, "hparams": spec.hparams, "seed": spec.seed}
        models.append(SimpleNamespace(**stand_in, epoch=0, architecture=arch))
    return models


def evaluation_problems(cfg: Mapping[str, Any]) -> list[str]:
    """What the evaluation settings of a resolved config get wrong (targets the zoo does not
    measure, unknown descriptors in combinations, diagram sets, the protocol, and for a trained
    zoo a protocol its configurations cannot fill: see :func:`fold_problems`), one message each."""
    zoo, evaluation = cfg["zoo"], cfg["evaluation"]
    problems = []
    if zoo.get("source") == table.SOURCE:  # a feature table declares its targets
        measured, origin = table.declared_targets(zoo.get("path")), f"table {zoo.get('path')!r}"
    else:
        measured = TASKS.get(zoo["task"]).targets if zoo.get("task") in TASKS else ()
        origin = f"task {zoo.get('task')!r}"
    for target in evaluation["targets"]:
        if target not in measured:
            problems.append(
                f"evaluation target {target!r} is not measured by zoo {zoo['name']!r} "
                f"({origin}); valid targets: {', '.join(measured)}."
            )
    for combo, members in (evaluation.get("combinations") or {}).items():
        unknown = [m for m in members if m not in DESCRIPTORS]
        if unknown:
            problems.append(
                f"evaluation.combinations.{combo} names unknown descriptors {unknown}; valid: {DESCRIPTORS.names()}."
            )
    ndim = cfg["landscape"]["ndim"]
    for name, spec in (evaluation.get("diagram_sets") or {}).items():
        if spec is None:
            continue
        try:
            diagram_regressors(spec, cfg.get("regressor") or {})
        except ConfigError as exc:
            problems.append(f"evaluation.diagram_sets.{name}: {exc}")
        if not 0 <= int(spec.get("homology", 0)) < ndim:
            problems.append(
                f"evaluation.diagram_sets.{name}.homology={spec.get('homology')} must be in 0..{ndim - 1} "
                f"for {ndim}-D landscapes."
            )
    problems += protocol_problems(cfg["protocol"])
    if zoo.get("source", "train") == "train":
        problems += fold_problems(cfg["protocol"], zoo["name"], planned_models(zoo))
    return problems


# ----------------------------------------------------------------------------- score rows


@dataclass(frozen=True)
class PlannedScore:
    """One leaderboard row a run will score, known from the config alone."""

    target: str
    feature_set: str
    kind: str
    members: tuple[str, ...]  # descriptors whose columns are the features, or single columns (empty: the constant)
    regressor: str  # "mean" for the constant
    regressor_config: Mapping[str, Any] | None  # None: the constant
    diagram_set: Mapping[str, Any] | None = None  # a diagram set's spec: features are persistence diagrams


def planned_scores(
    cfg: Mapping[str, Any],
    descriptors: Mapping[str, Descriptor],
    landscapes: bool,
    table_sets: Mapping[str, str] | None = None,
) -> list[PlannedScore]:
    """Every row a run scores, in order: per target, the feature sets with each selected regressor
    (the constant with its mean), then the diagram sets (when ``landscapes`` are computed). A
    feature table's sets (``table_sets``, name -> kind: columns ``<name>__*``) replace the combinations."""
    evaluation = cfg["evaluation"]
    sets = feature_sets(descriptors, (evaluation.get("combinations") or {}) if table_sets is None else {})
    sets.update({name: (kind, [name]) for name, kind in (table_sets or {}).items()})
    rows = []
    for target in evaluation["targets"]:
        for fs_name, (kind, members) in sets.items():
            pairs = [("mean", None)] if fs_name == CONSTANT else list(cfg["regressor"].items())
            rows += [PlannedScore(target, fs_name, kind, tuple(members), r, c) for r, c in pairs]
        for fs_name, spec in (evaluation.get("diagram_sets") or {}).items():
            if spec is None:  # switched off
                continue
            if not landscapes:
                log.info("diagram set %s skipped: no landscape descriptor is selected", fs_name)
                continue
            for reg_name, reg_cfg in diagram_regressors(spec, cfg["regressor"]):
                rows.append(PlannedScore(target, fs_name, "topology", (), reg_name, reg_cfg, dict(spec)))
    return rows


@dataclass(frozen=True)
class Design:
    """What every score row of one run shares: the zoo, its task's target directions, the
    protocol, and the models' groups, hyperparameters and strata."""

    zoo: str
    greater_is_better: Mapping[str, bool]
    protocol: Protocol
    protocol_config: Mapping[str, Any]  # the config node as given (it joins the store keys)
    model_ids: list[str]
    groups: np.ndarray
    targets: Mapping[str, np.ndarray]  # target -> its value per model, shape (n,)
    hparams: pd.DataFrame
    axes: list[str]
    strata: list[str] | None

    @cached_property
    def digest(self) -> str:
        """Digest of the models' hyperparameter table and strata (joins the store keys)."""
        return hashlib.sha256((self.hparams.to_csv(index=False) + "\0".join(self.strata or [])).encode()).hexdigest()


def design(
    cfg: Mapping[str, Any], models: Sequence[ModelRecord], greater_is_better: Mapping[str, bool] | None = None
) -> Design:
    """The run's :class:`Design`; raises a ``ConfigError`` for a protocol the zoo cannot support.
    Each target's direction is its task's, or ``greater_is_better`` (a feature table's, declared
    in its YAML) for a zoo without a task."""
    check_protocol(cfg["protocol"])
    protocol = Protocol.from_config(cfg["protocol"])
    if greater_is_better is None:
        task = TASKS.get(cfg["zoo"]["task"])
        for target in cfg["evaluation"]["targets"]:
            if target not in task.greater_is_better:
                raise ConfigError(
                    f"task {task.name!r} does not say whether a larger {target!r} is better; add it to "
                    f"{type(task).__name__}.greater_is_better."
                )
        greater_is_better = task.greater_is_better
    hparams = hparam_table(models)
    return Design(
        zoo=cfg["zoo"]["name"],
        greater_is_better=dict(greater_is_better),
        protocol=protocol,
        protocol_config=cfg["protocol"],
        model_ids=[m.model_id for m in models],
        groups=np.array([m.group for m in models]),
        targets={t: np.array([m.metrics[t] for m in models], dtype=np.float64) for t in cfg["evaluation"]["targets"]},
        hparams=hparams,
        axes=[c for c in hparams.columns if c != "seed"],
        strata=protocol_strata(protocol, cfg["zoo"]["name"], models),
    )


@dataclass(frozen=True)
class ScoreJob:
    """A planned row with its data: features ``X`` (shape ``(n, d)``; None for the constant; the
    landscape index column for a diagram set, whose diagrams are in ``diagrams``) and target ``y``;
    a diagram set compared by distance shares the run's ``distances`` between those diagrams."""

    planned: PlannedScore
    X: np.ndarray | None
    y: np.ndarray
    inputs: Mapping[str, Any]  # what identifies the features in the key: columns, or a diagram spec
    data_digest: str
    diagrams: Sequence[np.ndarray] = ()
    distances: DiagramDistances | None = field(default=None, compare=False)

    def key_config(self, d: Design) -> dict[str, Any]:
        """Everything that changes this row's scores but the data (which its digest stands for)."""
        p = self.planned
        return {
            "zoo": d.zoo,
            "target": p.target,
            "greater_is_better": d.greater_is_better[p.target],
            "feature_set": p.feature_set,
            "kind": p.kind,
            **self.inputs,
            "regressor": p.regressor_config,
            "protocol": d.protocol_config,
            "axes": d.axes,
        }

    def make_estimator(self) -> Callable[[], BaseEstimator] | None:
        """A factory of fresh regressors for this row (None: the constant baseline)."""
        p = self.planned
        if p.regressor_config is None:
            return None
        spec = p.diagram_set
        if spec is None:
            return lambda: build_regressor(p.regressor, p.regressor_config)
        if "distance" in spec:
            assert self.distances is not None
            return lambda: DiagramKNNRegressor(self.distances, int(spec.get("n_neighbors", 3)))
        return lambda: diagram_pipeline(
            self.diagrams,
            spec["vectorizer"],
            build_regressor(p.regressor, p.regressor_config),
            int(spec.get("resolution", 20)),
        )


def _digest(*parts: bytes) -> str:
    return hashlib.sha256(b"".join(parts)).hexdigest()


def score_jobs(
    d: Design, planned: Sequence[PlannedScore], features: pd.DataFrame, landscapes: Sequence[Landscape]
) -> list[ScoreJob]:
    """Each planned row with its data; a feature set without any feature column is skipped (logged)."""
    groups = "\0".join(d.groups).encode()
    diagrams: dict[int, tuple[list[np.ndarray], np.ndarray]] = {}
    distances: dict[tuple[int, str], DiagramDistances] = {}  # computed once per run, when a row first asks
    jobs, empty = [], set()
    for p in planned:
        y = d.targets[p.target]
        if p.diagram_set is not None:
            homology = int(p.diagram_set.get("homology", 0))
            if homology not in diagrams:
                diagrams[homology] = landscape_diagrams(landscapes, homology)
            dgms, X = diagrams[homology]
            digest = _digest(b"".join(g.tobytes() for g in dgms), X.tobytes(), y.tobytes(), groups)
            metric = p.diagram_set.get("distance")
            if metric is not None and (homology, metric) not in distances:
                distances[homology, metric] = DiagramDistances(dgms, metric)
            shared = None if metric is None else distances[homology, metric]
            jobs.append(ScoreJob(p, X, y, {"diagram_set": dict(p.diagram_set)}, digest, dgms, shared))
            continue
        cols = sorted(c for c in features.columns if c.split("__", 1)[0] in p.members or c in p.members)
        if p.members and not cols:
            if (p.target, p.feature_set) not in empty:
                log.warning("feature set %s has no features; skipped", p.feature_set)
                empty.add((p.target, p.feature_set))
            continue
        X = features.loc[d.model_ids, cols].to_numpy(dtype=np.float64) if p.members else None
        digest = _digest(X.tobytes() if X is not None else b"", y.tobytes(), groups)
        jobs.append(ScoreJob(p, X, y, {"columns": cols}, digest))
    return jobs


def evaluate_job(job: ScoreJob, d: Design) -> ScoreRow:
    """The scores of one row under the run's protocol (all-NaN, with a warning, when too few
    groups are left to cross-validate)."""
    p = job.planned
    ev = evaluate_or_unscored(
        f"{p.target} / {p.feature_set} / {p.regressor}",
        job.X,
        job.y,
        d.groups,
        job.make_estimator(),
        d.protocol,
        strata=d.strata,
        hparams=d.hparams,
        axes=d.axes,
        greater_is_better=d.greater_is_better[p.target],
    )
    return ev.row(d.zoo, p.target, p.feature_set, p.kind, p.regressor, d.protocol.name)


def ceiling_rows(d: Design) -> list[ScoreRow]:
    """The noise-ceiling row of each target (:func:`~benchmark.evaluation.protocol.evaluate_ceiling`)."""
    return [
        evaluate_ceiling(
            d.targets[target],
            d.groups,
            d.protocol,
            strata=d.strata,
            hparams=d.hparams,
            axes=d.axes,
            greater_is_better=d.greater_is_better[target],
        ).row(d.zoo, target, NOISE_CEILING, CEILING, SEED_MEAN, d.protocol.name)
        for target in d.targets
    ]
