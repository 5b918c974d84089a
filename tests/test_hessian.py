"""Curvature against closed forms and the exact Hessian."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.descriptors import DescriptorInputs, build_descriptor
from benchmark.descriptors.hessian import slq_mass_below, slq_negative_share
from benchmark.hessian import exact_trace, hutchinson_trace, make_hvp, slq, top_eigenvalues
from benchmark.hessian.spectrum import lanczos, ritz
from benchmark.hessian.stage import compute_curvature
from benchmark.models import record_module
from benchmark.zoo import TASKS, expand_zoo
from tests.conftest import dense_hessian


def _least_squares(n: int = 200, d: int = 7, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g) * torch.linspace(0.5, 3.0, d)  # spread the spectrum
    y = torch.randn(n, generator=g)
    model = nn.Linear(d, 1, bias=False)

    def loss_fn(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return ((pred.squeeze(-1) - target) ** 2).mean()

    H = (2.0 / n) * (X.double().T @ X.double())  # closed form: H = 2/n X^T X
    return model, loss_fn, X, y, H.numpy()


def test_least_squares_lambda_max_and_trace_match_closed_form():
    model, loss_fn, X, y, H = _least_squares()
    hvp, n = make_hvp(model, lambda m: loss_fn(m(X), y))
    assert n == H.shape[0]
    top, _ = top_eigenvalues(hvp, n, k=3, n_iter=30)
    expected = np.sort(np.linalg.eigvalsh(H))[::-1][:3]
    np.testing.assert_allclose(top, expected, rtol=1e-3)
    assert exact_trace(hvp, n) == pytest.approx(np.trace(H), rel=1e-3)


def test_hutchinson_is_within_three_standard_errors():
    model, loss_fn, X, y, H = _least_squares(d=12, seed=3)
    hvp, n = make_hvp(model, lambda m: loss_fn(m(X), y))
    est, se = hutchinson_trace(hvp, n, n_samples=400, seed=1)
    assert se > 0
    assert abs(est - np.trace(H)) < 3 * se
    # Rademacher probes are exact for a diagonal matrix: z_i^2 = 1
    D = torch.diag(torch.arange(1.0, 6.0))
    est_d, se_d = hutchinson_trace(lambda v: D @ v, 5, n_samples=4)
    assert est_d == pytest.approx(15.0) and se_d == pytest.approx(0.0)


def test_mlp_hvp_matches_dense_hessian():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    x = torch.randn(32, 4)
    y = torch.randint(0, 3, (32,))
    loss_fn = nn.functional.cross_entropy
    hvp, n = make_hvp(model, lambda m: loss_fn(m(x), y))
    H = dense_hessian(model, x, y)
    evals = np.linalg.eigvalsh(H)
    top, _ = top_eigenvalues(hvp, n, k=1, n_iter=n)
    assert top[0] == pytest.approx(evals[-1], rel=1e-3)
    assert exact_trace(hvp, n) == pytest.approx(np.trace(H), rel=1e-3)
    est, se = hutchinson_trace(hvp, n, n_samples=300, seed=0)
    assert abs(est - np.trace(H)) < 3 * se


def test_lanczos_terminates_exactly_on_small_operators():
    A = np.diag([5.0, 2.0, -1.0])
    alpha, beta, Q = lanczos(lambda v: torch.as_tensor(A, dtype=v.dtype) @ v, 3, n_iter=50)
    assert len(alpha) == 3
    np.testing.assert_allclose(ritz(alpha, beta)[0], [-1.0, 2.0, 5.0], atol=1e-5)
    np.testing.assert_allclose(Q @ Q.T, np.eye(3), atol=1e-10)


def test_non_finite_products_give_nan_not_numbers():
    def bad(v: torch.Tensor) -> torch.Tensor:
        return v * float("nan")

    top, _ = top_eigenvalues(bad, 10, k=2, n_iter=5)
    assert np.isnan(top).all() and top.shape == (2,)
    est, _ = hutchinson_trace(bad, 10, n_samples=4)
    assert np.isnan(est)


def test_model_without_second_derivative_gives_nan_curvature_with_reason(tiny_record, digits, monkeypatch):
    import benchmark.hessian.stage as stage_module
    from benchmark.descriptors import DescriptorInputs, build_descriptor

    def failing(model, objective):  # as torch does for an operation it cannot differentiate twice
        raise RuntimeError("derivative for aten::hardsigmoid_backward is not implemented")

    monkeypatch.setattr(stage_module, "make_hvp", failing)
    cfg = {"n_samples": 16, "seed": 0, "top_k": 1, "lanczos_iters": 3, "trace_samples": 2}
    c = stage_module.compute_curvature(tiny_record, digits, cfg)
    assert math.isnan(c.lambda_max) and math.isnan(c.trace) and "hardsigmoid" in c.note
    row = build_descriptor("hessian").compute(DescriptorInputs(model=tiny_record, curvature=c))
    assert all(math.isnan(v) for v in row.values.values()) and "hardsigmoid" in row.reasons["lambda_max"]


@pytest.fixture(scope="module")
def tanh_mlp_310(digits):
    """The 310-parameter tanh MLP (64-4-10) on digits after 3 epochs of docs/descriptors.md."""
    hp = {"depth": 1, "activation": "tanh", "lr": 1e-2, "batch_size": 128, "epochs": 3}
    spec = expand_zoo("t", "mlp", hp, {"width": [4], "label_noise": [0.1], "seed": [0]})[0]
    (record,) = TASKS.get("classification").train(spec, digits, "digits", checkpoints=[])
    return record


def test_negative_mass_is_the_exact_share_of_clearly_negative_eigenvalues(tanh_mlp_310, digits):
    """At the default cost (30 steps, 8 probes), ``negative_mass`` matches the exact share of
    eigenvalues below -0.01 rho; the quadrature weight below 0 is far from the share below 0."""
    cfg = {"n_samples": 512, "seed": 0, "top_k": 1, "lanczos_iters": 30, "trace_samples": 2, "slq_probes": 8}
    c = compute_curvature(tanh_mlp_310, digits, cfg)
    assert c.n_params == 310 and c.slq_nodes.shape == (8, 30)
    values = build_descriptor("hessian").compute(DescriptorInputs(model=tanh_mlp_310, curvature=c)).values
    objective = TASKS.get("classification").objective(tanh_mlp_310, digits, 512, 0)
    ev = np.linalg.eigvalsh(dense_hessian(record_module(tanh_mlp_310), objective.inputs, objective.targets))
    rho = np.abs(ev).max()
    assert values["negative_mass"] == pytest.approx(np.mean(ev < -0.01 * rho), abs=0.02)
    assert values["negative_curvature"] == pytest.approx(np.maximum(-ev, 0).mean(), rel=0.15)
    # what negative_mass used to be: the weight of the negative Ritz values, biased by the crowd at 0
    assert abs(slq_mass_below(c.slq_nodes, c.slq_weights, 0.0) - np.mean(ev < 0)) > 0.1


def test_negative_share_against_a_closed_form_spectrum_with_a_crowd_at_zero():
    """30% of the eigenvalues at -1 or below, 40% within 1e-4 of 0 (most of them negative), the
    rest in [1, 10]: the share below -0.01 rho is 0.3, whatever the crowd's signs."""
    rng = np.random.default_rng(0)
    evals = np.concatenate([-rng.uniform(1, 3, 90), rng.uniform(-1e-4, 2e-5, 120), rng.uniform(1, 10, 90)])
    D = torch.as_tensor(evals)

    def matvec(v: torch.Tensor) -> torch.Tensor:
        return (D * v.double()).to(v.dtype)

    nodes, weights = slq(matvec, len(evals), n_probes=8, n_iter=30, seed=0)
    assert slq_negative_share(nodes, weights) == pytest.approx(0.3, abs=0.03)
    assert np.mean(evals < 0) > 0.5  # the share below 0, which no 30-step quadrature resolves
    assert math.isnan(slq_negative_share(np.full((2, 3), np.nan), np.zeros((2, 3))))


