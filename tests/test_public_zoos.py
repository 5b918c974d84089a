"""Public zoos read from their published layout: the Small CNN Zoo (Unterthiner et al. 2020) and the
Model Zoos (Schürholt et al. 2022).

Each fixture is a handful of models of the published architecture, written file by file in the
published layout (weights.npy / metrics.csv.gz / layout.csv; run folders with params.json,
result.json and checkpoint_<epoch>/checkpoints), beside a fake MNIST in torchvision's layout.
"""

from __future__ import annotations

import gzip
import json
import math
import pickle
import struct
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

import benchmark
from benchmark import pipeline
from benchmark.errors import ConfigError
from benchmark.evaluation.design import model_table
from benchmark.models import build_model
from benchmark.models.public_zoos import KERAS_NAMES, from_keras, keras_names, keras_shape
from benchmark.report import write_leaderboard
from benchmark.report.provenance import config_yaml, provenance
from benchmark.report.zoo_summary import summary_markdown
from benchmark.zoo import model_zoos, small_cnn_zoo
from benchmark.zoo.readers import PublicZooError

from .conftest import compose_plain

SMALL = {"name": "small_cnn_zoo", "input_shape": [1, 28, 28], "n_outputs": 10}
PUBLISHED_LAYOUT = [  # dnn_predict_accuracy.ipynb, extract_per_layer_features: (bias, kernel) columns per layer
    ("sequential/conv2d/bias:0", 0, 16, (16,)),
    ("sequential/conv2d/kernel:0", 16, 160, (3, 3, 1, 16)),
    ("sequential/conv2d_1/bias:0", 160, 176, (16,)),
    ("sequential/conv2d_1/kernel:0", 176, 2480, (3, 3, 16, 16)),
    ("sequential/conv2d_2/bias:0", 2480, 2496, (16,)),
    ("sequential/conv2d_2/kernel:0", 2496, 4800, (3, 3, 16, 16)),
    ("sequential/dense/bias:0", 4800, 4810, (10,)),
    ("sequential/dense/kernel:0", 4810, 4970, (16, 10)),
]
FAST = [  # a smoke run: coarse grids, few samples, one cheap regressor
    "threads=1",
    "landscape.steps=5",
    "landscape.n_samples=32",
    "curvature.n_samples=32",
    "curvature.lanczos_iters=5",
    "curvature.trace_samples=2",
    "curvature.slq_probes=2",
    "descriptors=[merge_tree,hessian,param_count,weight_norm,hyperparameters]",
    "regressor=[ridge]",
    "protocol.n_splits=3",
    "protocol.n_repeats=1",
    "protocol.n_bootstrap=20",
    "evaluation.conditional.hyperparameters=null",
    "evaluation.diagram_sets.h0_image=null",
]


class Payload:
    """Touches ``marker`` when unpickled: a file holding it must be refused, never loaded."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# ----------------------------------------------------------------------------- fixtures in the published layouts


def write_mnist(root: Path, n_train: int = 64, n_test: int = 32) -> Path:
    """A fake MNIST in torchvision's layout (IDX files under ``root/MNIST/raw``)."""
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        for kind, array in (
            ("images-idx3", rng.integers(0, 256, (n, 28, 28))),
            ("labels-idx1", rng.integers(0, 10, n)),
        ):
            header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
            (raw / f"{prefix}-{kind}-ubyte").write_bytes(header + array.astype(np.uint8).tobytes())
    return root


def to_keras(tensor: np.ndarray) -> np.ndarray:
    """A torch tensor in Keras layout: conv kernels (kh, kw, in, out), dense kernels (in, out)."""
    if tensor.ndim == 4:
        return tensor.transpose(2, 3, 1, 0)
    return tensor.T if tensor.ndim == 2 else tensor


def small_cnn_vector(seed: int, activation: str = "relu") -> np.ndarray:
    """One checkpoint of the Small CNN Zoo's network, flattened as in weights.npy."""
    torch.manual_seed(seed)
    state = build_model({**SMALL, "activation": activation}).state_dict()
    return np.concatenate([to_keras(state[KERAS_NAMES[name]].numpy()).ravel() for name, *_ in PUBLISHED_LAYOUT])


