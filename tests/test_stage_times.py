"""Compute times kept beside the artifacts: a rerun from the store reports what each stage took when
it was computed, apart from what the rerun spent loading; a dry run estimates what is left."""

from __future__ import annotations

import json
import math
import statistics

import pytest
from omegaconf import OmegaConf

from benchmark import pipeline
from benchmark.api import write_run_leaderboard
from benchmark.cli import format_plan
from benchmark.records import FeatureRow, Landscape
from benchmark.report.gather import sweep_plan
from benchmark.report.leaderboard import stage_seconds_table
from benchmark.report.provenance import compute_summary, merge_compute
from benchmark.store import TIME_SUFFIX, ArtifactStore, ComputeTime, encode

from .conftest import compose_plain

SMALL = [
    "experiment=tiny",
    "descriptors=[merge_tree,param_count]",
    "evaluation.targets=[test_accuracy]",
    "regressor=[ridge]",
    "protocol.n_bootstrap=20",
]
STORE_STAGES = {
    "zoo": ["run"],
    "landscape": ["landscape"],
    "descriptors": ["features"],
    "evaluation": ["scores", "univariate"],
}
"""The store's stages behind each stage the timings name."""


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("stage_times")


@pytest.fixture(scope="module")
def fresh(home):
    """The first run, into an empty store: it computes everything."""
    cfg = compose_plain(SMALL, home)
    return cfg, pipeline.run(cfg)


def _store(cfg: dict) -> ArtifactStore:
    return ArtifactStore(cfg["paths"]["store"])


def test_a_fresh_run_records_each_artifacts_compute_time_beside_it(fresh):
    cfg, result = fresh
    store = _store(cfg)
    assert set(result.compute_times) == set(result.timings) == {"zoo", "landscape", "descriptors", "evaluation"}
    for stage, times in result.compute_times.items():
        computed = sum(c for s, (_, c) in result.store_counts.items() if pipeline.TIMED.get(s, s) == stage)
        assert times.artifacts == computed > 0 and times.unrecorded == 0, stage
        # the computations happen inside the stage, which also loads data, checks models, ...
        assert 0 < times.seconds <= result.timings[stage], stage
    assert set(STORE_STAGES) == set(result.compute_seconds)
    for stage, store_stages in STORE_STAGES.items():
        for key, seconds in result.compute_seconds[stage].items():
            assert any(store.recorded_seconds(s, key) == seconds for s in store_stages), (stage, key)
    key = next(iter(result.compute_seconds["landscape"]))
    sidecar = json.loads(store.time_path("landscape", key).read_text())
    assert sidecar["stage"] == "landscape" and sidecar["key"] == key and sidecar["group"] == 1
    assert sidecar["size"] == 9**2  # the grid's nodes (landscape.steps=9, ndim 2)
    # the artifact itself is what it always was: the record, its identity, nothing about time
    landscape = store.load("landscape", key, Landscape)
    assert store.path("landscape", key).read_bytes() == encode(landscape, "landscape", key)


def test_a_rerun_reports_the_first_measured_times_and_its_own_load_time(fresh):
    cfg, first = fresh
    again = pipeline.run(cfg)
    assert all(computed == 0 for _, computed in again.store_counts.values())  # everything loaded
    assert again.compute_times == first.compute_times  # as first measured, to the bit
    assert again.compute_seconds == first.compute_seconds
    assert again.timings["zoo"] < first.compute_times["zoo"].seconds  # loading 8 runs beats training them
    assert sum(again.timings.values()) < sum(t.seconds for t in first.compute_times.values())


def test_an_artifact_without_its_sidecar_loads_and_counts_as_not_recorded(fresh, tmp_path):
    cfg, first = fresh
    store = _store(cfg)
    keys = list(first.compute_seconds["landscape"])
    removed, damaged = store.time_path("landscape", keys[0]), store.time_path("landscape", keys[1])
    kept = {p: p.read_bytes() for p in (removed, damaged)}
    artifact = store.path("landscape", keys[0]).stat()
    try:
        removed.unlink()  # as a store filled before compute times were recorded
        damaged.write_text(kept[removed].decode())  # another key's sidecar: not this artifact's time
        again = pipeline.run(cfg)
        assert again.store_counts["landscape"] == (len(keys), 0)  # loaded, not recomputed
        assert store.path("landscape", keys[0]).stat().st_mtime_ns == artifact.st_mtime_ns
        assert again.features.equals(first.features)
        times = again.compute_times["landscape"]
        assert (times.artifacts, times.unrecorded) == (len(keys), 2)
        rest = [first.compute_seconds["landscape"][k] for k in keys[2:]]
        assert times.seconds == pytest.approx(math.fsum(rest))
        files = write_run_leaderboard(again, cfg, OmegaConf.create(cfg), SMALL, "landscape-bench ...")
        md = files.markdown.read_text()
        assert "| stage | seconds to compute (as first measured) | seconds this run (loading + computing) |" in md
        zoo = first.compute_times["zoo"]
        assert f"| zoo | {round(zoo.seconds, 2)} | {round(again.timings['zoo'], 2)} |" in md
        assert f"| landscape | {round(times.seconds, 2)} (not recorded for 2 of {len(keys)}) |" in md
        assert "| seconds per stage |" not in md
    finally:
        for path, data in kept.items():
            path.write_bytes(data)


