"""The models the benchmark measures, trained by the embedded zoos' own recipes: a digits MLP and
a digits CNN, and a CIFAR-size ResNet-20 (the ``resnet20_cifar10`` recipe, one epoch on random
images of CIFAR-10's shape: enough to time it, and every method is compared at the same weights).

A case is one trained model, its training objective on the fixed evaluation subset, and the two
seeded, filter-normalised directions :func:`benchmark.landscape.stage.compute_landscape` would draw for it
under ``conf/landscape/random_2d.yaml``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from benchmark.cli import conf_dir
from benchmark.data import Split, load_dataset
from benchmark.landscape import grid_axes
from benchmark.landscape.stage import landscape_directions
from benchmark.models import build_model, load_state
from benchmark.records import ModelRecord
from benchmark.zoo import TASKS, Objective, expand_zoo

# One configuration of each zoo's axes (every value must be on the zoo's axis).
CHOICES: dict[str, tuple[str, dict[str, Any]]] = {
    "mlp": (
        "digits_mlp",
        {
            "width": 64,
            "depth": 2,
            "lr": 0.001,
            "batch_size": 32,
            "weight_decay": 0.0,
            "label_noise": 0.0,
            "train_fraction": 1.0,
            "seed": 0,
        },
    ),
    "cnn": (
        "digits_cnn",
        {
            "depth": 2,
            "residual": False,
            "width": 16,
            "lr": 0.001,
            "weight_decay": 0.0,
            "batch_size": 64,
            "label_noise": 0.0,
            "seed": 0,
        },
    ),
    "resnet20": (
        "resnet20_cifar10",
        {"residual": True, "width": 16, "lr": 0.1, "weight_decay": 0.0, "batch_size": 128, "seed": 0},
    ),
}
QUICK_CHOICES: dict[str, dict[str, Any]] = {"mlp": {"width": 16, "depth": 1}, "resnet20": {"width": 8}}
CASE_DATA: dict[str, str] = {"mlp": "digits", "cnn": "digits", "resnet20": "cifar10"}
"""The data each case trains and is evaluated on (``cifar10``: random images of its shape)."""
CASE_EPOCHS: dict[str, int] = {"resnet20": 1}
"""Training epochs of a case whose zoo's own count would take long here (default: the zoo's)."""
SIZES: dict[str, tuple[tuple[int, int, int], int, int]] = {
    "cifar10": ((3, 32, 32), 50_000, 10_000),
    "mnist": ((1, 28, 28), 60_000, 10_000),
    "fashion_mnist": ((1, 28, 28), 60_000, 10_000),
}
"""Image shape, training-set size and test-set size of each dataset read from ``dataset.root``."""
SYNTHETIC_IMAGES = {False: 1024, True: 64}
"""Random training images of a case on a dataset read from ``dataset.root`` (by ``quick``)."""


@dataclass
class Case:
    """A trained model with what a grid evaluation of it needs."""

    key: str  # a key of CHOICES: "mlp" | "cnn" | "resnet20"
    label: str  # e.g. "digits MLP (width 64, depth 2)"
    record: ModelRecord
    model: nn.Module
    objective: Objective
    directions: list[dict[str, torch.Tensor]]
    axes: tuple[np.ndarray, ...]
    span: float

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def steps(self) -> int:
        return len(self.axes[0])

    @property
    def device(self) -> torch.device:
        """Where the case's model and batch live."""
        return next(self.model.parameters()).device

    def fresh_model(self) -> nn.Module:
        """A new module with the case's weights, in eval mode, on the case's device (peers may change
        the one they get)."""
        model = load_state(build_model(self.record.architecture), self.record.state, self.record.model_id)
        return model.to(self.device).eval()


def synthetic_split(name: str, n_images: int, seed: int = 0) -> Split:
    """``n_images`` random images of dataset ``name``'s shape, uniform in [0, 1], with random labels,
    and the first of them as a one-image test set (the cost measurements need no test set)."""
    if name not in SIZES:
        raise ValueError(f"dataset {name!r} has no known size; this measures one of {sorted(SIZES)}.")
    shape = SIZES[name][0]
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((n_images, *shape), generator=g)
    y = torch.randint(0, 10, (n_images,), generator=g)
    return Split(name, x, y, x[:1].clone(), y[:1].clone(), n_classes=10)


