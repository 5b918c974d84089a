"""The dataset record and registry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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

CONFIG_CHECKS: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {}
"""Dataset name -> a check of its ``dataset`` config node, for datasets whose settings can be
wrong in ways that loading would only find later (a ``root`` that does not exist, a
``verify`` that is not a boolean); each returns messages that name the setting, the value and the fix."""


def dataset_problems(params: Mapping[str, Any]) -> list[str]:
    """What a resolved ``dataset`` config node gets wrong, before any work (empty: fine, or a
    dataset without a check). ``checks.zoo_problems`` calls it during validation."""
    check = CONFIG_CHECKS.get(str(params.get("name")))
    return check(params) if check else []


def load_dataset(name: str, **params: Any) -> Split:
    """Build dataset ``name`` with its config parameters (see conf/dataset/<name>.yaml)."""
    return DATASETS.get(name)(**params)
