"""Loss on a k-dimensional grid around the trained weights."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from benchmark.zoo.base import Objective

NORM_STATS = ("frozen", "perturbed", "batch")
"""How normalisation layers' running statistics are treated on the grid (docs/concepts.md):
``frozen`` keeps the trained statistics at every node; ``perturbed`` moves them along the
directions like weights (Li et al. 2018's ``dir_type='states'``, see :func:`running_stat_directions`);
``batch`` normalises with the statistics of the evaluation batch at each node."""


def grid_axes(ndim: int, steps: int, span: float) -> tuple[np.ndarray, ...]:
    """``ndim`` copies of ``linspace(-span, span, steps)``; ``steps`` odd so 0 is a node (exactly).

    Coordinates are in units of each direction (``1.0`` moves the weights by one direction).
    """
    if not 1 <= ndim <= 4:
        raise ValueError(f"landscape.ndim={ndim} is out of range; use 1, 2, 3 or 4.")
    if steps < 3 or steps % 2 == 0:
        raise ValueError(
            f"landscape.steps={steps} must be odd and >= 3 so the trained weights are the centre node; "
            f"use {max(3, steps + 1 - steps % 2)}."
        )
    if not span > 0 or not np.isfinite(span):
        raise ValueError(f"landscape.span={span} must be a positive finite number (e.g. 1.0).")
    half = steps // 2
    axis = span * (np.arange(-half, half + 1, dtype=np.float64) / half)  # exactly symmetric, 0 exact
    if not np.all(np.diff(axis) > 0):  # a subnormal span: neighbouring nodes round to one value
        raise ValueError(
            f"landscape.span={span} is too small for landscape.steps={steps}: neighbouring grid nodes "
            f"coincide in float64; use a span of at least 1e-300 (spans are in units of a direction, e.g. 1.0)."
        )
    return tuple(axis.copy() for _ in range(ndim))


def running_stat_buffers(model: nn.Module) -> list[str]:
    """Names of the running means and variances of the model's batch-norm layers."""
    return [
        f"{mod_name}.{b_name}" if mod_name else b_name
        for mod_name, module in model.named_modules()
        if isinstance(module, nn.modules.batchnorm._NormBase)
        for b_name, buf in module.named_buffers(recurse=False)
        if b_name in ("running_mean", "running_var") and buf is not None
    ]


def running_stat_directions(model: nn.Module, scale: float = 1.0) -> dict[str, torch.Tensor]:
    """Directions for the running statistics, as Li et al.'s ``dir_type='states'`` builds them for
    vectors it does not ignore: each statistic's direction is the statistic itself (times ``scale``),
    so at coordinate ``c`` it becomes ``(1 + c) * stat``. Add these to each direction's dict."""
    buffers = dict(model.named_buffers())
    return {n: buffers[n].detach().clone() * scale for n in running_stat_buffers(model)}


@contextmanager
def batch_statistics(model: nn.Module) -> Iterator[None]:
    """Inside the block, batch-norm layers normalise with the statistics of the batch they see
    (their running statistics are detached, so nothing is updated); restored afterwards."""
    saved = []
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._NormBase) and module.track_running_stats:
            saved.append((module, module.running_mean, module.running_var))
            module.running_mean = None
            module.running_var = None
    try:
        yield
    finally:
        for module, mean, var in saved:
            module.running_mean, module.running_var = mean, var


LINEAR_IN_WEIGHTS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def input_layer(model: nn.Module, objective: Objective) -> tuple[str, torch.Tensor] | None:
    """The layer whose input no weight or buffer touches, with that input, when the cache of
    :class:`InputLayerCache` applies: the first module with parameters or buffers to run is a plain
    linear or convolutional layer (exact type: its output is linear in its weight and bias jointly)
    and runs once per evaluation. ``None`` otherwise."""
    calls: list[tuple[str, torch.Tensor]] = []
    handles = [
        module.register_forward_pre_hook(lambda _, args, name=name: calls.append((name, args[0])))
        for name, module in model.named_modules()
        if next(module.parameters(recurse=False), None) is not None
        or next(module.buffers(recurse=False), None) is not None
    ]
    try:
        with torch.no_grad():
            objective(model)
    finally:
        for h in handles:
            h.remove()
    if not calls:
        return None
    name, x = calls[0]
    if type(model.get_submodule(name)) not in LINEAR_IN_WEIGHTS or sum(c[0] == name for c in calls) != 1:
        return None
    return name, x.detach()