def test_a_dry_run_estimates_from_the_times_recorded_in_the_store(home, fresh, tmp_path):
    _, first = fresh
    recorded = first.compute_seconds
    # one more seed: 4 of 12 runs to train, estimated from this config's 8 stored runs
    estimates: dict[str, pipeline.Estimate] = {}
    rows = pipeline.plan(compose_plain([*SMALL, "zoo.axes.seed=[0,1,2]"], home), estimates=estimates)
    run = estimates["run"]
    assert (run.count, run.rough) == (4, False) and "stored for this config" in run.basis
    assert run.each == pytest.approx(statistics.fmean(recorded["zoo"].values()))
    text = format_plan("tiny", rows, estimates)
    assert text.splitlines()[2].split() == ["run", "12", "8", "4"]  # the table keeps its columns
    assert "estimated compute time: about " in text and "rough guess" not in text
    # a finer grid: no landscape of it stored, so the store's per-node time scaled to its 11 x 11 nodes
    estimates = {}
    pipeline.plan(compose_plain([*SMALL, "landscape.steps=11"], home), estimates=estimates)
    per_node = statistics.fmean(t / 81 for t in recorded["landscape"].values())
    assert estimates["landscape"].each == pytest.approx(per_node * 121) and estimates["landscape"].count == 8
    assert estimates["run"].count == 0 and estimates["run"].seconds == 0
    # an empty store: the declared rough guesses, labelled as such
    estimates = {}
    rows = pipeline.plan(compose_plain(SMALL, tmp_path), estimates=estimates)
    assert all(e.rough for e in estimates.values())
    rough = {s.name: s.rough_seconds for s in pipeline.STAGES}
    assert (
        estimates["landscape"].each == pytest.approx(81 * rough["landscape"]) and estimates["run"].each == rough["run"]
    )
    assert estimates["scores"].upper and estimates["scores"].count == {s: n for s, n, _ in rows}["scores"]
    text = format_plan("tiny", rows, estimates)
    assert "(rough guess: no time recorded in this store" in text and "<= " in text


def test_a_group_computed_together_shares_its_time_out_evenly(tmp_path):
    store = ArtifactStore(tmp_path)

    def compute(group: list[int]) -> list[FeatureRow]:
        return [FeatureRow(f"m{i}", "d", {"x": float(i)}, {}) for i in group]

    keys = [f"{i:02x}" * 32 for i in range(5)]
    store.map_groups("g", keys, FeatureRow, [[0, 1, 2], [3, 4]], compute)
    sidecars = [json.loads(store.time_path("g", k).read_text()) for k in keys]
    assert [s["group"] for s in sidecars] == [3, 3, 3, 2, 2]
    assert len({s["seconds"] for s in sidecars[:3]}) == 1 and len({s["seconds"] for s in sidecars[3:]}) == 1
    assert store.stats["g"].seconds == {k: s["seconds"] for k, s in zip(keys, sidecars, strict=True)}
    store.save("g", keys[0], compute([0])[0])  # saved without a time: none is kept for it
    assert not store.time_path("g", keys[0]).exists() and store.recorded_seconds("g", keys[0]) is None
    store.discard("g", keys[1])
    assert not store.time_path("g", keys[1]).exists() and not store.path("g", keys[1]).exists()
    store.time_path("g", keys[2]).write_text("{not json")
    assert store.recorded_seconds("g", keys[2]) is None
    assert [r.key for r in store.compute_records("g")] == sorted(keys[3:])  # valid sidecars of stored artifacts
    assert not list(tmp_path.rglob("*.tmp")) and all(
        p.name.endswith((".npz", TIME_SUFFIX)) for p in tmp_path.glob("g/*/*")
    )


def test_a_sweep_counts_an_artifact_its_jobs_share_once(tmp_path):
    jobs = [{"zoo": {"a": 2.0, "b": None}, "landscape": {"c": 1.0}}, {"zoo": {"a": 2.0, "b": 3.0, "d": 0.5}}]
    merged = merge_compute(jobs)
    assert merged == {"zoo": {"a": 2.0, "b": 3.0, "d": 0.5}, "landscape": {"c": 1.0}}
    assert ComputeTime.of({"a": 1.0, "b": None}) == ComputeTime(1.0, 2, 1)
    summary = compute_summary({"zoo": {"a": 2.0, "b": None}, "descriptors": {}})
    table = stage_seconds_table({"zoo": 0.25, "descriptors": 0.1, "evaluation": 1.5}, summary)
    assert table[2:] == [
        "| zoo | 2.0 (not recorded for 1 of 2) | 0.25 |",
        "| descriptors | — (nothing stored) | 0.1 |",
        "| evaluation | — (nothing stored) | 1.5 |",
    ]
    # two jobs' dry-run plans that share the run "a": the sweep computes three runs, not four
    for job, (other, rough) in enumerate([("b", False), ("c", True)]):
        plan = {
            "rows": [["run", 2, 0]],
            "keys": {"run": {"a": False, other: False}},
            "estimates": {"run": {"each": 1.5, "rough": rough}},
        }
        (tmp_path / str(job)).mkdir()
        (tmp_path / str(job) / "plan.json").write_text(json.dumps(plan))
    last = sweep_plan(tmp_path).splitlines()[-1]
    assert last == "estimated compute time of the sweep: about 4.5s (a rough guess for run: no time recorded)"
