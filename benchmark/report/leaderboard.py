"""Leaderboard tables: one row per (zoo, target, feature set, regressor), rendered from scores.

The CSV holds full-precision numbers; the Markdown groups rows by zoo, target and protocol, sorts
them by cross-validated R2 and shows each score with its interval, every column marked with its
direction (↑ higher is better, ↓ lower). Beside it, the univariate view: each feature's own rank
correlation with each target. All are generated, never edited.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from benchmark.evaluation.protocol import CEILING, EXCURSION_LIMIT
from benchmark.records import (
    BEST_STATS,
    CEILING_SHARED,
    COMPARED_METRICS,
    COMPARISON_STATS,
    GAIN_COLUMNS,
    GAIN_SCORES,
    GIVEN,
    SCORE_METRICS,
    SCORE_STATS,
)
from benchmark.report.stability import read_flags
from benchmark.scores import SCORES, get_score

KEY_COLUMNS = ["zoo", "target", "feature_set", "kind", "regressor", "protocol"]
RANKED = frozenset(s.name for s in SCORES if s.family == "rank")
"""The scores computed within test folds (marked † when few folds define them)."""
HEADERS: dict[str, str] = {s.name: s.header for s in SCORES}
"""Markdown column of each score of :data:`~benchmark.records.SCORE_METRICS`, with its direction
(:attr:`benchmark.scores.Score.header`)."""
COMPARED = "r2"
"""The score whose paired comparison with the best baseline the Markdown shows (the CSV has all)."""
SWEEP_IGNORED = ("regressor", "hydra/launcher", "hydra.launcher", "report.", "paths.")


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _nan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _cell(value: float, low: float, high: float) -> str:
    if _nan(value):
        return "—"
    if _nan(low) or _nan(high):
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _sd(std: float) -> str:
    return "—" if _nan(std) else f"{std:.3f}"


def _win_p(win: float, p: float) -> str:
    return "—" if _nan(win) or _nan(p) else f"{win:.2f}, p {p:.3f}"


def _vs_best(p: float, tied: float) -> str:
    """``best`` for the best row, ``tied, p …`` or ``p …`` for the others, — when not compared."""
    if _nan(tied):
        return "—"
    if _nan(p):
        return "best"
    return f"tied, p {p:.3f}" if tied else f"p {p:.3f}"


def _share(r: Mapping[str, Any]) -> str:
    shares = [r.get(f"{m}_share_of_ceiling", math.nan) for m in CEILING_SHARED]
    return "—" if all(_nan(v) for v in shares) else " / ".join("—" if _nan(v) else f"{v:.2f}" for v in shares)


def _gain(r: Mapping[str, Any], given: str) -> str:
    """``ΔR2 +0.12 (p 0.010), Δρ −0.05 (p 0.700)``: the row's gains over ``given``; — without any."""
    parts = []
    for m, label in zip(GAIN_SCORES, ("ΔR2", "Δρ"), strict=True):
        value, p = r.get(f"{m}_gain_{given}", math.nan), r.get(f"{m}_gain_{given}_p", math.nan)
        if not _nan(value):
            parts.append(f"{label} {value:+.3f}" + ("" if _nan(p) else f" (p {p:.3f})"))
    return ", ".join(parts) or "—"


def ceiling_line(ceiling: pd.DataFrame) -> str:
    """The noise ceiling of one table, in words (its row of kind ``ceiling``, or its absence)."""
    if ceiling.empty or all(_nan(ceiling.iloc[0][f"{m}_value"]) for m in CEILING_SHARED):
        return (
            "Noise ceiling: not defined (no configuration has two or more seeds with a finite target, or too few "
            "such configurations for the folds)."
        )
    c = ceiling.iloc[0]
    parts = [f"{HEADERS[m][:-2]} {_cell(c[f'{m}_value'], c[f'{m}_ci_low'], c[f'{m}_ci_high'])}" for m in CEILING_SHARED]
    return (
        f"Noise ceiling ({c['n_models']} models, each predicted by the mean of its configuration's other seeds): "
        + ", ".join(parts)
        + "."
    )


