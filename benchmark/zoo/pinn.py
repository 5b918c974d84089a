"""Physics-informed networks for the convection equation (Krishnapriyan et al. 2021).

The objective is the PINN training loss: mean squared PDE residual ``u_t + beta u_x`` on the
collocation points, plus the initial-condition error ``u(x, 0) - sin x``, plus the periodic
boundary mismatch ``u(0, t) - u(2 pi, t)``. Training follows the paper: Adam, then L-BFGS with a
strong-Wolfe line search. Targets: relative L2 and relative L-inf error against the exact
solution ``sin(x - beta t)`` on the evaluation grid, and the final training loss.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from benchmark import device
from benchmark.data.convection import ConvectionPoints, exact_solution
from benchmark.models import build_model
from benchmark.models.base import architecture_spec
from benchmark.records import ModelRecord
from benchmark.zoo.base import Forward, Objective, Task, descend, register_task
from benchmark.zoo.spec import ModelSpec


def pinn_loss(forward: Forward, collocation: torch.Tensor, targets: dict[str, Any]) -> torch.Tensor:
    """Residual + initial + boundary mean squared errors (equal weights)."""
    xt = collocation.detach().requires_grad_(True)
    u = forward(xt)
    (grad,) = torch.autograd.grad(u.sum(), xt, create_graph=True)
    residual = grad[:, 1] + targets["beta"] * grad[:, 0]
    initial = forward(targets["initial"]).squeeze(-1) - targets["initial_u"]
    boundary = forward(targets["boundary_left"]) - forward(targets["boundary_right"])
    return (residual**2).mean() + (initial**2).mean() + (boundary**2).mean()


def solution_errors(model: nn.Module, data: ConvectionPoints, beta: float) -> tuple[float, float]:
    """Relative L2 and relative L-inf error of the model against the exact solution on the grid."""
    points = data.eval_points
    with torch.no_grad():
        u = model(points.to(next(model.parameters()).device)).squeeze(-1).double().cpu()
    exact = exact_solution(points[:, 0], points[:, 1], beta).double()
    l2 = float(torch.linalg.vector_norm(u - exact) / torch.linalg.vector_norm(exact))
    linf = float((u - exact).abs().max() / exact.abs().max())
    return l2, linf


@register_task("pinn_convection")
class ConvectionPINN(Task):
    """Hyperparameters: architecture arguments, ``beta``, ``lr`` and ``adam_steps`` (Adam), then
    ``lbfgs_steps`` L-BFGS iterations (0 to skip), ``seed``. Checkpoints count Adam steps."""

    targets = ("rel_l2_error", "rel_linf_error", "train_loss")
    greater_is_better: ClassVar[dict[str, bool]] = {"rel_l2_error": False, "rel_linf_error": False, "train_loss": False}
    version = "1"
    averages_examples = False  # residual, initial and boundary terms: no split into micro-batches

    def _targets(self, data: ConvectionPoints, beta: float) -> dict[str, Any]:
        return {
            "beta": float(beta),
            "initial": data.initial,
            "initial_u": data.initial_u,
            "boundary_left": data.boundary_left,
            "boundary_right": data.boundary_right,
        }

    def train(self, spec: ModelSpec, data: Any, dataset: str, checkpoints: Sequence[int]) -> list[ModelRecord]:
        if not isinstance(data, ConvectionPoints):
            raise TypeError(f"zoo task 'pinn_convection' needs dataset=convection, got {type(data).__name__}.")
        hp = spec.hparams
        arch = architecture_spec(spec.architecture, [2], 1, hp)
        torch.manual_seed(spec.seed)
        on = device.current()
        model = build_model(arch).to(on)  # initialised on the CPU: the same weights on every device
        objective = Objective(data.collocation, self._targets(data, hp["beta"]), pinn_loss, needs_input_grad=True)
        objective = objective.to(on)
        adam_steps, lbfgs_steps = int(hp["adam_steps"]), int(hp.get("lbfgs_steps", 0))
        keep = sorted({int(c) for c in checkpoints if 0 <= int(c) < adam_steps})
        records: list[ModelRecord] = []
        diverged = False
        opt = torch.optim.Adam(model.parameters(), lr=hp["lr"])
        for step in range(adam_steps + 1):
            if step in keep:
                records.append(self._record(spec, arch, dataset, model, data, objective, step, diverged))
            if step == adam_steps:
                break
            if not descend(opt, objective(model)):
                diverged = True
                break
        if lbfgs_steps and not diverged:
            lbfgs = torch.optim.LBFGS(
                model.parameters(),
                lr=1.0,
                max_iter=lbfgs_steps,
                history_size=50,
                tolerance_grad=1e-9,
                tolerance_change=1e-12,
                line_search_fn="strong_wolfe",
            )

            def closure() -> torch.Tensor:
                lbfgs.zero_grad(set_to_none=True)
                loss = objective(model)
                loss.backward()
                return loss

            lbfgs.step(closure)
        final_step = adam_steps + lbfgs_steps
        records.append(self._record(spec, arch, dataset, model, data, objective, final_step, diverged))
        return records

    def final_epoch(self, hparams: dict[str, Any]) -> int:
        return int(hparams["adam_steps"]) + int(hparams.get("lbfgs_steps", 0))

    def _record(
        self,
        spec: ModelSpec,
        arch: dict[str, Any],
        dataset: str,
        model: nn.Module,
        data: ConvectionPoints,
        objective: Objective,
        step: int,
        diverged: bool,
    ) -> ModelRecord:
        loss = float(objective(model).detach())
        l2, linf = solution_errors(model, data, spec.hparams["beta"])
        metrics = {"rel_l2_error": l2, "rel_linf_error": linf, "train_loss": loss}
        bad = diverged or not all(math.isfinite(v) for v in metrics.values())
        return self.snapshot(spec, arch, dataset, model, step, metrics, bad)

    def objective(self, record: ModelRecord, data: Any, n_samples: int, seed: int, metric: str = "loss") -> Objective:
        """The training loss on a seeded subset of ``n_samples`` collocation points (all initial and
        boundary points are kept)."""
        self.check_metric(metric)
        if n_samples < 1:
            raise ValueError(f"n_samples={n_samples} must be >= 1 (collocation points in the evaluation subset).")
        idx = torch.randperm(len(data.collocation), generator=torch.Generator().manual_seed(seed))[:n_samples]
        return Objective(
            data.collocation[idx], self._targets(data, record.hparams["beta"]), pinn_loss, needs_input_grad=True
        )
