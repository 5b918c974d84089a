"""Feature sets ranked across zoos: one overall table from the leaderboard CSVs (MTEB-style).

A *cell* is one (zoo, target, protocol) of a leaderboard. In every cell, each feature set (a
``settings`` variant of a sweep counts as its own entry) is represented by its best regressor
for the primary score, and the feature sets are ranked by that score: rank 1 is the best, equal
scores share the average of their ranks. Across cells, each feature set gets

- its **mean rank** over the cells it is ranked in (lower is better);
- its **Borda count**: in a cell of n ranked feature sets, one with rank r earns n − r points
  (one per feature set it beats, half per tie), summed over cells (higher is better).

A feature set absent from a cell, or whose score is undefined there (NaN: rank correlations of a
constant prediction, an unscored row), is not ranked in that cell and earns no points; the table
says in how many cells each one is ranked, since a Borda count over fewer cells is smaller. Each
cell must come from one leaderboard: two CSVs that score the same (zoo, target, protocol) are
refused, and the leaderboards to use are named on the command line instead::

    landscape-bench-overall leaderboards                   # every CSV in the folder
    landscape-bench-overall leaderboards default mnist1d   # these leaderboards only
    landscape-bench-overall leaderboards --scores spearman # one primary score

Beside the table, for each primary score, a **Friedman test** (blocks: the cells; treatments: the
feature sets ranked in every cell, since it needs complete blocks) of whether the feature sets
share one expected rank, with the **Nemenyi post-hoc test** of every pair and a critical-difference
diagram (Demšar 2006, "Statistical Comparisons of Classifiers over Multiple Data Sets", JMLR 7):
``overall.posthoc.csv`` (pairwise p-values) and ``overall.cd.png``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import math
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from benchmark.evaluation.protocol import CEILING
from benchmark.records import GAIN_COLUMNS, GAIN_SCORES, GIVEN
from benchmark.report.leaderboard import _atomic_write
from benchmark.report.provenance import _version, git_commit
from benchmark.scores import SCORES as DECLARED_SCORES
from benchmark.scores import get_score

if TYPE_CHECKING:
    from matplotlib.figure import Figure

OUT_NAME = "overall"
SCORES: dict[str, tuple[str, bool]] = {
    s.name: (s.label, s.greater_is_better)
    for s in sorted((s for s in DECLARED_SCORES if s.ranks_feature_sets), key=lambda s: s.overall_order)
}
"""Scores that can rank feature sets: column prefix -> (display name, greater is better), in the
order of :attr:`benchmark.scores.Score.overall_order`."""
DEFAULT_SCORES: tuple[str, ...] = ("spearman", "r2")
REQUIRED = ("zoo", "target", "feature_set", "kind", "regressor")
CELL = ["zoo", "target", "protocol"]
ENTRY = ["feature_set", "settings"]
ALPHA = 0.05
"""Significance level of the Nemenyi post-hoc test, its critical difference and the CD diagram."""
POSTHOC_TEST = "Nemenyi (scikit_posthocs.posthoc_nemenyi_friedman)"
POSTHOC_CORRECTION = "family-wise error over all pairs held by the studentized range of k means (no further adjustment)"
MIN_CELLS, MIN_ENTRIES = 2, 3  # scipy.stats.friedmanchisquare needs at least 3 treatments


@dataclass(frozen=True)
class Source:
    """One leaderboard CSV read into the overall table, and where it came from."""

    path: Path
    rows: int
    sha256: str
    generated_at: str  # code commit in the provenance of the leaderboard's Markdown
    committed_in: str  # last git commit of the CSV file itself


def _arrow(score: str) -> str:
    return get_score(score).arrow


def _git(args: list[str], cwd: Path) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def describe_source(path: Path, rows: int) -> Source:
    """Checksum, generating commit (from ``<name>.md`` next to the CSV) and last commit of a CSV."""
    md = path.with_suffix(".md")
    found = re.search(r"^\| git commit \| `([^`]+)` \|", md.read_text(), flags=re.M) if md.is_file() else None
    generated = found.group(1) if found else f"unknown (no provenance in {md.name})"
    folder = path.resolve().parent
    sha = _git(["log", "-1", "--format=%H", "--", path.name], folder)
    changed = _git(["status", "--porcelain", "--", path.name], folder)
    committed = sha + (" (modified since)" if changed else "") if sha else "not committed"
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return Source(path, rows, digest, generated, committed)


def leaderboard_csvs(directory: Path, names: Sequence[str] = ()) -> list[Path]:
    """``<directory>/<name>.csv`` for each name; with no names, every CSV there but the overall ones."""
    if names:
        paths = [directory / f"{n}.csv" for n in names]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"no leaderboard CSV {missing}; run `landscape-bench experiment=<name>` first.")
        return paths
    paths = sorted(p for p in directory.glob("*.csv") if p.stem.split(".")[0] != OUT_NAME)
    if not paths:
        raise FileNotFoundError(f"no leaderboard CSV in {directory}; run `landscape-bench` first.")
    return paths


def read_leaderboards(paths: Sequence[Path], scores: Sequence[str]) -> tuple[pd.DataFrame, list[Source]]:
    """The rows of every CSV, reduced to the columns the ranking needs (others are ignored).

    Adds ``source`` (the CSV's name), and ``protocol`` and ``settings`` as empty strings where a
    CSV has none. Raises ``ValueError`` for a missing column, a row scored twice, or a cell
    (zoo, target, protocol) that two CSVs both score.
    """
    frames, sources = [], []
    for path in paths:
        frame = pd.read_csv(path)
        needed = [*REQUIRED, *(f"{s}_value" for s in scores)]
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise ValueError(
                f"{path} has no column {missing}; a leaderboard CSV has {list(REQUIRED)} and "
                f"'<score>_value' for each score ranked (here {list(scores)})."
            )
        for optional in ("protocol", "settings"):
            frame[optional] = frame[optional].fillna("").astype(str) if optional in frame else ""
        frame = frame[[*REQUIRED, "protocol", "settings", *(f"{s}_value" for s in scores)]].copy()
        for column in REQUIRED:
            frame[column] = frame[column].astype(str)
        frame = frame[frame["kind"] != CEILING]  # the noise ceiling is a reference, not a feature set
        frame.insert(0, "source", path.stem)
        twice = frame[frame.duplicated([*CELL, *ENTRY, "regressor"], keep=False)]
        if len(twice):
            first = twice.iloc[0]
            raise ValueError(
                f"{path} scores feature set {first['feature_set']!r} with regressor {first['regressor']!r} on "
                f"{first['zoo']}/{first['target']} more than once; regenerate it."
            )
        frames.append(frame)
        sources.append(describe_source(path, len(frame)))
    rows = pd.concat(frames, ignore_index=True)
    owners = rows.groupby(CELL)["source"].unique()
    shared = owners[owners.map(len) > 1]
    if len(shared):
        (zoo, target, protocol), names = shared.index[0], sorted(shared.iloc[0])
        raise ValueError(
            f"leaderboards {names} both score zoo {zoo!r}, target {target!r}"
            + (f", protocol {protocol!r}" if protocol else "")
            + "; a cell must come from one leaderboard. Name the leaderboards to rank, e.g. "
            f"`landscape-bench-overall <folder> {' '.join(n for n in names[1:])} ...`."
        )
    return rows, sources


def best_per_cell(rows: pd.DataFrame, score: str) -> pd.DataFrame:
    """One row per (cell, feature set): its best regressor for ``score`` (ties: first by name).

    Rows whose score is NaN are left out; so is a feature set with no defined score in a cell.
    """
    column = f"{score}_value"
    defined = rows[rows[column].notna()]
    ordered = defined.sort_values([column, "regressor"], ascending=[not SCORES[score][1], True], kind="mergesort")
    return ordered.drop_duplicates([*CELL, *ENTRY], keep="first").reset_index(drop=True)


def rank_cells(best: pd.DataFrame, score: str) -> pd.DataFrame:
    """Adds ``rank`` (1 = best, ties averaged), ``n_ranked`` and ``borda`` (= n_ranked − rank) per cell."""
    out = best.copy()
    groups = out.groupby(CELL)[f"{score}_value"]
    out["rank"] = groups.rank(method="average", ascending=not SCORES[score][1])
    out["n_ranked"] = groups.transform("size")
    out["borda"] = out["n_ranked"] - out["rank"]
    return out


def cell_label(zoo: str, target: str, protocol: str, with_protocol: bool) -> str:
    """``zoo/target`` (``zoo/target/protocol`` when the leaderboards use several protocols)."""
    return "/".join([zoo, target, protocol] if with_protocol else [zoo, target])


def overall_ranking(rows: pd.DataFrame, score: str) -> tuple[pd.DataFrame, list[str]]:
    """The overall table for one primary score, and its cell labels in order.

    One row per feature set (and settings) that appears in any CSV, with ``kind``, ``n_cells``
    (cells where it is ranked), ``mean_rank``, ``borda`` and, per cell ``c``, ``rank[c]``,
    ``value[c]`` and ``regressor[c]`` (NaN/empty where it is not ranked). Sorted by Borda count
    (descending), then mean rank (ascending), then name; ``position`` is 1-based, shared by rows
    equal in both.
    """
    ranked = rank_cells(best_per_cell(rows, score), score)
    cells = rows[CELL].drop_duplicates().sort_values(CELL).itertuples(index=False, name=None)
    cells = list(cells)
    with_protocol = rows["protocol"].nunique() > 1
    labels = [cell_label(*c, with_protocol) for c in cells]
    entries = rows.groupby(ENTRY, sort=True)["kind"].first().reset_index()
    summary = ranked.groupby(ENTRY).agg(n_cells=("rank", "size"), mean_rank=("rank", "mean"), borda=("borda", "sum"))
    table = entries.merge(summary.reset_index(), on=ENTRY, how="left")
    table["n_cells"] = table["n_cells"].fillna(0).astype(int)
    table["borda"] = table["borda"].fillna(0.0)
    table["n_cells_total"] = len(cells)
    for cell, label in zip(cells, labels, strict=True):
        here = ranked[(ranked[CELL] == pd.Series(cell, index=CELL)).all(axis=1)]
        here = here[[*ENTRY, "rank", f"{score}_value", "regressor"]].rename(
            columns={"rank": f"rank[{label}]", f"{score}_value": f"value[{label}]", "regressor": f"regressor[{label}]"}
        )
        table = table.merge(here, on=ENTRY, how="left")
        table[f"regressor[{label}]"] = table[f"regressor[{label}]"].fillna("")
    table = table.sort_values(
        ["borda", "mean_rank", "feature_set", "settings"],
        ascending=[False, True, True, True],
        na_position="last",
        kind="mergesort",
    ).reset_index(drop=True)
    key = list(zip(table["borda"], table["mean_rank"].fillna(math.inf), strict=True))
    table.insert(0, "position", [key.index(k) + 1 for k in key])
    table.insert(0, "score", score)
    return table, labels


@dataclass(frozen=True)
class FriedmanResult:
    """The Friedman test of one primary score over the cells, and its Nemenyi post-hoc test.

    Blocks are the cells, treatments the entries (feature set, settings) ranked in every cell.
    ``ranks`` is cells x entries, 1 = best in the cell by ``score`` (ties averaged); ``pairwise``
    is entries x entries, the Nemenyi p-values. ``dropped`` names the entries left out because
    some cell does not rank them. ``note`` says why there is no test; then ``statistic``,
    ``p_value`` and ``critical_difference`` are NaN and ``ranks``/``pairwise`` may be empty.
    """

    score: str
    cells: tuple[str, ...]
    entries: tuple[str, ...]
    dropped: tuple[str, ...]
    kinds: Mapping[str, str]  # entry label -> feature-set kind, for the diagram's colours
    statistic: float
    p_value: float
    critical_difference: float
    ranks: pd.DataFrame
    pairwise: pd.DataFrame
    note: str = ""

    @property
    def tested(self) -> bool:
        return not self.note

    @property
    def dof(self) -> int:
        """Degrees of freedom of the χ² approximation: entries − 1."""
        return len(self.entries) - 1

    @property
    def mean_ranks(self) -> pd.Series:
        """Mean rank of each entry over the cells, best first (ties by name)."""
        means = self.ranks.mean(axis=0)
        return means.iloc[np.lexsort((means.index.to_numpy(str), means.to_numpy(float)))]


def entry_label(feature_set: str, settings: str) -> str:
    """``feature_set`` or ``feature_set [settings]``: one entry's name in the test and the diagram."""
    return f"{feature_set} [{settings}]" if settings else feature_set


def score_matrix(rows: pd.DataFrame, score: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """Cells x entries: the score of each entry's best regressor (NaN where it is not ranked).

    Rows are every cell of ``rows`` (labelled as in :func:`overall_ranking`), columns every entry
    (sorted by name), even one ranked nowhere. Also returns each entry's kind.
    """
    with_protocol = rows["protocol"].nunique() > 1
    cells = sorted(set(rows[CELL].itertuples(index=False, name=None)))
    labels = [cell_label(*c, with_protocol) for c in cells]
    entries = rows.groupby(ENTRY, sort=True)["kind"].first()
    kinds = {entry_label(f, s): k for (f, s), k in entries.items()}
    best = best_per_cell(rows, score)
    best = best.assign(
        cell=[cell_label(*c, with_protocol) for c in best[CELL].itertuples(index=False, name=None)],
        entry=[entry_label(f, s) for f, s in best[ENTRY].itertuples(index=False, name=None)],
    )
    matrix = best.pivot(index="cell", columns="entry", values=f"{score}_value")
    return matrix.reindex(index=labels, columns=list(kinds)).astype(float), kinds


def friedman_test(rows: pd.DataFrame, score: str) -> FriedmanResult:
    """Friedman test over the cells and Nemenyi post-hoc test of the entries ranked in every cell.

    The Friedman statistic and p-value are :func:`scipy.stats.friedmanchisquare` on the
    cells x entries matrix of scores (χ² approximation with k − 1 degrees of freedom, corrected
    for ties); the pairwise p-values are :func:`scikit_posthocs.posthoc_nemenyi_friedman`, and the
    critical difference is Demšar's (2006, eq. 5) ``q_α · sqrt(k(k+1) / (6n))`` with q_α the
    studentized range quantile over √2, for k entries and n cells. Entries absent or undefined in
    some cell are dropped (complete blocks only). With fewer than 2 cells, fewer than 3 complete
    entries, or every entry tied in every cell, there is no test and ``note`` says why.
    """
    import scikit_posthocs  # imported here: it pulls in seaborn and statsmodels

    matrix, kinds = score_matrix(rows, score)
    complete = matrix.loc[:, matrix.notna().all(axis=0)]
    dropped = tuple(e for e in matrix.columns if e not in complete.columns)
    n, k = complete.shape
    ranks = complete.rank(axis=1, method="average", ascending=not SCORES[score][1])
    common = {"score": score, "cells": tuple(matrix.index), "entries": tuple(complete.columns), "dropped": dropped}
    common |= {"kinds": kinds, "ranks": ranks}
    note = ""
    if n < MIN_CELLS or k < MIN_ENTRIES:
        note = (
            f"no test: {n} cell{'s' * (n != 1)} and {k} feature set{'s' * (k != 1)} ranked in every cell; "
            f"the Friedman test needs at least {MIN_CELLS} cells and {MIN_ENTRIES} feature sets."
        )
    elif (ranks.nunique(axis=1) == 1).all():
        note = f"no test: all {k} feature sets tie in every one of the {n} cells, so no ranking differs."
    if note:
        nan = math.nan
        return FriedmanResult(
            **common, statistic=nan, p_value=nan, critical_difference=nan, pairwise=pd.DataFrame(), note=note
        )
    result = stats.friedmanchisquare(*(complete[e].to_numpy() for e in complete.columns))
    pairwise = scikit_posthocs.posthoc_nemenyi_friedman(ranks).loc[list(complete.columns), list(complete.columns)]
    q_alpha = stats.studentized_range.ppf(1.0 - ALPHA, k, np.inf) / math.sqrt(2.0)
    return FriedmanResult(
        **common,
        statistic=float(result.statistic),
        p_value=float(result.pvalue),
        critical_difference=float(q_alpha * math.sqrt(k * (k + 1) / (6.0 * n))),
        pairwise=pairwise,
    )


def posthoc_frame(results: Sequence[FriedmanResult]) -> pd.DataFrame:
    """One row per pair of entries and tested score, in order of mean rank: the Nemenyi p-value."""
    columns = ["score", "test", "multiple_comparisons", "alpha", "n_cells", "n_entries", "entry_a", "entry_b"]
    columns += ["mean_rank_a", "mean_rank_b", "rank_difference", "critical_difference", "p_value", "significant"]
    out = []
    for r in results:
        if not r.tested:
            continue
        means = r.mean_ranks
        for i, a in enumerate(means.index):
            for b in means.index[i + 1 :]:
                p = float(r.pairwise.loc[a, b])
                out.append(
                    {
                        "score": r.score,
                        "test": POSTHOC_TEST,
                        "multiple_comparisons": POSTHOC_CORRECTION,
                        "alpha": str(ALPHA),  # as written, not as %.17g
                        "n_cells": len(r.cells),
                        "n_entries": len(r.entries),
                        "entry_a": a,
                        "entry_b": b,
                        "mean_rank_a": means[a],
                        "mean_rank_b": means[b],
                        "rank_difference": means[b] - means[a],
                        "critical_difference": r.critical_difference,
                        "p_value": p,
                        "significant": p < ALPHA,
                    }
                )
    return pd.DataFrame(out, columns=columns)


def critical_difference_figure(results: Sequence[FriedmanResult]) -> Figure:
    """One critical-difference diagram per score (Demšar 2006): mean ranks on the axis, 1 = best.

    Drawn by :func:`scikit_posthocs.critical_difference_diagram` on the Agg canvas: a bar joins
    entries whose Nemenyi p-value is at least :data:`ALPHA`; the CD bar above the axis is the
    critical difference. Colours are the feature-set kinds of the leaderboard plots. A score
    without a test shows its note.
    """
    import scikit_posthocs  # imported here: it pulls in seaborn and statsmodels
    from matplotlib.patches import Patch

    from benchmark.report.plots import _figure, kind_colors  # plots imports this module

    fig = _figure(9.0, 1.0)
    grid = fig.add_gridspec(len(results), 1)
    axes = [fig.add_subplot(grid[i, 0]) for i in range(len(results))]
    colors = kind_colors(sorted({k for r in results for k in r.kinds.values()}))
    for ax, r in zip(axes, results, strict=True):
        name, arrow = SCORES[r.score][0], _arrow(r.score)
        if not r.tested:
            ax.set_axis_off()
            ax.set_title(f"{name} {arrow}", fontsize=9)
            ax.text(0.5, 0.5, r.note, ha="center", va="center", transform=ax.transAxes, fontsize=8, wrap=True)
            continue
        means = r.mean_ranks
        names = list(means.index)
        # integer keys, named afterwards: the library keeps the labels in sets, and a set of strings
        # is ordered by the per-process hash seed, which would change the drawing from run to run
        ids = range(len(names))
        drawn = scikit_posthocs.critical_difference_diagram(
            pd.Series(means.to_numpy(), index=ids),
            pd.DataFrame(r.pairwise.loc[names, names].to_numpy(), index=ids, columns=ids),
            alpha=ALPHA,
            ax=ax,
            label_fmt_left="{label}",
            label_fmt_right="{label}",
            label_props={"fontsize": 7},
            color_palette={i: colors[r.kinds[e]] for i, e in enumerate(names)},
        )
        for text in drawn["labels"]:
            e = names[int(text.get_text())]
            left = text.get_horizontalalignment() == "right"
            text.set_text(f"{e} ({means[e]:.2f})" if left else f"({means[e]:.2f}) {e}")
        # the CD bar, drawn here above the tick labels (the library's own sits on them)
        start, cd = float(means.iloc[0]), r.critical_difference
        ax.plot([start, start + cd], [1.4, 1.4], color="black", linewidth=1.5)
        ax.text(start + cd / 2, 1.6, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=7)
        ax.set_ylim(top=2.4)
        ax.tick_params(labelsize=7)
        ax.set_title(
            f"{name} {arrow}: mean rank over {len(r.cells)} cells (1 = best); Friedman χ² = {r.statistic:.2f}, "
            f"df = {r.dof}, p = {r.p_value:.2g}; bars join Nemenyi p ≥ {ALPHA}",
            fontsize=8,
        )
    # each panel as tall as its rows of labels and bars (y runs from 0 down to minus their number)
    heights = [0.8 if not r.tested else 0.5 + 0.2 * np.ptp(ax.get_ylim()) for ax, r in zip(axes, results, strict=True)]
    grid.set_height_ratios(heights)
    fig.set_size_inches(9.0, sum(heights) + 0.4)
    kinds = sorted({r.kinds[e] for r in results if r.tested for e in r.entries})
    if kinds:
        handles = [Patch(facecolor=colors[k], edgecolor="black") for k in kinds]
        fig.legend(handles, kinds, loc="outside lower center", ncols=len(kinds), fontsize=7, frameon=False)
    return fig


def render_friedman(results: Sequence[FriedmanResult], diagram: str, posthoc: str) -> list[str]:
    """Markdown lines of the Friedman and Nemenyi section: method, one row per score, notes, diagram."""
    lines = [
        "",
        "## Friedman test and Nemenyi post-hoc test",
        "",
        "Do the feature sets' ranks differ by more than chance across cells (Demšar 2006, *Statistical "
        "Comparisons of Classifiers over Multiple Data Sets*, JMLR 7)? For each primary score the blocks "
        "are the cells and the treatments the feature sets; each cell ranks them by that score as above "
        "(1 = best, ties averaged). The test needs complete blocks, so a feature set that is not ranked in "
        "every cell (absent, or its score undefined) is left out of it, and named below; the mean ranks here "
        "are among the feature sets tested, so they differ from the tables' above. The Friedman "
        "statistic χ² (`scipy.stats.friedmanchisquare`, corrected for ties, χ² approximation with df = k − 1 "
        "for k feature sets) tests that every feature set has the same expected rank. The post-hoc test is "
        f"{POSTHOC_TEST.split(' (')[0]}'s (`scikit_posthocs.posthoc_nemenyi_friedman`) on every pair of mean "
        f"ranks; multiple comparisons: {POSTHOC_CORRECTION}; it does not correct for ties. Two feature sets "
        f"differ at α = {ALPHA} when their mean ranks differ by more than the critical difference "
        "CD = q_α·√(k(k+1)/(6n)) over n cells; read the post-hoc test only where the Friedman test rejects. "
        f"Pairwise p-values: [{posthoc}]({posthoc}); definitions: "
        "[docs/protocol.md](../docs/protocol.md#across-zoos-friedman-test-and-critical-difference-diagram).",
        "",
        "| score | cells (blocks) | feature sets tested (treatments) | left out | Friedman χ² | df | p | "
        f"Nemenyi CD (α = {ALPHA}) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        head = f"| {SCORES[r.score][0]} {_arrow(r.score)} | {len(r.cells)} | {len(r.entries)} | {len(r.dropped)} |"
        if r.tested:
            lines.append(f"{head} {r.statistic:.2f} | {r.dof} | {r.p_value:.3g} | {r.critical_difference:.2f} |")
        else:
            lines.append(f"{head} no test | — | — | — |")
    lines.append("")
    for r in results:
        name = f"**{SCORES[r.score][0]} {_arrow(r.score)}**"
        parts = [r.note] if r.note else []
        if r.tested:
            verdict = "rejects" if r.p_value < ALPHA else "does not reject"
            means = r.mean_ranks
            top = str(means.index[0])
            tied = [e for e in means.index[1:] if r.pairwise.loc[top, e] >= ALPHA]
            parts.append(
                f"the Friedman test {verdict} equal expected ranks at α = {ALPHA} (p = {r.p_value:.3g}). "
                f"Not distinguishable (Nemenyi p ≥ {ALPHA}) from the best mean rank, {top} "
                f"({_num(means.iloc[0])}): {', '.join(f'{e} ({_num(means[e])})' for e in tied) or 'none'}."
            )
        parts.append(f"Left out (not ranked in every cell): {', '.join(r.dropped) or 'none'}.")
        lines.append(f"- {name}: " + " ".join(parts))
    lines += [
        "",
        f"![Critical-difference diagrams: mean rank per feature set, bars join those the Nemenyi test does not "
        f"separate at α = {ALPHA}]({diagram})",
    ]
    return lines


def _num(x: float) -> str:
    """A rank or Borda count: at most two decimals, trailing zeros dropped (``2``, ``2.5``)."""
    return "—" if pd.isna(x) else f"{x:.2f}".rstrip("0").rstrip(".")


def _entry_name(feature_set: str, settings: str, kind: str) -> str:
    name = f"{feature_set} `{settings}`" if settings else feature_set
    return f"{name} *({kind})*" if kind in ("reference", "baseline") else name


def render_table(table: pd.DataFrame, labels: Sequence[str], score: str) -> list[str]:
    """Markdown lines of one overall table."""
    head = ["#", "feature set", "kind", "cells ranked", "mean rank ↓", "Borda ↑"]
    for label in labels:
        n = int(table[f"rank[{label}]"].notna().sum())
        head.append(f"{label} (n={n})")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table.to_dict("records"):
        cells = [str(r["position"]), _entry_name(r["feature_set"], r["settings"], r["kind"]), r["kind"]]
        cells += [f"{r['n_cells']} of {r['n_cells_total']}", _num(r["mean_rank"]), _num(r["borda"])]
        for label in labels:
            rank = r[f"rank[{label}]"]
            cells.append(
                "—" if pd.isna(rank) else f"{_num(rank)} ({r[f'value[{label}]']:.3f}, {r[f'regressor[{label}]']})"
            )
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def conditional_summary(paths: Sequence[Path]) -> pd.DataFrame:
    """Per feature set, over every (zoo, target, protocol, regressor) row of the CSVs with gain columns:
    for each given set, how many rows have a gain (``scored_<given>``), how many add to it
    (``adds_<given>``: the 95% interval of the R2 or of the Spearman gain above 0) and where (``where_<given>``)."""
    frames = [pd.read_csv(p) for p in paths]
    frames = [f[f["kind"] != CEILING] for f in frames if all(c in f for c in GAIN_COLUMNS)]
    if not frames:
        return pd.DataFrame()
    rows = pd.concat(frames, ignore_index=True)
    out = []
    for feature_set, block in rows.groupby("feature_set", sort=True):
        entry: dict[str, Any] = {"feature_set": feature_set}
        for given in GIVEN:
            defined = block[[f"{m}_gain_{given}" for m in GAIN_SCORES]].notna().any(axis=1)
            adds = defined & (block[[f"{m}_gain_{given}_ci_low" for m in GAIN_SCORES]] > 0).any(axis=1)
            entry[f"scored_{given}"] = int(defined.sum())
            entry[f"adds_{given}"] = int(adds.sum())
            entry[f"where_{given}"] = ", ".join(
                f"{r.zoo}/{r.target}/{r.regressor}" for r in block[adds].itertuples(index=False)
            )
        if any(entry[f"scored_{g}"] for g in GIVEN):
            out.append(entry)
    return pd.DataFrame(out)


def render_conditional(summary: pd.DataFrame) -> list[str]:
    """The section "What adds beyond the obvious" of :func:`conditional_summary`."""
    lines = ["", "## What adds beyond the obvious", ""]
    if summary.empty:
        return [*lines, "No leaderboard CSV has the conditional-value columns (`<score>_gain_<set>`); regenerate them."]
    lines += [
        "For each feature set, the leaderboard rows (zoo, target, protocol, regressor) where it was also fitted "
        "together with the baselines (parameter count, weight norm, λ_max, trace) and with the hyperparameters, "
        "and those where that **adds**: the 95% paired-bootstrap interval of the R2 gain or of the Spearman gain "
        'lies above 0 (docs/protocol.md, "Conditional value"). Two intervals per row at 95%, uncorrected: '
        "about one row in twenty adds by chance. Diagram sets are not conditioned.",
        "",
        "| feature set | " + " | ".join(f"adds to {g} (of rows) | where" for g in GIVEN) + " |",
        "|---|" + "---|---|" * len(GIVEN),
    ]
    for r in summary.itertuples(index=False):
        d = r._asdict()
        cells = [d["feature_set"]]
        for g in GIVEN:
            cells += [f"{d[f'adds_{g}']} of {d[f'scored_{g}']}", d[f"where_{g}"] or "—"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(
    tables: Mapping[str, tuple[pd.DataFrame, list[str]]],
    sources: Sequence[Source],
    command: str,
    date: str,
    friedman: Sequence[FriedmanResult] = (),
    conditional: pd.DataFrame | None = None,
) -> str:
    """The overall Markdown: method, provenance (code commit, every CSV), one table per score, and the
    Friedman and Nemenyi section (with links to ``overall.cd.png`` and ``overall.posthoc.csv``)."""
    lines = [
        "# Overall: feature sets ranked across zoos",
        "",
        f"Generated by `{command}`; do not edit by hand. In each cell (zoo, target) of the leaderboards "
        "below, every feature set is represented by its **best regressor** for the primary score (named "
        "in the cell) and ranked by that score (1 = best; equal scores share the average rank). "
        "`mean rank` averages a feature set's ranks over the cells where it is ranked; its `Borda` count "
        "sums, over those cells, the number of feature sets it beats (a tie counts one half). A feature set "
        "absent from a cell, or whose score is undefined there (—), is not ranked in it and earns no "
        "points, so compare Borda counts together with `cells ranked`. Rows are sorted by Borda count, then "
        "mean rank. *(reference)* rows use the hyperparameters themselves and *(baseline)* rows are "
        "baselines: they are ranked like any feature set. Picking the best regressor after seeing the "
        "scores favours feature sets tried with more regressors a little. Whether the ranks differ by more "
        "than chance: the Friedman and Nemenyi tests at the end. How to read it: "
        "[README.md](README.md); the protocol: [docs/protocol.md](../docs/protocol.md).",
        "",
        "| provenance | |",
        "|---|---|",
        f"| date | {date} |",
        f"| git commit | `{git_commit()}` |",
        f"| primary scores | {', '.join(f'{SCORES[s][0]} {_arrow(s)}' for s in tables)} |",
        f"| tests | scipy {_version('scipy')}, scikit-posthocs {_version('scikit-posthocs')} |",
        "",
        "| leaderboard CSV | rows | generated at commit | CSV last committed in | sha256 |",
        "|---|---|---|---|---|",
    ]
    for s in sources:
        lines.append(f"| {s.path.name} | {s.rows} | `{s.generated_at}` | `{s.committed_in}` | `{s.sha256[:16]}` |")
    for score, (table, labels) in tables.items():
        name, arrow = SCORES[score][0], _arrow(score)
        lines += [
            "",
            f"## By {name} {arrow}",
            "",
            f"Per cell (n = feature sets ranked there): rank ({name} {arrow} of the best regressor, that regressor).",
            "",
        ]
        lines += render_table(table, labels, score)
    if friedman:
        lines += render_friedman(friedman, f"{OUT_NAME}.cd.png", f"{OUT_NAME}.posthoc.csv")
    if conditional is not None:
        lines += render_conditional(conditional)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Written:
    """The files :func:`write_overall` wrote, and the Friedman test of each primary score."""

    md: Path
    csv: Path
    posthoc: Path  # overall.posthoc.csv: Nemenyi p-value of every pair, per tested score
    diagram: Path  # overall.cd.png: one critical-difference diagram per score
    friedman: tuple[FriedmanResult, ...]


def write_overall(
    directory: str | Path,
    names: Sequence[str] = (),
    scores: Sequence[str] = DEFAULT_SCORES,
    command: str = "landscape-bench-overall",
) -> Written:
    """Rank the leaderboards of ``directory`` (all, or ``names``); write ``overall.md``, ``overall.csv``,
    ``overall.posthoc.csv`` and ``overall.cd.png`` there."""
    unknown = [s for s in scores if s not in SCORES]
    if unknown or not scores:
        raise ValueError(f"scores {unknown or list(scores)} cannot rank feature sets; use some of {list(SCORES)}.")
    directory = Path(directory)
    paths = leaderboard_csvs(directory, names)
    rows, sources = read_leaderboards(paths, scores)
    tables = {s: overall_ranking(rows, s) for s in dict.fromkeys(scores)}
    friedman = tuple(friedman_test(rows, s) for s in tables)
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    md = directory / f"{OUT_NAME}.md"
    csv_path = directory / f"{OUT_NAME}.csv"
    posthoc = directory / f"{OUT_NAME}.posthoc.csv"
    diagram = directory / f"{OUT_NAME}.cd.png"
    from benchmark.report.plots import save_figure  # plots imports this module

    save_figure(critical_difference_figure(friedman), diagram)
    _atomic_write(posthoc, posthoc_frame(friedman).to_csv(index=False, float_format="%.17g", lineterminator="\n"))
    frame = pd.concat([t for t, _ in tables.values()], ignore_index=True)
    _atomic_write(csv_path, frame.to_csv(index=False, float_format="%.17g", lineterminator="\n"))
    _atomic_write(md, render_markdown(tables, sources, command, date, friedman, conditional_summary(paths)))
    return Written(md, csv_path, posthoc, diagram, friedman)


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``landscape-bench-overall FOLDER [NAME ...] [--scores S [S ...]]``."""
    prog = "landscape-bench-overall"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="folder of leaderboard CSVs (and where overall.md/.csv go)")
    parser.add_argument("names", nargs="*", help="leaderboards to rank (default: every CSV in the folder)")
    parser.add_argument(
        "--scores",
        nargs="+",
        default=list(DEFAULT_SCORES),
        choices=list(SCORES),
        help="primary scores, one table each (default: spearman r2)",
    )
    args = parser.parse_args(argv)
    command = " ".join([prog, *(argv if argv is not None else sys.argv[1:])])
    try:
        written = write_overall(args.folder, args.names, args.scores, command)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"overall: {exc}") from exc
    print(f"wrote {written.md}, {written.csv}, {written.posthoc} and {written.diagram}")
    for r in written.friedman:
        name = SCORES[r.score][0]
        if r.tested:
            print(
                f"{name}: Friedman chi2 = {r.statistic:.3f}, df = {r.dof}, p = {r.p_value:.3g} "
                f"({len(r.cells)} cells, {len(r.entries)} feature sets, {len(r.dropped)} left out)"
            )
        else:
            print(f"{name}: {r.note}")


if __name__ == "__main__":
    main()
