"""The stages, wired to the artifact store. Order lives here; formulas live in the layers below.

    zoo -> ModelRecord[] -> Landscape, Curvature -> FeatureRow[] -> ScoreRow[], UnivariateTable

:data:`STAGES` declares them once (name, code version, record, when it runs, its keys, how it
computes); :func:`run` computes them in order and :func:`plan` (the dry run) lists their keys,
both walking that one list. Every output is keyed by (stage, stage version, its config, its input
keys) and loaded from the store when present, so a rerun recomputes nothing and a killed run resumes.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import torch
from threadpoolctl import threadpool_limits

from benchmark import device
from benchmark.checks import check_models, range_problems, type_problems, zoo_problems
from benchmark.data import dataset_identity
from benchmark.descriptors import Descriptor, DescriptorInputs, build_descriptor, descriptor_problems, feature_table
from benchmark.errors import ConfigError
from benchmark.evaluation import conditional, design, univariate
from benchmark.evaluation.comparison import compare_rows
from benchmark.evaluation.protocol import EXCURSION_LIMIT
from benchmark.evaluation.regressors import regressor_problems
from benchmark.hessian import stage as curvature
from benchmark.landscape import stage as landscape
from benchmark.plugins import load_plugins
from benchmark.records import Curvature, FeatureRow, Landscape, ModelRecord, ScoreRow, TrainingRun, UnivariateTable
from benchmark.stage import Estimate, PlanRow, RunResult, Stage, State
from benchmark.store import RECORD_SAMPLE, ArtifactStore, artifact_key
from benchmark.zoo import TASKS, batched, train_run, zoo_specs
from benchmark.zoo.manifest import export_manifest
from benchmark.zoo.readers import READERS, read_zoo
from benchmark.zoo.spec import ModelSpec
from benchmark.zoo.table import SOURCE as TABLE
from benchmark.zoo.table import load_table

log = logging.getLogger(__name__)

__all__ = ["STAGES", "ConfigError", "Estimate", "RunResult", "Stage", "plan", "run", "validate"]


# ----------------------------------------------------------------------------- configuration


def validate(cfg: Mapping[str, Any]) -> None:
    """Check names and ranges before any work starts: each layer's problems with its own config
    node, raised together as one ``ConfigError``."""
    problems = type_problems(cfg)
    if problems:  # the checks below compare these settings as numbers
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))
    problems = range_problems(cfg)
    problems += device.device_problems(cfg.get("device", "cpu"))
    problems += zoo_problems(cfg)
    problems += descriptor_problems(cfg.get("descriptors") or {})  # `descriptors=[]`: Hydra drops the key
    problems += regressor_problems(cfg.get("regressor") or {})
    problems += landscape.landscape_problems(cfg)
    problems += curvature.curvature_problems(cfg["curvature"])
    task = cfg["zoo"].get("task")
    if cfg["curvature"].get("micro_batch") and task in TASKS and not TASKS.get(task).averages_examples:
        problems.append(
            f"curvature.micro_batch={cfg['curvature']['micro_batch']} splits an objective averaged over examples; "
            f"zoo task {task!r} has other terms; set curvature.micro_batch=null."
        )
    problems += design.evaluation_problems(cfg)
    problems += conditional.conditional_problems(cfg["evaluation"])
    if problems:
        raise ConfigError("invalid configuration:\n  - " + "\n  - ".join(problems))


def compute_threads(cfg: Mapping[str, Any]) -> int:
    """The torch intra-op threads a run computes with: ``threads``, or torch's default when null."""
    return int(cfg.get("threads") or torch.get_num_threads())


