"""Merge-tree summaries of a function sampled on a grid: persistence statistics and descent basins.

The persistence pairs come from :func:`benchmark.topology.persistence.sublevel_persistence` (gudhi,
values on vertices, 2k axis neighbours). This module adds what the diagram alone does not give:

- statistics of a diagram's finite pairs (count, total, mean, max, standard deviation, persistent
  entropy) and counts of pairs above a share of the value range;
- the steepest-descent basin of every vertex, on the same 2k-neighbour grid graph.

Ties are broken by *simulation of simplicity* (Edelsbrunner & Mücke 1990): vertices are ordered by
(value, flat C-order index), so "lower" is always strict. Masked (non-finite) vertices come after
every finite value, as in the persistence computation, so no finite vertex ever descends into one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def neighbour_table(shape: tuple[int, ...]) -> np.ndarray:
    """Flat indices of the 2k axis neighbours of every vertex of a grid of ``shape``.

    Returns an int array of shape ``(prod(shape), 2 * len(shape))``; column ``2a`` is the neighbour
    one step back along axis ``a``, column ``2a + 1`` one step forward; -1 where the grid ends.
    """
    idx = np.arange(int(np.prod(shape))).reshape(shape)
    table = np.full((idx.size, 2 * len(shape)), -1, dtype=np.int64)
    for axis in range(len(shape)):
        back = np.full(shape, -1, dtype=np.int64)
        fwd = np.full(shape, -1, dtype=np.int64)
        lo = [slice(None)] * len(shape)
        hi = [slice(None)] * len(shape)
        lo[axis], hi[axis] = slice(None, -1), slice(1, None)
        back[tuple(hi)] = idx[tuple(lo)]
        fwd[tuple(lo)] = idx[tuple(hi)]
        table[:, 2 * axis] = back.ravel()
        table[:, 2 * axis + 1] = fwd.ravel()
    return table


def sos_rank(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Position of every vertex in the order (value, flat index), masked vertices last.

    ``values`` and ``valid`` have the grid's shape; returns a flat int array of length ``values.size``
    holding a permutation of ``0 .. size-1`` (rank 0 = the lowest vertex).
    """
    key = np.where(valid, np.asarray(values, dtype=np.float64), np.inf).ravel()
    masked = ~np.asarray(valid).ravel()
    order = np.lexsort((np.arange(key.size), key, masked))
    rank = np.empty(key.size, dtype=np.int64)
    rank[order] = np.arange(key.size)
    return rank


def descent_basins(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Steepest-descent basin of every vertex, labelled by the flat index of its minimum.

    Each vertex points to the lowest of itself and its 2k axis neighbours in the order of
    :func:`sos_rank` (the largest drop; on a grid with equal spacing along every axis this is the
    steepest descent); following the pointers ends at a local minimum, the vertex's label. Returns
    a flat int array of length ``values.size``; masked vertices get -1 and never enter a finite
    vertex's path (they rank above every finite value).
    """
    rank = sos_rank(values, valid)
    table = neighbour_table(np.shape(values))
    candidates = np.concatenate([np.arange(rank.size)[:, None], table], axis=1)
    cand_rank = np.where(candidates >= 0, rank[np.maximum(candidates, 0)], rank.size)
    nxt = candidates[np.arange(rank.size), np.argmin(cand_rank, axis=1)]
    while True:  # pointer jumping: log(path length) rounds
        jumped = nxt[nxt]
        if np.array_equal(jumped, nxt):
            break
        nxt = jumped
    return np.where(np.asarray(valid).ravel(), nxt, -1)


def basin_summary(labels: np.ndarray) -> dict[str, float]:
    """Count, largest share and entropy of the basins of a labelling (``-1`` = masked, ignored).

    ``labels``: int array (any shape). With ``f_b`` the share of labelled vertices in basin ``b``:
    ``n_basins`` = number of basins, ``basin_largest_fraction`` = max_b f_b,
    ``basin_entropy`` = -sum_b f_b ln f_b (nats; 0 for a single basin).
    """
    labels = np.asarray(labels).ravel()
    _, counts = np.unique(labels[labels >= 0], return_counts=True)
    if not len(counts):
        return {"n_basins": 0.0, "basin_largest_fraction": 0.0, "basin_entropy": 0.0}
    f = counts / counts.sum()
    return {
        "n_basins": float(len(counts)),
        "basin_largest_fraction": float(f.max()),
        "basin_entropy": float(-(f * np.log(f)).sum()),
    }


def persistent_entropy(lengths: np.ndarray) -> float:
    """Persistent entropy ``-sum_i p_i ln p_i``, ``p_i = l_i / sum_j l_j`` of positive bar lengths ``l`` (shape (n,)).

    Chintakunta et al. 2015, "An entropy-based persistence barcode"; stability: Atienza et al. 2020,
    "On the stability of persistent entropy and new summary functions for topological data analysis".
    0 for no bar or a single bar. The same value as ``gudhi.representations.Entropy(mode="scalar")``.
    """
    lengths = np.asarray(lengths, dtype=np.float64)
    lengths = lengths[lengths > 0]
    if len(lengths) < 2:
        return 0.0
    p = lengths / lengths.sum()
    return float(-(p * np.log(p)).sum())


def finite_pair_statistics(diagram: np.ndarray) -> dict[str, float]:
    """Statistics of the finite pairs of a diagram (array (n, 2) of (birth, death)).

    Essential pairs (death = inf) and zero-length pairs are excluded. With ``l_i = death_i - birth_i``
    over the remaining pairs: ``count``, ``total`` (sum), ``mean``, ``max``, ``std`` (population,
    ddof=0) and ``entropy`` (:func:`persistent_entropy`); all 0 when there is no such pair.
    """
    d = np.asarray(diagram, dtype=np.float64).reshape(-1, 2)
    lengths = d[:, 1] - d[:, 0]
    lengths = lengths[np.isfinite(lengths) & (lengths > 0)]
    if not len(lengths):
        return dict.fromkeys(("count", "total", "mean", "max", "std", "entropy"), 0.0)
    return {
        "count": float(len(lengths)),
        "total": float(lengths.sum()),
        "mean": float(lengths.mean()),
        "max": float(lengths.max()),
        "std": float(lengths.std()),
        "entropy": persistent_entropy(lengths),
    }


def count_above(diagram: np.ndarray, value_range: float, thresholds: Sequence[float]) -> list[float]:
    """For each ``t`` in ``thresholds``: number of finite pairs with ``death - birth > t * value_range``.

    ``diagram``: array (n, 2); ``value_range``: max - min of the function over the valid vertices.
    """
    d = np.asarray(diagram, dtype=np.float64).reshape(-1, 2)
    lengths = d[:, 1] - d[:, 0]
    lengths = lengths[np.isfinite(lengths)]
    return [float(np.count_nonzero(lengths > t * value_range)) for t in thresholds]
