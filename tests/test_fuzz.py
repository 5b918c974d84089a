"""Property-based tests (hypothesis) over manifests, grids and config values.

Whatever the input, the only exceptions that may escape are the documented ones
(docs/configuration.md, "Errors"): ``ManifestError`` for manifests, ``ValueError`` for grid axes,
``ConfigError`` for configs. Landscape descriptors never raise: they return finite numbers or NaN
with a reason.
"""

from __future__ import annotations

import copy
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from benchmark.descriptors import DESCRIPTORS, DescriptorInputs, build_descriptor
from benchmark.landscape import grid_axes
from benchmark.pipeline import ConfigError, validate
from benchmark.records import Landscape
from benchmark.zoo.manifest import LoadedModel, ManifestError, export_manifest, load_manifest

from .conftest import compose_plain

# FUZZ_EXAMPLES=2000 pytest tests/test_fuzz.py searches harder than the default run
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
TARGETS = ["test_accuracy"]

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.lists(st.integers(-3, 70), max_size=4),
    st.dictionaries(st.text(max_size=4), st.one_of(st.integers(), st.text(max_size=3), st.none()), max_size=3),
)


@pytest.fixture(scope="module")
def valid_manifest(tmp_path_factory, tiny_record) -> tuple[Path, dict]:
    manifest = export_manifest([tiny_record], tmp_path_factory.mktemp("fuzz_zoo"))
    return manifest, json.loads(manifest.read_text())["models"][0]


def _check_loaded(loaded: list[LoadedModel]) -> None:
    assert loaded and all(isinstance(m, LoadedModel) for m in loaded)
    assert len({m.record.model_id for m in loaded}) == len(loaded)


@FUZZ
@given(
    changes=st.dictionaries(
        st.sampled_from(
            [
                "model_id",
                "checkpoint",
                "architecture",
                "architecture_kwargs",
                "input_shape",
                "n_outputs",
                "dataset",
                "task",
                "group",
                "seed",
                "epoch",
                "hparams",
                "metrics",
                "extra",
            ]
        ),
        junk,
        max_size=4,
    ),
    kwargs=st.dictionaries(
        st.sampled_from(["width", "depth", "activation", "norm", "residual", "model_name", "kernel_size", "other"]),
        st.one_of(junk, st.integers(-2, 3), st.sampled_from(["relu", "tanh", "resnet10t", "nope"])),
        max_size=3,
    ),
    dropped=st.sets(st.sampled_from(["model_id", "checkpoint", "input_shape", "metrics", "seed"]), max_size=2),
    copies=st.integers(1, 2),
    skip_invalid=st.booleans(),
)
def test_json_manifest_rows_load_or_raise_manifest_error(
    valid_manifest, changes, kwargs, dropped, copies, skip_invalid
):
    manifest, row = valid_manifest
    bad = {k: v for k, v in {**row, **changes}.items() if k not in dropped}
    if kwargs and isinstance(bad.get("architecture_kwargs"), dict):
        bad["architecture_kwargs"] = {**bad["architecture_kwargs"], **kwargs}
    rows = [row, *[dict(bad, model_id=f"{bad.get('model_id')}-{i}") if i else bad for i in range(copies)]]
    path = manifest.with_name("fuzz.json")
    path.write_text(json.dumps({"models": rows}))
    try:
        loaded = load_manifest(path, "fuzz", TARGETS, skip_invalid=skip_invalid)
    except ManifestError as exc:
        assert str(exc)
    else:
        _check_loaded(loaded)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=10,
)


@FUZZ
@given(document=json_values)
def test_any_json_document_is_a_manifest_or_a_manifest_error(valid_manifest, document):
    path = valid_manifest[0].with_name("doc.json")
    path.write_text(json.dumps(document))
    with pytest.raises(ManifestError):
        load_manifest(path, "fuzz", TARGETS)


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list('abc,."[]{}:01\n\r hp.metric.model_id')), max_size=200))
def test_any_csv_text_is_a_manifest_or_a_manifest_error(valid_manifest, text):
    path = valid_manifest[0].with_name("doc.csv")
    path.write_text(text)
    with pytest.raises(ManifestError):  # no row can name an existing checkpoint
        load_manifest(path, "fuzz", TARGETS)


@settings(max_examples=200, deadline=None)
@given(
    ndim=st.one_of(st.integers(-2, 6)),
    steps=st.integers(-5, 41),
    span=st.floats(allow_nan=True, allow_infinity=True, width=64),
)
@example(ndim=1, steps=5, span=5e-324)  # a subnormal span: neighbouring nodes coincide
def test_grid_axes_are_exact_or_a_value_error(ndim, steps, span):
    try:
        axes = grid_axes(ndim, steps, span)
    except ValueError as exc:
        assert "landscape." in str(exc)
        return
    assert 1 <= ndim <= 4 and steps % 2 == 1 and steps >= 3 and math.isfinite(span) and span > 0
    assert len(axes) == ndim
    for axis in axes:
        assert len(axis) == steps and axis[steps // 2] == 0.0  # the trained weights are a node, exactly
        np.testing.assert_array_equal(axis, -axis[::-1])  # symmetric
        assert axis[0] == -span and axis[-1] == span and np.all(np.diff(axis) > 0)


LANDSCAPE_DESCRIPTORS = [n for n in DESCRIPTORS.names() if "landscape" in DESCRIPTORS.get(n).requires]
values_with_holes = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from([math.nan, math.inf, -math.inf, 0.0]),
)


@FUZZ
@given(
    shape=st.sampled_from([(3,), (9,), (3, 3), (5, 7), (3, 3, 3)]),
    data=st.data(),
)
def test_landscape_descriptors_return_numbers_or_nan_with_reasons(tiny_record, shape, data):
    values = data.draw(arrays(np.float64, shape, elements=values_with_holes))
    axes = tuple(np.linspace(-1.0, 1.0, n) for n in shape)
    ls = Landscape("m", "loss", axes, values, tuple(1.0 for _ in shape), {})
    for name in LANDSCAPE_DESCRIPTORS:
        row = build_descriptor(name).compute(DescriptorInputs(model=tiny_record, landscape=ls))
        for feature, value in row.values.items():
            assert math.isfinite(value) or feature in row.reasons, (name, feature, value)


@pytest.fixture(scope="module")
def tiny_cfg(tmp_path_factory) -> dict:
    return compose_plain(["experiment=tiny"], tmp_path_factory.mktemp("fuzz_cfg"))


NUMERIC_SETTINGS = [
    ("landscape", "ndim"),
    ("landscape", "steps"),
    ("landscape", "span"),
    ("landscape", "n_samples"),
    ("curvature", "top_k"),
    ("curvature", "lanczos_iters"),
    ("curvature", "trace_samples"),
    ("curvature", "n_samples"),
    ("protocol", "n_splits"),
    ("protocol", "n_repeats"),
    ("protocol", "ci_level"),
]


@FUZZ
@given(
    changes=st.lists(
        st.tuples(st.sampled_from(NUMERIC_SETTINGS), junk),
        min_size=1,
        max_size=3,
    )
)
def test_config_values_validate_or_raise_config_error(tiny_cfg, changes):
    cfg = copy.deepcopy(tiny_cfg)
    for (section, key), value in changes:
        cfg[section][key] = value
    try:
        validate(cfg)
    except ConfigError as exc:
        named = [f"{section}.{key}" for (section, key), _ in changes]
        assert any(n in str(exc) for n in named), str(exc)
