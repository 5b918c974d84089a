"""Sublevel-set persistence of a function sampled on a grid.

The grid is a cubical complex with values on vertices (gudhi ``CubicalComplex(vertices=...)``):
a vertex enters the sublevel filtration at its value, a higher cell at the maximum of its
vertices, so neighbours are the 2k axis neighbours (4 in 2-D). In dimension 0 the diagram is the
merge tree of the function: every local minimum starts a component; at a saddle the younger of two
components dies (elder rule), giving a finite pair (minimum value, saddle value); the global
minimum gives the one essential pair (birth, inf).

Masked (non-finite) vertices are removed from the complex: they enter at +inf, after every finite
value, so no finite pair involves them; a mask that cuts the grid in two leaves one essential
component per piece.
"""

from __future__ import annotations

import gudhi
import numpy as np


def sublevel_persistence(
    values: np.ndarray, valid: np.ndarray | None = None, include_diagonal: bool = False
) -> dict[int, np.ndarray]:
    """Persistence diagrams by dimension: ``{d: array (n_d, 2) of (birth, death)}``, ``d < values.ndim``.

    Pairs with zero persistence (a vertex that joins a lower component the moment it enters, ties)
    are reported only with ``include_diagonal=True``; essential pairs have death ``inf``.
    """
    values = np.asarray(values, dtype=np.float64)
    if valid is None:
        valid = np.isfinite(values)
    if valid.shape != values.shape:
        raise ValueError(f"mask shape {valid.shape} does not match grid shape {values.shape}.")
    diagrams = {d: np.empty((0, 2)) for d in range(values.ndim)}
    if not valid.any():
        return diagrams
    filtration = np.where(valid, values, np.inf)
    cc = gudhi.CubicalComplex(vertices=filtration)
    cc.compute_persistence(homology_coeff_field=2, min_persistence=-1.0 if include_diagonal else 0.0)
    for d in range(values.ndim):
        pairs = np.asarray(cc.persistence_intervals_in_dimension(d), dtype=np.float64).reshape(-1, 2)
        # the masked vertices themselves (born at +inf) carry no information about the function
        diagrams[d] = pairs[np.isfinite(pairs[:, 0])]
    return diagrams


def merge_tree_summary(h0: np.ndarray) -> dict[str, float]:
    """Counts and persistence statistics of the merge tree (H0 diagram).

    - ``n_minima``: number of H0 points = number of (strict, plateau-merged) local minima,
      one per component of the valid region included;
    - ``n_saddles``: finite H0 pairs = merge saddles;
    - ``persistence_total``, ``persistence_mean``, ``persistence_max``: over finite pairs only
      (the essential pair is excluded); 0 when there are none (a single basin).
    """
    h0 = np.asarray(h0, dtype=np.float64).reshape(-1, 2)
    finite = h0[np.isfinite(h0[:, 1])]
    pers = finite[:, 1] - finite[:, 0]
    return {
        "n_minima": float(len(h0)),
        "n_saddles": float(len(finite)),
        "persistence_total": float(pers.sum()),
        "persistence_mean": float(pers.mean()) if len(pers) else 0.0,
        "persistence_max": float(pers.max()) if len(pers) else 0.0,
    }
