"""Precomputed feature tables (``zoo=table``): scored by the same protocol as a trained zoo, refused
before any work when the table cannot be scored, and the embedded Model Diagnosis table."""

from __future__ import annotations

import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from benchmark import pipeline
from benchmark.errors import ConfigError
from benchmark.zoo.table import TableError, load_table, read_spec

from .conftest import compose_plain

EXE = Path(sys.executable).parent / "landscape-bench"
FAST = ["regressor=[ridge]", "protocol.n_splits=3", "protocol.n_repeats=1", "protocol.n_bootstrap=50"]
SPEC = {
    "file": "models.csv",
    "id": "model",
    "group": "config",
    "seed": "seed",
    "hyperparameters": {"width": "width", "lr": "lr"},
    "targets": {
        "test_accuracy": {"column": "acc", "greater_is_better": True},
        "test_loss": {"column": "loss", "greater_is_better": False},
    },
    "features": {
        "sharpness": {"columns": ["trace"], "kind": "curvature"},
        "noise": ["noise"],
        "param_count": {"columns": ["n_params"], "kind": "baseline"},  # as the trained zoos' baseline
    },
}
HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None


def table_frame(n_configs: int = 16, seeds: int = 2, rng_seed: int = 0) -> pd.DataFrame:
    """``n_configs`` configurations x ``seeds`` models: accuracy follows ``trace`` closely (and
    nothing else), ``noise`` is independent of everything."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for c in range(n_configs):
        for s in range(seeds):
            trace = rng.normal()
            rows.append(
                {
                    "model": f"m{c}_{s}",
                    "config": f"c{c}",
                    "seed": s,
                    "width": [16, 32, 64, 128][c % 4],
                    "lr": [0.01, 0.001][(c // 4) % 2],
                    "n_params": 1000 * [16, 32, 64, 128][c % 4],
                    "acc": 0.7 - 0.1 * trace + 0.005 * rng.normal(),
                    "loss": 1.0 + 0.2 * trace + 0.01 * rng.normal(),
                    "trace": trace,
                    "noise": rng.normal(),
                }
            )
    return pd.DataFrame(rows)


def write_table(folder: Path, frame: pd.DataFrame | None = None, fmt: str = "csv", **spec: object) -> Path:
    """``folder/table.yaml`` (:data:`SPEC` with ``spec`` replacing keys; None drops one) beside the data file."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = table_frame() if frame is None else frame
    data = {**SPEC, "file": f"models.{fmt}", **spec}
    data = {k: v for k, v in data.items() if v is not None}
    if fmt == "csv":
        frame.to_csv(folder / "models.csv", index=False)
    elif HAS_PYARROW:
        frame.to_parquet(folder / "models.parquet", index=False)
    else:  # what matters here is the missing pyarrow, not the content
        (folder / "models.parquet").write_bytes(b"PAR1")
    path = folder / "table.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def table_cfg(tmp_path: Path, path: Path, *overrides: str) -> dict:
    return compose_plain(["zoo=table", f"zoo.path={path}", "name=my_table", *FAST, *overrides], tmp_path)


def stored(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "home").rglob("*.npz"))


def best(frame: pd.DataFrame, feature_set: str, target: str = "test_accuracy") -> pd.Series:
    rows = frame[(frame["feature_set"] == feature_set) & (frame["target"] == target)]
    assert len(rows) == 1, (feature_set, target, len(rows))
    return rows.iloc[0]


# ----------------------------------------------------------------------------- scoring


def test_a_table_is_scored_like_a_zoo_the_informative_feature_wins(tmp_path):
    path = write_table(tmp_path / "t")
    result = pipeline.run(table_cfg(tmp_path, path))
    frame = result.scores_frame()
    assert len(result.models) == 32 and result.landscapes == [] and result.curvatures == []
    assert {"constant", "hyperparameters", "sharpness", "noise", "param_count"} <= set(frame["feature_set"])
    assert set(frame["target"]) >= {"test_accuracy", "test_loss"}  # every declared target by default
    sharp, noise = best(frame, "sharpness"), best(frame, "noise")
    assert sharp["kind"] == "curvature" and noise["kind"] == "table"
    assert sharp["r2_value"] > 0.9 and sharp["spearman_value"] > 0.8
    assert noise["r2_value"] < 0.2 and abs(noise["spearman_value"]) < 0.5
    assert best(frame, "hyperparameters")["kind"] == "reference"
    assert best(frame, "sharpness", "test_loss")["spearman_value"] > 0.8  # lower is better: still a rank score
    assert set(result.features.columns) == {
        "hyperparameters__lr",
        "hyperparameters__width",
        "sharpness__trace",
        "noise__noise",
        "param_count__n_params",
    }
    assert pipeline.run(table_cfg(tmp_path, path)).store_counts["scores"][1] == 0  # a rerun loads every score