class InputLayerCache:
    """Reuses the input layer's output across the grid (its input does not depend on the weights).

    For a layer ``f(x; W, b) = x W^T + b`` (or a convolution), linear in ``theta = (W, b)``:
    ``f(x; theta_0 + sum_i c_i d_i) = f(x; theta_0) + sum_i c_i f_0(x; d_i)``, where ``f_0`` is the
    layer with weight and bias both taken from ``d_i``. The outputs for the centre and for each
    direction are computed once; a node then costs an axpy instead of the layer's matmul. The
    result equals direct evaluation up to float32 rounding.
    """

    def __init__(self, model: nn.Module, name: str, x: torch.Tensor, directions: Sequence[Mapping[str, torch.Tensor]]):
        self.module = model.get_submodule(name)
        self.x = x
        prefix = f"{name}." if name else ""
        own = dict(self.module.named_parameters(recurse=False))
        with torch.no_grad():
            self.center = self.module(x)
            self.parts = []
            for d in directions:
                part = {k: d.get(prefix + k, torch.zeros_like(v)) for k, v in own.items()}
                self.parts.append(
                    torch.func.functional_call(self.module, part, (x,)) if any(t.any() for t in part.values()) else None
                )
        self.current: torch.Tensor | None = None

    def combine(self, coefficients: Sequence[float], base: torch.Tensor | None = None, start: int = 0) -> torch.Tensor:
        """``base + sum_i coefficients[i] * part[start + i]`` (``base`` defaults to the centre), a new tensor."""
        out = (self.center if base is None else base).clone()
        for c, part in zip(coefficients, self.parts[start:], strict=False):
            if c != 0.0 and part is not None:
                out.add_(part, alpha=c)
        return out

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.current is not None and x.shape == self.x.shape and x.data_ptr() == self.x.data_ptr():
            out, self.current = self.current, None  # a fresh tensor per evaluation (in-place ops downstream)
            return out
        return type(self.module).forward(self.module, x)

    @contextmanager
    def installed(self) -> Iterator[InputLayerCache]:
        self.module.forward = self._forward
        try:
            yield self
        finally:
            del self.module.forward


@dataclass
class _Grid:
    """What both grid walks start from: the model's tensors at the centre, the names the directions
    move, and the values and row-done flags (filled from ``resume``)."""

    center: dict[str, torch.Tensor]
    moved: list[str]
    values: np.ndarray
    done: np.ndarray


def _start_grid(
    model: nn.Module,
    directions: Sequence[Mapping[str, torch.Tensor]],
    axes: Sequence[np.ndarray],
    resume: tuple[np.ndarray, np.ndarray] | None,
) -> _Grid:
    """Check the directions against the model and the grid, and lay out its arrays."""
    if len(directions) != len(axes):
        raise ValueError(f"{len(directions)} directions for a {len(axes)}-dimensional grid.")
    center = {n: p.detach() for n, p in model.named_parameters()}
    center.update({n: b.detach() for n, b in model.named_buffers()})
    unknown = sorted({n for d in directions for n in d} - set(center))
    if unknown:
        raise ValueError(f"directions name tensors the model does not have: {unknown[:5]}.")
    moved = [n for n in center if any(n in d and bool(d[n].any()) for d in directions)]
    shape = tuple(len(a) for a in axes)
    values = np.empty(shape, dtype=np.float64)
    done = np.zeros(shape[:-1], dtype=bool)
    if resume is not None:
        values[...], done[...] = resume
    return _Grid(center, moved, values, done)


