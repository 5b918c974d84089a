"""Contract tests, run on every registered descriptor automatically, plus hand-computed cases."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from benchmark.descriptors import DESCRIPTORS, DescriptorInputs, build_descriptor
from benchmark.records import Curvature, Landscape


def _landscape(values: np.ndarray, model_id: str) -> Landscape:
    axes = tuple(np.linspace(-1, 1, n) for n in values.shape)
    return Landscape(model_id, "loss", axes, values, (1.0,) * values.ndim, {})


def _grids() -> dict[str, np.ndarray]:
    x = np.linspace(-1, 1, 9)
    bowl = x[:, None] ** 2 + x[None, :] ** 2 + 0.1
    rng = np.random.default_rng(0)
    rough = bowl + 0.3 * rng.random(bowl.shape)
    masked = rough.copy()
    masked[2, 3] = np.nan
    masked[5, 5] = np.inf
    return {"single_basin": bowl, "rough": rough, "flat": np.full((9, 9), 0.5), "masked": masked}


def _inputs(record, grid: np.ndarray) -> DescriptorInputs:
    curvature = Curvature(record.model_id, np.array([4.0]), 12.0, 0.5, 100, 50, {})
    return DescriptorInputs(model=record, landscape=_landscape(grid, record.model_id), curvature=curvature)


@pytest.mark.parametrize("name", DESCRIPTORS.names())
def test_descriptor_contract(name, tiny_record):
    desc = build_descriptor(name)
    assert desc.get_params() == build_descriptor(name, desc.get_params()).get_params()  # round trip
    names = None
    for kind, grid in _grids().items():
        inputs = _inputs(tiny_record, grid)
        before = copy.deepcopy(inputs)
        row = desc.compute(inputs)
        again = desc.compute(inputs)
        assert row.values.keys() == again.values.keys()
        assert all(
            (math.isnan(a) and math.isnan(b)) or a == b
            for a, b in zip(row.values.values(), again.values.values(), strict=True)
        ), f"{name} is not deterministic on the {kind} grid"
        assert row.values, f"{name} returned no features on the {kind} grid"
        for feature, value in row.values.items():
            assert isinstance(value, float)
            assert math.isfinite(value) or feature in row.reasons, f"{name}.{feature} is {value} without a reason"
        # a descriptor of the weights alone may be undefined for a model (e.g. the path norm of a tanh
        # network): then on every grid, with its reason; anything reading the grid must be finite on it
        model_level = set(desc.requires) == {"model"} and bool(row.reasons)
        if kind != "masked" and not model_level:
            assert all(math.isfinite(v) for v in row.values.values()), f"{name} not finite on the {kind} grid"
        names = names or set(row.values)
        assert set(row.values) == names, f"{name} changed its feature names on the {kind} grid"
        # inputs untouched
        np.testing.assert_array_equal(inputs.landscape.values, before.landscape.values)
        assert all(np.array_equal(inputs.model.state[k], before.model.state[k]) for k in before.model.state)


def test_merge_tree_hand_computed(tiny_record):
    grid = np.array([[0.0, 3.0, 1.0], [5.0, 4.0, 2.0], [6.0, 7.0, 8.0]])
    row = build_descriptor("merge_tree").compute(_inputs(tiny_record, grid))
    assert row.values == {
        "n_minima": 2.0,
        "n_saddles": 1.0,
        "persistence_total": 2.0,
        "persistence_mean": 2.0,
        "persistence_max": 2.0,
    }
    logged = build_descriptor("merge_tree", {"log_values": True}).compute(_inputs(tiny_record, grid + 1.0))
    assert logged.values["persistence_max"] == pytest.approx(math.log(4.0) - math.log(2.0))
    empty = build_descriptor("merge_tree").compute(_inputs(tiny_record, np.full((3, 3), np.nan)))
    assert all(math.isnan(v) for v in empty.values.values()) and "non-finite" in next(iter(empty.reasons.values()))


def test_baselines_hand_computed(tiny_record):
    inputs = _inputs(tiny_record, _grids()["flat"])
    n = sum(a.size for a in tiny_record.state.values())
    assert build_descriptor("param_count").compute(inputs).values == {"n_params": float(n)}
    weights = [a for a in tiny_record.state.values() if a.ndim >= 2]
    l2 = math.sqrt(sum(float((a.astype(np.float64) ** 2).sum()) for a in weights))
    assert build_descriptor("weight_norm").compute(inputs).values["l2"] == pytest.approx(l2, rel=1e-12)
    assert build_descriptor("hessian").compute(inputs).values == {"lambda_max": 4.0, "trace": 12.0}
    hp = build_descriptor("hyperparameters").compute(inputs).values
    assert hp["width"] == 6.0 and hp["label_noise"] == 0.1 and "seed" not in hp


def test_bad_descriptor_parameters_are_named():
    with pytest.raises(
        TypeError, match=r"descriptor 'merge_tree': bad parameters \['nope'\].*valid parameters: \['log_values'\]"
    ):
        build_descriptor("merge_tree", {"nope": 1})
