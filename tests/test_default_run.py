"""The default benchmark as `make run` runs it (slow: about a minute on 2 cores)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest


@pytest.mark.slow
def test_default_run_then_rerun_loads_every_stage(tmp_path):
    exe = Path(sys.executable).parent / "landscape-bench"
    args = [str(exe), f"paths.home={tmp_path / 'home'}", f"report.dir={tmp_path / 'boards'}"]
    first = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr
    board = pd.read_csv(tmp_path / "boards" / "default.csv")
    assert board["n_models"].max() == 48
    from tests.conftest import compose_plain

    cfg = compose_plain([], tmp_path)
    expected = {"constant", "noise_ceiling", *cfg["descriptors"], *cfg["evaluation"]["combinations"]}
    expected |= set(cfg["evaluation"]["diagram_sets"])
    assert set(board["feature_set"]) == expected
    second = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert second.returncode == 0, second.stderr
    counts = dict(
        (stage, (int(loaded), int(computed)))
        for stage, loaded, computed in re.findall(r"(\w+): (\d+) loaded from store, (\d+) computed", second.stderr)
    )
    assert set(counts) == {"run", "landscape", "curvature", "features", "scores", "univariate"}
    assert all(computed == 0 and loaded > 0 for loaded, computed in counts.values()), counts
    pd.testing.assert_frame_equal(board, pd.read_csv(tmp_path / "boards" / "default.csv"))
