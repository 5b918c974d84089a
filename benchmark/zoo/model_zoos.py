"""The Model Zoos (Schürholt et al. 2022), read from one zoo's folder (``zoo=model_zoos``).

"Model Zoos: A Dataset of Diverse Populations of Neural Network Models" (NeurIPS 2022 Datasets and
Benchmarks; ModelZoos/ModelZooDataset) trained populations of two small CNNs (CNN-s and CNN-l:
:func:`benchmark.models.public_zoos.model_zoos_cnn`) with ray tune, one zoo per dataset and
hyperparameter design (``code/zoo_generators/``): ``*_uniform`` zoos vary only the seed,
``*_hyperparameter_10_*_seeds`` zoos a grid of activation, initialisation, optimizer, dropout,
learning rate and weight decay, each configuration with 10 seeds. A zoo's folder (``zoo.root``,
e.g. ``tune_zoo_mnist_hyperparameter_10_random_seeds/`` as its Zenodo zip extracts) holds one
folder per training run (a ray tune trial) with:

``params.json``
    the run's configuration: ``model::type`` (``CNN`` is CNN-s, ``CNN3`` CNN-l),
    ``model::channels_in``, ``model::nlin``, ``model::dropout``, ``model::init_type``,
    ``optim::optimizer``, ``optim::lr``, ``optim::wd``, ``optim::momentum``,
    ``training::batchsize``, ``training::epochs_train``, ``seed``, ...
``result.json``
    one JSON object per line and epoch: ``training_iteration`` (the epoch; 0 is the untrained
    model), ``train_loss``, ``train_acc``, ``test_loss``, ``test_acc`` (``train_acc`` is the running
    accuracy over the training epoch, as the zoo's trainable reports it).
``checkpoint_<epoch>/checkpoints``
    the model's state dict after that epoch (``torch.save(model.state_dict())``; the folder named
    ``checkpoint_000050`` or ``checkpoint_50``), loaded with ``torch.load(weights_only=True)``
    through :func:`benchmark.zoo.manifest.load_model`: a file of pickled objects is refused.

Nothing else is opened: not the zoo's ``dataset.pt`` nor ray's ``params.pkl`` and
``.tune_metadata`` (pickles). Each kept checkpoint becomes a model ``<run folder>@<epoch>`` whose
targets come from the ``result.json`` line of that ``training_iteration``: ``test_accuracy``,
``train_accuracy``, ``test_loss``, ``train_loss``, ``generalization_gap = train_accuracy -
test_accuracy`` (the paper's ``ggap``) and ``loss_gap``. Hyperparameters: :data:`HPARAMS`. Groups:
the configuration (``group_by: configuration``, the default: a configuration's seeds share a
group), or the run (``group_by: run``, needed by a zoo that varies only the seed).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchmark.zoo import readers
from benchmark.zoo.manifest import LoadedModel, ManifestError, load_model
from benchmark.zoo.readers import IMAGE_SHAPES, N_CLASSES, PublicZooError

log = logging.getLogger(__name__)

SOURCE = "model_zoos"
ARCHITECTURE = "model_zoos_cnn"
PARAMS = "params.json"
RESULTS = "result.json"
CHECKPOINT = re.compile(r"^checkpoint_(\d+)$")
STATE_FILE = "checkpoints"
TYPES = {"CNN": "s", "CNN3": "l"}
"""``model::type`` -> the :func:`~benchmark.models.public_zoos.model_zoos_cnn` variant."""
HPARAMS: dict[str, str] = {
    "model::nlin": "activation",
    "model::dropout": "dropout",
    "model::init_type": "init",
    "optim::optimizer": "optimizer",
    "optim::lr": "lr",
    "optim::wd": "weight_decay",
    "optim::momentum": "momentum",
    "training::batchsize": "batch_size",
    "training::epochs_train": "epochs",
    "seed": "seed",
}
"""``params.json`` key -> hyperparameter name (keys a zoo does not set are left out)."""
REQUIRED = ("model::type", "model::channels_in", "model::nlin", "model::dropout", "seed")
RESULT_KEYS = {
    "test_acc": "test_accuracy",
    "train_acc": "train_accuracy",
    "test_loss": "test_loss",
    "train_loss": "train_loss",
}
NORMALIZATION: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "mnist": ((0.1307,), (0.3081,)),
    "fashion_mnist": ((0.5,), (0.5,)),
    "cifar10": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}
"""Per-channel mean and std the zoo generators normalised each dataset's images with."""
HOLDS = (
    f"one zoo of the Model Zoos: a folder per training run with {PARAMS}, {RESULTS} and "
    f"checkpoint_<epoch>/{STATE_FILE} (e.g. tune_zoo_mnist_hyperparameter_10_random_seeds/ as its zip extracts)"
)


