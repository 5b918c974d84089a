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
    argv = shlex.split(command.replace("\\\n", " "))
    assert argv[0] == "landscape-bench"
    exe = Path(sys.executable).parent / "landscape-bench"
    argv = [a.replace("file://my_conf", f"file://{tmp_path / 'my_conf'}") for a in argv[1:]]
    r = subprocess.run(
        [str(exe), *argv, f"paths.home={tmp_path / 'home'}", f"report.dir={tmp_path / 'boards'}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    board = pd.read_csv(tmp_path / "boards" / "tiny.csv")
    assert {"my_flatness", "merge_tree", "hessian", "weight_norm", "constant"} <= set(board["feature_set"])
    assert set(board.loc[board["feature_set"] == "my_flatness", "kind"]) == {"geometry"}
