"""The declared stage list: a run and its dry run walk the same stages and agree on the work."""

from __future__ import annotations

import pytest

from benchmark import pipeline

from .conftest import compose_plain

CONFIGS = {
    "tiny with checkpoints": [  # one target, one regressor: the plan's counts, not the scores, are the point
        "experiment=tiny",
        "zoo.checkpoints=[2]",
        "evaluation.targets=[test_accuracy]",
        "regressor=[ridge]",
    ],
    "hessian directions, two descriptors, one target": [
        "experiment=tiny",
        "landscape=hessian_2d",
        "landscape.steps=5",
        "descriptors=[merge_tree,param_count]",
        "evaluation.targets=[test_accuracy]",
        "regressor=[ridge]",
    ],
}


@pytest.mark.parametrize("overrides", CONFIGS.values(), ids=CONFIGS.keys())
def test_plan_counts_exactly_what_the_run_then_computes(overrides, tmp_path):
    cfg = compose_plain(overrides, tmp_path)
    planned = pipeline.plan(cfg)
    result = pipeline.run(cfg)
    assert [stage for stage, _, _ in planned] == list(result.store_counts)  # the same stages, in order
    for stage, needed, stored in planned:
        loaded, computed = result.store_counts[stage]
        assert (loaded, computed) == (0, needed), stage  # an empty store: everything planned is computed
        assert stored in (0, -1), stage
    again = pipeline.plan(cfg)
    assert all(stored in (needed, -1) for _, needed, stored in again)  # and then all of it is stored


def test_every_stage_is_declared_once_with_its_version():
    names = [s.name for s in pipeline.STAGES]
    assert len(names) == len(set(names))
    assert names == ["run", "landscape", "curvature", "features", "scores", "univariate"]
    from benchmark.hessian import stage as curvature
    from benchmark.landscape import stage as landscape

    versions = {s.name: s.version for s in pipeline.STAGES}
    assert versions["landscape"] == landscape.VERSION and versions["curvature"] == curvature.VERSION


def test_progress_off_a_terminal_logs_at_a_steady_interval_even_while_an_item_runs(caplog) -> None:
    import io
    import time

    from benchmark.stage import Progress

    with caplog.at_level("INFO", logger="benchmark"), Progress(3, "landscape", every=0.05, stream=io.StringIO()) as p:
        time.sleep(0.17)  # one slow item: the stage still reports
        p.update()
        time.sleep(0.12)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("landscape:")]
    assert len(lines) >= 4, lines
    assert lines[0].startswith("landscape: 0/3 models, ") and "left" not in lines[0]
    assert lines[-1].startswith("landscape: 1/3 models, ") and lines[-1].endswith(" left")


def test_a_stage_that_ends_off_a_terminal_logs_when_and_where_its_items_came_from(caplog) -> None:
    import io

    import pytest

    from benchmark.stage import Progress

    with caplog.at_level("INFO", logger="benchmark"), Progress(6, "curvature", every=60, stream=io.StringIO()) as p:
        p.update(2, loaded=True)  # in the store already
        p.update()  # computed here
        p.update(2, busy=True)  # held by another process: one it stores, one it leaves to this one
        p.update(loaded=True, waited=True)
        p.update(waited=True)
        p.update()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("curvature:")]
    assert lines == ["curvature: 6/6 models done in 0s (3 computed here, 1 by other processes, 2 from the store)"]
    caplog.clear()
    stage = Progress(2, "curvature", every=60, stream=io.StringIO())
    with caplog.at_level("INFO", logger="benchmark"), pytest.raises(RuntimeError), stage as p:
        p.update()
        raise RuntimeError("a model failed")
    assert not [r for r in caplog.records if "done in" in r.getMessage()]  # a failed stage did not end


def test_progress_within_an_item_shows_in_the_log_line_until_the_item_ends() -> None:
    import io

    from benchmark.stage import Progress

    with Progress(2, "landscape", every=60, stream=io.StringIO()) as p:
        tick = p.within(441)
        tick(21)
        tick(21)
        assert p.line().startswith("landscape: 0/2 models (42/441 nodes of the current model), ")
        p.update()
        assert p.line().startswith("landscape: 1/2 models, ")


