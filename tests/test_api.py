"""The Python API (benchmark/api.py): docs/python_api.md executed as written, the command line's CSV
from a Python call, its refusals before any work, descriptors passed in, sweeps."""

from __future__ import annotations

import logging
import math
import re
import runpy
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hydra.core.global_hydra import GlobalHydra

import benchmark
from benchmark import cli, pipeline
from benchmark.cli import conf_dir, malformed_overrides, unknown_group_options
from benchmark.descriptors import DESCRIPTORS, Descriptor, DescriptorInputs
from benchmark.descriptors.base import DescriptorError, UndefinedFeatureError
from benchmark.errors import ConfigError
from benchmark.records import Landscape

from .conftest import compose_plain
from .test_docs import _blocks

DOC = Path(__file__).resolve().parents[1] / "docs" / "python_api.md"
QUICK = ["experiment=tiny", "regressor=[ridge]", "evaluation.targets=[test_accuracy]"]
"""The overrides of the page's script: every test here shares its zoo, landscapes and scores."""


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """One store for the module: the zoo is trained once."""
    return tmp_path_factory.mktemp("api_store") / "home"


@pytest.fixture(scope="module")
def example(home, tmp_path_factory) -> tuple[Path, dict]:
    """The page's script, run as written in an empty folder with the module's store: the folder
    and the script's globals."""
    (python_src,) = _blocks(DOC.read_text(), "python")
    assert f"overrides = {QUICK!r}".replace("'", '"') in python_src
    folder = tmp_path_factory.mktemp("example")
    script = folder / "score_low_share.py"
    script.write_text(python_src)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.setenv("LANDSCAPE_BENCH_HOME", str(home))
        namespace = runpy.run_path(str(script), run_name="__main__")
    return folder, namespace


def test_the_page_scores_its_descriptor_writes_the_leaderboard_and_leaves_the_registry_as_it_was(example):
    folder, ns = example
    result = ns["result"]
    scores = result.scores
    assert isinstance(scores, pd.DataFrame)
    assert {"low_share", "merge_tree", "hessian", "weight_norm", "constant"} <= set(scores["feature_set"])
    assert set(scores.loc[scores["feature_set"] == "low_share", "kind"]) == {"geometry"}
    assert math.isfinite(scores.loc[scores["feature_set"] == "low_share", "r2_value"].iloc[0])
    assert set(scores["target"]) == {"test_accuracy"}
    assert set(scores["regressor"]) <= {"mean", "ridge", "knn_bottleneck", "seed_mean"}
    fraction = result.features["low_share__fraction"]
    assert len(fraction) == 8 and ((fraction > 0) & (fraction <= 1)).all()
    assert result.config["descriptors"]["low_share"] == {"tolerance": 0.1}
    assert list(result.models["model_id"]) == list(result.features.index)
    # the files, in the folder named, and the CSV is the returned table
    board = result.leaderboard
    assert board.csv == Path("boards") / "tiny.csv" and (folder / board.csv).is_file()
    assert all((folder / p).is_file() for p in (board.markdown, board.univariate_csv, board.pairwise, board.models))
    written = pd.read_csv(folder / board.csv)
    pd.testing.assert_frame_equal(written, scores.reset_index(drop=True), check_dtype=False)
    page = (folder / board.markdown).read_text()
    assert "benchmark.evaluate([" in page and "`low_share` (__main__.low_share, version 1)" in page
    assert "low_share" not in DESCRIPTORS  # registered for the call only
    assert not (folder / ".landscape-bench").exists()  # the store is $LANDSCAPE_BENCH_HOME


def test_the_page_sweep_gives_one_block_of_rows_per_value(example):
    _, ns = example
    result, swept = ns["result"], ns["swept"]
    assert swept.jobs == [(*QUICK, "landscape.span=0.5"), (*QUICK, "landscape.span=1.0")]
    assert list(swept.scores.columns) == ["settings", *result.scores.columns]
    blocks = dict(tuple(swept.scores.groupby("settings")))
    assert set(blocks) == {"landscape.span=0.5", "landscape.span=1.0"}
    for settings, run in zip(["landscape.span=0.5", "landscape.span=1.0"], swept.runs, strict=True):
        block = blocks[settings].drop(columns="settings").reset_index(drop=True)
        assert sorted(block["feature_set"]) == sorted(result.scores["feature_set"])
        pd.testing.assert_frame_equal(block, run.scores.reset_index(drop=True), check_dtype=False)
        assert run.config["descriptors"]["low_share"] == {"tolerance": 0.05}

    def r2(scores: pd.DataFrame, feature_set: str) -> float:
        return float(scores.loc[scores["feature_set"] == feature_set, "r2_value"].iloc[0])

    # span=1.0 is tiny's own grid: the evaluate() run's numbers; span=0.5 is another grid
    assert r2(blocks["landscape.span=1.0"], "merge_tree") == r2(result.scores, "merge_tree")
    assert r2(blocks["landscape.span=0.5"], "merge_tree") != r2(result.scores, "merge_tree")
    # what the page says: the sweep trains no model, and its span=1.0 job samples no landscape
    assert [run.run.store_counts["run"][1] for run in swept.runs] == [0, 0]
    assert swept.runs[1].run.store_counts["landscape"][1] == 0
    assert swept.folder is None and swept.leaderboard is None
    assert "low_share" not in DESCRIPTORS


