"""The seed paper at its own scale (issue 18): ResNet-20 with and without skip connections on
CIFAR-10. The architecture against He et al.'s closed forms; CIFAR-10's batch files read without
running what they hold (crafted pickles refused, naming the file); and the experiment, run by its
one command on a tiny fake CIFAR-10 root in the published layout, down to its leaderboard."""

from __future__ import annotations

import io
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from benchmark import pipeline
from benchmark.data import load_dataset, torchvision_sets
from benchmark.data.cifar_batches import CifarFileError, read_batch, read_label_names
from benchmark.errors import ConfigError
from benchmark.models import build_model
from benchmark.models.resnet import BasicBlock
from benchmark.perf import experiment_cost
from benchmark.suite import load_suite
from benchmark.zoo import zoo_specs

from .conftest import CONF, compose_plain

EXE = Path(sys.executable).parent / "landscape-bench"
LABEL_NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]


def write_fake_cifar10(root: Path, n_per_batch: int = 16, n_test: int = 16, seed: int = 0) -> Path:
    """A CIFAR-10 root in the published layout (``cifar-10-batches-py/data_batch_1..5``,
    ``test_batch``, ``batches.meta``: dicts with ``b'data'``, uint8 (N, 3072), and ``b'labels'``),
    of random images; returns ``root``."""
    base = root / "cifar-10-batches-py"
    base.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        n = n_test if name == "test_batch" else n_per_batch
        entry = {
            b"batch_label": name.encode(),
            b"labels": rng.integers(0, 10, n).tolist(),
            b"data": rng.integers(0, 256, (n, 3072)).astype(np.uint8),
            b"filenames": [f"{name}_{i}.png".encode() for i in range(n)],
        }
        (base / name).write_bytes(pickle.dumps(entry))
    meta = {b"num_cases_per_batch": n_per_batch, b"label_names": LABEL_NAMES, b"num_vis": 3072}
    (base / "batches.meta").write_bytes(pickle.dumps(meta))
    return root


# ----------------------------------------------------------------------------- the architecture


def _resnet(**kwargs) -> nn.Module:
    return build_model({"name": "cifar_resnet", "input_shape": [3, 32, 32], "n_outputs": 10, **kwargs})


def test_resnet20_has_he_et_al_s_parameter_count_and_6n_plus_2_layers():
    # 3x3 convs: 16*3*9 (stem) + 2n blocks of each stage; BatchNorm: 2 per conv channel; fc: 64*10 + 10
    n = 3
    convs = (
        16 * 3 * 9
        + (2 * n * 16 * 16 * 9)
        + (32 * 16 * 9 + (2 * n - 1) * 32 * 32 * 9)
        + (64 * 32 * 9 + (2 * n - 1) * 64 * 64 * 9)
    )
    norms = 2 * (16 + 2 * n * (16 + 32 + 64))
    assert sum(p.numel() for p in _resnet().parameters()) == convs + norms + 64 * 10 + 10 == 269_722  # "0.27M"
    for depth in (8, 14, 20, 32):
        model = _resnet(depth=depth)
        weighted = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
        assert len(weighted) == depth  # option A shortcuts have no weights
        assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_plain_and_residual_networks_share_their_weights_and_differ_by_the_skips_alone():
    torch.manual_seed(0)
    residual = _resnet(depth=8, width=4, residual=True).eval()
    plain = _resnet(depth=8, width=4, residual=False).eval()
    shapes = {k: v.shape for k, v in residual.state_dict().items()}
    assert shapes == {k: v.shape for k, v in plain.state_dict().items()}
    plain.load_state_dict(residual.state_dict())
    x = torch.rand(3, 3, 32, 32)
    assert not torch.allclose(plain(x), residual(x))
    for block in [m for m in residual.modules() if isinstance(m, BasicBlock)]:
        block.shortcut = None  # the residual network without its additions is the plain one
    torch.testing.assert_close(plain(x), residual(x))
    projected = _resnet(depth=8, width=4, shortcut="conv")  # option B: two strided 1x1 projections + BatchNorm
    extra = sum(p.numel() for p in projected.parameters()) - sum(p.numel() for p in residual.parameters())
    assert extra == (4 * 8 + 2 * 8) + (8 * 16 + 2 * 16)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"depth": 21}, r"depth = 6n \+ 2 .*got depth=21; ResNet-20 is depth=20"),
        ({"depth": 2}, r"depth = 6n \+ 2"),
        ({"width": 0}, r"width >= 1 .*got 0"),
        ({"shortcut": "projection"}, r"shortcut='projection' is unknown; use one of \['pad', 'conv'\]"),
    ],
)
def test_bad_resnet_settings_name_the_value_and_the_choices(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _resnet(**kwargs)
    with pytest.raises(ValueError, match=r"needs image input \(C, H, W\)"):
        build_model({"name": "cifar_resnet", "input_shape": [64], "n_outputs": 10})


# ----------------------------------------------------------------------------- the batch files


class _Py2Pickler(pickle._Pickler):
    """Protocol 2 with every ``str`` and ``bytes`` written as a Python 2 ``str`` and numpy 1's
    module names: how cPickle wrote the published CIFAR-10 files."""

    dispatch: ClassVar[dict] = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        raw = obj.encode("latin1") if isinstance(obj, str) else bytes(obj)
        short = len(raw) < 256
        self.write(
            (pickle.SHORT_BINSTRING + bytes([len(raw)])) if short else (pickle.BINSTRING + struct.pack("<i", len(raw)))
        )
        self.write(raw)
        self.memoize(obj)

    dispatch[str] = save_py2_str
    dispatch[bytes] = save_py2_str


def _py2_pickle(obj) -> bytes:
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue().replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def _batch(n: int = 3, seed: int = 0) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 3072)).astype(np.uint8), rng.integers(0, 10, n).tolist()


