"""Geometry, curvature-spectrum and weight descriptors against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmark.descriptors import DescriptorInputs, build_descriptor
from benchmark.geometry import esd_alpha, flat_fraction, layer_matrices, quadratic_fit, sharpness
from benchmark.records import Curvature, Landscape, ModelRecord


def _landscape(values: np.ndarray, axes) -> Landscape:
    return Landscape("m", "loss", tuple(axes), values, (1.0,) * values.ndim, {})


def _axes(n: int, span: float = 1.0, k: int = 2):
    return [np.linspace(-span, span, n)] * k


def test_quadratic_fit_recovers_a_known_hessian_exactly():
    # L(x, y) = 1 + 0.5 x - y + (3 x^2 + 2 x y + 1 y^2) / 2  ->  Q = [[3, 1], [1, 1]]
    axes = _axes(9)
    X, Y = np.meshgrid(*axes, indexing="ij")
    values = 1 + 0.5 * X - Y + (3 * X**2 + 2 * X * Y + Y**2) / 2
    q = quadratic_fit(values, axes, radius=0.6)
    np.testing.assert_allclose(q, np.linalg.eigvalsh(np.array([[3.0, 1.0], [1.0, 1.0]])), atol=1e-10)
    values[0, 0] = np.nan  # outside the radius: no effect; masked inside: left out, still exact
    values[4, 5] = np.inf
    np.testing.assert_allclose(quadratic_fit(values, axes, 0.6), np.linalg.eigvalsh([[3.0, 1.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match="cannot fit 6 coefficients"):
        quadratic_fit(values, axes, radius=0.1)  # the centre alone


def test_sharpness_and_flat_fraction_by_hand():
    # 1-D grid at -1, -0.5, 0, 0.5, 1 with values 5, 2, 1, 3, 9
    values = np.array([5.0, 2.0, 1.0, 3.0, 9.0])
    axes = [np.linspace(-1, 1, 5)]
    assert sharpness(values, axes, 0.5) == (2.0, 1.0)  # max(2, 1, 3) - 1 = 2; 2 / (1 + 1)
    assert sharpness(values, axes, 1.0) == (8.0, 4.0)
    # |L - 1| <= 0.5 * (1 + 1) = 1 holds for 2, 1 (and not 3, 5, 9): 2 of 5 nodes
    assert flat_fraction(values, 0.5) == pytest.approx(0.4)
    values[4] = np.nan  # valid nodes only: 2 of 4
    assert flat_fraction(values, 0.5) == pytest.approx(0.5)
    for centre in (-1.0, -3.0):  # 1 + L0 <= 0: the relative rise is undefined, the absolute one is not
        rise, rel = sharpness(np.array([5.0, 2.0, centre, 3.0, 9.0]), axes, 0.5)
        assert rise == 3.0 - centre and np.isnan(rel)


def test_geometry_descriptor_on_a_bowl():
    axes = _axes(9)
    X, Y = np.meshgrid(*axes, indexing="ij")
    values = 2.0 + X**2 + 4 * Y**2  # Q = diag(2, 8)
    row = build_descriptor("geometry", {"radius": 0.5, "flat_tolerance": 0.1}).compute(
        DescriptorInputs(model=_record({}, {}), landscape=_landscape(values, axes))
    )
    v = row.values
    assert v["centre"] == 2.0 and v["range"] == pytest.approx(5.0)
    assert v["quad_max"] == pytest.approx(8.0) and v["quad_min"] == pytest.approx(2.0)
    assert v["sharpness"] == pytest.approx(1.0)  # 4 * 0.5^2 at (0, +-0.5)
    assert v["sharpness_rel"] == pytest.approx(1.0 / 3.0)
    assert v["flat_fraction"] == pytest.approx(np.mean(np.abs(values - 2.0) <= 0.3))


def test_hessian_descriptor_reads_spectrum_and_layers():
    nodes = np.array([[-1.0, 2.0, 5.0], [-2.0, 1.0, 5.0]])
    weights = np.array([[0.2, 0.3, 0.5], [0.1, 0.4, 0.5]])
    c = Curvature(
        "m",
        np.array([5.0, 2.0, 1.0]),
        12.0,
        0.3,
        100,
        10,
        {},
        slq_nodes=nodes,
        slq_weights=weights,
        layers=("0", "2"),
        layer_trace=np.array([9.0, 3.0]),
        layer_trace_se=np.array([0.1, 0.1]),
        layer_lambda_max=np.array([4.0, 1.0]),
    )
    v = build_descriptor("hessian").compute(DescriptorInputs(model=_record({}, {}), curvature=c)).values
    # probe means: m1 = (-0.2 + 0.6 + 2.5 + -0.2 + 0.4 + 2.5) / 2 = 2.8; m2 = (0.2+1.2+12.5 + 0.4+0.4+12.5)/2 = 13.6
    assert v["density_m2"] == pytest.approx(13.6)
    assert v["density_std"] == pytest.approx(math.sqrt(13.6 - 2.8**2))
    assert v["negative_mass"] == pytest.approx(0.15)  # (0.2 + 0.1) / 2
    assert v["negative_curvature"] == pytest.approx(0.2)  # (0.2 * 1 + 0.1 * 2) / 2
    assert v["lambda_2"] == 2.0 and v["lambda_3"] == 1.0 and v["eig_ratio"] == 5.0
    assert v["layer_trace_max_share"] == 0.75 and v["layer_lambda_max_ratio"] == 0.8


def _record(state: dict[str, np.ndarray], architecture: dict) -> ModelRecord:
    return ModelRecord("m", "z", "classification", architecture, "digits", {}, 0, "g", 1, {}, state)


def test_path_norm_by_hand_and_undefined_with_normalisation():
    # W1^2 = [[1, 4], [9, 1]], W2^2 = [[4, 1]]: paths sum 4 * (1 + 4) + 1 * (9 + 1) = 30
    arch = {"name": "mlp", "input_shape": [2], "n_outputs": 1, "width": 2, "depth": 1, "activation": "relu"}
    state = {
        "1.weight": np.array([[1.0, 2.0], [3.0, -1.0]], dtype=np.float32),
        "1.bias": np.array([5.0, -7.0], dtype=np.float32),  # biases do not count
        "3.weight": np.array([[2.0, -1.0]], dtype=np.float32),
        "3.bias": np.array([1.0], dtype=np.float32),
    }
    row = build_descriptor("path_norm").compute(DescriptorInputs(model=_record(state, arch)))
    assert row.values["log_path_norm"] == pytest.approx(math.log(30.0))
    cnn = {"name": "convnet", "input_shape": [1, 8, 8], "n_outputs": 10, "width": 4, "depth": 1, "norm": True}
    from benchmark.models import build_model

    bn_state = {k: v.numpy() for k, v in build_model(cnn).state_dict().items()}
    row = build_descriptor("path_norm").compute(DescriptorInputs(model=_record(bn_state, cnn)))
    assert math.isnan(row.values["log_path_norm"]) and "BatchNorm2d" in row.reasons["log_path_norm"]


def test_weight_spectrum_by_hand():
    w1 = np.diag([3.0, 4.0]).astype(np.float32)  # ||.||_F = 5, ||.||_2 = 4
    w2 = np.array([[0.0, 2.0]], dtype=np.float32)  # ||.||_F = ||.||_2 = 2
    state = {"a.weight": w1, "a.bias": np.ones(2, dtype=np.float32), "b.weight": w2}
    assert set(layer_matrices(state)) == {"a.weight", "b.weight"}
    torch.manual_seed(0)
    big = torch.randn(40, 30).numpy()  # a layer large enough for the power-law fit
    state["c.weight"] = big
    v = build_descriptor("weight_spectrum").compute(DescriptorInputs(model=_record(state, {}))).values
    fro_big, spec_big = np.linalg.norm(big), np.linalg.svd(big, compute_uv=False)[0]
    assert v["log_prod_frobenius"] == pytest.approx(math.log(5.0) + math.log(2.0) + math.log(fro_big))
    assert v["log_prod_spectral"] == pytest.approx(math.log(4.0) + math.log(2.0) + math.log(spec_big))
    assert v["log_sum_frobenius_sq"] == pytest.approx(math.log(25.0 + 4.0 + fro_big**2))
    alpha, lam = esd_alpha(big)  # the two small layers have fewer than 5 eigenvalues: left out
    assert v["alpha_mean"] == pytest.approx(alpha) and v["alpha_weighted"] == pytest.approx(alpha * math.log10(lam))
    assert lam == pytest.approx(spec_big**2 / 40)


def test_esd_alpha_of_a_pure_power_law_tail():
    # singular values whose squares follow a Pareto law with exponent 3: the fit recovers ~3
    rng = np.random.default_rng(0)
    evals = (1.0 - rng.random(400)) ** (-1.0 / 2.0)  # density ~ x^-3 on [1, inf)
    matrix = np.diag(np.sqrt(evals * 400))  # W^T W / N has eigenvalues evals (N = 400)
    alpha, lam = esd_alpha(matrix)
    assert alpha == pytest.approx(3.0, abs=0.3) and lam == pytest.approx(evals.max())
