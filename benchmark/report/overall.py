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

import pandas as pd

from benchmark.report.leaderboard import _atomic_write
from benchmark.report.provenance import git_commit
from benchmark.scores import SCORES as DECLARED_SCORES
from benchmark.scores import get_score

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
    """``<directory>/<name>.csv`` for each name; with no names, every CSV there but the overall table."""
    if names:
        paths = [directory / f"{n}.csv" for n in names]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise FileNotFoundError(f"no leaderboard CSV {missing}; run `landscape-bench experiment=<name>` first.")
        return paths
    paths = sorted(p for p in directory.glob("*.csv") if p.stem != OUT_NAME)
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


def render_markdown(
    tables: Mapping[str, tuple[pd.DataFrame, list[str]]], sources: Sequence[Source], command: str, date: str
) -> str:
    """The overall Markdown: method, provenance (code commit, every CSV), one table per score."""
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
        "scores favours feature sets tried with more regressors a little. How to read it: "
        "[README.md](README.md); the protocol: [docs/protocol.md](../docs/protocol.md).",
        "",
        "| provenance | |",
        "|---|---|",
        f"| date | {date} |",
        f"| git commit | `{git_commit()}` |",
        f"| primary scores | {', '.join(f'{SCORES[s][0]} {_arrow(s)}' for s in tables)} |",
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
    return "\n".join(lines) + "\n"


def write_overall(
    directory: str | Path,
    names: Sequence[str] = (),
    scores: Sequence[str] = DEFAULT_SCORES,
    command: str = "landscape-bench-overall",
) -> tuple[Path, Path]:
    """Rank the leaderboards of ``directory`` (all, or ``names``) and write ``overall.md`` and ``overall.csv``."""
    unknown = [s for s in scores if s not in SCORES]
    if unknown or not scores:
        raise ValueError(f"scores {unknown or list(scores)} cannot rank feature sets; use some of {list(SCORES)}.")
    directory = Path(directory)
    rows, sources = read_leaderboards(leaderboard_csvs(directory, names), scores)
    tables = {s: overall_ranking(rows, s) for s in dict.fromkeys(scores)}
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    md = directory / f"{OUT_NAME}.md"
    csv_path = directory / f"{OUT_NAME}.csv"
    _atomic_write(md, render_markdown(tables, sources, command, date))
    frame = pd.concat([t for t, _ in tables.values()], ignore_index=True)
    _atomic_write(csv_path, frame.to_csv(index=False, float_format="%.17g", lineterminator="\n"))
    return md, csv_path


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
        md, csv_path = write_overall(args.folder, args.names, args.scores, command)
    except (FileNotFoundError, ValueError) as exc:
        raise SystemExit(f"overall: {exc}") from exc
    print(f"wrote {md} and {csv_path}")


if __name__ == "__main__":
    main()