@pytest.mark.parametrize("how", ["python2", *(f"protocol {p}" for p in range(pickle.HIGHEST_PROTOCOL + 1))])
def test_batch_files_are_read_whatever_pickle_wrote_them(tmp_path, how):
    data, labels = _batch()
    entry = {"batch_label": "training batch 1 of 5", "labels": labels, "data": data, "filenames": ["a.png"] * 3}
    path = tmp_path / "data_batch_1"
    path.write_bytes(_py2_pickle(entry) if how == "python2" else pickle.dumps(entry, protocol=int(how.split()[1])))
    batch = read_batch(path)
    assert batch.images.dtype == np.uint8 and batch.images.shape == (3, 3, 32, 32)
    np.testing.assert_array_equal(batch.images.reshape(3, -1), data)
    assert batch.labels.tolist() == labels and batch.labels.dtype == np.int64
    meta = tmp_path / "batches.meta"
    meta.write_bytes(_py2_pickle({"label_names": [n.decode() for n in LABEL_NAMES]}))
    assert read_label_names(meta)[:2] == ["airplane", "automobile"]


class _Exec:
    """Unpickling this calls ``exec``: it writes ``marker``, as a crafted batch file would run a command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


class _System(_Exec):
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Subclass(np.ndarray):
    """An array subclass: its own ``__setstate__`` (here numpy.ma's) would run on load."""


def _crafted(marker: Path) -> dict[str, tuple[bytes, str]]:
    """Pickles that must be refused, each with the refusal's words."""
    data, labels = _batch()
    masked = np.ma.masked_array(data, mask=np.zeros_like(data, bool))
    objects = np.array([1, 2, 3], dtype=object)
    return {
        "exec": (pickle.dumps({b"data": _Exec(marker), b"labels": labels}), r"it asks for builtins\.exec"),
        "os.system": (pickle.dumps({b"data": _System(marker), b"labels": labels}), r"it asks for posix\.system"),
        "a masked array": (pickle.dumps({b"data": masked, b"labels": labels}), r"it asks for numpy\.ma\.core"),
        "an object array": (pickle.dumps({b"data": objects, b"labels": labels}), r"dtype object holds Python objects"),
        "an array subclass": (
            pickle.dumps({b"data": data.view(_Subclass), b"labels": labels}, protocol=2),
            r"it asks for tests\.test_resnet20_cifar10\._Subclass",
        ),
        "a python 2 exec": (_py2_pickle({"data": _Exec(marker), "labels": labels}), r"it asks for __builtin__\.exec"),
        "a persistent id": (b"\x80\x02P0\n.", r"persistent"),
        "not a pickle": (b"#!/bin/sh\nrm -rf /\n", r"invalid load key"),
    }


@pytest.mark.parametrize(
    "kind",
    [
        "exec",
        "os.system",
        "a masked array",
        "an object array",
        "an array subclass",
        "a python 2 exec",
        "a persistent id",
        "not a pickle",
    ],
)
def test_crafted_batch_files_are_refused_unrun_naming_the_file(tmp_path, kind):
    marker = tmp_path / "payload_ran"
    payload, words = _crafted(marker)[kind]
    path = tmp_path / "data_batch_3"
    path.write_bytes(payload)
    with pytest.raises(CifarFileError, match=rf"{path} is not a CIFAR-10 batch file: .*{words}") as refused:
        read_batch(path)
    assert "Replace it with the published file" in str(refused.value) and isinstance(refused.value, ConfigError)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ([1, 2], r"it holds a list, not a dict"),
        ({b"data": _batch()[0]}, r"it has no 'labels'"),
        ({b"data": _batch()[0].astype(np.float32), b"labels": [0, 1, 2]}, r"its 'data' is a float32 array"),
        ({b"data": _batch()[0][:, :100], b"labels": [0, 1, 2]}, r"shape \(3, 100\)"),
        ({b"data": _batch()[0], b"labels": [0, 1]}, r"3 images but 2 labels"),
        ({b"data": _batch()[0], b"labels": [0, 1, 10]}, r"labels range over \[0, 10\]"),
        ({b"data": _batch()[0], b"labels": [0.0, 1.0, 2.0]}, r"'labels' are not all integers"),
    ],
)
def test_batch_files_out_of_layout_are_refused_naming_the_file(tmp_path, entry, words):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps(entry))
    with pytest.raises(CifarFileError, match=rf"{path} is not a CIFAR-10 batch file: .*{words}"):
        read_batch(path)