def write_small_cnn_zoo(folder: Path, n_runs: int = 6) -> Path:
    """``n_runs`` runs with checkpoints at steps 0 and 86 and one run stopped after step 0:
    weights.npy, metrics.csv.gz (an unnamed index of checkpoint paths, then the README's columns)
    and layout.csv."""
    folder.mkdir(parents=True)
    rows, vectors = [], []
    for run in range(n_runs + 1):
        modeldir = f"dnn_science_workdir/mnist/{4_000_000 + run}"  # published rows hold the run folder of training
        for step in (0, 86) if run < n_runs else (0,):
            activation = ("relu", "tanh")[run % 2]
            vectors.append(small_cnn_vector(10 * run + step, activation))
            acc = 0.1 if step == 0 else 0.3 + 0.1 * run
            rows.append(
                {
                    "": f"{modeldir}/permanent_ckpt-{step}",
                    "config.activation": activation,
                    "config.b_init": "zeros",
                    "config.dataset": "mnist",
                    "config.dnn_architecture": "cnn",
                    "config.dropout": (0.0, 0.05)[run % 2],
                    "config.epochs": 86,
                    "config.epochs_between_checkpoints": 20,
                    "config.init_std": 0.05,
                    "config.l2reg": [0.0, 1e-4, 1e-3][run % 3],
                    "config.learning_rate": [0.01, 0.003, 0.001][run % 3],
                    "config.num_layers": 3,
                    "config.num_units": 16,
                    "config.optimizer": ("sgd", "adam")[run % 2],
                    "config.random_seed": 42,
                    "config.train_fraction": (0.5, 1.0)[run % 2],
                    "config.w_init": "he_normal",
                    "modeldir": modeldir,
                    "step": step,
                    "test_accuracy": acc,
                    "test_loss": 2.3 - acc,
                    "train_accuracy": acc + 0.01 * (run % 3),
                    "train_loss": 2.2 - acc,
                }
            )
    np.save(folder / "weights.npy", np.stack(vectors).astype(np.float32))
    with gzip.open(folder / "metrics.csv.gz", "wt") as f:
        pd.DataFrame(rows).to_csv(f, index=False)
    layout = pd.DataFrame(
        [{"varname": n, "start_idx": a, "end_idx": b, "shape": str(s)} for n, a, b, s in PUBLISHED_LAYOUT]
    )
    layout.to_csv(folder / "layout.csv", index=False)
    return folder


def model_zoos_state(seed: int, dropout: float, activation: str) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    kwargs = {"variant": "s", "dropout": dropout, "activation": activation, "mean": [0.1307], "std": [0.3081]}
    return build_model({"name": "model_zoos_cnn", "input_shape": [1, 28, 28], "n_outputs": 10, **kwargs}).state_dict()


