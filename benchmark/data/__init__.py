"""Datasets: embedded (no network) and local. ``DATASETS`` maps a name to a loader."""

from benchmark.data import digits as _digits  # noqa: F401  (registers "digits")
from benchmark.data.base import DATASETS, Split, load_dataset

__all__ = ["DATASETS", "Split", "load_dataset"]