def test_progress_estimates_from_computed_items_only() -> None:
    import io
    import re
    import time

    from benchmark.stage import Progress

    with Progress(100, "landscape", every=60, stream=io.StringIO()) as p:
        p.update(90, loaded=True)  # read from the store at once
        assert "left" not in p.line()
        time.sleep(0.2)
        p.update()  # one computed in ~0.2 s: nine left take ~2 s, not ~0 s
        seconds = int(re.search(r"about (\d+)s left", p.line()).group(1))
        assert 1 <= seconds <= 3, p.line()


def test_the_store_tells_progress_which_items_it_loaded(tmp_path) -> None:
    from benchmark.records import FeatureRow
    from benchmark.store import ArtifactStore

    store = ArtifactStore(tmp_path)
    row = FeatureRow(model_id="m", descriptor="d", values={"a": 1.0}, reasons={})
    store.map("features", ["k0"], FeatureRow, lambda i: row)
    served: list[tuple[int, bool]] = []
    store.map(
        "features", ["k0", "k1"], FeatureRow, lambda i: row, progress=lambda n, loaded: served.append((n, loaded))
    )
    assert served == [(1, True), (1, False)]


def test_progress_of_a_split_run_counts_the_other_processes_items_and_its_own_share() -> None:
    import io
    import re
    import time

    from benchmark.stage import Progress

    with Progress(40, "landscape", every=60, stream=io.StringIO()) as p:
        time.sleep(0.2)
        p.update()  # one computed here in ~0.2 s
        p.update(busy=True)  # one another process is computing
        line = p.line()
        assert line.startswith("landscape: 2/40 models (1 left to other processes), "), line
        # 38 not reached yet, half of them this process's: ~19 x 0.2 s, not ~38 x 0.2 s
        seconds = int(re.search(r"about (\d+)s left", line).group(1))
        assert 2 <= seconds <= 5, line
        for _ in range(19):
            p.update()
            p.update(busy=True)
        assert p.line().endswith(", waiting for 20 models of other processes"), p.line()
        p.update(20, loaded=True, waited=True)
        assert p.line().startswith("landscape: 40/40 models (20 left to other processes), ")
        assert "waiting" not in p.line() and (p.done, p.computed, p.busy) == (40, 20, 0)


def test_the_store_reports_items_another_process_holds_then_serves_them(tmp_path) -> None:
    import threading

    from benchmark.records import FeatureRow
    from benchmark.store import ArtifactStore

    store = ArtifactStore(tmp_path)
    row = FeatureRow(model_id="m", descriptor="d", values={"a": 1.0}, reasons={})
    other = ArtifactStore(tmp_path)  # another process: holds k1's lock, then stores it
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with other._lock("features", "k1"):  # as map does while it computes k1
            held.set()
            release.wait(10)
            other.save("features", "k1", row)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait(10)
    served: list[tuple[int, dict]] = []

    def progress(n: int, **kinds: bool) -> None:
        served.append((n, kinds))
        if len(served) == 3:
            release.set()  # k2 computed here: the other process finishes k1

    store.map("features", ["k0", "k1", "k2"], FeatureRow, lambda i: row, progress=progress)
    thread.join()
    assert served == [
        (1, {"loaded": False}),
        (1, {"busy": True}),
        (1, {"loaded": False}),
        (1, {"loaded": True, "waited": True}),
    ]


def test_a_computed_grid_reports_its_rows(tiny_record, digits, tmp_path) -> None:
    from benchmark.landscape.stage import compute_landscape

    cfg = pipeline._stage_cfg(compose_plain(["experiment=tiny", "landscape.steps=5"], tmp_path)["landscape"])
    ticks: list[int] = []
    compute_landscape(tiny_record, digits, cfg, progress=ticks.append)
    assert ticks == [5] * 5
