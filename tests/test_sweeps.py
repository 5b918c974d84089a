"""Sweeps: the ready studies, the launchers (basic, joblib, submitit), dry runs, gathering, and
sweeps that are killed or run side by side on one store."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from benchmark.cli import launcher_threads
from benchmark.pipeline import validate
from benchmark.records import Curvature, FeatureRow, Landscape, ScoreRow, TrainingRun
from benchmark.report.gather import main as gather_main
from benchmark.store import decode
from benchmark.suite import heaviest_first, landscape_entries, load_suite  # registers the ${suite:...} resolver

from .conftest import CONF, compose_plain

EXE = Path(sys.executable).parent / "landscape-bench"
STUDIES = sorted(p.stem for p in (CONF / "study").glob("*.yaml"))
NUMBERS = ["r2_value", "mae_value", "spearman_value", "kendall_value", "r2_ci_low", "r2_ci_high", "n_models"]
KEYS = ["settings", "zoo", "target", "feature_set", "regressor"]
RECORDS = {
    "run": TrainingRun,
    "landscape": Landscape,
    "curvature": Curvature,
    "features": FeatureRow,
    "scores": ScoreRow,
}
# a two-job sweep of the tiny experiment: both jobs share the zoo, each has its own landscapes
SWEEP = ["-m", "experiment=tiny", "threads=1", "landscape.span=0.5,1.0"]


def _cli(args: list[str], home: Path, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    args = [*args, f"paths.home={home}", f"report.dir={home / 'boards'}"]
    return subprocess.run([str(EXE), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _hydra_cfg(overrides: list[str]):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def sweep_jobs(params: dict[str, str]) -> list[list[str]]:
    """The job overrides Hydra's basic sweeper makes of ``hydra.sweeper.params`` (cartesian product)."""
    parser = OverridesParser.create()
    axes = []
    for key, value in params.items():
        (override,) = parser.parse_overrides([f"{key}={value}"])
        values = list(override.sweep_string_iterator()) if override.is_sweep_override() else [override.value()]
        axes.append([f"{key}={v}" for v in values])
    return [list(job) for job in itertools.product(*axes)]


# ----------------------------------------------------------------------------- studies


@pytest.mark.parametrize("study", STUDIES)
def test_every_study_expands_into_jobs_that_validate(study, tmp_path):
    cfg = _hydra_cfg([f"study={study}", f"paths.home={tmp_path}"])
    assert cfg.name == study  # the leaderboard is named after the study
    params = OmegaConf.to_container(cfg.hydra.sweeper.params, resolve=True)
    jobs = sweep_jobs(params)
    assert len(jobs) >= 2, f"study {study} is not a sweep"
    for job in jobs:
        plain = compose_plain([f"study={study}", *job], tmp_path)
        assert plain["name"] == study
        validate(plain)


def _needs_local_files(zoo: dict) -> bool:
    """Whether every dataset a zoo trains on is read from a local folder (``dataset.root``, e.g.
    resnet20_cifar10 on CIFAR-10): such a zoo is not embedded (the suite runs without files)."""
    return all("root" in yaml.safe_load((CONF / "dataset" / f"{d}.yaml").read_text()) for d in zoo["datasets"])


def test_descriptor_comparison_covers_every_embedded_zoo(tmp_path):
    cfg = _hydra_cfg(["study=compare_descriptors", f"paths.home={tmp_path}"])
    jobs = sweep_jobs(OmegaConf.to_container(cfg.hydra.sweeper.params, resolve=True))
    zoos = {compose_plain(["study=compare_descriptors", *job], tmp_path)["zoo"]["name"] for job in jobs}
    tables = {p.stem for p in (CONF / "zoo").glob("*.yaml") if yaml.safe_load(p.read_text()).get("source") == "table"}
    embedded = {
        p.stem
        for p in (CONF / "zoo").glob("*.yaml")
        if "source" not in (zoo := yaml.safe_load(p.read_text())) and not _needs_local_files(zoo)
    }
    assert zoos == embedded and {"table", "model_diagnosis"} <= tables
    # exactly the suite's experiments with landscapes, the most work first, each with both regressors
    experiments = [e.name for e in heaviest_first(landscape_entries(load_suite(CONF)))]
    assert jobs == [[f"experiment={e}", f"regressor={r}"] for e in experiments for r in ("ridge", "random_forest")]


def test_a_study_without_multirun_is_refused(tmp_path):
    r = _cli(["study=pinn_beta"], tmp_path, tmp_path)
    assert r.returncode == 2
    assert "study=pinn_beta is a sweep; run it with -m: landscape-bench -m study=pinn_beta" in r.stderr