def with_score_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every score column the leaderboard renders (NaN where absent, as in scores
    written before a score existed)."""
    names = [f"{m}_{s}" for m in SCORE_METRICS for s in SCORE_STATS]
    names += [f"{m}_{s}" for m in COMPARED_METRICS for s in (*COMPARISON_STATS, *BEST_STATS)]
    names += [f"{m}_share_of_ceiling" for m in CEILING_SHARED] + ["excursion", "rank_folds", *GAIN_COLUMNS]
    missing = [c for c in names if c not in frame]
    return frame.assign(**dict.fromkeys(missing, math.nan)) if missing else frame


def sort_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Stable, deterministic order: zoo, target, settings, then R2 descending, then names."""
    by = ["zoo", "target"] + (["settings"] if "settings" in frame else []) + ["r2_value", "feature_set", "regressor"]
    asc = [True] * len(by)
    asc[by.index("r2_value")] = False
    return frame.sort_values(by, ascending=asc, na_position="last", kind="mergesort").reset_index(drop=True)


def render_markdown(
    frame: pd.DataFrame,
    title: str,
    prov: Mapping[str, Any],
    command: str,
    flags: Mapping[str, str] | None = None,
    flag_source: str = "",
) -> str:
    """The leaderboard page; ``flags`` (descriptor -> ``stable``/``unstable``, from the stability
    study) mark unstable descriptors' rows."""
    flags = flags or {}
    frame = sort_rows(with_score_columns(frame))
    lines = [
        f"# Leaderboard: {title}",
        "",
        f"Generated by `{command}`; do not edit by hand. Each score is computed on out-of-fold "
        "predictions under the protocol named in each heading (groups = hyperparameter configurations, "
        "so seeds of one configuration never straddle train and test), averaged over repeats, with its "
        "95% interval in brackets: a group-bootstrap interval, except for gran. Kendall Ψ, CMI and PGDL, "
        "whose interval is the spread over repeats (none with one repeat). ↑: higher is better, ↓: lower. "
        "Regret (in the target's units) and precision@k (k = `protocol.top_k`) choose models by the "
        "predictions, in the target's direction. Spearman and Kendall τ are computed within each test fold "
        "(one fitted regressor per fold) and averaged over folds and repeats (†: defined in fewer than half of "
        "the folds, e.g. folds of one configuration's seeds; CSV `rank_folds`). `R2 vs best` is the two-sided "
        "paired bootstrap p-value against the table's best R2 row, Holm-adjusted over the table; `tied`: "
        "not distinguishable from it at 0.05 (`<name>.pairwise.csv` compares every two rows). `share of "
        "ceiling` divides the row's R2 / Spearman by the table's noise ceiling (above it: the row reads "
        "seed-to-seed differences). `gain over baselines` (parameter count, weight norm, λ_max, trace) and "
        "`gain over hyperparameters`: the R2 and Spearman of the feature set fitted together with that set, "
        'minus the set\'s alone, with the one-sided paired p-value of "adds nothing". '
        "`R2 vs baselines` is the share of bootstrap resamples "
        "where the row's R2 beats the best baseline of the same regressor and the constant, and the "
        "one-sided paired p-value (the CSV has it for every bootstrapped score). `MAE fold sd` is the "
        "standard deviation of the MAE over single test folds (the CSV has the fold spread of every "
        "score). `constant` predicts the training-fold mean (rank and pair scores undefined: —; regret "
        "and precision@k at chance); `reference` rows use the hyperparameters themselves. "
        "See docs/protocol.md."
        + (
            f" ⚠ unstable: the descriptor's model ranking changed with the grid resolution or the direction "
            f"seed in the stability study of experiment `{flag_source}` (docs/stability.md)."
            if "unstable" in flags.values()
            else ""
        )
        + (
            f" ⚠ extrapolates: the row's out-of-fold predictions leave the targets' range by more than "
            f"{EXCURSION_LIMIT:g} ranges (column `excursion`); its scores are not a finding."
            if (pd.to_numeric(frame["excursion"], errors="coerce") > EXCURSION_LIMIT).any()
            else ""
        ),
        "",
        "| provenance | |",
        "|---|---|",
        f"| date | {prov['date']} |",
        f"| git commit | `{prov['git_commit']}` |",
        f"| python | {prov['python']} |",
        "| packages | " + ", ".join(f"{k} {v}" for k, v in prov["packages"].items()) + " |",
        "| overrides | " + (" ".join(f"`{o}`" for o in prov["overrides"]) or "none") + " |",
    ]
    if "compute_s" not in prov:
        lines.append("| seconds per stage | " + ", ".join(f"{k} {v}" for k, v in prov["timings_s"].items()) + " |")
    for k, v in prov.items():
        if k not in ("date", "git_commit", "python", "packages", "overrides", "timings_s", "compute_s", "config"):
            lines.append(f"| {k.replace('_', ' ')} | {v} |")
    if "compute_s" in prov:
        lines += ["", *stage_seconds_table(prov["timings_s"], prov["compute_s"])]
    has_settings = "settings" in frame and frame["settings"].astype(bool).any()
    for (zoo, target, protocol), table in frame.groupby(["zoo", "target", "protocol"], sort=False):
        is_ceiling = table["kind"] == CEILING
        block = table[~is_ceiling]
        lines += ["", f"## {zoo}: {target} ({protocol})", "", ceiling_line(table[is_ceiling]), ""]
        head = (["settings"] if has_settings else []) + ["feature set", "kind", "regressor"]
        head += [HEADERS[m] for m in SCORE_METRICS]
        head += [f"{get_score(COMPARED).label} vs best", "share of ceiling (R2 / ρ)"]
        head += [f"gain over {g}" for g in GIVEN]
        head += [f"{get_score(COMPARED).label} vs baselines (win ↑, p ↓)", "MAE fold sd", "models", "folds"]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for row in block.itertuples(index=False):
            r = row._asdict()
            cells = [f"`{r['settings']}`" if r["settings"] else ""] if has_settings else []
            mark = " ⚠ unstable" if flags.get(r["feature_set"]) == "unstable" else ""
            mark += " ⚠ extrapolates" if _flagged(r["excursion"]) else ""
            cells += [r["feature_set"] + mark, r["kind"], r["regressor"]]
            few = _few_rank_folds(r)
            cells += [
                _cell(r[f"{m}_value"], r[f"{m}_ci_low"], r[f"{m}_ci_high"]) + ("†" if few and m in RANKED else "")
                for m in SCORE_METRICS
            ]
            cells += [_vs_best(r[f"{COMPARED}_p_vs_best"], r[f"{COMPARED}_tied_with_best"]), _share(r)]
            cells += [_gain(r, g) for g in GIVEN]
            cells.append(_win_p(r[f"{COMPARED}_win_rate"], r[f"{COMPARED}_p_vs_baseline"]))
            cells.append(_sd(r["mae_fold_std"]))
            dropped = f" ({r['n_dropped']} dropped)" if r["n_dropped"] else ""
            cells += [f"{r['n_models']}{dropped}", str(r["n_folds"])]
            lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "<details><summary>resolved config</summary>",
        "",
        "```yaml",
        prov["config"].rstrip(),
        "```",
        "",
        "</details>",
        "",
    ]
    return "\n".join(lines)


