"""The stages, wired to the artifact store. Order lives here; formulas live in the layers below.

    zoo -> ModelRecord[] -> Landscape, Curvature -> FeatureRow[] -> ScoreRow[]

Every stage output is keyed by (stage, stage version, its config, its input keys) and loaded from
the store when present, so a rerun recomputes nothing and a killed run resumes.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import json
import logging
import math
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from benchmark.checks import diverged_models, model_problems, range_problems, type_problems, zoo_problems
from benchmark.data import DATASETS, load_dataset
from benchmark.descriptors import DESCRIPTORS, Descriptor, DescriptorInputs, build_descriptor
from benchmark.evaluation import CONSTANT, SPLITS, build_regressor, compare_with_baselines
from benchmark.evaluation.diagrams import DISTANCES, VECTORIZERS, DiagramKNNRegressor, diagram_pipeline
from benchmark.evaluation.protocol import evaluate_or_unscored
from benchmark.hessian import (
    hutchinson_samples,
    make_hvp,
    mean_and_se,
    parameter_blocks,
    parameter_index,
    restrict,
    slq,
    top_eigenpairs,
    top_eigenvalues,
)
from benchmark.landscape import evaluate_grid, grid_axes, perturbable_parameters, random_direction
from benchmark.landscape.directions import (
    NORMALIZATIONS,
    direction_norm,
    normalize_direction,
    orthogonalize,
    unflatten,
)
from benchmark.landscape.grid import NORM_STATS, batch_statistics, running_stat_directions
from benchmark.models import ARCHITECTURES, build_model, load_state
from benchmark.records import Curvature, FeatureRow, Landscape, ModelRecord, PartialGrid, ScoreRow, TrainingRun
from benchmark.store import ArtifactStore, artifact_key
from benchmark.topology import sublevel_persistence
from benchmark.zoo import TASKS, ModelSpec, Objective, expand_zoo
from benchmark.zoo.manifest import export_manifest, load_manifest

log = logging.getLogger(__name__)

LANDSCAPE_VERSION = "1"
CURVATURE_VERSION = "1"
SCORES_VERSION = "4"


class ConfigError(ValueError):
    """A configuration value the pipeline cannot run with; the message says which and how to fix it."""


@dataclass
class RunResult:
    """Everything a run produced, in memory."""

    models: list[ModelRecord]
    features: pd.DataFrame  # index model_id; columns "<descriptor>__<feature>"
    scores: list[ScoreRow]
    timings: dict[str, float] = field(default_factory=dict)
    store_summary: str = ""
    store_counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # stage -> (loaded, computed)
    landscape_masked: tuple[int, int] = (0, 0)  # (masked nodes, total nodes) over the zoo
    train_seconds: float = math.nan  # wall time of training the zoo, as measured when it was computed
    landscapes: list[Landscape] = field(default_factory=list)  # per model, when a descriptor needed them
    curvatures: list[Curvature] = field(default_factory=list)  # per model, when a descriptor needed them

    def scores_frame(self) -> pd.DataFrame:
        return pd.DataFrame([s.flat() for s in self.scores])


# ----------------------------------------------------------------------------- configuration


def load_plugins(plugins: Iterable[str]) -> None:
    """Import user modules (dotted names or ``.py`` paths) so their registrations take effect."""
    for entry in plugins:
        path = Path(entry)
        if entry.endswith(".py"):
            if not path.is_file():
                raise ConfigError(f"plugin file {entry!r} does not exist; give a path to a .py file or a module name.")
            name = f"landscape_bench_plugin_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
            if name in sys.modules:
                continue
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        else:
            try:
                importlib.import_module(entry)
            except ImportError as exc:
                raise ConfigError(f"plugin module {entry!r} cannot be imported ({exc}).") from None


def validate(cfg: Mapping[str, Any]) -> None:
    """Check names and ranges (the protocol's too) before any work starts."""
    problems = type_problems(cfg)
    if problems:  # the checks below compare these settings as numbers
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    problems = range_problems(cfg)
    if cfg["dataset"]["name"] not in DATASETS:
        problems.append(DATASETS.unknown_message(cfg["dataset"]["name"]))
    zoo = cfg["zoo"]
    if zoo.get("task") not in TASKS:
        problems.append(TASKS.unknown_message(str(zoo.get("task"))))
    allowed = zoo.get("datasets") or []
    if allowed and cfg["dataset"]["name"] not in allowed:
        problems.append(
            f"zoo {zoo['name']!r} trains on datasets {allowed}, not {cfg['dataset']['name']!r}; "
            f"add dataset={allowed[0]} (or use experiment={zoo['name']}, which sets both)."
        )
    if zoo.get("source", "train") not in ("train", "manifest"):
        problems.append(f"zoo.source={zoo.get('source')!r} is unknown; use 'train' or 'manifest'.")
    if zoo.get("source", "train") == "train":
        architectures = (zoo.get("axes") or {}).get("architecture") or [zoo.get("architecture")]
        for arch in architectures:
            if arch not in ARCHITECTURES:
                problems.append(ARCHITECTURES.unknown_message(str(arch)))
    for name in cfg["descriptors"]:
        if name not in DESCRIPTORS:
            problems.append(DESCRIPTORS.unknown_message(name))
    if not cfg["descriptors"]:
        problems.append("no descriptors selected; choose some, e.g. descriptors=[merge_tree,hessian].")
    if not cfg["regressor"]:
        problems.append("no regressor selected; choose some, e.g. regressor=[ridge,random_forest].")
    measured = TASKS.get(zoo["task"]).targets if zoo.get("task") in TASKS else ()
    for target in cfg["evaluation"]["targets"]:
        if target not in measured:
            problems.append(
                f"evaluation target {target!r} is not measured by zoo {zoo['name']!r} "
                f"(task {zoo.get('task')!r}); valid targets: {', '.join(measured)}."
            )
    for combo, members in (cfg["evaluation"].get("combinations") or {}).items():
        unknown = [m for m in members if m not in DESCRIPTORS]
        if unknown:
            problems.append(
                f"evaluation.combinations.{combo} names unknown descriptors {unknown}; valid: {DESCRIPTORS.names()}."
            )
    problems += zoo_problems(zoo)
    ls = cfg["landscape"]
    try:
        grid_axes(ls["ndim"], ls["steps"], ls["span"])
    except ValueError as exc:
        problems.append(str(exc))
    choices = {
        "directions": DIRECTION_KINDS,
        "normalization": NORMALIZATIONS,
        "norm_stats": NORM_STATS,
        "scale": SCALES,
    }
    defaults = {"directions": "random", "norm_stats": "frozen", "scale": "linear"}
    for key, allowed in choices.items():
        value = ls.get(key, defaults.get(key))
        if value not in allowed:
            problems.append(f"landscape.{key}={value!r} is unknown; use one of {list(allowed)}.")
    if zoo.get("task") in TASKS and zoo.get("source", "train") == "train":
        try:
            TASKS.get(zoo["task"]).check_metric(ls.get("metric", "loss"))
        except ValueError as exc:
            problems.append(str(exc))
    cv = cfg["curvature"]
    if not 1 <= cv["top_k"] <= cv["lanczos_iters"]:
        problems.append(
            f"curvature.top_k={cv['top_k']} must be >= 1 and <= curvature.lanczos_iters={cv['lanczos_iters']}; "
            "raise lanczos_iters or lower top_k."
        )
    if cv["trace_samples"] < 2:
        problems.append(f"curvature.trace_samples={cv['trace_samples']} must be >= 2 (64 is typical).")
    for name, spec in (cfg["evaluation"].get("diagram_sets") or {}).items():
        if spec is None:
            continue
        try:
            diagram_regressors(spec, cfg["regressor"])
        except ConfigError as exc:
            problems.append(f"evaluation.diagram_sets.{name}: {exc}")
        if not 0 <= int(spec.get("homology", 0)) < ls["ndim"]:
            problems.append(
                f"evaluation.diagram_sets.{name}.homology={spec.get('homology')} must be in 0..{ls['ndim'] - 1} "
                f"for {ls['ndim']}-D landscapes."
            )
    if cv.get("slq_probes", 0) < 0:
        problems.append(f"curvature.slq_probes={cv['slq_probes']} must be >= 0 (0: no spectral density).")
    problems += protocol_problems(cfg["protocol"])
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))


