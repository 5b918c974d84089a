"""One leaderboard from a finished (or partly finished) Hydra multirun folder.

A sweep (``landscape-bench -m ...``) writes one folder per job, each with its ``scores.csv``; the
``GatherLeaderboard`` callback calls :func:`gather_leaderboard` when the sweep ends, whatever the
launcher. The same function runs standalone, e.g. after jobs of a SLURM array finished on their
own, or to rebuild a leaderboard from an old sweep::

    landscape-bench-gather .landscape-bench/multirun/compare_descriptors/2026-01-01_12-00-00

It reads the sweep's ``multirun.yaml`` (the config the sweep was launched with) for the
leaderboard's name, folder and provenance; ``--report-dir`` and ``--name`` override them.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from benchmark.report.leaderboard import gather_sweep, write_leaderboard, write_pairwise, write_univariate
from benchmark.report.provenance import config_yaml, duration, hydra_rerun_command, merge_compute, provenance


@dataclass(frozen=True)
class Gathered:
    """Where a gathered leaderboard went and what it holds."""

    markdown: Path
    csv: Path
    n_jobs: int
    n_rows: int


def sweep_timings(sweep_dir: Path) -> dict[str, float]:
    """Seconds per stage, summed over every job's ``timings.json``."""
    totals: dict[str, float] = {}
    for path in sorted(sweep_dir.glob("*/timings.json")):
        for stage, seconds in json.loads(path.read_text()).items():
            totals[stage] = totals.get(stage, 0.0) + float(seconds)
    return totals


def sweep_compute_times(sweep_dir: Path) -> dict[str, dict[str, float | None]] | None:
    """Per stage, every artifact the jobs used (each job's ``compute_times.json``), each once, with
    its compute seconds as first measured (None: not recorded); None when no job has the file (a
    sweep run before jobs wrote it)."""
    jobs = [json.loads(path.read_text()) for path in sorted(sweep_dir.glob("*/compute_times.json"))]
    return merge_compute(jobs) if jobs else None


def load_master_config(sweep_dir: Path) -> DictConfig:
    """The config the sweep was launched with (``multirun.yaml``, written by Hydra's sweeper)."""
    path = sweep_dir / "multirun.yaml"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; give the folder of a landscape-bench multirun "
            "(paths.home/multirun/<name>/<time>), which holds multirun.yaml and one folder per job."
        )
    master = OmegaConf.load(path)
    assert isinstance(master, DictConfig)
    return master


def gather_leaderboard(
    sweep_dir: str | Path,
    master: DictConfig | None = None,
    report_dir: str | Path | None = None,
    name: str | None = None,
    gathered_by: str | None = None,
) -> Gathered:
    """Merge the scores of every job under ``sweep_dir`` into ``<report_dir>/<name>.md`` and ``.csv``.

    ``master`` is the sweep's config (read from ``multirun.yaml`` when None); ``report_dir`` and
    ``name`` default to its ``report.dir`` and ``report.name``. Raises ``FileNotFoundError`` when
    no job has finished.
    """
    sweep_dir = Path(sweep_dir)
    if master is None:
        master = load_master_config(sweep_dir)
    frame = gather_sweep(sweep_dir)
    overrides = [str(o) for o in master.hydra.overrides.task]
    extra = {"sweep folder": str(sweep_dir)}
    if gathered_by:
        extra["gathered by"] = f"`{gathered_by}`"
    timings, compute = sweep_timings(sweep_dir), sweep_compute_times(sweep_dir)
    prov = provenance(config_yaml(master), overrides, timings, extra, compute)
    directory = Path(report_dir) if report_dir is not None else Path(str(master.report.dir))
    board = name or str(master.report.name)
    command = hydra_rerun_command(master.hydra, multirun=True)
    md, csv_path = write_leaderboard(frame, directory, board, prov, command)
    if any(sweep_dir.glob("*/univariate.csv")):  # each job's univariate view, merged the same way
        univariate = gather_sweep(sweep_dir, "univariate.csv", ["target", "feature"])
        write_univariate(univariate, directory, board, prov, command)
    if any(sweep_dir.glob("*/pairwise.csv")):  # each job's pairwise comparisons, within the job
        keys = ["zoo", "target", "protocol", "score", "feature_set_a", "regressor_a", "feature_set_b", "regressor_b"]
        write_pairwise(gather_sweep(sweep_dir, "pairwise.csv", keys), directory, board)
    n_jobs = len(list(sweep_dir.glob("*/scores.csv")))
    return Gathered(md, csv_path, n_jobs, len(frame))