def numerics(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """What besides the settings changes computed numbers, for the store keys of the computing
    stages (training, landscapes, curvature, scores). Float sums split over a different number of
    threads round differently, and training amplifies that, so the thread count (torch's, and the
    BLAS and OpenMP pools that :func:`run` limits to it) is part of a result; one thread, the
    default, is the reference and adds nothing to a key. So is a device other than the CPU
    (:func:`benchmark.device.key_part`)."""
    threads = compute_threads(cfg)
    return {**({} if threads == 1 else {"threads": threads}), **device.key_part(device.of(cfg))}


# ----------------------------------------------------------------------------- zoo


def _manifest(cfg: Mapping[str, Any]) -> tuple[list[ModelRecord], list[str]]:
    """An external zoo's models (a manifest or a public zoo: ``zoo.source``); keys digest what each
    model was read from."""
    loaded = read_zoo(cfg)
    return [lm.record for lm in loaded], [artifact_key("manifest", "1", {}, [lm.key]) for lm in loaded]


def _table(s: State) -> None:
    """A feature table's models (no weights) and features; keys digest each model's record."""
    s.table = load_table(s.cfg["zoo"]["path"], s.cfg["zoo"]["name"])
    s.models = s.table.models
    s.keys["model"] = [artifact_key(TABLE, "1", {}, [digest]) for digest in s.table.digests]


def _run_keys(s: State) -> tuple[list[Any], list[str], list[int], list[list[int]]]:
    """The zoo's training runs, their store keys, the checkpoint epochs kept, and the batches they
    train in (spec indices; one run each unless ``batch_models`` > 1). A run trained in a batch
    depends on the batch's other models through float rounding, so its key names its batch."""
    cfg, zoo = s.cfg, s.cfg["zoo"]
    task = TASKS.get(zoo["task"])
    specs = zoo_specs(zoo)
    checkpoints = sorted(int(c) for c in (zoo.get("checkpoints") or []))
    config = {"checkpoints": checkpoints, "dataset": dataset_identity(cfg["dataset"]), **numerics(cfg)}
    size = int(cfg.get("batch_models") or 1)
    if size > 1 and batched.trains_like_classification(task):
        batches = [list(members) for _, members in batched.plan_batches(specs, s.data, size)]
    else:
        batches = [[i] for i in range(len(specs))]
    together = {i: [specs[j].model_id for j in b] for b in batches if len(b) > 1 for i in b}
    on_cpu = {k: v for k, v in config.items() if k != "device"}  # batches train on the CPU (compute_zoo)
    keys = [
        artifact_key(
            "run",
            f"{task.name}-{task.version}",
            {
                "zoo": spec.zoo,
                "architecture": spec.architecture,
                "hparams": spec.hparams,
                **(on_cpu if i in together else config),
                **({"batch": {"models": together[i], "version": batched.VERSION}} if i in together else {}),
            },
            [],
        )
        for i, spec in enumerate(specs)
    ]
    return specs, keys, checkpoints, batches


def plan_zoo(s: State) -> list[PlanRow]:
    if s.cfg["zoo"].get("source") == TABLE:
        _table(s)
        check_models(s.cfg, s.models, False)  # what the run would refuse once read
        return [PlanRow(TABLE, len(s.models), len(s.models), dict.fromkeys(s.keys["model"], True))]
    if s.cfg["zoo"].get("source") in READERS:
        models, s.keys["model"] = _manifest(s.cfg)
        check_models(s.cfg, models, "curvature" in s.needed)  # what the run would refuse once loaded
        n = len(s.keys["model"])
        return [PlanRow("manifest", n, n, dict.fromkeys(s.keys["model"], True))]
    task = TASKS.get(s.cfg["zoo"]["task"])
    specs, run_keys, checkpoints, _ = _run_keys(s)
    s.keys["model"] = [
        f"{key}@{epoch}"
        for spec, key in zip(specs, run_keys, strict=True)
        for epoch in task.planned_epochs(spec.hparams, checkpoints)
    ]
    return [PlanRow.of(s.store, "run", run_keys)]


def compute_zoo(s: State) -> None:
    """Train (or load) every run of the zoo: all models (checkpoints included), their keys, and the
    seconds training took when it was computed."""
    cfg, zoo = s.cfg, s.cfg["zoo"]
    if zoo.get("source") == TABLE:
        _table(s)
        log.info("zoo %s: %d models read from feature table %s", zoo["name"], len(s.models), s.table.spec.file)
    elif zoo.get("source") in READERS:
        s.models, s.keys["model"] = _manifest(cfg)
    else:
        task = TASKS.get(zoo["task"])
        specs, run_keys, checkpoints, batches = _run_keys(s)

        def train(group: list[int]) -> list[TrainingRun]:
            if len(group) == 1:
                return [train_run(task, specs[group[0]], s.data, cfg["dataset"]["name"], checkpoints)]
            t0 = time.perf_counter()
            members = [specs[i] for i in group]
            with device.using(torch.device("cpu")):  # the batched trainer's stacked tensors live on the CPU
                trained = batched.train_batch(task, members, s.data, cfg["dataset"]["name"], checkpoints)
            seconds = (time.perf_counter() - t0) / len(group)  # the batch's time, shared out
            return [TrainingRun(tuple(models), seconds) for models in trained]

        if device.current().type != "cpu" and any(len(b) > 1 for b in batches):
            log.info(
                "zoo %s: models trained in batches (batch_models=%s) train on the CPU; batch_models=1 trains each "
                "on %s",
                zoo["name"],
                cfg.get("batch_models"),
                device.describe(device.current()),
            )
        with s.bar(len(specs), "train") as bar:
            runs = s.store.map_groups("run", run_keys, TrainingRun, batches, train, progress=bar.update)
        s.models = [_named(m, spec) for spec, run in zip(specs, runs, strict=True) for m in run.models]
        s.keys["model"] = [f"{key}@{m.epoch}" for key, run in zip(run_keys, runs, strict=True) for m in run.models]
        s.train_seconds = sum(r.train_seconds for r in runs)
        log.info(
            "zoo %s: %d runs, %d models; training took %.1f s when computed",
            zoo["name"],
            len(runs),
            len(s.models),
            s.train_seconds,
        )
    s.outputs["model"] = s.models
    if cfg.get("export_zoo"):
        path = export_manifest(s.models, cfg["export_zoo"])
        log.info("zoo %s exported: %d models, manifest %s", zoo["name"], len(s.models), path)
    check_models(cfg, s.models, "curvature" in s.needed)


def _named(model: ModelRecord, spec: ModelSpec) -> ModelRecord:
    """``model`` under the id and group its spec gives it now. A run's store key holds what it
    computes (its hyperparameters), not these labels, which follow the config's layout (the order of
    the axes, a one-value axis moved to ``fixed``): a run found in the store takes today's labels,
    as a fresh run would have them."""
    model_id = spec.id_at(model.epoch, final=not model.model_id.endswith(f"@{model.epoch}"))
    if (model.model_id, model.group) == (model_id, spec.group):
        return model
    return dataclasses.replace(model, model_id=model_id, group=spec.group)


def _renamed(records: list[Any], models: list[ModelRecord]) -> list[Any]:
    """Per-model ``records`` (landscapes, curvature, feature rows) under their model's current id
    (:func:`_named`: the store may hold them under the id of an earlier config layout)."""
    return [
        r if r.model_id == m.model_id else dataclasses.replace(r, model_id=m.model_id)
        for r, m in zip(records, models, strict=True)
    ]


# ----------------------------------------------------------------------------- landscape, curvature


KEYED_WHEN_SET = ("micro_batch",)
"""Stage settings added after stores were filled: null (the old behaviour) leaves them out of the keys."""


def _stage_cfg(stage_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that change a stage's results (its name and how it runs do not:
    :data:`benchmark.landscape.stage.ENGINE_SETTINGS`)."""
    kept = {k: v for k, v in stage_cfg.items() if k != "name" and k not in landscape.ENGINE_SETTINGS}
    return {k: v for k, v in kept.items() if not (k in KEYED_WHEN_SET and v is None)}


def per_model(
    name: str,
    version: str,
    record: type,
    compute: Callable[..., Any],
    rough_seconds: float,
    size: Callable[[State], int] | None = None,
) -> Stage:
    """A stage with one artifact per model, keyed by the stage's config node ``cfg[name]`` (plus
    :func:`numerics`) and the model's key; it runs when a selected descriptor needs ``name``
    (``rough_seconds`` and ``size``: see :class:`~benchmark.stage.Stage`)."""

    def keys(s: State) -> list[str]:
        config = {**_stage_cfg(s.cfg[name]), **numerics(s.cfg)}
        if name == "landscape" and landscape.node_memory(s.cfg[name], device.of(s.cfg)) is not None:
            config["node_batch"] = True  # values equal the per-node ones up to float32 rounding only
        s.keys[name] = [artifact_key(name, version, config, [mk]) for mk in s.keys["model"]]
        return s.keys[name]

    def plan_step(s: State) -> list[PlanRow]:
        return [PlanRow.of(s.store, name, keys(s))]

    def compute_step(s: State) -> None:
        ks, cfg = keys(s), _stage_cfg(s.cfg[name])

        with s.bar(len(ks), name) as bar:

            def one(i: int) -> Any:
                if name == "landscape":
                    every = float(s.cfg[name].get("checkpoint_seconds", 30.0))
                    checkpoint = landscape.GridCheckpoint(s.store, ks[i], every)
                    budget = landscape.node_memory(s.cfg[name], device.current())
                    nodes = bar.within(int(cfg["steps"]) ** int(cfg["ndim"]))  # a long grid shows its own progress
                    return compute(s.models[i], s.data, cfg, checkpoint, node_memory_mb=budget, progress=nodes)
                return compute(s.models[i], s.data, cfg)

            s.outputs[name] = _renamed(s.store.map(name, ks, record, one, progress=bar.update), s.models)

    return Stage(name, version, record, plan_step, compute_step, needs=name, rough_seconds=rough_seconds, size=size)


# ----------------------------------------------------------------------------- descriptors


def _input_names(desc: Descriptor) -> list[str]:
    """The model record always; the other inputs the descriptor declares."""
    return ["model", *(r for r in desc.requires if r != "model")]


def _feature_keys(s: State) -> list[list[str]]:
    """Per selected descriptor, its feature row's key for every model."""
    n = len(s.keys["model"])
    return [
        [
            artifact_key(
                "features",
                desc.version,
                {"descriptor": name, "params": desc.get_params()},
                [s.keys[r][i] for r in _input_names(desc)],
            )
            for i in range(n)
        ]
        for name, desc in s.descriptors.items()
    ]