def evaluate_grid(
    model: nn.Module,
    objective: Objective,
    directions: Sequence[Mapping[str, torch.Tensor]],
    axes: Sequence[np.ndarray],
    progress: Callable[[int], None] | None = None,
    resume: tuple[np.ndarray, np.ndarray] | None = None,
    on_row: Callable[[np.ndarray, np.ndarray], None] | None = None,
    reuse_input_layer: bool = True,
) -> np.ndarray:
    """Objective at every node ``theta + sum_i axes[i][j_i] * directions[i]``, shape ``(len(a) for a in axes)``.

    The model runs in eval mode (normalisation layers use their running statistics; dropout is off).
    A direction may also move floating-point buffers (e.g. running statistics, see
    :data:`NORM_STATS`): any name of ``model.state_dict()`` it holds. Values are float64 and kept
    as computed: NaN/inf are returned, not replaced. Weights never need gradients here; autograd
    stays on only for objectives that differentiate through their inputs.

    The grid is computed row by row (a row = all nodes along the last axis). ``resume=(values,
    done)`` skips the rows already marked done (``done`` has the shape of the leading axes);
    ``on_row(values, done)`` is called after each row, e.g. to save progress.

    With ``reuse_input_layer`` the input layer's output is combined from cached parts instead of
    recomputed at each node (:class:`InputLayerCache`), when :func:`input_layer` finds one and the
    objective does not differentiate through its inputs.
    """
    grid = _start_grid(model, directions, axes, resume)
    center, moved, values, done = grid.center, grid.moved, grid.values, grid.done
    shape = values.shape
    lead_shape = shape[:-1]
    was_training = model.training
    model.eval()
    grad_mode = torch.enable_grad() if objective.needs_input_grad else torch.no_grad()
    found = input_layer(model, objective) if reuse_input_layer and not objective.needs_input_grad else None
    cache = InputLayerCache(model, *found, directions) if found else None
    # Walk the grid row by row: the partial sum over the leading directions is shared by a row.
    with grad_mode, cache.installed() if cache else contextlib.nullcontext():
        for lead in np.ndindex(*lead_shape) if lead_shape else [()]:
            if done[lead]:
                if progress:
                    progress(shape[-1])
                continue
            base = {n: center[n].clone() for n in moved}
            for i, j in enumerate(lead):
                c = float(axes[i][j])
                if c != 0.0:
                    for n in moved:
                        if n in directions[i]:
                            base[n].add_(directions[i][n], alpha=c)
            last = directions[-1]
            row_base = cache.combine([float(axes[i][j]) for i, j in enumerate(lead)]) if cache else None
            for j, c in enumerate(np.asarray(axes[-1]).tolist()):
                state = dict(center)
                for n in moved:
                    state[n] = base[n] + c * last[n] if c != 0.0 and n in last else base[n]
                if cache:
                    cache.current = cache.combine([c], row_base, start=len(axes) - 1)
                value = objective(lambda x, state=state: functional_call(model, state, (x,)))
                values[(*lead, j)] = float(value.detach())
            done[lead] = True
            if on_row:
                on_row(values, done)
            if progress:
                progress(shape[-1])
    model.train(was_training)
    return values


NODE_BATCH = ("auto", True, False)
"""``landscape.node_batch``: evaluate chunks of grid nodes in one vectorised call (``true``), one
node at a time (``false``), or batched on an accelerator and per node on the CPU (``auto``), where
batching was measured to gain nothing (docs/performance.md)."""


class NodeBudgetError(ValueError):
    """Not even one grid node fits in ``landscape.node_memory_mb``."""


def node_bytes(model: nn.Module, objective: Objective, directions: Sequence[Mapping[str, torch.Tensor]]) -> int:
    """Bytes one node of a batched evaluation holds: its copies of the tensors the ``directions``
    move and the outputs of every module of one forward pass on the objective's batch (measured by
    hooks)."""
    tensors = dict(model.named_parameters()) | dict(model.named_buffers())
    moved = {n for d in directions for n in d}
    weights = sum(tensors[n].numel() * tensors[n].element_size() for n in moved)
    activations = 0

    def count(_module: nn.Module, _args: Any, out: Any) -> None:
        nonlocal activations
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                activations += t.numel() * t.element_size()

    handles = [m.register_forward_hook(count) for m in model.modules()]
    try:
        with torch.no_grad():
            objective(model)
    finally:
        for h in handles:
            h.remove()
    return weights + activations


