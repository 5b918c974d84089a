"""MNIST-1D (Greydanus 2020), generated locally by ``mnist1d.data.make_dataset`` (no network).

The package's ``get_dataset`` downloads first and writes a pickle into the working directory;
it is never called here.
"""

from __future__ import annotations

import numpy as np
import torch

from benchmark.data.base import DATASETS, Split


@DATASETS.register("mnist1d")
def mnist1d(num_samples: int = 5000, train_split: float = 0.8, seed: int = 42) -> Split:
    """Sequences of length 40, shape (n, 1, 40); 10 classes; the package's own train/test split."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.train_split, args.seed = num_samples, train_split, seed
    d = make_dataset(args)
    x = torch.from_numpy(np.asarray(d["x"], dtype=np.float32)).unsqueeze(1)
    x_test = torch.from_numpy(np.asarray(d["x_test"], dtype=np.float32)).unsqueeze(1)
    y = torch.from_numpy(np.asarray(d["y"], dtype=np.int64))
    y_test = torch.from_numpy(np.asarray(d["y_test"], dtype=np.int64))
    return Split("mnist1d", x, y, x_test, y_test, n_classes=10)