def check_models(cfg: Mapping[str, Any], models: Sequence[ModelRecord], curvature: bool) -> None:
    """After the zoo is loaded (and stored): raise what makes it impossible to evaluate, warn of
    diverged models (their descriptors are NaN with a reason; evaluation leaves them out)."""
    top_k = cfg["curvature"]["top_k"] if curvature else None
    problems = model_problems(cfg["zoo"]["name"], models, cfg["evaluation"]["targets"], top_k)
    if problems:
        raise ConfigError("cannot evaluate this zoo:\n  - " + "\n  - ".join(problems))
    diverged = diverged_models(models)
    if diverged:
        log.warning(
            "%d model(s) have non-finite weights (diverged training): %s; their landscape and curvature "
            "descriptors are NaN and evaluation leaves them out",
            len(diverged),
            ", ".join(diverged[:10]) + (" ..." if len(diverged) > 10 else ""),
        )


# ----------------------------------------------------------------------------- stages


def _bar(total: int, desc: str) -> tqdm:
    return tqdm(total=total, desc=desc, unit="model", leave=False, disable=None, dynamic_ncols=True)


def stage_manifest_zoo(cfg: Mapping[str, Any]) -> tuple[list[ModelRecord], list[str], float]:
    """Load an external zoo from its manifest; keys digest each checkpoint and its manifest row."""
    zoo = cfg["zoo"]
    loaded = load_manifest(zoo["manifest"], zoo["name"], zoo["targets"], bool(zoo.get("skip_invalid")))
    wrong = [lm.record.model_id for lm in loaded if lm.record.dataset != cfg["dataset"]["name"]]
    if wrong:
        raise ConfigError(
            f"manifest models {wrong[:5]} were trained on another dataset than dataset={cfg['dataset']['name']}; "
            "choose their dataset, or split the manifest by dataset."
        )
    unknown = sorted({lm.record.task for lm in loaded if lm.record.task not in TASKS})
    if unknown:
        raise ConfigError(f"manifest names unknown tasks {unknown}; valid tasks: {TASKS.names()}.")
    keys = [artifact_key("manifest", "1", {}, [lm.key]) for lm in loaded]
    return [lm.record for lm in loaded], keys, math.nan