def test_a_fake_root_is_read_only_without_verification(tmp_path):
    root = write_fake_cifar10(tmp_path / "data", n_per_batch=4, n_test=3)
    with pytest.raises(ConfigError, match=r"data_batch_1 is not the published file \(MD5 [0-9a-f]{32}, published"):
        load_dataset("cifar10", root=str(root))
    split = load_dataset("cifar10", root=str(root), verify=False)
    assert split.x_train.shape == (20, 3, 32, 32) and split.x_test.shape == (3, 3, 32, 32)
    assert split.x_train.dtype == torch.float32 and 0.0 <= float(split.x_train.min()) <= float(split.x_train.max()) <= 1
    first = pickle.loads((root / "cifar-10-batches-py" / "data_batch_1").read_bytes())
    np.testing.assert_allclose(split.x_train[0].numpy(), first[b"data"][0].reshape(3, 32, 32) / 255.0, rtol=1e-6)
    assert split.y_train[:4].tolist() == first[b"labels"]


def test_download_fetches_the_archive_only_when_files_are_missing(tmp_path, monkeypatch):
    fetched: list[str] = []

    def fetch(root: str) -> None:  # stands in for torchvision's download_and_extract_archive
        fetched.append(root)
        write_fake_cifar10(Path(root), n_per_batch=2, n_test=2)

    monkeypatch.setattr(torchvision_sets, "_fetch_cifar10", fetch)
    root = str(tmp_path / "data")
    assert load_dataset("cifar10", root=root, download=True, verify=False).x_train.shape == (10, 3, 32, 32)
    assert load_dataset("cifar10", root=root, download=True, verify=False).x_test.shape == (2, 3, 32, 32)
    assert fetched == [root]  # the second load found every file


# ----------------------------------------------------------------------------- the experiment