def plan_features(s: State) -> list[PlanRow]:
    return [PlanRow.of(s.store, "features", [k for keys in _feature_keys(s) for k in keys])]


def compute_features(s: State) -> None:
    """One FeatureRow per (model, descriptor); the feature table (NaN where undefined)."""
    rows = {}
    all_keys = _feature_keys(s)
    with s.bar(sum(len(k) for k in all_keys), "descriptors", unit="feature row") as bar:
        for (name, desc), keys in zip(s.descriptors.items(), all_keys, strict=True):

            def one(i: int, desc: Descriptor = desc) -> FeatureRow:
                return desc.compute(DescriptorInputs(**{r: s.outputs[r][i] for r in _input_names(desc)}))

            rows[name] = _renamed(s.store.map("features", keys, FeatureRow, one, progress=bar.update), s.models)
    s.features = feature_table(s.models, rows)
    if s.table is not None:  # the table's feature sets, beside the descriptors' columns
        s.features = s.features.join(s.table.features)


# ----------------------------------------------------------------------------- evaluation


def _planned_scores(s: State) -> list[design.PlannedScore]:
    table_sets = s.table.sets if s.table is not None else None
    planned = design.planned_scores(s.cfg, s.descriptors, "landscape" in s.needed, table_sets)
    available = {*s.descriptors, *(table_sets or {})}
    return planned + conditional.conditional_scores(s.cfg["evaluation"], planned, available)