def compute_threads(cfg: Mapping[str, Any]) -> int:
    """The torch intra-op threads a run computes with: ``threads``, or torch's default when null."""
    return int(cfg.get("threads") or torch.get_num_threads())


def numerics(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """What besides the settings changes computed numbers, for the store keys of the computing
    stages (training, landscapes, curvature, scores). Float sums split over a different number of
    threads round differently, and training amplifies that, so the thread count (torch's, and the
    BLAS and OpenMP pools that :func:`run` limits to it) is part of a result; one thread, the
    default, is the reference and adds nothing to a key."""
    threads = compute_threads(cfg)
    return {} if threads == 1 else {"threads": threads}


def _runs(cfg: Mapping[str, Any]) -> tuple[list[ModelSpec], list[str], list[int]]:
    """The zoo's training runs, their store keys and the checkpoint epochs kept."""
    zoo = cfg["zoo"]
    task = TASKS.get(zoo["task"])
    specs = expand_zoo(
        zoo["name"],
        zoo.get("architecture"),
        zoo.get("fixed") or {},
        zoo["axes"],
        zoo.get("sample"),
        zoo.get("sample_seed", 0),
    )
    checkpoints = sorted(int(c) for c in (zoo.get("checkpoints") or []))
    keys = [
        artifact_key(
            "run",
            f"{task.name}-{task.version}",
            {
                "zoo": spec.zoo,
                "architecture": spec.architecture,
                "hparams": spec.hparams,
                "checkpoints": checkpoints,
                "dataset": cfg["dataset"],
                **numerics(cfg),
            },
            [],
        )
        for spec in specs
    ]
    return specs, keys, checkpoints


def _stage_keys(
    stage: str,
    version: str,
    stage_cfg: Mapping[str, Any],
    model_keys: Sequence[str],
    extra: Mapping[str, Any] | None = None,
) -> list[str]:
    cfg = {**_stage_cfg(stage_cfg), **(extra or {})}
    return [artifact_key(stage, version, cfg, [mk]) for mk in model_keys]


def _stage_cfg(stage_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that change a stage's results (its name and checkpoint cadence do not)."""
    return {k: v for k, v in stage_cfg.items() if k not in ("name", "checkpoint_seconds")}


def _feature_keys(name: str, desc: Descriptor, inputs: Mapping[str, Sequence[str]], n: int) -> list[str]:
    return [
        artifact_key(
            "features",
            desc.version,
            {"descriptor": name, "params": desc.get_params()},
            [inputs[r][i] for r in _input_names(desc)],
        )
        for i in range(n)
    ]


def stage_zoo(store: ArtifactStore, cfg: Mapping[str, Any], data: Any) -> tuple[list[ModelRecord], list[str], float]:
    """Train (or load) every run of the zoo: all models (checkpoints included), their keys, and the
    seconds training took when it was computed."""
    zoo = cfg["zoo"]
    if zoo.get("source") == "manifest":
        return stage_manifest_zoo(cfg)
    task = TASKS.get(zoo["task"])
    specs, run_keys, checkpoints = _runs(cfg)

    def train(i: int) -> TrainingRun:
        t0 = time.perf_counter()
        models = task.train(specs[i], data, cfg["dataset"]["name"], checkpoints)
        return TrainingRun(tuple(models), time.perf_counter() - t0)

    with _bar(len(specs), f"zoo {zoo['name']}: train") as bar:
        runs = store.map("run", run_keys, TrainingRun, train, progress=bar.update)
    models = [m for run in runs for m in run.models]
    keys = [f"{key}@{m.epoch}" for key, run in zip(run_keys, runs, strict=True) for m in run.models]
    seconds = sum(r.train_seconds for r in runs)
    log.info(
        "zoo %s: %d runs, %d models; training took %.1f s when computed", zoo["name"], len(runs), len(models), seconds
    )
    return models, keys, seconds


def _module(record: ModelRecord) -> torch.nn.Module:
    return load_state(build_model(record.architecture), record.state, record.model_id)


def _objective(record: ModelRecord, data: Any, n_samples: int, seed: int, metric: str = "loss") -> Objective:
    return TASKS.get(record.task).objective(record, data, n_samples, seed, metric)


class GridCheckpoint:
    """Progress of one grid evaluation in the store, saved at most every ``every`` seconds, so a
    killed run resumes with its finished rows."""

    def __init__(self, store: ArtifactStore, key: str, every: float) -> None:
        self.store, self.key, self.every = store, key, every
        self._last = time.monotonic()

    def load(self) -> tuple[np.ndarray, np.ndarray] | None:
        partial = self.store.load("landscape_partial", self.key, PartialGrid)
        return None if partial is None else (partial.values, partial.done)

    def save(self, values: np.ndarray, done: np.ndarray) -> None:
        if time.monotonic() - self._last >= self.every and not done.all():
            self.store.save("landscape_partial", self.key, PartialGrid(values.copy(), done.copy()))
            self._last = time.monotonic()

    def clear(self) -> None:
        self.store.discard("landscape_partial", self.key)


DIRECTION_KINDS = ("random", "hessian")
SCALES = ("linear", "log")


def landscape_directions(
    model: torch.nn.Module, objective: Objective, ls_cfg: Mapping[str, Any]
) -> tuple[list[dict[str, torch.Tensor]], np.ndarray]:
    """The grid's directions and, for Hessian directions, their eigenvalues (empty otherwise).

    ``random``: seeded Gaussian draws, normalised (Li et al. 2018). ``hessian``: the top-``ndim``
    eigenvectors of the objective's Hessian restricted to the perturbed parameters (Lanczos,
    ``lanczos_iters`` steps), then normalised the same way (``model`` keeps them eigenvectors,
    ``none`` keeps them unit vectors; ``filter``/``layer`` rescale pieces of them).
    ``orthogonalize`` makes them exactly orthogonal; ``norm_stats=perturbed`` adds the running
    statistics to every direction afterwards.
    """
    params = {n: p.detach() for n, p in model.named_parameters()}
    include = perturbable_parameters(model, ls_cfg["include_bias"], ls_cfg["include_norm"])
    ndim, kind = ls_cfg["ndim"], ls_cfg.get("directions", "random")
    eigenvalues = np.zeros(0)
    if kind == "random":
        g = torch.Generator().manual_seed(ls_cfg["seed"])
        directions = [random_direction(params, include, g, ls_cfg["normalization"]) for _ in range(ndim)]
    elif kind == "hessian":
        hvp, n = make_hvp(model, objective)
        index = parameter_index(model, {name for name, moved in include.items() if moved})
        op, size = restrict(hvp, n, index)
        if ndim > size:
            raise ConfigError(
                f"landscape.ndim={ndim} Hessian directions exceed the {size} perturbed parameters; "
                "lower landscape.ndim."
            )
        try:
            eigenvalues, vecs, _ = top_eigenpairs(op, size, ndim, ls_cfg.get("lanczos_iters", 30), ls_cfg["seed"])
        except ValueError as exc:
            raise UndefinedLandscapeError(str(exc)) from None
        directions = []
        for v in vecs:
            full = torch.zeros(n, dtype=torch.float64)
            full[index] = v
            directions.append(normalize_direction(unflatten(full, params), params, include, ls_cfg["normalization"]))
    else:
        raise ConfigError(f"landscape.directions={kind!r} is unknown; use one of {DIRECTION_KINDS}.")
    if ls_cfg.get("orthogonalize"):
        directions = orthogonalize(directions)
    if ls_cfg.get("norm_stats", "frozen") == "perturbed":
        for d in directions:
            d.update(running_stat_directions(model))
    return directions, eigenvalues


def grid_values(values: np.ndarray, scale: str) -> np.ndarray:
    """``values`` on the requested scale: ``linear`` as is, ``log`` as ``log10`` (non-positive
    values become -inf/NaN and are masked like any non-finite value)."""
    if scale == "linear":
        return values
    if scale == "log":
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(values)
    raise ConfigError(f"landscape.scale={scale!r} is unknown; use one of {SCALES}.")


class UndefinedLandscapeError(ValueError):
    """A landscape that cannot be defined for a model (e.g. Hessian directions of a diverged model)."""


def compute_landscape(
    record: ModelRecord, data: Any, ls_cfg: Mapping[str, Any], checkpoint: GridCheckpoint | None = None
) -> Landscape:
    """``landscape.metric`` of ``record`` on a grid along normalised directions (see
    :func:`landscape_directions`); resumes from and saves progress to ``checkpoint`` when given.

    Normalisation layers: ``norm_stats=frozen`` (eval mode, trained running statistics),
    ``perturbed`` (running statistics move with the weights) or ``batch`` (each node normalises
    with the evaluation batch's statistics). A model whose Hessian directions are undefined
    (non-finite curvature) gets an all-NaN grid, masked downstream, with the reason logged.
    """
    model = _module(record)
    metric = ls_cfg.get("metric", "loss")
    objective = _objective(record, data, ls_cfg["n_samples"], ls_cfg["seed"])
    measured = objective if metric == "loss" else _objective(record, data, ls_cfg["n_samples"], ls_cfg["seed"], metric)
    axes = grid_axes(ls_cfg["ndim"], ls_cfg["steps"], ls_cfg["span"])
    batch_stats = ls_cfg.get("norm_stats", "frozen") == "batch"
    with batch_statistics(model) if batch_stats else contextlib.nullcontext():
        try:
            directions, eigenvalues = landscape_directions(model, objective, ls_cfg)
        except UndefinedLandscapeError as exc:
            log.warning("landscape of %s is undefined: %s", record.model_id, exc)
            nan = np.full(tuple(len(a) for a in axes), np.nan)
            return Landscape(record.model_id, metric, axes, nan, (math.nan,) * len(axes), dict(ls_cfg))
        resume = checkpoint.load() if checkpoint else None
        if resume is not None and resume[0].shape != tuple(len(a) for a in axes):
            resume = None
        values = evaluate_grid(
            model, measured, directions, axes, resume=resume, on_row=checkpoint.save if checkpoint else None
        )
    if checkpoint:
        checkpoint.clear()
    scale = ls_cfg.get("scale", "linear")
    weights = dict(model.named_parameters())  # direction norms are over weights, not buffers
    return Landscape(
        model_id=record.model_id,
        metric=metric if scale == "linear" else f"log10({metric})",
        axes=axes,
        values=grid_values(values, scale),
        direction_norms=tuple(direction_norm({n: d[n] for n in d if n in weights}) for d in directions),
        config=dict(ls_cfg),
        direction_eigenvalues=eigenvalues,
    )


def compute_curvature(record: ModelRecord, data: Any, c_cfg: Mapping[str, Any]) -> Curvature:
    """Top-k eigenvalues (Lanczos), trace (Hutchinson) and, when asked, the spectral density (SLQ,
    ``slq_probes`` > 0) and per-layer traces and lambda_max (``per_layer``) of the training
    objective's Hessian at the trained weights."""
    model = _module(record)
    objective = _objective(record, data, c_cfg["n_samples"], c_cfg["seed"])
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    k, iters, seed = c_cfg["top_k"], c_cfg["lanczos_iters"], c_cfg["seed"]
    if k > n_params:
        raise ConfigError(
            f"curvature.top_k={k} exceeds the {n_params} parameters of model {record.model_id!r}; "
            f"lower curvature.top_k to at most {n_params}."
        )
    blocks = parameter_blocks(model) if c_cfg.get("per_layer") else []
    try:
        hvp, n = make_hvp(model, objective)
        evals, n_lanczos = top_eigenvalues(hvp, n, k, iters, seed)
        samples, block_samples = hutchinson_samples(hvp, n, c_cfg["trace_samples"], seed, [b for _, b in blocks])
        n_hvp = n_lanczos + c_cfg["trace_samples"]
        probes = int(c_cfg.get("slq_probes", 0))
        nodes, weights = slq(hvp, n, probes, iters, seed) if probes else (np.zeros((0, 0)), np.zeros((0, 0)))
        n_hvp += probes * min(iters, n)
        layer_max = np.full(len(blocks), np.nan)
        if c_cfg.get("per_layer"):
            for i, (_, block) in enumerate(blocks):
                op, size = restrict(hvp, n, block)
                layer_max[i] = top_eigenvalues(op, size, 1, iters, seed)[0][0]
                n_hvp += min(iters, size)
    except RuntimeError as exc:  # e.g. "derivative for aten::hardsigmoid_backward is not implemented"
        note = f"Hessian-vector products failed: {str(exc).splitlines()[0]}"
        log.warning("curvature of %s is undefined: %s", record.model_id, note)
        return Curvature(record.model_id, np.full(k, np.nan), math.nan, math.nan, n_params, 0, dict(c_cfg), note)
    trace, se = mean_and_se(samples)
    layer_trace, layer_se = mean_and_se(block_samples)
    return Curvature(
        record.model_id,
        evals,
        float(trace),
        float(se),
        n,
        n_hvp,
        dict(c_cfg),
        slq_nodes=nodes,
        slq_weights=weights,
        layers=tuple(name for name, _ in blocks),
        layer_trace=layer_trace,
        layer_trace_se=layer_se,
        layer_lambda_max=layer_max,
    )


def stage_per_model(
    store: ArtifactStore,
    stage: str,
    version: str,
    stage_cfg: Mapping[str, Any],
    models: Sequence[ModelRecord],
    model_keys: Sequence[str],
    cls: type,
    compute: Any,
    data: Any,
    key_extra: Mapping[str, Any] | None = None,
) -> tuple[list[Any], list[str]]:
    """Compute (or load) one artifact per model; ``key_extra`` joins the stage settings in the keys
    only (e.g. :func:`numerics`)."""
    cfg = _stage_cfg(stage_cfg)
    keys = _stage_keys(stage, version, stage_cfg, model_keys, key_extra)

    def run(i: int) -> Any:
        if stage == "landscape":
            every = float(stage_cfg.get("checkpoint_seconds", 30.0))
            return compute(models[i], data, cfg, GridCheckpoint(store, keys[i], every))
        return compute(models[i], data, cfg)

    with _bar(len(models), f"{stage}") as bar:
        out = store.map(stage, keys, cls, run, progress=bar.update)
    return out, keys


def _input_names(desc: Descriptor) -> list[str]:
    """The model record always; the other inputs the descriptor declares."""
    return ["model", *(r for r in desc.requires if r != "model")]


def stage_descriptors(
    store: ArtifactStore,
    descriptors: Mapping[str, Descriptor],
    models: Sequence[ModelRecord],
    inputs: Mapping[str, tuple[Sequence[Any], Sequence[str]]],
) -> pd.DataFrame:
    """One FeatureRow per (model, descriptor); returns the feature table (NaN where undefined)."""
    columns: dict[str, dict[str, float]] = {m.model_id: {} for m in models}
    undefined: dict[str, int] = {}
    for name, desc in descriptors.items():
        keys = _feature_keys(name, desc, {k: v[1] for k, v in inputs.items()}, len(models))

        def compute(i: int, desc: Descriptor = desc) -> FeatureRow:
            kw = {r: inputs[r][0][i] for r in _input_names(desc)}
            return desc.compute(DescriptorInputs(**kw))

        rows = store.map("features", keys, FeatureRow, compute)
        for row in rows:
            columns[row.model_id].update(sorted(row.columns().items()))  # stable column order
            if row.reasons:
                undefined[name] = undefined.get(name, 0) + 1
    for name, count in undefined.items():
        log.warning(
            "descriptor %s is undefined (NaN) for %d model(s); those rows are dropped in evaluation", name, count
        )
    return pd.DataFrame.from_dict(columns, orient="index")


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


def protocol_strata(cfg: Mapping[str, Any], models: Sequence[ModelRecord]) -> list[str] | None:
    """The value of ``protocol.axis`` of each model (``None`` for ``group_kfold``); raises a
    ``ConfigError`` when the axis is not a hyperparameter of every model, splits a training run, or
    (``leave_one_out``) takes one value only."""
    protocol = cfg["protocol"]
    split = protocol.get("split", "group_kfold")
    if split == "group_kfold":
        return None
    axis = str(protocol.get("axis"))
    names = sorted({"architecture", *(k for m in models for k in m.hparams if k != "seed")})
    if axis == "architecture":
        strata = [architecture_label(m) for m in models]
    elif axis != "seed" and all(axis in m.hparams for m in models):
        strata = [str(_hashable(m.hparams[axis])) for m in models]
    else:
        raise ConfigError(
            f"protocol.axis={axis!r} is not a hyperparameter of every model of zoo {cfg['zoo']['name']!r}; "
            f"use one of {names}."
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
            f"protocol {protocol['name']!r} needs two or more values of {axis!r}; zoo {cfg['zoo']['name']!r} has "
            f"one ({values[0]!r}). Choose an axis that varies: protocol.axis=<one of {varying}>."
        )
        if split == "leave_one_out":
            raise ConfigError(message)
        log.info("%s: within one stratum this is group K-fold", message.split(". Choose")[0])
    return strata


def check_protocol(protocol: Mapping[str, Any]) -> None:
    """Raise a ``ConfigError`` for an unknown ``protocol.split``, a missing ``protocol.axis`` or a
    ``protocol.top_k`` below 1."""
    problems = protocol_problems(protocol)
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))


