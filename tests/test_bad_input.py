"""Bad input: each kind is refused (or carried through) with a message naming the thing, the bad
value and the fix, and nothing is ever unpickled as an arbitrary object."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark import pipeline
from benchmark.checks import model_problems, trainable_parameters
from benchmark.descriptors import DESCRIPTORS, DescriptorInputs, build_descriptor
from benchmark.pipeline import ConfigError, validate
from benchmark.records import Landscape
from benchmark.store import DIGEST, META, ArtifactStore, CorruptArtifactError, decode
from benchmark.zoo.manifest import ManifestError, export_manifest, load_manifest

from .conftest import compose_plain

EXE = Path(sys.executable).parent / "landscape-bench"
TINY = ["experiment=tiny", "threads=1"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


# ----------------------------------------------------------------------------- the command line


def test_malformed_override_names_the_override(tmp_path):
    r = _cli("landscape.steps=[3,5", f"paths.home={tmp_path}", cwd=tmp_path)
    assert r.returncode != 0
    assert "override 'landscape.steps=[3,5' is malformed (no viable alternative at input '[3,5')" in r.stderr
    assert "close every bracket" in r.stderr and "override_grammar" in r.stderr  # the fix; Hydra's grammar
    assert not (tmp_path / "store").exists()


def test_out_of_range_values_are_all_named_at_once(tmp_path):
    r = _cli(
        "experiment=tiny",
        "landscape.steps=-3",
        "curvature.n_samples=0",
        "protocol.n_splits=1",
        f"paths.home={tmp_path}",
        cwd=tmp_path,
    )
    assert r.returncode == 2, r.stderr
    assert "landscape.steps=-3 must be odd and >= 3" in r.stderr and "use 3" in r.stderr
    assert "curvature.n_samples=0 is out of range; use an integer >= 1" in r.stderr
    assert "protocol.n_splits=1 is out of range; use an integer >= 2" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "store").exists()  # refused before any work


# ----------------------------------------------------------------------------- config values


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["landscape.steps=-5"], "landscape.steps=-5 must be odd and >= 3"),
        (["landscape.steps=0"], "landscape.steps=0 must be odd and >= 3"),
        (["landscape.steps=abc"], "landscape.steps='abc' is not an integer"),
        (["landscape.span=0"], "landscape.span=0 must be a positive finite number"),
        (["landscape.span=-1.0"], "landscape.span=-1.0 must be a positive finite number"),
        (["landscape.span=wide"], "landscape.span='wide' is not a number"),
        (["landscape.ndim=7"], "landscape.ndim=7 is out of range; use 1, 2, 3 or 4"),
        (["landscape.n_samples=0"], "landscape.n_samples=0 is out of range; use an integer >= 1"),
        (["curvature.lanczos_iters=0"], "curvature.lanczos_iters=0 is out of range"),
        (["protocol.ci_level=1.5"], "protocol.ci_level=1.5 is out of range; use a number in (0, 1)"),
        (["threads=0"], "threads=0 is out of range; use an integer >= 1, or null"),
        (["zoo.axes.seed=[]"], "axis 'seed' must be a non-empty list of values, got []"),
        (["zoo.sample=1000"], "sample=1000 must be between 1 and the 4 configurations"),
    ],
)
def test_bad_values_are_named_with_their_fix(tmp_path, overrides, message):
    with pytest.raises(ConfigError) as e:
        validate(compose_plain([*TINY, *overrides], tmp_path))
    assert message in str(e.value)


def test_unknown_study_lists_the_studies(tmp_path):
    r = _cli("-m", "study=compare_descriptor", f"paths.home={tmp_path}", cwd=tmp_path)
    assert r.returncode != 0
    assert "Unknown study 'compare_descriptor'" in r.stderr and "Did you mean 'compare_descriptors'" in r.stderr


# ----------------------------------------------------------------------------- zoos that cannot be evaluated


def test_top_k_above_the_parameter_count_is_refused_after_training(tmp_path):
    cfg = compose_plain([*TINY, "zoo.axes.width=[1]", "curvature.top_k=100", "curvature.lanczos_iters=100"], tmp_path)
    validate(cfg)  # the parameter count is known only once the models exist
    with pytest.raises(ConfigError) as e:
        pipeline.run(cfg)
    n = 64 * 1 + 1 + 1 * 1 + 1 + 1 * 10 + 10  # width-1 MLP of depth 2 on 8x8 digits
    assert f"curvature.top_k=100 exceeds the {n} trainable parameters of model" in str(e.value)
    assert f"Use curvature.top_k={n} or less" in str(e.value)
    assert len(list((tmp_path / "home" / "store" / "run").rglob("*.npz"))) == 4  # the trained zoo is kept
    assert not (tmp_path / "home" / "store" / "curvature").exists()


def test_top_k_check_counts_trainable_parameters(tiny_record):
    n = trainable_parameters(tiny_record.architecture)
    assert n == 64 * 6 + 6 + 6 * 10 + 10
    assert model_problems("z", [tiny_record], [], top_k=n) == []
    assert "exceeds the 460 trainable parameters" in model_problems("z", [tiny_record], [], top_k=n + 1)[0]
    assert model_problems("z", [tiny_record], [], top_k=None) == []  # no curvature, no check


def test_empty_zoo_is_refused(tmp_path, tiny_record):
    assert "zoo 'z' has no models" in model_problems("z", [], ["test_accuracy"], None)[0]
    (tmp_path / "manifest.json").write_text(json.dumps({"models": []}))
    with pytest.raises(ManifestError, match="lists no models"):
        load_manifest(tmp_path / "manifest.json", "ext", ["test_accuracy"])


def _with_metric(record, target: str, value: float):
    return dataclasses.replace(record, metrics={**record.metrics, target: value})


def test_constant_target_is_refused_with_the_targets_to_keep(tiny_record):
    models = [dataclasses.replace(_with_metric(tiny_record, "test_accuracy", 0.5), model_id=f"m{i}") for i in range(4)]
    models = [_with_metric(m, "generalization_gap", 0.1 * i) for i, m in enumerate(models)]
    (problem,) = model_problems("z", models, ["test_accuracy", "generalization_gap"], None)
    assert "target 'test_accuracy' is constant (0.5) over all 4 models of zoo 'z'" in problem
    assert "evaluation.targets=[generalization_gap]" in problem
    assert model_problems("z", models, ["generalization_gap"], None) == []


def test_constant_target_through_a_manifest_stops_before_landscapes(tmp_path, tiny_record):
    models = [
        dataclasses.replace(
            tiny_record, model_id=f"m{i}", group=f"g{i}", metrics={"test_accuracy": 1.0, "generalization_gap": i}
        )
        for i in range(3)
    ]
    manifest = export_manifest(models, tmp_path / "zoo")
    cfg = compose_plain([*TINY, "zoo=manifest", f"zoo.manifest={manifest}"], tmp_path)
    with pytest.raises(ConfigError) as e:
        pipeline.run(cfg)
    assert "target 'test_accuracy' is constant (1) over all 3 models of zoo 'manifest'" in str(e.value)
    assert "Use evaluation.targets=[generalization_gap]" in str(e.value)
    assert not (tmp_path / "home" / "store" / "landscape").exists()


def test_diverged_model_is_named_and_left_out_of_evaluation(tmp_path, tiny_record, caplog):
    nan_state = {k: np.full_like(v, np.nan) for k, v in tiny_record.state.items()}
    models = [
        dataclasses.replace(
            _with_metric(tiny_record, "test_accuracy", 0.1 * i),
            model_id=f"m{i}",
            group=f"g{i}",
            state=nan_state if i == 0 else tiny_record.state,
        )
        for i in range(6)
    ]
    manifest = export_manifest(models, tmp_path / "zoo")
    cfg = compose_plain(
        [
            *TINY,
            "zoo=manifest",
            f"zoo.manifest={manifest}",
            "evaluation.targets=[test_accuracy]",
            "descriptors=[merge_tree,param_count]",
            "regressor=[ridge]",
            "protocol.n_repeats=1",
        ],
        tmp_path,
    )
    with caplog.at_level(logging.WARNING):
        result = pipeline.run(cfg)
    assert "1 model(s) have non-finite weights (diverged training): m0" in caplog.text
    assert result.features.loc["m0"].filter(like="merge_tree__").isna().all()
    merge = [s for s in result.scores if s.feature_set == "merge_tree"]
    assert merge and all(s.n_dropped == 1 and s.n_models == 5 for s in merge)


# ----------------------------------------------------------------------------- landscapes


def _landscape(values: np.ndarray) -> Landscape:
    axes = tuple(np.linspace(-1.0, 1.0, n) for n in values.shape)
    return Landscape("m", "loss", axes, values, tuple(1.0 for _ in values.shape), {})


LANDSCAPE_ONLY = [
    n
    for n in DESCRIPTORS.names()
    if "landscape" in DESCRIPTORS.get(n).requires and set(DESCRIPTORS.get(n).requires) <= {"model", "landscape"}
]


@pytest.mark.parametrize("name", LANDSCAPE_ONLY)
@pytest.mark.parametrize("fill", [math.inf, -math.inf, math.nan])
def test_all_non_finite_landscape_gives_nan_with_reasons(name, fill, tiny_record):
    row = build_descriptor(name).compute(
        DescriptorInputs(model=tiny_record, landscape=_landscape(np.full((9, 9), fill)))
    )
    landscape_features = {k for k, v in row.values.items() if math.isnan(v)}
    assert landscape_features, f"{name} returned numbers for a landscape without one finite node"
    assert landscape_features <= set(row.reasons)
    assert all(row.reasons[k].strip() for k in landscape_features)


# ----------------------------------------------------------------------------- the store


def test_corrupt_store_entry_is_detected_and_recomputed_in_a_run(tmp_path, caplog):
    cfg = compose_plain([*TINY, "descriptors=[merge_tree]", "regressor=[ridge]"], tmp_path)
    first = pipeline.run(cfg)
    path = sorted((tmp_path / "home" / "store" / "landscape").rglob("*.npz"))[0]
    data = path.read_bytes()
    i = len(data) // 2
    path.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :])  # one flipped bit
    with caplog.at_level(logging.WARNING):
        again = pipeline.run(cfg)
    assert f"landscape artifact {path} is corrupt" in caplog.text
    assert again.store_counts["landscape"] == (len(first.models) - 1, 1)
    assert again.store_counts["run"] == (len(first.models), 0)
    assert first.features.equals(again.features)


class _Exploit:
    """Unpickling this writes a file: the proof that an object was unpickled."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (self.target, "pwned"))