def _design(s: State) -> design.Design:
    if s.design is None:
        s.design = design.design(s.cfg, s.models, s.table.greater_is_better if s.table is not None else None)
    return s.design


def plan_scores(s: State) -> list[PlanRow]:
    return [PlanRow("scores", len(_planned_scores(s)), -1)]


def compute_scores(s: State) -> None:
    """Score every planned (target, feature set, regressor) under the protocol, then compare each
    row with the best baseline on the same bootstrap resamples."""
    assert s.features is not None
    d = _design(s)
    jobs = design.score_jobs(d, _planned_scores(s), s.features, s.outputs.get("landscape", []))
    keys = [
        artifact_key("scores", design.VERSION, {**job.key_config(d), **numerics(s.cfg)}, [job.data_digest, d.digest])
        for job in jobs
    ]
    with s.bar(len(jobs), "evaluate", unit="fit") as bar:
        rows = s.store.map("scores", keys, ScoreRow, lambda i: design.evaluate_job(jobs[i], d), progress=bar.update)
    for row in rows:
        if row.excursion > EXCURSION_LIMIT:
            log.warning(
                "%s / %s / %s: out-of-fold predictions leave the targets' range by %.3g ranges; its scores are "
                "flagged untrustworthy on the leaderboard (an extrapolating fit, see docs/protocol.md).",
                row.target,
                row.feature_set,
                row.regressor,
                row.excursion,
            )
    s.scores = compare_rows(conditional.with_gains(rows) + design.ceiling_rows(d))


