"""The descriptor-comparison sweep under the basic and the joblib launcher, side by side.

    python -m benchmark.perf.sweep_launchers [--scale small|full] [--n-jobs 2] [--keep DIR]

Runs ``landscape-bench -m study=compare_descriptors`` (one job per embedded zoo) twice from one
script, each time in a fresh, empty artifact store and with one torch thread per job: first with
Hydra's basic launcher (jobs one after another in one process), then with the joblib launcher on
``--n-jobs`` worker processes. Prints the wall time of each, the ratio joblib / basic, the seconds
every job spent in the pipeline (from its ``timings.json``: how well the jobs balance over the
workers), and whether both sweeps wrote the same leaderboard.

``--scale small`` (the default) shrinks every zoo to one seed per configuration and uses coarse
grids and few bootstrap resamples (the overrides are printed); ``--scale full`` runs the study as
configured.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

STUDY = "compare_descriptors"
SMALL = (
    "zoo.axes.seed=[0]",
    "landscape.steps=11",
    "landscape.n_samples=128",
    "curvature.n_samples=128",
    "curvature.lanczos_iters=10",
    "curvature.trace_samples=8",
    "protocol.n_repeats=1",
    "protocol.n_bootstrap=100",
)
TARGET_RATIO = 0.65


@dataclass(frozen=True)
class SweepTiming:
    """One sweep: its launcher, wall time, per-job pipeline seconds and leaderboard."""

    launcher: str
    seconds: float
    job_seconds: dict[str, float]
    board: pd.DataFrame


def launcher_overrides(launcher: str, n_jobs: int) -> list[str]:
    """Hydra overrides selecting a launcher."""
    if launcher == "basic":
        return []
    if launcher == "joblib":
        return ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={n_jobs}"]
    raise ValueError(f"launcher {launcher!r} is unknown; use 'basic' or 'joblib'.")


def job_seconds(sweep_dir: Path) -> dict[str, float]:
    """Pipeline seconds of each job (sum of its stage timings), keyed by the job's overrides."""
    out = {}
    for timings in sorted(sweep_dir.glob("*/timings.json"), key=lambda p: int(p.parent.name)):
        overrides = (timings.parent / ".hydra" / "overrides.yaml").read_text()
        label = next((ln.split("=", 1)[1] for ln in overrides.splitlines() if "experiment=" in ln), "?")
        out[label] = sum(json.loads(timings.read_text()).values())
    return out


def run_sweep(launcher: str, overrides: list[str], n_jobs: int, home: Path) -> SweepTiming:
    """Run the study once in the empty store under ``home``; raises if the sweep fails."""
    exe = Path(sys.executable).parent / "landscape-bench"
    args = [
        str(exe),
        "-m",
        f"study={STUDY}",
        "threads=1",
        *overrides,
        *launcher_overrides(launcher, n_jobs),
        f"paths.home={home}",
        f"report.dir={home / 'boards'}",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - t0
    if r.returncode != 0 or not (home / "boards" / f"{STUDY}.csv").is_file():
        raise RuntimeError(f"{launcher} sweep failed (exit {r.returncode}):\n{r.stderr[-3000:]}")
    (sweep_dir,) = (home / "multirun" / STUDY).iterdir()
    board = pd.read_csv(home / "boards" / f"{STUDY}.csv")
    return SweepTiming(launcher, seconds, job_seconds(sweep_dir), board)


def same_numbers(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Both leaderboards hold the same rows with bit-identical scores."""
    keys = ["settings", "zoo", "target", "feature_set", "regressor"]
    numbers = [c for c in a.columns if c.endswith(("_value", "_ci_low", "_ci_high"))]
    a = a.sort_values(keys).reset_index(drop=True)
    b = b.sort_values(keys).reset_index(drop=True)
    return a[keys].equals(b[keys]) and a[numbers].equals(b[numbers])


def report(basic: SweepTiming, joblib: SweepTiming, n_jobs: int, overrides: list[str]) -> str:
    """The side-by-side table (Markdown)."""
    ratio = joblib.seconds / basic.seconds
    lines = [
        f"descriptor-comparison sweep: landscape-bench -m study={STUDY} threads=1 {' '.join(overrides)}".rstrip(),
        f"{len(basic.job_seconds)} jobs, each sweep in a fresh store, {os.cpu_count()} CPU cores",
        "",
        "| launcher | wall s | ratio to basic |",
        "|---|---|---|",
        f"| basic | {basic.seconds:.1f} | 1.00 |",
        f"| joblib, {n_jobs} workers | {joblib.seconds:.1f} | {ratio:.2f} |",
        "",
        "| job (experiment) | pipeline s, basic | pipeline s, joblib |",
        "|---|---|---|",
    ]
    for label, seconds in basic.job_seconds.items():
        lines.append(f"| {label} | {seconds:.1f} | {joblib.job_seconds.get(label, float('nan')):.1f} |")
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    lines += [
        "",
        f"joblib/basic = {ratio:.2f} ({verdict} the target <= {TARGET_RATIO}); "
        f"leaderboards identical: {'yes' if same_numbers(basic.board, joblib.board) else 'NO'}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmark.perf.sweep_launchers",
        description="The descriptor-comparison sweep under the basic and the joblib launcher, side by side.",
    )
    parser.add_argument("--scale", choices=["small", "full"], default="small")
    parser.add_argument("--n-jobs", type=int, default=2, help="joblib workers (default 2)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the stores and sweep folders here")
    args = parser.parse_args(argv)
    overrides = list(SMALL) if args.scale == "small" else []
    with tempfile.TemporaryDirectory(prefix="sweep_launchers_") as tmp:
        root = args.keep or Path(tmp)
        basic = run_sweep("basic", overrides, args.n_jobs, root / "basic")
        joblib = run_sweep("joblib", overrides, args.n_jobs, root / "joblib")
    print(report(basic, joblib, args.n_jobs, overrides))
    return 0


if __name__ == "__main__":
    sys.exit(main())
