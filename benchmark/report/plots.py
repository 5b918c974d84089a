"""Plots next to a leaderboard: score bars, feature-vs-target scatter, a gallery of landscapes.

Each ``*_figure`` function is pure: it takes arrays, frames or records and returns a matplotlib
:class:`~matplotlib.figure.Figure` drawn on the Agg canvas (no pyplot, no global state, no
display). :func:`write_run_plots` saves the three figures of a run as
``<dir>/<name>.scores.png``, ``<name>.scatter.png`` and ``<name>.gallery.png``.
"""

from __future__ import annotations

import math
import os
import tempfile
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from benchmark.records import Landscape, ModelRecord
from benchmark.report.overall import SCORES, best_per_cell
from benchmark.topology import sublevel_persistence

KIND_COLORS = {
    "topology": "#1f77b4",
    "curvature": "#ff7f0e",
    "combination": "#2ca02c",
    "geometry": "#9467bd",
    "baseline": "#7f7f7f",
    "reference": "#bcbd22",
}
OTHER_COLORS = ("#8c564b", "#e377c2", "#17becf", "#d62728")
GALLERY_SIZE = 4
BOUNDED_ABOVE_BY_ONE = ("r2", "spearman", "kendall")


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def kind_colors(kinds: Sequence[str]) -> dict[str, str]:
    """A colour per feature-set kind: fixed for the built-in kinds, then a cycle in name order."""
    others = sorted(k for k in set(kinds) if k not in KIND_COLORS)
    return {**KIND_COLORS, **{k: OTHER_COLORS[i % len(OTHER_COLORS)] for i, k in enumerate(others)}}


def score_bars_figure(frame: pd.DataFrame, metrics: Sequence[str] = ("spearman", "r2"), title: str = "") -> Figure:
    """Horizontal bars of each feature set's score with its interval, one panel per (metric, zoo/target).

    ``frame`` is a leaderboard (columns ``zoo``, ``target``, ``feature_set``, ``kind``,
    ``regressor`` and ``<metric>_value``/``_ci_low``/``_ci_high``). Each feature set is drawn
    with its best regressor for that metric (named in the label); undefined scores (NaN) are left
    out. Rows are panels of one metric, columns the (zoo, target) cells; the dashed line marks the
    ``constant`` baseline where it has a score. Intervals of R2 and rank correlations reaching
    below -1 (or below the lowest score) are cut there and marked ◂. Returns
    ``len(metrics) x cells`` axes.
    """
    rows = frame.copy()
    for optional in ("protocol", "settings"):
        rows[optional] = rows[optional].fillna("").astype(str) if optional in rows else ""
    cells = sorted(set(rows[["zoo", "target"]].itertuples(index=False, name=None)))
    colors = kind_colors(list(rows["kind"].astype(str)))
    height = max(2.0, 0.22 * rows["feature_set"].nunique() + 1.0)
    fig = _figure(4.2 * len(cells), height * len(metrics) + 0.6)
    grid = fig.subplots(len(metrics), len(cells), squeeze=False)
    for i, metric in enumerate(metrics):
        name, higher = SCORES.get(metric, (metric, True))
        best = best_per_cell(rows, metric) if metric in SCORES else rows[rows[f"{metric}_value"].notna()]
        for j, (zoo, target) in enumerate(cells):
            ax = grid[i][j]
            here = best[(best["zoo"] == zoo) & (best["target"] == target)]
            here = here.sort_values(f"{metric}_value", ascending=higher, kind="mergesort")
            ax.set_title(f"{zoo}: {target}", fontsize=8)
            ax.set_xlabel(f"{name} {'↑' if higher else '↓'}", fontsize=8)
            ax.tick_params(labelsize=7)
            if here.empty:
                ax.text(0.5, 0.5, "no defined scores", ha="center", va="center", transform=ax.transAxes, fontsize=8)
                continue
            value = here[f"{metric}_value"].to_numpy(float)
            low = here[f"{metric}_ci_low"].to_numpy(float)
            high = here[f"{metric}_ci_high"].to_numpy(float)
            floor = _axis_floor(value, low) if metric in BOUNDED_ABOVE_BY_ONE else -math.inf
            clipped = np.isfinite(low) & (low < floor)
            low = np.where(clipped, floor, low)
            err = np.vstack([value - low, high - value])
            err = np.where(np.isfinite(err), np.maximum(err, 0.0), 0.0)
            y = np.arange(len(here))
            kinds = here["kind"].astype(str).tolist()
            ax.barh(
                y,
                value,
                xerr=err,
                color=[colors[k] for k in kinds],
                hatch=["//" if k == "reference" else "" for k in kinds],
                edgecolor="black",
                linewidth=0.4,
                error_kw={"elinewidth": 0.8, "capsize": 2},
            )
            labels = [
                f"{f}{f' [{s}]' if s else ''} ({r})"
                for f, s, r in zip(here["feature_set"], here["settings"], here["regressor"], strict=True)
            ]
            ax.set_yticks(y, labels, fontsize=7)
            if clipped.any():
                ax.plot(low[clipped], y[clipped], marker="<", linestyle="none", color="black", markersize=4)
                ax.set_xlim(left=floor - 0.05 * (1.0 - floor))
            ax.axvline(0.0, color="black", linewidth=0.6)
            constant = here.loc[here["feature_set"] == "constant", f"{metric}_value"]
            if len(constant):
                ax.axvline(float(constant.iloc[0]), color="black", linestyle="--", linewidth=0.8)
    present = sorted(set(rows["kind"].astype(str)))
    handles = [Patch(facecolor=colors[k], edgecolor="black", hatch="//" if k == "reference" else "") for k in present]
    fig.legend(handles, present, loc="outside lower center", ncols=len(present), fontsize=7, frameon=False)
    fig.suptitle(title or "scores: best regressor per feature set, 95% group-bootstrap interval", fontsize=9)
    return fig