def run_folders(root: Path) -> list[Path]:
    """The training runs of a zoo folder: its subfolders holding ``params.json``, sorted by name."""
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / PARAMS).is_file())


def _missing_runs(root: Path) -> str | None:
    return None if run_folders(root) else f"has no subfolder holding {PARAMS}"


def problems(cfg: Mapping[str, Any]) -> list[str]:
    """The checks of a ``model_zoos`` config before any work: the shared settings, the folder and
    its training runs, a dataset the zoo has images of."""
    zoo = cfg["zoo"]
    return (
        readers.setting_problems(zoo) + readers.root_problems(zoo, HOLDS, _missing_runs) + readers.dataset_problems(cfg)
    )


def checkpoints(run: Path) -> dict[int, Path]:
    """A run's checkpoints: epoch -> the state-dict file (``checkpoint_<epoch>/checkpoints``)."""
    found = {}
    for p in run.iterdir():
        m = CHECKPOINT.match(p.name)
        if m and (p / STATE_FILE).is_file():
            found[int(m.group(1))] = p / STATE_FILE
    return dict(sorted(found.items()))


def read_params(run: Path, dataset: str) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """A run's hyperparameters, architecture keyword arguments and input channels
    (``model::channels_in``), from its ``params.json``."""
    path = run / PARAMS
    try:
        params = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PublicZooError(f"run {run.name!r}: {path} is not JSON ({exc}).") from None
    if not isinstance(params, dict):
        raise PublicZooError(f"run {run.name!r}: {path} holds a {type(params).__name__}, not an object of settings.")
    absent = [k for k in REQUIRED if k not in params]
    if absent:
        raise PublicZooError(
            f"run {run.name!r}: {path} has no {absent}; every run's configuration names {list(REQUIRED)}."
        )
    kind, channels = params["model::type"], params["model::channels_in"]
    if kind not in TYPES:
        raise PublicZooError(
            f"run {run.name!r}: {path} has model::type={kind!r}, not one of the zoos' CNNs this reader builds "
            f"({', '.join(f'{k!r}' for k in TYPES)}: CNN-s, CNN-l)."
        )
    seed = params["seed"]
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise PublicZooError(f"run {run.name!r}: {path} has seed={seed!r}, not an integer.")
    hparams = {name: params[key] for key, name in HPARAMS.items() if key in params}
    mean, std = NORMALIZATION[dataset]
    kwargs = {
        "variant": TYPES[kind],
        "activation": params["model::nlin"],
        "dropout": params["model::dropout"],
        "mean": list(mean),
        "std": list(std),
    }
    return hparams, kwargs, channels


def read_results(run: Path) -> dict[int, dict[str, float]]:
    """A run's ``result.json``: epoch (``training_iteration``) -> its measured targets."""
    path = run / RESULTS
    if not path.is_file():
        raise PublicZooError(f"run {run.name!r}: {path} does not exist; every run's folder holds {RESULTS}.")
    out: dict[int, dict[str, float]] = {}
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            result = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PublicZooError(f"run {run.name!r}: line {n} of {path} is not JSON ({exc}).") from None
        epoch = result.get("training_iteration") if isinstance(result, dict) else None
        if not isinstance(epoch, int) or isinstance(epoch, bool):
            raise PublicZooError(f"run {run.name!r}: line {n} of {path} has no integer training_iteration.")
        values = {}
        for key, target in RESULT_KEYS.items():
            v = result.get(key)
            values[target] = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan
        out[epoch] = values
    return out


def _metrics(measured: Mapping[str, float]) -> dict[str, float]:
    return {
        **measured,
        "generalization_gap": measured["train_accuracy"] - measured["test_accuracy"],
        "loss_gap": measured["test_loss"] - measured["train_loss"],
    }