def test_dry_run_of_a_study_prints_every_job_and_computes_nothing(tmp_path):
    r = _cli(["-m", "study=pinn_beta", "dry_run=true"], tmp_path, tmp_path)
    assert r.returncode == 0, r.stderr
    assert "dry run of a sweep of 3 jobs: nothing computed" in r.stdout
    table = r.stdout[r.stdout.index("dry run of a sweep") :].splitlines()
    cells = [line.split() for line in table[2:6]]
    assert [c[:4] for c in cells] == [
        ["0", "56/56", "56/56", "56/56"],
        ["1", "104/104", "104/104", "104/104"],
        ["2", "160/160", "160/160", "160/160"],
        ["all", "160/160", "160/160", "160/160"],  # the three jobs share the 160 models: each counted once
    ]
    assert cells[3][4] == cells[2][4]  # features: the pooled job needs them all
    assert cells[0][-1] == "zoo.axes.beta=[1,4,7,10,13,16,19]" and cells[2][-1].startswith("zoo.axes.beta=[1,4,7,")
    assert "no leaderboard" not in r.stderr
    assert not (tmp_path / "store").exists() and not (tmp_path / "boards").exists()


# ----------------------------------------------------------------------------- launchers


def test_slurm_launcher_config_and_threads(tmp_path):
    cfg = _hydra_cfg(["hydra/launcher=slurm", "hydra.launcher.partition=cpu", f"paths.home={tmp_path}"])
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.partition, launcher.cpus_per_task, launcher.timeout_min, launcher.mem_gb) == ("cpu", 4, 120, 8)
    assert launcher_threads(launcher) == 4  # each job runs with the CPUs it reserved
    assert launcher_threads(_hydra_cfg(["hydra/launcher=joblib"]).hydra.launcher) is None
    assert launcher_threads(_hydra_cfg([]).hydra.launcher) is None


def _artifacts(home: Path) -> dict[Path, tuple[int, int]]:
    """Every finished artifact of the store: path -> (inode, mtime_ns)."""
    out = {}
    for stage in RECORDS:
        for path in (home / "store" / stage).rglob("*.npz"):
            st = path.stat()
            out[path] = (st.st_ino, st.st_mtime_ns)
    return out


def _all_whole(home: Path) -> int:
    """Decode every artifact (digest checked); the number of artifacts."""
    paths = list(_artifacts(home))
    for path in paths:
        decode(path.read_bytes(), RECORDS[path.parent.parent.name])
    return len(paths)


def _board(home: Path) -> pd.DataFrame:
    frame = pd.read_csv(home / "boards" / "tiny.csv")
    return frame.sort_values(KEYS).reset_index(drop=True)


def _sweep_dir(home: Path) -> Path:
    (folder,) = sorted((home / "multirun" / "tiny").iterdir())[-1:]
    return folder


@pytest.mark.slow
def test_same_sweep_same_leaderboard_under_basic_joblib_and_submitit(tmp_path):
    boards = {}
    launchers = {
        "basic": [],
        "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
        "submitit": [
            "hydra/launcher=submitit_local",
            "hydra.launcher.cpus_per_task=1",
            "hydra.launcher.timeout_min=20",
        ],
    }
    for name, extra in launchers.items():
        home = tmp_path / name
        r = _cli([*SWEEP, *extra], home, tmp_path)
        assert r.returncode == 0, r.stderr
        assert "sweep of 2 jobs" in r.stdout
        boards[name] = _board(home)
        logs = [p.read_text() for p in _sweep_dir(home).glob("*/landscape-bench.log")]
        assert len(logs) == 2 and all("torch threads: 1" in log for log in logs)
    assert set(boards["basic"]["settings"]) == {"landscape.span=0.5", "landscape.span=1.0"}
    for name in ("joblib", "submitit"):
        pd.testing.assert_frame_equal(boards[name][KEYS + NUMBERS], boards["basic"][KEYS + NUMBERS], check_exact=True)

    # the standalone gather command rebuilds the same leaderboard from the sweep folder
    sweep = _sweep_dir(tmp_path / "basic")
    assert gather_main([str(sweep), "--report-dir", str(tmp_path / "regathered"), "--name", "tiny"]) == 0
    again = pd.read_csv(tmp_path / "regathered" / "tiny.csv").sort_values(KEYS).reset_index(drop=True)
    pd.testing.assert_frame_equal(again, boards["basic"], check_exact=True)
    md = (tmp_path / "regathered" / "tiny.md").read_text()
    assert "gathered by" in md and "landscape-bench -m experiment=tiny" in md


def _kill(args: list[str], cwd: Path, home: Path, after_progress: bool | None, delay: float) -> bool:
    """Start the sweep; SIGKILL it and its workers ``delay`` s after start (or after its first new
    artifact); check every stored artifact is whole. True if it was still running when killed."""
    n0 = len(_artifacts(home))
    # the sweep and its joblib workers form one process group: kill them all at once
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    t0 = time.monotonic()
    while after_progress and proc.poll() is None and len(_artifacts(home)) <= n0 and time.monotonic() - t0 < 300:
        time.sleep(0.1)
    time.sleep(delay)
    running = proc.poll() is None
    if running:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    _all_whole(home)
    return running


