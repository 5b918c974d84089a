"""The models the benchmark measures: trained by the embedded zoos' own recipes on digits.

A case is one trained model, its training objective on the fixed evaluation subset, and the two
seeded, filter-normalised directions :func:`benchmark.landscape.stage.compute_landscape` would draw for it
under ``conf/landscape/random_2d.yaml``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import yaml
from torch import nn

from benchmark.cli import conf_dir
from benchmark.data import Split
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
}
QUICK_CHOICES: dict[str, dict[str, Any]] = {"mlp": {"width": 16, "depth": 1}}


@dataclass
class Case:
    """A trained model with what a grid evaluation of it needs."""

    key: str  # "mlp" | "cnn"
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

    def fresh_model(self) -> nn.Module:
        """A new module with the case's weights, in eval mode (peers may change the one they get)."""
        return load_state(build_model(self.record.architecture), self.record.state, self.record.model_id).eval()


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
    if epochs is not None:
        fixed["epochs"] = epochs
    spec = expand_zoo(zoo["name"], zoo.get("architecture"), fixed, {k: [v] for k, v in choice.items()})[0]
    return TASKS.get(zoo["task"]).train(spec, data, "digits", [])[-1]


def _label(key: str, record: ModelRecord) -> str:
    arch = record.architecture
    if key == "mlp":
        return f"digits MLP (width {arch['width']}, depth {arch['depth']})"
    kind = "residual" if arch.get("residual") else "plain"
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
