"""Checks of a resolved config and of a loaded zoo, before the expensive stages run.

Each check returns messages (empty: fine) that name the setting or model, the bad value and the
fix; the pipeline raises them together as one ``ConfigError``. Ranges are declared as data
(:data:`INTEGER_MINIMUM`, :data:`NUMBERS`), one message template for each kind of problem.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from numbers import Integral, Real
from typing import Any

import numpy as np

from benchmark.data import DATASETS, dataset_problems
from benchmark.errors import ConfigError
from benchmark.evaluation.design import fold_problems
from benchmark.models import ARCHITECTURES, build_model
from benchmark.records import ModelRecord
from benchmark.zoo import TASKS, table, zoo_specs
from benchmark.zoo.readers import READERS, reader_problems

log = logging.getLogger(__name__)

# dotted config path -> smallest allowed integer (None: any integer, its range is checked elsewhere)
INTEGER_MINIMUM: dict[str, int | None] = {
    "landscape.ndim": None,
    "landscape.steps": None,
    "landscape.n_samples": 1,
    "landscape.seed": 0,
    "curvature.n_samples": 1,
    "curvature.seed": 0,
    "curvature.top_k": None,
    "curvature.lanczos_iters": 1,
    "curvature.trace_samples": None,
    "curvature.slq_probes": None,
    "protocol.n_splits": 2,
    "protocol.n_repeats": 1,
    "protocol.seed": 0,
    "protocol.n_bootstrap": 0,
    "batch_models": 1,
}
NUMBERS = ("landscape.span", "protocol.ci_level")
MISSING = object()


def lookup(cfg: Mapping[str, Any], dotted: str) -> Any:
    """``cfg["a"]["b"]`` for ``"a.b"``; :data:`MISSING` when a level is absent."""
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def type_problems(cfg: Mapping[str, Any]) -> list[str]:
    """Settings that must be integers or numbers and are not (e.g. ``landscape.steps=abc``)."""
    problems = []
    for path in INTEGER_MINIMUM:
        value = lookup(cfg, path)
        if value is not MISSING and not _is_int(value):
            problems.append(f"{path}={value!r} is not an integer; give a whole number.")
    for path in NUMBERS:
        value = lookup(cfg, path)
        if value is not MISSING and (not isinstance(value, Real) or isinstance(value, bool)):
            problems.append(f"{path}={value!r} is not a number; give a number such as 1.0.")
    threads = cfg.get("threads")
    if threads is not None and not _is_int(threads):
        problems.append(f"threads={threads!r} is not an integer; give an integer >= 1, or null for torch's default.")
    return problems


def range_problems(cfg: Mapping[str, Any]) -> list[str]:
    """Integer settings below their minimum, a confidence level outside (0, 1), fewer than one
    thread. Assumes :func:`type_problems` found nothing."""
    problems = []
    for path, minimum in INTEGER_MINIMUM.items():
        value = lookup(cfg, path)
        if value is not MISSING and minimum is not None and value < minimum:
            problems.append(f"{path}={value!r} is out of range; use an integer >= {minimum}.")
    level = lookup(cfg, "protocol.ci_level")
    if level is not MISSING and not 0 < level < 1:
        problems.append(f"protocol.ci_level={level!r} is out of range; use a number in (0, 1) such as 0.95.")
    threads = cfg.get("threads")
    if threads is not None and threads < 1:
        problems.append(f"threads={threads!r} is out of range; use an integer >= 1, or null for torch's default.")
    return problems


def zoo_problems(cfg: Mapping[str, Any]) -> list[str]:
    """What the ``zoo`` and ``dataset`` nodes of a resolved config get wrong: an unknown dataset,
    task, source or architecture, a dataset the zoo does not train on, and errors in a trained
    zoo's recipe (empty or clashing axes, a sample larger than the grid)."""
    zoo, dataset = cfg["zoo"], cfg["dataset"]["name"]
    if zoo.get("source") == table.SOURCE:  # measured elsewhere: no task, no dataset to train or probe on
        return table_zoo_problems(cfg)
    problems = dataset_problems(cfg["dataset"]) if dataset in DATASETS else [DATASETS.unknown_message(dataset)]
    if zoo.get("task") not in TASKS:
        problems.append(TASKS.unknown_message(str(zoo.get("task"))))
    allowed = zoo.get("datasets") or []
    if allowed and dataset not in allowed:
        problems.append(
            f"zoo {zoo['name']!r} trains on datasets {allowed}, not {dataset!r}; "
            f"add dataset={allowed[0]} (or use experiment={zoo['name']}, which sets both)."
        )
    source = zoo.get("source", "train")
    if source != "train" and source not in READERS:
        known = ", ".join(repr(n) for n in ["train", *READERS.names()])
        problems.append(f"zoo.source={source!r} is unknown; use {known} or {table.SOURCE!r}.")
    if source != "train":
        return problems + (reader_problems(cfg) if source in READERS else [])
    for arch in (zoo.get("axes") or {}).get("architecture") or [zoo.get("architecture")]:
        if arch not in ARCHITECTURES:
            problems.append(ARCHITECTURES.unknown_message(str(arch)))
    return problems + recipe_problems(zoo)