def _command_line(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``landscape-bench <args>`` in this process, as its console script runs it (``benchmark.cli:main``),
    then the logging configuration, Hydra's global state and the descriptor registry (a plugin's
    registrations last for the process) as they were."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    hydra = GlobalHydra.instance().hydra
    registered = set(DESCRIPTORS.names())
    monkeypatch.setattr(sys, "argv", ["landscape-bench", *args])
    try:
        cli.main()
    finally:
        for name in set(DESCRIPTORS.names()) - registered:
            DESCRIPTORS.remove(name)
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
        GlobalHydra.instance().hydra = hydra


def test_the_command_line_with_the_page_descriptor_as_a_plugin_writes_the_same_csv(
    example, home, tmp_path, monkeypatch
):
    folder, _ = example
    (python_src,) = _blocks(DOC.read_text(), "python")
    definition = python_src.split("\noverrides = ", 1)[0]  # the imports and the decorated function
    plugin = tmp_path / "low_share.py"
    plugin.write_text(definition + '\nbenchmark.descriptors.register_descriptor("low_share")(low_share)\n')
    args = [*QUICK, f"plugins=[{plugin}]", "+descriptors.low_share.tolerance=0.1"]
    _command_line([*args, f"paths.home={home}", f"report.dir={tmp_path / 'cli'}"], monkeypatch)
    for name in ("tiny.csv", "tiny.univariate.csv", "tiny.pairwise.csv", "tiny.models.csv"):
        assert (folder / "boards" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    (log,) = (home / "outputs" / "tiny").glob("*/landscape-bench.log")
    computed = re.findall(r"(\w+): \d+ loaded from store, (\d+) computed", log.read_text())  # the same keys:
    assert len(computed) == len(pipeline.STAGES) and all(n == "0" for _, n in computed), computed  # all loaded


@pytest.mark.parametrize(
    "override",
    ["experiment=tinyy", "descriptors=[merge_tree,hesian]", "landscape.steps=[21"],
)
def test_a_bad_override_is_refused_with_the_command_lines_message_before_any_work(override, tmp_path):
    with pytest.raises(ConfigError) as e:
        benchmark.evaluate([override], home=tmp_path / "home")
    expected = malformed_overrides([override]) + unknown_group_options([override], conf_dir())
    assert expected and all(m in str(e.value) for m in expected)
    assert not (tmp_path / "home").exists()


def test_an_invalid_setting_is_refused_as_the_pipeline_refuses_it_before_any_work(tmp_path):
    overrides = ["experiment=tiny", "landscape.steps=8"]
    with pytest.raises(ConfigError) as refused:  # what the command line logs before exiting with 2
        pipeline.validate(compose_plain(overrides, tmp_path))
    with pytest.raises(ConfigError) as api:
        benchmark.evaluate(overrides, home=tmp_path / "home")
    assert str(api.value) == str(refused.value) and "landscape.steps=8 must be odd" in str(api.value)
    with pytest.raises(ConfigError, match=r"is a sweep; run it with benchmark\.sweep"):
        benchmark.evaluate(["study=landscape_sensitivity"], home=tmp_path / "home")
    with pytest.raises(ConfigError, match=r"sweep axis 'landscape\.span': give a list"):
        benchmark.sweep({"landscape.span": "0.5,1.0"}, home=tmp_path / "home")
    with pytest.raises(ConfigError, match=r"landscape\.steps=8 must be odd"):  # every job, before the first runs
        benchmark.sweep({"landscape.steps": [9, 8]}, ["experiment=tiny"], home=tmp_path / "home")
    assert not (tmp_path / "home").exists()


class CentreLoss(Descriptor):
    """``loss``: the landscape's centre value times ``scale`` (a test descriptor)."""

    name = "centre_loss"
    kind = "geometry"
    requires = ("landscape",)

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def features(self, inputs: DescriptorInputs) -> dict[str, float]:
        return {"loss": self.scale * float(inputs.landscape.center_value)}


def test_a_descriptor_class_defined_here_reaches_the_table_with_its_parameters(example, home):
    result = benchmark.evaluate(QUICK, descriptors=[CentreLoss(scale=2.0)], home=home)
    assert result.config["descriptors"]["centre_loss"] == {"scale": 2.0}
    assert set(result.scores.loc[result.scores["feature_set"] == "centre_loss", "kind"]) == {"geometry"}
    centre = np.array([ls.center_value for ls in result.run.landscapes])
    np.testing.assert_allclose(result.features["centre_loss__loss"].to_numpy(), 2.0 * centre)
    assert "centre_loss" not in DESCRIPTORS
    with pytest.raises(DescriptorError, match="descriptor 'centre_loss' is passed twice"):
        benchmark.evaluate(QUICK, descriptors=[CentreLoss, CentreLoss(scale=3.0)], home=home)


def _landscape(values: np.ndarray) -> Landscape:
    axes = tuple(np.linspace(-1, 1, n) for n in values.shape)
    return Landscape("m", "loss", axes, values, (1.0,) * values.ndim, {})


def test_as_descriptor_makes_a_descriptor_of_a_function_and_refuses_what_breaks_the_contract(tmp_path):
    @benchmark.as_descriptor(kind="topology", version="3", feature_names=["low"])
    def lowest(landscape, shift: float = 0.0) -> dict[str, float]:
        return {"low": float(np.nanmin(landscape.values)) + shift}

    assert issubclass(lowest, Descriptor) and (lowest.name, lowest.kind, lowest.version) == ("lowest", "topology", "3")
    assert lowest.requires == ("landscape",) and lowest(shift=1.5).get_params() == {"shift": 1.5}
    grid = _landscape(np.array([[3.0, 2.0, 3.0], [2.0, 1.0, 2.0], [3.0, 2.0, 0.5]]))
    inputs = DescriptorInputs(model=None, landscape=grid)  # type: ignore[arg-type]
    assert lowest(shift=1.0).features(inputs) == {"low": 1.5}
    assert "lowest" not in DESCRIPTORS  # made, not registered

    @benchmark.as_descriptor(feature_names=["low"])
    def undefined(landscape) -> dict[str, float]:
        raise UndefinedFeatureError("a flat grid")

    model = SimpleNamespace(model_id="m")  # compute() reads the model's id only
    row = undefined().compute(DescriptorInputs(model=model, landscape=grid))  # type: ignore[arg-type]
    assert math.isnan(row.values["low"]) and row.reasons == {"low": "a flat grid"}

    def no_default(landscape, threshold):
        return {}

    def variadic(landscape, **kw):
        return {}

    def no_input(x=1):
        return {}

    def flat(landscape):
        return {}

    for fn, message in [
        (no_default, "parameter 'threshold' is neither an input"),
        (variadic, r"\*kw cannot be a descriptor parameter"),
        (no_input, "takes none of the inputs"),
        (lambda landscape: {}, "Give one with as_descriptor"),
    ]:
        with pytest.raises(DescriptorError, match=message):
            benchmark.as_descriptor(fn)
    with pytest.raises(DescriptorError, match="kind='shape' is unknown"):
        benchmark.as_descriptor(kind="shape")(flat)  # checked at once, named
    with pytest.raises(DescriptorError, match="has no name"):

        class Nameless(CentreLoss):
            name = ""

        benchmark.evaluate(QUICK, descriptors=[Nameless], home=tmp_path / "home")
    assert not (tmp_path / "home").exists()


def test_sweep_writes_the_leaderboard_a_multirun_of_the_command_line_writes(example, home, tmp_path, monkeypatch):
    swept = benchmark.sweep({"landscape.span": [0.5, 1.0]}, QUICK, home=home, write_leaderboard=tmp_path / "api")
    args = ["-m", *QUICK, f"paths.home={home}", f"report.dir={tmp_path / 'cli'}", "landscape.span=0.5,1.0"]
    _command_line(args, monkeypatch)
    for name in ("tiny.csv", "tiny.univariate.csv", "tiny.pairwise.csv"):
        assert (tmp_path / "api" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    assert swept.leaderboard.csv == tmp_path / "api" / "tiny.csv"
    assert swept.folder.parent == home / "multirun" / "tiny" and (swept.folder / "multirun.yaml").is_file()
    pd.testing.assert_frame_equal(pd.read_csv(swept.leaderboard.csv), swept.scores, check_dtype=False)


def test_a_study_adds_its_axes_and_an_axis_given_replaces_the_studys(example, home):
    study = ["study=landscape_sensitivity", *QUICK, "landscape.span=1.0", "landscape.normalization=filter"]
    swept = benchmark.sweep({"landscape.steps": [9]}, study, home=home)  # its three axes, one value each
    grid = ("landscape.steps=9", "landscape.span=1.0", "landscape.normalization=filter")
    assert swept.jobs == [(*grid, *study[:4], f"paths.home={home}")]  # the study's axes first, as Hydra orders
    (run,) = swept.runs
    assert run.config["name"] == "landscape_sensitivity" and set(run.config["descriptors"]) == {
        "merge_tree",
        "param_count",
        "weight_norm",
    }
    assert "settings" not in swept.scores  # one job: nothing distinguishes it
    pd.testing.assert_frame_equal(swept.scores, run.scores, check_dtype=False)
