"""What every zoo task provides: training runs and the training objective of a trained model."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from benchmark.device import moved
from benchmark.models import state_to_numpy
from benchmark.records import ModelRecord, TrainingRun
from benchmark.registry import Registry
from benchmark.zoo.spec import ModelSpec

Forward = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Objective:
    """A model's training objective on a fixed batch, for any forward function.

    ``objective(forward)`` evaluates ``fn(forward, inputs, targets)``, where ``forward`` is the model
    itself or the model at perturbed weights. ``needs_input_grad`` marks objectives that
    differentiate the output with respect to the inputs (physics-informed residuals), which must
    run with autograd enabled even when the weights need no gradient.
    """

    inputs: torch.Tensor
    targets: Any
    fn: Callable[[Forward, torch.Tensor, Any], torch.Tensor]
    needs_input_grad: bool = False

    def __call__(self, forward: Forward) -> torch.Tensor:
        return self.fn(forward, self.inputs, self.targets)

    def micro_batches(self, size: int) -> list[tuple[float, Objective]]:
        """``(share, objective)`` of each run of ``size`` consecutive examples: for a mean over the
        examples, the objective is ``sum(share * part)``. Only for targets that are one tensor row per
        example (classification); a ``ValueError`` otherwise."""
        n = len(self.inputs)
        if not isinstance(self.targets, torch.Tensor) or len(self.targets) != n or self.needs_input_grad:
            raise ValueError(
                "curvature.micro_batch splits an objective that averages over its examples (classification); this "
                "objective has other terms (e.g. a PINN's initial and boundary losses); set curvature.micro_batch=null."
            )
        return [
            (len(x) / n, dataclasses.replace(self, inputs=x, targets=t))
            for x, t in zip(self.inputs.split(size), self.targets.split(size), strict=True)
        ]

    def to(self, device: torch.device) -> Objective:
        """This objective with its batch (inputs and every tensor of the targets) on ``device``."""
        return dataclasses.replace(self, inputs=self.inputs.to(device), targets=moved(self.targets, device))


class Task:
    """A kind of zoo: how its models train, what they are measured on, and their objective."""

    name: ClassVar[str] = ""
    targets: ClassVar[tuple[str, ...]] = ()
    greater_is_better: ClassVar[dict[str, bool]] = {}
    """Each of :attr:`targets` -> whether a larger value means a better model (accuracies: True;
    losses, errors and generalization gaps: False). Model-selection scores choose by it."""
    version: ClassVar[str] = "1"
    """Bump when training changes its results; stored models then retrain."""
    grid_metrics: ClassVar[tuple[str, ...]] = ("loss",)
    averages_examples: ClassVar[bool] = True
    """Whether the objective is a mean over its examples, so ``curvature.micro_batch`` can split it."""
    """What a landscape can sample for this task (``landscape.metric``); ``loss`` is the objective."""

    def train(self, spec: ModelSpec, data: Any, dataset: str, checkpoints: Sequence[int]) -> list[ModelRecord]:
        """Train one run; return a record per checkpoint in ``checkpoints`` (epochs or steps, as
        the task counts) that the run reaches, then the final model, in order."""
        raise NotImplementedError

    def objective(self, record: ModelRecord, data: Any, n_samples: int, seed: int, metric: str = "loss") -> Objective:
        """The training objective of ``record`` (or another of :attr:`grid_metrics`) on a fixed,
        seeded subset of its training data."""
        raise NotImplementedError

    def check_metric(self, metric: str) -> None:
        """Raise a ``ValueError`` naming the valid choices when ``metric`` is not one of :attr:`grid_metrics`."""
        if metric not in self.grid_metrics:
            raise ValueError(
                f"landscape.metric={metric!r} is not defined for task {self.name!r}; "
                f"use one of {list(self.grid_metrics)}."
            )

    def final_epoch(self, hparams: dict[str, Any]) -> int:
        """The epoch (or step) count of a finished run with these hyperparameters."""
        raise NotImplementedError

    def snapshot(
        self,
        spec: ModelSpec,
        architecture: dict[str, Any],
        dataset: str,
        model: torch.nn.Module,
        epoch: int,
        metrics: dict[str, float],
        diverged: bool,
    ) -> ModelRecord:
        """The record of ``model`` at ``epoch`` of its run: the final model keeps the spec's id,
        a checkpoint gets ``<id>@<epoch>``; a diverged model's metrics are NaN."""
        if diverged:
            metrics = {k: math.nan for k in metrics}
        final = epoch == self.final_epoch(spec.hparams)
        return ModelRecord(
            model_id=spec.id_at(epoch, final),
            zoo=spec.zoo,
            task=self.name,
            architecture=architecture,
            dataset=dataset,
            hparams=dict(spec.hparams),
            seed=spec.seed,
            group=spec.group,
            epoch=epoch,
            metrics={**metrics, "diverged": float(diverged)},
            state=state_to_numpy(model),
        )

    def planned_epochs(self, hparams: dict[str, Any], checkpoints: Sequence[int]) -> list[int]:
        """Epochs of the models one run will produce: the kept checkpoints, then the final one."""
        final = self.final_epoch(hparams)
        return [*sorted({int(c) for c in checkpoints if 0 <= int(c) < final}), final]


def descend(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> bool:
    """One gradient step on ``loss``; returns False, without stepping, when the loss is not finite
    (the run has diverged)."""
    if not torch.isfinite(loss):
        return False
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return True


TASKS: Registry[Task] = Registry("task")


def train_run(task: Task, spec: ModelSpec, data: Any, dataset: str, checkpoints: Sequence[int]) -> TrainingRun:
    """One training run of ``task``: its models (checkpoints, then the final model) and the wall
    time it took."""
    t0 = time.perf_counter()
    models = task.train(spec, data, dataset, checkpoints)
    return TrainingRun(tuple(models), time.perf_counter() - t0)


def register_task(name: str) -> Callable[[type[Task]], type[Task]]:
    """Class decorator: register one instance of a :class:`Task` subclass under ``name``."""

    def decorate(cls: type[Task]) -> type[Task]:
        cls.name = name
        TASKS.add(name, cls())
        return cls

    return decorate
