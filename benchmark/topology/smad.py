"""Saddle-minimum average distance (SMAD) of a function sampled on a grid (Landscaper).

SMAD is Landscaper's smoothness measure (Chen, Hadler, Xie et al. 2026, "Landscaper: Understanding
Loss Landscapes Through Multi-Dimensional Topological Analysis", arXiv:2602.07135): the mean value
gap between each minimum and the saddle it is paired with in a tree of the function. This module
reproduces what Landscaper 1.3.1 (``LossLandscape.smad``) computes, vertex for vertex, on the grid
graph with 2k axis neighbours (on a regular grid with equal spacing, the Gabriel graph Landscaper
builds over the sample points has exactly these edges), and offers two cleaner pairings:

- ``tree="landscaper"``: the contour tree as topopy 1.0.4 builds it for Landscaper. The join tree
  (of maxima) and split tree (of minima) are augmented with each other's nodes and pruned leaf by
  leaf (Carr, Snoeyink & Axen 2003), but in one pass: first every prunable leaf of the tree of
  maxima, then every prunable leaf of the tree of minima, never returning to the first. Nodes that
  become prunable only later are left out, so some minima may have no pair.
- ``tree="contour"``: the same pruning, alternating between the two trees until no leaf is
  prunable (the complete contour tree of the algorithm).
- ``tree="merge"``: the sublevel merge tree; every minimum is paired with the saddle where its
  component first merges with another one (the pairing of Landscaper's repository after 1.3.1).

In all three a pair is a tree edge between a minimum and a node that lies on at least two edges;
its gap is ``|f(saddle) - f(minimum)|``. With ``g_i`` the gaps of the ``n`` pairs, ``R`` = max - min
of ``f`` over the valid vertices and ``v_i`` the share of valid vertices in the minimum's
steepest-descent basin (:func:`benchmark.topology.merge_tree.descent_basins`):

    smad = mean_i g_i,   smad_normalized = mean_i g_i / R,   smad_weighted = mean_i g_i v_i.

Vertices are ordered by (value, flat index) (:func:`benchmark.topology.merge_tree.sos_rank`), so
ties are broken by index; topopy instead treats equal neighbours as unconnected (every vertex of a
plateau is a minimum of its merge tree), so the two agree on grids without tied values. Masked
vertices enter at +inf; a pair with a masked end is dropped.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from typing import Literal

import numpy as np

from benchmark.topology.merge_tree import descent_basins, neighbour_table, sos_rank

TREES = ("landscaper", "contour", "merge")
Tree = Literal["landscaper", "contour", "merge"]


def graph_merge_tree(rank: np.ndarray, table: np.ndarray) -> tuple[list[int], dict[int, int], dict[int, list[int]]]:
    """Merge tree of the vertex order ``rank`` on a graph, built as topopy's ``MergeTree`` builds it.

    ``rank``: flat int array, a permutation (rank 0 = lowest vertex); ``table``: (n, m) neighbour
    table with -1 for no neighbour. Vertices are swept in rank order with a union-find: a vertex with
    no lower neighbour starts a component (a minimum), one adjacent to several components merges
    them (a saddle), the last vertex is the root. Returns ``(nodes, parent, chain)``: the tree's
    nodes (minima, saddles, root) in sweep order; ``parent[node]`` = the node its arc goes up to;
    ``chain[node]`` = the regular vertices on that arc, in sweep order.
    """
    n = rank.size
    nb = table.tolist()
    rk = rank.tolist()
    uf = list(range(n))

    def find(x: int) -> int:
        while uf[x] != x:
            uf[x] = uf[uf[x]]
            x = uf[x]
        return x

    top: dict[int, int] = {}  # union-find root -> highest node of its component
    nodes: list[int] = []
    parent: dict[int, int] = {}
    chain: dict[int, list[int]] = {}
    order = np.argsort(rank).tolist()
    for v in order:
        comps = {find(k) for k in nb[v] if k >= 0 and rk[k] < rk[v]}
        if not comps:
            nodes.append(v)
            chain[v] = []
            top[v] = v
        elif len(comps) == 1:
            (c,) = comps
            uf[v] = c
            chain[top[c]].append(v)
        else:
            nodes.append(v)
            chain[v] = []
            for c in sorted(comps):
                parent[top[c]] = v
                uf[c] = v
            top[v] = v
    root = order[-1]
    highest = top[find(root)]
    if highest != root:
        nodes.append(root)
        chain[root] = []
        chain[highest] = [u for u in chain[highest] if u != root]
        parent[highest] = root
    return nodes, parent, chain


def _augmented(
    parent: dict[int, int], chain: dict[int, list[int]], keep: set[int], nodes: list[int]
) -> tuple[dict[int, int], dict[int, set[int]]]:
    """A tree whose arcs are split at the regular vertices in ``keep`` (topopy's short circuit).

    Returns ``(up, down)``: ``up[v]`` the next vertex towards the root, ``down[v]`` the set below.
    """
    up: dict[int, int] = {}
    down: dict[int, set[int]] = {v: set() for v in nodes}
    for child, par in parent.items():
        path = [child, *(u for u in chain[child] if u in keep), par]
        for a, b in itertools.pairwise(path):
            up[a] = b
            down.setdefault(a, set())
            down.setdefault(b, set()).add(a)
    return up, down


def _prune(
    this: tuple[dict[int, int], dict[int, set[int]]],
    that: tuple[dict[int, int], dict[int, set[int]]],
    rank: np.ndarray,
    edges: list[tuple[int, int]],
) -> int:
    """Move every prunable leaf of ``this`` into the contour tree ``edges`` (topopy's ``_process_tree``).

    A leaf of ``this`` is prunable when it has fewer than two children in ``that``; its arc becomes
    a contour-tree edge (lower vertex first), it leaves ``this``, and in ``that`` its parent and
    child are joined. Pruning never makes a prunable leaf unprunable, so the result does not depend
    on the order; leaves are taken by ascending index. Stops when ``this`` has one vertex left.
    Returns the number of leaves pruned.
    """
    t_up, t_down = this
    o_up, o_down = that

    def prunable(v: int) -> bool:
        return v in t_down and not t_down[v] and v in t_up and v in o_down and len(o_down[v]) < 2

    heap = [v for v in t_down if prunable(v)]
    heapq.heapify(heap)
    pruned = 0
    while heap and len(t_down) > 1:
        v = heapq.heappop(heap)
        if not prunable(v):
            continue
        p = t_up.pop(v)
        del t_down[v]
        t_down[p].discard(v)
        edges.append((v, p) if rank[v] < rank[p] else (p, v))
        pruned += 1
        end = o_up.pop(v, None)
        kids = o_down.pop(v)
        if end is None:  # v was a root of that: its children become roots
            for c in kids:
                del o_up[c]
        else:
            o_down[end].discard(v)
            for c in kids:  # at most one
                o_up[c] = end
                o_down[end].add(c)
        for u in (p, end):
            if u is not None and prunable(u):
                heapq.heappush(heap, u)
    return pruned


def contour_tree_edges(rank: np.ndarray, table: np.ndarray, alternate: bool = False) -> list[tuple[int, int]]:
    """Edges (lower vertex, upper vertex) of the contour tree of the vertex order ``rank`` on a graph.

    Carr, Snoeyink & Axen 2003 ("Computing contour trees in all dimensions"), as topopy's
    ``ContourTree`` (short circuit) runs it: the merge tree of maxima and the merge tree of minima,
    each split at the other's nodes, are pruned leaf by leaf. ``alternate=False`` is topopy's single
    pass (all prunable leaves of the tree of maxima, then all of the tree of minima);
    ``alternate=True`` repeats the two passes until neither prunes a leaf.
    """
    up_rank = rank.size - 1 - rank  # the same order, reversed: the sweep of the tree of maxima
    max_nodes, max_parent, max_chain = graph_merge_tree(up_rank, table)
    min_nodes, min_parent, min_chain = graph_merge_tree(rank, table)
    of_maxima = _augmented(max_parent, max_chain, set(min_nodes), max_nodes)
    of_minima = _augmented(min_parent, min_chain, set(max_nodes), min_nodes)
    edges: list[tuple[int, int]] = []
    while True:
        pruned = _prune(of_maxima, of_minima, rank, edges) + _prune(of_minima, of_maxima, rank, edges)
        if not alternate or not pruned:
            return edges


def saddle_minimum_pairs(values: np.ndarray, valid: np.ndarray, tree: Tree = "landscaper") -> list[tuple[int, int]]:
    """(minimum, saddle) pairs of flat vertex indices whose gaps SMAD averages (see the module docstring).

    ``values``, ``valid``: arrays of the grid's shape. A pair is an edge of the chosen tree between
    a local minimum of the steepest descent and a vertex on at least two edges of that tree; pairs
    with a masked vertex are dropped.
    """
    if tree not in TREES:
        raise ValueError(f"SMAD tree {tree!r} is unknown; use one of {list(TREES)}.")
    rank = sos_rank(values, valid)
    table = neighbour_table(np.shape(values))
    if tree == "merge":
        _, parent, _ = graph_merge_tree(rank, table)
        edges = list(parent.items())
    else:
        edges = contour_tree_edges(rank, table, alternate=tree == "contour")
    degree = Counter(v for e in edges for v in e)
    branches = {v for v, d in degree.items() if d >= 2}
    labels = descent_basins(values, valid)
    flat_valid = np.asarray(valid).ravel()
    pairs = []
    for a, b in edges:
        a_min, b_min = labels[a] == a, labels[b] == b
        if (a in branches and b_min) or (b in branches and a_min):
            m, s = (a, b) if a_min else (b, a)
            if flat_valid[m] and flat_valid[s]:
                pairs.append((m, s))
    return pairs


def saddle_minimum_average_distance(
    values: np.ndarray, valid: np.ndarray | None = None, tree: Tree = "landscaper"
) -> dict[str, float]:
    """SMAD and its range-normalised and basin-weighted variants (formulas in the module docstring).

    ``values``: grid of any dimension; ``valid``: mask of the same shape (default: finite values).
    Returns ``smad``, ``smad_normalized``, ``smad_weighted`` and ``n_pairs``; all 0 when there is no
    pair (Landscaper returns 0 when its tree has no branch, NaN when a branch has no minimum beside
    it), ``smad_normalized`` = 0 when the valid values are all equal.
    """
    values = np.asarray(values, dtype=np.float64)
    valid = np.isfinite(values) if valid is None else np.asarray(valid, dtype=bool)
    pairs = saddle_minimum_pairs(values, valid, tree)
    if not pairs:
        return {"smad": 0.0, "smad_normalized": 0.0, "smad_weighted": 0.0, "n_pairs": 0.0}
    flat = values.ravel()
    finite = flat[valid.ravel()]
    value_range = float(finite.max() - finite.min())
    labels = descent_basins(values, valid)
    sizes = Counter(labels[labels >= 0].tolist())
    n_valid = int(np.count_nonzero(valid))
    gaps = np.array([abs(flat[s] - flat[m]) for m, s in pairs])
    volumes = np.array([sizes[m] / n_valid for m, _ in pairs])
    return {
        "smad": float(np.mean(gaps)),
        "smad_normalized": float(np.mean(gaps / value_range)) if value_range > 0 else 0.0,
        "smad_weighted": float(np.mean(gaps * volumes)),
        "n_pairs": float(len(pairs)),
    }