def stage_seconds_table(timings: Mapping[str, float], compute: Mapping[str, Mapping[str, float]]) -> list[str]:
    """The provenance's seconds per stage (Markdown lines): what the stage's artifacts took to compute
    when they were computed (their recorded times, summed; the same on a rerun from the store), and
    what this run spent in the stage, loading what was stored and computing the rest."""
    lines = [
        "| stage | seconds to compute (as first measured) | seconds this run (loading + computing) |",
        "|---|---|---|",
    ]
    for stage in [*timings, *(s for s in compute if s not in timings)]:
        c = compute.get(stage)
        if not c or not c["artifacts"]:
            computed = "— (nothing stored)"
        elif c["unrecorded"] == c["artifacts"]:
            computed = f"not recorded for {c['artifacts']} of {c['artifacts']}"
        else:
            computed = f"{c['seconds']}" + (
                f" (not recorded for {c['unrecorded']} of {c['artifacts']})" if c["unrecorded"] else ""
            )
        lines.append(f"| {stage} | {computed} | {timings.get(stage, '—')} |")
    return lines


def write_leaderboard(
    frame: pd.DataFrame, directory: str | os.PathLike[str], name: str, prov: Mapping[str, Any], command: str
) -> tuple[Path, Path]:
    """Write ``<directory>/<name>.md`` and ``.csv`` atomically; returns both paths. Descriptors the
    stability study (``<directory>/stability.csv``) flags are marked."""
    directory = Path(directory)
    frame = sort_rows(frame)
    md = directory / f"{name}.md"
    csv_path = directory / f"{name}.csv"
    flags, source = read_flags(directory)
    _atomic_write(md, render_markdown(frame, name, prov, command, flags, source))
    _atomic_write(
        csv_path, frame.to_csv(index=False, float_format="%.17g", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    )
    return md, csv_path


def _few_rank_folds(r: Mapping[str, Any]) -> bool:
    """Whether the row's rank scores are defined in fewer than half of its test folds (marked †)."""
    try:
        folds, defined = int(r["n_folds"]), int(r.get("rank_folds", 0) or 0)
    except (TypeError, ValueError):
        return False
    return bool(folds) and not _nan(r.get("spearman_value")) and 2 * defined < folds


def _flagged(excursion: Any) -> bool:
    try:
        return float(excursion) > EXCURSION_LIMIT
    except (TypeError, ValueError):
        return False


def write_pairwise(frame: pd.DataFrame, directory: str | os.PathLike[str], name: str) -> Path:
    """Write ``<directory>/<name>.pairwise.csv`` atomically (columns
    :data:`benchmark.evaluation.comparison.PAIRWISE_COLUMNS`, plus ``settings`` in a sweep)."""
    path = Path(directory) / f"{name}.pairwise.csv"
    _atomic_write(path, frame.to_csv(index=False, float_format="%.17g", lineterminator="\n"))
    return path


def _kept(overrides: Sequence[str]) -> set[str]:
    return {o for o in overrides if not o.lstrip("+~").startswith(SWEEP_IGNORED)}


def gather_sweep(
    sweep_dir: str | os.PathLike[str], table: str = "scores.csv", keys: Sequence[str] = KEY_COLUMNS
) -> pd.DataFrame:
    """Concatenate the ``table`` (``scores.csv``, or ``univariate.csv`` with ``keys`` target and
    feature) of every job of a Hydra multirun folder.

    Each row gains ``settings``: the overrides that distinguish its job from the others (those
    shared by every job, and the regressor, launcher and output paths, are left out; the
    regressor is a column already). Rows identical in key and settings (the constant
    baseline, computed by every job) appear once.
    """
    sweep_dir = Path(sweep_dir)
    frames, job_overrides = [], []
    jobs = sorted(
        (p for p in sweep_dir.iterdir() if p.is_dir() and (p / table).is_file()),
        key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name),
    )
    for job in jobs:
        frames.append(pd.read_csv(job / table))
        overrides_file = job / ".hydra" / "overrides.yaml"
        overrides = yaml.safe_load(overrides_file.read_text()) if overrides_file.is_file() else []
        job_overrides.append(_kept(overrides or []))
    if not frames:
        raise FileNotFoundError(f"no job results (*/{table}) under {sweep_dir}; is it a finished multirun folder?")
    common = set.intersection(*job_overrides) if job_overrides else set()
    for frame, overrides in zip(frames, job_overrides, strict=True):
        frame.insert(0, "settings", " ".join(sorted(overrides - common)))
    out = pd.concat(frames, ignore_index=True)
    out = out.drop_duplicates(subset=["settings", *keys], keep="first")
    if not out["settings"].astype(bool).any():
        out = out.drop(columns="settings")
    return out.reset_index(drop=True)


