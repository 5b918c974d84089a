"""MNIST, Fashion-MNIST and CIFAR-10 through torchvision, from a local folder.

Files are read from ``root`` in torchvision's layout (``root/MNIST/raw/…``,
``root/FashionMNIST/raw/…``, ``root/cifar-10-batches-py/…``). Downloading is an explicit opt-in
(``download: true``); without it, a ``root`` that does not exist or lacks the files is a
``ConfigError`` (found during validation, before any work, by :func:`config_problems`) that says
where the files belong.

torchvision reads CIFAR-10 by unpickling its batch files, and unpickling a crafted file runs
arbitrary code. It checks each file against its published MD5 sum first, so only the published
files are ever unpickled; ``verify: false``, which skipped that check, is refused for these
pickle-based sets (:data:`PICKLED`). MNIST's IDX files are parsed, never unpickled.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmark.data.base import CONFIG_CHECKS, DATASETS, Split
from benchmark.errors import ConfigError

SOURCES = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST", "cifar10": "CIFAR10"}
"""The ``torchvision.datasets`` class of each set, by name (see :func:`source`)."""
PICKLED = frozenset({"cifar10"})
"""Sets whose torchvision reader unpickles the files under ``root``: ``verify: false`` is refused."""


def source(name: str) -> type:
    """The ``torchvision.datasets`` class of set ``name``. torchvision is imported here, on first
    use, not with the package: it takes seconds, which every command would otherwise pay."""
    from torchvision import datasets

    return getattr(datasets, SOURCES[name])


def expected_files(name: str, root: str | Path) -> list[Path]:
    """The files torchvision reads for dataset ``name`` under ``root`` (both splits)."""
    cls, root = source(name), Path(root)
    if name == "cifar10":
        folder = root / cls.base_folder
        return [folder / f for f, _ in cls.train_list + cls.test_list] + [folder / cls.meta["filename"]]
    raw = root / cls.__name__ / "raw"
    return [raw / Path(url).name.removesuffix(".gz") for url, _ in cls.resources]


def _legacy_files(name: str, root: str | Path) -> list[Path]:
    """MNIST's older processed layout, which torchvision still reads (``root/MNIST/processed/*.pt``)."""
    cls = source(name)
    if name == "cifar10":
        return []
    processed = Path(root) / cls.__name__ / "processed"
    return [processed / cls.training_file, processed / cls.test_file]


def config_problems(params: Mapping[str, Any]) -> list[str]:
    """What a torchvision dataset's config node gets wrong: ``verify: false`` for a pickle-based
    set, no ``root``, or (without ``download``) a ``root`` that is not a folder or lacks the files."""
    name = str(params["name"])
    root, download = params.get("root"), bool(params.get("download"))
    problems = []
    verify = params.get("verify", True)
    if name in PICKLED and verify is not True:
        shown = str(verify).lower() if isinstance(verify, bool) else repr(verify)
        problems.append(
            f"dataset.verify={shown} is refused for dataset {name!r}: torchvision reads it by "
            "unpickling the files under dataset.root, and unpickling a file that is not the published one can run "
            "arbitrary code. Set dataset.verify=true: each file's published MD5 sum is then checked before it is "
            "read (replace files that fail it with the published ones, or set dataset.download=true)."
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


def _torchvision_split(
    name: str, root: str | None, download: bool, n_train: int | None, n_test: int | None, verify: bool
) -> Split:
    problems = config_problems({"name": name, "root": root, "download": download, "verify": verify})
    if problems:
        raise ConfigError(" ".join(problems))
    assert root is not None
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
        ``verify`` must stay true for pickle-based sets (:data:`PICKLED`); MNIST's files are not
        checked against MD5 sums (they are parsed, never unpickled)."""
        return _torchvision_split(name, root, download, n_train, n_test, verify)

    loader.__name__ = name
    DATASETS.add(name, loader)
    CONFIG_CHECKS[name] = config_problems


for _name in SOURCES:
    _register(_name)
