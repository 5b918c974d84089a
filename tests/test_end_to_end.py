"""The whole pipeline on the tiny experiment: caching, determinism, CLI and multirun."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from benchmark import pipeline
from benchmark.hessian.stage import compute_curvature
from benchmark.landscape.stage import compute_landscape

from .conftest import compose_plain


@pytest.mark.slow  # a full pipeline run in a subprocess or several; the slow suite holds it
def test_rerun_loads_everything_and_fresh_runs_are_identical(tmp_path):
    cfg = compose_plain(["experiment=tiny"], tmp_path)
    first = pipeline.run(cfg)
    stages = {"run", "landscape", "curvature", "features", "scores", "univariate"}
    assert set(first.store_counts) == stages
    assert all(loaded == 0 and computed > 0 for loaded, computed in first.store_counts.values())
    threads = torch.get_num_threads()
    torch.set_num_threads(threads + 1)
    try:
        again = pipeline.run(cfg)  # at threads=1 ...
        assert torch.get_num_threads() == threads + 1  # ... and the caller's count is back afterwards
    finally:
        torch.set_num_threads(threads)
    assert all(computed == 0 and loaded > 0 for loaded, computed in again.store_counts.values())
    pd.testing.assert_frame_equal(first.features, again.features)
    unscored = pipeline.run(cfg, score=False)  # up to the features: no evaluation stage at all
    assert unscored.scores == [] and unscored.univariate is None and "evaluation" not in unscored.timings
    assert not {"scores", "univariate"} & set(unscored.store_counts)
    pd.testing.assert_frame_equal(first.features, unscored.features)
    # a separate, empty store: same config and seed give the same numbers
    other = compose_plain(["experiment=tiny"], tmp_path / "other")
    fresh = pipeline.run(other)
    pd.testing.assert_frame_equal(first.features, fresh.features, check_exact=True)
    pd.testing.assert_frame_equal(first.scores_frame(), fresh.scores_frame(), check_exact=True)
    assert {"constant", "merge_tree", "hessian", "param_count", "weight_norm", "landscape"} <= set(
        first.scores_frame()["feature_set"]
    )


def _cli(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "landscape-bench"
    return subprocess.run([str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_cli_writes_leaderboard_and_second_run_loads_from_store(tmp_path):
    args = ["experiment=tiny", f"paths.home={tmp_path / 'home'}", f"report.dir={tmp_path / 'boards'}"]
    r = _cli(args, tmp_path, env={**os.environ, "OMP_NUM_THREADS": "2"})  # torch's default: 2 threads
    assert r.returncode == 0, r.stderr
    assert "torch threads: 1" in r.stderr  # the count the run computed with (threads=1), not the default
    md, csv = tmp_path / "boards" / "tiny.md", tmp_path / "boards" / "tiny.csv"
    assert md.is_file() and csv.is_file()
    text = md.read_text()
    assert "git commit" in text and "torch" in text and "resolved config" in text
    assert f"home: {tmp_path / 'home'}" not in text  # the resolved config leaves out the machine's folders
    board = pd.read_csv(csv)
    # knn_bottleneck: h0_bottleneck; seed_mean: the noise ceiling
    assert set(board["regressor"]) == {"mean", "ridge", "random_forest", "knn_bottleneck", "seed_mean"}
    assert set(board["target"]) == {"test_accuracy", "generalization_gap"}
    univariate = pd.read_csv(tmp_path / "boards" / "tiny.univariate.csv")
    assert set(univariate["target"]) == {"test_accuracy", "generalization_gap"}
    assert "Spearman ρ" in (tmp_path / "boards" / "tiny.univariate.md").read_text()
    r2 = _cli(args, tmp_path)
    assert r2.returncode == 0, r2.stderr
    computed = re.findall(r"(\w+): \d+ loaded from store, (\d+) computed", r2.stderr)
    assert len(computed) == len(pipeline.STAGES) and all(n == "0" for _, n in computed), r2.stderr
    pd.testing.assert_frame_equal(board, pd.read_csv(csv))


@pytest.mark.slow  # a full pipeline run in a subprocess or several; the slow suite holds it
def test_joblib_multirun_gathers_all_jobs(tmp_path):
    args = [
        "-m",
        "experiment=tiny",
        "regressor=ridge,random_forest",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        f"paths.home={tmp_path / 'home'}",
        f"report.dir={tmp_path / 'boards'}",
    ]
    r = _cli(args, tmp_path)
    assert r.returncode == 0, r.stderr
    board = pd.read_csv(tmp_path / "boards" / "tiny.csv")
    # knn_bottleneck: h0_bottleneck; seed_mean: the noise ceiling
    assert set(board["regressor"]) == {"mean", "ridge", "random_forest", "knn_bottleneck", "seed_mean"}
    # the constant baseline, computed by both jobs, appears once per target
    assert (board["feature_set"] == "constant").sum() == 2
    assert "sweep of 2 jobs" in r.stdout
    # each job stored its univariate view; the regressor does not change it: one copy is kept
    univariate = pd.read_csv(tmp_path / "boards" / "tiny.univariate.csv")
    assert set(univariate["target"]) == {"test_accuracy", "generalization_gap"} and "settings" not in univariate
    assert len(univariate) == len(univariate.drop_duplicates(["target", "feature"])) > 0


def test_diverged_model_flows_through_with_reasons(tiny_record, digits):
    import dataclasses
    import math

    import numpy as np

    from benchmark.descriptors import DescriptorInputs, build_descriptor

    state = {k: np.full_like(v, np.nan) for k, v in tiny_record.state.items()}
    bad = dataclasses.replace(tiny_record, state=state)
    cfg = compose_plain(["experiment=tiny"], Path("/nonexistent"))
    ls = compute_landscape(bad, digits, cfg["landscape"])
    assert ls.n_masked == ls.values.size  # counted, not filled
    cv = compute_curvature(bad, digits, cfg["curvature"])
    assert math.isnan(cv.lambda_max) and math.isnan(cv.trace)
    inputs = DescriptorInputs(model=bad, landscape=ls, curvature=cv)
    for name in ("merge_tree", "hessian"):
        row = build_descriptor(name).compute(inputs)
        assert all(math.isnan(v) for v in row.values.values()) and set(row.reasons) == set(row.values)


@pytest.mark.slow  # a full pipeline run in a subprocess or several; the slow suite holds it
def test_exported_zoo_reloads_through_a_manifest_with_identical_features(tmp_path):
    cfg = compose_plain(["experiment=tiny", f"export_zoo={tmp_path / 'zoo'}"], tmp_path)
    trained = pipeline.run(cfg)
    manifest = tmp_path / "zoo" / "manifest.json"
    assert manifest.is_file()
    again = compose_plain(["experiment=tiny", "zoo=manifest", f"zoo.manifest={manifest}"], tmp_path)
    loaded = pipeline.run(again)
    assert [m.model_id for m in loaded.models] == [m.model_id for m in trained.models]
    pd.testing.assert_frame_equal(trained.features, loaded.features, check_exact=True)
    assert loaded.store_counts["landscape"][1] == len(loaded.models)  # new keys: computed, not reused


@pytest.mark.slow  # subprocess runs of the CLI (the default suite stays under 10 minutes)
def test_dry_run_plans_without_computing(tmp_path):
    cfg = compose_plain(["experiment=tiny", "zoo.checkpoints=[2]"], tmp_path)
    before = pipeline.plan(cfg)
    assert [(s, n, k) for s, n, k in before if s not in ("scores", "univariate")] == [
        ("run", 8, 0),
        ("landscape", 16, 0),
        ("curvature", 16, 0),
        ("features", 80, 0),
    ]
    assert not (tmp_path / "home" / "store" / "run").exists()  # nothing was trained
    result = pipeline.run(cfg)
    after = pipeline.plan(cfg)
    assert all(k == n for s, n, k in after if s not in ("scores", "univariate"))
    # every scored row, diagram sets included, and the extra rows of the conditional value (not on the
    # leaderboard); the noise ceilings are computed, not stored
    shown = [r for r in result.scores if r.feature_kind != "ceiling"]
    stored = len(list((tmp_path / "home" / "store" / "scores").rglob("*.npz")))
    assert dict((s, n) for s, n, _ in before)["scores"] == stored > len(shown)
    with pytest.raises(pipeline.ConfigError, match="protocol"):  # as the run itself would refuse it
        pipeline.plan({**cfg, "protocol": {**cfg["protocol"], "split": "bogus"}})
    r = _cli(["experiment=tiny", "zoo.checkpoints=[2]", "dry_run=true", f"paths.home={tmp_path / 'home'}"], tmp_path)
    assert r.returncode == 0 and "dry run of 'tiny'" in r.stdout and "run                8         8" in r.stdout


def test_thread_count_joins_the_keys_of_the_torch_stages_unless_it_is_one(tmp_path):
    """Results depend on the thread count (rounding of split sums), so a store never serves an
    artifact computed with another one; one thread, the default, keeps the plain keys."""
    assert pipeline.numerics({"threads": 1}) == {} and pipeline.numerics({"threads": 2}) == {"threads": 2}
    plans = {}
    for threads in ("1", "2"):
        keys: dict[str, dict[str, bool]] = {}
        pipeline.plan(compose_plain(["experiment=tiny", f"threads={threads}"], tmp_path), keys)
        plans[threads] = keys
    assert compose_plain(["experiment=tiny"], tmp_path)["threads"] == 1
    for stage in ("run", "landscape", "curvature", "features"):  # scores: keyed at evaluation time
        assert plans["1"][stage].keys().isdisjoint(plans["2"][stage].keys()), stage
