"""Bad input named before work starts (issue 15): an empty selection, more folds than the zoo has
configurations, a grid too large for memory, a descriptor that breaks its contract, options from
the user's own config folder, a descriptor undefined for every model or with varying feature names,
a one-model zoo. Each case gets a message naming the thing, the bad value and the fix, as early as
it can be known, and keeps what was already computed."""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark import pipeline
from benchmark.checks import model_problems
from benchmark.cli import conf_dir, unknown_group_options
from benchmark.descriptors import DESCRIPTORS, Descriptor, DescriptorInputs, build_descriptor, register_descriptor
from benchmark.descriptors.base import feature_table
from benchmark.errors import ConfigError
from benchmark.landscape import stage as landscape_stage
from benchmark.records import FeatureRow
from benchmark.zoo.manifest import export_manifest

from .conftest import compose_plain

EXE = Path(sys.executable).parent / "landscape-bench"
TINY = ["experiment=tiny", "threads=1"]
FAST = ["evaluation.targets=[test_accuracy]", "regressor=[ridge]", "protocol.n_repeats=1", "protocol.n_bootstrap=20"]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(EXE), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def _manifest(tmp_path: Path, record, n: int = 4, groups: list[str] | None = None) -> Path:
    """A manifest of ``n`` copies of ``record`` with distinct ids and test accuracies; each its own
    group unless ``groups`` says otherwise."""
    models = [
        dataclasses.replace(
            record,
            model_id=f"m{i}",
            group=groups[i] if groups else f"g{i}",
            metrics={"test_accuracy": 0.1 * (i + 1), "generalization_gap": 0.05 * i},
        )
        for i in range(n)
    ]
    return export_manifest(models, tmp_path / "zoo")


def _manifest_cfg(tmp_path: Path, manifest: Path, *overrides: str) -> dict:
    return compose_plain([*TINY, "zoo=manifest", f"zoo.manifest={manifest}", *FAST, *overrides], tmp_path)


@pytest.fixture
def register():
    """Register descriptor classes for one test; they leave the registry afterwards."""
    names: list[str] = []

    def add(name: str, cls: type) -> type:
        names.append(name)
        return register_descriptor(name)(cls)

    yield add
    for name in names:
        DESCRIPTORS._entries.pop(name, None)


# ----------------------------------------------------------------------------- 1. empty selections


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("descriptors=[]", "no descriptors selected; choose some, e.g. descriptors=[merge_tree,hessian]."),
        ("regressor=[]", "no regressor selected; choose some, e.g. regressor=[ridge,random_forest]."),
    ],
)
def test_an_empty_selection_is_named_not_a_key_error(tmp_path, override, message):
    cfg = compose_plain([*TINY, override], tmp_path)
    with pytest.raises(ConfigError) as e:
        pipeline.validate(cfg)
    assert message in str(e.value)


