"""Zoos read from files: one reader per ``zoo.source``, each turning a folder into model records.

``manifest`` reads a manifest of checkpoints (:mod:`benchmark.zoo.manifest`); ``small_cnn_zoo``
(:mod:`benchmark.zoo.small_cnn_zoo`) and ``model_zoos`` (:mod:`benchmark.zoo.model_zoos`) read
public zoos in their published layout. A reader returns the same :class:`LoadedModel` records
(a :class:`~benchmark.records.ModelRecord` and a digest of what it was read from) and declares the
checks of its config node that run before any work (:func:`reader_problems`).

The settings every public-zoo reader shares, declared once (:data:`SHARED`):

- ``root``: the local folder holding the zoo as published (never downloaded);
- ``epochs``: the checkpoints to read (a list of epochs; ``null``: every one published);
- ``group_by``: ``run`` (each training run its own group) or ``configuration`` (runs of equal
  hyperparameters but the seed share a group, so no configuration straddles two folds);
- ``sample`` and ``sample_seed``: keep ``sample`` groups drawn without replacement by
  ``sample_seed`` (``null``: all), each with all its models, before any weight is read;
- ``skip_invalid``: log a model that cannot be read and go on with the others.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmark.registry import Registry
from benchmark.zoo.manifest import LoadedModel, ManifestError, manifest_zoo


class PublicZooError(ManifestError):
    """A public zoo's folder, file or model that cannot be read; the message names the zoo, the
    file (and the model, when one is at fault) and the fix."""


@dataclass(frozen=True)
class ZooReader:
    """How a ``zoo.source`` becomes models: ``read(cfg)`` the loaded models of a resolved config,
    ``problems(cfg)`` what its config gets wrong, checked with the config before any work."""

    read: Callable[[Mapping[str, Any]], list[LoadedModel]]
    problems: Callable[[Mapping[str, Any]], list[str]]


READERS: Registry[ZooReader] = Registry("zoo source")
READERS.add("manifest", ZooReader(manifest_zoo, lambda cfg: []))

GROUP_BY = ("run", "configuration")
IMAGE_SHAPES: dict[str, tuple[int, int, int]] = {
    "mnist": (1, 28, 28),
    "fashion_mnist": (1, 28, 28),
    "cifar10": (3, 32, 32),
}
"""The image shape ``(C, H, W)`` of each registered dataset a public zoo was trained on (as
:mod:`benchmark.data.torchvision_sets` loads it), known before the dataset is read."""
N_CLASSES = 10


def read_zoo(cfg: Mapping[str, Any]) -> list[LoadedModel]:
    """The models of a resolved config whose ``zoo.source`` names a reader."""
    return READERS.get(str(cfg["zoo"]["source"])).read(cfg)


def reader_problems(cfg: Mapping[str, Any]) -> list[str]:
    """What the config of a file-read zoo gets wrong (its reader's checks), one message each."""
    return READERS.get(str(cfg["zoo"]["source"])).problems(cfg)


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


# setting -> (check, what it must be)
SHARED: dict[str, tuple[Callable[[Any], bool], str]] = {
    "epochs": (
        lambda v: v is None or (isinstance(v, list) and len(v) > 0 and all(_is_int(e, 0) for e in v)),
        "a non-empty list of epochs (integers >= 0), or null for every published checkpoint",
    ),
    "group_by": (lambda v: v in GROUP_BY, f"one of {list(GROUP_BY)}"),
    "sample": (lambda v: v is None or _is_int(v, 1), "an integer >= 1 (groups to keep), or null for all"),
    "sample_seed": (lambda v: _is_int(v, 0), "an integer >= 0"),
    "skip_invalid": (lambda v: isinstance(v, bool), "true or false"),
}


def setting_problems(zoo: Mapping[str, Any]) -> list[str]:
    """The shared settings (:data:`SHARED`) of a public zoo's node whose value is not allowed."""
    return [
        f"zoo.{key}={zoo.get(key)!r} is not {what} (zoo {zoo.get('name')!r})."
        for key, (check, what) in SHARED.items()
        if not check(zoo.get(key))
    ]


def root_problems(zoo: Mapping[str, Any], holds: str, missing: Callable[[Path], str | None]) -> list[str]:
    """``zoo.root`` unset, not a folder, or (``missing(root)``: what it lacks, or None) not
    holding the zoo; ``holds`` says what the folder must hold."""
    root, name = zoo.get("root"), zoo.get("name")
    if not root:
        return [f"zoo {name!r} needs zoo.root: the local folder holding {holds}; set zoo.root=<folder>."]
    path = Path(str(root)).expanduser()
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        return [f"zoo.root={str(root)!r} {what} (zoo {name!r}); point it at the folder holding {holds}."]
    lack = missing(path)
    if lack:
        return [f"zoo.root={str(root)!r} {lack} (zoo {name!r}); point it at the folder holding {holds}."]
    return []


def dataset_problems(cfg: Mapping[str, Any]) -> list[str]:
    """A ``dataset=`` whose images the public zoos' readers do not know the shape of."""
    name = cfg["dataset"]["name"]
    if name in IMAGE_SHAPES:
        return []
    return [
        f"zoo {cfg['zoo']['name']!r} reads models of datasets {sorted(IMAGE_SHAPES)}, not dataset={name!r}; "
        "choose the dataset the zoo's models were trained on."
    ]


def configuration(hparams: Mapping[str, Any]) -> str:
    """A configuration's label: its hyperparameters but the seed, sorted by name."""
    return ",".join(
        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(hparams.items()) if k != "seed"
    )


def sampled(groups: Iterable[str], zoo: Mapping[str, Any], where: str) -> set[str]:
    """The groups a zoo keeps: all, or ``zoo.sample`` of them drawn without replacement by
    ``zoo.sample_seed`` from the sorted distinct groups (the same draw on every machine)."""
    distinct = sorted(set(groups))
    n = zoo.get("sample")
    if n is None:
        return set(distinct)
    if n > len(distinct):
        raise PublicZooError(
            f"zoo.sample={n} exceeds the {len(distinct)} groups ({zoo['group_by']}s) of the selected models in "
            f"{where}; use zoo.sample={len(distinct)} or less, or zoo.sample=null for all."
        )
    return set(random.Random(int(zoo.get("sample_seed", 0))).sample(distinct, n))


def single_configuration(zoo: Mapping[str, Any], groups: Sequence[str], where: str) -> None:
    """Refuse ``group_by: configuration`` when every model shares one configuration (a zoo that
    varies only the seed): one group cannot be cross-validated."""
    if zoo["group_by"] == "configuration" and len(groups) > 1 and len(set(groups)) == 1:
        raise PublicZooError(
            f"every model of {where} has the same hyperparameters but the seed (a zoo that varies only the seed), "
            "so grouping by configuration leaves one group; set zoo.group_by=run (each training run its own group)."
        )


def finish(loaded: list[LoadedModel], errors: list[str], where: str, source: str, log: Any) -> list[LoadedModel]:
    """The models read, logged with their count of groups, or an error when none could be
    (``errors``: the skipped ones)."""
    if not loaded:
        raise PublicZooError(f"no valid model in {where} ({len(errors)} invalid{': ' + errors[0] if errors else ''}).")
    log.info(
        "%s: %d models of %d groups read from %s", source, len(loaded), len({m.record.group for m in loaded}), where
    )
    return loaded


def invalid(zoo: Mapping[str, Any], exc: ManifestError, errors: list[str], log: Any, where: str) -> None:
    """Raise a model's error, or with ``zoo.skip_invalid`` log it and record it in ``errors``."""
    if not zoo.get("skip_invalid"):
        raise PublicZooError(f"{exc} (set zoo.skip_invalid=true to skip invalid models)") from None
    errors.append(str(exc))
    log.warning("%s: skipped %s", where, exc)
