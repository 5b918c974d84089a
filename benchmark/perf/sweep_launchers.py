"""The descriptor-comparison sweep under the basic and the joblib launcher, side by side.

    landscape-bench-perf-sweep-launchers [--scale small|full] [--n-jobs 2] [--repeats 1] [--keep DIR]

Runs ``landscape-bench -m study=compare_descriptors`` (two jobs per embedded zoo, one per
regressor) from one script, each time in a fresh, empty artifact store and with one torch thread
per job: first with Hydra's basic launcher (jobs one after another in one process), then with the
joblib launcher on ``--n-jobs`` worker processes; ``--repeats`` times. Prints the wall times, the
ratio joblib / basic (per repeat, and the median), the seconds every job spent in the pipeline
(from its ``timings.json``: how the work spreads over the workers), and whether both launchers
wrote the same leaderboard.

``--scale small`` (the default) trains every zoo briefly (one epoch; PINNs 300 Adam and 50
L-BFGS steps; a hyperparameter a zoo's task does not use is ignored), on
5x5 grids, with few Hessian-vector products and bootstrap resamples (the overrides are printed);
``--scale full`` runs the study as configured. The two jobs of a zoo split its training,
landscapes and curvature between them (per model, through the store's locks); a zoo of few,
unequal models (timm) splits unevenly, which bounds the ratio from below.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

STUDY = "compare_descriptors"
SMALL = (
    "++zoo.fixed.epochs=1",  # classification zoos; PINNs train by steps:
    "++zoo.fixed.adam_steps=300",
    "++zoo.fixed.lbfgs_steps=50",
    "landscape.steps=5",
    "landscape.n_samples=64",
    "curvature.n_samples=64",
    "curvature.lanczos_iters=5",
    "curvature.trace_samples=4",
    "protocol.n_repeats=1",
    "protocol.n_bootstrap=100",
)
TARGET_RATIO = 0.65
SWEPT = ("experiment=", "regressor=")  # the study's axes: they name a job


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
    """Pipeline seconds of each job (sum of its stage timings), keyed by its study axes."""
    out = {}
    for timings in sorted(sweep_dir.glob("*/timings.json"), key=lambda p: int(p.parent.name)):
        overrides = (timings.parent / ".hydra" / "overrides.yaml").read_text().splitlines()
        label = " ".join(ln.lstrip("- ") for ln in overrides if ln.lstrip("- ").startswith(SWEPT))
        out[label or timings.parent.name] = sum(json.loads(timings.read_text()).values())
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


def report(
    pairs: list[tuple[SweepTiming, SweepTiming]], n_jobs: int, overrides: list[str], loads: tuple[float, ...] = ()
) -> str:
    """The side-by-side tables (Markdown): every repeat's wall times and ratio, then the jobs of
    the repeat with the median ratio."""
    ratios = [joblib.seconds / basic.seconds for basic, joblib in pairs]
    median = statistics.median(ratios)
    basic, joblib = pairs[min(range(len(pairs)), key=lambda i: abs(ratios[i] - median))]
    lines = [
        f"descriptor-comparison sweep: landscape-bench -m study={STUDY} threads=1 {' '.join(overrides)}".rstrip(),
        f"{len(basic.job_seconds)} jobs; every sweep in a fresh store; {os.cpu_count()} CPU cores"
        + (f"; load average (1 min) {' / '.join(f'{x:.1f}' for x in loads)} before / after" if loads else ""),
        "",
        f"| repeat | basic, wall s | joblib ({n_jobs} workers), wall s | joblib / basic |",
        "|---|---|---|---|",
    ]
    for i, ((b, j), ratio) in enumerate(zip(pairs, ratios, strict=True), start=1):
        lines.append(f"| {i} | {b.seconds:.1f} | {j.seconds:.1f} | {ratio:.2f} |")
    lines += [
        "",
        "| job (repeat with the median ratio) | pipeline s, basic | pipeline s, joblib |",
        "|---|---|---|",
    ]
    for label, seconds in basic.job_seconds.items():
        lines.append(f"| {label} | {seconds:.1f} | {joblib.job_seconds.get(label, float('nan')):.1f} |")
    verdict = "meets" if median <= TARGET_RATIO else "misses"
    identical = all(same_numbers(b.board, j.board) for b, j in pairs)
    lines += [
        "",
        f"joblib / basic, median of {len(pairs)}: {median:.2f} ({verdict} the target <= {TARGET_RATIO}); "
        f"leaderboards identical: {'yes' if identical else 'NO'}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="landscape-bench-perf-sweep-launchers",
        description="The descriptor-comparison sweep under the basic and the joblib launcher, side by side.",
    )
    parser.add_argument("--scale", choices=["small", "full"], default="small")
    parser.add_argument("--n-jobs", type=int, default=2, help="joblib workers (default 2)")
    parser.add_argument("--repeats", type=int, default=1, help="basic-then-joblib pairs (default 1)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the stores and sweep folders here")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.n_jobs < 2:
        parser.error(f"--repeats {args.repeats} --n-jobs {args.n_jobs}: use --repeats >= 1 and --n-jobs >= 2.")
    if args.keep is not None and args.keep.exists() and any(args.keep.iterdir()):
        parser.error(f"--keep {args.keep} is not empty; every sweep starts from an empty store, so give a new folder.")
    overrides = list(SMALL) if args.scale == "small" else []
    pairs = []
    load_before = os.getloadavg()[0]  # other work on the machine slows the parallel sweep most
    with tempfile.TemporaryDirectory(prefix="sweep_launchers_") as tmp:
        root = args.keep or Path(tmp)
        for r in range(args.repeats):
            basic = run_sweep("basic", overrides, args.n_jobs, root / f"{r}" / "basic")
            joblib = run_sweep("joblib", overrides, args.n_jobs, root / f"{r}" / "joblib")
            pairs.append((basic, joblib))
            print(  # as each repeat ends, so a failure in a later one loses no measurement
                f"repeat {r + 1}: basic {basic.seconds:.1f} s, joblib {joblib.seconds:.1f} s, "
                f"joblib / basic {joblib.seconds / basic.seconds:.2f}",
                file=sys.stderr,
                flush=True,
            )
    print(report(pairs, args.n_jobs, overrides, (load_before, os.getloadavg()[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
