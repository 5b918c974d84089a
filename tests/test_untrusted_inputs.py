"""Nothing wrong in silence (issue 15): input that used to pass quietly, or to reach code it
should not, is refused with a message naming the thing, the value and the fix.

- manifest ids that differ only by whitespace (one model standing in for two);
- CIFAR-10 files under ``dataset.root`` that unpickle into code (refused unread, MD5-checked or not);
- ``timm_kwargs`` that make timm open any path or the network (``checkpoint_path``, ``pretrained``, ...);
- a ``dataset.root`` that does not exist (a traceback with status 1 instead of a ``ConfigError``).
"""

from __future__ import annotations

import csv
import json
import pickle
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from torchvision import datasets

from benchmark import pipeline
from benchmark.data import dataset_problems, load_dataset
from benchmark.errors import ConfigError
from benchmark.models import build_model
from benchmark.models.timm_models import loading_kwargs
from benchmark.zoo.manifest import ManifestError, export_manifest, load_manifest

from .conftest import compose_plain

ROOT = Path(__file__).resolve().parents[1]
EXE = Path(sys.executable).parent / "landscape-bench"
TARGETS = ["test_accuracy"]


def _rows(tmp_path: Path, record, ids: list) -> tuple[Path, list[dict]]:
    manifest = export_manifest([record], tmp_path / "zoo")
    (row,) = json.loads(manifest.read_text())["models"]
    rows = [{**row, "model_id": i} for i in ids]
    manifest.write_text(json.dumps({"models": rows}))
    return manifest, rows


# ----------------------------------------------------------------------------- 1. model ids


@pytest.mark.parametrize("ids", [["a", "b", "a "], [" a", "b", "a"], ["a", "b", "\ta\n"], [7, "b", "7"]])
def test_json_ids_equal_but_for_whitespace_are_refused_naming_both_rows(tmp_path, tiny_record, ids):
    manifest, _ = _rows(tmp_path, tiny_record, ids)
    with pytest.raises(ManifestError) as e:
        load_manifest(manifest, "ext", TARGETS, skip_invalid=True)  # never skipped: no model would be right
    message = str(e.value)
    assert "duplicate model_id" in message and "rows 1 and 3" in message and str(manifest) in message
    assert repr(ids[0]) in message and repr(ids[2]) in message


def test_csv_ids_equal_but_for_whitespace_are_refused(tmp_path, tiny_record):
    manifest, rows = _rows(tmp_path, tiny_record, ["m1", "m2"])
    csv_path = manifest.with_suffix(".csv")
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, ["model_id", "checkpoint", "architecture", "architecture_kwargs", "input_shape"])
        writer.writeheader()
        for mid in ("m1", "m2", "m1 "):  # a trailing space, as a spreadsheet leaves it
            writer.writerow(
                {
                    "model_id": mid,
                    "checkpoint": rows[0]["checkpoint"],
                    "architecture": rows[0]["architecture"],
                    "architecture_kwargs": json.dumps(rows[0]["architecture_kwargs"]),
                    "input_shape": json.dumps(rows[0]["input_shape"]),
                }
            )
    with pytest.raises(ManifestError, match=r"rows 1 and 3 have model_id 'm1' and 'm1 ' \(both 'm1' once normalised\)"):
        load_manifest(csv_path, "ext", TARGETS)


def test_ids_are_stripped_and_blank_ids_refused(tmp_path, tiny_record):
    manifest, _ = _rows(tmp_path, tiny_record, [" a ", "b"])
    assert [m.record.model_id for m in load_manifest(manifest, "ext", TARGETS)] == ["a", "b"]
    manifest, _ = _rows(tmp_path / "blank", tiny_record, ["   ", "b"])
    with pytest.raises(ManifestError, match=r"<row without model_id>: missing \['model_id'\]"):
        load_manifest(manifest, "ext", TARGETS)
    assert [m.record.model_id for m in load_manifest(manifest, "ext", TARGETS, skip_invalid=True)] == ["b"]


# ----------------------------------------------------------------------------- 2. pickled datasets


