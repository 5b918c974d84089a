"""Ways to evaluate the loss on a 2-D grid around a model's weights, side by side.

Every method gets the same case (model, objective, two directions, grid size) and returns a
``steps x steps`` array. Peers place their nodes by their own rules; each method's ``check``
evaluates our engine at the nodes the method actually visits (same directions) and returns the
largest absolute difference, so values are compared point for point.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata

import numpy as np
import torch

from benchmark.landscape import evaluate_grid
from benchmark.landscape.grid import evaluate_grid_batched, node_bytes, nodes_per_chunk
from benchmark.perf.cases import Case, landscape_config, norm, scaled


@dataclass
class Check:
    """Agreement with our engine at the nodes a method visits."""

    max_abs_diff: float  # output as returned vs ours at the nodes the method documents
    agreement: float  # vs ours at the nodes it actually visits, deliberate changes (noise) left out
    notes: list[str] = field(default_factory=list)


class GridMethod:
    """One way to evaluate a grid. ``prepare`` does the untimed set-up and returns the timed call."""

    name = ""
    package: str | None = None  # distribution that must be installed
    module: str | None = None  # module imported from it
    install = ""  # how to install it
    directions = "ours"  # how the directions relate to ours, for the table

    def missing(self) -> str | None:
        """Why the method cannot run here, or None."""
        if self.module is None or importlib.util.find_spec(self.module) is not None:
            return None
        return f"{self.package} is not installed ({self.install}): skipped"

    def version(self) -> str:
        return "" if self.package is None else metadata.version(self.package)

    def prepare(self, case: Case) -> Callable[[], np.ndarray]:
        raise NotImplementedError

    def check(self, case: Case, values: np.ndarray, ours: np.ndarray) -> Check:
        raise NotImplementedError


def _max_abs(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))))


class Ours(GridMethod):
    """``benchmark.landscape.evaluate_grid``, exactly as ``compute_landscape`` calls it."""

    name = "ours"

    def prepare(self, case: Case) -> Callable[[], np.ndarray]:
        return lambda: evaluate_grid(case.model, case.objective, case.directions, case.axes)

    def check(self, case: Case, values: np.ndarray, ours: np.ndarray) -> Check:
        return Check(0.0, 0.0)


class OursNodeBatched(GridMethod):
    """``benchmark.landscape.grid.evaluate_grid_batched``, as ``compute_landscape`` runs it with
    ``landscape.node_batch`` on: chunks of nodes sized by ``landscape.node_memory_mb`` (its
    default), each chunk one ``vmap``-ed call."""

    name = "ours, node-batched"

    def chunk(self, case: Case) -> int:
        """Nodes per call under the default budget (at most the whole grid)."""
        budget = float(landscape_config()["node_memory_mb"])
        per_node = node_bytes(case.model, case.objective, case.directions)
        return min(nodes_per_chunk(per_node, budget), case.steps**2)

    def prepare(self, case: Case) -> Callable[[], np.ndarray]:
        self._chunk = chunk = self.chunk(case)  # check() reports the last prepared case's
        return lambda: evaluate_grid_batched(case.model, case.objective, case.directions, case.axes, chunk)

    def check(self, case: Case, values: np.ndarray, ours: np.ndarray) -> Check:
        """``values`` must come from the last ``prepare``'d call, whose chunk it reports."""
        d = _max_abs(values, ours)
        largest = float(np.max(np.abs(ours)))
        return Check(
            d,
            d,
            [f"{self._chunk} nodes per call (landscape.node_memory_mb's default); largest |loss| {largest:.4g}"],
        )


class Naive(GridMethod):
    """Copy the weights into the model at every node (``load_state_dict``), then evaluate: the
    pattern of Li et al.'s reference code and most tutorials."""

    name = "naive loop"

    def prepare(self, case: Case) -> Callable[[], np.ndarray]:
        net = copy.deepcopy(case.model).eval()
        center = {k: v.detach().clone() for k, v in net.state_dict().items()}
        names = [n for n, _ in net.named_parameters()]
        d1, d2 = case.directions

        def run() -> np.ndarray:
            values = np.empty((len(case.axes[0]), len(case.axes[1])))
            with torch.no_grad():
                for i, a in enumerate(case.axes[0].tolist()):
                    for j, b in enumerate(case.axes[1].tolist()):
                        state = dict(center)
                        for n in names:
                            state[n] = center[n] + a * d1[n] + b * d2[n]
                        net.load_state_dict(state)
                        values[i, j] = float(case.objective(net))
            return values

        return run

    def check(self, case: Case, values: np.ndarray, ours: np.ndarray) -> Check:
        d = _max_abs(values, ours)
        return Check(d, d)


