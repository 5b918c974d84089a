"""The landscape stage: one model's loss (or accuracy) on a grid around its trained weights.

Its results depend on this package's code (directions, grid, this file) and on the Hessian code
for ``directions=hessian``; :data:`VERSION` names that code in the store keys, and
tests/test_versions.py fails when it changes without :data:`VERSION` being raised.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from benchmark import device
from benchmark.errors import ConfigError
from benchmark.hessian import make_hvp, parameter_index, restrict, top_eigenpairs
from benchmark.landscape.directions import (
    NORMALIZATIONS,
    direction_norm,
    normalize_direction,
    orthogonalize,
    perturbable_parameters,
    random_direction,
    unflatten,
)
from benchmark.landscape.grid import (
    NORM_STATS,
    batch_statistics,
    evaluate_grid,
    evaluate_grid_batched,
    grid_axes,
    node_bytes,
    nodes_per_chunk,
    running_stat_directions,
)
from benchmark.models import record_module
from benchmark.records import Landscape, ModelRecord, PartialGrid
from benchmark.store import ArtifactStore
from benchmark.zoo import TASKS, Objective, zoo_specs

log = logging.getLogger(__name__)

VERSION = "2"
"""Code version of the landscape stage (joins every landscape's store key)."""
DIRECTION_KINDS = ("random", "hessian")
SCALES = ("linear", "log")
DEFAULTS: dict[str, Any] = {
    "directions": "random",
    "norm_stats": "frozen",
    "scale": "linear",
    "metric": "loss",
    "node_batch": "auto",
    "node_memory_mb": 1024,
}
"""Settings a landscape config may omit, and what they mean then."""
ENGINE_SETTINGS = ("checkpoint_seconds", "node_batch", "node_memory_mb")
"""How a grid is computed, not what it holds: left out of the store keys (node batching, which
rounds differently, adds ``node_batch: true`` to them instead)."""


def node_memory(ls_cfg: Mapping[str, Any], on: torch.device) -> float | None:
    """The memory budget in MiB of node-batched evaluation on ``on`` (see
    :data:`benchmark.landscape.grid.NODE_BATCH`), or None to evaluate one node at a time."""
    mode = ls_cfg.get("node_batch", DEFAULTS["node_batch"])
    if mode is True or (mode == "auto" and on.type != "cpu"):
        return float(ls_cfg.get("node_memory_mb", DEFAULTS["node_memory_mb"]))
    return None


class UndefinedLandscapeError(ValueError):
    """A landscape that cannot be defined for a model (e.g. Hessian directions of a diverged model)."""


LARGE_GRID_NODES = 10_000_000
"""Grid nodes over a zoo (or per model, for a manifest) above which a run warns before training:
every node is one evaluation of the objective on ``n_samples`` examples."""
GRID_COPIES = 2
"""Grids of one model held in memory at once at the peak of its evaluation (the values and the
progress checkpoint's copy, or the log-scaled copy)."""


def physical_memory() -> int | None:
    """Bytes of physical memory of this machine (None where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return None


def _size(n: float) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


@dataclass(frozen=True)
class GridWork:
    """The work and memory a landscape request asks for: ``nodes`` per model (``steps ** ndim``),
    ``grid_bytes`` per model (float64 values), ``n_models`` of a trained zoo (None for a manifest,
    known only once read) and ``total_nodes`` over them (None likewise)."""

    steps: int
    ndim: int
    nodes: int
    grid_bytes: int
    n_models: int | None

    @property
    def total_nodes(self) -> int | None:
        return None if self.n_models is None else self.nodes * self.n_models

    def describe(self) -> str:
        """One line for the dry run and the warnings."""
        zoo = "" if self.n_models is None else f", {self.total_nodes:,} nodes over {self.n_models} models"
        return (
            f"landscape: {self.nodes:,} nodes per model (landscape.steps={self.steps} ** landscape.ndim={self.ndim}), "
            f"{_size(self.grid_bytes)} per grid{zoo}"
        )


def landscapes_needed(cfg: Mapping[str, Any]) -> bool:
    """Whether a selected (registered) descriptor reads landscapes."""
    from benchmark.descriptors import DESCRIPTORS  # the registry as plugins have filled it

    return any(n in DESCRIPTORS and "landscape" in DESCRIPTORS.get(n).requires for n in cfg.get("descriptors") or {})


def grid_work(cfg: Mapping[str, Any]) -> GridWork:
    """The :class:`GridWork` of a resolved config with a valid grid shape."""
    ls, zoo = cfg["landscape"], cfg["zoo"]
    steps, ndim = int(ls["steps"]), int(ls["ndim"])
    nodes = steps**ndim
    n_models = None
    if zoo.get("source", "train") == "train" and zoo.get("task") in TASKS:
        try:
            task, checkpoints = TASKS.get(zoo["task"]), zoo.get("checkpoints") or []
            n_models = sum(len(task.planned_epochs(spec.hparams, checkpoints)) for spec in zoo_specs(zoo))
        except (KeyError, TypeError, ValueError):  # an invalid recipe: zoo_problems names it
            n_models = None
    return GridWork(steps, ndim, nodes, nodes * np.dtype(np.float64).itemsize, n_models)


def grid_size_problems(work: GridWork, memory: int | None) -> list[str]:
    """A grid whose arrays cannot fit in ``memory`` bytes, with the largest ``landscape.steps`` that fits."""
    if memory is None or GRID_COPIES * work.grid_bytes <= memory:
        return []
    fits = int((memory / (GRID_COPIES * 8)) ** (1 / work.ndim))
    fits -= 1 - fits % 2  # odd
    while fits > 3 and GRID_COPIES * 8 * fits**work.ndim > memory:
        fits -= 2
    return [
        f"landscape.steps={work.steps} with landscape.ndim={work.ndim} asks for {work.nodes:,} nodes per model: "
        f"one grid takes {_size(work.grid_bytes)} ({work.grid_bytes:,} bytes of float64) and its evaluation "
        f"holds {GRID_COPIES} of them, more than the {_size(memory)} of memory of this machine. "
        f"Use landscape.steps={max(fits, 3)} or less (or a lower landscape.ndim)."
    ]


def landscape_problems(cfg: Mapping[str, Any]) -> list[str]:
    """What the ``landscape`` node of a resolved config gets wrong, one message each (the grid's
    shape, unknown choices, a metric the zoo's task does not measure, and, when a selected
    descriptor reads landscapes, a grid too large for this machine's memory). A grid of more than
    :data:`LARGE_GRID_NODES` nodes is logged as a warning here, before any training."""
    ls, zoo = cfg["landscape"], cfg["zoo"]
    problems = []
    try:
        grid_axes(ls["ndim"], ls["steps"], ls["span"])
    except ValueError as exc:
        problems.append(str(exc))
    else:
        if landscapes_needed(cfg):
            work = grid_work(cfg)
            problems += grid_size_problems(work, physical_memory())
            if not problems and max(work.total_nodes or 0, work.nodes) > LARGE_GRID_NODES:
                log.warning(
                    "%s: more than %s grid nodes, each an evaluation of the objective on landscape.n_samples=%s "
                    "examples; this can take hours. Lower landscape.steps to shorten it.",
                    work.describe(),
                    f"{LARGE_GRID_NODES:,}",
                    ls.get("n_samples"),
                )
    choices = {
        "directions": DIRECTION_KINDS,
        "normalization": NORMALIZATIONS,
        "norm_stats": NORM_STATS,
        "scale": SCALES,
    }
    for key, allowed in choices.items():
        value = ls.get(key, DEFAULTS.get(key))
        if value not in allowed:
            problems.append(f"landscape.{key}={value!r} is unknown; use one of {list(allowed)}.")
    batch = ls.get("node_batch", DEFAULTS["node_batch"])
    if not (batch == "auto" or isinstance(batch, bool)):
        problems.append(f"landscape.node_batch={batch!r} is unknown; use auto, true or false.")
    budget = ls.get("node_memory_mb", DEFAULTS["node_memory_mb"])
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0:
        problems.append(f"landscape.node_memory_mb={budget!r} must be a positive number of MiB, e.g. 1024.")
    if zoo.get("task") in TASKS and zoo.get("source", "train") == "train":
        try:
            TASKS.get(zoo["task"]).check_metric(ls.get("metric", DEFAULTS["metric"]))
        except ValueError as exc:
            problems.append(str(exc))
    return problems


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


def _objective(record: ModelRecord, data: Any, n_samples: int, seed: int, metric: str = "loss") -> Objective:
    return TASKS.get(record.task).objective(record, data, n_samples, seed, metric)


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
    ndim, kind = ls_cfg["ndim"], ls_cfg.get("directions", DEFAULTS["directions"])
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
    if ls_cfg.get("norm_stats", DEFAULTS["norm_stats"]) == "perturbed":
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


def compute_landscape(
    record: ModelRecord,
    data: Any,
    ls_cfg: Mapping[str, Any],
    checkpoint: GridCheckpoint | None = None,
    node_memory_mb: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> Landscape:
    """``landscape.metric`` of ``record`` on a grid along normalised directions (see
    :func:`landscape_directions`), on the run's device; resumes from and saves progress to
    ``checkpoint`` when given. With ``node_memory_mb`` the nodes are evaluated in chunks that fit
    that many MiB (:func:`~benchmark.landscape.grid.evaluate_grid_batched`), except for objectives
    that differentiate through their inputs (PINNs) and ``norm_stats=batch``, evaluated per node.
    ``progress(n)`` is called as each row of n nodes is done.

    Normalisation layers: ``norm_stats=frozen`` (eval mode, trained running statistics),
    ``perturbed`` (running statistics move with the weights) or ``batch`` (each node normalises
    with the evaluation batch's statistics). A model whose Hessian directions are undefined
    (non-finite curvature) gets an all-NaN grid, masked downstream, with the reason logged.
    """
    on = device.current()
    model = record_module(record).to(on)
    metric = ls_cfg.get("metric", DEFAULTS["metric"])
    objective = _objective(record, data, ls_cfg["n_samples"], ls_cfg["seed"]).to(on)
    measured = objective if metric == "loss" else _objective(record, data, ls_cfg["n_samples"], ls_cfg["seed"], metric)
    measured = measured.to(on)
    axes = grid_axes(ls_cfg["ndim"], ls_cfg["steps"], ls_cfg["span"])
    batch_stats = ls_cfg.get("norm_stats", DEFAULTS["norm_stats"]) == "batch"
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
        on_row = checkpoint.save if checkpoint else None
        if node_memory_mb is not None and not measured.needs_input_grad and not batch_stats:
            chunk = nodes_per_chunk(node_bytes(model, measured, directions), node_memory_mb)
            values = evaluate_grid_batched(
                model, measured, directions, axes, chunk, progress=progress, resume=resume, on_row=on_row
            )
        else:
            values = evaluate_grid(model, measured, directions, axes, progress=progress, resume=resume, on_row=on_row)
    if checkpoint:
        checkpoint.clear()
    scale = ls_cfg.get("scale", DEFAULTS["scale"])
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