def sweep_plan(sweep_dir: str | Path) -> str:
    """The dry-run plans of a sweep's jobs (each job's ``plan.json``) as one table.

    Each cell is ``to compute/needed``; the last row counts the distinct artifacts of the whole
    sweep, so an artifact that several jobs share (the zoo of a grid sweep, say) counts once.
    """
    sweep_dir = Path(sweep_dir)
    jobs = sorted(
        (p.parent for p in sweep_dir.glob("*/plan.json")),
        key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit() else 0, p.name),
    )
    if not jobs:
        return f"dry run: no job plans (*/plan.json) under {sweep_dir}"
    plans = [json.loads((job / "plan.json").read_text()) for job in jobs]
    overrides = [_job_overrides(job) for job in jobs]
    common = set.intersection(*(set(o) for o in overrides))
    stages = list(dict.fromkeys(stage for plan in plans for stage, _, _ in plan["rows"]))
    header = f"{'job':<5}" + "".join(f"{s:>14}" for s in stages) + "   settings"
    lines = [f"dry run of a sweep of {len(jobs)} jobs: nothing computed; to compute/needed per stage", header]
    for job, plan, ovr in zip(jobs, plans, overrides, strict=True):
        cells = {stage: (total, stored) for stage, total, stored in plan["rows"]}
        row = f"{job.name:<5}"
        for stage in stages:
            total, stored = cells.get(stage, (0, 0))
            row += _cell(None if stored < 0 else total - stored, total)
        lines.append(row + "   " + " ".join(o for o in ovr if o not in common))
    total_row = f"{'all':<5}"
    for stage in stages:
        distinct: dict[str, bool] = {}
        for plan in plans:
            distinct.update(plan["keys"].get(stage, {}))
        if distinct:
            total_row += _cell(sum(not stored for stored in distinct.values()), len(distinct))
        else:  # scores: keyed by feature values, unknown before the features exist
            total_row += _cell(None, sum(t for plan in plans for s, t, _ in plan["rows"] if s == stage))
    lines.append(total_row + "   (distinct artifacts: those shared by several jobs count once; ? = not known yet)")
    if all("estimates" in plan for plan in plans):
        lines.append(_sweep_estimate(plans, stages))
    return "\n".join(lines)


def _sweep_estimate(plans: list[dict], stages: list[str]) -> str:
    """The sweep's estimated compute time: each distinct artifact to compute once, at the seconds per
    artifact its first job's plan estimated (score rows, whose keys are not known yet: every job's,
    as an upper bound)."""
    total, upper, rough = 0.0, False, set()
    for stage in stages:
        seen: set[str] = set()
        for plan in plans:
            estimate = plan["estimates"].get(stage)
            if estimate is None:
                continue
            stage_keys = plan["keys"].get(stage)
            if stage_keys is None:  # scores: keyed by feature values
                count = sum(t for s, t, k in plan["rows"] if s == stage and k < 0)
                upper = upper or count > 0
            else:
                todo = {k for k, stored in stage_keys.items() if not stored} - seen
                seen |= todo
                count = len(todo)
            total += count * estimate["each"]
            if count and estimate["rough"]:
                rough.add(stage)
    notes = ["at most: some score rows may be stored already"] if upper else []
    notes += ["a rough guess for " + ", ".join(s for s in stages if s in rough) + ": no time recorded"] if rough else []
    return f"estimated compute time of the sweep: about {duration(total)}" + (f" ({'; '.join(notes)})" if notes else "")


def _cell(todo: int | None, needed: int) -> str:
    return f"{'?' if todo is None else todo}/{needed}".rjust(14)


def _job_overrides(job: Path) -> list[str]:
    path = job / ".hydra" / "overrides.yaml"
    return [str(o) for o in (OmegaConf.load(path) if path.is_file() else [])]


PROG = "landscape-bench-gather"


def main(argv: list[str] | None = None) -> int:
    """``landscape-bench-gather SWEEP_DIR [--report-dir DIR] [--name NAME]``."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Gather the scores of every job of a landscape-bench multirun into one leaderboard.",
    )
    parser.add_argument("sweep_dir", type=Path, help="the multirun folder (holds multirun.yaml and one folder per job)")
    parser.add_argument("--report-dir", type=Path, default=None, help="leaderboard folder (default: report.dir)")
    parser.add_argument("--name", default=None, help="leaderboard name (default: report.name of the sweep)")
    args = parser.parse_args(argv)
    command = " ".join([PROG, *(argv if argv is not None else sys.argv[1:])])
    try:
        out = gather_leaderboard(args.sweep_dir, report_dir=args.report_dir, name=args.name, gathered_by=command)
    except FileNotFoundError as exc:
        print(f"gather: {exc}", file=sys.stderr)
        return 2
    print(f"gathered {out.n_jobs} jobs, {out.n_rows} score rows -> {out.markdown} and {out.csv}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