class _ClampGate(nn.Module):
    """hardsigmoid written as a clamp: the reference the swapped module is checked against."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(x / 6 + 0.5, 0.0, 1.0)


def _gated(gate: nn.Module) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 5), gate, nn.Linear(5, 3))


def test_hard_sigmoid_gates_get_exact_hessian_vector_products():
    from benchmark.hessian.hvp import TwiceDifferentiableHardsigmoid, twice_differentiable

    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(32, 4, generator=g) * 4, torch.randint(0, 3, (32,), generator=g)

    def loss(m: nn.Module) -> torch.Tensor:
        return nn.functional.cross_entropy(m(x), y)

    plain = _gated(nn.Hardsigmoid())
    grads = torch.autograd.grad(loss(plain), list(plain.parameters()), create_graph=True)
    with pytest.raises(RuntimeError, match="hardsigmoid"):  # why the swap exists: torch's own double backward
        torch.autograd.grad(sum(g.sum() for g in grads), list(plain.parameters()))
    model = _gated(nn.Hardsigmoid())
    before = model(x)
    assert twice_differentiable(model) is model and isinstance(model[2], TwiceDifferentiableHardsigmoid)
    assert torch.equal(model(x), before)  # the same function, to the bit
    edges = torch.tensor([-4.0, -3.0, -2.9, 0.0, 2.9, 3.0, 4.0])
    assert torch.equal(TwiceDifferentiableHardsigmoid()(edges), nn.functional.hardsigmoid(edges))
    hvp, n = make_hvp(model, loss)
    H = dense_hessian(_gated(_ClampGate()), x, y)  # the same weights, an independent formulation
    v = torch.randn(n, generator=g, dtype=torch.float64)
    assert np.abs(H).max() > 0.01
    np.testing.assert_allclose(hvp(v.float()).numpy(), H @ v.numpy(), rtol=1e-4, atol=1e-5)


def test_timm_mobilenet_v3_gets_finite_curvature():
    from benchmark.models.timm_models import timm_model

    model = timm_model((1, 16, 16), 10, "mobilenetv3_small_050")  # make_hvp swaps its gates
    x, y = torch.randn(8, 1, 16, 16), torch.arange(8)
    hvp, n = make_hvp(model, lambda m: nn.functional.cross_entropy(m(x), y))
    top, _ = top_eigenvalues(hvp, n, k=1, n_iter=4)
    assert np.isfinite(top).all()
