"""Every user-facing command is a console script that works from any folder, even one holding a
``benchmark.py`` (timm's repository root has one: ``python -m benchmark...`` would import it)."""

from __future__ import annotations

import importlib
import inspect
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SCRIPTS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
HYDRA_APPS = {"landscape-bench"}  # Hydra's --help, not argparse's
DOCS = [
    ROOT / "README.md",
    ROOT / "Makefile",
    ROOT / "leaderboards" / "README.md",
    *sorted((ROOT / "docs").glob("*.md")),
]


@pytest.fixture(scope="module")
def shadowed(tmp_path_factory) -> Path:
    """A folder whose ``benchmark.py`` refuses to be imported."""
    folder = tmp_path_factory.mktemp("shadowed")
    (folder / "benchmark.py").write_text('raise SystemExit("wrong benchmark imported")\n')
    return folder


# pip writes every console script as the same wrapper, so one Hydra app and one argparse script
# run as subprocesses stand for all of them; every script's --help is also checked in process below
FROM_A_FOLDER = ("landscape-bench", "landscape-bench-suite")


@pytest.mark.parametrize("script", FROM_A_FOLDER)
def test_help_of_a_console_script_from_a_folder_with_a_benchmark_py(script, shadowed):
    r = subprocess.run([str(BIN / script), "--help"], cwd=shadowed, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "wrong benchmark imported" not in r.stdout + r.stderr
    if script in HYDRA_APPS:  # what it does, examples and the docs before Hydra's list of groups
        assert r.stdout.startswith("landscape-bench: does the shape of"), r.stdout[:200]
        for shown in ("experiment=tiny", "dry_run=true", "-m study=", "plugins=", "docs/", "experiment: default"):
            assert shown in r.stdout, shown
        assert f"{script} is powered by Hydra" in r.stdout
    else:  # the usage line shows the command a user types
        assert r.stdout.startswith(f"usage: {script} "), r.stdout[:200]


def test_the_command_line_answers_help_without_importing_the_pipeline():
    """``--help``, ``--cfg`` and refused overrides need Hydra only: torch, timm, torchvision, scikit-learn
    and gudhi load with the job (they take seconds)."""
    heavy = ("torch", "timm", "torchvision", "sklearn", "gudhi", "matplotlib")
    code = f"import sys, benchmark.cli; print([m for m in {heavy!r} if m in sys.modules])"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr


def _main(script: str):
    module, function = SCRIPTS[script].split(":")
    return function, getattr(importlib.import_module(module), function)


@pytest.mark.parametrize("script", sorted(set(SCRIPTS) - HYDRA_APPS))
def test_help_of_every_console_script_shows_the_command_a_user_types(script, capsys):
    _, main = _main(script)
    with pytest.raises(SystemExit) as exit:
        main(["--help"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: {script} ")


@pytest.mark.parametrize("script", sorted(set(SCRIPTS) - HYDRA_APPS))
def test_every_console_script_is_a_main_taking_argv(script):
    function, main = _main(script)
    assert function == "main" and inspect.signature(main).parameters["argv"].default is None


def test_a_real_run_from_a_folder_with_a_benchmark_py(shadowed, tmp_path):
    env = {**os.environ, "LANDSCAPE_BENCH_HOME": str(tmp_path / "home")}
    args = [str(BIN / "landscape-bench"), "experiment=tiny", "dry_run=true"]
    r = subprocess.run(args, cwd=shadowed, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "wrong benchmark imported" not in r.stdout + r.stderr
    assert "tiny" in r.stdout and not (tmp_path / "home" / "store").exists()  # a dry run computes nothing
    suite = subprocess.run([str(BIN / "landscape-bench-suite")], cwd=shadowed, capture_output=True, text=True)
    assert suite.returncode == 0 and suite.stdout.split()[0] == "digits_mlp", suite.stderr


@pytest.mark.parametrize("path", DOCS, ids=[str(p.relative_to(ROOT)) for p in DOCS])
def test_docs_name_console_scripts_not_python_m(path):
    lines = [f"{i}: {line}" for i, line in enumerate(path.read_text().splitlines(), 1) if "python -m benchmark" in line]
    assert not lines, f"{path.name} runs modules by path; use the console scripts of pyproject.toml:\n" + "\n".join(
        lines
    )
