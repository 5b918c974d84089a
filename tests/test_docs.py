"""The worked example of docs/adding_a_descriptor.md, executed as written."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd

DOC = Path(__file__).resolve().parents[1] / "docs" / "adding_a_descriptor.md"


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_adding_a_descriptor_example_runs_and_reaches_the_leaderboard(tmp_path):
    text = DOC.read_text()
    (python_src,) = _blocks(text, "python")
    (yaml_src,) = _blocks(text, "yaml")
    (command,) = _blocks(text, "bash")
    (tmp_path / "my_descriptors").mkdir()
    (tmp_path / "my_descriptors" / "my_flatness.py").write_text(python_src)
    (tmp_path / "my_conf" / "descriptors").mkdir(parents=True)
    (tmp_path / "my_conf" / "descriptors" / "my_flatness.yaml").write_text(yaml_src)
    r = _run_doc_command(command, tmp_path)
    assert r.returncode == 0, r.stderr
    board = pd.read_csv(tmp_path / "boards" / "tiny.csv")
    assert {"my_flatness", "merge_tree", "hessian", "weight_norm", "constant"} <= set(board["feature_set"])
    assert set(board.loc[board["feature_set"] == "my_flatness", "kind"]) == {"geometry"}


def _run_doc_command(command: str, tmp_path: Path) -> subprocess.CompletedProcess:
    argv = shlex.split(command.replace("\\\n", " "))
    assert argv[0] == "landscape-bench"
    exe = Path(sys.executable).parent / "landscape-bench"
    argv = [a.replace("file://my_conf", f"file://{tmp_path / 'my_conf'}") for a in argv[1:]]
    return subprocess.run(
        [str(exe), *argv, f"paths.home={tmp_path / 'home'}", f"report.dir={tmp_path / 'boards'}", "threads=1"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_adding_a_regressor_example_runs(tmp_path):
    text = (DOC.parent / "adding_a_regressor.md").read_text()
    (yaml_src,) = _blocks(text, "yaml")
    (command,) = _blocks(text, "bash")
    (tmp_path / "my_conf" / "regressor").mkdir(parents=True)
    (tmp_path / "my_conf" / "regressor" / "my_lasso.yaml").write_text(yaml_src)
    r = _run_doc_command(command, tmp_path)
    assert r.returncode == 0, r.stderr
    board = pd.read_csv(tmp_path / "boards" / "tiny.csv")
    assert {"ridge", "my_lasso"} <= set(board["regressor"])


TABLE_SECTION = "## Scoring a precomputed feature table"


def test_adding_a_zoo_example_runs(tmp_path):
    text = (DOC.parent / "adding_a_zoo.md").read_text().split(TABLE_SECTION)[0]
    (python_src,) = _blocks(text, "python")
    (yaml_src,) = _blocks(text, "yaml")
    (command,) = _blocks(text, "bash")
    (tmp_path / "my_models").mkdir()
    (tmp_path / "my_models" / "wide_tanh.py").write_text(python_src)
    (tmp_path / "my_conf" / "zoo").mkdir(parents=True)
    (tmp_path / "my_conf" / "zoo" / "my_zoo.yaml").write_text(yaml_src)
    r = _run_doc_command(command, tmp_path)
    assert r.returncode == 0, r.stderr
    board = pd.read_csv(tmp_path / "boards" / "my_zoo.csv")
    assert set(board["zoo"]) == {"my_zoo"} and board["n_models"].max() == 8
    assert (tmp_path / "boards" / "my_zoo.zoo.md").is_file()


def test_scoring_a_feature_table_example_runs(tmp_path):
    text = (DOC.parent / "adding_a_zoo.md").read_text().split(TABLE_SECTION)[1]
    (python_src,) = _blocks(text, "python")
    (yaml_src,) = _blocks(text, "yaml")
    (command,) = _blocks(text, "bash")
    (tmp_path / "my_table").mkdir()
    (tmp_path / "make_table.py").write_text(python_src)
    made = subprocess.run([sys.executable, "make_table.py"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    (tmp_path / "my_table" / "table.yaml").write_text(yaml_src)
    r = _run_doc_command(command, tmp_path)
    assert r.returncode == 0, r.stderr
    board = pd.read_csv(tmp_path / "boards" / "my_table.csv")
    assert set(board["zoo"]) == {"table"} and board["n_models"].max() == 24
    assert {"hessian", "cka", "hyperparameters", "constant"} <= set(board["feature_set"])
    kinds = dict(zip(board["feature_set"], board["kind"], strict=True))
    assert (kinds["hessian"], kinds["cka"], kinds["hyperparameters"]) == ("curvature", "table", "reference")
    hessian = board[board["feature_set"] == "hessian"].iloc[0]
    assert hessian["spearman_value"] > 0.5  # the made-up accuracy follows the trace
