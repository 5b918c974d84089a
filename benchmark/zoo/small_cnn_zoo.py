"""The Small CNN Zoo (Unterthiner et al. 2020), read from one dataset's folder (``zoo=small_cnn_zoo``).

"Predicting Neural Network Accuracy from Weights" (arXiv:2002.11448) released 30,000 training runs
of one CNN (:func:`benchmark.models.public_zoos.small_cnn_zoo`, 4,970 parameters) on each of MNIST,
Fashion-MNIST, CIFAR-10 and SVHN (both in grayscale), with checkpoints at epochs 0, 1, 2, 3, 20,
40, 60, 80 and 86, each run with its own hyperparameters (google-research/google-research,
``dnn_predict_accuracy/README.md``). One dataset's archive (``mnist.tar.xz``, ...) extracts to a
folder, ``zoo.root``, holding:

``weights.npy``
    a float array ``(n_checkpoints, 4970)``: row ``i`` is checkpoint ``i``'s parameters, flattened.
    Read with ``np.load(allow_pickle=False, mmap_mode="r")``: an object array is refused, never
    unpickled, and only the rows kept are read.
``metrics.csv.gz`` (or ``metrics.csv``)
    one row per row of ``weights.npy``: ``modeldir`` (the training run), ``step`` (the epoch of
    the checkpoint), the run's ``config.*`` flags and ``test_accuracy``, ``test_loss``,
    ``train_accuracy``, ``train_loss``.
``layout.csv``
    one row per Keras variable: ``varname`` (``sequential/conv2d/kernel:0``, ...), ``start_idx``
    and ``end_idx`` (its columns of ``weights.npy``) and ``shape`` (its Keras shape, a tuple
    literal such as ``(3, 3, 1, 16)``, parsed with ``ast.literal_eval``).

Each kept checkpoint becomes a model ``<run>@<step>``, where ``<run>`` is its ``modeldir`` without
the path every run shares. Hyperparameters (:data:`HPARAMS`): ``activation``, ``b_init``,
``dropout``, ``init_std``, ``l2reg``, ``lr`` (``config.learning_rate``), ``optimizer``,
``train_fraction``, ``w_init`` and ``seed`` (``config.random_seed``, 42 for every run). Targets:
the four published metrics, ``generalization_gap = train_accuracy - test_accuracy`` and
``loss_gap = test_loss - train_loss``. Groups: the run (``group_by: run``, the default: every run
has its own hyperparameters and one seed) or the configuration (``group_by: configuration``).
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.models import build_model, load_state, state_to_numpy
from benchmark.models.public_zoos import from_keras, keras_names, keras_shape
from benchmark.records import ModelRecord
from benchmark.zoo import readers
from benchmark.zoo.manifest import LoadedModel, ManifestError
from benchmark.zoo.readers import IMAGE_SHAPES, N_CLASSES, PublicZooError

log = logging.getLogger(__name__)

SOURCE = "small_cnn_zoo"
ARCHITECTURE = "small_cnn_zoo"
WEIGHTS = "weights.npy"
LAYOUT = "layout.csv"
METRICS = ("metrics.csv.gz", "metrics.csv")
LAYOUT_COLUMNS = ("varname", "start_idx", "end_idx", "shape")
HPARAMS: dict[str, str] = {
    "config.activation": "activation",
    "config.b_init": "b_init",
    "config.dropout": "dropout",
    "config.init_std": "init_std",
    "config.l2reg": "l2reg",
    "config.learning_rate": "lr",
    "config.optimizer": "optimizer",
    "config.train_fraction": "train_fraction",
    "config.w_init": "w_init",
    "config.random_seed": "seed",
}
"""``metrics.csv`` column -> hyperparameter name."""
MEASURED = ("test_accuracy", "test_loss", "train_accuracy", "train_loss")
COLUMNS = ("modeldir", "step", "config.dataset", "config.num_layers", "config.num_units", *HPARAMS, *MEASURED)
"""The columns of ``metrics.csv`` this reader uses (the published file has a few more)."""
DATASETS: dict[str, str | None] = {
    "mnist": "mnist",
    "fashion_mnist": "fashion_mnist",
    "cifar10": "cifar10",
    "svhn_cropped": None,
}
"""``config.dataset`` (a TFDS name) -> the registered dataset (None: none registered)."""
HOLDS = f"one dataset's folder of the Small CNN Zoo ({WEIGHTS}, {METRICS[0]} and {LAYOUT}, as mnist.tar.xz extracts)"


def metrics_file(root: Path) -> Path | None:
    """The metrics table of a zoo folder, compressed or not (None: neither exists)."""
    return next((root / m for m in METRICS if (root / m).is_file()), None)


def _missing_files(root: Path) -> str | None:
    absent = [f for f in (WEIGHTS, LAYOUT) if not (root / f).is_file()]
    if metrics_file(root) is None:
        absent.append(METRICS[0])
    return f"lacks {', '.join(absent)}" if absent else None


def problems(cfg: Mapping[str, Any]) -> list[str]:
    """The checks of a ``small_cnn_zoo`` config before any work: the shared settings, the folder
    and its three files, a dataset the zoo has images of."""
    zoo = cfg["zoo"]
    return (
        readers.setting_problems(zoo)
        + readers.root_problems(zoo, HOLDS, _missing_files)
        + readers.dataset_problems(cfg)
    )


# ----------------------------------------------------------------------------- files


def read_metrics(root: Path) -> tuple[pd.DataFrame, Path]:
    """``metrics.csv(.gz)`` as a frame (pandas' CSV parser only), with the columns this reader uses."""
    path = metrics_file(root)
    if path is None:
        raise PublicZooError(f"{root} has no {METRICS[0]} (or {METRICS[1]}); {HOLDS} is expected there.")
    try:
        frame = pd.read_csv(path, low_memory=False)
    except (ValueError, OSError, EOFError, pd.errors.ParserError) as exc:
        raise PublicZooError(f"{path}: cannot be read as a CSV table ({type(exc).__name__}: {exc}).") from None
    absent = [c for c in COLUMNS if c not in frame.columns]
    if absent:
        raise PublicZooError(
            f"{path} has no column {', '.join(repr(c) for c in absent)}; the published table has "
            f"{', '.join(COLUMNS)} (and a few more). Use the file as published."
        )
    return frame, path


def read_layout(root: Path) -> list[tuple[str, int, int, tuple[int, ...]]]:
    """``layout.csv``'s rows ``(varname, start, end, shape)``, checked for their own consistency:
    each variable's columns hold as many weights as its shape, and together they cover
    ``0..total`` once, in order of ``start_idx``."""
    path = root / LAYOUT
    try:
        frame = pd.read_csv(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise PublicZooError(f"{path}: cannot be read as a CSV table ({type(exc).__name__}: {exc}).") from None
    absent = [c for c in LAYOUT_COLUMNS if c not in frame.columns]
    if absent:
        raise PublicZooError(
            f"{path} has no column {', '.join(repr(c) for c in absent)}; it needs {list(LAYOUT_COLUMNS)}."
        )
    rows, end = [], 0
    for i, r in frame.sort_values("start_idx", kind="stable").iterrows():
        name = str(r["varname"])
        try:
            shape = ast.literal_eval(str(r["shape"]))
            shape = (shape,) if isinstance(shape, int) else tuple(shape)
            start, stop = int(r["start_idx"]), int(r["end_idx"])
        except (ValueError, TypeError, SyntaxError):
            raise PublicZooError(
                f"{path}, row {i} ({name!r}): start_idx={r['start_idx']!r}, end_idx={r['end_idx']!r} and "
                f"shape={r['shape']!r} must be integers and a tuple of integers such as (3, 3, 1, 16)."
            ) from None
        if not all(isinstance(d, int) and d >= 1 for d in shape):
            raise PublicZooError(
                f"{path}, row {i} ({name!r}): shape={r['shape']!r} is not a tuple of positive integers."
            )
        if start != end:
            raise PublicZooError(
                f"{path}, row {i} ({name!r}) starts at column {start}, but the variables before it end at {end}: "
                "the variables must cover the weight vector once, without gaps or overlaps."
            )
        if stop - start != math.prod(shape):
            raise PublicZooError(
                f"{path}, row {i} ({name!r}): columns {start}..{stop} hold {stop - start} weights, its shape "
                f"{shape} has {math.prod(shape)}."
            )
        rows.append((name, start, stop, shape))
        end = stop
    if not rows:
        raise PublicZooError(f"{path} lists no variables.")
    return rows


def open_weights(root: Path) -> np.ndarray:
    """``weights.npy`` memory-mapped, never unpickled; a 2-D float array."""
    path = root / WEIGHTS
    try:
        weights = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        text = str(exc)
        if "pickle" in text.lower() or "object" in text.lower():
            raise PublicZooError(
                f"{path} holds pickled Python objects (an object array), not numbers; refusing to unpickle it "
                "(np.load(allow_pickle=False)). The published file is a float array of one row per checkpoint."
            ) from None
        raise PublicZooError(f"{path} is corrupt or not a .npy array ({text}).") from None
    except (OSError, EOFError) as exc:
        raise PublicZooError(f"{path} is corrupt or not a .npy array ({type(exc).__name__}: {exc}).") from None
    if weights.ndim != 2 or weights.dtype.kind != "f":
        raise PublicZooError(
            f"{path} holds a {weights.dtype} array of shape {weights.shape}; the published file is a float array "
            "(checkpoints, weights)."
        )
    return weights


def run_names(modeldirs: Sequence[str]) -> dict[str, str]:
    """Each run's ``modeldir`` -> its name: the path without the leading folders every run shares."""
    distinct = sorted(set(modeldirs))
    parts = [d.rstrip("/").split("/") for d in distinct]
    common = 0
    while all(len(p) > common + 1 for p in parts) and len({p[common] for p in parts}) == 1:
        common += 1
    return {d: "/".join(p[common:]) for d, p in zip(distinct, parts, strict=True)}


def _scalar(value: Any) -> Any:
    """A table cell as a plain Python value (numpy scalars unwrapped)."""
    return value.item() if isinstance(value, np.generic) else value


def layout_problems(
    layout: Sequence[tuple[str, int, int, tuple[int, ...]]], state: Mapping[str, np.ndarray], depth: int
) -> list[str]:
    """Where ``layout.csv`` does not describe the architecture whose state dict is ``state``:
    variables missing or unexpected, shapes that differ (in Keras layout)."""
    expected = dict(keras_names(depth))
    given = {name: shape for name, _, _, shape in layout}
    out = []
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    if missing:
        out.append(f"variables {missing} are missing")
    if unexpected:
        out.append(f"variables {unexpected} are not the network's")
    for name, key in expected.items():
        if name in given and tuple(given[name]) != keras_shape(state[key].shape):
            out.append(f"{name!r} has shape {tuple(given[name])}, the network's is {keras_shape(state[key].shape)}")
    return out


# ----------------------------------------------------------------------------- the zoo


def _constant(frame: pd.DataFrame, column: str, path: Path) -> int:
    """The one value of ``column`` over the kept models (the network's depth or width)."""
    try:
        values = sorted({int(v) for v in frame[column]})
    except (TypeError, ValueError):
        raise PublicZooError(f"{path}: column {column!r} holds a value that is not an integer.") from None
    if len(values) != 1:
        raise PublicZooError(
            f"{path}: the kept models have {column} {values}, but one network (one layout.csv) describes them all; "
            "keep models of one value."
        )
    return values[0]


def read(cfg: Mapping[str, Any]) -> list[LoadedModel]:
    """The models of ``zoo.root`` a resolved config selects (``zoo.epochs``, ``zoo.sample``),
    in the order of the metrics table; raises :class:`PublicZooError` naming the file and model."""
    zoo, dataset = cfg["zoo"], cfg["dataset"]["name"]
    root = Path(str(zoo["root"])).expanduser()
    where = f"zoo.root={str(root)!r}"
    frame, metrics_path = read_metrics(root)
    layout = read_layout(root)
    weights = open_weights(root)
    total = layout[-1][2]
    if weights.shape[0] != len(frame):
        raise PublicZooError(
            f"{root / WEIGHTS} has {weights.shape[0]} rows, {metrics_path.name} {len(frame)}: row i of one is "
            "checkpoint i of the other, so they must have as many. Use the files of one archive as published."
        )
    if weights.shape[1] != total:
        raise PublicZooError(
            f"{root / WEIGHTS} holds {weights.shape[1]} weights per checkpoint, {LAYOUT} describes {total}; "
            "use the weights and the layout of one archive as published."
        )
    names = run_names([str(d) for d in frame["modeldir"]])
    runs = [names[str(d)] for d in frame["modeldir"]]
    try:
        steps = [int(s) for s in frame["step"]]
    except (TypeError, ValueError):
        raise PublicZooError(f"{metrics_path}: column 'step' holds a value that is not an integer epoch.") from None
    wanted = zoo.get("epochs")
    rows = [i for i, s in enumerate(steps) if wanted is None or s in wanted]
    if not rows:
        raise PublicZooError(
            f"zoo.epochs={list(wanted or [])}: no checkpoint of {metrics_path} has such a step; its steps are "
            f"{sorted(set(steps))}."
        )
    left_out = len(set(runs)) - len({runs[i] for i in rows})
    if left_out:
        log.info(
            "%s: %d runs have no checkpoint at epochs %s (stopped early) and are left out", SOURCE, left_out, wanted
        )
    seen: dict[tuple[str, int], int] = {}
    for i in rows:
        if (runs[i], steps[i]) in seen:
            raise PublicZooError(
                f"{metrics_path}: rows {seen[(runs[i], steps[i])]} and {i} are both run {runs[i]!r} at step "
                f"{steps[i]}; each checkpoint must be listed once."
            )
        seen[(runs[i], steps[i])] = i
    zoo_sets = sorted({str(s) for s in frame["config.dataset"].iloc[rows]})
    trained_on = {DATASETS.get(s, s) for s in zoo_sets}
    if trained_on != {dataset}:
        only = next(iter(trained_on)) if len(trained_on) == 1 else None
        fix = (
            f"add dataset={only}"
            if only in IMAGE_SHAPES
            else f"use the zoo of a registered dataset ({', '.join(k for k, v in DATASETS.items() if v)})"
        )
        raise PublicZooError(
            f"{where} holds models trained on {zoo_sets} (column config.dataset of {metrics_path.name}), not "
            f"dataset={dataset}; {fix}."
        )
    table = frame.iloc[rows][list(HPARAMS)].rename(columns=HPARAMS).to_dict("records")
    hparams = {i: {k: _scalar(v) for k, v in hp.items()} for i, hp in zip(rows, table, strict=True)}
    by_run = zoo["group_by"] == "run"
    groups = {i: f"{zoo['name']}/{runs[i] if by_run else readers.configuration(hparams[i])}" for i in rows}
    readers.single_configuration(zoo, list({runs[i]: groups[i] for i in rows}.values()), where)  # one per run
    chosen = readers.sampled(groups.values(), zoo, where)
    rows = [i for i in rows if groups[i] in chosen]
    kept = frame.iloc[rows]
    depth, width = _constant(kept, "config.num_layers", metrics_path), _constant(kept, "config.num_units", metrics_path)
    spec = {
        "name": ARCHITECTURE,
        "input_shape": list(IMAGE_SHAPES[dataset]),
        "n_outputs": N_CLASSES,
        "width": width,
        "depth": depth,
    }
    wrong = layout_problems(layout, state_to_numpy(build_model(spec)), depth)
    if wrong:
        first = [f"{runs[i]}@{steps[i]}" for i in rows[:3]]
        raise PublicZooError(
            f"{root / LAYOUT} does not match the network of the Small CNN Zoo that models {first}"
            f"{' ...' if len(rows) > 3 else ''} are built as (depth {depth}, width {width}, one gray input channel, "
            f"{N_CLASSES} classes): {'; '.join(wrong)}. Use the layout.csv of the same archive as {WEIGHTS}."
        )
    loaded, errors = [], []
    for i in rows:
        try:
            loaded.append(
                _model(cfg, i, runs[i], steps[i], groups[i], hparams[i], frame, weights, layout, spec, metrics_path)
            )
        except ManifestError as exc:
            readers.invalid(zoo, exc, errors, log, where)
    return readers.finish(loaded, errors, where, SOURCE, log)


def _model(
    cfg: Mapping[str, Any],
    i: int,
    run: str,
    step: int,
    group: str,
    hparams: dict[str, Any],
    frame: pd.DataFrame,
    weights: np.ndarray,
    layout: Sequence[tuple[str, int, int, tuple[int, ...]]],
    spec: Mapping[str, Any],
    metrics_path: Path,
) -> LoadedModel:
    """Checkpoint ``i`` (a row of both files) as a loaded model."""
    zoo = cfg["zoo"]
    mid = f"{run}@{step}"
    name = f"model {mid!r} (row {i} of {WEIGHTS} and {metrics_path.name} in {metrics_path.parent}, counting from 0)"
    try:
        measured = {m: float(frame[m].iloc[i]) for m in MEASURED}
    except (TypeError, ValueError):
        shown = {m: frame[m].iloc[i] for m in MEASURED}
        raise PublicZooError(f"{name}: the metrics {shown} are not all numbers.") from None
    metrics = {
        **measured,
        "generalization_gap": measured["train_accuracy"] - measured["test_accuracy"],
        "loss_gap": measured["test_loss"] - measured["train_loss"],
    }
    absent = [t for t in zoo["targets"] if not math.isfinite(metrics.get(t, math.nan))]
    if absent:
        raise PublicZooError(f"{name}: no value for target(s) {absent} (an empty or NaN cell of {metrics_path.name}).")
    if not isinstance(hparams["seed"], (int, float)) or not float(hparams["seed"]).is_integer():
        raise PublicZooError(f"{name}: config.random_seed={hparams['seed']!r} is not an integer.")
    arch = {**spec, "activation": str(hparams["activation"])}
    try:
        module = build_model(arch)
    except (TypeError, ValueError) as exc:
        raise PublicZooError(f"{name}: config.activation={hparams['activation']!r} cannot be built ({exc}).") from None
    vector = np.array(weights[i], dtype=np.float32)  # a copy: the memory map is read-only
    state = {}
    keys = dict(keras_names(int(spec["depth"])))
    for varname, start, stop, shape in layout:
        state[keys[varname]] = from_keras(vector[start:stop].reshape(shape))
    try:
        load_state(module, state, mid)
    except ValueError as exc:
        raise PublicZooError(f"{name}: {exc}") from None
    record = ModelRecord(
        model_id=mid,
        zoo=zoo["name"],
        task="classification",
        architecture=arch,
        dataset=cfg["dataset"]["name"],
        hparams=hparams,
        seed=int(hparams["seed"]),
        group=group,
        epoch=step,
        metrics=metrics,
        state=state_to_numpy(module),
    )
    meta = {"model_id": mid, "architecture": arch, "hparams": hparams, "metrics": metrics, "group": group}
    digest = hashlib.sha256(vector.tobytes() + json.dumps(meta, sort_keys=True, default=str).encode()).hexdigest()
    return LoadedModel(record, digest)


readers.READERS.add(SOURCE, readers.ZooReader(read, problems))
