"""The embedded suite: declared once, in the experiments' YAMLs, and read by everything that lists it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmark.report.zoo_index import header
from benchmark.suite import SuiteError, heaviest_first, landscape_entries, load_suite, transfer_entries

from .conftest import CONF

ROOT = Path(__file__).resolve().parents[1]
SUITE_EXE = Path(sys.executable).parent / "landscape-bench-suite"
SIXTH = """# @package _global_
# MNIST-1D with a coarser grid: one more suite experiment (test).
defaults:
  - override /zoo: mnist1d
  - override /dataset: mnist1d
name: mnist1d_coarse
landscape:
  steps: 21
suite:
  order: 7
  work_rank: 7
  target: generalization_gap
  transfer: true
  stability_steps: [11, 21, 31]
  description: "MNIST-1D on a coarser grid"
"""
BLOCK = {
    "order": "7",
    "work_rank": "7",
    "target": "generalization_gap",
    "transfer": "true",
    "stability_steps": "[11, 21, 31]",
    "description": '"MNIST-1D on a coarser grid"',
}


def conf_copy(tmp_path: Path, **fields: str | None) -> Path:
    """conf/ copied under ``tmp_path`` with one more experiment added; ``fields`` replace (None:
    drop) fields of its suite block."""
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    block = {**BLOCK, **fields}
    text = SIXTH.split("suite:\n")[0] + "suite:\n" + "".join(f"  {k}: {v}\n" for k, v in block.items() if v is not None)
    (conf / "experiment" / "mnist1d_coarse.yaml").write_text(text)
    return conf


def sweep_params(conf: Path, study: str) -> dict:
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose(config_name="config", overrides=[f"study={study}"], return_hydra_config=True)
    return OmegaConf.to_container(cfg.hydra.sweeper.params, resolve=True)


def test_the_suite_gives_the_studies_what_they_were_given_before_it_was_declared():
    """The lists and values the Makefile, the studies and docs/zoos.md held by hand before the
    suite was declared in conf/experiment/; adding an experiment to the suite changes them on purpose."""
    from benchmark.studies import reproduction

    suite = load_suite()
    names = ["digits_mlp", "digits_cnn", "mnist1d", "pinn_convection", "timm_arch", "model_diagnosis"]
    assert [e.name for e in suite] == names  # the sixth, a feature table, joined later; digits_mlp took default's place
    zoos = ["digits_mlp", "digits_cnn", "mnist1d", "pinn_convection", "timm_arch", "model_diagnosis"]
    assert [e.zoo for e in suite] == zoos
    assert [e.name for e in suite if e.table] == ["model_diagnosis"]
    assert [e.name for e in landscape_entries(suite)] == names[:5]
    assert [e.name for e in transfer_entries(suite)] == ["digits_mlp", "digits_cnn", "mnist1d", "timm_arch"]
    heavy = ["timm_arch", "pinn_convection", "mnist1d", "digits_cnn", "digits_mlp"]
    assert [e.name for e in heaviest_first(suite)] == [*heavy, "model_diagnosis"]
    assert reproduction.ZOOS == {
        "digits_mlp": "test_accuracy",
        "digits_cnn": "test_accuracy",
        "mnist1d": "test_accuracy",
        "pinn_convection": "rel_l2_error",
        "timm_arch": "test_accuracy",
    }
    assert reproduction.STABILITY_STEPS == {
        "digits_mlp": [21, 41, 61],
        "digits_cnn": [11, 21, 31],
        "mnist1d": [15, 21, 31],
        "pinn_convection": [15, 21],
        "timm_arch": [7, 9],
    }
    runs = reproduction.planned_runs(reproduction.STABILITY_STEPS)
    assert [r[0] for r in runs[:6]] == [f"experiment={e}" for e in [*heavy, "dynamics"]]
    assert sweep_params(CONF, "compare_descriptors")["experiment"] == ",".join(heavy)  # descriptors: no tables


def test_docs_zoos_table_lists_the_suite():
    committed = (ROOT / "docs" / "zoos.md").read_text()
    table = header(load_suite()).split("| zoo | experiment | what it is for |")[1].split("\n\n")[0]
    assert table in committed


def test_nothing_else_lists_the_suite():
    for path in (ROOT / "Makefile", CONF / "study" / "compare_descriptors.yaml"):
        text = path.read_text()
        assert not [e.name for e in load_suite() if e.name in text], path


def test_another_experiment_joins_the_suite_with_one_yaml_file(tmp_path):
    conf = conf_copy(tmp_path)
    suite = load_suite(conf)
    assert [e.name for e in suite][-1] == "mnist1d_coarse" and len(suite) == 7
    added = suite[-1]
    assert (added.zoo, added.target, added.transfer, added.stability_steps) == (
        "mnist1d",
        "generalization_gap",
        True,
        (11, 21, 31),
    )

    def listed(*args: str) -> list[str]:
        r = subprocess.run([str(SUITE_EXE), "--conf", str(conf), *args], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    assert listed() == [e.name for e in suite]
    assert listed("--transfer")[-1] == "mnist1d_coarse"
    assert listed("--heaviest-first")[-1] == "mnist1d_coarse"
    assert "mnist1d_coarse" not in subprocess.run([str(SUITE_EXE)], capture_output=True, text=True).stdout
    # the descriptor-comparison study sweeps it too, read from the conf/ folder Hydra composes from
    assert sweep_params(conf, "compare_descriptors")["experiment"].split(",")[-1] == "mnist1d_coarse"
    assert "| `mnist1d` | `mnist1d_coarse` | MNIST-1D on a coarser grid |" in header(suite)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"target": None}, "suite.target is missing; add it"),
        ({"tranfer": "true", "transfer": None}, "suite.tranfer is not a suite field; did you mean 'transfer'?"),
        ({"target": "accuracy"}, "suite.target='accuracy' is not a target of zoo 'mnist1d'; use one of"),
        ({"transfer": "yes please"}, "suite.transfer='yes please' is not true or false"),
        ({"order": "0"}, "suite.order=0 is not an integer >= 1"),
        ({"order": "3"}, "suite.order=3 is also the order of mnist1d"),
        ({"work_rank": "1"}, "suite.work_rank=1 is also the work_rank of mnist1d_coarse"),
        ({"stability_steps": "[20, 21]"}, "suite.stability_steps=[20, 21] is not two or more distinct odd integers"),
        ({"stability_steps": "[21, 31, 41]"}, "has the middle resolution 31, but the experiment's own landscape.steps"),
        ({"description": "''"}, "suite.description='' is not one line of text"),
    ],
)
def test_a_bad_block_is_refused_naming_the_file_the_field_and_the_fix(fields, message, tmp_path):
    conf = conf_copy(tmp_path, **fields)
    with pytest.raises(SuiteError, match=r"mnist1d_coarse\.yaml") as caught:
        load_suite(conf)
    assert message in str(caught.value)
    r = subprocess.run([str(SUITE_EXE), "--conf", str(conf)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and message in r.stderr and not r.stdout


def test_every_problem_is_named_at_once(tmp_path):
    conf = conf_copy(tmp_path, target="accuracy", transfer=None)
    with pytest.raises(SuiteError) as caught:
        load_suite(conf)
    assert "suite.target='accuracy'" in str(caught.value) and "suite.transfer is missing" in str(caught.value)


TABLE = """# @package _global_
# A second feature table (test).
defaults:
  - override /zoo: model_diagnosis