def _step_vectors(case: Case) -> tuple[list[dict[str, torch.Tensor]], float]:
    """Our two directions rescaled to one common step length ``s`` (the length of one grid step
    along our first direction), and ``s``. Filter-normalised directions have equal norms (that of
    the perturbed weights), so these are our grid steps up to rounding."""
    half = (case.steps - 1) / 2
    s = case.span / half * norm(case.directions[0])
    return [scaled(d, s / norm(d)) for d in case.directions], s


class LossLandscapes(GridMethod):
    """``loss_landscapes.random_plane`` (PyPI ``loss-landscapes``) with our two directions.

    ``random_plane`` draws its own directions (uniform on [0, 1], then one orthogonalisation step);
    to compare values it is handed ours by replacing its two generators, and ``normalization=None``
    leaves them as given; it rescales both to one step length, which ``distance`` sets to ours.
    """

    name = "loss-landscapes random_plane"
    package = "loss-landscapes"
    module = "loss_landscapes"
    install = "pip install loss-landscapes==3.0.6"
    directions = "ours (its generators replaced)"

    @staticmethod
    def _distance(net: torch.nn.Module, steps: int, s: float) -> float:
        """The ``distance`` that makes its step length ``s``: it scales each direction to
        ``||w|| / distance / steps``."""
        return norm({n: p.detach() for n, p in net.named_parameters()}) / (steps * s)

    @staticmethod
    def _random_plane(case: Case, net: torch.nn.Module, steps: int, deepcopy_model: bool) -> np.ndarray:
        import loss_landscapes.main as llm
        from loss_landscapes.metrics import Metric
        from loss_landscapes.model_interface.model_parameters import ModelParameters

        names = [n for n, _ in net.named_parameters()]
        (u1, u2), s = _step_vectors(case)
        objective = case.objective

        class ObjectiveMetric(Metric):
            def __call__(self, model_wrapper: object) -> float:
                return float(objective(model_wrapper.forward))  # type: ignore[attr-defined]

        saved = llm.rand_u_like, llm.orthogonal_to
        llm.rand_u_like = lambda _example: ModelParameters([u1[n].clone() for n in names])
        llm.orthogonal_to = lambda _vector: ModelParameters([u2[n].clone() for n in names])
        try:
            with torch.no_grad():
                out = llm.random_plane(
                    net,
                    ObjectiveMetric(),
                    distance=LossLandscapes._distance(net, case.steps, s),
                    steps=steps,
                    normalization=None,
                    deepcopy_model=deepcopy_model,
                )
        finally:
            llm.rand_u_like, llm.orthogonal_to = saved
        return np.asarray(out, dtype=np.float64)

    def prepare(self, case: Case) -> Callable[[], np.ndarray]:
        net = case.fresh_model()
        return lambda: self._random_plane(case, net, case.steps, deepcopy_model=True)

    def side_effects(self, case: Case) -> str:
        """What ``random_plane`` with its default ``deepcopy_model=False`` leaves behind in the
        model it was given (a 3x3 plane)."""
        net = case.fresh_model()
        before = {n: p.detach().clone() for n, p in net.named_parameters()}
        self._random_plane(case, net, 3, deepcopy_model=False)
        moved = max(float((p.detach() - before[n]).abs().max()) for n, p in net.named_parameters())
        frozen = not any(p.requires_grad for p in net.parameters())
        return (
            f"with its default deepcopy_model=False it leaves the model's weights moved (max |Δw| {moved:.2g} "
            f"after a 3x3 plane){' and requires_grad switched off' if frozen else ''}"
        )

    def check(self, case: Case, values: np.ndarray, ours: np.ndarray) -> Check:
        """Its documented nodes are ``start + i u1 + j u2`` with ``start = w - steps/2 (u1 + u2)``;
        compare there, and at the nodes it actually visits (see the note)."""
        (u1, u2), _ = _step_vectors(case)
        steps = case.steps
        a = np.arange(steps) - steps / 2
        b = np.arange(steps + 1) - steps / 2  # one extra node along u2
        ref = evaluate_grid(case.model, case.objective, [u1, u2], (a, b))
        documented = ref[:, :steps]
        shift = np.array([[j + (1 if i % 2 == 0 else 0) for j in range(steps)] for i in range(steps)])
        visited = np.take_along_axis(ref, shift, axis=1)
        agreement = _max_abs(values, visited)
        notes = [
            f"at the nodes it actually visits (rows 0, 2, 4, ... one step further along direction 2): "
            f"max |Δ| {agreement:.1e}",
        ]
        if steps % 2 == 1:
            notes.append(f"with odd steps ({steps}) its nodes sit half a step off the trained weights")
        _, s = _step_vectors(case)
        distance = self._distance(case.model, steps, s)
        notes.append(
            f"its docstring calls distance 'maximum distance in parameter space from the start point'; "
            f"distance={distance:.4g} put its farthest node along a direction at {steps / 2 * s:.4g} "
            f"(= ||w|| / (2 distance))"
        )
        notes.append(self.side_effects(case))
        return Check(_max_abs(values, documented), agreement, notes)


