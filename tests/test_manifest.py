"""External zoos from manifests: round trip, and every kind of bad input named clearly."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.zoo.manifest import ManifestError, export_manifest, load_manifest, read_manifest

TARGETS = ["test_accuracy"]


class NotAStateDict:
    def __init__(self) -> None:
        self.weights = [1, 2, 3]


def _export(tmp_path: Path, record) -> tuple[Path, list[dict]]:
    manifest = export_manifest([record], tmp_path / "zoo")
    rows = json.loads(manifest.read_text())["models"]
    return manifest, rows


def _write(manifest: Path, rows: list[dict]) -> None:
    manifest.write_text(json.dumps({"models": rows}))


def test_export_then_load_round_trips_weights_and_metadata(tmp_path, tiny_record):
    manifest, _ = _export(tmp_path, tiny_record)
    (loaded,) = load_manifest(manifest, "ext", TARGETS)
    r = loaded.record
    assert r.model_id == tiny_record.model_id and r.group == tiny_record.group and r.task == "classification"
    assert r.architecture == tiny_record.architecture and r.hparams == tiny_record.hparams
    assert all(np.array_equal(r.state[k], tiny_record.state[k]) for k in tiny_record.state)
    assert r.metrics["test_accuracy"] == tiny_record.metrics["test_accuracy"]
    assert load_manifest(manifest, "ext", TARGETS)[0].key == loaded.key  # stable key


def test_csv_manifest(tmp_path, tiny_record):
    manifest, rows = _export(tmp_path, tiny_record)
    row = rows[0]
    csv_path = manifest.with_suffix(".csv")
    fields = {
        "model_id": row["model_id"],
        "checkpoint": row["checkpoint"],
        "architecture": row["architecture"],
        "architecture_kwargs": json.dumps(row["architecture_kwargs"]),
        "input_shape": json.dumps(row["input_shape"]),
        "n_outputs": row["n_outputs"],
        "dataset": "digits",
        "group": "g",
        "hp.width": 6,
        "metric.test_accuracy": 0.5,
    }
    with csv_path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(fields))
        w.writeheader()
        w.writerow(fields)
    (loaded,) = load_manifest(csv_path, "ext", TARGETS)
    assert loaded.record.hparams == {"width": 6} and loaded.record.metrics == {"test_accuracy": 0.5}
    assert read_manifest(csv_path)[0]["input_shape"] == row["input_shape"]


def _break(kind: str, folder: Path, row: dict, record) -> dict:
    row = dict(row)
    if kind == "missing_file":
        row["checkpoint"] = "checkpoints/nope.pt"
    elif kind == "corrupt":
        good = (folder / row["checkpoint"]).read_bytes()
        (folder / "checkpoints" / "bad.pt").write_bytes(good[: len(good) // 2])  # truncated
        row["checkpoint"] = "checkpoints/bad.pt"
    elif kind == "escape":
        torch.save({"w": torch.zeros(1)}, folder.parent / "outside.pt")
        row["checkpoint"] = "../outside.pt"
    elif kind == "pickled_object":
        torch.save(NotAStateDict(), folder / "checkpoints" / "obj.pt")
        row["checkpoint"] = "checkpoints/obj.pt"
    elif kind == "not_a_state_dict":
        torch.save([torch.zeros(2)], folder / "checkpoints" / "list.pt")
        row["checkpoint"] = "checkpoints/list.pt"
    elif kind == "shape_mismatch":
        state = {k: torch.zeros(*(s + 1 for s in v.shape)) for k, v in record.state.items()}
        torch.save(state, folder / "checkpoints" / "shape.pt")
        row["checkpoint"] = "checkpoints/shape.pt"
    elif kind == "huge_architecture":  # its tensors would need terabytes: refused before any is allocated
        row["architecture_kwargs"] = {**row["architecture_kwargs"], "width": 10**12}
    elif kind == "missing_metric":
        row["metrics"] = {"train_accuracy": 1.0}
    elif kind == "null_metric":  # JSON null (an empty CSV cell reads the same): absent, not a NaN to drop
        row["metrics"] = {**row["metrics"], TARGETS[0]: None}
    elif kind == "text_metric":
        row["metrics"] = {**row["metrics"], TARGETS[0]: "high"}
    elif kind == "missing_field":
        del row["architecture"]
    row["model_id"] = f"bad_{kind}"
    return row


EXPECT = {
    "missing_file": "not found",
    "corrupt": "corrupt or not a torch checkpoint",
    "escape": "outside the manifest folder",
    "pickled_object": "pickled Python objects",
    "not_a_state_dict": "not a state dict",
    "shape_mismatch": "shape mismatch",
    "huge_architecture": "shape mismatch",
    "missing_metric": "no value for target",
    "null_metric": "no value for target",
    "text_metric": "is not an object of numbers (or null)",
    "missing_field": "missing ['architecture']",
}


@pytest.mark.parametrize("kind", sorted(EXPECT))
def test_bad_model_is_named_and_can_be_skipped(tmp_path, tiny_record, kind):
    manifest, rows = _export(tmp_path, tiny_record)
    bad = _break(kind, manifest.parent, rows[0], tiny_record)
    _write(manifest, [bad, rows[0]])
    with pytest.raises(ManifestError) as e:
        load_manifest(manifest, "ext", TARGETS)
    assert f"bad_{kind}" in str(e.value) and EXPECT[kind] in str(e.value) and "skip_invalid" in str(e.value)
    valid = load_manifest(manifest, "ext", TARGETS, skip_invalid=True)
    assert [v.record.model_id for v in valid] == [tiny_record.model_id]


def test_manifest_level_errors(tmp_path, tiny_record):
    manifest, rows = _export(tmp_path, tiny_record)
    _write(manifest, [rows[0], rows[0]])
    with pytest.raises(ManifestError, match="duplicate model_id"):
        load_manifest(manifest, "ext", TARGETS)
    with pytest.raises(ManifestError, match="does not exist"):
        load_manifest(tmp_path / "none.json", "ext", TARGETS)
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(ManifestError, match="invalid JSON"):
        load_manifest(tmp_path / "m.json", "ext", TARGETS)
    (tmp_path / "m.yaml").write_text("a: 1")
    with pytest.raises(ManifestError, match=r"use \.csv or \.json"):
        load_manifest(tmp_path / "m.yaml", "ext", TARGETS)