def read(cfg: Mapping[str, Any]) -> list[LoadedModel]:
    """The models of ``zoo.root`` a resolved config selects (``zoo.epochs``, ``zoo.sample``), run
    by run (sorted by folder name), epoch by epoch; raises :class:`PublicZooError` naming the run,
    the model and the file."""
    zoo, dataset = cfg["zoo"], cfg["dataset"]["name"]
    root = Path(str(zoo["root"])).expanduser()
    where = f"zoo.root={str(root)!r}"
    wanted = zoo.get("epochs")
    loaded: list[LoadedModel] = []
    errors: list[str] = []
    runs: dict[Path, tuple[dict[str, Any], dict[str, Any], dict[int, Path]]] = {}
    left_out = 0
    for run in run_folders(root):
        try:
            hparams, kwargs, channels = read_params(run, dataset)
        except ManifestError as exc:
            readers.invalid(zoo, exc, errors, log, where)
            continue
        if channels != IMAGE_SHAPES[dataset][0]:  # the zoo's dataset, not one model, is wrong
            raise PublicZooError(
                f"run {run.name!r}: {run / PARAMS} has model::channels_in={channels!r}, but dataset={dataset} has "
                f"{IMAGE_SHAPES[dataset][0]}-channel images; choose the dataset the zoo was trained on."
            )
        found = {e: p for e, p in checkpoints(run).items() if wanted is None or e in wanted}
        if found:
            runs[run] = (hparams, kwargs, found)
        else:
            left_out += 1
    if left_out:
        log.info("%s: %d runs have no checkpoint at epochs %s and are left out", SOURCE, left_out, wanted)
    if not runs:
        raise PublicZooError(
            f"no training run of {where} has a checkpoint_<epoch>/{STATE_FILE} at zoo.epochs={wanted}"
            f"{f' ({len(errors)} runs invalid)' if errors else ''}."
        )
    by_run = zoo["group_by"] == "run"
    groups = {
        run: f"{zoo['name']}/{run.name if by_run else readers.configuration(hp)}" for run, (hp, _, _) in runs.items()
    }
    readers.single_configuration(zoo, list(groups.values()), where)
    chosen = readers.sampled(groups.values(), zoo, where)
    for run, (hparams, kwargs, found) in runs.items():
        if groups[run] not in chosen:
            continue
        try:
            results = read_results(run)
        except ManifestError as exc:
            readers.invalid(zoo, exc, errors, log, where)
            continue
        for epoch, path in found.items():
            try:
                loaded.append(_model(cfg, root, run, epoch, path, groups[run], hparams, kwargs, results))
            except ManifestError as exc:
                readers.invalid(zoo, exc, errors, log, where)
    return readers.finish(loaded, errors, where, SOURCE, log)


def _model(
    cfg: Mapping[str, Any],
    root: Path,
    run: Path,
    epoch: int,
    path: Path,
    group: str,
    hparams: Mapping[str, Any],
    kwargs: Mapping[str, Any],
    results: Mapping[int, Mapping[str, float]],
) -> LoadedModel:
    """One checkpoint, through a manifest row: the manifest's checks, messages and record."""
    zoo = cfg["zoo"]
    mid = f"{run.name}@{epoch}"
    rel = path.relative_to(root).as_posix()
    if epoch not in results:
        raise PublicZooError(
            f"model {mid!r}: {run / RESULTS} has no line with training_iteration {epoch}, so checkpoint {rel!r} "
            "has no measured targets."
        )
    metrics = _metrics(results[epoch])
    absent = [t for t in zoo["targets"] if not math.isfinite(metrics.get(t, math.nan))]
    if absent:
        raise PublicZooError(
            f"model {mid!r}: no value for target(s) {absent} in the training_iteration {epoch} line of {run / RESULTS} "
            f"(it needs {', '.join(RESULT_KEYS)})."
        )
    row = {
        "model_id": mid,
        "checkpoint": rel,
        "architecture": ARCHITECTURE,
        "architecture_kwargs": dict(kwargs),
        "input_shape": list(IMAGE_SHAPES[cfg["dataset"]["name"]]),
        "n_outputs": N_CLASSES,
        "dataset": cfg["dataset"]["name"],
        "task": "classification",
        "group": group,
        "seed": int(hparams["seed"]),
        "epoch": epoch,
        "hparams": dict(hparams),
        "metrics": metrics,
    }
    try:
        return load_model(row, root, zoo["name"], zoo["targets"])
    except ManifestError as exc:
        text = str(exc)
        raise PublicZooError(text if rel in text else f"{text} (checkpoint {rel!r} in {root})") from None


readers.READERS.add(SOURCE, readers.ZooReader(read, problems))