def test_the_experiment_is_resnet20_with_and_without_skips_outside_the_embedded_suite(tmp_path):
    assert "resnet20_cifar10" not in {entry.name for entry in load_suite(CONF)}  # it needs real data
    cfg = compose_plain(["experiment=resnet20_cifar10", "dataset.download=true"], tmp_path)
    assert cfg["dataset"]["name"] == "cifar10" and cfg["dataset"]["verify"] is True
    specs = zoo_specs(cfg["zoo"])
    assert len(specs) == 96 and len({s.group for s in specs}) == 48
    assert {s.architecture for s in specs} == {"cifar_resnet"} and {s.hparams["depth"] for s in specs} == {20}
    assert {s.hparams["residual"] for s in specs} == {False, True} and {s.hparams["width"] for s in specs} == {
        8,
        16,
        32,
    }
    pipeline.validate(cfg)
    absent = compose_plain(["experiment=resnet20_cifar10", f"dataset.root={tmp_path / 'absent'}"], tmp_path)
    with pytest.raises(ConfigError, match=r"dataset\.root='.*absent' does not exist \(dataset 'cifar10'\)"):
        pipeline.validate(absent)


TINY = [
    "zoo.fixed.depth=8",  # n = 1 block per stage: ResNet-8
    "zoo.fixed.epochs=2",
    "zoo.axes.width=[4]",
    "zoo.axes.lr=[0.05]",
    "zoo.axes.weight_decay=[0.0]",
    "zoo.axes.batch_size=[32]",
    "landscape.steps=5",
    "landscape.n_samples=32",
    "curvature.n_samples=32",
    "curvature.lanczos_iters=5",
    "curvature.trace_samples=4",
    "descriptors=[merge_tree,hessian,geometry,param_count,weight_norm,hyperparameters]",
    "regressor=[ridge]",
    "protocol.n_splits=2",
    "protocol.n_repeats=1",
    "protocol.n_bootstrap=50",
    "evaluation.conditional.hyperparameters=null",
    "evaluation.diagram_sets.h0_image=null",
]
"""The experiment at a test's size: 2 configurations (with and without skips) x 2 seeds of
ResNet-8 at width 4, two epochs on 80 images, 5 x 5 grids."""


def test_the_experiment_runs_end_to_end_on_a_fake_cifar10_root(tmp_path):
    root = write_fake_cifar10(tmp_path / "data")
    args = ["experiment=resnet20_cifar10", f"dataset.root={root}", "dataset.verify=false", *TINY]
    args += ["paths.home=home", "report.dir=boards", "threads=1", "device=cpu"]
    r = subprocess.run([str(EXE), *args], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "landscape-bench: 4 models" in r.stdout
    board = pd.read_csv(tmp_path / "boards" / "resnet20_cifar10.csv")
    assert {"merge_tree", "hessian", "geometry", "constant"} <= set(board["feature_set"])
    assert set(board["target"]) == {"test_accuracy", "generalization_gap"}
    models = pd.read_csv(tmp_path / "boards" / "resnet20_cifar10.models.csv")
    assert len(models) == 4 and models["test_accuracy"].between(0, 1).all()
    assert "resnet20_cifar10" in (tmp_path / "boards" / "resnet20_cifar10.md").read_text()


def test_the_cost_script_times_every_architecture_and_adds_up_the_zoo(capsys):
    tiny = ["zoo.fixed.depth=8", "zoo.axes.width=[4]", "zoo.axes.batch_size=[32]", "zoo.axes.lr=[0.1]"]
    tiny += ["zoo.axes.weight_decay=[0.0]", "landscape.n_samples=32", "curvature.n_samples=32"]
    assert experiment_cost.main(["--images", "64", *tiny]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| cifar_resnet depth=8 width=4")]
    assert [("residual=False" in r, "residual=True" in r) for r in rows] == [(True, False), (False, True)]
    assert "| 5,006 |" in rows[0] and "(32)" in rows[0]  # parameters; seconds per epoch at batch size 32
    assert "The zoo: 4 models; 1681 grid nodes each; 94 Hessian-vector products each." in out
    with pytest.raises(SystemExit):
        experiment_cost.main(["--images", "16", *tiny])  # fewer than a grid node's 32 images
    assert "--images 16 is fewer than the 32 images" in capsys.readouterr().err