def write_model_zoo(
    folder: Path, configs: list[tuple[str, float]] | None = None, seeds: tuple[int, ...] = (11, 22)
) -> Path:
    """A Model Zoo of CNN-s on MNIST, as ray tune leaves it: a run folder per (configuration,
    seed) with params.json, result.json (one line per epoch) and checkpoint_<epoch>/checkpoints
    for epochs 0..2, beside ray's pickles (params.pkl, .tune_metadata) and the zoo's dataset.pt,
    each a payload that must never be unpickled."""
    configs = [("tanh", 0.0), ("relu", 0.0), ("tanh", 0.5), ("relu", 0.5)] if configs is None else configs
    folder.mkdir(parents=True)
    (folder / "dataset.pt").write_bytes(pickle.dumps(Payload(folder.parent / "UNPICKLED")))
    (folder / "config.json").write_text(json.dumps({"model::type": "CNN"}))
    i = 0
    for c, (nlin, dropout) in enumerate(configs):
        for seed in seeds:
            run = (
                folder / f"NN_tune_trainable_3f2a1_{i:05d}_{i}_model::dropout={dropout},model::nlin={nlin},seed={seed}"
            )
            params = {
                "cuda": False,
                "dataset::dump": str(folder / "dataset.pt"),
                "model::channels_in": 1,
                "model::dropout": dropout,
                "model::init_type": "kaiming_uniform",
                "model::nlin": nlin,
                "model::o_dim": 10,
                "model::type": "CNN",
                "optim::lr": 0.001,
                "optim::momentum": 0.9,
                "optim::optimizer": "adam",
                "optim::wd": 0.001,
                "seed": seed,
                "training::batchsize": 10,
                "training::epochs_train": 2,
                "training::output_epoch": 1,
            }
            run.mkdir()
            (run / "params.json").write_text(json.dumps(params, indent=2, sort_keys=True))
            (run / "params.pkl").write_bytes(pickle.dumps(Payload(folder.parent / "UNPICKLED")))
            lines = []
            for epoch in range(3):
                acc = 0.1 + 0.2 * epoch + 0.05 * c + 0.01 * (seed % 3)
                result = {
                    "train_loss": 2.3 - acc,
                    "train_acc": acc + 0.02 * c,
                    "test_loss": 2.35 - acc,
                    "test_acc": acc,
                }
                lines.append(
                    json.dumps({**result, "training_iteration": epoch, "trial_id": f"3f2a1_{i:05d}", "config": params})
                )
                ckpt = run / f"checkpoint_{epoch:06d}"
                ckpt.mkdir()
                torch.save(model_zoos_state(100 * i + epoch, dropout, nlin), ckpt / "checkpoints")
                (ckpt / ".tune_metadata").write_bytes(pickle.dumps(Payload(folder.parent / "UNPICKLED")))
            (run / "result.json").write_text("\n".join(lines) + "\n")
            i += 1
    return folder


@pytest.fixture(scope="module")
def configs(folders, tmp_path_factory) -> dict[str, dict]:
    """Each zoo's resolved config on the fake MNIST, composed once; :func:`_with` points it elsewhere."""
    tmp = tmp_path_factory.mktemp("configs")
    data = [f"dataset.root={folders['data']}", "dataset=mnist", *FAST]
    return {
        "small_cnn_zoo": compose_plain(["zoo=small_cnn_zoo", f"zoo.root={folders['small_cnn_zoo']}", *data], tmp),
        "model_zoos": compose_plain(
            ["zoo=model_zoos", f"zoo.root={folders['model_zoos']}", "zoo.epochs=[2]", *data], tmp
        ),
    }


def _with(cfg: dict, **zoo) -> dict:
    """``cfg`` with these zoo settings (``root`` as text)."""
    return {**cfg, "zoo": {**cfg["zoo"], **{k: str(v) if k == "root" else v for k, v in zoo.items()}}}


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("public_zoos")
    return {
        "data": write_mnist(base / "data"),
        "small_cnn_zoo": write_small_cnn_zoo(base / "small_cnn_zoo" / "mnist"),
        "model_zoos": write_model_zoo(base / "model_zoos" / "tune_zoo_mnist_hyperparameter_10_random_seeds"),
    }


# ----------------------------------------------------------------------------- architectures


def test_the_published_layout_maps_exactly_onto_the_small_cnn_zoos_network():
    state = build_model(SMALL).state_dict()
    assert sum(v.numel() for v in state.values()) == 4970  # the README's count
    assert set(KERAS_NAMES.values()) == set(state)
    end = 0
    for (name, start, stop, shape), (listed, _) in zip(PUBLISHED_LAYOUT, keras_names(), strict=True):
        assert name == listed and start == end and stop - start == math.prod(shape)
        assert keras_shape(state[KERAS_NAMES[name]].shape) == shape
        end = stop


def _keras_forward(vector: np.ndarray, x: np.ndarray, activation) -> np.ndarray:
    """The Small CNN Zoo's Keras network, written out in NumPy on NHWC images in [0, 1]:
    scaling to [-1, 1], channel mean, 3 x (Conv2D 3x3 stride 2 'valid' + activation), global
    average pooling, Dense (``_preprocess_batch`` and ``build_cnn`` of train_network.py)."""
    var = {name: vector[a:b].reshape(s) for name, a, b, s in PUBLISHED_LAYOUT}
    h = (2.0 * x - 1.0).mean(axis=-1, keepdims=True)
    for layer in ("conv2d", "conv2d_1", "conv2d_2"):
        k, bias = var[f"sequential/{layer}/kernel:0"], var[f"sequential/{layer}/bias:0"]
        n = (h.shape[1] - 3) // 2 + 1
        out = np.empty((h.shape[0], n, n, k.shape[-1]))
        for i in range(n):
            for j in range(n):
                out[:, i, j] = np.einsum("bhwc,hwco->bo", h[:, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3], k) + bias
        h = activation(out)
    return h.mean(axis=(1, 2)) @ var["sequential/dense/kernel:0"] + var["sequential/dense/bias:0"]