def test_the_dry_run_counts_what_the_run_computes(tmp_path):
    cfg = table_cfg(tmp_path, write_table(tmp_path / "t"), "evaluation.targets=[test_accuracy]")
    planned = {stage: (needed, stored) for stage, needed, stored in pipeline.plan(cfg)}
    assert list(planned) == ["table", "features", "scores", "univariate"]  # no training, landscapes, curvature
    assert planned["table"] == (32, 32) and planned["features"] == (32, 0)
    assert planned["scores"][0] >= 1 + 4  # constant, hyperparameters, sharpness, noise, param_count (and gains')
    result = pipeline.run(cfg)
    assert result.store_counts["features"] == (0, 32)
    assert result.store_counts["scores"] == (0, planned["scores"][0])


@pytest.mark.slow  # a full pipeline run in a subprocess or several; the slow suite holds it
def test_the_cli_writes_the_leaderboard_and_the_dry_run(tmp_path):
    path = write_table(tmp_path / "t")
    args = ["zoo=table", f"zoo.path={path}", "name=my_table", *FAST, "evaluation.targets=[test_accuracy]"]
    common = [f"paths.home={tmp_path / 'home'}", f"report.dir={tmp_path / 'boards'}"]
    dry = subprocess.run([str(EXE), *args, *common, "dry_run=true"], capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stderr
    assert "table" in dry.stdout and "scores" in dry.stdout and "landscape" not in dry.stdout
    assert not stored(tmp_path)
    r = subprocess.run([str(EXE), *args, *common], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    board = pd.read_csv(tmp_path / "boards" / "my_table.csv")
    assert set(board["zoo"]) == {"table"} and board["n_models"].max() == 32
    assert {"sharpness", "noise", "hyperparameters", "constant"} <= set(board["feature_set"])
    assert (tmp_path / "boards" / "my_table.md").is_file() and (tmp_path / "boards" / "my_table.zoo.md").is_file()


@pytest.mark.skipif(not HAS_PYARROW, reason="pyarrow is not installed")
def test_a_parquet_table_reads_like_its_csv(tmp_path):
    frame = table_frame()
    csv = load_table(write_table(tmp_path / "c", frame), "z")
    parquet = load_table(write_table(tmp_path / "p", frame, fmt="parquet"), "z")
    assert [m.model_id for m in csv.models] == [m.model_id for m in parquet.models]
    assert [m.hparams for m in csv.models] == [m.hparams for m in parquet.models]
    pd.testing.assert_frame_equal(csv.features, parquet.features)


@pytest.mark.skipif(HAS_PYARROW, reason="pyarrow is installed")
def test_parquet_without_pyarrow_says_to_install_it(tmp_path):
    path = write_table(tmp_path / "t", fmt="parquet")
    with pytest.raises(ConfigError, match=r"Parquet, which needs pyarrow.*pip install pyarrow\) or save it as CSV"):
        pipeline.plan(table_cfg(tmp_path, path))


# ----------------------------------------------------------------------------- refused before work


def _refused(tmp_path: Path, path: Path, *overrides: str) -> str:
    """The message of the ``ConfigError`` the run raises; nothing reached the store."""
    with pytest.raises(ConfigError) as caught:
        pipeline.run(table_cfg(tmp_path, path, *overrides))
    assert not stored(tmp_path)
    return str(caught.value)


def test_a_missing_column_is_named_with_the_key_that_names_it(tmp_path):
    path = write_table(tmp_path / "t", table_frame().drop(columns=["trace"]))
    message = _refused(tmp_path, path)
    assert "has no column 'trace' (named by features.sharpness)" in message and "'noise'" in message


@pytest.mark.parametrize(("second", "shown"), [("m0_0", "'m0_0' and 'm0_0'"), ("m0_0 ", "'m0_0' and 'm0_0 '")])
def test_duplicate_ids_are_refused_after_stripping_whitespace(tmp_path, second, shown):
    frame = table_frame()
    frame.loc[5, "model"] = second
    message = _refused(tmp_path, write_table(tmp_path / "t", frame))
    assert f"duplicate ids: rows 1 and 6 have id {shown}" in message
    if second != "m0_0":
        assert "once stripped of surrounding whitespace" in message


def test_a_non_numeric_feature_names_the_column_and_the_row(tmp_path):
    frame = table_frame()
    frame["trace"] = frame["trace"].astype(object)
    frame.loc[3, "trace"] = "n/a?"
    message = _refused(tmp_path, write_table(tmp_path / "t", frame))
    assert "column 'trace' (features.sharpness) holds 'n/a?' in row 4 (model 'm1_1'), not a finite number" in message


def test_a_non_numeric_target_and_an_infinite_feature_are_both_named(tmp_path):
    frame = table_frame()
    frame["acc"] = frame["acc"].astype(object)
    frame.loc[0, "acc"] = "high"
    frame.loc[2, "noise"] = np.inf
    message = _refused(tmp_path, write_table(tmp_path / "t", frame))
    assert "column 'acc' (targets.test_accuracy) holds 'high' in row 1" in message
    assert "column 'noise' (features.noise) holds 'inf' in row 3" in message


def test_too_few_groups_for_the_folds(tmp_path):
    path = write_table(tmp_path / "t", table_frame(n_configs=3))
    message = _refused(tmp_path, path, "protocol.n_splits=4")
    assert "protocol.n_splits=4 exceeds the 3 hyperparameter configuration(s) (groups)" in message
    assert "Lower protocol.n_splits to 3" in message


def test_missing_files(tmp_path):
    message = _refused(tmp_path, tmp_path / "nowhere.yaml")
    assert "zoo.path=" in message and "nowhere.yaml" in message and "no such file" in message
    path = write_table(tmp_path / "t")
    (tmp_path / "t" / "models.csv").unlink()
    assert "file='models.csv' not found" in _refused(tmp_path, path)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"featurs": {"a": ["trace"]}}, "unknown key 'featurs' (did you mean 'features'?)"),
        ({"targets": {"test_accuracy": {"column": "acc"}}}, "targets.test_accuracy.greater_is_better=None"),
        ({"targets": {"test_accuracy": {"column": "acc", "greater_is_better": True, "sign": 1}}}, "unknown key 'sign'"),
        ({"features": {"sharpness": {"cols": ["trace"]}}}, "features.sharpness: unknown key 'cols'"),
        ({"features": {"constant": ["trace"]}}, "feature set name 'constant' is reserved"),
        ({"features": {"leak": ["acc"]}}, "targets.test_accuracy reads column 'acc', which features.leak also reads"),
        ({"group": None}, "group is missing"),
    ],
)
def test_bad_yaml_is_refused_naming_the_key(tmp_path, spec, expected):
    assert expected in _refused(tmp_path, write_table(tmp_path / "t", **spec))