def table_zoo_problems(cfg: Mapping[str, Any]) -> list[str]:
    """What a feature-table zoo's config gets wrong: its table YAML (:func:`benchmark.zoo.table.read_spec`)
    and an ``export_zoo``, which needs weights the table does not have."""
    problems = table.spec_problems(cfg["zoo"])
    if cfg.get("export_zoo"):
        problems.append(
            f"export_zoo={cfg['export_zoo']!r}: zoo {cfg['zoo']['name']!r} is a feature table, with no weights "
            "to write as checkpoints; leave export_zoo=null."
        )
    return problems


def recipe_problems(zoo: Mapping[str, Any]) -> list[str]:
    """Errors in a trained zoo's recipe (empty or clashing axes, a sample larger than the grid)."""
    try:
        specs = zoo_specs(zoo)
    except (ValueError, TypeError) as exc:
        return [str(exc)]
    if not specs:
        return [f"zoo {zoo['name']!r} has no models; give every axis under zoo.axes at least one value."]
    return []


def trainable_parameters(architecture: Mapping[str, Any]) -> int:
    """Number of trainable parameters of the model an architecture spec builds."""
    return sum(p.numel() for p in build_model(architecture).parameters() if p.requires_grad)


def model_problems(
    zoo: str,
    models: Sequence[ModelRecord],
    targets: Sequence[str],
    top_k: int | None,
    protocol: Mapping[str, Any] | None = None,
) -> list[str]:
    """What makes a loaded zoo impossible to evaluate: no models, fewer hyperparameter
    configurations than the ``protocol`` node's folds (``None``: not checked; see
    :func:`benchmark.evaluation.design.fold_problems`), a target that is constant over two or more
    models (nothing to predict), or more Hessian eigenvalues asked (``top_k``) than a model has
    parameters (``None``: curvature is not computed)."""
    if not models:
        return [f"zoo {zoo!r} has no models; nothing to evaluate. Check its axes or manifest."]
    problems = [] if protocol is None else fold_problems(protocol, zoo, models)
    for target in targets:
        values = np.array([m.metrics.get(target, math.nan) for m in models], dtype=np.float64)
        finite = values[np.isfinite(values)]
        if finite.size and np.all(finite == finite[0]) and not (problems and len(models) == 1):  # said above
            others = [t for t in targets if t != target]
            fix = f"evaluation.targets=[{','.join(others)}]" if others else "another target in evaluation.targets"
            problems.append(
                f"target {target!r} is constant ({finite[0]:g}) over all {finite.size} models of zoo {zoo!r} "
                f"with a finite value; there is nothing to predict. Use {fix}, or a zoo whose models differ."
            )
    if top_k is not None:
        counts: dict[str, tuple[int, str]] = {}
        for m in models:
            spec = json.dumps(m.architecture, sort_keys=True, default=str)
            if spec not in counts:
                counts[spec] = (trainable_parameters(m.architecture), m.model_id)
        n, model_id = min(counts.values())
        if top_k > n:
            problems.append(
                f"curvature.top_k={top_k} exceeds the {n} trainable parameters of model {model_id!r}: a Hessian "
                f"of size {n} has only {n} eigenvalues. Use curvature.top_k={n} or less."
            )
    return problems


def diverged_models(models: Sequence[ModelRecord]) -> list[str]:
    """Ids of models with a non-finite weight (a diverged training run)."""
    return [m.model_id for m in models if not all(np.isfinite(v).all() for v in m.state.values())]


def check_models(cfg: Mapping[str, Any], models: Sequence[ModelRecord], curvature_needed: bool) -> None:
    """After the zoo is loaded (and stored): raise what makes it impossible to evaluate, warn of
    diverged models (their descriptors are NaN with a reason; evaluation leaves them out)."""
    top_k = cfg["curvature"]["top_k"] if curvature_needed else None
    problems = model_problems(cfg["zoo"]["name"], models, cfg["evaluation"]["targets"], top_k, cfg["protocol"])
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
