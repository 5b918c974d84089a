"""Faults: a run killed at any moment resumes, recomputes nothing finished, and ends identical."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from benchmark.records import Landscape, TrainingRun
from benchmark.store import CorruptArtifactError, decode

EXE = Path(sys.executable).parent / "landscape-bench"
NUMBERS = ["r2_value", "mae_value", "spearman_value", "kendall_value", "r2_ci_low", "r2_ci_high"]


def _run(tmp_path: Path, home: Path, board: Path) -> subprocess.CompletedProcess:
    args = [str(EXE), "experiment=tiny", "threads=1", f"paths.home={home}", f"report.dir={board}"]
    return subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=900)


def _every_artifact_is_whole(home: Path) -> None:
    for path in (home / "store").rglob("*.npz"):
        cls = {"run": TrainingRun, "landscape": Landscape}.get(path.parent.parent.name)
        if cls is not None:
            try:
                decode(path.read_bytes(), cls)
            except CorruptArtifactError as exc:  # pragma: no cover - the assertion is the point
                pytest.fail(f"half-written artifact {path}: {exc}")


@pytest.mark.slow
def test_sigkill_at_several_moments_then_resume_equals_uninterrupted(tmp_path):
    clean = _run(tmp_path, tmp_path / "clean", tmp_path / "clean_board")
    assert clean.returncode == 0, clean.stderr
    expected = pd.read_csv(tmp_path / "clean_board" / "tiny.csv")

    home, board = tmp_path / "killed", tmp_path / "killed_board"
    args = [str(EXE), "experiment=tiny", "threads=1", f"paths.home={home}", f"report.dir={board}"]
    for delay in (2.0, 4.0, 6.0, 8.0):
        proc = subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        _every_artifact_is_whole(home)
    finished_runs = len(list((home / "store" / "run").rglob("*.npz"))) if (home / "store" / "run").exists() else 0
    final = _run(tmp_path, home, board)
    assert final.returncode == 0, final.stderr
    assert f"run: {finished_runs} loaded from store" in final.stderr  # nothing finished is recomputed
    got = pd.read_csv(board / "tiny.csv")
    pd.testing.assert_frame_equal(got[NUMBERS], expected[NUMBERS], check_exact=True)