@pytest.mark.parametrize(("activation", "fn"), [("relu", lambda z: np.maximum(z, 0)), ("tanh", np.tanh)])
@pytest.mark.parametrize("channels", [1, 3])
def test_small_cnn_zoo_weights_compute_what_the_keras_network_computes(activation, fn, channels):
    vector = np.random.default_rng(1).normal(0, 0.3, 4970)
    x = np.random.default_rng(2).uniform(0, 1, (4, 28, 28, channels))
    spec = {**SMALL, "input_shape": [channels, 28, 28], "activation": activation}
    module = build_model(spec).double()
    state = {KERAS_NAMES[n]: torch.from_numpy(from_keras(vector[a:b].reshape(s))) for n, a, b, s in PUBLISHED_LAYOUT}
    module.load_state_dict(state)
    with torch.no_grad():
        got = module(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    np.testing.assert_allclose(got, _keras_forward(vector, x, fn), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    ("variant", "channels", "dropout", "n_params", "layers"),
    [  # the paper's counts (2,464; 10,853) and CNN-s on 3 channels; def_net.py's layer indices
        ("s", 1, 0.0, 2464, [0, 3, 6, 9, 11]),
        ("s", 1, 0.5, 2464, [0, 4, 8, 11, 14]),
        ("s", 3, 0.0, 2864, [0, 3, 6, 9, 11]),
        ("l", 3, 0.0, 10853, [0, 4, 8, 13, 16]),
    ],
)
def test_model_zoos_cnns_have_the_published_state_dict(variant, channels, dropout, n_params, layers):
    size = 28 if variant == "s" else 32
    spec = {"name": "model_zoos_cnn", "input_shape": [channels, size, size], "n_outputs": 10}
    module = build_model({**spec, "variant": variant, "dropout": dropout, "mean": [0.5], "std": [0.5]})
    state = module.state_dict()
    assert sum(v.numel() for v in state.values()) == n_params
    assert list(state) == [f"module_list.{i}.{p}" for i in layers for p in ("weight", "bias")]
    x = torch.rand(2, channels, 32, 32)  # CNN-s resizes 32x32 images to its 28x28, as the CIFAR-10 zoo was
    assert module.eval()(x).shape == (2, 10)


def test_model_zoos_cnn_normalises_its_input_as_the_zoo_generators_did():
    spec = {"name": "model_zoos_cnn", "input_shape": [1, 28, 28], "n_outputs": 10, "mean": [0.1307], "std": [0.3081]}
    module = build_model(spec).eval()
    x = torch.rand(3, 1, 28, 28)
    expected = (x - 0.1307) / 0.3081
    for layer in module.module_list:
        expected = layer(expected)
    assert torch.allclose(module(x), expected)


# ----------------------------------------------------------------------------- end to end


def _run_to_leaderboard(zoo: str, overrides: list[str], tmp: Path) -> tuple[benchmark.EvaluationResult, Path]:
    """One run of ``zoo`` and its leaderboard (page and CSV), its model table and zoo summary, as
    the command line writes them (without the plots, to keep the test short)."""
    result = benchmark.evaluate([f"zoo={zoo}", f"name={zoo}", *overrides, *FAST], home=tmp / "home")
    prov = provenance(config_yaml(OmegaConf.create(result.config)), list(result.overrides), result.run.timings)
    page, csv_path = write_leaderboard(result.scores, tmp / "boards", zoo, prov, f"landscape-bench zoo={zoo}")
    targets = result.config["evaluation"]["targets"]
    model_table(result.run.models, targets).to_csv(tmp / "boards" / f"{zoo}.models.csv", index=False)
    (tmp / "boards" / f"{zoo}.zoo.md").write_text(summary_markdown(zoo, result.run.models, targets, 0.0, "", []))
    assert page.is_file()
    return result, csv_path


@pytest.fixture(scope="module")
def small_run(folders, tmp_path_factory):
    overrides = [f"zoo.root={folders['small_cnn_zoo']}", "dataset=mnist", f"dataset.root={folders['data']}"]
    return _run_to_leaderboard("small_cnn_zoo", overrides, tmp_path_factory.mktemp("small_run"))


@pytest.fixture(scope="module")
def zoos_run(folders, tmp_path_factory):
    overrides = [
        f"zoo.root={folders['model_zoos']}",
        "zoo.epochs=[2]",
        "dataset=mnist",
        f"dataset.root={folders['data']}",
    ]
    return _run_to_leaderboard("model_zoos", overrides, tmp_path_factory.mktemp("zoos_run"))


def test_small_cnn_zoo_reads_end_to_end_to_a_leaderboard(small_run, folders):
    result, csv_path = small_run
    models = result.run.models
    assert [m.model_id for m in models] == [f"{4_000_000 + r}@86" for r in range(6)]  # the stopped run is left out
    assert {m.group for m in models} == {f"small_cnn_zoo/{4_000_000 + r}" for r in range(6)}
    first = models[0]
    assert first.architecture["name"] == "small_cnn_zoo" and first.architecture["activation"] == "relu"
    assert first.hparams == {
        "activation": "relu",
        "b_init": "zeros",
        "dropout": 0.0,
        "init_std": 0.05,
        "l2reg": 0.0,
        "lr": 0.01,
        "optimizer": "sgd",
        "train_fraction": 0.5,
        "w_init": "he_normal",
        "seed": 42,
    }
    assert first.seed == 42 and first.epoch == 86 and first.dataset == "mnist"
    assert first.metrics["test_accuracy"] == pytest.approx(0.3)
    assert first.metrics["generalization_gap"] == pytest.approx(0.0)
    assert models[1].metrics["generalization_gap"] == pytest.approx(0.01)
    expected = build_model({**SMALL, "activation": "relu"})
    expected.load_state_dict(
        {
            KERAS_NAMES[n]: torch.from_numpy(from_keras(small_cnn_vector(86, "relu")[a:b].reshape(s)))
            for n, a, b, s in PUBLISHED_LAYOUT
        }
    )
    assert all(np.array_equal(first.state[k], v.numpy()) for k, v in expected.state_dict().items())
    board = pd.read_csv(csv_path)
    assert set(board["zoo"]) == {"small_cnn_zoo"} and {"test_accuracy", "generalization_gap"} <= set(board["target"])
    assert {"merge_tree", "hessian", "hyperparameters"} <= set(board["feature_set"])
    assert result.features.filter(like="merge_tree__").notna().all().all()
    table = pd.read_csv(csv_path.with_suffix(".models.csv"))
    assert {"hp:activation", "hp:l2reg", "group"} <= set(table.columns)  # one column per partition of the runs


def test_model_zoos_read_end_to_end_to_a_leaderboard(zoos_run, folders):
    result, csv_path = zoos_run
    models = result.run.models
    assert len(models) == 8 and {m.epoch for m in models} == {2}
    assert len({m.group for m in models}) == 4  # the two seeds of each configuration share a group
    m = models[0]
    assert m.model_id.startswith("NN_tune_trainable_3f2a1_00000_0_") and m.model_id.endswith("@2")
    assert m.architecture == {
        "name": "model_zoos_cnn",
        "input_shape": [1, 28, 28],
        "n_outputs": 10,
        "variant": "s",
        "activation": "tanh",
        "dropout": 0.0,
        "mean": [0.1307],
        "std": [0.3081],
    }
    assert m.hparams["activation"] == "tanh" and m.hparams["weight_decay"] == 0.001 and m.seed == 11
    assert m.metrics["test_accuracy"] == pytest.approx(0.5 + 0.02) and m.metrics["generalization_gap"] == pytest.approx(
        0.0
    )
    saved = torch.load(
        folders["model_zoos"] / m.model_id.split("@")[0] / "checkpoint_000002" / "checkpoints", weights_only=True
    )
    assert all(np.array_equal(m.state[k], v.numpy()) for k, v in saved.items())
    board = pd.read_csv(csv_path)
    assert set(board["zoo"]) == {"model_zoos"} and {"test_accuracy", "generalization_gap"} <= set(board["target"])
    assert {"merge_tree", "hessian", "hyperparameters"} <= set(board["feature_set"])
    assert not (folders["model_zoos"].parent.parent / "UNPICKLED").exists()  # no pickle was ever loaded


# ----------------------------------------------------------------------------- selection: epochs, groups, subsets


def test_a_seeded_subset_keeps_whole_groups_and_is_reproducible(configs):
    base = configs["model_zoos"]

    def ids(**zoo) -> list[str]:
        return [lm.record.model_id for lm in model_zoos.read(_with(base, **zoo))]

    one = ids(sample=2, sample_seed=3)
    assert len(one) == 4 and one == ids(sample=2, sample_seed=3)
    chosen = {i.split("_model::")[1].rsplit(",seed=", 1)[0] for i in one}
    assert len(chosen) == 2  # two configurations, each with both seeds
    assert {tuple(ids(sample=2, sample_seed=s)) for s in range(6)} != {tuple(one)}  # the seed matters
    assert len(ids(group_by="run", sample=3)) == 3
    assert len(ids(epochs=None)) == 24  # every checkpoint of every run: epochs 0, 1, 2
    with pytest.raises(PublicZooError, match=r"zoo\.sample=5 exceeds the 4 groups"):
        ids(sample=5)
    picked = [lm.record for lm in small_cnn_zoo.read(_with(configs["small_cnn_zoo"], sample=3, epochs=[0, 86]))]
    runs = {m.group for m in picked}
    assert len(runs) == 3  # three runs, each with every checkpoint kept (the stopped run has only step 0)
    for run in runs:
        epochs = {m.epoch for m in picked if m.group == run}
        assert epochs == ({0} if run.endswith("4000006") else {0, 86})


def test_a_zoo_that_varies_only_the_seed_is_grouped_by_run(configs, tmp_path):
    zoo = write_model_zoo(tmp_path / "tune_zoo_mnist_uniform", configs=[("tanh", 0.0)], seeds=(1, 2, 3))
    with pytest.raises(PublicZooError, match=r"same hyperparameters but the seed.*zoo\.group_by=run"):
        model_zoos.read(_with(configs["model_zoos"], root=zoo))
    assert len({lm.record.group for lm in model_zoos.read(_with(configs["model_zoos"], root=zoo, group_by="run"))}) == 3


# ----------------------------------------------------------------------------- refused before any work


@pytest.mark.parametrize("zoo", ["small_cnn_zoo", "model_zoos"])
def test_a_missing_or_empty_root_is_a_config_error_before_any_work(zoo, tmp_path):
    cfg = compose_plain([f"zoo={zoo}", "dataset=mnist", "dataset.download=true"], tmp_path)
    with pytest.raises(ConfigError, match=rf"zoo '{zoo}' needs zoo\.root: the local folder holding"):
        pipeline.validate(cfg)
    with pytest.raises(ConfigError, match=r"does not exist"):
        pipeline.validate(_with(cfg, root=str(tmp_path / "absent")))
    lacks = (
        r"lacks weights\.npy, layout\.csv, metrics\.csv\.gz"
        if zoo == "small_cnn_zoo"
        else r"has no subfolder holding params"
    )
    with pytest.raises(ConfigError, match=lacks):
        pipeline.validate(_with(cfg, root=str(tmp_path)))
    with pytest.raises(ConfigError, match=r"zoo\.group_by='seed' is not one of \['run', 'configuration'\]") as e:
        pipeline.validate(_with(cfg, root=str(tmp_path), group_by="seed", sample=0))
    assert "zoo.sample=0 is not an integer >= 1" in str(e.value)
    digits = {**cfg, "dataset": compose_plain([f"zoo={zoo}"], tmp_path)["dataset"]}
    with pytest.raises(ConfigError, match=r"trains on datasets \['mnist', 'fashion_mnist', 'cifar10'\], not 'digits'"):
        pipeline.validate(digits)
    assert not (tmp_path / "home").exists()


# ----------------------------------------------------------------------------- malformed Small CNN Zoo files


def _small_copy(folders: dict[str, Path], tmp_path: Path) -> Path:
    target = tmp_path / "mnist"
    target.mkdir()
    for f in folders["small_cnn_zoo"].iterdir():
        (target / f.name).write_bytes(f.read_bytes())
    return target


def _metrics(root: Path) -> pd.DataFrame:
    return pd.read_csv(root / "metrics.csv.gz", keep_default_na=False)


def _break_small(kind: str, root: Path, tmp_path: Path) -> None:
    if kind == "missing_column":
        _metrics(root).drop(columns=["test_accuracy"]).to_csv(root / "metrics.csv.gz", index=False)
    elif kind == "wrong_weight_count":
        weights = np.load(root / "weights.npy")
        np.save(root / "weights.npy", np.concatenate([weights, weights[:, :1]], axis=1))
    elif kind == "rows_differ":
        np.save(root / "weights.npy", np.load(root / "weights.npy")[:-1])
    elif kind == "layout_not_the_architecture":  # kernel (in, out) given as (out, in): same size, wrong network
        layout = pd.read_csv(root / "layout.csv")
        layout.loc[layout["varname"] == "sequential/dense/kernel:0", "shape"] = "(10, 16)"
        layout.to_csv(root / "layout.csv", index=False)
    elif kind == "layout_gap":
        layout = pd.read_csv(root / "layout.csv")
        layout.loc[layout["varname"] == "sequential/dense/bias:0", "start_idx"] = 4801
        layout.to_csv(root / "layout.csv", index=False)
    elif kind == "pickled_object":
        np.save(root / "weights.npy", np.array([Payload(tmp_path / "UNPICKLED")] * 4, dtype=object), allow_pickle=True)
    elif kind == "other_dataset":
        frame = _metrics(root)
        frame["config.dataset"] = "cifar10"
        frame.to_csv(root / "metrics.csv.gz", index=False)


SMALL_EXPECT = {
    "missing_column": r"metrics\.csv\.gz has no column 'test_accuracy'",
    "wrong_weight_count": r"weights\.npy holds 4971 weights per checkpoint, layout\.csv describes 4970",
    "rows_differ": r"weights\.npy has 12 rows, metrics\.csv\.gz 13",
    "layout_not_the_architecture": r"layout\.csv does not match the network of the Small CNN Zoo that models "
    r"\['4000000@86', '4000001@86', '4000002@86'\] \.\.\. are built as .*'sequential/dense/kernel:0' has shape "
    r"\(10, 16\), the network's is \(16, 10\)",
    "layout_gap": r"layout\.csv, row 6 \('sequential/dense/bias:0'\) starts at column 4801, "
    r"but the variables before it end at 4800",
    "pickled_object": r"weights\.npy holds pickled Python objects .* refusing to unpickle it",
    "other_dataset": r"holds models trained on \['cifar10'\] \(column config\.dataset of metrics\.csv\.gz\), "
    r"not dataset=mnist; add dataset=cifar10",
}


@pytest.mark.parametrize("kind", sorted(SMALL_EXPECT))
def test_a_malformed_small_cnn_zoo_is_refused_naming_the_file(kind, folders, configs, tmp_path):
    root = _small_copy(folders, tmp_path)
    _break_small(kind, root, tmp_path)
    with pytest.raises(PublicZooError, match=SMALL_EXPECT[kind]) as e:
        small_cnn_zoo.read(_with(configs["small_cnn_zoo"], root=root))
    assert str(root) in str(e.value)
    assert not (tmp_path / "UNPICKLED").exists()


def test_a_small_cnn_zoo_model_without_its_target_is_named_and_can_be_skipped(folders, configs, tmp_path):
    root = _small_copy(folders, tmp_path)
    frame = _metrics(root)
    frame.loc[3, "test_accuracy"] = np.nan  # run 4000001 at step 86: an empty cell
    frame.to_csv(root / "metrics.csv.gz", index=False)
    cfg = _with(configs["small_cnn_zoo"], root=root)
    with pytest.raises(
        PublicZooError,
        match=r"model '4000001@86' \(row 3 of weights\.npy and metrics\.csv\.gz in .*no value for target\(s\) "
        r"\['test_accuracy', 'generalization_gap'\] \(an empty or NaN cell of metrics\.csv\.gz\)"
        r".*zoo\.skip_invalid=true",
    ):
        small_cnn_zoo.read(cfg)
    assert [lm.record.model_id for lm in small_cnn_zoo.read(_with(cfg, skip_invalid=True))] == [
        f"{4_000_000 + r}@86" for r in (0, 2, 3, 4, 5)
    ]


# ----------------------------------------------------------------------------- malformed Model Zoos files


def _zoos_copy(folders: dict[str, Path], tmp_path: Path) -> Path:
    target = tmp_path / "zoo"
    for f in folders["model_zoos"].rglob("*"):
        if f.is_file():
            (target / f.relative_to(folders["model_zoos"])).parent.mkdir(parents=True, exist_ok=True)
            (target / f.relative_to(folders["model_zoos"])).write_bytes(f.read_bytes())
    return target


def _first_run(root: Path) -> Path:
    return sorted(p for p in root.iterdir() if p.is_dir())[0]


def _break_zoos(kind: str, root: Path, tmp_path: Path) -> str:
    """Break the first run (tanh, no dropout); return the file the error must name."""
    run = _first_run(root)
    ckpt = run / "checkpoint_000002" / "checkpoints"
    if kind == "missing_key":
        params = json.loads((run / "params.json").read_text())
        del params["model::nlin"]
        (run / "params.json").write_text(json.dumps(params))
        return str(run / "params.json")
    if kind == "wrong_weight_count":
        state = torch.load(ckpt, weights_only=True)
        state["module_list.9.weight"] = torch.zeros(20, 37)
        torch.save(state, ckpt)
    elif kind == "layout_not_the_architecture":  # the layout of a model with dropout, for one without
        torch.save(model_zoos_state(0, 0.5, "tanh"), ckpt)
    elif kind == "pickled_object":
        torch.save(Payload(tmp_path / "UNPICKLED"), ckpt)
    elif kind == "no_result_line":
        lines = (run / "result.json").read_text().splitlines()
        (run / "result.json").write_text("\n".join(lines[:2]) + "\n")
        return str(run / "result.json")
    elif kind == "no_result_file":
        (run / "result.json").unlink()
        return str(run / "result.json")
    return f"{run.name}/checkpoint_000002/checkpoints"


ZOOS_EXPECT = {
    "missing_key": r"params\.json has no \['model::nlin'\]",
    "wrong_weight_count": r"shape mismatch \['module_list\.9\.weight'\]",
    "layout_not_the_architecture": r"missing \['module_list\.3\.bias', .*'module_list\.9\.weight'\], "
    r"unexpected \['module_list\.14\.bias', .*'module_list\.8\.weight'\]",
    "pickled_object": r"holds pickled Python objects, not just tensors; refusing to unpickle it",
    "no_result_line": r"has no line with training_iteration 2",
    "no_result_file": r"result\.json does not exist",
}


@pytest.mark.parametrize("kind", sorted(ZOOS_EXPECT))
def test_a_malformed_model_zoo_is_refused_naming_the_model_and_the_file(kind, folders, configs, tmp_path):
    root = _zoos_copy(folders, tmp_path)
    where = _break_zoos(kind, root, tmp_path)
    run = _first_run(root).name
    cfg = _with(configs["model_zoos"], root=root)
    with pytest.raises(PublicZooError, match=ZOOS_EXPECT[kind]) as e:
        model_zoos.read(cfg)
    message = str(e.value)
    assert run in message and where in message and "zoo.skip_invalid=true" in message
    assert not (tmp_path / "UNPICKLED").exists()
    kept = [lm.record.model_id for lm in model_zoos.read(_with(cfg, skip_invalid=True))]
    assert len(kept) == 7 and not any(k.startswith(run) for k in kept)


def test_a_model_zoo_of_another_dataset_is_refused(configs):
    cfg = {**configs["model_zoos"], "dataset": {**configs["model_zoos"]["dataset"], "name": "cifar10"}}
    with pytest.raises(PublicZooError, match=r"model::channels_in=1, but dataset=cifar10 has 3-channel images[^(]*$"):
        model_zoos.read(cfg)