def test_an_empty_descriptor_selection_exits_2_from_the_command_line(tmp_path):
    r = _cli(*TINY, "descriptors=[]", f"paths.home={tmp_path}", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert "no descriptors selected" in r.stderr and "Traceback" not in r.stderr and "KeyError" not in r.stderr
    assert not (tmp_path / "store").exists()


# ----------------------------------------------------------------------------- 2. folds vs configurations


def test_more_folds_than_configurations_is_refused_before_training(tmp_path):
    cfg = compose_plain([*TINY, "protocol.n_splits=9"], tmp_path)
    expected = "protocol.n_splits=9 exceeds the 4 hyperparameter configuration(s) (groups) of the 8 models"
    with pytest.raises(ConfigError) as e:
        pipeline.validate(cfg)
    assert expected in str(e.value) and "Lower protocol.n_splits to 4 or fewer" in str(e.value)
    with pytest.raises(ConfigError, match=r"protocol\.n_splits=9 exceeds"):  # the dry run says it too
        pipeline.plan(cfg)
    assert not (tmp_path / "home" / "store").exists()


def test_within_checks_the_configurations_of_every_stratum(tmp_path):
    # tiny: width [8, 16] x label_noise [0, 0.4]; within a width, two configurations
    base = [*TINY, "protocol=within_architecture", "protocol.axis=width"]
    pipeline.validate(compose_plain([*base, "protocol.n_splits=2"], tmp_path))
    with pytest.raises(ConfigError) as e:
        pipeline.validate(compose_plain([*base, "protocol.n_splits=3"], tmp_path))
    assert "protocol.n_splits=3 exceeds the hyperparameter configurations (groups) of some values of" in str(e.value)
    assert "protocol.axis='width'" in str(e.value) and "('16': 2, '8': 2)" in str(e.value)


def test_a_manifest_of_one_group_is_refused_once_read_before_landscapes(tmp_path, tiny_record):
    manifest = _manifest(tmp_path, tiny_record, n=3, groups=["g", "g", "g"])
    cfg = _manifest_cfg(tmp_path, manifest, "descriptors=[merge_tree]")
    message = "protocol.n_splits=2 exceeds the 1 hyperparameter configuration(s) (groups) of the 3 models"
    with pytest.raises(ConfigError, match=re.escape(message)):
        pipeline.plan(cfg)  # the dry run reads the manifest: it says so too
    with pytest.raises(ConfigError, match=re.escape(message)):
        pipeline.run(cfg)
    assert not (tmp_path / "home" / "store" / "landscape").exists()


# ----------------------------------------------------------------------------- 3. the size of a grid


def test_a_grid_too_large_for_memory_is_refused_with_its_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(landscape_stage, "physical_memory", lambda: 16 * 2**30)
    cfg = compose_plain([*TINY, "landscape.steps=100001"], tmp_path)
    with pytest.raises(ConfigError) as e:
        pipeline.validate(cfg)
    text = str(e.value)
    assert "landscape.steps=100001 with landscape.ndim=2 asks for 10,000,200,001 nodes per model" in text
    assert "one grid takes 74.5 GiB (80,001,600,008 bytes of float64)" in text and "16.0 GiB of memory" in text
    fits = int(text.split("Use landscape.steps=")[1].split()[0])
    assert fits % 2 == 1 and 2 * 8 * fits**2 <= 16 * 2**30 < 2 * 8 * (fits + 2) ** 2
    # no descriptor reads landscapes: the grid is never computed, nothing to refuse
    pipeline.validate(compose_plain([*TINY, "landscape.steps=100001", "descriptors=[param_count]"], tmp_path))


@pytest.mark.slow  # subprocess runs of the CLI (the default suite stays under 10 minutes)
def test_a_very_large_grid_is_announced_before_training_and_in_the_dry_run(tmp_path):
    r = _cli(*TINY, "landscape.steps=2001", "dry_run=true", f"paths.home={tmp_path}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    line = "landscape: 4,004,001 nodes per model (landscape.steps=2001 ** landscape.ndim=2), 30.5 MiB per grid"
    assert line + ", 32,032,008 nodes over 8 models" in r.stdout
    assert "more than 10,000,000 grid nodes" in r.stderr and "Lower landscape.steps" in r.stderr
    small = _cli(*TINY, "dry_run=true", f"paths.home={tmp_path}", cwd=tmp_path)
    assert "landscape: 81 nodes per model" in small.stdout and "grid nodes" not in small.stderr


# ----------------------------------------------------------------------------- 4. a descriptor breaking its contract


def _failing(kind: str):
    def features(self, inputs: DescriptorInputs):
        if kind == "raises":
            raise ValueError("boom")
        return {
            "none": None,
            "string": "0.5",
            "array": np.array([1.0, 2.0]),
            "list": [1.0, 2.0],
            "value_list": {"x": [1.0, 2.0]},
        }[kind]

    return type("Failing", (Descriptor,), {"kind": "baseline", "requires": ("model",), "features": features})


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("raises", "descriptor 'test_failing' failed on model 'm0': ValueError: boom (at "),
        ("none", "descriptor 'test_failing' returned a NoneType (None) for model 'm0'"),
        ("string", "descriptor 'test_failing' returned a str ('0.5') for model 'm0'"),
        ("array", "descriptor 'test_failing' returned a ndarray (array([1., 2.])) for model 'm0'"),
        ("list", "descriptor 'test_failing' returned a list ([1.0, 2.0]) for model 'm0'"),
        ("value_list", "descriptor 'test_failing' returned a list ([1.0, 2.0]) for feature 'x' of model 'm0'"),
    ],
)
def test_a_failing_descriptor_names_itself_and_the_model_and_keeps_the_rest(
    tmp_path, tiny_record, register, kind, message
):
    register("test_failing", _failing(kind))
    cfg = _manifest_cfg(tmp_path, _manifest(tmp_path, tiny_record), "descriptors=[param_count]")
    cfg["descriptors"]["test_failing"] = {}
    with pytest.raises(ConfigError) as e:
        pipeline.run(cfg)
    assert message in str(e.value)
    assert "docs/adding_a_descriptor.md" in str(e.value)
    assert len(list((tmp_path / "home" / "store" / "features").rglob("*.npz"))) >= 4  # param_count's rows kept


