"""Merge trees, basins, SMAD, average persistence and higher homology on grids worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gudhi.representations import Entropy

from benchmark.descriptors import DescriptorInputs, build_descriptor
from benchmark.records import Landscape, ModelRecord
from benchmark.topology import (
    contour_tree_edges,
    descent_basins,
    finite_pair_statistics,
    neighbour_table,
    persistent_entropy,
    saddle_minimum_average_distance,
    saddle_minimum_pairs,
    sos_rank,
    sublevel_persistence,
)

MODEL = ModelRecord("m", "z", "classification", {}, "digits", {}, 0, "g", 0, {}, {})


def _features(name: str, values: np.ndarray, **params) -> dict[str, float]:
    axes = tuple(np.linspace(-1, 1, n) for n in values.shape)
    landscape = Landscape("m", "loss", axes, np.asarray(values, dtype=np.float64), (1.0,) * values.ndim, {})
    row = build_descriptor(name, params).compute(DescriptorInputs(model=MODEL, landscape=landscape))
    return row.values


def _entropy(lengths: list[float]) -> float:
    total = sum(lengths)
    return -sum(x / total * math.log(x / total) for x in lengths)


def _four_wells() -> np.ndarray:
    # wells 0, -1, -2, -3 in the corners of a plateau at 10; the top edge joins wells 0 and -1 at 7,
    # the bottom edge joins -2 and -3 at 9; the two halves meet at the plateau (10).
    w = np.full((5, 5), 10.0)
    w[0, 0], w[0, 4], w[4, 0], w[4, 4] = 0.0, -1.0, -2.0, -3.0
    w[0, 1:4] = [6.0, 7.0, 5.0]
    w[4, 1:4] = [4.0, 9.0, 4.0]
    return w


# Steepest-descent basins of the four wells (ties broken by the smaller flat index):
#   row 0: (0,1)=6 -> (0,0); (0,2)=7 -> (0,3)=5 -> (0,4); row 1 descends straight up to row 0;
#   row 2 (all 10, as are its row-1 and row-3 neighbours) goes to the row-1 node above it (the lowest
#   index among equals); row 3 descends to row 4; (4,1)=4 -> (4,0); (4,2)=9 has two neighbours at 4
#   and takes (4,1) (smaller index) -> (4,0); (4,3)=4 -> (4,4).
FOUR_WELLS_BASINS = np.array(
    [
        [0, 0, 4, 4, 4],
        [0, 0, 4, 4, 4],
        [0, 0, 4, 4, 4],
        [20, 20, 20, 24, 24],
        [20, 20, 20, 24, 24],
    ]
)


def test_sublevel_tree_four_wells_by_hand():
    f = _features("sublevel_tree", _four_wells(), thresholds=[0.5, 0.6, 0.9])
    # H0 (elder rule): (0, 7), (-2, 9), (-1, 10), (-3, inf) -> finite persistences 7, 11, 11
    # value range 10 - (-3) = 13: thresholds 6.5, 7.8, 11.7 leave 3, 2 and 0 saddles
    # basins: 6 nodes (well 0), 9 (well -1), 6 (well -2), 4 (well -3) of 25
    assert f["n_minima"] == 4 and f["n_saddles"] == 3
    assert (f["n_saddles_above_0.5"], f["n_saddles_above_0.6"], f["n_saddles_above_0.9"]) == (3, 2, 0)
    assert f["persistence_total"] == 29 and f["persistence_max"] == 11
    assert f["persistence_mean"] == pytest.approx(29 / 3)
    assert f["persistence_std"] == pytest.approx(math.sqrt(((7 - 29 / 3) ** 2 + 2 * (11 - 29 / 3) ** 2) / 3))
    assert f["persistence_entropy"] == pytest.approx(_entropy([7, 11, 11]))
    assert f["n_basins"] == 4 and f["basin_largest_fraction"] == pytest.approx(9 / 25)
    assert f["basin_entropy"] == pytest.approx(_entropy([6, 9, 6, 4]))
    np.testing.assert_array_equal(descent_basins(_four_wells(), np.ones((5, 5), bool)).reshape(5, 5), FOUR_WELLS_BASINS)


def test_superlevel_tree_is_the_sublevel_tree_of_the_negated_grid():
    w = _four_wells()
    sub = _features("sublevel_tree", w, thresholds=[0.5])
    sup = _features("superlevel_tree", -w, thresholds=[0.5])
    assert sup.pop("n_maxima") == sub.pop("n_minima") == 4
    assert sup == sub
    # the four wells have a single maximum region (the plateau): one ascent basin holding every node
    top = _features("superlevel_tree", w)
    assert top["n_maxima"] == 1 and top["n_saddles"] == 0 and top["persistence_entropy"] == 0
    assert top["n_basins"] == 1 and top["basin_largest_fraction"] == 1


def test_masked_node_leaves_the_basins():
    w = _four_wells()
    w[2, 2] = np.nan  # a plateau node of the basin of well -1 that no other node descends through
    f = _features("sublevel_tree", w)
    # basins 6, 8, 6, 4 of the 24 valid nodes
    assert f["n_basins"] == 4 and f["basin_largest_fraction"] == pytest.approx(8 / 24)
    assert f["basin_entropy"] == pytest.approx(_entropy([6, 8, 6, 4]))
    assert descent_basins(w, np.isfinite(w))[12] == -1


def test_flat_grid_is_one_basin_and_ranks_break_ties_by_index():
    flat = np.zeros((4, 4))
    np.testing.assert_array_equal(descent_basins(flat, np.ones_like(flat, bool)), np.zeros(16))
    # order (masked last, value, index): 1 (0.0), 4 (0.0), 0 (1.0), 2 (1.0), 3 (masked)
    rank = sos_rank(np.array([1.0, 0.0, 1.0, np.nan, 0.0]), np.array([1, 1, 1, 0, 1], bool))
    np.testing.assert_array_equal(rank, [2, 0, 3, 4, 1])
    f = _features("sublevel_tree", flat)
    assert f["n_minima"] == 1 and f["n_basins"] == 1 and f["basin_entropy"] == 0 and f["n_saddles_above_0.01"] == 0


def test_neighbour_table_is_2k_connectivity():
    table = neighbour_table((2, 3))
    # flat index i*3 + j; columns: back/forward along axis 0, back/forward along axis 1
    np.testing.assert_array_equal(table[0], [-1, 3, -1, 1])
    np.testing.assert_array_equal(table[4], [1, -1, 3, 5])
    assert neighbour_table((3, 3, 3)).shape == (27, 6)


def test_persistence_statistics_by_hand_and_entropy_as_gudhi():
    diagram = np.array([[0.0, np.inf], [1.0, 3.0], [2.0, 2.0], [0.5, 4.5]])  # essential and zero pairs left out
    s = finite_pair_statistics(diagram)
    assert s == {"count": 2, "total": 6, "mean": 3, "max": 4, "std": 1, "entropy": pytest.approx(_entropy([2, 4]))}
    assert finite_pair_statistics(np.empty((0, 2)))["entropy"] == 0
    rng = np.random.default_rng(0)
    births = rng.random(12)
    finite = np.stack([births, births + rng.random(12)], axis=1)
    assert persistent_entropy(finite[:, 1] - finite[:, 0]) == pytest.approx(
        Entropy(mode="scalar").fit_transform([finite])[0, 0], rel=1e-12
    )


# Two minima, one saddle (flat indices i*3 + j):
#   0 3 1        minima 0 (index 0) and 1 (index 2); they merge at 3 (index 1)
#   5 4 2        steepest descent: 1,3 -> 0; 6 -> 3 -> 0; 4 -> 5 -> 2; 7 -> 4; 8 -> 5
#   6 7 8        basins: {0, 1, 3, 6} (4 nodes) and {2, 4, 5, 7, 8} (5 nodes)
# Merge tree of minima: 0 -> 1, 2 -> 1, 1 -> 8 (root). Tree of maxima: one arc 8 -> 0 through every
# other vertex; split at the minima tree's nodes it is 8 -> 1 -> 2 -> 0. Pruning the tree of maxima
# takes leaf 8 (edge 1-8); pruning the tree of minima takes 0 (edge 0-1) and 2 (edge 2-1). Contour
# tree: 0-1, 2-1, 1-8; vertex 1 is the only branch. Pairs (0, 1) gap 3 and (2, 1) gap 2, in every tree.
TWO_MINIMA = np.array([[0.0, 3.0, 1.0], [5.0, 4.0, 2.0], [6.0, 7.0, 8.0]])

# One minimum (the centre, index 4), four corner maxima:
#   5 1 6        merge tree of minima: 4 -> 8 (no branch). Tree of maxima: 6 and 8 meet at 7 (value 4),
#   2 0 3        2 and 7 at 5 (value 3), 0 and 5 at 3 (value 2), then 3 -> 4 (root). Pruning it leaf by
#   7 4 8        leaf: 0-3, 2-5, 6-7, 8-7, 7-5, 5-3, 3-4. The minimum's contour arc goes up to vertex 3
# (value 2, where the contour around the minimum first touches the boundary and splits): one pair, gap 2.
ONE_MINIMUM = np.array([[5.0, 1.0, 6.0], [2.0, 0.0, 3.0], [7.0, 4.0, 8.0]])


@pytest.mark.parametrize("tree", ["landscaper", "contour", "merge"])
def test_smad_two_minima_by_hand(tree):
    assert saddle_minimum_pairs(TWO_MINIMA, np.ones((3, 3), bool), tree) == [(0, 1), (2, 1)]
    f = _features("smad", TWO_MINIMA, tree=tree)
    # gaps 3 and 2; range 8; basin shares 4/9 and 5/9
    assert f == {
        "smad": 2.5,
        "smad_normalized": pytest.approx((3 / 8 + 2 / 8) / 2),
        "smad_weighted": pytest.approx((3 * 4 / 9 + 2 * 5 / 9) / 2),
        "n_pairs": 2,
    }


def test_smad_one_minimum_by_hand():
    assert sorted(contour_tree_edges(sos_rank(ONE_MINIMUM, np.ones((3, 3), bool)), neighbour_table((3, 3)))) == sorted(
        [(3, 0), (5, 2), (7, 6), (7, 8), (5, 7), (3, 5), (4, 3)]
    )
    for tree in ("landscaper", "contour"):
        assert _features("smad", ONE_MINIMUM, tree=tree) == {
            "smad": 2.0,
            "smad_normalized": 2 / 8,
            "smad_weighted": 2.0,  # the basin is the whole grid
            "n_pairs": 1,
        }
    # the merge tree of a single basin has no branch: no pair
    assert _features("smad", ONE_MINIMUM, tree="merge") == dict.fromkeys(
        ["smad", "smad_normalized", "smad_weighted", "n_pairs"], 0.0
    )


def test_smad_masked_nodes_change_range_and_basins_not_pairs():
    # the masked corner (8) was the highest vertex anyway: same tree and pair (gap 2), but the range
    # of the valid values is 7 and the basin is the 8 valid nodes
    masked = ONE_MINIMUM.copy()
    masked[2, 2] = np.nan
    assert saddle_minimum_average_distance(masked) == {
        "smad": 2.0,
        "smad_normalized": 2 / 7,
        "smad_weighted": 2.0,
        "n_pairs": 1,
    }
    # masking the saddle of TWO_MINIMA (index 1): the minima now merge at index 3 (value 5) through
    # 0 - 3 and 2 - 5 - 4 - 3; basins {0, 3, 6} and {2, 4, 5, 7, 8} of the 8 valid nodes
    cut = TWO_MINIMA.copy()
    cut[0, 1] = np.nan
    assert saddle_minimum_pairs(cut, np.isfinite(cut), "merge") == [(0, 3), (2, 3)]
    assert saddle_minimum_average_distance(cut, tree="merge") == {
        "smad": 4.5,
        "smad_normalized": pytest.approx((5 / 8 + 4 / 8) / 2),
        "smad_weighted": pytest.approx((5 * 3 / 8 + 4 * 5 / 8) / 2),
        "n_pairs": 2,
    }


def test_smad_on_a_line():
    # 1-D: minima 0 and 1 meet at the top vertex 5, which is also the root: gaps 5 and 4 in every tree
    line = np.array([0.0, 5.0, 1.0])
    for tree in ("landscaper", "contour", "merge"):
        assert saddle_minimum_average_distance(line, tree=tree)["smad"] == 4.5


def test_one_pass_contour_tree_is_a_prefix_of_the_alternating_one():
    # Landscaper's pruning stops after one pass over each tree; alternating until nothing is
    # prunable completes the tree (edges = nodes - 1, every critical vertex on an edge)
    from scipy.ndimage import gaussian_filter

    strict = 0
    for seed in range(6):
        g = gaussian_filter(np.random.default_rng(seed).standard_normal((15, 15)), 0.8)
        valid = np.ones(g.shape, bool)
        rank, table = sos_rank(g, valid), neighbour_table(g.shape)
        one, full = contour_tree_edges(rank, table), contour_tree_edges(rank, table, alternate=True)
        assert full[: len(one)] == one
        vertices = {v for e in full for v in e}
        assert len(full) == len(vertices) - 1
        strict += len(one) < len(full)
        pairs = saddle_minimum_pairs(g, valid, "landscaper")
        assert set(pairs) <= set(saddle_minimum_pairs(g, valid, "contour"))
    assert strict > 0


def test_average_persistence_four_readings_by_hand():
    # H0 of TWO_MINIMA: (1, 3) and the essential (0, inf), its death read as the maximum 8;
    # 9 nodes - 2 points = 7 zero-persistence pairs
    f = _features("average_persistence", TWO_MINIMA)
    assert f == {
        "excl_essential": 2.0,
        "incl_essential": (2 + 8) / 2,
        "excl_essential_incl_diagonal": 2 / (1 + 7),
        "incl_essential_incl_diagonal": pytest.approx(10 / 9),
    }
    h0 = sublevel_persistence(TWO_MINIMA, include_diagonal=True)[0]
    assert np.count_nonzero(h0[:, 0] == h0[:, 1]) == 7
    # a masked wall: two essential pairs (0 and 1, deaths read as 3), no finite pair, 2 zero pairs
    wall = np.array([[0.0, np.nan, 1.0], [2.0, np.nan, 3.0]])
    assert _features("average_persistence", wall) == {
        "excl_essential": 0.0,
        "incl_essential": (3 + 2) / 2,
        "excl_essential_incl_diagonal": 0.0,
        "incl_essential_incl_diagonal": 5 / 4,
    }


def test_homology_loops_by_hand():
    # a ring 0..7 around a peak 9: the ring closes at 7 and is filled when the peak enters
    ring = np.array([[0.0, 1.0, 2.0], [7.0, 9.0, 3.0], [6.0, 5.0, 4.0]])
    f = _features("homology", ring, dims=[1, 2])
    assert (f["h1_count"], f["h1_essential"], f["h1_persistence_total"], f["h1_persistence_std"]) == (1, 0, 2, 0)
    assert f["h1_persistence_entropy"] == 0 and all(f[f"h2_{s}"] == 0 for s in ("count", "essential"))
    # two peaks (20, 21) in a 3x5 band: the right ring closes at 10 (vertex (2,2)), the left at 13
    # (vertex (1,0)); the peaks fill them: pairs (13, 20) and (10, 21), persistences 7 and 11
    band = np.array([[0.0, 1, 2, 3, 4], [13, 20, 5, 21, 6], [12, 11, 10, 9, 8]])
    f = _features("homology", band)
    assert (f["h1_count"], f["h1_persistence_total"], f["h1_persistence_max"], f["h1_persistence_std"]) == (
        2,
        18,
        11,
        2,
    )
    assert f["h1_persistence_entropy"] == pytest.approx(_entropy([7, 11]))
    # a masked centre: the ring never fills, one essential loop
    hole = ring.copy()
    hole[1, 1] = np.nan
    f = _features("homology", hole)
    assert f["h1_count"] == 0 and f["h1_essential"] == 1


def test_homology_voids_in_3d_and_names_independent_of_dimension():
    # a 3x3x3 shell (values 0..25 in a seeded order) around a centre at 100: the void closes when
    # the last shell vertex (25) enters and is filled at 100
    cube = np.empty((3, 3, 3))
    shell = np.ones((3, 3, 3), bool)
    shell[1, 1, 1] = False
    cube[shell] = np.random.default_rng(0).permutation(26)
    cube[1, 1, 1] = 100.0
    f = _features("homology", cube)
    assert (f["h2_count"], f["h2_persistence_max"], f["h3_count"]) == (1, 75, 0)
    line = _features("homology", np.array([0.0, 2.0, 1.0]))
    assert set(line) == set(f) and all(v == 0 for v in line.values())


def test_bad_parameters_name_the_parameter_and_the_fix():
    with pytest.raises(ValueError, match=r"thresholds=\[-0.1\] must be a list .* e.g. thresholds=\[0.01"):
        _features("sublevel_tree", TWO_MINIMA, thresholds=[-0.1])
    with pytest.raises(ValueError, match=r"dims=\[0\] must be a list of homology dimensions >= 1"):
        _features("homology", TWO_MINIMA, dims=[0])
    with pytest.raises(
        ValueError, match=r"SMAD tree 'nope' is unknown; use one of \['landscaper', 'contour', 'merge'\]"
    ):
        _features("smad", TWO_MINIMA, tree="nope")