def plan_univariate(s: State) -> list[PlanRow]:
    return [PlanRow("univariate", 1, -1)]


def compute_univariate(s: State) -> None:
    """Each feature's own rank correlation with each evaluated target (see docs/protocol.md)."""
    assert s.features is not None
    d = _design(s)
    features = s.features.loc[d.model_ids]
    config = univariate.key_config(d.protocol)
    key = artifact_key("univariate", univariate.VERSION, config, [univariate.digest(features, d.targets, d.groups)])

    def one(_: int) -> UnivariateTable:
        return univariate.univariate_table(features, d.targets, d.groups, d.protocol)

    s.univariate = univariate.univariate_view(s.store.map("univariate", [key], UnivariateTable, one)[0])


# ----------------------------------------------------------------------------- the stage list


def _grid_nodes(s: State) -> int:
    """The grid nodes of one planned landscape (what its compute time scales with)."""
    return landscape.grid_work(s.cfg).nodes


STAGES: tuple[Stage, ...] = (
    Stage("run", "per task", TrainingRun, plan_zoo, compute_zoo, rough_seconds=0.13),
    per_model("landscape", landscape.VERSION, Landscape, landscape.compute_landscape, 4e-4, _grid_nodes),
    per_model("curvature", curvature.VERSION, Curvature, curvature.compute_curvature, 0.025),
    Stage("features", "per descriptor", FeatureRow, plan_features, compute_features, rough_seconds=3e-4),
    Stage("scores", design.VERSION, ScoreRow, plan_scores, compute_scores, scored=True, rough_seconds=0.67),
    Stage(
        "univariate",
        univariate.VERSION,
        UnivariateTable,
        plan_univariate,
        compute_univariate,
        scored=True,
        rough_seconds=0.2,
    ),
)
"""The pipeline, in order. :func:`run` computes each wanted stage; :func:`plan` lists its keys. The
``rough_seconds`` are the mean compute seconds per artifact of ``experiment=tiny`` on 2 CPU cores
(per grid node for landscapes): a dry run's guess where the store has recorded no time
(:data:`~benchmark.stage.ROUGH_GUESS`)."""
TIMED = {"run": "zoo", "features": "descriptors", "scores": "evaluation", "univariate": "evaluation"}
"""Stages reported under another name in the timings (the leaderboard's "seconds per stage")."""


def initial_state(cfg: Mapping[str, Any]) -> State:
    """A run's state before its first stage: plugins loaded, the config validated, the descriptors
    built, the store opened."""
    load_plugins(cfg.get("plugins") or [])
    validate(cfg)
    if cfg["zoo"].get("source") == TABLE:  # no weights to describe: the table's feature sets stand in
        log.info("zoo %s is a feature table: its feature sets replace the descriptors", cfg["zoo"]["name"])
        descriptors = {"hyperparameters": build_descriptor("hyperparameters")}  # the reference row
    else:
        descriptors = {name: build_descriptor(name, params) for name, params in cfg["descriptors"].items()}
    return State(cfg, ArtifactStore(cfg["paths"]["store"]), descriptors)


def run(cfg: Mapping[str, Any], score: bool = True) -> RunResult:
    """Run every stage for a resolved config (a plain dict; see conf/config.yaml), with torch, the
    BLAS libraries and OpenMP all limited to ``threads`` (see :func:`numerics`). With ``score=False``
    the run stops after the descriptors (its ``scores`` are empty): for studies that evaluate the
    features their own way."""
    s = initial_state(cfg)
    with compute_limits(cfg):
        return _run(s, score)


