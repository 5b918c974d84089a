"""The store verifies every entry against what was asked for: its stage and key, a record that
decodes completely and faithfully, a layout it can use, and no orphaned temporary files."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from benchmark import pipeline
from benchmark.errors import ConfigError
from benchmark.records import FeatureRow, Landscape, PartialGrid, ScoreRow, TrainingRun
from benchmark.store import DIGEST, META, ArtifactStore, StoreLayoutError, _digest, decode, encode

from .conftest import compose_plain

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["experiment=tiny", "threads=1", "descriptors=[param_count]", "regressor=[ridge]"]


def _landscape(model_id: str = "m", shift: float = 0.0) -> Landscape:
    axes = (np.linspace(-1, 1, 3), np.linspace(-1, 1, 3))
    return Landscape(model_id, "loss", axes, np.arange(9.0).reshape(3, 3) + shift, (1.0, 2.0), {"steps": 3})


def _score() -> ScoreRow:
    m = {"r2": 0.5, "mae": 0.1, "spearman": 0.3, "kendall": 0.2}
    return ScoreRow("z", "t", "fs", "topology", "ridge", "p", 8, 0, 2, m, m, m, m)


def _forge(path: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    """Rewrite a stored entry with its metadata changed, under a valid digest (damage the digest
    cannot see: a bug, or a hand edit)."""
    with np.load(path, allow_pickle=False) as z:
        contents = {name: z[name] for name in z.files}
    meta = json.loads(contents.pop(META).tobytes())
    contents.pop(DIGEST)
    changed = change(meta)
    meta_bytes = changed if isinstance(changed, bytes) else json.dumps(meta, sort_keys=True).encode()
    buf = io.BytesIO()
    np.savez(
        buf,
        **{META: np.frombuffer(meta_bytes, np.uint8)},
        **{DIGEST: np.frombuffer(_digest(meta_bytes, contents).encode(), np.uint8)},
        **contents,
    )
    path.write_bytes(buf.getvalue())


# ----------------------------------------------------------------------------- identity


def test_swapped_training_runs_are_recomputed_and_the_scores_equal_an_uninterrupted_run(tmp_path, caplog):
    cfg = compose_plain(SMALL, tmp_path)
    first = pipeline.run(cfg)
    a, b = sorted((tmp_path / "home" / "store" / "run").rglob("*.npz"))[:2]
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    with caplog.at_level(logging.WARNING, logger="benchmark.store"):
        again = pipeline.run(cfg)
    for path, other in ((a, b), (b, a)):
        assert f"run artifact {path} is not what was asked for: it claims to be run/{other.stem}" in caplog.text
        assert f"but run/{path.stem} was asked for" in caplog.text
    n_runs = sum(first.store_counts["run"])
    assert again.store_counts["run"] == (n_runs - 2, 2)
    assert all(computed == 0 for stage, (_, computed) in again.store_counts.items() if stage != "run")
    pd.testing.assert_frame_equal(first.scores_frame(), again.scores_frame(), check_exact=True)
    assert decode(a.read_bytes(), TrainingRun, "run", a.stem).models  # healed: each under its own key again


def test_a_changed_config_layout_relabels_stored_models_as_a_fresh_run_labels_them(tmp_path):
    # depth has one value: as an axis or as a fixed setting it trains the same models (same store
    # keys), but it is part of the model ids and groups only as an axis
    layout = [*SMALL[:2], "descriptors=[param_count,geometry]", "regressor=[ridge]"]
    moved = [*layout, "~zoo.axes.depth", "+zoo.fixed.depth=2"]
    pipeline.run(compose_plain(layout, tmp_path / "a"))
    loaded = pipeline.run(compose_plain(moved, tmp_path / "a"))
    fresh = pipeline.run(compose_plain(moved, tmp_path / "b"))
    assert loaded.store_counts["run"][1] == 0 and loaded.store_counts["landscape"][1] == 0
    assert all("depth" not in m.model_id and "depth" not in m.group for m in loaded.models)
    assert [(m.model_id, m.group) for m in loaded.models] == [(m.model_id, m.group) for m in fresh.models]
    assert [ls.model_id for ls in loaded.landscapes] == [m.model_id for m in fresh.models]
    pd.testing.assert_frame_equal(loaded.features, fresh.features, check_exact=True)
    pd.testing.assert_frame_equal(loaded.scores_frame(), fresh.scores_frame(), check_exact=True)


@pytest.mark.parametrize("where", ["other key", "other stage"])
def test_a_copied_entry_is_not_served_under_another_identity(tmp_path, caplog, where):
    store = ArtifactStore(tmp_path)
    source = store.save("landscape", "aa" * 32, _landscape("a"))
    stage, key = ("landscape", "bb" * 32) if where == "other key" else ("landscape_copy", "aa" * 32)
    target = store.path(stage, key)
    target.parent.mkdir(parents=True)
    target.write_bytes(source.read_bytes())
    with caplog.at_level(logging.WARNING, logger="benchmark.store"):
        assert store.load(stage, key, Landscape) is None
    assert f"claims to be landscape/{'aa' * 32} but {stage}/{key} was asked for" in caplog.text
    assert not target.exists() and source.exists()
    assert store.get_or_compute(stage, key, Landscape, lambda: _landscape("b")).model_id == "b"
    assert store.load("landscape", "aa" * 32, Landscape).model_id == "a"  # the original is untouched


def test_entries_without_identity_are_recomputed_once_with_one_warning_per_stage(tmp_path, caplog):
    store = ArtifactStore(tmp_path)
    keys = [f"{i:02x}" * 32 for i in range(3)]
    for i, key in enumerate(keys):  # as the previous store wrote them: no identity block
        path = store.path("landscape", key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(encode(_landscape(f"old{i}")))
    with caplog.at_level(logging.WARNING, logger="benchmark.store"):
        got = store.map("landscape", keys, Landscape, lambda i: _landscape(f"new{i}"))
    assert [r.model_id for r in got] == ["new0", "new1", "new2"]
    warnings = [r.getMessage() for r in caplog.records if "carry no identity" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].startswith("store: 3 landscape artifact(s)")
    caplog.clear()
    again = ArtifactStore(tmp_path)
    assert [r.model_id for r in again.map("landscape", keys, Landscape, lambda i: _landscape("x"))] == [
        "new0",
        "new1",
        "new2",
    ]
    assert again.stats["landscape"].loaded == 3 and not caplog.records


# ----------------------------------------------------------------------------- faithful decoding


def _set(field: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda meta: meta.__setitem__(field, value)


def _drop(field: str) -> Callable[[dict[str, Any]], None]:
    return lambda meta: meta.pop(field)


FORGERIES = {
    "missing field that raises": (_landscape, Landscape, _drop("metric")),
    "missing field that defaults": (_score, ScoreRow, _drop("r2_value")),
    "wrong type passed through": (_landscape, Landscape, _set("model_id", 7)),
    "wrong type converted": (
        lambda: FeatureRow("m", "d", {"a": 1.5}, {}),
        FeatureRow,
        _set("values", {"a": "1.5"}),
    ),
    "wrong type of a count": (_score, ScoreRow, _set("n_models", "8")),
    "wrong container": (lambda: TrainingRun(()), TrainingRun, _set("models", 5)),
    "a field the record does not have": (_landscape, Landscape, _set("extra", 1)),
    "bad json": (_landscape, Landscape, lambda meta: b'{"__record__": "landscape", '),
    "json that is not an object": (_landscape, Landscape, lambda meta: b"[1, 2]"),
}


@pytest.mark.parametrize("case", list(FORGERIES))
def test_digest_valid_entries_that_do_not_decode_are_damage(tmp_path, caplog, case):
    make, cls, change = FORGERIES[case]
    store = ArtifactStore(tmp_path)
    key = "cd" * 32
    path = store.save(cls.kind, key, make())
    _forge(path, change)
    with caplog.at_level(logging.WARNING, logger="benchmark.store"):
        assert store.load(cls.kind, key, cls) is None
    assert f"{cls.kind} artifact {path} is corrupt" in caplog.text
    assert not path.exists()
    assert isinstance(store.get_or_compute(cls.kind, key, cls, make), cls)
    assert store.load(cls.kind, key, cls) is not None  # recomputed, whole


# ----------------------------------------------------------------------------- layout


def test_an_artifact_replaced_by_a_folder_is_reported_or_healed(tmp_path, caplog):
    store = ArtifactStore(tmp_path)
    key = "ab" * 32
    path = store.path("landscape", key)
    (path / "inside").mkdir(parents=True)
    with pytest.raises(StoreLayoutError, match=f"{path} is a folder.*rm -r"):
        store.load("landscape", key, Landscape)
    with pytest.raises(StoreLayoutError, match=f"{path} is a folder"):
        store.get_or_compute("landscape", key, Landscape, _landscape)
    (path / "inside").rmdir()  # an empty folder holds nothing: removed, and the artifact computed
    with caplog.at_level(logging.WARNING, logger="benchmark.store"):
        assert store.get_or_compute("landscape", key, Landscape, _landscape).model_id == "m"
    assert "was an empty folder" in caplog.text and path.is_file()


def test_locks_replaced_by_a_file_is_a_clear_error(tmp_path):
    store = ArtifactStore(tmp_path)
    (tmp_path / ".locks").write_text("")
    with pytest.raises(StoreLayoutError, match=rf"{tmp_path / '.locks'} is a file.*lock files.*rm ") as err:
        store.get_or_compute("landscape", "ab" * 32, Landscape, _landscape)
    assert isinstance(err.value, ConfigError)  # the command reports it and exits with status 2
    with pytest.raises(StoreLayoutError, match=f"{tmp_path / '.locks'} is a file"):
        store.map("landscape", ["ab" * 32], Landscape, lambda i: _landscape())


def test_a_stage_folder_replaced_by_a_file_is_a_clear_error(tmp_path):
    store = ArtifactStore(tmp_path)
    (tmp_path / "landscape").write_text("")
    with pytest.raises(StoreLayoutError, match=f"{tmp_path / 'landscape'} is a file"):
        store.load("landscape", "ab" * 32, Landscape)
    with pytest.raises(StoreLayoutError, match=f"{tmp_path / 'landscape'} is a file"):
        store.save("landscape", "ab" * 32, _landscape())


# ----------------------------------------------------------------------------- orphaned temporary files

_WRITER = """
import os, signal, sys, time
import numpy as np
from benchmark.records import PartialGrid
from benchmark.store import ArtifactStore