def nodes_per_chunk(per_node: int, budget_mb: float) -> int:
    """How many nodes of ``per_node`` bytes fit in ``budget_mb`` MiB; a budget below one node is a
    :class:`NodeBudgetError` naming the setting and what one node needs."""
    fits = int(budget_mb * 2**20 // max(per_node, 1))
    if fits < 1:
        need = per_node / 2**20
        raise NodeBudgetError(
            f"landscape.node_memory_mb={budget_mb} is below the {need:.2f} MiB one grid node needs (its perturbed "
            f"weights and its activations on landscape.n_samples examples); raise landscape.node_memory_mb to at "
            f"least {math.ceil(need)}, or set landscape.node_batch=false to evaluate one node at a time."
        )
    return fits


def evaluate_grid_batched(
    model: nn.Module,
    objective: Objective,
    directions: Sequence[Mapping[str, torch.Tensor]],
    axes: Sequence[np.ndarray],
    chunk: int,
    progress: Callable[[int], None] | None = None,
    resume: tuple[np.ndarray, np.ndarray] | None = None,
    on_row: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> np.ndarray:
    """:func:`evaluate_grid`'s values, ``chunk`` nodes per call: the perturbed weights of a chunk are
    stacked and the objective is mapped over them with ``torch.func.vmap`` and ``functional_call``.
    Equal to the per-node values up to float32 rounding. Rows (and ``resume``, ``on_row`` and
    ``progress``) are as in :func:`evaluate_grid`; a chunk may span rows. Objectives that
    differentiate through their inputs cannot be mapped this way (use :func:`evaluate_grid`)."""
    if objective.needs_input_grad:
        raise ValueError("an objective that differentiates through its inputs cannot be node-batched.")
    if chunk < 1:
        raise ValueError(f"chunk={chunk} must be >= 1.")
    grid = _start_grid(model, directions, axes, resume)
    center, moved, values, done = grid.center, grid.moved, grid.values, grid.done
    fixed = {n: t for n, t in center.items() if n not in moved}
    shape = values.shape
    was_training = model.training
    model.eval()
    rows = list(np.ndindex(*shape[:-1])) if shape[:-1] else [()]
    for lead in rows:
        if done[lead] and progress:
            progress(shape[-1])
    pending = [(*lead, j) for lead in rows if not done[lead] for j in range(shape[-1])]
    left = {lead: shape[-1] for lead in rows if not done[lead]}

    def one(state: dict[str, torch.Tensor]) -> torch.Tensor:
        return objective(lambda x: functional_call(model, {**fixed, **state}, (x,)))

    mapped = torch.func.vmap(one)
    with torch.no_grad():
        for start in range(0, len(pending), chunk):
            nodes = pending[start : start + chunk]
            coords = [[float(axes[i][node[i]]) for i in range(len(axes))] for node in nodes]
            stacked = {}
            for n in moved:
                t = center[n].unsqueeze(0).repeat(len(nodes), *([1] * center[n].ndim))
                for i, d in enumerate(directions):
                    if n in d:
                        c = torch.tensor([row[i] for row in coords], dtype=t.dtype, device=t.device)
                        t.add_(c.reshape(-1, *([1] * center[n].ndim)) * d[n])
                stacked[n] = t
            out = mapped(stacked).detach().to("cpu", torch.float64).numpy()
            for node, value in zip(nodes, out, strict=True):
                values[node] = value
                lead = node[:-1]
                left[lead] -= 1
                if left[lead] == 0:
                    done[lead] = True
                    if on_row:
                        on_row(values, done)
                    if progress:
                        progress(shape[-1])
    model.train(was_training)
    return values
