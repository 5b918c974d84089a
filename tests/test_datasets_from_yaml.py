"""Datasets from YAML alone: scikit-learn's tabular sets and a user's CSV through the real pipeline,
every CSV mistake refused before any work, and docs/adding_a_dataset.md executed as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sklearn import datasets as sk_datasets

from benchmark import pipeline
from benchmark.cli import conf_dir, malformed_overrides, split_command_line, unknown_group_options
from benchmark.data import DATASETS, dataset_identity, dataset_problems, load_dataset
from benchmark.data.base import CONFIG_CHECKS
from benchmark.data.tabular import BUNDLED, stratified_split
from benchmark.errors import ConfigError

from .conftest import CONF, compose_plain
from .test_docs import _blocks

DOC = Path(__file__).resolve().parents[1] / "docs" / "adding_a_dataset.md"


def _sections(text: str) -> dict[str, str]:
    """The page's ``## `` sections by the number that starts their heading ("1", "2", "3")."""
    return {part.split(".", 1)[0]: part for part in text.split("\n## ")[1:]}


def _overrides(command: str) -> list[str]:
    argv = shlex.split(command.replace("\\\n", " "))
    assert argv[0] == "landscape-bench"
    return argv[1:]


@pytest.fixture(scope="module")
def doc_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The page's three examples by section: its files written, its commands composed as the
    command line would and run through the whole pipeline in process, in one folder (their paths
    are relative to it), sharing one store; the stored runs of the CSV's zoo before and after its
    file changed; what the Python section's check says of a bad setting. The Python section's
    dataset leaves the registry afterwards."""
    folder = tmp_path_factory.mktemp("adding_a_dataset")
    sections = _sections(DOC.read_text())
    (folder / "my_data").mkdir()
    (script,) = _blocks(sections["2"], "python")
    (plugin,) = _blocks(sections["3"], "python")
    (folder / "my_data" / "two_moons.py").write_text(plugin)
    (folder / "my_conf" / "dataset").mkdir(parents=True)
    (yaml_src,) = _blocks(sections["3"], "yaml")
    (folder / "my_conf" / "dataset" / "two_moons.yaml").write_text(yaml_src)
    runs = {}
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(folder)
            exec(compile(script, "make_readings.py", "exec"), {"__name__": "__main__"})
            for key in ("1", "2", "3"):
                (command,) = _blocks(sections[key], "bash")
                overrides = [a.replace("file://my_conf", f"file://{folder / 'my_conf'}") for a in _overrides(command)]
                cfg = compose_plain(overrides, folder)
                runs[key] = (cfg, pipeline.run(cfg))
            runs["3 refused"] = dataset_problems({**runs["3"][0]["dataset"], "noise": -0.1})  # the page's check
            stored = [{stage: n for stage, _, n in pipeline.plan(runs["2"][0])}["run"]]
            with open("my_data/readings.csv", "a") as f:  # one reading more: a new dataset to the store
                f.write("300,50.0,0.35,5.0,mill\n")
            runs["2 stored runs"] = [*stored, {stage: n for stage, _, n in pipeline.plan(runs["2"][0])}["run"]]
    finally:
        DATASETS._entries.pop("two_moons", None)
        CONFIG_CHECKS.pop("two_moons", None)
    return runs


def _check_run(cfg: dict, result: pipeline.RunResult, dataset: str, n_features: int, n_classes: int) -> None:
    assert cfg["dataset"]["name"] == dataset and cfg["zoo"]["name"] == "digits_mlp"
    assert len(result.models) == 8 and {m.dataset for m in result.models} == {dataset}
    assert {tuple(m.architecture["input_shape"]) for m in result.models} == {(n_features,)}
    assert {m.architecture["n_outputs"] for m in result.models} == {n_classes}
    accuracies = [m.metrics["test_accuracy"] for m in result.models]
    assert all(0.0 <= a <= 1.0 for a in accuracies) and len(set(accuracies)) > 1
    frame = result.scores_frame()
    assert {"constant", "merge_tree", "hessian", "weight_norm", "hyperparameters"} <= set(frame["feature_set"])
    assert set(frame["target"]) == {"test_accuracy", "generalization_gap"}
    assert set(frame["regressor"]) - {"mean", "seed_mean", "knn_bottleneck"} == {"ridge"}
    assert frame["spearman_value"].notna().sum() >= 8


def test_wine_from_yaml_alone_reaches_a_score_table(doc_runs):
    cfg, result = doc_runs["1"]
    assert cfg["name"] == "wine"
    _check_run(cfg, result, "wine", n_features=13, n_classes=3)


def test_a_users_csv_from_yaml_alone_reaches_a_score_table(doc_runs):
    cfg, result = doc_runs["2"]
    assert cfg["dataset"]["features"] == ["temperature", "vibration", "current"]  # reading_id left out
    _check_run(cfg, result, "csv", n_features=3, n_classes=3)
    assert doc_runs["2 stored runs"] == [8, 0]  # all trained runs stored; none of them once the file changed


def test_a_dataset_in_python_reaches_a_score_table(doc_runs):
    cfg, result = doc_runs["3"]
    assert cfg["plugins"] == ["my_data/two_moons.py"] and cfg["dataset"]["n_samples"] == 400
    _check_run(cfg, result, "two_moons", n_features=2, n_classes=2)
    assert doc_runs["3 refused"] == ["dataset.noise=-0.1 is negative; give a standard deviation >= 0, e.g. 0.2."]
    assert "two_moons" not in DATASETS  # the page's registration stayed inside the fixture


# ----------------------------------------------------------------------------- the tabular split


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_bundled_sets_are_stratified_and_scaled_by_the_training_part_only(name):
    split = load_dataset(name, test_fraction=0.3, split_seed=0)
    bunch = BUNDLED[name]()
    train, test = stratified_split(bunch.target, 0.3, 0)
    mean, std = bunch.data[train].mean(axis=0), bunch.data[train].std(axis=0)
    np.testing.assert_allclose(split.x_train.numpy(), (bunch.data[train] - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(split.x_test.numpy(), (bunch.data[test] - mean) / std, rtol=1e-5, atol=1e-5)
    assert split.y_test.tolist() == bunch.target[test].tolist()
    assert split.input_shape == (bunch.data.shape[1],) and split.n_classes == len(bunch.target_names)
    for c, n_c in enumerate(np.bincount(bunch.target)):  # every class in both parts, 30% of it held out
        assert int((split.y_test == c).sum()) == round(0.3 * n_c)
    assert sorted([*train, *test]) == list(range(len(bunch.target)))
    assert not np.array_equal(load_dataset(name, split_seed=1).x_test.numpy(), split.x_test.numpy())


def test_stratified_split_keeps_one_row_of_a_class_on_each_side():
    y = np.array([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2])
    train, test = stratified_split(y, 0.9, 3)
    assert set(y[train]) == set(y[test]) == {0, 1, 2}
    assert np.bincount(y[test]).tolist() == [1, 9, 2]  # round(0.9 n), at most n - 1


def test_the_digits_images_are_not_a_tabular_set():
    assert "digits" not in BUNDLED
    assert load_dataset("digits").x_train.shape == (1258, 1, 8, 8)
    assert sk_datasets.load_digits().data.shape == (1797, 64)


def test_every_tabular_option_is_a_dataset_the_mlp_recipe_trains_on():
    recipe = yaml.safe_load((CONF / "zoo" / "digits_mlp.yaml").read_text())
    for name in [*BUNDLED, "csv"]:
        assert yaml.safe_load((CONF / "dataset" / f"{name}.yaml").read_text())["name"] == name
        assert name in recipe["datasets"]


# ----------------------------------------------------------------------------- a user's CSV


def _csv(tmp_path: Path, text: str, name: str = "data.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


GOOD = "a,b,note,kind\n1,2,x,cat\n2,1,y,dog\n3,5,z,cat\n4,4,w,dog\n5,0,v,cat\n6,3,u,dog\n"


def test_csv_labels_are_sorted_classes_and_features_default_to_numeric_columns(tmp_path):
    split = load_dataset("csv", path=_csv(tmp_path, GOOD), label="kind")
    assert split.input_shape == (2,) and split.n_classes == 2  # "note" is text: not a feature
    assert len(split.y_train) == 4 and sorted(split.y_test.tolist()) == [0, 1]  # cat = 0, dog = 1
    named = load_dataset("csv", path=str(tmp_path / "data.csv"), label="kind", features=["b"])
    assert named.input_shape == (1,)
    np.testing.assert_allclose(named.x_train.numpy().mean(), 0.0, atol=1e-6)  # standardised on the training part
    np.testing.assert_allclose(named.x_train.numpy().std(), 1.0, atol=1e-6)


def test_an_edited_csv_is_a_new_dataset_to_the_store(tmp_path):
    node = {"name": "csv", "path": _csv(tmp_path, GOOD), "label": "kind", "features": None}
    before = dataset_identity(node)
    assert {k: v for k, v in before.items() if k != "content_sha256"} == node
    _csv(tmp_path, GOOD.replace("6,3,u,dog", "6,9,u,dog"))
    assert dataset_identity(node)["content_sha256"] != before["content_sha256"]
    digits = {"name": "digits", "test_fraction": 0.3, "split_seed": 0, "image_size": 8}
    assert dataset_identity(digits) == digits  # datasets inside the package keep their store keys


CSV_MISTAKES = [
    ("no path", None, {}, [r"dataset 'csv' needs dataset\.path", r"set dataset\.path=path/to/file\.csv"]),
    ("absent file", "absent", {}, [r"dataset\.path='.*absent\.csv' does not exist", r"Set dataset\.path to the CSV"]),
    ("a folder", "folder", {}, [r"dataset\.path='.*' is a folder, not a file"]),
    (
        "no label column",
        GOOD,
        {"label": "Kind"},
        [
            r"dataset\.label='Kind' is not a column of dataset\.path='.*data\.csv'\. Did you mean 'kind'\?",
            r"Its columns: a, b, note, kind; set dataset\.label to the one holding the class labels",
        ],
    ),
    (
        "non-numeric feature",
        GOOD,
        {"features": ["a", "note"]},
        [
            r"feature column 'note' of dataset\.path='.*' is not numeric \(e\.g\. 'x'\); encode it as numbers, or "
            r"leave it out of dataset\.features"
        ],
    ),
    (
        "absent feature",
        GOOD,
        {"features": ["a", "bb"]},
        [r"dataset\.features names 'bb', which is not a column of .*Did you mean 'b'\?"],
    ),
    ("label as a feature", GOOD, {"features": ["a", "kind"]}, [r"dataset\.features includes the label column 'kind'"]),
    ("features not a list", GOOD, {"features": "a"}, [r"dataset\.features='a' is not a list of column names"]),
    (
        "too few rows of a class",
        GOOD + "7,7,t,eel\n",
        {},
        [
            r"class 'eel' of label column 'kind' has 1 row\(s\) in dataset\.path='.*'; every class needs at least 2 "
            r"\(one for the training part, one for the test part\): add rows of it, or drop its rows"
        ],
    ),
    ("one class", "a,kind\n1,cat\n2,cat\n3,cat\n", {}, [r"label column 'kind' of .* holds one class only \('cat'\)"]),
    (
        "empty cell",
        GOOD.replace("3,5,z", "3,,z"),
        {},
        [
            r"feature column 'b' of dataset\.path='.*' has 1 empty or infinite cell\(s\) \(the first in data row 3, ",
            r"fill them with numbers, or drop those rows",
        ],
    ),
    (
        "infinite cell",
        GOOD.replace("5,0,v", "5,inf,v"),
        {},
        [r"column 'b' .* 1 empty or infinite cell\(s\) \(the first in data row 5"],
    ),
    ("empty label", GOOD.replace("4,w,dog", "4,w,"), {}, [r"label column 'kind' of .* has 1 empty cell\(s\)"]),
    ("no numeric feature", "note,kind\nx,cat\ny,dog\n", {}, [r"has no numeric column besides the label 'kind'"]),
    (
        "not a CSV",
        "a,kind\n1,cat\n2,dog,5\n",
        {},
        [r"dataset\.path='.*' cannot be read as CSV \(.*line 3, saw 3\); give"],
    ),
    ("first row too long", "a,kind\n1,cat,3,4\n2,dog\n", {}, [r"cannot be read as CSV \(Length of header"]),
    ("empty file", "", {}, [r"cannot be read as CSV"]),
    ("held-out share", GOOD, {"test_fraction": 1.0}, [r"dataset\.test_fraction=1\.0 is out of range .*use a number"]),
]


@pytest.mark.parametrize(("case", "content", "params", "messages"), CSV_MISTAKES, ids=[c[0] for c in CSV_MISTAKES])
def test_csv_mistakes_are_named_with_the_value_and_the_fix(tmp_path, case, content, params, messages):
    if content is None:
        path = None
    elif content == "absent":
        path = str(tmp_path / "absent.csv")
    elif content == "folder":
        path = str(tmp_path)
    else:
        path = _csv(tmp_path, content)
    node = {"name": "csv", "path": path, "label": "kind", "features": None, "test_fraction": 0.3, "split_seed": 0}
    problems = dataset_problems({**node, **params})
    assert len(problems) == 1, problems
    for message in messages:
        assert re.search(message, problems[0]), (message, problems[0])
    with pytest.raises(ConfigError) as e:  # loading says the same
        load_dataset("csv", **{k: v for k, v in {**node, **params}.items() if k != "name"})
    assert str(e.value) == problems[0]


def test_a_csv_mistake_stops_the_run_before_anything_is_trained(tmp_path):
    path = _csv(tmp_path, GOOD)
    cfg = compose_plain(["experiment=tiny", "dataset=csv", f"dataset.path={path}", "dataset.label=species"], tmp_path)
    with pytest.raises(ConfigError, match=r"dataset\.label='species' is not a column") as e:
        pipeline.run(cfg)
    assert str(e.value).startswith("invalid configuration")
    assert not (tmp_path / "home" / "store" / "run").exists()


def test_bundled_split_settings_are_checked_before_any_work():
    (problem,) = dataset_problems({"name": "iris", "test_fraction": 0.0, "split_seed": 0})
    assert "dataset.test_fraction=0.0 is out of range (dataset 'iris')" in problem
    (problem,) = dataset_problems({"name": "wine", "test_fraction": 0.3, "split_seed": -1})
    assert "dataset.split_seed=-1 is not an integer >= 0" in problem
    assert dataset_problems({"name": "breast_cancer", "test_fraction": 0.3, "split_seed": 0}) == []


# ----------------------------------------------------------------------------- a zoo in a folder of --config-dir


@pytest.mark.parametrize("form", ["--config-dir", "-cd", "--config-dir="])
def test_a_zoo_in_a_config_dir_folder_is_not_called_unknown(tmp_path, form):
    mine = tmp_path / "my_conf"
    (mine / "zoo").mkdir(parents=True)
    (mine / "zoo" / "wine_mlp.yaml").write_text("name: wine_mlp\ndatasets: [wine]\n")
    flag = [f"{form}{mine}"] if form.endswith("=") else [form, str(mine)]
    overrides, config_dirs = split_command_line([*flag, "-m", "zoo=wine_mlp", "dataset=wnie"])
    assert overrides == ["zoo=wine_mlp", "dataset=wnie"] and config_dirs == [mine]
    assert malformed_overrides(overrides) == []  # the folder is the flag's value, not an override
    (message,) = unknown_group_options(overrides, conf_dir(), config_dirs)
    assert message.startswith("Unknown dataset 'wnie'. Did you mean 'wine'?")
    assert unknown_group_options(["zoo=wine_mlp", "dataset=wine"], conf_dir(), config_dirs) == []