@pytest.mark.slow
def test_sweep_killed_at_several_moments_resumes_without_recomputing(tmp_path):
    joblib = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    clean = _cli([*SWEEP, *joblib], tmp_path / "clean", tmp_path)
    assert clean.returncode == 0, clean.stderr
    expected = _board(tmp_path / "clean")

    home = tmp_path / "killed"
    args = [str(EXE), *SWEEP, *joblib, f"paths.home={home}", f"report.dir={home / 'boards'}"]
    # once during start-up, then at growing delays after each round's first new artifact
    killed = [_kill(args, tmp_path, home, after_progress=None, delay=2.0)]
    killed += [_kill(args, tmp_path, home, after_progress=True, delay=d) for d in (0.0, 1.0, 2.0, 4.0)]
    assert sum(killed) >= 3, "the sweep finished before most kills; nothing tested"
    before = _artifacts(home)
    assert before, "the kills came before anything was stored; nothing tested"
    final = _cli([*SWEEP, *joblib], home, tmp_path)
    assert final.returncode == 0, final.stderr
    after = _artifacts(home)
    assert {p: after.get(p) for p in before} == before  # nothing stored was recomputed or rewritten
    assert _all_whole(home) == len(after)
    pd.testing.assert_frame_equal(_board(home)[KEYS + NUMBERS], expected[KEYS + NUMBERS], check_exact=True)


def _computed(stderr: str) -> dict[str, int]:
    line = next(ln for ln in stderr.splitlines() if "loaded from store" in ln)
    return {stage: int(n) for stage, n in re.findall(r"(\w+): \d+ loaded from store, (\d+) computed", line)}


@pytest.mark.slow
def test_two_processes_on_one_store_compute_each_artifact_once(tmp_path):
    home = tmp_path / "home"
    procs = [
        subprocess.Popen(
            [str(EXE), "experiment=tiny", "threads=1", f"paths.home={home}", f"report.dir={tmp_path / f'b{i}'}"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e for _, e in outs]
    computed = [_computed(err) for _, err in outs]
    stored = {stage: len(list((home / "store" / stage).rglob("*.npz"))) for stage in RECORDS}
    for stage, n in stored.items():
        assert computed[0].get(stage, 0) + computed[1].get(stage, 0) == n, (stage, computed, stored)
    assert _all_whole(home) == sum(stored.values())
    a, b = (pd.read_csv(tmp_path / f"b{i}" / "tiny.csv") for i in range(2))
    pd.testing.assert_frame_equal(a[NUMBERS], b[NUMBERS], check_exact=True)


def test_launcher_timing_report_shows_every_repeat_and_the_median():
    from benchmark.perf.sweep_launchers import SweepTiming, launcher_overrides, report

    keys = {"settings": [""], "zoo": ["z"], "target": ["t"], "feature_set": ["f"], "regressor": ["ridge"]}
    board = pd.DataFrame({**keys, "r2_value": [0.5]})
    other = board.assign(r2_value=[0.25])

    def pair(basic_s: float, joblib_s: float, joblib_board: pd.DataFrame) -> tuple[SweepTiming, SweepTiming]:
        return (
            SweepTiming("basic", basic_s, {"experiment=a": basic_s - 1}, board),
            SweepTiming("joblib", joblib_s, {"experiment=a": joblib_s - 1}, joblib_board),
        )

    text = report([pair(100, 60, board), pair(100, 70, board), pair(100, 50, board)], 2, ["x=1"])
    assert "| 2 | 100.0 | 70.0 | 0.70 |" in text
    assert "| experiment=a | 99.0 | 59.0 |" in text  # the jobs of the median repeat
    assert "median of 3: 0.60 (meets the target <= 0.65); leaderboards identical: yes" in text
    assert "misses" in report([pair(100, 66, board)], 2, []) and "identical: NO" in report([pair(1, 1, other)], 2, [])
    assert launcher_overrides("joblib", 3) == ["hydra/launcher=joblib", "hydra.launcher.n_jobs=3"]
    with pytest.raises(ValueError, match="unknown"):
        launcher_overrides("slurm", 2)


@pytest.mark.parametrize(
    ("args", "message"), [(["--repeats", "0"], "--repeats >= 1"), (["--n-jobs", "1"], "--n-jobs >= 2")]
)
def test_launcher_timing_refuses_a_request_it_cannot_measure(args, message, tmp_path, capsys):
    from benchmark.perf.sweep_launchers import main

    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "store").mkdir()  # a store left by an earlier measurement would make it warm
    for request, expected in [(args, message), (["--keep", str(tmp_path / "old")], "is not empty")]:
        with pytest.raises(SystemExit) as exit_info:
            main(request)
        assert exit_info.value.code == 2 and expected in capsys.readouterr().err
