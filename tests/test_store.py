"""The artifact store: keys, round trips, atomic writes, corruption, concurrency."""

from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np
import pytest

from benchmark.records import (
    Curvature,
    FeatureRow,
    Landscape,
    ModelRecord,
    PartialGrid,
    ScoreRow,
    TrainingRun,
    UnivariateTable,
)
from benchmark.store import ArtifactStore, artifact_key, decode, encode


def _landscape() -> Landscape:
    axes = (np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    values = np.arange(25.0).reshape(5, 5)
    values[1, 2] = np.nan
    values[3, 3] = np.inf
    return Landscape("m", "loss", axes, values, (1.0, 2.0), {"steps": 5})


def test_keys_depend_on_everything():
    base = artifact_key("s", "1", {"a": 1, "b": [1, 2]}, ["k"])
    assert base == artifact_key("s", "1", {"b": [1, 2], "a": 1}, ["k"])  # order-free
    assert base != artifact_key("s", "2", {"a": 1, "b": [1, 2]}, ["k"])
    assert base != artifact_key("s", "1", {"a": 2, "b": [1, 2]}, ["k"])
    assert base != artifact_key("s", "1", {"a": 1, "b": [1, 2]}, ["j"])
    assert base != artifact_key("t", "1", {"a": 1, "b": [1, 2]}, ["k"])


def test_round_trip_of_every_record(tiny_record):
    ls = _landscape()
    back = decode(encode(ls), Landscape)
    np.testing.assert_array_equal(back.values, ls.values)
    assert back.n_masked == 2 and back.center_value == 12.0
    m = decode(encode(tiny_record), ModelRecord)
    assert m.model_id == tiny_record.model_id and m.hparams == tiny_record.hparams
    assert all(np.array_equal(m.state[k], tiny_record.state[k]) for k in tiny_record.state)
    c = Curvature("m", np.array([3.0, 1.0]), 5.0, 0.1, 10, 40, {})
    assert decode(encode(c), Curvature).lambda_max == 3.0
    f = FeatureRow("m", "d", {"a": 1.5, "b": float("nan")}, {"b": "undefined here"})
    fb = decode(encode(f), FeatureRow)
    assert fb.values["a"] == 1.5 and np.isnan(fb.values["b"]) and fb.reasons == f.reasons
    m = {"r2": 0.5, "mae": 0.1, "spearman": float("nan"), "kendall": 0.2}
    s = ScoreRow("z", "t", "fs", "topology", "ridge", "p", 10, 0, 2, m, m, m, m)
    sb = decode(encode(s), ScoreRow)
    assert sb.value["r2"] == 0.5 and np.isnan(sb.ci_high["spearman"]) and sb.flat()["kind"] == "topology"


def test_every_record_loads_back_through_the_store_under_its_identity(tmp_path, tiny_record):
    """Loads check identity, field types and a faithful round trip: none may reject a sound entry."""
    m = {"r2": 0.5, "mae": 1, "spearman": float("nan"), "kendall": 0.2}  # an int where floats are usual
    draws = {"r2": np.array([0.1, float("nan")])}
    full_curvature = Curvature(
        "m",
        np.array([3.0, 1.0]),
        5.0,
        0.1,
        10,
        40,
        {"k": [1, 2]},
        "",
        np.ones((2, 3)),
        np.ones((2, 3)) / 3,
        ("a", "b"),
        np.ones(2),
        np.zeros(2),
        np.array([1.0, float("nan")]),
    )
    records = [
        _landscape(),
        tiny_record,
        TrainingRun((tiny_record, tiny_record), 1.5),
        TrainingRun((), float("nan")),
        full_curvature,
        FeatureRow("m", "d", {"a": 1.5, "b": float("nan"), "c": 3}, {"b": "undefined here"}),
        ScoreRow("z", "t", "fs", "topology", "ridge", "p", 10, 0, 2, m, m, m, m, draws, {"r2": 0.5}, {}),
        UnivariateTable(
            ("t",), ("f",), np.array([0.5]), np.array([0.1]), np.array([0.9]), np.array([8]), np.array([0])
        ),
        PartialGrid(np.zeros((3, 3)), np.zeros(3, bool)),
    ]
    store = ArtifactStore(tmp_path)
    for i, record in enumerate(records):
        store.save(record.kind, f"{i:02x}" * 32, record)
        assert store.load(record.kind, f"{i:02x}" * 32, type(record)) is not None, record.kind
        assert decode(encode(record), type(record)) is not None, record.kind


def test_nan_without_reason_is_refused():
    with pytest.raises(ValueError, match="without a reason"):
        FeatureRow("m", "d", {"a": float("nan")}, {})


def test_get_or_compute_loads_second_time(tmp_path):
    store = ArtifactStore(tmp_path)
    calls = []

    def compute() -> Landscape:
        calls.append(1)
        return _landscape()

    store.get_or_compute("landscape", "ab" * 32, Landscape, compute)
    store.get_or_compute("landscape", "ab" * 32, Landscape, compute)
    assert len(calls) == 1
    assert store.stats["landscape"].computed == 1 and store.stats["landscape"].loaded == 1
    assert not list(tmp_path.rglob("*.tmp"))


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "wrong_kind"])
def test_corrupt_entries_are_detected_and_recomputed(tmp_path, damage):
    store = ArtifactStore(tmp_path)
    key = "cd" * 32
    path = store.save("landscape", key, _landscape())
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        i = data.index(b"values") + 200  # inside the values array
        path.write_bytes(data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1 :])
    elif damage == "garbage":
        path.write_bytes(b"not an npz at all")
    else:
        path.write_bytes(encode(Curvature("m", np.array([1.0]), 1.0, 0.0, 1, 1, {})))
    assert store.load("landscape", key, Landscape) is None
    assert not path.exists()
    again = store.get_or_compute("landscape", key, Landscape, _landscape)
    np.testing.assert_array_equal(again.values, _landscape().values)


def _worker(root: str, key: str, out: mp.Queue) -> None:
    store = ArtifactStore(root)

    def slow() -> Landscape:
        time.sleep(0.5)
        return _landscape()

    store.get_or_compute("landscape", key, Landscape, slow)
    out.put(store.stats["landscape"].computed)


def test_two_processes_compute_one_artifact_once(tmp_path):
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path), "ef" * 32, q)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    computed = sorted(q.get(timeout=5) for _ in procs)
    assert computed == [0, 1]
    assert ArtifactStore(tmp_path).load("landscape", "ef" * 32, Landscape) is not None


def test_map_groups_computes_a_group_whole_and_keeps_what_is_stored(tmp_path):
    store = ArtifactStore(tmp_path)
    calls: list[list[int]] = []

    def compute(group: list[int]) -> list[FeatureRow]:
        calls.append(group)
        return [FeatureRow(f"m{i}", "d", {"x": float(i)}, {}) for i in group]

    keys = [f"k{i}" for i in range(5)]
    groups = [[0, 1, 2], [3, 4]]
    first = store.map_groups("g", keys, FeatureRow, groups, compute)
    assert [r.values["x"] for r in first] == [0, 1, 2, 3, 4] and calls == groups
    calls.clear()
    assert store.map_groups("g", keys, FeatureRow, groups, compute) == first and calls == []  # all loaded
    store.discard("g", "k1")
    before = store.path("g", "k0").stat().st_mtime_ns
    again = store.map_groups("g", keys, FeatureRow, groups, compute)
    assert again == first and calls == [[0, 1, 2]]  # the whole group again, for its one missing member
    assert store.path("g", "k0").stat().st_mtime_ns == before  # stored members are kept
