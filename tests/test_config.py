"""Every YAML in conf/ composes; unknown names fail listing the valid ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from benchmark.descriptors import DESCRIPTORS
from benchmark.pipeline import ConfigError, validate
from benchmark.registry import Registry, UnknownNameError

from .conftest import CONF, compose_plain

MULTI = {"descriptors", "regressor"}
OPTIONS = sorted((p.parent.name, p.stem) for p in CONF.glob("*/*.yaml"))


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}/{o}" for g, o in OPTIONS])
def test_every_config_option_composes_and_validates(group, option, tmp_path):
    overrides = [f"{group}=[{option}]" if group in MULTI else f"{group}={option}"]
    if group == "zoo":  # a zoo names the datasets it trains on
        datasets = yaml.safe_load((CONF / "zoo" / f"{option}.yaml").read_text())["datasets"] or ["digits"]
        overrides.append(f"dataset={datasets[0]}")
        if option == "manifest":
            overrides.append("zoo.manifest=manifest.json")
        if option == "table":  # the embedded table stands in for the user's
            overrides.append("zoo.path=pkg://benchmark/data/model_diagnosis/table.yaml")
        if option in ("small_cnn_zoo", "model_zoos"):  # a public zoo's folder: its files are read (and
            (tmp_path / "run").mkdir()  # checked) in test_public_zoos.py; validation sees only that they exist
            for name in ("weights.npy", "layout.csv", "metrics.csv.gz", "run/params.json"):
                (tmp_path / name).touch()
            overrides += [f"zoo.root={tmp_path}", "dataset.download=true"]
    if group == "dataset":
        zoo = next(
            p.stem for p in sorted((CONF / "zoo").glob("*.yaml")) if option in yaml.safe_load(p.read_text())["datasets"]
        )
        overrides.append(f"zoo={zoo}")
        if "root" in yaml.safe_load((CONF / "dataset" / f"{option}.yaml").read_text()):  # no files here: the
            overrides.append("dataset.download=true")  # root check has its own tests (test_untrusted_inputs.py)
        if option == "csv":  # the user's file: one the test writes (its checks: test_datasets_from_yaml.py)
            (tmp_path / "data.csv").write_text("x,label\n" + "".join(f"{i},{i % 2}\n" for i in range(8)))
            overrides.append(f"dataset.path={tmp_path / 'data.csv'}")
    if (group, option) == ("protocol", "leave_one_architecture_out"):  # needs a zoo of several architectures
        overrides.append("experiment=mnist1d")
    from_folder = group in ("zoo", "experiment") and "root" in compose_plain(overrides, tmp_path)["dataset"]
    if from_folder and "dataset.download=true" not in overrides:  # data from a folder (resnet20_cifar10):
        overrides.append("dataset.download=true")  # no files here, as for the dataset options above
    cfg = compose_plain(overrides, tmp_path)
    if group in MULTI:
        assert list(cfg[group]) == [option]  # the package name is the file name
    validate(cfg)


def test_every_zoo_has_an_experiment_of_its_name_or_is_the_default():
    experiments = {p.stem for p in (CONF / "experiment").glob("*.yaml")}
    for zoo in (CONF / "zoo").glob("*.yaml"):
        read = ("digits_mlp", "manifest", "table", "small_cnn_zoo", "model_zoos")
        assert zoo.stem in experiments or zoo.stem in read, zoo.stem


def test_descriptor_yaml_names_match_registry():
    yaml_names = {p.stem for p in (CONF / "descriptors").glob("*.yaml")}
    assert yaml_names == set(DESCRIPTORS.names())


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "landscape-bench"
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("override", "valid"),
    [
        ("zoo=nope", "digits_mlp"),
        ("regressor=[nope]", "random_forest"),
        ("descriptors=[nope]", "merge_tree"),
        ("landscape=nope", "random_2d"),
    ],
)
def test_unknown_group_option_lists_valid_names(override, valid, tmp_path):
    r = _cli(override, f"paths.home={tmp_path}", cwd=tmp_path)
    assert r.returncode != 0
    group = override.split("=")[0]
    assert f"Unknown {group} 'nope'" in r.stderr and valid in r.stderr


def test_unknown_descriptor_key_lists_registry_names(tmp_path):
    cfg = compose_plain(["+descriptors.merge_tre={}"], tmp_path)
    with pytest.raises(ConfigError) as e:
        validate(cfg)
    assert "merge_tree" in str(e.value) and "Did you mean 'merge_tree'" in str(e.value)
    r = _cli("+descriptors.merge_tre={}", f"paths.home={tmp_path}", cwd=tmp_path)
    assert r.returncode == 2 and "Unknown descriptor 'merge_tre'" in r.stderr


def test_bad_values_are_named(tmp_path):
    for override, expect in [
        ("landscape.steps=10", "landscape.steps=10"),
        ("landscape.span=0", "landscape.span=0"),
        ("evaluation.targets=[accuracy]", "valid targets"),
    ]:
        with pytest.raises(ConfigError, match=expect.replace(".", r"\.").replace("[", r"\[")):
            validate(compose_plain([override], tmp_path))


def test_registry_is_strict():
    reg: Registry[int] = Registry("widget")
    reg.add("alpha", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.add("alpha", 2)
    with pytest.raises(ValueError, match="lower_snake_case"):
        reg.add("Bad-Name", 3)
    with pytest.raises(UnknownNameError, match=r"Did you mean 'alpha'\?.*Valid widget names: alpha"):
        reg.get("alpah")
