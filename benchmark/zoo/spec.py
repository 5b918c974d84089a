"""Expanding a zoo config (fixed hyperparameters x axes) into model specs."""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    """What to train: a flat hyperparameter dict (architecture and training, ``seed`` included).

    ``group`` identifies the configuration without the seed, so seeds of one configuration stay
    together in cross-validation.
    """

    model_id: str
    zoo: str
    architecture: str
    hparams: dict[str, Any]
    group: str

    @property
    def seed(self) -> int:
        return int(self.hparams["seed"])

    def id_at(self, epoch: int, final: bool) -> str:
        """The id of the run's model at ``epoch``: the spec's id for the final model, ``<id>@<epoch>``
        for a checkpoint."""
        return self.model_id if final else f"{self.model_id}@{epoch}"


def _fmt(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def expand_zoo(
    name: str,
    architecture: str | None,
    fixed: Mapping[str, Any],
    axes: Mapping[str, Sequence[Any]],
    sample: int | None = None,
    sample_seed: int = 0,
) -> list[ModelSpec]:
    """Full grid over ``axes``, each point merged over ``fixed``; ordered as the axes are listed.

    With ``sample``, only ``sample`` configurations (grid points without the seed), drawn without
    replacement by ``sample_seed``, are kept, each with every seed: a seeded sample of a grid too
    large to train whole (Jiang et al. 2020 sample their hyperparameter space the same way).
    ``architecture`` may itself be an axis (a list of architecture names); hyperparameters an
    architecture does not take are ignored by its builder.
    """
    if architecture is None and "architecture" not in axes:
        raise ValueError(f"zoo {name!r} names no architecture; set 'architecture: mlp' or an 'architecture' axis.")
    both = sorted(set(fixed) & set(axes))
    if both:
        raise ValueError(f"zoo {name!r}: {both} set both in 'fixed' and in 'axes'; keep each in one place.")
    for axis, values in axes.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"zoo {name!r}: axis {axis!r} must be a non-empty list of values, got {values!r}.")
    if "seed" not in axes and "seed" not in fixed:
        raise ValueError(f"zoo {name!r} sets no 'seed'; add 'seed: [0, 1, 2]' under axes.")
    names = list(axes)
    points = list(itertools.product(*(axes[a] for a in names)))
    if sample is not None:
        configs = sorted({tuple(v for a, v in zip(names, p, strict=True) if a != "seed") for p in points}, key=str)
        if not 1 <= sample <= len(configs):
            raise ValueError(f"zoo {name!r}: sample={sample} must be between 1 and the {len(configs)} configurations.")
        chosen = {configs[i] for i in random.Random(sample_seed).sample(range(len(configs)), sample)}
        points = [p for p in points if tuple(v for a, v in zip(names, p, strict=True) if a != "seed") in chosen]
    specs = []
    for point in points:
        values = dict(zip(names, point, strict=True))
        hparams = {**fixed, **values}
        label = ",".join(f"{a}={_fmt(values[a])}" for a in names)
        group = ",".join(f"{a}={_fmt(values[a])}" for a in names if a != "seed") or "all"
        arch = str(hparams.pop("architecture", architecture))
        specs.append(ModelSpec(f"{name}/{label}", name, arch, hparams, f"{name}/{group}"))
    return specs


def zoo_specs(zoo: Mapping[str, Any]) -> list[ModelSpec]:
    """:func:`expand_zoo` of a ``zoo`` config node."""
    return expand_zoo(
        zoo["name"],
        zoo.get("architecture"),
        zoo.get("fixed") or {},
        zoo.get("axes") or {},
        zoo.get("sample"),
        zoo.get("sample_seed", 0),
    )