def _axis_floor(value: np.ndarray, low: np.ndarray) -> float:
    """Left end of a score axis whose scores are at most 1 (R2, correlations): intervals reaching
    below -1 (or below the lowest score, when that is lower) are cut there and marked."""
    finite = value[np.isfinite(value)]
    return float(min(-1.0, finite.min() if finite.size else -1.0))


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rho of the finite pairs; NaN with fewer than 3 pairs or a constant side."""
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    rx = pd.Series(x).rank().to_numpy()
    ry = pd.Series(y).rank().to_numpy()
    return float(np.corrcoef(rx, ry)[0, 1])


def best_features(features: pd.DataFrame, target: pd.Series) -> dict[str, tuple[str, float]]:
    """Per descriptor, its feature with the largest |Spearman rho| with ``target``: ``(column, rho)``.

    ``features`` has columns ``<descriptor>__<feature>`` and is aligned with ``target`` by index.
    A descriptor none of whose features varies maps to ``("", nan)``. The choice is made on the
    whole zoo (in sample): it picks what to draw, it is not a score.
    """
    y = target.reindex(features.index).to_numpy(float)
    out: dict[str, tuple[str, float]] = {}
    for column in features.columns:
        descriptor = column.split("__", 1)[0]
        rho = _spearman(features[column].to_numpy(float), y)
        current = out.get(descriptor, ("", math.nan))
        if not math.isnan(rho) and (math.isnan(current[1]) or abs(rho) > abs(current[1])):
            current = (column, rho)
        out[descriptor] = current
    return out


def feature_scatter_figure(features: pd.DataFrame, targets: pd.DataFrame, title: str = "") -> Figure:
    """Each descriptor's best feature (see :func:`best_features`) against each target.

    ``features``: one row per model (index ``model_id``), columns ``<descriptor>__<feature>``;
    ``targets``: one row per model (same index), one column per target. Returns
    ``len(targets.columns) x descriptors`` axes (rows: targets; columns: descriptors).
    """
    descriptors = list(dict.fromkeys(c.split("__", 1)[0] for c in features.columns))
    fig = _figure(2.6 * max(1, len(descriptors)), 2.4 * len(targets.columns) + 0.4)
    grid = fig.subplots(len(targets.columns), max(1, len(descriptors)), squeeze=False)
    for i, target in enumerate(targets.columns):
        y = targets[target].reindex(features.index).to_numpy(float)
        chosen = best_features(features, targets[target])
        for j, descriptor in enumerate(descriptors):
            ax = grid[i][j]
            ax.tick_params(labelsize=7)
            ax.set_ylabel(target if j == 0 else "", fontsize=8)
            column, rho = chosen[descriptor]
            if not column:
                ax.set_title(descriptor, fontsize=8)
                ax.text(0.5, 0.5, "no feature varies", ha="center", va="center", transform=ax.transAxes, fontsize=8)
                continue
            x = features[column].to_numpy(float)
            ax.scatter(x, y, s=10, alpha=0.7, color="#1f77b4", edgecolors="none")
            ax.set_title(f"{descriptor}\n{column.split('__', 1)[1]} (ρ = {rho:.2f})", fontsize=8)
            ax.set_xlabel(column.split("__", 1)[1], fontsize=7)
    fig.suptitle(title or "each descriptor's feature most rank-correlated with the target (in sample)", fontsize=9)
    return fig


def spanning_models(values: Sequence[float], n: int = GALLERY_SIZE) -> list[int]:
    """Indices of at most ``n`` models with finite values, evenly spread over their sorted order
    (lowest and highest included), in increasing order of value."""
    values = np.asarray(values, dtype=float)
    finite = np.flatnonzero(np.isfinite(values))
    if len(finite) == 0 or n <= 0:
        return []
    order = finite[np.argsort(values[finite], kind="mergesort")]
    picks = np.unique(np.round(np.linspace(0, len(order) - 1, min(n, len(order)))).astype(int))
    return [int(order[p]) for p in picks]


def _central_slice(landscape: Landscape) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """The landscape's values on its first two axes (or one), through the centre of the others."""
    keep = min(2, landscape.ndim)
    index = tuple(slice(None) if d < keep else len(a) // 2 for d, a in enumerate(landscape.axes))
    return landscape.values[index], landscape.axes[:keep]


def _draw_diagram(ax: Axes, h0: np.ndarray, values: np.ndarray) -> None:
    finite = h0[np.isfinite(h0[:, 1])]
    essential = h0[~np.isfinite(h0[:, 1])]
    valid = values[np.isfinite(values)]
    lo = float(valid.min()) if valid.size else 0.0
    hi = float(valid.max()) if valid.size else 1.0
    span = hi - lo or 1.0
    top = hi + 0.08 * span
    ax.plot([lo, top], [lo, top], color="black", linewidth=0.6)
    ax.axhline(top, color="grey", linestyle=":", linewidth=0.6)
    ax.scatter(finite[:, 0], finite[:, 1], s=12, color="#1f77b4", label="finite pair")
    ax.scatter(essential[:, 0], np.full(len(essential), top), s=18, marker="^", color="#d62728", label="essential")
    ax.set_xlim(lo - 0.05 * span, top + 0.05 * span)
    ax.set_ylim(lo - 0.05 * span, top + 0.05 * span)
    ax.set_xlabel("birth", fontsize=7)
    ax.set_ylabel("death (▲ = ∞)", fontsize=7)
    ax.set_title(f"H0: {len(finite)} finite pair(s)", fontsize=8)


def landscape_gallery_figure(
    landscapes: Sequence[Landscape], values: Sequence[float], target: str, n: int = GALLERY_SIZE, title: str = ""
) -> Figure:
    """A few landscapes spanning the range of ``target`` (see :func:`spanning_models`), each over
    its sublevel-set H0 persistence diagram.

    ``values[i]`` is the target of the model of ``landscapes[i]``. Top row: the landscape (contour
    of a 2-D grid, curve of a 1-D grid, the central 2-D slice of a larger one), + marking the
    trained weights; bottom row: the H0 diagram of the whole grid
    (:func:`benchmark.topology.sublevel_persistence`, masked nodes left out), essential pairs drawn
    at the top. Returns ``2 x k`` axes, k = number of models shown (at least one panel pair).
    """
    if len(landscapes) != len(values):
        raise ValueError(f"{len(landscapes)} landscapes but {len(values)} target values; give one value per landscape.")
    picks = spanning_models(values, n)
    fig = _figure(2.8 * max(1, len(picks)), 5.6)
    grid = fig.subplots(2, max(1, len(picks)), squeeze=False)
    if not picks:
        for ax in grid[:, 0]:
            ax.text(0.5, 0.5, f"no model with a finite {target}", ha="center", va="center", transform=ax.transAxes)
    for j, i in enumerate(picks):
        ls = landscapes[i]
        top, bottom = grid[0][j], grid[1][j]
        z, axes = _central_slice(ls)
        if len(axes) == 2:
            masked = np.ma.masked_invalid(z.T)
            if masked.count() > 1 and np.ptp(masked.compressed()) > 0:
                top.contourf(axes[0], axes[1], masked, levels=14, cmap="viridis")
            else:
                top.pcolormesh(axes[0], axes[1], masked, cmap="viridis", shading="nearest")
            top.plot([0.0], [0.0], marker="+", color="white", markersize=9)
            top.set_ylabel("direction 2", fontsize=7)
        else:
            top.plot(axes[0], z, color="#1f77b4")
            top.plot([0.0], [ls.center_value], marker="+", color="black", markersize=9)
            top.set_ylabel(ls.metric, fontsize=7)
        top.set_xlabel("direction 1", fontsize=7)
        sliced = ", central slice" if ls.ndim > 2 else ""
        finite = ls.values[ls.valid]
        span = f" in [{finite.min():.3g}, {finite.max():.3g}]" if finite.size else ", no finite node"
        name = textwrap.fill(ls.model_id.replace(",", ", "), width=44)
        top.set_title(f"{name}\n{target} = {values[i]:.3g}; {ls.metric}{span}{sliced}", fontsize=6)
        h0 = sublevel_persistence(ls.values, ls.valid)[0]
        _draw_diagram(bottom, h0, ls.values)
        for ax in (top, bottom):
            ax.tick_params(labelsize=7)
    fig.suptitle(title or f"landscapes across the range of {target}, with their H0 persistence diagrams", fontsize=9)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 100) -> Path:
    """Write ``fig`` as PNG atomically (temp file + rename); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        fig.savefig(tmp, format="png", dpi=dpi)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def target_frame(models: Sequence[ModelRecord], targets: Sequence[str]) -> pd.DataFrame:
    """One row per model (index ``model_id``), one column per target it measured (NaN if missing)."""
    rows = {m.model_id: {t: float(m.metrics.get(t, math.nan)) for t in targets} for m in models}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(targets))


def write_run_plots(
    scores: pd.DataFrame,
    features: pd.DataFrame,
    models: Sequence[ModelRecord],
    targets: Sequence[str],
    landscapes: Sequence[Landscape],
    directory: str | os.PathLike[str],
    name: str,
) -> list[Path]:
    """Save ``<name>.scores.png``, ``<name>.scatter.png`` and (when the run sampled landscapes)
    ``<name>.gallery.png`` in ``directory``; returns the paths written. The gallery spans the
    first target."""
    directory = Path(directory)
    written = [save_figure(score_bars_figure(scores, title=f"{name}: scores"), directory / f"{name}.scores.png")]
    truth = target_frame(models, targets)
    if len(features.columns):
        fig = feature_scatter_figure(features, truth, title=f"{name}: best feature of each descriptor (in sample)")
        written.append(save_figure(fig, directory / f"{name}.scatter.png"))
    if landscapes and targets:
        by_id: Mapping[str, float] = truth[targets[0]].to_dict()
        values = [by_id.get(ls.model_id, math.nan) for ls in landscapes]
        fig = landscape_gallery_figure(landscapes, values, targets[0], title=f"{name}: landscapes across {targets[0]}")
        written.append(save_figure(fig, directory / f"{name}.gallery.png"))
    return written