def protocol_problems(protocol: Mapping[str, Any]) -> list[str]:
    """What :func:`check_protocol` refuses, one message each."""
    problems = []
    split = protocol.get("split", "group_kfold")
    if split not in SPLITS:
        problems.append(f"protocol.split={split!r} is unknown; use one of {list(SPLITS)}.")
    elif split != "group_kfold" and not protocol.get("axis"):
        problems.append(f"protocol.split={split!r} needs protocol.axis (e.g. architecture).")
    top_k = protocol.get("top_k", 5)
    if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
        problems.append(f"protocol.top_k={top_k!r} must be an integer >= 1 (the k of precision@k), e.g. 5.")
    return problems


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


def stage_scores(
    store: ArtifactStore,
    cfg: Mapping[str, Any],
    descriptors: Mapping[str, Descriptor],
    models: Sequence[ModelRecord],
    features: pd.DataFrame,
    landscapes: Sequence[Landscape] = (),
) -> list[ScoreRow]:
    """Score every (target, feature set, regressor) under the protocol, then compare each row with
    the best baseline on the same bootstrap resamples. Diagram feature sets
    (``evaluation.diagram_sets``) score the landscapes' persistence diagrams directly."""
    zoo = cfg["zoo"]["name"]
    protocol = cfg["protocol"]
    check_protocol(protocol)
    task = TASKS.get(cfg["zoo"]["task"])
    groups = np.array([m.group for m in models])
    ids = [m.model_id for m in models]
    hparams = hparam_table(models)
    axes = [c for c in hparams.columns if c != "seed"]
    strata = protocol_strata(cfg, models)
    design_digest = hashlib.sha256((hparams.to_csv(index=False) + "\0".join(strata or [])).encode()).hexdigest()
    sets = feature_sets(descriptors, cfg["evaluation"].get("combinations") or {})
    jobs = []

    def score_key(target: str, fs_name: str, inputs: dict[str, Any], reg_cfg: Any, data_digest: str) -> str:
        """Key of one score row: everything that changes it, the data by digest."""
        config = {
            "zoo": zoo,
            "target": target,
            "greater_is_better": task.greater_is_better[target],
            "feature_set": fs_name,
            **inputs,
            "regressor": reg_cfg,
            "protocol": protocol,
            "axes": axes,
            **numerics(cfg),
        }
        return artifact_key("scores", SCORES_VERSION, config, [data_digest, design_digest])

    for target in cfg["evaluation"]["targets"]:
        if target not in task.greater_is_better:
            raise ConfigError(
                f"task {task.name!r} does not say whether a larger {target!r} is better; add it to "
                f"{type(task).__name__}.greater_is_better."
            )
        y = np.array([m.metrics[target] for m in models], dtype=np.float64)
        for fs_name, (kind, members) in sets.items():
            cols = sorted(c for c in features.columns if c.split("__", 1)[0] in members)
            X = features.loc[ids, cols].to_numpy(dtype=np.float64) if members else None
            if members and not cols:
                log.warning("feature set %s has no features; skipped", fs_name)
                continue
            data_digest = hashlib.sha256(
                (X.tobytes() if X is not None else b"") + y.tobytes() + "\0".join(groups).encode()
            ).hexdigest()
            pairs = [(CONSTANT, None)] if fs_name == CONSTANT else list(cfg["regressor"].items())
            for reg_name, reg_cfg in pairs:
                key = score_key(target, fs_name, {"columns": cols}, reg_cfg, data_digest)
                jobs.append((key, target, fs_name, kind, X, y, reg_name, reg_cfg))
        for fs_name, spec in (cfg["evaluation"].get("diagram_sets") or {}).items():
            if spec is None:  # switched off
                continue
            if not landscapes:
                log.info("diagram set %s skipped: no landscape descriptor is selected", fs_name)
                continue
            diagrams, X = landscape_diagrams(landscapes, int(spec.get("homology", 0)))
            digest = hashlib.sha256(
                b"".join(d.tobytes() for d in diagrams) + X.tobytes() + y.tobytes() + "\0".join(groups).encode()
            ).hexdigest()
            for reg_name, reg_cfg in diagram_regressors(spec, cfg["regressor"]):
                key = score_key(target, fs_name, {"diagram_set": dict(spec)}, reg_cfg, digest)
                jobs.append((key, target, fs_name, "topology", X, y, reg_name, (reg_cfg, spec, diagrams)))

    def make_estimator(reg_name: str, reg_cfg: Any) -> Any:
        if isinstance(reg_cfg, tuple):  # a diagram set: (regressor config, diagram spec, diagrams)
            base_cfg, spec, diagrams = reg_cfg
            if "distance" in spec:
                return DiagramKNNRegressor(diagrams, int(spec.get("n_neighbors", 3)), spec["distance"])
            return diagram_pipeline(
                diagrams, spec["vectorizer"], build_regressor(reg_name, base_cfg), int(spec.get("resolution", 20))
            )
        return build_regressor(reg_name, reg_cfg)

    def compute(i: int) -> ScoreRow:
        _, target, fs_name, kind, X, y, reg_name, reg_cfg = jobs[i]
        make = None if reg_cfg is None else (lambda: make_estimator(reg_name, reg_cfg))
        ev = evaluate_or_unscored(
            f"{target} / {fs_name} / {reg_name}",
            X,
            y,
            groups,
            make,
            protocol.get("n_splits", 2),
            protocol["seed"],
            protocol.get("n_repeats", 1),
            protocol["n_bootstrap"],
            protocol["ci_level"],
            split=protocol.get("split", "group_kfold"),
            strata=strata,
            hparams=hparams,
            axes=axes,
            greater_is_better=task.greater_is_better[target],
            top_k=protocol.get("top_k", 5),
        )
        return ev.row(zoo, target, fs_name, kind, "mean" if reg_cfg is None else reg_name, protocol["name"])

    with tqdm(total=len(jobs), desc="evaluate", unit="fit", leave=False, disable=None) as bar:
        rows = store.map("scores", [j[0] for j in jobs], ScoreRow, compute, progress=bar.update)
    return compare_with_baselines(rows)


