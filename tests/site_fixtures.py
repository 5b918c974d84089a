"""Inputs of the leaderboard-site tests: a copy of the committed leaderboards, and a small sweep
gathered by ``landscape-bench-gather`` (what a sweep's ``report.dir`` holds)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import yaml

from benchmark.report.gather import main as gather_main

ROOT = Path(__file__).resolve().parents[1]
LEADERBOARDS = ROOT / "leaderboards"
SWEEP_NAME = "tiny_sweep"
SWEEP_SETTINGS = ("landscape.steps=21", "landscape.steps=41")


def copy_leaderboards(to: Path) -> Path:
    """The committed leaderboards/ (its files, not its site/) copied to ``to``; returns ``to``."""
    to.mkdir(parents=True, exist_ok=True)
    for path in sorted(LEADERBOARDS.iterdir()):
        if path.is_file():
            shutil.copy2(path, to / path.name)
    return to


def gathered_sweep(tmp: Path) -> Path:
    """A two-job multirun folder (each job's scores.csv: rows of the committed default.csv, with a
    shifted score in the second job), gathered into ``tmp/boards`` as ``tiny_sweep``; returns the
    boards folder."""
    rows = pd.read_csv(LEADERBOARDS / "default.csv")
    rows = rows[rows["regressor"].isin(["ridge", "mean", "seed_mean"])].reset_index(drop=True)
    sweep = tmp / "multirun"
    for job, setting in enumerate(SWEEP_SETTINGS):
        folder = sweep / str(job)
        (folder / ".hydra").mkdir(parents=True)
        scores = rows.assign(spearman_value=rows["spearman_value"] - 0.01 * job)
        scores.to_csv(folder / "scores.csv", index=False)
        (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["experiment=default", setting]))
    master = {
        "name": SWEEP_NAME,
        "report": {"dir": str(tmp / "boards"), "name": SWEEP_NAME},
        "hydra": {"overrides": {"task": ["experiment=default", "landscape.steps=21,41"]}, "runtime": {"cwd": str(tmp)}},
    }
    (sweep / "multirun.yaml").write_text(yaml.safe_dump(master))
    assert gather_main([str(sweep)]) == 0
    return tmp / "boards"