def test_the_cli_exits_with_2_and_the_message(tmp_path):
    path = write_table(tmp_path / "t", table_frame().drop(columns=["noise"]))
    r = subprocess.run(
        [str(EXE), "zoo=table", f"zoo.path={path}", f"paths.home={tmp_path / 'home'}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 2 and "has no column 'noise' (named by features.noise)" in r.stderr
    assert not stored(tmp_path)


def test_targets_must_be_declared_by_the_table(tmp_path):
    message = _refused(tmp_path, write_table(tmp_path / "t"), "zoo.targets=[generalization_gap]")
    assert "evaluation target 'generalization_gap' is not measured by zoo 'table'" in message
    assert "valid targets: test_accuracy, test_loss" in message


# ----------------------------------------------------------------------------- the embedded Model Diagnosis table

MD = "pkg://benchmark/data/model_diagnosis/table.yaml"


def test_the_model_diagnosis_table_loads():
    spec = read_spec(MD)
    readme = (spec.path.parent / "README.md").read_text()
    assert hashlib.sha256(spec.file.read_bytes()).hexdigest() in readme  # the file as taken, unchanged
    assert (spec.path.parent / "LICENSE").read_text().startswith("MIT License")
    t = load_table(MD, "model_diagnosis")
    assert len(t.models) == 1690 and len({m.group for m in t.models}) == 1690
    assert {tuple(sorted(m.hparams)) for m in t.models} == {("batch_size", "train_samples", "width")}
    assert len({m.hparams["width"] for m in t.models}) == 13 and len({m.hparams["batch_size"] for m in t.models}) == 13
    assert len({m.hparams["train_samples"] for m in t.models}) == 10
    assert t.sets == {
        "hessian": "curvature",
        "cka": "similarity",
        "mode_connectivity": "geometry",
        "loss_landscape": "combination",
        "param_count": "baseline",
        "train_fit": "baseline",
    }
    assert t.features.shape == (1690, 13) and np.isfinite(t.features.to_numpy()).all()
    acc = np.array([m.metrics["test_accuracy"] for m in t.models])
    assert 0.3 < acc.min() < acc.max() < 0.9  # fractions, as in the other zoos
    assert t.greater_is_better == {
        "test_accuracy": True,
        "generalization_gap": False,
        "test_error": False,
        "test_loss": False,
    }


def test_the_model_diagnosis_experiment_plans_without_work(tmp_path):
    cfg = compose_plain(["experiment=model_diagnosis"], tmp_path)
    assert cfg["evaluation"]["targets"] == ["test_accuracy", "generalization_gap"]
    planned = {stage: needed for stage, needed, _ in pipeline.plan(cfg)}
    assert planned["table"] == 1690 and "landscape" not in planned and "run" not in planned
    assert planned["scores"] >= 2 * (1 + 7 * 2)  # targets x (constant + 7 sets x ridge, random forest), gains'
    assert not stored(tmp_path)


def test_table_errors_are_config_errors():
    assert issubclass(TableError, ConfigError)


def test_the_landscape_studies_refuse_a_table(capsys):
    from benchmark.studies import reproduction, stability

    assert "model_diagnosis" not in reproduction.ZOOS
    with pytest.raises(SystemExit) as caught:
        stability.main(["--experiment", "model_diagnosis"])
    assert caught.value.code == 2
    assert "scores a feature table: it has no landscapes to resample" in capsys.readouterr().err