def test_a_descriptor_without_init_has_no_parameters(register):
    cls = register("test_no_init", type("NoInit", (Descriptor,), {"kind": "baseline", "features": lambda s, i: {}}))
    assert build_descriptor("test_no_init").get_params() == {}
    with pytest.raises(ConfigError, match=r"bad parameters \['x'\].*valid parameters: \[\]"):
        build_descriptor("test_no_init", {"x": 1})
    assert cls.name == "test_no_init"


class _NoFeatures(Descriptor):
    kind = "baseline"


class _Unstored(Descriptor):
    kind = "baseline"

    def __init__(self, tolerance: float = 0.1) -> None:
        self.tol = tolerance

    def features(self, inputs):
        return {}


class _Variadic(Descriptor):
    kind = "baseline"

    def __init__(self, **kwargs) -> None:
        self.kwargs = kwargs

    def features(self, inputs):
        return {}


class _BadRequires(Descriptor):
    kind = "geometry"
    requires = "landscape"
    version = 1

    def features(self, inputs):
        return {}


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (_NoFeatures, "it defines no features(self, inputs) method"),
        (_Unstored, "__init__ does not store its arguments ['tolerance'] as attributes of the same names"),
        (_Variadic, "__init__ takes *kwargs; name every parameter"),
        (_BadRequires, "requires='landscape' must be a tuple of inputs"),
        (_BadRequires, "version=1 must be a non-empty string"),
    ],
)
def test_registration_checks_the_contract(register, cls, message):
    with pytest.raises(ConfigError) as e:
        register("test_contract", cls)
    assert message in str(e.value) and "@register_descriptor('test_contract')" in str(e.value)
    assert "test_contract" not in DESCRIPTORS


def test_construction_checks_parameters_registration_could_not(register):
    class Required(Descriptor):
        kind = "baseline"

        def __init__(self, scale: float) -> None:
            self.factor = scale

        def features(self, inputs):
            return {}

    register("test_required", Required)  # no defaults: registration cannot build one
    with pytest.raises(ConfigError, match=r"descriptor 'test_required': __init__ does not store .*\['scale'\]"):
        build_descriptor("test_required", {"scale": 2.0})


# ----------------------------------------------------------------------------- 5. options from the user's config folder


def test_options_in_the_search_path_are_not_called_unknown(tmp_path):
    mine = tmp_path / "my_conf"
    (mine / "descriptors").mkdir(parents=True)
    (mine / "descriptors" / "my_flatness.yaml").write_text("# @package descriptors.my_flatness\ntolerance: 0.1\n")
    (mine / "zoo").mkdir()
    (mine / "zoo" / "my_zoo.yaml").write_text("name: my_zoo\n")
    for path in (f"file://{mine}", str(mine)):
        argv = [f"hydra.searchpath=[{path}]", "descriptors=[merge_tree,my_flatness]", "zoo=my_zoo"]
        assert unknown_group_options(argv, conf_dir()) == []
    argv = [f"hydra.searchpath=[file://{mine}]", "descriptors=[my_flatnes]"]
    (message,) = unknown_group_options(argv, conf_dir())
    assert "Unknown descriptors 'my_flatnes'. Did you mean 'my_flatness'?" in message


def test_a_failing_plugin_descriptor_exits_2_naming_it_with_no_false_unknown_line(tmp_path, tiny_record):
    (tmp_path / "my_descriptors").mkdir()
    (tmp_path / "my_descriptors" / "my_broken.py").write_text(
        "from benchmark.descriptors import Descriptor, register_descriptor\n\n\n"
        '@register_descriptor("my_broken")\n'
        "class MyBroken(Descriptor):\n"
        '    kind = "baseline"\n\n'
        "    def __init__(self, scale: float = 1.0) -> None:\n"
        "        self.scale = scale\n\n"
        "    def features(self, inputs):\n"
        '        raise ZeroDivisionError("no flatness here")\n'
    )
    (tmp_path / "my_conf" / "descriptors").mkdir(parents=True)
    (tmp_path / "my_conf" / "descriptors" / "my_broken.yaml").write_text(
        "# @package descriptors.my_broken\nscale: 1.0\n"
    )
    manifest = _manifest(tmp_path, tiny_record)
    r = _cli(
        *TINY,
        "zoo=manifest",
        f"zoo.manifest={manifest}",
        *FAST,
        "plugins=[my_descriptors/my_broken.py]",
        "hydra.searchpath=[file://my_conf]",
        "descriptors=[param_count,my_broken]",
        f"paths.home={tmp_path / 'home'}",
        f"report.dir={tmp_path / 'boards'}",
        cwd=tmp_path,
    )
    assert r.returncode == 2, r.stderr
    assert "descriptor 'my_broken' failed on model 'm0': ZeroDivisionError: no flatness here" in r.stderr
    assert "my_broken.py:" in r.stderr  # where
    assert "Traceback" not in r.stderr and "Unknown descriptors" not in r.stderr
    assert list((tmp_path / "home" / "store" / "features").rglob("*.npz"))  # param_count's rows kept


