"""What the topological descriptors share: the landscape's grid with its mask, checked once."""

from __future__ import annotations

import numpy as np

from benchmark.descriptors.base import DescriptorInputs, UndefinedFeatureError


def landscape_grid(inputs: DescriptorInputs) -> tuple[np.ndarray, np.ndarray]:
    """``(values, valid)`` of the landscape (both of the grid's shape; masked values set to NaN, copies).

    Raises :class:`UndefinedFeatureError` when no node is finite.
    """
    ls = inputs.landscape
    assert ls is not None
    valid = np.asarray(ls.valid, dtype=bool).copy()
    if not valid.any():
        raise UndefinedFeatureError(f"all {ls.values.size} landscape nodes are non-finite")
    values = np.where(valid, np.asarray(ls.values, dtype=np.float64), np.nan)
    return values, valid
