"""MNIST, Fashion-MNIST and CIFAR-10 through torchvision, from a local folder.

Files are read from ``root`` in torchvision's layout (``root/MNIST/raw/…``,
``root/FashionMNIST/raw/…``, ``root/cifar-10-batches-py/…``). Downloading is an explicit opt-in
(``download: true``); without it a missing dataset is an error that says where the files belong.
CIFAR-10 files are checked against torchvision's MD5 sums unless ``verify: false``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torchvision import datasets

from benchmark.data.base import DATASETS, Split

SOURCES = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST, "cifar10": datasets.CIFAR10}


class _UnverifiedCIFAR10(datasets.CIFAR10):
    """CIFAR-10 that checks the files exist instead of their MD5 sums (``verify: false``)."""

    train_list: ClassVar[list] = [[name, None] for name, _ in datasets.CIFAR10.train_list]
    test_list: ClassVar[list] = [[name, None] for name, _ in datasets.CIFAR10.test_list]
    meta: ClassVar[dict] = {**datasets.CIFAR10.meta, "md5": None}


def _load(name: str, root: str, train: bool, download: bool, verify: bool) -> tuple[torch.Tensor, torch.Tensor]:
    cls = _UnverifiedCIFAR10 if name == "cifar10" and not verify else SOURCES[name]
    try:
        ds = cls(root=root, train=train, download=download)
    except RuntimeError as exc:
        raise FileNotFoundError(
            f"dataset {name!r} not found under dataset.root={root!r} ({exc}). Put the files there in "
            f"torchvision's layout, or set dataset.download=true to fetch them."
        ) from None
    x = torch.as_tensor(np.asarray(ds.data))
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)  # (N, C, H, W)
    y = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
    return x.float().div(255.0).contiguous(), y


def _torchvision_split(
    name: str, root: str | None, download: bool, n_train: int | None, n_test: int | None, verify: bool
) -> Split:
    if not root:
        raise ValueError(f"dataset {name!r} needs dataset.root: the folder holding (or to receive) its files.")
    x, y = _load(name, root, True, download, verify)
    x_test, y_test = _load(name, root, False, download, verify)
    x, y = x[:n_train], y[:n_train]
    x_test, y_test = x_test[:n_test], y_test[:n_test]
    return Split(name, x, y, x_test, y_test, n_classes=10)


def _register(name: str) -> None:
    def loader(
        root: str | None = None,
        download: bool = False,
        n_train: int | None = None,
        n_test: int | None = None,
        verify: bool = True,
    ) -> Split:
        """The official train/test split; ``n_train``/``n_test`` keep the first examples of each."""
        return _torchvision_split(name, root, download, n_train, n_test, verify)

    loader.__name__ = name
    DATASETS.add(name, loader)


for _name in SOURCES:
    _register(_name)