name: md_copy
suite:
  order: 7
  work_rank: 7
  target: test_accuracy
  transfer: {transfer}
  stability_steps: {steps}
  description: "a copy"
"""


@pytest.mark.parametrize(
    ("transfer", "steps", "message"),
    [
        ("true", "[]", "suite.transfer=true, but zoo 'model_diagnosis' is a feature table"),
        ("false", "[21, 41, 81]", "suite.stability_steps=[21, 41, 81], but zoo 'model_diagnosis' is a feature table"),
    ],
)
def test_a_feature_table_has_no_stability_steps_and_no_transfer(transfer, steps, message, tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    (conf / "experiment" / "md_copy.yaml").write_text(TABLE.format(transfer=transfer, steps=steps))
    with pytest.raises(SuiteError, match=r"md_copy\.yaml") as caught:
        load_suite(conf)
    assert message in str(caught.value)


def test_the_suite_cli_lists_the_experiments_with_landscapes():
    r = subprocess.run([str(SUITE_EXE), "--landscapes"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [e.name for e in landscape_entries(load_suite())]


def test_the_power_table_reads_each_boards_headline_target_widths():
    """docs/zoos.md's widths: the best feature-set row (never the noise ceiling or the constant
    predictor) and the median over rows with an interval, for the target and protocol asked."""
    from benchmark.report.zoo_index import interval_widths

    rows = [  # feature set, kind, target, protocol, spearman value, low, high
        ("noise_ceiling", "ceiling", "acc", "group_kfold", 0.99, 0.98, 1.0),
        ("constant", "baseline", "acc", "group_kfold", float("nan"), float("nan"), float("nan")),
        ("a", "topology", "acc", "group_kfold", 0.8, 0.7, 0.9),
        ("b", "geometry", "acc", "group_kfold", 0.5, 0.1, 0.7),
        ("c", "geometry", "acc", "group_kfold", 0.2, -0.2, 0.6),
        ("d", "geometry", "acc", "group_kfold", 0.3, float("nan"), float("nan")),
        ("a", "topology", "gap", "group_kfold", 0.95, 0.0, 1.0),
        ("a", "topology", "acc", "within_architecture", 0.95, 0.0, 1.0),
    ]
    board = pd.DataFrame(
        rows,
        columns=["feature_set", "kind", "target", "protocol", "spearman_value", "spearman_ci_low", "spearman_ci_high"],
    ).assign(regressor="ridge")
    w = interval_widths(board, "acc")
    assert w["best"] == "a (ridge)" and w["rows"] == 3
    assert w["best_width"] == pytest.approx(0.2) and w["median_width"] == pytest.approx(0.6)
    with pytest.raises(ValueError, match="no group_kfold rows"):
        interval_widths(board, "loss")