# ----------------------------------------------------------------------------- the whole run


def run(cfg: Mapping[str, Any], score: bool = True) -> RunResult:
    """Run every stage for a resolved config (a plain dict; see conf/config.yaml), with torch, the
    BLAS libraries and OpenMP all limited to ``threads`` (see :func:`numerics`). With ``score=False``
    the run stops after the descriptors (its ``scores`` are empty): for studies that evaluate the
    features their own way."""
    load_plugins(cfg.get("plugins") or [])
    validate(cfg)
    previous = torch.get_num_threads()  # restored: the next run in this process starts from the default
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg["threads"]))
    try:
        with threadpool_limits(limits=compute_threads(cfg)):
            return _run(cfg, score)
    finally:
        torch.set_num_threads(previous)


def _run(cfg: Mapping[str, Any], score: bool = True) -> RunResult:
    torch.use_deterministic_algorithms(True)
    store = ArtifactStore(cfg["paths"]["store"])
    timings: dict[str, float] = {}

    def timed(stage: str, t0: float) -> None:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - t0

    t0 = time.perf_counter()
    data = load_dataset(cfg["dataset"]["name"], **{k: v for k, v in cfg["dataset"].items() if k != "name"})
    models, model_keys, train_seconds = stage_zoo(store, cfg, data)
    if cfg.get("export_zoo"):
        path = export_manifest(models, cfg["export_zoo"])
        log.info("zoo %s exported: %d models, manifest %s", cfg["zoo"]["name"], len(models), path)
    timed("zoo", t0)

    descriptors = {name: build_descriptor(name, params) for name, params in cfg["descriptors"].items()}
    needed = {r for d in descriptors.values() for r in d.requires}
    check_models(cfg, models, "curvature" in needed)
    inputs: dict[str, tuple[Sequence[Any], Sequence[str]]] = {"model": (models, model_keys)}
    masked = (0, 0)
    if "landscape" in needed:
        t0 = time.perf_counter()
        inputs["landscape"] = stage_per_model(
            store,
            "landscape",
            LANDSCAPE_VERSION,
            cfg["landscape"],
            models,
            model_keys,
            Landscape,
            compute_landscape,
            data,
            numerics(cfg),
        )
        landscapes = inputs["landscape"][0]
        masked = (sum(ls.n_masked for ls in landscapes), sum(ls.values.size for ls in landscapes))
        if masked[0]:
            log.warning("landscape: %d of %d grid nodes are non-finite (masked, not filled)", *masked)
        timed("landscape", t0)
    if "curvature" in needed:
        t0 = time.perf_counter()
        inputs["curvature"] = stage_per_model(
            store,
            "curvature",
            CURVATURE_VERSION,
            cfg["curvature"],
            models,
            model_keys,
            Curvature,
            compute_curvature,
            data,
            numerics(cfg),
        )
        timed("curvature", t0)

    t0 = time.perf_counter()
    features = stage_descriptors(store, descriptors, models, inputs)
    timed("descriptors", t0)
    scores: list[ScoreRow] = []
    if score:
        t0 = time.perf_counter()
        scores = stage_scores(
            store, cfg, descriptors, models, features, inputs["landscape"][0] if "landscape" in inputs else ()
        )
        timed("evaluation", t0)
    summary = store.summary()
    log.info("store %s: %s", store.root, summary)
    counts = {stage: (st.loaded, st.computed) for stage, st in store.stats.items()}
    return RunResult(
        models,
        features,
        scores,
        timings,
        summary,
        counts,
        masked,
        train_seconds,
        landscapes=list(inputs["landscape"][0]) if "landscape" in inputs else [],
        curvatures=list(inputs["curvature"][0]) if "curvature" in inputs else [],
    )