# ----------------------------------------------------------------------------- 6, 7. NaN and varying features


def test_a_descriptor_undefined_for_every_model_says_why(tmp_path, tiny_record, caplog):
    # tiny_record is a tanh network: its path norm is undefined, with a reason
    cfg = _manifest_cfg(tmp_path, _manifest(tmp_path, tiny_record), "descriptors=[path_norm,param_count]")
    with caplog.at_level(logging.WARNING):
        result = pipeline.run(cfg)
    assert "descriptor path_norm is undefined (NaN) for every one of the 4 models" in caplog.text
    assert "the path norm is defined here for ReLU networks; this one has ['Tanh']" in caplog.text
    assert "exceeds the 0 groups left" not in caplog.text
    assert "no model is left to cross-validate" in caplog.text
    rows = [s for s in result.scores if s.feature_set == "path_norm"]
    assert rows and all(math.isnan(s.value["spearman"]) for s in rows)  # unscored, still on the leaderboard
    assert "not all of its features" not in caplog.text  # the NaN rows keep their feature names


def test_feature_names_that_differ_between_models_are_warned_about(tiny_record, caplog):
    models = [dataclasses.replace(tiny_record, model_id=f"m{i}") for i in range(3)]
    rows = {
        "varying": [
            FeatureRow("m0", "varying", {"a": 1.0, "b": 2.0}, {}),
            FeatureRow("m1", "varying", {"a": 1.5}, {}),
            FeatureRow("m2", "varying", {"a": 2.0, "b": 3.0}, {}),
        ],
        "stable": [FeatureRow(f"m{i}", "stable", {"x": float(i)}, {}) for i in range(3)],
    }
    with caplog.at_level(logging.WARNING):
        table = feature_table(models, rows)
    assert "descriptor varying gives 1 of 3 models not all of its features: b missing (e.g. for m1)" in caplog.text
    assert "descriptor stable" not in caplog.text
    assert math.isnan(table.loc["m1", "varying__b"]) and table.loc["m2", "varying__b"] == 3.0  # numbers unchanged


def test_hyperparameters_of_a_manifest_with_varying_hyperparameters_still_work(tiny_record, caplog):
    a = dataclasses.replace(tiny_record, model_id="a")
    b = dataclasses.replace(tiny_record, model_id="b", hparams={**tiny_record.hparams, "dropout": 0.5})
    desc = build_descriptor("hyperparameters")
    rows = {"hyperparameters": [desc.compute(DescriptorInputs(model=m)) for m in (a, b)]}
    with caplog.at_level(logging.WARNING):
        table = feature_table([a, b], rows)
    assert "dropout missing (e.g. for a)" in caplog.text
    assert table.loc["b", "hyperparameters__dropout"] == 0.5 and math.isnan(table.loc["a", "hyperparameters__dropout"])


# ----------------------------------------------------------------------------- 8. a one-model zoo


def test_a_one_model_zoo_says_so_instead_of_circular_advice(tmp_path, tiny_record):
    protocol = compose_plain(TINY, tmp_path)["protocol"]
    (problem,) = model_problems("z", [tiny_record], ["test_accuracy", "generalization_gap"], None, protocol)
    assert "zoo 'z' has one model; cross-validation needs at least as many hyperparameter configurations" in problem
    assert "(protocol.n_splits=2)" in problem and "constant" not in problem
    cfg = _manifest_cfg(tmp_path, _manifest(tmp_path, tiny_record, n=1), "descriptors=[merge_tree]")
    with pytest.raises(ConfigError) as e:
        pipeline.run(cfg)
    assert "zoo 'manifest' has one model" in str(e.value) and "use the other one" not in str(e.value)
    assert "constant" not in str(e.value)
    assert not (tmp_path / "home" / "store" / "landscape").exists()
