"""External zoos: a manifest (CSV or JSON) of checkpoints with their metadata.

Each manifest row describes one model:

=====================  ==========================================================================
``model_id``           unique name (required; surrounding whitespace is removed, and ids that
                       are equal once it is are refused as duplicates)
``checkpoint``         path of a ``torch.save``-d state dict, relative to the manifest's folder
``architecture``       a registered architecture (``mlp``, ``convnet``, ``timm``, ...)
``architecture_kwargs``its keyword arguments (JSON object; for ``timm``: ``{"model_name": ...}``)
``input_shape``        JSON list, e.g. ``[1, 8, 8]``; ``n_outputs``: int
``dataset``            the registered dataset the model was trained on
``task``               zoo task defining the objective (default ``classification``)
``group``              training run / configuration (default: the model id); ``seed``, ``epoch``
``hp.<name>``          hyperparameters (JSON: a ``hparams`` object)
``metric.<name>``      measured targets (JSON: a ``metrics`` object)
=====================  ==========================================================================

Checkpoints load with ``torch.load(weights_only=True)``: nothing but tensors and plain containers
is ever unpickled. Paths must stay inside the manifest's folder, and ``architecture_kwargs`` may
not tell the architecture to load weights itself (``timm_kwargs.checkpoint_path``, ``pretrained``,
``pretrained_cfg``, ...: :func:`weight_loading_kwargs`). The architecture is checked against the
checkpoint's tensor names and shapes before it is built for real (on torch's meta device, with no
memory), so an architecture that does not fit its weights fails by name however large it is.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.errors import ConfigError
from benchmark.models import ARCHITECTURES, WeightsMismatchError, build_for_state
from benchmark.models.timm_models import loading_kwargs
from benchmark.records import ModelRecord

log = logging.getLogger(__name__)

REQUIRED = ("model_id", "checkpoint", "architecture", "input_shape", "n_outputs", "dataset")


class ManifestError(ValueError):
    """A manifest or one of its models is invalid; the message names the model and the problem."""


@dataclass(frozen=True)
class LoadedModel:
    record: ModelRecord
    key: str  # digest of the checkpoint bytes and the manifest row


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a ``.csv`` or ``.json`` manifest as dicts with ``hparams`` and ``metrics`` nested."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest {str(path)!r} does not exist; give the path of a .csv or .json manifest.")
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ManifestError(f"manifest {path.name}: invalid JSON ({exc}).") from None
        rows = data["models"] if isinstance(data, dict) and "models" in data else data
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise ManifestError(f"manifest {path.name}: expected a list of objects (or {{'models': [...]}}).")
        return [dict(r) for r in rows]
    if path.suffix == ".csv":
        with path.open(newline="") as f:
            raw = list(csv.DictReader(f))
        rows = []
        for r in raw:
            row: dict[str, Any] = {"hparams": {}, "metrics": {}}
            for k, v in r.items():
                if k is None:
                    raise ManifestError(f"manifest {path.name}: a row has more cells than the header.")
                if k.startswith("hp."):
                    row["hparams"][k[3:]] = _parse_scalar(v)
                elif k.startswith("metric."):
                    row["metrics"][k[7:]] = _parse_scalar(v)
                elif k in ("architecture_kwargs", "input_shape"):
                    try:
                        row[k] = json.loads(v) if v else ({} if k == "architecture_kwargs" else None)
                    except json.JSONDecodeError:
                        raise ManifestError(f"manifest {path.name}: column {k!r} holds {v!r}, not JSON.") from None
                else:
                    row[k] = v
            rows.append(row)
        return rows
    raise ManifestError(f"manifest {path.name}: unknown format {path.suffix!r}; use .csv or .json.")


def _parse_scalar(v: str | None) -> Any:
    if v is None or v == "":
        return None
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


def _state_dict(obj: Any) -> Mapping[str, torch.Tensor] | None:
    if isinstance(obj, Mapping) and "state_dict" in obj and isinstance(obj["state_dict"], Mapping):
        obj = obj["state_dict"]
    if (
        isinstance(obj, Mapping)
        and obj
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        return obj
    return None


def _is_int(value: Any, minimum: int) -> bool:
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            return False
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


# field -> (check, what it must be)
FIELDS: dict[str, tuple[Any, str]] = {
    "model_id": (lambda v: isinstance(v, (str, int)) and not isinstance(v, bool), "a text or an integer"),
    "checkpoint": (lambda v: isinstance(v, str), "a relative path"),
    "architecture": (lambda v: isinstance(v, str), "an architecture name"),
    "dataset": (lambda v: isinstance(v, str), "a dataset name"),
    "task": (lambda v: isinstance(v, str), "a task name"),
    "group": (lambda v: isinstance(v, (str, int)) and not isinstance(v, bool), "a text or an integer"),
    "n_outputs": (lambda v: _is_int(v, 1), "an integer >= 1"),
    "seed": (lambda v: _is_int(v, 0), "an integer >= 0"),
    "epoch": (lambda v: _is_int(v, 0), "an integer >= 0"),
    "input_shape": (
        lambda v: isinstance(v, list) and 1 <= len(v) <= 4 and all(_is_int(d, 1) for d in v),
        "a list of 1 to 4 integers >= 1, e.g. [1, 8, 8]",
    ),
    "architecture_kwargs": (lambda v: isinstance(v, Mapping), "an object of keyword arguments"),
    "hparams": (lambda v: isinstance(v, Mapping), "an object of hyperparameters"),
    "metrics": (
        lambda v: isinstance(v, Mapping) and all(_is_number(x) for x in v.values()),
        "an object of numbers (or null)",
    ),
}


def field_problems(row: Mapping[str, Any]) -> list[str]:
    """Fields of a manifest row whose value has the wrong type (absent optional fields are fine)."""
    return [
        f"{key}={row[key]!r} is not {what}"
        for key, (check, what) in FIELDS.items()
        if row.get(key) is not None and not check(row[key])
    ]


def normalized_id(row: Mapping[str, Any]) -> str:
    """A row's model id as the zoo uses it: the text of ``model_id`` without surrounding
    whitespace (``""`` when the row has none)."""
    value = row.get("model_id")
    return "" if value is None else str(value).strip()


def id_clashes(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Pairs of rows (numbered from 1, in manifest order) whose ids are equal once normalised by
    :func:`normalized_id`: ``'a'`` and ``'a '`` (or ``1`` and ``"1"``) would be one model downstream,
    one model's descriptors standing in for the other's. Rows without an id are left to
    :func:`load_model`, which refuses them."""
    first: dict[str, int] = {}
    clashes = []
    for i, row in enumerate(rows, start=1):
        mid = normalized_id(row)
        if not mid:
            continue
        if mid in first:
            j = first[mid]
            clashes.append(
                f"rows {j} and {i} have model_id {rows[j - 1].get('model_id')!r} and {row.get('model_id')!r}"
                + ("" if rows[j - 1].get("model_id") == row.get("model_id") else f" (both {mid!r} once normalised)")
            )
        else:
            first[mid] = i
    return clashes