@contextlib.contextmanager
def compute_limits(cfg: Mapping[str, Any]) -> Iterator[None]:
    """torch, the BLAS libraries and OpenMP limited to the config's ``threads`` inside the block, and
    models on its ``device`` (:func:`benchmark.device.using`); torch's thread count is restored after
    it (the next run in this process starts from the default)."""
    previous = torch.get_num_threads()
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg["threads"]))
    try:
        with threadpool_limits(limits=compute_threads(cfg)), device.using(device.of(cfg)):
            yield
    finally:
        torch.set_num_threads(previous)


def _run(s: State, score: bool) -> RunResult:
    # on an accelerator some kernels (e.g. CUDA's adaptive average pooling backward) have no
    # deterministic version: they warn there instead of stopping the run (docs/configuration.md, "Devices")
    torch.use_deterministic_algorithms(True, warn_only=device.current().type != "cpu")
    timings: dict[str, float] = {}
    for stage in STAGES:
        if not stage.wanted(s, score):
            continue
        t0 = time.perf_counter()
        stage.compute(s)
        name = TIMED.get(stage.name, stage.name)
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t0
    result = s.result(timings, TIMED)
    if result.landscape_masked[0]:
        log.warning("landscape: %d of %d grid nodes are non-finite (masked, not filled)", *result.landscape_masked)
    log.info("store %s: %s", s.store.root, result.store_summary)
    return result


def plan(
    cfg: Mapping[str, Any],
    keys: dict[str, dict[str, bool]] | None = None,
    score: bool = True,
    estimates: dict[str, Estimate] | None = None,
) -> list[tuple[str, int, int]]:
    """What a run would compute: ``(stage, artifacts needed, already in the store)`` per stage.

    Nothing is trained or evaluated. Scores are keyed by the feature values themselves, so their
    row counts only the number of score rows (the store count is reported as -1: unknown).
    ``keys``, when given, receives every planned artifact per stage with a known key,
    ``{key: already stored}`` (so a sweep can count artifacts that several jobs share once).
    ``estimates``, when given, receives per stage the :class:`~benchmark.stage.Estimate` of the
    time computing the rest would take (:func:`estimate`).
    """
    s = initial_state(cfg)
    keys = {} if keys is None else keys
    planned = [(stage, row) for stage in STAGES if stage.wanted(s, score) for row in stage.plan(s)]
    keys.update({row.stage: row.keys for _, row in planned if row.keys is not None})
    if estimates is not None:
        estimates.update({row.stage: estimate(s, stage, row) for stage, row in planned})
    return [(row.stage, row.needed, row.stored) for _, row in planned]


def estimate(s: State, stage: Stage, row: PlanRow) -> Estimate:
    """How long computing what ``row`` lacks would take: the count times the mean compute seconds
    of one artifact, as recorded (the store's sidecars) for the stored artifacts of this very plan
    (same config and inputs); else for the stage's other artifacts in this store (other
    configurations; landscapes per grid node, times this grid's nodes); else the stage's
    :attr:`~benchmark.stage.Stage.rough_seconds`, labelled a rough guess."""
    unknown = row.stored < 0  # the scores: keys known only once the features exist
    count = row.needed if unknown else row.needed - row.stored
    if count == 0:
        return Estimate(row.stage, 0, 0.0, "nothing to compute")
    stored = [k for k, is_stored in (row.keys or {}).items() if is_stored][:RECORD_SAMPLE]
    here = [t for t in (s.store.recorded_seconds(row.stage, k) for k in stored) if t is not None]
    if here:
        basis = f"mean of the {len(here)} stored for this config"
        return Estimate(row.stage, count, statistics.fmean(here), basis, unknown)
    records = s.store.compute_records(row.stage)
    size = stage.size(s) if stage.size is not None else None
    sized = [r for r in records if r.size > 0]
    if size is not None and sized:
        each = statistics.fmean(r.seconds / r.size for r in sized) * size
        basis = f"mean per grid node of {len(sized)} in this store (any config) x {size:,} nodes"
        return Estimate(row.stage, count, each, basis, unknown)
    if records:
        basis = f"mean of {len(records)} in this store (any config)"
        return Estimate(row.stage, count, statistics.fmean(r.seconds for r in records), basis, unknown)
    each = stage.rough_seconds * (size if size is not None else 1)
    per = f": {stage.rough_seconds:.2g} s per grid node x {size:,} nodes" if size is not None else ""
    return Estimate(row.stage, count, each, f"rough guess{per}", unknown, rough=True)
