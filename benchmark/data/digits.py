"""scikit-learn's 8x8 digits (1797 images, ships inside scikit-learn: no network)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.datasets import load_digits

from benchmark.data.base import DATASETS, Split


@DATASETS.register("digits")
def digits(test_fraction: float = 0.3, split_seed: int = 0, image_size: int = 8) -> Split:
    """Digits scaled to [0, 1], shape (n, 1, image_size, image_size), split by a seeded permutation.

    ``image_size > 8`` upsamples bilinearly (for architectures that need larger inputs, e.g. timm).
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"dataset.test_fraction={test_fraction} is out of range; use a value in (0, 1).")
    if image_size < 8:
        raise ValueError(f"dataset.image_size={image_size} is below the native 8; use 8 or more.")
    bunch = load_digits()
    x = torch.from_numpy((bunch.data / 16.0).astype(np.float32)).reshape(-1, 1, 8, 8)
    if image_size != 8:
        x = torch.nn.functional.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False)
    y = torch.from_numpy(bunch.target.astype(np.int64))
    perm = torch.from_numpy(np.random.default_rng(split_seed).permutation(len(x)))
    n_test = round(test_fraction * len(x))
    test, train = perm[:n_test], perm[n_test:]
    return Split("digits", x[train].contiguous(), y[train], x[test].contiguous(), y[test], n_classes=10)