mode, root, go = sys.argv[1:]
real_replace = os.replace

def replace(src, dst):  # stop between writing the temporary file and renaming it into place
    if mode == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    while not os.path.exists(go):
        time.sleep(0.02)
    real_replace(src, dst)

os.replace = replace
ArtifactStore(root).save("landscape_partial", "ab" * 32, PartialGrid(np.zeros(3), np.zeros(3, bool)))
"""


def _writer(mode: str, root: Path, go: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _WRITER, mode, str(root), str(go)], cwd=ROOT)


def _temp_of(root: Path, pid: int) -> Path | None:
    return next((p for p in (root / "landscape_partial").rglob(".*.tmp") if f".{pid}." in p.name), None)


def _age(path: Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def test_temporary_files_of_killed_writers_are_removed_and_live_writers_keep_theirs(tmp_path):
    go = tmp_path / "go"
    killed = _writer("kill", tmp_path, go)
    assert killed.wait(120) == -9
    orphan = _temp_of(tmp_path, killed.pid)  # the name says whose it is
    assert orphan is not None
    ArtifactStore(tmp_path).load("landscape_partial", "cd" * 32, PartialGrid)
    assert orphan.exists()  # just left: a grace period first
    live = _writer("wait", tmp_path, go)
    try:
        deadline = time.monotonic() + 120
        while (writing := _temp_of(tmp_path, live.pid)) is None:
            assert time.monotonic() < deadline and live.poll() is None, "the writer made no temporary file"
            time.sleep(0.05)
        for path in (orphan, writing):
            _age(path, 600)  # both long untouched; one writer is alive (a slow one), one is dead
        ArtifactStore(tmp_path).map(
            "landscape_partial", [], PartialGrid, lambda i: PartialGrid(np.zeros(1), np.zeros(1))
        )
        assert not orphan.exists() and writing.exists()
        go.write_text("")
        assert live.wait(120) == 0
    finally:
        if live.poll() is None:
            live.kill()
    assert ArtifactStore(tmp_path).load("landscape_partial", "ab" * 32, PartialGrid) is not None
    assert not list((tmp_path / "landscape_partial").rglob(".*.tmp"))
    folder = orphan.parent
    foreign = folder / f".abababab.otherhost-1.{os.getpid()}.x1y2z3.tmp"  # another host: by age only
    old_style = folder / ".abababab.q8r7s6t5.tmp"  # named by the previous store: by age only
    for path in (foreign, old_style):
        path.write_bytes(b"partial")
        _age(path, 3600)
    ArtifactStore(tmp_path).load("landscape_partial", "cd" * 32, PartialGrid)
    assert foreign.exists() and old_style.exists()
    for path in (foreign, old_style):
        _age(path, 3 * 24 * 3600)
    ArtifactStore(tmp_path).load("landscape_partial", "cd" * 32, PartialGrid)
    assert not foreign.exists() and not old_style.exists()
