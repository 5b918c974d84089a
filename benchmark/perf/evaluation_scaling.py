"""The evaluation stage's time as a zoo grows: one experiment's zoo at 50, 200 and 800 models.

    landscape-bench-perf-evaluation-scaling [--sizes 50 200 800] [--experiment default] [--threads 1]

For each size n, the experiment's zoo with n / 2 configurations drawn from its grid and two seeds
each (``zoo.sample``, ``zoo.axes.seed=[0,1]``) is trained, probed and described through the artifact
store (``$LANDSCAPE_BENCH_HOME``, so a rerun loads all of that), then its evaluation runs in a fresh,
empty store of its own and is timed: every row of the leaderboard (each feature set with each
regressor, the diagram sets, the conditional-value fits, the noise ceiling, the paired comparisons)
and the univariate table, exactly as a run computes them. Prints, per size, the seconds, the rows,
the seconds per row, and time(n) / time(smallest) beside n / smallest: linear growth keeps the two
columns equal. The figures of docs/performance.md ("Evaluation as the zoo grows") come from it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Sequence

from benchmark import pipeline
from benchmark.store import ArtifactStore
from benchmark.studies.stability import compose_config


def size_overrides(experiment: str, n_models: int, threads: int) -> list[str]:
    """The experiment's zoo at ``n_models`` models: half as many sampled configurations, two seeds."""
    if n_models < 8 or n_models % 2:
        raise SystemExit(f"--sizes {n_models}: use even sizes of at least 8 (n / 2 configurations, two seeds each).")
    return [f"experiment={experiment}", f"zoo.sample={n_models // 2}", "zoo.axes.seed=[0,1]", f"threads={threads}"]


def evaluation_seconds(cfg: dict) -> tuple[float, int]:
    """Every stage before the evaluation through the configured store, then the evaluation stages in
    an empty store, timed: ``(seconds, score rows)``."""
    with pipeline.compute_limits(cfg):
        s = pipeline.initial_state(cfg)
        for stage in pipeline.STAGES:
            if stage.wanted(s, True) and not stage.scored:
                stage.compute(s)
        with tempfile.TemporaryDirectory(prefix="evaluation-scaling-") as fresh:
            s.store = ArtifactStore(fresh)
            t0 = time.perf_counter()
            for stage in pipeline.STAGES:
                if stage.wanted(s, True) and stage.scored:
                    stage.compute(s)
            return time.perf_counter() - t0, len(s.scores)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="landscape-bench-perf-evaluation-scaling", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 200, 800], help="zoo sizes in models")
    parser.add_argument("--experiment", default="default", help="the experiment whose zoo grows")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads (default 1, as runs use)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)  # stage progress
    rows = []
    for n in sorted(args.sizes):
        cfg = compose_config(size_overrides(args.experiment, n, args.threads))
        seconds, n_rows = evaluation_seconds(cfg)
        rows.append((n, seconds, n_rows))
        print(f"{n} models: evaluation {seconds:.1f} s, {n_rows} rows", flush=True)
    base_n, base_s, _ = rows[0]
    print(f"\nexperiment {args.experiment}, {args.threads} thread(s): the evaluation stage as the zoo grows")
    print(f"{'models':>7} {'seconds':>9} {'rows':>5} {'s / row':>8} {'time ratio':>11} {'size ratio':>11}")
    for n, seconds, n_rows in rows:
        ratios = f"{seconds / base_s:>11.1f} {n / base_n:>11.1f}"
        print(f"{n:>7} {seconds:>9.1f} {n_rows:>5} {seconds / n_rows:>8.2f} {ratios}")


if __name__ == "__main__":
    main()
