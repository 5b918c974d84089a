"""scikit-learn's 8x8 digits (1797 images, ships inside scikit-learn: no network)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from benchmark.data.base import DATASETS, Split


@DATASETS.register("digits")
def digits(test_fraction: float = 0.3, split_seed: int = 0, flatten: bool = True) -> Split:
    """Digits scaled to [0, 1], split by a seeded permutation stratified by nothing but the seed.

    Shapes: flat (n, 64) when ``flatten`` else (n, 1, 8, 8).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"dataset.test_fraction={test_fraction} is out of range; use a value in (0, 1).")
    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int64)
    perm = np.random.default_rng(split_seed).permutation(len(x))
    n_test = round(test_fraction * len(x))
    test, train = perm[:n_test], perm[n_test:]
    shape = (-1, 64) if flatten else (-1, 1, 8, 8)
    return Split(
        name="digits",
        x_train=torch.from_numpy(x[train].reshape(shape)),
        y_train=torch.from_numpy(y[train]),
        x_test=torch.from_numpy(x[test].reshape(shape)),
        y_test=torch.from_numpy(y[test]),
        n_classes=10,
    )