# ----------------------------------------------------------------------------- univariate view


def render_univariate(frame: pd.DataFrame, title: str, prov: Mapping[str, Any], command: str) -> str:
    """Markdown of :func:`benchmark.evaluation.univariate.univariate_frame`: one table per target."""
    lines = [
        f"# Univariate view: {title}",
        "",
        f"Generated by `{command}`; do not edit by hand. Each feature's own Spearman rank correlation ρ "
        "with the target over the models where it is finite (no regressor, no cross-validation), with "
        "its 95% interval from a bootstrap over groups (hyperparameter configurations, all seeds "
        "together). Sorted by |ρ|. ρ is undefined (—) for a feature constant over the zoo. Its sign "
        "says the direction: for test_accuracy, ρ < 0 means models with larger values are worse. "
        "See docs/protocol.md.",
        "",
        f"Date {prov['date']}, git commit `{prov['git_commit']}`.",
    ]
    for target, block in frame.groupby("target", sort=False):
        lines += ["", f"## {target}", "", "| feature | Spearman ρ | models |", "|---|---|---|"]
        for row in block.itertuples(index=False):
            dropped = f" ({row.n_dropped} dropped)" if row.n_dropped else ""
            settings = f" ({row.settings})" if getattr(row, "settings", "") else ""  # a sweep's job
            lines.append(
                f"| {row.feature}{settings} | {_cell(row.spearman, row.ci_low, row.ci_high)} | {row.n_used}{dropped} |"
            )
    return "\n".join(lines) + "\n"


def write_univariate(
    frame: pd.DataFrame, directory: str | os.PathLike[str], name: str, prov: Mapping[str, Any], command: str
) -> tuple[Path, Path]:
    """Write ``<directory>/<name>.univariate.md`` and ``.csv`` atomically; returns both paths."""
    directory = Path(directory)
    md = directory / f"{name}.univariate.md"
    csv_path = directory / f"{name}.univariate.csv"
    _atomic_write(md, render_univariate(frame, name, prov, command))
    _atomic_write(
        csv_path, frame.to_csv(index=False, float_format="%.17g", quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    )
    return md, csv_path
