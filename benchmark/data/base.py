"""The dataset record and registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from benchmark.registry import Registry


@dataclass(frozen=True)
class Split:
    """A fixed train/test split of a classification dataset.

    ``x_*`` are float32 tensors of shape (n, *input_shape); ``y_*`` int64 labels in [0, n_classes).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


DATASETS: Registry[Callable[..., Split]] = Registry("dataset")


def load_dataset(name: str, **params: Any) -> Split:
    """Build dataset ``name`` with its config parameters (see conf/dataset/<name>.yaml)."""
    return DATASETS.get(name)(**params)