def weight_loading_kwargs(kwargs: Mapping[str, Any]) -> list[str]:
    """Dotted keys of a row's ``architecture_kwargs`` (and of its ``timm_kwargs``) that would make
    the builder open a file or the network (``pretrained``, ``checkpoint_path``, ...: see
    :func:`benchmark.models.timm_models.loading_kwargs`), e.g. ``architecture_kwargs.timm_kwargs.checkpoint_path``."""
    found = [f"architecture_kwargs.{k}" for k in loading_kwargs(kwargs)]
    inner = kwargs.get("timm_kwargs")
    if isinstance(inner, Mapping):
        found += [f"architecture_kwargs.timm_kwargs.{k}" for k in loading_kwargs(inner)]
    return found


def load_model(row: Mapping[str, Any], folder: Path, zoo: str, targets: Sequence[str]) -> LoadedModel:
    """Validate one manifest row and load its checkpoint; raises :class:`ManifestError`."""
    mid = normalized_id(row)
    name = repr(mid) if mid else "<row without model_id>"
    missing = [k for k in REQUIRED if row.get(k) is None or (isinstance(row.get(k), str) and not row[k].strip())]
    if missing:
        raise ManifestError(f"model {name}: missing {missing}; every row needs {list(REQUIRED)}.")
    wrong = field_problems(row)
    if wrong:
        raise ManifestError(f"model {name}: " + "; ".join(wrong) + ".")
    if row["architecture"] not in ARCHITECTURES:
        raise ManifestError(f"model {name}: {ARCHITECTURES.unknown_message(str(row['architecture']))}")
    refused = weight_loading_kwargs(row.get("architecture_kwargs") or {})
    if refused:
        raise ManifestError(
            f"model {name}: {', '.join(refused)} would make the architecture load weights or a config from a file "
            "or the network, around the manifest folder's confinement; refused. Remove "
            f"{'it' if len(refused) == 1 else 'them'}: the model's weights come from its checkpoint "
            f"{row['checkpoint']!r}, inside the manifest's folder."
        )
    root = folder.resolve()
    path = (root / str(row["checkpoint"])).resolve()
    if not path.is_relative_to(root):
        raise ManifestError(
            f"model {name}: checkpoint {row['checkpoint']!r} is outside the manifest folder {root}; "
            "refused. Keep checkpoints in the manifest's folder and use relative paths."
        )
    if not path.is_file():
        raise ManifestError(f"model {name}: checkpoint {row['checkpoint']!r} not found in {root}.")
    blob = path.read_bytes()
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for damaged or pickled-object files
        text = str(exc)
        if "Unsupported global" in text or "Unsupported class" in text:
            raise ManifestError(
                f"model {name}: checkpoint {row['checkpoint']!r} holds pickled Python objects, not just tensors; "
                "refusing to unpickle it (weights_only=True). Save model.state_dict() instead."
            ) from None
        raise ManifestError(
            f"model {name}: checkpoint {row['checkpoint']!r} is corrupt or not a torch checkpoint "
            f"({type(exc).__name__}: {text.splitlines()[0] if text else ''})."
        ) from None
    state = _state_dict(obj)
    if state is None:
        raise ManifestError(
            f"model {name}: checkpoint {row['checkpoint']!r} holds a {type(obj).__name__}, not a state dict "
            "(a mapping of parameter names to tensors). Save model.state_dict()."
        )
    # numbers or null (checked with the other fields); null, an empty CSV cell, is no value
    metrics = {k: (math.nan if v is None else float(v)) for k, v in (row.get("metrics") or {}).items()}
    absent = [t for t in targets if not math.isfinite(metrics.get(t, math.nan))]
    if absent:
        raise ManifestError(
            f"model {name}: no value for target(s) {absent} (absent, empty, null or NaN); give each a number in "
            "its metric.<name> column (CSV) or metrics object (JSON), or leave the model out of the manifest."
        )
    try:
        input_shape = [int(s) for s in row["input_shape"]]
        arch = {
            "name": row["architecture"],
            "input_shape": input_shape,
            "n_outputs": int(row["n_outputs"]),
            **dict(row.get("architecture_kwargs") or {}),
        }
        module = build_for_state(arch, {k: v.numpy() for k, v in state.items()}, mid)
    except WeightsMismatchError as exc:
        raise ManifestError(f"model {name}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ManifestError(f"model {name}: architecture {row['architecture']!r} cannot be built ({exc}).") from None
    weights = {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}
    record = ModelRecord(
        model_id=mid,
        zoo=zoo,
        task=str(row.get("task") or "classification"),
        architecture=arch,
        dataset=str(row["dataset"]),
        hparams=dict(row.get("hparams") or {}),
        seed=int(row.get("seed") or 0),
        group=str(row.get("group") or mid),
        epoch=int(row.get("epoch") or 0),
        metrics=metrics,
        state=weights,
    )
    digest = hashlib.sha256(blob + json.dumps(row, sort_keys=True, default=str).encode()).hexdigest()
    return LoadedModel(record, digest)


def load_manifest(path: str | Path, zoo: str, targets: Sequence[str], skip_invalid: bool = False) -> list[LoadedModel]:
    """Every valid model of a manifest, in manifest order.

    An invalid model raises :class:`ManifestError`, or with ``skip_invalid`` is logged and left out
    (the others are still loaded). Duplicate model ids, compared after removing surrounding
    whitespace (:func:`id_clashes`), are always an error.
    """
    path = Path(path)
    rows = read_manifest(path)
    if not rows:
        raise ManifestError(f"manifest {path.name} lists no models; add one row (CSV) or object (JSON) per model.")
    clashes = id_clashes(rows)
    if clashes:
        raise ManifestError(
            f"manifest {path}: duplicate model_id: "
            + "; ".join(clashes)
            + ". Ids are compared after removing surrounding whitespace, and every model needs its own id; "
            "rename one of each pair."
        )
    loaded, errors = [], []
    for row in rows:
        try:
            loaded.append(load_model(row, path.parent, zoo, targets))
        except ManifestError as exc:
            if not skip_invalid:
                raise ManifestError(f"{exc} (set zoo.skip_invalid=true to skip invalid models)") from None
            errors.append(str(exc))
            log.warning("manifest %s: skipped %s", path.name, exc)
    if not loaded:
        raise ManifestError(f"manifest {path.name}: no valid model ({len(errors)} invalid).")
    return loaded


def manifest_zoo(cfg: Mapping[str, Any]) -> list[LoadedModel]:
    """The models of ``zoo.manifest`` for a resolved config; raises a ``ConfigError`` for models of
    another dataset than ``dataset.name`` or of an unknown task."""
    from benchmark.zoo.base import TASKS

    zoo = cfg["zoo"]
    loaded = load_manifest(zoo["manifest"], zoo["name"], zoo["targets"], bool(zoo.get("skip_invalid")))
    wrong = [lm.record.model_id for lm in loaded if lm.record.dataset != cfg["dataset"]["name"]]
    if wrong:
        raise ConfigError(
            f"manifest models {wrong[:5]} were trained on another dataset than dataset={cfg['dataset']['name']}; "
            "choose their dataset, or split the manifest by dataset."
        )
    unknown = sorted({lm.record.task for lm in loaded if lm.record.task not in TASKS})
    if unknown:
        raise ConfigError(f"manifest names unknown tasks {unknown}; valid tasks: {TASKS.names()}.")
    return loaded


def export_manifest(models: Sequence[ModelRecord], folder: str | Path) -> Path:
    """Write ``folder/manifest.json`` and one state-dict checkpoint per model; returns the manifest path."""
    folder = Path(folder)
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, m in enumerate(models):
        ckpt = Path("checkpoints") / f"{i:05d}.pt"
        torch.save({k: torch.from_numpy(np.asarray(v)) for k, v in m.state.items()}, folder / ckpt)
        arch = dict(m.architecture)
        rows.append(
            {
                "model_id": m.model_id,
                "checkpoint": str(ckpt),
                "architecture": arch.pop("name"),
                "input_shape": arch.pop("input_shape"),
                "n_outputs": arch.pop("n_outputs"),
                "architecture_kwargs": arch,
                "dataset": m.dataset,
                "task": m.task,
                "group": m.group,
                "seed": m.seed,
                "epoch": m.epoch,
                "hparams": m.hparams,
                "metrics": m.metrics,
            }
        )
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps({"models": rows}, indent=1, default=float))
    return manifest