class _Payload:
    """Unpickling this runs ``exec``: it writes ``marker``, as a crafted batch file would run a command."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def _crafted_cifar(root: Path, marker: Path) -> None:
    base = root / datasets.CIFAR10.base_folder
    base.mkdir(parents=True)
    for name, _ in datasets.CIFAR10.train_list + datasets.CIFAR10.test_list:
        (base / name).write_bytes(pickle.dumps({"data": _Payload(marker), "labels": [0]}))
    (base / datasets.CIFAR10.meta["filename"]).write_bytes(pickle.dumps({"label_names": [str(i) for i in range(10)]}))


def test_crafted_cifar10_files_never_run_verified_or_not(tmp_path):
    root, marker = tmp_path / "data", tmp_path / "payload_ran"
    _crafted_cifar(root, marker)
    # unverified, the files are read by the restricted unpickler: the payload's import is refused
    with pytest.raises(ConfigError, match=r"data_batch_1 is not a CIFAR-10 batch file: it asks for builtins\.exec"):
        load_dataset("cifar10", root=str(root), verify=False)
    assert not marker.exists()
    # with verification the published MD5 sums are checked first: the crafted files fail it, unread
    with pytest.raises(ConfigError, match=r"data_batch_1 is not the published file"):
        load_dataset("cifar10", root=str(root))
    assert not marker.exists()


def test_crafted_cifar10_files_stop_a_run_and_a_non_boolean_verify_stops_validation(tmp_path):
    root, marker = tmp_path / "data", tmp_path / "payload_ran"
    _crafted_cifar(root, marker)
    cfg = compose_plain(["dataset=cifar10", f"dataset.root={root}", "dataset.verify=false"], tmp_path)
    pipeline.validate(cfg)  # reading unpublished files is allowed: they are parsed, not run
    with pytest.raises(ConfigError, match=r"not a CIFAR-10 batch file: it asks for builtins\.exec, which is refused"):
        pipeline.run(cfg)
    assert not marker.exists()
    cfg = compose_plain(["dataset=cifar10", f"dataset.root={root}", "dataset.verify=maybe"], tmp_path)
    with pytest.raises(ConfigError, match=r"(?s)dataset\.verify='maybe' is not a boolean.*set dataset\.verify=true"):
        pipeline.validate(cfg)


# ----------------------------------------------------------------------------- 3. timm loading weights

LOADING = [
    "checkpoint_path",
    "pretrained",
    "pretrained_cfg",
    "pretrained_cfg_overlay",
    "checkpoint_filter_fn",
    "cache_dir",
]


@pytest.mark.parametrize("key", LOADING)
def test_manifest_timm_kwargs_that_load_files_are_refused(tmp_path, tiny_record, key):
    manifest, rows = _rows(tmp_path, tiny_record, ["m"])
    outside = tmp_path / "elsewhere" / "weights.pth"  # outside the manifest's folder
    outside.parent.mkdir()
    outside.write_bytes(b"not opened")
    value = {"checkpoint_path": str(outside), "pretrained": True, "cache_dir": str(outside.parent)}.get(key, {})
    rows[0].update(
        architecture="timm",
        input_shape=[1, 8, 8],
        architecture_kwargs={"model_name": "resnet10t", "timm_kwargs": {key: value}},
    )
    manifest.write_text(json.dumps({"models": rows}))
    with pytest.raises(ManifestError) as e:
        load_manifest(manifest, "ext", TARGETS)
    message = str(e.value)
    assert f"model 'm': architecture_kwargs.timm_kwargs.{key}" in message
    assert "refused" in message and "Remove it" in message and "checkpoint" in message


@pytest.mark.parametrize("key", LOADING)
def test_timm_builder_refuses_kwargs_that_load_files(tmp_path, key):
    spec = {"name": "timm", "input_shape": [1, 8, 8], "n_outputs": 10, "model_name": "resnet10t"}
    with pytest.raises(ConfigError, match=rf"timm_kwargs \['{key}'\] would make timm load weights"):
        build_model({**spec, "timm_kwargs": {key: str(tmp_path / "w.pth")}})
    assert loading_kwargs({"drop_rate": 0.1, "drop_path_rate": 0.1, "stem_width": 8}) == []  # ordinary ones pass
    assert loading_kwargs({"hf_hub_id": "x", "weights_file": "y", key: 1}) == sorted(["hf_hub_id", "weights_file", key])


def test_dependencies_load_weights_safely_by_default():
    """torch >= 2.6 loads with ``weights_only=True`` by default; timm's loaders do from 1.0.26."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    bounds = {m["name"]: tuple(int(x) for x in m["v"].split(".")) for d in deps if (m := _bound(d))}
    assert bounds["torch"] >= (2, 6) and bounds["torchvision"] >= (0, 21) and bounds["timm"] >= (1, 0, 26)


def _bound(requirement: str) -> dict | None:
    m = re.fullmatch(r"(?P<name>[A-Za-z0-9_.-]+)>=(?P<v>[0-9.]+)(,.*)?", requirement.strip())
    return m.groupdict() if m else None


# ----------------------------------------------------------------------------- 4. dataset roots


def test_missing_dataset_root_is_a_config_error_before_work(tmp_path):
    missing = tmp_path / "nonexistent"
    cfg = compose_plain(["dataset=mnist", f"dataset.root={missing}"], tmp_path)
    with pytest.raises(ConfigError) as e:
        pipeline.validate(cfg)
    assert f"dataset.root={str(missing)!r} does not exist" in str(e.value) and "dataset.download=true" in str(e.value)
    assert not missing.exists()
    (tmp_path / "empty").mkdir()
    problems = dataset_problems({"name": "fashion_mnist", "root": str(tmp_path / "empty"), "download": False})
    assert len(problems) == 1 and "FashionMNIST/raw/train-images-idx3-ubyte" in problems[0]
    assert dataset_problems({"name": "mnist", "root": str(missing), "download": True}) == []  # it will be made
    with pytest.raises(ConfigError, match="does not exist"):
        load_dataset("mnist", root=str(missing))


def test_missing_dataset_root_exits_with_status_2(tmp_path):
    r = subprocess.run(
        [str(EXE), "experiment=tiny", "dataset=mnist", f"dataset.root={tmp_path / 'nonexistent'}", "paths.home=home"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2, r.stderr[-2000:]
    assert "does not exist" in r.stderr and "dataset.root" in r.stderr and "Traceback" not in r.stderr
