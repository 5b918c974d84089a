"""MNIST, Fashion-MNIST and CIFAR-10 from a local folder, in torchvision's layout.

Files are read from ``root`` in torchvision's layout (``root/MNIST/raw/…``,
``root/FashionMNIST/raw/…``, ``root/cifar-10-batches-py/…``). Downloading is an explicit opt-in
(``download: true``, through torchvision); without it, a ``root`` that does not exist or lacks the
files is a ``ConfigError`` (found during validation, before any work, by :func:`config_problems`)
that says where the files belong.

MNIST's IDX files are parsed by torchvision. CIFAR-10's batch files are pickles, and unpickling a
crafted file runs arbitrary code, so they are never given to ``pickle.load`` (nor to torchvision,
which would): :mod:`benchmark.data.cifar_batches` reads them with an unpickler that builds only
numbers, strings, containers and numpy arrays, and refuses anything else, naming the file. With
``verify: true`` (the default) each file must also have its published MD5 sum, so that a run named
``cifar10`` is on the published data; ``verify: false`` reads files in the layout that are not the
published ones (a subset, your own batches, the tests' fake root), just as safely.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.data import cifar_batches
from benchmark.data.base import CONFIG_CHECKS, DATASETS, Split
from benchmark.errors import ConfigError

SOURCES = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}
"""The ``torchvision.datasets`` class of each set, by name (see :func:`source`)."""
PICKLED = frozenset({"cifar10"})
"""Sets whose files are pickles: read by :mod:`benchmark.data.cifar_batches`, never by torchvision."""


def source(name: str) -> type:
    """The ``torchvision.datasets`` class of set ``name``. torchvision is imported here, on first
    use, not with the package: it takes seconds, which every command would otherwise pay."""
    from torchvision import datasets

    return getattr(datasets, SOURCES[name])


def published_cifar10(root: str | Path) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]], tuple[Path, str]]:
    """``(path, published MD5)`` of CIFAR-10's training batches, of its test batch, and of
    ``batches.meta`` under ``root`` (names and sums as torchvision lists them)."""
    cls = source("cifar10")
    folder = Path(root) / cls.base_folder
    train = [(folder / f, md5) for f, md5 in cls.train_list]
    test = [(folder / f, md5) for f, md5 in cls.test_list]
    return train, test, (folder / cls.meta["filename"], cls.meta["md5"])


def expected_files(name: str, root: str | Path) -> list[Path]:
    """The files read for dataset ``name`` under ``root`` (both splits)."""
    if name == "cifar10":
        train, test, meta = published_cifar10(root)
        return [p for p, _ in [*train, *test, meta]]
    cls, root = source(name), Path(root)
    raw = root / cls.__name__ / "raw"
    return [raw / Path(url).name.removesuffix(".gz") for url, _ in cls.resources]


def _legacy_files(name: str, root: str | Path) -> list[Path]:
    """MNIST's older processed layout, which torchvision still reads (``root/MNIST/processed/*.pt``)."""
    if name == "cifar10":
        return []
    cls = source(name)
    processed = Path(root) / cls.__name__ / "processed"
    return [processed / cls.training_file, processed / cls.test_file]


def config_problems(params: Mapping[str, Any]) -> list[str]:
    """What a torchvision dataset's config node gets wrong: a ``verify`` that is not a boolean, no
    ``root``, or (without ``download``) a ``root`` that is not a folder or lacks the files."""
    name = str(params["name"])
    root, download = params.get("root"), bool(params.get("download"))
    problems = []
    verify = params.get("verify", True)
    if not isinstance(verify, bool):
        problems.append(
            f"dataset.verify={verify!r} is not a boolean; set dataset.verify=true (check each file's published MD5 "
            "sum) or dataset.verify=false (read files that are not the published ones)."
        )
    if not root:
        problems.append(
            f"dataset {name!r} needs dataset.root: the folder holding (or, with dataset.download=true, to receive) "
            "its files; set dataset.root=... or the LANDSCAPE_BENCH_DATA environment variable."
        )
        return problems
    if download:
        return problems  # torchvision creates the folder and fetches what is missing
    path = Path(str(root)).expanduser()
    layout = expected_files(name, "<root>")[0].as_posix()
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        problems.append(
            f"dataset.root={str(root)!r} {what} (dataset {name!r}). Point dataset.root (or the "
            f"LANDSCAPE_BENCH_DATA environment variable) at the folder holding the files in torchvision's layout "
            f"({layout}, ...), or set dataset.download=true to fetch them into it."
        )
        return problems
    missing = [f for f in expected_files(name, path) if not f.is_file()]
    if missing and not all(f.is_file() for f in _legacy_files(name, path)):
        problems.append(
            f"dataset {name!r} not found under dataset.root={str(root)!r}: {len(missing)} file(s) missing, e.g. "
            f"{missing[0].as_posix()!r}. Put the files there in torchvision's layout ({layout}, ...), or set "
            "dataset.download=true to fetch them."
        )
    return problems


