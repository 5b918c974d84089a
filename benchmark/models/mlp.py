"""Multilayer perceptron."""

from __future__ import annotations

import math

from torch import nn

from benchmark.models.base import ARCHITECTURES

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}


@ARCHITECTURES.register("mlp")
def mlp(
    input_shape: tuple[int, ...],
    n_outputs: int,
    width: int = 64,
    depth: int = 2,
    activation: str = "relu",
) -> nn.Module:
    """``depth`` hidden layers of ``width`` units with ``activation``, then a linear head."""
    if depth < 1 or width < 1:
        raise ValueError(f"mlp needs depth >= 1 and width >= 1, got depth={depth}, width={width}.")
    if activation not in ACTIVATIONS:
        raise ValueError(f"mlp activation {activation!r} is unknown; use one of {sorted(ACTIVATIONS)}.")
    layers: list[nn.Module] = [nn.Flatten()]
    fan_in = math.prod(input_shape)
    for _ in range(depth):
        layers += [nn.Linear(fan_in, width), ACTIVATIONS[activation]()]
        fan_in = width
    layers.append(nn.Linear(fan_in, n_outputs))
    return nn.Sequential(*layers)
