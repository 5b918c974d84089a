"""Persistence of grids with known minima, saddles and persistence."""

from __future__ import annotations

import numpy as np

from benchmark.topology import merge_tree_summary, sublevel_persistence


def _sorted(d: np.ndarray) -> list[tuple[float, float]]:
    return sorted(map(tuple, d.tolist()))


def test_two_basins_one_saddle_exact():
    # minima 0 (top-left) and 1 (top-right) joined first through the saddle value 3
    grid = np.array(
        [
            [0.0, 3.0, 1.0],
            [5.0, 4.0, 2.0],
            [6.0, 7.0, 8.0],
        ]
    )
    h = sublevel_persistence(grid)
    assert _sorted(h[0]) == [(0.0, np.inf), (1.0, 3.0)]
    assert h[1].shape == (0, 2)
    s = merge_tree_summary(h[0])
    assert s == {
        "n_minima": 2.0,
        "n_saddles": 1.0,
        "persistence_total": 2.0,
        "persistence_mean": 2.0,
        "persistence_max": 2.0,
    }


def test_four_minima_known_pairs():
    # four wells of depths 0, -1, -2, -3 in the corners of a 5x5 plateau at 10, ridge at 10
    grid = np.full((5, 5), 10.0)
    grid[0, 0], grid[0, 4], grid[4, 0], grid[4, 4] = 0.0, -1.0, -2.0, -3.0
    grid[0, 1:4] = [6.0, 7.0, 5.0]  # top edge: wells (0,0) and (0,4) meet at 7
    grid[4, 1:4] = [4.0, 9.0, 4.0]  # bottom edge: wells (4,0) and (4,4) meet at 9
    h0 = sublevel_persistence(grid)[0]
    # elder rule: wells 0 and -1 meet at 7 and the younger (0) dies; -2 and -3 meet at 9 and -2
    # dies; the two halves meet at 10 where -1 dies; -3 lives forever.
    assert _sorted(h0) == [(-3.0, np.inf), (-2.0, 9.0), (-1.0, 10.0), (0.0, 7.0)]
    s = merge_tree_summary(h0)
    assert s["n_minima"] == 4 and s["n_saddles"] == 3
    assert s["persistence_total"] == 7.0 + 11.0 + 11.0
    assert s["persistence_max"] == 11.0


def test_single_basin_and_flat_grid():
    x = np.linspace(-1, 1, 11)
    bowl = x[:, None] ** 2 + x[None, :] ** 2
    s = merge_tree_summary(sublevel_persistence(bowl)[0])
    assert s["n_minima"] == 1 and s["n_saddles"] == 0 and s["persistence_max"] == 0.0
    flat = merge_tree_summary(sublevel_persistence(np.zeros((7, 7)))[0])
    assert flat["n_minima"] == 1 and flat["n_saddles"] == 0


def test_nan_cell_is_masked_not_filled():
    grid = np.array(
        [
            [0.0, 3.0, 1.0],
            [5.0, np.nan, 2.0],
            [6.0, 7.0, 8.0],
        ]
    )
    h = sublevel_persistence(grid)
    # the NaN vertex leaves the complex: same H0 as the grid without it, and a loop around the hole
    assert _sorted(h[0]) == [(0.0, np.inf), (1.0, 3.0)]
    assert np.isfinite(h[1][:, 0]).all()
    # a NaN wall splits the grid: two components that never merge, no invented saddle
    wall = np.array([[0.0, np.nan, 1.0], [2.0, np.nan, 3.0]])
    h0 = sublevel_persistence(wall)[0]
    assert _sorted(h0) == [(0.0, np.inf), (1.0, np.inf)]
    # the result must not depend on what a fill value would have been
    for fill in (-100.0, 0.5, 100.0):
        filled = wall.copy()
        filled[:, 1] = fill
        assert _sorted(sublevel_persistence(wall)[0]) != _sorted(sublevel_persistence(filled)[0])


def test_all_masked_gives_empty_diagrams():
    h = sublevel_persistence(np.full((3, 3), np.nan))
    assert all(d.shape == (0, 2) for d in h.values())


def test_count_of_minima_equals_local_minima_on_random_grids():
    rng = np.random.default_rng(0)
    for _ in range(20):
        g = rng.random((15, 15))
        p = np.pad(g, 1, constant_values=np.inf)
        is_min = (
            (g < p[:-2, 1:-1]) & (g < p[2:, 1:-1]) & (g < p[1:-1, :-2]) & (g < p[1:-1, 2:])
        )  # 4-neighbour strict local minima (values are distinct)
        s = merge_tree_summary(sublevel_persistence(g)[0])
        assert s["n_minima"] == is_min.sum()
        assert s["n_saddles"] == is_min.sum() - 1
