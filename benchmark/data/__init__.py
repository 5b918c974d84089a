"""Datasets: embedded (no network) and local (a user's files). ``DATASETS`` maps a name to a loader."""

from benchmark.data import convection as _convection  # noqa: F401  (registers "convection")
from benchmark.data import digits as _digits  # noqa: F401  (registers "digits")
from benchmark.data import mnist1d as _mnist1d  # noqa: F401  (registers "mnist1d")
from benchmark.data import tabular as _tabular  # noqa: F401  (wine, breast_cancer, iris, csv)
from benchmark.data import torchvision_sets as _torchvision  # noqa: F401  (mnist, fashion_mnist, cifar10)
from benchmark.data.base import DATASETS, Split, dataset_problems, load_dataset
from benchmark.data.identity import dataset_identity

__all__ = ["DATASETS", "Split", "dataset_identity", "dataset_problems", "load_dataset"]
