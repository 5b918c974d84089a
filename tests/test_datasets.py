"""Datasets: embedded ones build offline; torchvision ones load small files written in the real formats."""

from __future__ import annotations

import hashlib
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import datasets

from benchmark.data import load_dataset
from benchmark.data.convection import exact_solution
from benchmark.errors import ConfigError


def _idx(path: Path, array: np.ndarray) -> None:
    """Write an IDX file (the MNIST format): magic, dimensions (big-endian int32), uint8 data."""
    magic = 0x0800 | array.ndim
    path.write_bytes(
        struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()
    )


@pytest.mark.parametrize(("name", "folder"), [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_mnist_format_from_local_files(tmp_path, name, folder):
    raw = tmp_path / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    imgs, labels = rng.integers(0, 256, (12, 28, 28)), rng.integers(0, 10, 12)
    for prefix, n in (("train", 12), ("t10k", 5)):
        _idx(raw / f"{prefix}-images-idx3-ubyte", imgs[:n])
        _idx(raw / f"{prefix}-labels-idx1-ubyte", labels[:n])
    split = load_dataset(name, root=str(tmp_path), n_train=10)
    assert split.x_train.shape == (10, 1, 28, 28) and split.x_test.shape == (5, 1, 28, 28)
    np.testing.assert_allclose(split.x_train[3, 0].numpy(), imgs[3] / 255.0, rtol=1e-6)
    assert split.y_train.tolist() == labels[:10].tolist()


def test_cifar10_format_from_local_files(tmp_path, monkeypatch):
    base = tmp_path / "cifar-10-batches-py"
    base.mkdir()
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (2, 3072)).astype(np.uint8)
        batches[name] = data
        (base / name).write_bytes(pickle.dumps({"data": data, "labels": [1, 7]}))
    (base / "batches.meta").write_bytes(pickle.dumps({"label_names": [str(i) for i in range(10)]}))
    with pytest.raises(ConfigError, match=r"data_batch_1 is not the published file.*dataset\.verify=false"):
        load_dataset("cifar10", root=str(tmp_path))  # the MD5 sums of tiny files differ
    unverified = load_dataset("cifar10", root=str(tmp_path), verify=False)  # read by the restricted unpickler
    assert unverified.x_train.shape == (10, 3, 32, 32) and unverified.y_test.tolist() == [1, 7]
    # the format, read as the published files would be: list these files' own sums as torchvision's
    md5 = {name: hashlib.md5((base / name).read_bytes()).hexdigest() for name in [*batches, "batches.meta"]}
    cls = datasets.CIFAR10
    monkeypatch.setattr(cls, "train_list", [[n, md5[n]] for n, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[n, md5[n]] for n, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": md5["batches.meta"]})
    split = load_dataset("cifar10", root=str(tmp_path))
    assert split.x_train.shape == (10, 3, 32, 32) and split.x_test.shape == (2, 3, 32, 32)
    expected = batches["data_batch_1"][0].reshape(3, 32, 32) / 255.0
    np.testing.assert_allclose(split.x_train[0].numpy(), expected, rtol=1e-6)
    assert torch.equal(split.x_train, unverified.x_train) and torch.equal(split.y_train, unverified.y_train)


def test_missing_torchvision_dataset_says_where(tmp_path):
    with pytest.raises(ConfigError, match=r"dataset 'mnist' not found under dataset\.root.*MNIST/raw/"):
        load_dataset("mnist", root=str(tmp_path))
    with pytest.raises(ConfigError, match=r"dataset\.root=.*does not exist"):
        load_dataset("mnist", root=str(tmp_path / "absent"))
    with pytest.raises(ValueError, match=r"needs dataset\.root"):
        load_dataset("mnist", root=None)


def test_digits_and_mnist1d_are_embedded_and_deterministic():
    a, b = load_dataset("digits"), load_dataset("digits")
    assert a.x_train.shape == (1258, 1, 8, 8) and torch.equal(a.x_train, b.x_train)
    assert load_dataset("digits", image_size=32).x_test.shape == (539, 1, 32, 32)
    m = load_dataset("mnist1d")
    assert m.x_train.shape == (4000, 1, 40) and m.x_test.shape == (1000, 1, 40)
    assert torch.equal(m.x_train, load_dataset("mnist1d").x_train)


def test_convection_points_and_exact_solution():
    d = load_dataset("convection", n_collocation=50, n_initial=16, n_boundary=8, nx=16, nt=5)
    assert d.collocation.shape == (50, 2) and d.eval_points.shape == (80, 2)
    assert (d.collocation[:, 0] >= 0).all() and (d.collocation[:, 0] < 2 * np.pi).all()
    np.testing.assert_allclose(d.initial_u, torch.sin(d.initial[:, 0]))
    # the exact solution solves the PDE: u_t + beta u_x = 0, and is periodic in x
    xt = d.collocation.clone().requires_grad_(True)
    u = exact_solution(xt[:, 0], xt[:, 1], 7.0)
    (g,) = torch.autograd.grad(u.sum(), xt)
    assert torch.allclose(g[:, 1] + 7.0 * g[:, 0], torch.zeros(50), atol=1e-5)
    t = torch.linspace(0, 1, 5)
    assert torch.allclose(
        exact_solution(torch.zeros(5), t, 3.0), exact_solution(torch.full((5,), 2 * np.pi), t, 3.0), atol=1e-5
    )
