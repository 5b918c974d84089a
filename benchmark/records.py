"""Typed records passed between stages.

Each record converts to a *payload* (a JSON-able ``meta`` dict plus a dict of numpy arrays) and
back, so the artifact store never pickles Python objects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from benchmark.scores import SCORES

Payload = tuple[dict[str, Any], dict[str, np.ndarray]]


@dataclass(frozen=True)
class ModelRecord:
    """One trained model of a zoo.

    ``task`` names the zoo task (``benchmark.zoo.TASKS``) that defines its training objective;
    ``hparams`` is the flat dict of hyperparameters that produced it (architecture and training);
    ``group`` names the training run configuration, so models of one group never straddle a
    cross-validation split; ``metrics`` holds the measured targets.
    """

    kind: ClassVar[str] = "model"

    model_id: str
    zoo: str
    task: str
    architecture: dict[str, Any]
    dataset: str
    hparams: dict[str, Any]
    seed: int
    group: str
    epoch: int
    metrics: dict[str, float]
    state: dict[str, np.ndarray] = field(repr=False)

    @property
    def n_params(self) -> int:
        return int(sum(v.size for v in self.state.values()))

    def to_payload(self) -> Payload:
        meta = {
            "model_id": self.model_id,
            "zoo": self.zoo,
            "task": self.task,
            "architecture": self.architecture,
            "dataset": self.dataset,
            "hparams": self.hparams,
            "seed": self.seed,
            "group": self.group,
            "epoch": self.epoch,
            "metrics": self.metrics,
            "state_names": list(self.state),
        }
        arrays = {f"state/{i}": v for i, v in enumerate(self.state.values())}
        return meta, arrays

    @classmethod
    def from_payload(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> ModelRecord:
        names = meta.pop("state_names")
        state = {name: arrays[f"state/{i}"] for i, name in enumerate(names)}
        return cls(**meta, state=state)


@dataclass(frozen=True)
class TrainingRun:
    """The models one training run produced: checkpoints in order, the final model last.

    ``train_seconds`` is the wall time the run took when it was computed (kept apart from the
    models' metrics, which are deterministic).
    """

    kind: ClassVar[str] = "run"

    models: tuple[ModelRecord, ...]
    train_seconds: float = math.nan

    def to_payload(self) -> Payload:
        metas, arrays = [], {}
        for i, model in enumerate(self.models):
            meta, arr = model.to_payload()
            metas.append(meta)
            arrays.update({f"{i}/{k}": v for k, v in arr.items()})
        seconds = None if math.isnan(self.train_seconds) else self.train_seconds
        return {"models": metas, "train_seconds": seconds}, arrays

    @classmethod
    def from_payload(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> TrainingRun:
        models = []
        for i, m in enumerate(meta["models"]):
            prefix = f"{i}/"
            arr = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            models.append(ModelRecord.from_payload(dict(m), arr))
        seconds = meta.get("train_seconds")
        return cls(tuple(models), math.nan if seconds is None else float(seconds))


@dataclass(frozen=True)
class Landscape:
    """Loss sampled on a k-dimensional grid around a model's weights.

    ``axes[i]`` holds the exact coordinates along direction i, in units of that direction
    (a filter-normalised direction has, filter by filter, the norm of the weights). ``values``
    has shape ``tuple(len(a) for a in axes)`` and keeps non-finite values as measured; ``valid``
    masks them. The centre node (all coordinates 0) is the trained model. ``metric`` names what
    was sampled (``loss``, ``accuracy``, or ``log10(loss)`` for the log scale). With Hessian
    directions, ``direction_eigenvalues[i]`` is the eigenvalue of direction i (empty otherwise).
    """

    kind: ClassVar[str] = "landscape"

    model_id: str
    metric: str
    axes: tuple[np.ndarray, ...]
    values: np.ndarray
    direction_norms: tuple[float, ...]
    config: dict[str, Any]
    direction_eigenvalues: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def ndim(self) -> int:
        return len(self.axes)

    @property
    def valid(self) -> np.ndarray:
        return np.isfinite(self.values)

    @property
    def n_masked(self) -> int:
        return int(self.values.size - np.count_nonzero(self.valid))

    @property
    def center_value(self) -> float:
        return float(self.values[tuple(len(a) // 2 for a in self.axes)])

    def to_payload(self) -> Payload:
        meta = {
            "model_id": self.model_id,
            "metric": self.metric,
            "direction_norms": list(self.direction_norms),
            "config": self.config,
            "ndim": self.ndim,
        }
        arrays = {f"axis/{i}": a for i, a in enumerate(self.axes)}
        arrays["values"] = self.values
        arrays["direction_eigenvalues"] = np.asarray(self.direction_eigenvalues, dtype=np.float64)
        return meta, arrays

    @classmethod
    def from_payload(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Landscape:
        axes = tuple(arrays[f"axis/{i}"] for i in range(meta.pop("ndim")))
        return cls(
            model_id=meta["model_id"],
            metric=meta["metric"],
            axes=axes,
            values=arrays["values"],
            direction_norms=tuple(meta["direction_norms"]),
            config=meta["config"],
            direction_eigenvalues=arrays["direction_eigenvalues"],
        )


@dataclass(frozen=True)
class PartialGrid:
    """A grid evaluation in progress: ``values`` of the rows marked in ``done`` (shape = the grid's
    leading dimensions) are final; the rest are to be computed."""

    kind: ClassVar[str] = "partial_grid"

    values: np.ndarray
    done: np.ndarray

    def to_payload(self) -> Payload:
        return {}, {"values": self.values, "done": self.done}

    @classmethod
    def from_payload(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> PartialGrid:
        return cls(arrays["values"], arrays["done"])


@dataclass(frozen=True)
class Curvature:
    """Hessian spectrum summary at the trained weights.

    ``eigenvalues`` are the top-k Ritz values (descending); ``trace`` is the Hutchinson estimate
    with standard error ``trace_se`` (0 when computed exactly). When the Hessian cannot be
    computed (an operation without a second derivative), the values are NaN and ``note`` says why.

    Optional parts (empty when not requested): ``slq_nodes`` and ``slq_weights``, ``(probes, m)``,
    the stochastic Lanczos quadrature of the spectral density (see
    :func:`benchmark.hessian.slq`); ``layers`` with ``layer_trace``, ``layer_trace_se`` (from the
    Hutchinson probes) and ``layer_lambda_max`` (Lanczos on each layer's diagonal block; NaN when
    not requested), one entry per layer.
    """

    kind: ClassVar[str] = "curvature"

    model_id: str
    eigenvalues: np.ndarray
    trace: float
    trace_se: float
    n_params: int
    n_hvp: int
    config: dict[str, Any]
    note: str = ""  # why the values are NaN, when they are
    slq_nodes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    slq_weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    layers: tuple[str, ...] = ()
    layer_trace: np.ndarray = field(default_factory=lambda: np.zeros(0))
    layer_trace_se: np.ndarray = field(default_factory=lambda: np.zeros(0))
    layer_lambda_max: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def lambda_max(self) -> float:
        return float(self.eigenvalues[0])

    def to_payload(self) -> Payload:
        meta = {
            "model_id": self.model_id,
            "trace": self.trace,
            "trace_se": self.trace_se,
            "n_params": self.n_params,
            "n_hvp": self.n_hvp,
            "config": self.config,
            "note": self.note,
            "layers": list(self.layers),
        }
        arrays = {name: np.asarray(getattr(self, name), dtype=np.float64) for name in self._ARRAYS}
        return meta, arrays

    _ARRAYS: ClassVar[tuple[str, ...]] = (
        "eigenvalues",
        "slq_nodes",
        "slq_weights",
        "layer_trace",
        "layer_trace_se",
        "layer_lambda_max",
    )

    @classmethod
    def from_payload(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Curvature:
        meta["layers"] = tuple(meta["layers"])
        return cls(**meta, **{name: arrays[name] for name in cls._ARRAYS})


@dataclass(frozen=True)
class FeatureRow:
    """One descriptor's output for one model: ``<feature> -> value``.

    A value is a finite float, or NaN with its reason in ``reasons``.
    """

    kind: ClassVar[str] = "features"

    model_id: str
    descriptor: str
    values: dict[str, float]
    reasons: dict[str, str]

    def __post_init__(self) -> None:
        for name, value in self.values.items():
            if not math.isfinite(value) and name not in self.reasons:
                raise ValueError(
                    f"descriptor {self.descriptor!r} returned {value} for feature {name!r} of "
                    f"model {self.model_id!r} without a reason; return NaN and record why."
                )

    def columns(self) -> dict[str, float]:
        """Values keyed by leaderboard column name ``<descriptor>__<feature>``."""
        return {f"{self.descriptor}__{k}": v for k, v in self.values.items()}

    def to_payload(self) -> Payload:
        values = {k: (None if math.isnan(v) else v) for k, v in self.values.items()}
        return {
            "model_id": self.model_id,
            "descriptor": self.descriptor,
            "values": values,
            "reasons": self.reasons,
        }, {}

    @classmethod
    def from_payload(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> FeatureRow:
        values = {k: (math.nan if v is None else float(v)) for k, v in meta["values"].items()}
        return cls(meta["model_id"], meta["descriptor"], values, meta["reasons"])


SCORE_METRICS: tuple[str, ...] = tuple(s.name for s in SCORES)
"""Scores reported for every (feature set, regressor, target), in CSV column order: the names of
:data:`benchmark.scores.SCORES`, which declares each one's direction. See docs/protocol.md."""
SCORE_STATS: tuple[str, ...] = ("value", "ci_low", "ci_high", "fold_std")
"""Per metric: out-of-fold score (mean over repeats), its interval, its spread over folds."""
COMPARED_METRICS: tuple[str, ...] = tuple(s.name for s in SCORES if s.compared)
"""Scores with bootstrap draws, compared with the best baseline on the same resamples."""
COMPARISON_STATS: tuple[str, ...] = ("win_rate", "p_vs_baseline")
"""Per compared metric: share of resamples where the row beats the best baseline, one-sided p-value."""
BEST_STATS: tuple[str, ...] = ("p_vs_best", "tied_with_best")
"""Per compared metric: the Holm-adjusted two-sided paired p-value against the table's best row, and
whether the row is statistically tied with it (see docs/protocol.md, "Which rows are tied")."""
CEILING_SHARED: tuple[str, ...] = ("r2", "spearman")
"""Scores reported as a share of the table's noise ceiling (``<score>_share_of_ceiling``)."""
GIVEN: tuple[str, ...] = ("baselines", "hyperparameters")
"""The sets a feature set's conditional value is measured over (``evaluation.conditional`` names
their members; see :mod:`benchmark.evaluation.conditional`)."""
GAIN_SCORES: tuple[str, ...] = ("r2", "spearman")
"""Scores whose gain over each given set is reported."""
GAIN_COLUMNS: tuple[str, ...] = tuple(
    f"{m}_gain_{g}{stat}" for g in GIVEN for m in GAIN_SCORES for stat in ("", "_ci_low", "_ci_high", "_p")
)
"""``<score>_gain_<given>`` (the score of the feature set fitted with the given set, minus the given
set's alone), its paired-bootstrap interval and one-sided p-value of "adds nothing"."""


@dataclass(frozen=True)
class ScoreRow:
    """Cross-validated scores of one (zoo, target, feature set, regressor, protocol).

    For each metric m: ``value[m]`` on out-of-fold predictions (mean over repeats),
    ``[ci_low[m], ci_high[m]]`` its interval, ``fold_std[m]`` the standard deviation of m over the
    individual test folds. ``draws[m]`` holds the group-bootstrap scores of each metric of
    :data:`COMPARED_METRICS`, aligned resample by resample across the rows of one zoo and target;
    ``win_rate[m]`` and ``p_vs_baseline[m]`` compare the row with the best baseline on them (NaN
    until compared, and for the constant baseline itself). Missing metrics read as NaN. See
    docs/protocol.md.
    """

    kind: ClassVar[str] = "scores"

    zoo: str
    target: str
    feature_set: str
    feature_kind: str
    regressor: str
    protocol: str
    n_models: int
    n_dropped: int
    n_folds: int
    value: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    fold_std: dict[str, float]
    draws: dict[str, np.ndarray] = field(default_factory=dict, compare=False, repr=False)
    win_rate: dict[str, float] = field(default_factory=dict)
    p_vs_baseline: dict[str, float] = field(default_factory=dict)
    excursion: float = math.nan
    rank_folds: int = 0
    p_vs_best: dict[str, float] = field(default_factory=dict)
    tied_with_best: dict[str, float] = field(default_factory=dict)
    share_of_ceiling: dict[str, float] = field(default_factory=dict)
    gain: dict[str, float] = field(default_factory=dict)

    def flat(self) -> dict[str, Any]:
        """Keys and every statistic as one flat row (the leaderboard CSV's columns); no draws."""
        out: dict[str, Any] = {
            "zoo": self.zoo,
            "target": self.target,
            "feature_set": self.feature_set,
            "kind": self.feature_kind,
            "regressor": self.regressor,
            "protocol": self.protocol,
            "n_models": self.n_models,
            "n_dropped": self.n_dropped,
            "n_folds": self.n_folds,
            "rank_folds": self.rank_folds,
            "excursion": self.excursion,
        }
        for m in SCORE_METRICS:
            for stat in SCORE_STATS:
                out[f"{m}_{stat}"] = getattr(self, stat).get(m, math.nan)
        for m in COMPARED_METRICS:
            for stat in (*COMPARISON_STATS, *BEST_STATS):
                out[f"{m}_{stat}"] = getattr(self, stat).get(m, math.nan)
        for m in CEILING_SHARED:
            out[f"{m}_share_of_ceiling"] = self.share_of_ceiling.get(m, math.nan)
        for name in GAIN_COLUMNS:
            out[name] = self.gain.get(name, math.nan)
        return out

    def to_payload(self) -> Payload:
        meta = self.flat()
        meta = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in meta.items()}
        meta["draws"] = sorted(self.draws)
        arrays = {f"draws/{m}": np.asarray(self.draws[m], dtype=np.float64) for m in self.draws}
        return meta, arrays

    @classmethod
    def from_payload(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> ScoreRow:
        def num(v: Any) -> float:
            return math.nan if v is None else float(v)

        stats = {stat: {m: num(meta.get(f"{m}_{stat}")) for m in SCORE_METRICS} for stat in SCORE_STATS}
        stats_of = (*COMPARISON_STATS, *BEST_STATS)
        compared = {stat: {m: num(meta.get(f"{m}_{stat}")) for m in COMPARED_METRICS} for stat in stats_of}
        return cls(
            zoo=meta["zoo"],
            target=meta["target"],
            feature_set=meta["feature_set"],
            feature_kind=meta["kind"],
            regressor=meta["regressor"],
            protocol=meta["protocol"],
            n_models=meta["n_models"],
            n_dropped=meta["n_dropped"],
            n_folds=meta["n_folds"],
            **stats,
            draws={m: arrays[f"draws/{m}"] for m in meta.get("draws", [])},
            **compared,
            excursion=num(meta.get("excursion")),
            rank_folds=int(meta.get("rank_folds") or 0),
            share_of_ceiling={m: num(meta.get(f"{m}_share_of_ceiling")) for m in CEILING_SHARED},
            gain={name: num(meta.get(name)) for name in GAIN_COLUMNS},
        )


@dataclass(frozen=True)
class UnivariateTable:
    """Each feature's own Spearman rho with each target (the univariate view; no regressor).

    One entry per (target, feature), aligned across the fields: ``spearman`` with its interval
    ``[ci_low, ci_high]`` over the ``n_used`` models where both are finite (``n_dropped`` others).
    """

    kind: ClassVar[str] = "univariate"

    target: tuple[str, ...]
    feature: tuple[str, ...]
    spearman: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n_used: np.ndarray
    n_dropped: np.ndarray

    _ARRAYS: ClassVar[tuple[str, ...]] = ("spearman", "ci_low", "ci_high", "n_used", "n_dropped")

    def columns(self) -> dict[str, Any]:
        """Field name -> values, in the table's column order."""
        return {
            "target": list(self.target),
            "feature": list(self.feature),
            **{a: getattr(self, a) for a in self._ARRAYS},
        }

    def to_payload(self) -> Payload:
        return {"target": list(self.target), "feature": list(self.feature)}, {a: getattr(self, a) for a in self._ARRAYS}

    @classmethod
    def from_payload(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> UnivariateTable:
        return cls(tuple(meta["target"]), tuple(meta["feature"]), **{a: arrays[a] for a in cls._ARRAYS})