def _load(name: str, root: str, train: bool, download: bool) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        ds = source(name)(root=root, train=train, download=download)
    except RuntimeError as exc:
        raise ConfigError(
            f"dataset {name!r} not found under dataset.root={root!r}, or its files are damaged ({exc}). Put the "
            "published files there in torchvision's layout, or set dataset.download=true to fetch them."
        ) from None
    x = torch.as_tensor(np.asarray(ds.data))
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)  # (N, C, H, W)
    y = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
    return x.float().div(255.0).contiguous(), y


def _fetch_cifar10(root: str) -> None:
    """Download and extract the published CIFAR-10 archive into ``root`` (its MD5 sum checked by torchvision)."""
    from torchvision.datasets.utils import download_and_extract_archive

    cls = source("cifar10")
    download_and_extract_archive(cls.url, root, filename=cls.filename, md5=cls.tgz_md5)


def _load_cifar10(root: str, download: bool, verify: bool) -> tuple[torch.Tensor, ...]:
    """CIFAR-10's training and test images and labels under ``root``, read by
    :mod:`benchmark.data.cifar_batches`; with ``verify``, every file must have its published MD5 sum."""
    train, test, meta = published_cifar10(root)
    files = [*train, *test, meta]

    def check() -> tuple[list[Path], list[tuple[Path, str, str]]]:
        missing = [p for p, _ in files if not p.is_file()]
        return missing, (cifar_batches.md5_mismatches(files) if verify and not missing else [])

    missing, wrong = check()
    if download and (missing or wrong):
        _fetch_cifar10(root)
        missing, wrong = check()
    if missing:
        raise ConfigError(
            f"dataset 'cifar10' not found under dataset.root={root!r}: {missing[0]} is missing. Put the files "
            "there in torchvision's layout, or set dataset.download=true to fetch them."
        )
    if wrong:
        path, expected, actual = wrong[0]
        raise ConfigError(
            f"dataset 'cifar10': {path} is not the published file (MD5 {actual}, published {expected}; "
            f"{len(wrong)} of {len(files)} files differ), so it is damaged or not CIFAR-10's. Replace the files "
            "with the published ones (dataset.download=true fetches them), or set dataset.verify=false to read "
            "files that are not the published ones (a subset, your own batches; parsed as safely either way)."
        )
    cifar_batches.read_label_names(meta[0])
    return (*_batch_tensors([p for p, _ in train]), *_batch_tensors([p for p, _ in test]))


def _batch_tensors(paths: list[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    """The CIFAR-10 batch files ``paths``: images (N, 3, 32, 32) as float32 in [0, 1], labels as int64."""
    batch = cifar_batches.read_batches(paths)
    x = torch.as_tensor(np.ascontiguousarray(batch.images))
    return x.float().div(255.0).contiguous(), torch.as_tensor(batch.labels, dtype=torch.int64)


def _torchvision_split(
    name: str, root: str | None, download: bool, n_train: int | None, n_test: int | None, verify: bool
) -> Split:
    problems = config_problems({"name": name, "root": root, "download": download, "verify": verify})
    if problems:
        raise ConfigError(" ".join(problems))
    assert root is not None
    if name in PICKLED:
        x, y, x_test, y_test = _load_cifar10(root, download, verify)
    else:
        x, y = _load(name, root, True, download)
        x_test, y_test = _load(name, root, False, download)
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
        """The official train/test split; ``n_train``/``n_test`` keep the first examples of each.
        ``verify``: CIFAR-10's files must have their published MD5 sums (false: read other files in
        its layout, as safely); MNIST's files are not checked against MD5 sums."""
        return _torchvision_split(name, root, download, n_train, n_test, verify)

    loader.__name__ = name
    DATASETS.add(name, loader)
    CONFIG_CHECKS[name] = config_problems


for _name in SOURCES:
    _register(_name)