def test_store_never_unpickles_an_entry(tmp_path):
    marker = tmp_path / "marker"
    payload = np.array([_Exploit(marker)], dtype=object)
    buf = io.BytesIO()
    np.savez(buf, **{META: np.frombuffer(b"{}", dtype=np.uint8), DIGEST: np.zeros(64, np.uint8), "x": payload})
    store = ArtifactStore(tmp_path / "store")
    path = store.path("landscape", "ab" * 32)
    path.parent.mkdir(parents=True)
    path.write_bytes(buf.getvalue())
    with pytest.raises(CorruptArtifactError):
        decode(path.read_bytes(), Landscape)
    assert store.load("landscape", "ab" * 32, Landscape) is None  # treated as corrupt, removed
    assert not marker.exists() and not path.exists()


def test_checkpoint_with_a_pickled_object_is_never_executed(tmp_path, tiny_record):
    manifest = export_manifest([tiny_record], tmp_path / "zoo")
    marker = tmp_path / "marker"
    state = {k: torch.from_numpy(v) for k, v in tiny_record.state.items()}
    torch.save({**state, "extra": _Exploit(marker)}, tmp_path / "zoo" / "checkpoints" / "00000.pt")
    with pytest.raises(ManifestError, match="refusing to unpickle"):
        load_manifest(manifest, "ext", ["test_accuracy"])
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):  # the same file would run code if unpickled naively
        torch.load(tmp_path / "zoo" / "checkpoints" / "00000.pt", weights_only=True)
