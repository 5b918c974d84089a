"""Geometry of a function sampled on a grid around the trained weights (the centre node).

Coordinates are the landscape's axes (units of each direction). Non-finite nodes are left out of
every quantity, never filled.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np


def _radius_mask(axes: Sequence[np.ndarray], radius: float) -> tuple[np.ndarray, np.ndarray]:
    """``(coords (n_nodes, k), within)``: node coordinates and whether each lies within ``radius``
    (Euclidean, in axis units) of the centre."""
    mesh = np.meshgrid(*axes, indexing="ij")
    coords = np.stack([m.reshape(-1) for m in mesh], axis=1)
    return coords, np.linalg.norm(coords, axis=1) <= radius + 1e-12


def sharpness(values: np.ndarray, axes: Sequence[np.ndarray], radius: float) -> tuple[float, float]:
    """Keskar et al. (2017) sharpness on the grid: the largest increase over the centre value
    within ``radius``, absolute ``max L - L0`` and relative ``(max L - L0) / (1 + L0)`` (their
    eq. 3 without the factor 100; NaN when ``L0 <= -1``, where that ratio means nothing: it is
    made for losses, which are not negative). Nodes within the radius that are non-finite are left
    out."""
    _, within = _radius_mask(axes, radius)
    flat = values.reshape(-1)
    centre = float(values[tuple(len(a) // 2 for a in axes)])
    near = flat[within & np.isfinite(flat)]
    rise = float(near.max() - centre)
    return rise, rise / (1.0 + centre) if centre > -1.0 else math.nan


def flat_fraction(values: np.ndarray, tolerance: float) -> float:
    """Fraction of the valid nodes whose value is within ``tolerance * (1 + |L0|)`` of the centre
    value ``L0`` (a relative flatness threshold, so losses of different scale compare)."""
    centre = float(values[tuple(s // 2 for s in values.shape)])
    valid = np.isfinite(values)
    return float(np.mean(np.abs(values[valid] - centre) <= tolerance * (1.0 + abs(centre))))


def quadratic_fit(values: np.ndarray, axes: Sequence[np.ndarray], radius: float) -> np.ndarray:
    """Eigenvalues (ascending) of the symmetric ``Q`` of the least-squares fit
    ``L(x) ~ a + g.x + x^T Q x / 2`` over the valid nodes within ``radius``: the curvature of the
    landscape along its directions. ``ValueError`` when fewer nodes than coefficients remain."""
    coords, within = _radius_mask(axes, radius)
    flat = values.reshape(-1)
    keep = within & np.isfinite(flat)
    x, y = coords[keep], flat[keep]
    k = coords.shape[1]
    pairs = list(itertools.combinations_with_replacement(range(k), 2))
    design = np.column_stack([np.ones(len(x)), x, *[(0.5 if i == j else 1.0) * x[:, i] * x[:, j] for i, j in pairs]])
    if len(x) < design.shape[1]:
        raise ValueError(f"{len(x)} valid nodes within radius {radius} cannot fit {design.shape[1]} coefficients.")
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    Q = np.zeros((k, k))
    for (i, j), c in zip(pairs, coef[1 + k :], strict=True):
        Q[i, j] = Q[j, i] = c
    return np.linalg.eigvalsh(Q)