class Landscaper(GridMethod):
    """``landscaper.LossLandscape.compute`` (PyPI ``landscaper``) with our two directions.

    It takes explicit directions but first rescales every tensor of them to norm sqrt(numel), which
    would replace filter normalisation; that one step (``landscaper.compute.normalize_direction``)
    is bypassed, the rest runs as published: both directions are scaled to
    ``||w|| * distance / (steps / 2)``, and ``distance`` is set so that this is our grid step.
    """

    name = "Landscaper LossLandscape.compute"
    package = "landscaper"
    module = "landscaper"
    install = "pip install --no-deps landscaper topopy nglpy (plus treelib coloraide drawsvg pyDOE 'ghalton<0.6.2')"
    directions = "ours (its per-tensor rescaling bypassed)"

    def prepare(self, case: Case) -> Callable[[], np.ndarray]:
        import landscaper.compute as lc
        from landscaper import LossLandscape

        net = case.fresh_model()
        names = [n for n, _ in net.named_parameters()]
        (u1, u2), s = _step_vectors(case)
        steps = case.steps
        model_norm = norm({n: p.detach() for n, p in net.named_parameters()})
        distance = s * (steps / 2) / model_norm
        dirs = [[u[n].clone() for n in names] for u in (u1, u2)]
        objective = case.objective
        self._model_norm = model_norm

        def run() -> np.ndarray:
            saved = lc.normalize_direction
            lc.normalize_direction = lambda direction, _parameters: direction
            try:
                with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                    out = LossLandscape.compute(
                        net,
                        None,
                        dirs,
                        lambda m, _data: float(objective(m)),
                        steps=steps,
                        distance=distance,
                        dim=2,
                        device=str(case.device),
                    )
            finally:
                lc.normalize_direction = saved
            self._ranges = out.ranges
            return np.asarray(out.loss, dtype=np.float64)

        return run

    def check(self, case: Case, values: np.ndarray, ours: np.ndarray) -> Check:
        """Ours on its step lattice; notes on its noise, its normalisation and its coordinates
        (``values`` must come from the last ``prepare``'d call, whose coordinates it keeps)."""
        (u1, u2), s = _step_vectors(case)
        half = case.steps // 2
        k = np.arange(case.steps, dtype=np.float64) - half
        ref = evaluate_grid(case.model, case.objective, [u1, u2], (k, k))
        diff = np.abs(values - ref)
        top = np.unravel_index(np.argmax(values), values.shape)
        rest = np.delete(diff.ravel(), np.ravel_multi_index(top, values.shape))
        notes = [
            f"all nodes but its maximum agree to {rest.max():.1e}; the maximum node {tuple(int(t) for t in top)} "
            f"differs by {diff[top]:.1e} (noise it adds to maxima)",
        ]
        import landscaper.compute as lc

        names = [n for n, _ in case.model.named_parameters()]
        params = [p.detach() for p in case.model.parameters()]
        own = lc.normalize_direction([u1[n].clone() for n in names], params)
        flat = torch.cat([u1[n].reshape(-1) for n in names]).double()
        flat_own = torch.cat([d.reshape(-1) for d in own]).double()
        cosine = float(flat @ flat_own / (flat.norm() * flat_own.norm()))
        notes.append(
            f"its own per-tensor rescaling (each tensor to norm sqrt(numel)) would turn our filter-normalised "
            f"direction 1 into one at cosine {cosine:.3f} to it"
        )
        reported = float(self._ranges[0][-1])
        actual = half * s / self._model_norm
        notes.append(
            f"its coordinates end at ±{reported:.4g}, the nodes it evaluates at ±{actual:.4g} "
            f"(reported/actual {reported / actual:.4f})"
        )
        return Check(float(diff.max()), float(rest.max()), notes)


GRID_METHODS: list[GridMethod] = [Ours(), Naive(), LossLandscapes(), Landscaper()]
NODE_BATCHED = OursNodeBatched()
"""Our node-batched path: measured beside the others on an accelerator (or with ``--node-batched``)."""


def quiet_imports() -> None:
    """Import the installed peers once, before any timing (their import cost is not measured)."""
    for m in GRID_METHODS:
        if m.module and not m.missing() and m.module not in sys.modules:
            with contextlib.redirect_stdout(io.StringIO()):
                importlib.import_module(m.module)