def plan(cfg: Mapping[str, Any], keys: dict[str, dict[str, bool]] | None = None) -> list[tuple[str, int, int]]:
    """What a run would compute: ``(stage, artifacts needed, already in the store)`` per stage.

    Nothing is trained or evaluated. Scores are keyed by the feature values themselves, so their
    row counts only the number of score rows (the store count is reported as -1: unknown).
    ``keys``, when given, receives every planned artifact per stage, ``{key: already stored}``
    (so a sweep can count artifacts that several jobs share once).
    """
    load_plugins(cfg.get("plugins") or [])
    validate(cfg)
    store = ArtifactStore(cfg["paths"]["store"])
    zoo = cfg["zoo"]
    rows: list[tuple[str, int, int]] = []
    keys = {} if keys is None else keys

    def add(stage: str, stage_keys: Sequence[str]) -> None:
        keys[stage] = {k: store.exists(stage, k) for k in stage_keys}
        rows.append((stage, len(stage_keys), sum(keys[stage].values())))

    if zoo.get("source") == "manifest":
        _, model_keys, _ = stage_manifest_zoo(cfg)
        keys["manifest"] = dict.fromkeys(model_keys, True)
        rows.append(("manifest", len(model_keys), len(model_keys)))
    else:
        task = TASKS.get(zoo["task"])
        specs, run_keys, checkpoints = _runs(cfg)
        add("run", run_keys)
        model_keys = [
            f"{key}@{epoch}"
            for spec, key in zip(specs, run_keys, strict=True)
            for epoch in task.planned_epochs(spec.hparams, checkpoints)
        ]
    descriptors = {name: build_descriptor(name, params) for name, params in cfg["descriptors"].items()}
    needed = {r for d in descriptors.values() for r in d.requires}
    inputs: dict[str, Sequence[str]] = {"model": model_keys}
    for stage, version in (("landscape", LANDSCAPE_VERSION), ("curvature", CURVATURE_VERSION)):
        if stage in needed:
            inputs[stage] = _stage_keys(stage, version, cfg[stage], model_keys, numerics(cfg))
            add(stage, inputs[stage])
    add("features", [k for name, d in descriptors.items() for k in _feature_keys(name, d, inputs, len(model_keys))])
    sets = feature_sets(descriptors, cfg["evaluation"].get("combinations") or {})
    diagram_sets = [s for s in (cfg["evaluation"].get("diagram_sets") or {}).values() if s is not None]
    n_diagram = sum(len(diagram_regressors(s, cfg["regressor"])) for s in diagram_sets) if "landscape" in needed else 0
    n_scores = len(cfg["evaluation"]["targets"]) * (1 + (len(sets) - 1) * len(cfg["regressor"]) + n_diagram)
    rows.append(("scores", n_scores, -1))
    return rows