def case_data(key: str, quick: bool = False) -> Split:
    """The data of case ``key``: an embedded dataset, or random images of a dataset read from
    ``dataset.root`` (:data:`SYNTHETIC_IMAGES`; nothing is read from disk)."""
    name = CASE_DATA[key]
    return synthetic_split(name, SYNTHETIC_IMAGES[quick]) if name in SIZES else load_dataset(name)


def on_device(case: Case, where: torch.device) -> Case:
    """``case`` with its model, batch and directions on ``where`` (the same values)."""
    return dataclasses.replace(
        case,
        model=case.model.to(where),
        objective=case.objective.to(where),
        directions=[{n: t.to(where) for n, t in d.items()} for d in case.directions],
    )


def _yaml(*parts: str) -> dict[str, Any]:
    return yaml.safe_load(conf_dir().joinpath(*parts).read_text())


def landscape_config() -> dict[str, Any]:
    """``conf/landscape/random_2d.yaml``: normalisation, excluded parameters, seed, span, n_samples."""
    return _yaml("landscape", "random_2d.yaml")


def curvature_config() -> dict[str, Any]:
    """``conf/curvature/lanczos.yaml``: Lanczos steps and Hutchinson probes the pipeline uses."""
    return _yaml("curvature", "lanczos.yaml")


def train_record(key: str, data: Split, epochs: int | None, quick: bool) -> ModelRecord:
    """Train one model of zoo ``CHOICES[key]`` with the zoo's recipe (``epochs`` overrides its count)."""
    zoo_name, choice = CHOICES[key]
    choice = {**choice, **(QUICK_CHOICES.get(key, {}) if quick else {})}
    zoo = _yaml("zoo", f"{zoo_name}.yaml")
    off_axis = {k: v for k, v in choice.items() if v not in zoo["axes"].get(k, [])}
    if off_axis:
        raise ValueError(f"{off_axis} are not values of zoo {zoo_name!r}'s axes {zoo['axes']}.")
    fixed = dict(zoo.get("fixed") or {})
    epochs = CASE_EPOCHS.get(key) if epochs is None else epochs
    if epochs is not None:
        fixed["epochs"] = epochs
    spec = expand_zoo(zoo["name"], zoo.get("architecture"), fixed, {k: [v] for k, v in choice.items()})[0]
    return TASKS.get(zoo["task"]).train(spec, data, data.name, [])[-1]


def _label(key: str, record: ModelRecord) -> str:
    arch = record.architecture
    if key == "mlp":
        return f"digits MLP (width {arch['width']}, depth {arch['depth']})"
    kind = "residual" if arch.get("residual") else "plain"
    if key == "resnet20":
        return f"ResNet-20 ({kind}, width {arch['width']}, random 3x32x32 images)"
    return f"digits CNN ({kind}, width {arch['width']}, depth {arch['depth']})"


def build_case(
    key: str, data: Split, steps: int, n_samples: int, epochs: int | None = None, quick: bool = False
) -> Case:
    """Train the model of ``key`` and set up a ``steps x steps`` grid as the pipeline would."""
    ls = landscape_config()
    record = train_record(key, data, epochs, quick)
    model = load_state(build_model(record.architecture), record.state, record.model_id).eval()
    objective = TASKS.get(record.task).objective(record, data, n_samples, ls["seed"])
    directions, _ = landscape_directions(model, objective, {**ls, "ndim": 2})
    axes = grid_axes(2, steps, ls["span"])
    return Case(key, _label(key, record), record, model, objective, directions, axes, float(ls["span"]))


def scaled(direction: Mapping[str, torch.Tensor], factor: float) -> dict[str, torch.Tensor]:
    """``factor * direction``."""
    return {n: v * factor for n, v in direction.items()}


def norm(tensors: Mapping[str, torch.Tensor] | list[torch.Tensor]) -> float:
    """Euclidean norm of a dict or list of tensors, accumulated in float64."""
    values = tensors.values() if isinstance(tensors, Mapping) else tensors
    return math.sqrt(sum(float((v.double() ** 2).sum()) for v in values))
