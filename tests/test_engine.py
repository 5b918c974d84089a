"""Landscape and curvature engine options: Hessian directions, orthogonalisation, metrics and
scales, normalisation statistics, spectral density (SLQ) and per-layer curvature."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.hessian import (
    hutchinson_samples,
    make_hvp,
    mean_and_se,
    parameter_blocks,
    restrict,
    slq,
    slq_density,
    slq_moment,
    top_eigenpairs,
)
from benchmark.hessian.stage import compute_curvature
from benchmark.landscape import evaluate_grid, grid_axes, perturbable_parameters, random_direction
from benchmark.landscape.directions import flatten, orthogonalize
from benchmark.landscape.grid import batch_statistics, running_stat_directions
from benchmark.landscape.stage import compute_landscape, landscape_directions
from benchmark.models import build_model, load_state
from benchmark.pipeline import ConfigError, validate
from benchmark.records import Curvature, Landscape
from benchmark.store import ArtifactStore
from benchmark.zoo import TASKS
from benchmark.zoo.base import Objective
from tests.conftest import compose_plain, dense_hessian

LS = dict(
    ndim=2,
    steps=5,
    span=0.5,
    directions="random",
    normalization="filter",
    orthogonalize=False,
    include_bias=False,
    include_norm=False,
    norm_stats="frozen",
    metric="loss",
    scale="linear",
    lanczos_iters=30,
    seed=0,
    n_samples=64,
)
CURV = dict(n_samples=64, seed=0, top_k=2, lanczos_iters=40, trace_samples=32, slq_probes=0, per_layer=False)


def _least_squares(n: int = 100, d: int = 6, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g) * torch.linspace(0.5, 3.0, d)
    y = torch.randn(n, generator=g)
    model = nn.Linear(d, 1, bias=False)

    def mse(forward, inputs, targets):
        return ((forward(inputs).squeeze(-1) - targets) ** 2).mean()

    H = (2.0 / n) * (X.double().T @ X.double())  # closed form
    return model, Objective(X, y, mse), H.numpy()


# ----------------------------------------------------------------------------- directions


def test_hessian_directions_are_the_closed_form_eigenvectors():
    model, objective, H = _least_squares()
    cfg = {**LS, "directions": "hessian", "normalization": "none"}
    directions, eigenvalues = landscape_directions(model, objective, cfg)
    evals, evecs = np.linalg.eigh(H)
    np.testing.assert_allclose(eigenvalues, evals[::-1][:2], rtol=1e-6)
    for d, v in zip(directions, evecs[:, ::-1].T, strict=False):
        got = flatten(d).numpy()
        assert np.linalg.norm(got) == pytest.approx(1.0, rel=1e-6)
        assert abs(got @ v) == pytest.approx(1.0, abs=1e-6)  # the same line
        assert got[np.abs(got).argmax()] > 0  # deterministic sign


def test_model_normalised_hessian_directions_keep_direction_and_take_the_weight_norm():
    model, objective, _ = _least_squares()
    unit, _ = landscape_directions(model, objective, {**LS, "directions": "hessian", "normalization": "none"})
    scaled, _ = landscape_directions(model, objective, {**LS, "directions": "hessian", "normalization": "model"})
    w = float(model.weight.detach().norm())
    for u, s in zip(unit, scaled, strict=True):
        np.testing.assert_allclose(flatten(s).numpy(), w * flatten(u).numpy(), rtol=1e-5, atol=1e-7)


def test_orthogonalized_directions_are_orthogonal_and_keep_their_norms():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 3))
    params = {n: p.detach() for n, p in model.named_parameters()}
    include = perturbable_parameters(model)
    g = torch.Generator().manual_seed(0)
    raw = [random_direction(params, include, g) for _ in range(3)]
    ortho = orthogonalize(raw)
    flat = torch.stack([flatten(d) for d in ortho])
    gram = (flat @ flat.T).numpy()
    np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.sqrt(np.diag(gram)), [float(flatten(d).norm()) for d in raw], rtol=1e-6)
    for d in ortho:  # excluded parameters stay fixed
        assert not d["0.bias"].any() and not d["2.bias"].any()
    with pytest.raises(ValueError, match="linearly dependent"):
        orthogonalize([raw[0], raw[0]])


def test_hessian_direction_landscape_records_eigenvalues_and_round_trips(tiny_record, digits, tmp_path):
    cfg = {**LS, "directions": "hessian", "normalization": "model", "n_samples": 64}
    ls = compute_landscape(tiny_record, digits, cfg)
    curvature = compute_curvature(tiny_record, digits, {**CURV, "top_k": 2})
    # the Hessian restricted to the weights (biases excluded) has eigenvalues at most the full one's
    assert ls.direction_eigenvalues.shape == (2,)
    assert ls.direction_eigenvalues[0] >= ls.direction_eigenvalues[1]
    assert ls.direction_eigenvalues[0] <= curvature.lambda_max * (1 + 1e-4)
    # along the sharpest direction the loss rises faster than along a random one, near the centre
    random = compute_landscape(tiny_record, digits, {**cfg, "directions": "random"})
    centre = ls.center_value
    assert ls.values[0, 2] - centre > 0 and ls.values[0, 2] - centre >= random.values[0, 2] - centre
    store = ArtifactStore(tmp_path)
    store.save("landscape", "ef" * 32, ls)
    back = store.load("landscape", "ef" * 32, Landscape)
    np.testing.assert_array_equal(back.direction_eigenvalues, ls.direction_eigenvalues)
    assert back.config["directions"] == "hessian"


# ----------------------------------------------------------------------------- values


def test_accuracy_grid_and_log_scale(tiny_record, digits):
    loss = compute_landscape(tiny_record, digits, LS)
    acc = compute_landscape(tiny_record, digits, {**LS, "metric": "accuracy"})
    logged = compute_landscape(tiny_record, digits, {**LS, "scale": "log"})
    assert acc.metric == "accuracy" and logged.metric == "log10(loss)"
    objective = TASKS.get("classification").objective(tiny_record, digits, 64, 0)
    model = load_state(build_model(tiny_record.architecture), tiny_record.state).eval()
    with torch.no_grad():
        expected = float((model(objective.inputs).argmax(1) == objective.targets).double().mean())
    assert acc.center_value == expected
    assert ((acc.values >= 0) & (acc.values <= 1)).all()
    assert np.allclose(acc.values * 64, np.round(acc.values * 64))  # multiples of 1/n
    np.testing.assert_array_equal(logged.values, np.log10(loss.values))


def test_accuracy_is_refused_for_tasks_without_it(tmp_path):
    cfg = compose_plain(["experiment=pinn_convection", "landscape.metric=accuracy"], tmp_path)
    with pytest.raises(ConfigError, match=r"landscape.metric='accuracy' is not defined for task 'pinn_convection'"):
        validate(cfg)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("landscape.directions=eigen", r"landscape.directions='eigen' is unknown; use one of \['random', 'hessian'\]"),
        ("landscape.norm_stats=train", r"landscape.norm_stats='train' is unknown"),
        ("landscape.scale=ln", r"landscape.scale='ln' is unknown; use one of \['linear', 'log'\]"),
        ("curvature.slq_probes=-1", r"curvature.slq_probes=-1 must be >= 0"),
        ("curvature.top_k=40", r"curvature.top_k=40 must be >= 1 and <= curvature.lanczos_iters=30"),
    ],
)
def test_engine_settings_are_validated(override, message, tmp_path):
    with pytest.raises(ConfigError, match=message):
        validate(compose_plain([override], tmp_path))


def _bn_convnet():
    spec = {"name": "convnet", "input_shape": [1, 8, 8], "n_outputs": 10, "width": 4, "depth": 1, "residual": False}
    torch.manual_seed(0)
    model = build_model(spec)
    with torch.no_grad():  # non-trivial running statistics
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(48, 1, 8, 8)
    y = torch.randint(0, 10, (48,))
    return model, Objective(x, y, lambda f, i, t: nn.functional.cross_entropy(f(i), t))


def test_batch_statistics_normalise_with_the_batch_and_update_nothing():
    model, objective = _bn_convnet()
    stats = {n: b.clone() for n, b in model.named_buffers()}
    zero = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    with batch_statistics(model):
        values = evaluate_grid(model, objective, [zero], grid_axes(1, 3, 1.0))
    train_mode = copy.deepcopy(model).train()
    with torch.no_grad():
        expected = float(objective(train_mode))  # train mode = batch statistics
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    for n, b in model.named_buffers():
        assert torch.equal(b, stats[n])  # nothing updated, everything restored
    with torch.no_grad():
        frozen = float(objective(model.eval()))
    assert frozen != pytest.approx(expected)


def test_perturbed_statistics_move_like_li_et_al_states():
    model, objective = _bn_convnet()
    direction = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    direction.update(running_stat_directions(model))
    assert set(direction) - {n for n, _ in model.named_parameters()} == {
        "1.running_mean",
        "1.running_var",
        "3.norm.running_mean",
        "3.norm.running_var",
    }
    values = evaluate_grid(model, objective, [direction], grid_axes(1, 3, 0.5))
    scaled = copy.deepcopy(model)
    with torch.no_grad():
        for n, b in scaled.named_buffers():
            if "running_" in n:
                b.mul_(1.5)  # coordinate +0.5: stat * (1 + 0.5)
        expected = float(objective(scaled.eval()))
    assert values[2] == pytest.approx(expected, rel=1e-6)
    with torch.no_grad():
        assert values[1] == pytest.approx(float(objective(model.eval())), rel=1e-7)


def test_norm_stats_modes_run_through_compute_landscape(digits):
    spec = TASKS.get("classification")
    from benchmark.zoo import expand_zoo

    run = expand_zoo(
        "t",
        "convnet",
        {"width": 4, "norm": True, "lr": 1e-2, "batch_size": 128, "epochs": 1, "residual": False},
        {"depth": [1], "seed": [0]},
    )[0]
    (record,) = spec.train(run, digits, "digits", checkpoints=[])
    grids = {
        mode: compute_landscape(record, digits, {**LS, "norm_stats": mode}) for mode in ("frozen", "batch", "perturbed")
    }
    assert grids["perturbed"].center_value == grids["frozen"].center_value
    assert grids["batch"].center_value != grids["frozen"].center_value
    assert not np.array_equal(grids["perturbed"].values, grids["frozen"].values)


# ----------------------------------------------------------------------------- spectra


def test_top_eigenpairs_match_dense_eigenvectors():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    H = dense_hessian(model, x, y)
    hvp, n = make_hvp(model, lambda m: nn.functional.cross_entropy(m(x), y))
    evals, vecs, _ = top_eigenpairs(hvp, n, k=2, n_iter=n)
    dense_vals, dense_vecs = np.linalg.eigh(H)
    np.testing.assert_allclose(evals, dense_vals[::-1][:2], rtol=1e-3)
    for v, ref in zip(vecs.numpy(), dense_vecs[:, ::-1].T, strict=False):
        assert abs(v @ ref) > 0.999


def test_slq_quadrature_is_exact_for_polynomials_and_estimates_the_density():
    lam = torch.linspace(-1.0, 4.0, 12)
    D = torch.diag(lam)  # products run in float32, as for a model
    n = len(lam)
    nodes, weights = slq(lambda v: D @ v, n, n_probes=200, n_iter=n, seed=0)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-10)
    # m = n steps: nodes are the exact eigenvalues, and each probe's quadrature equals q0^T D^p q0
    np.testing.assert_allclose(np.sort(nodes[0]), lam.numpy(), atol=1e-5)
    # over probes uniform on the sphere, moments estimate tr(D^p) / n
    for p in (1, 2):
        per_probe = (weights * nodes**p).sum(axis=1)
        estimate, se = per_probe.mean(), per_probe.std(ddof=1) / np.sqrt(len(per_probe))
        assert estimate == pytest.approx(slq_moment(nodes, weights, p))
        assert abs(estimate - float((lam**p).mean())) < 4 * se
    grid = np.linspace(-3, 6, 2001)
    density = slq_density(nodes, weights, grid, sigma=0.1)
    assert np.trapezoid(density, grid) == pytest.approx(1.0, rel=1e-3)
    bad, _ = slq(lambda v: v * float("nan"), n, 2, 5)
    assert np.isnan(bad).all()


def test_per_layer_traces_and_lambda_max_match_dense_blocks():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    H = dense_hessian(model, x, y)
    hvp, n = make_hvp(model, lambda m: nn.functional.cross_entropy(m(x), y))
    blocks = parameter_blocks(model)
    assert [name for name, _ in blocks] == ["0", "2"]
    assert blocks[0][1] == slice(0, 25) and blocks[1][1] == slice(25, 43)
    total, per_block = hutchinson_samples(hvp, n, 400, 0, [b for _, b in blocks])
    np.testing.assert_allclose(per_block.sum(axis=1), total, rtol=1e-9)  # blocks partition the probe
    est, se = mean_and_se(per_block)
    for (_, block), e, s in zip(blocks, est, se, strict=True):
        assert abs(e - np.trace(H[block, block])) < 3 * s
        op, size = restrict(hvp, n, block)
        evals, _, _ = top_eigenpairs(op, size, 1, size)
        assert evals[0] == pytest.approx(np.linalg.eigvalsh(H[block, block])[-1], rel=1e-3)


def test_compute_curvature_with_spectrum_and_layers_round_trips(tiny_record, digits, tmp_path):
    plain = compute_curvature(tiny_record, digits, CURV)
    full = compute_curvature(tiny_record, digits, {**CURV, "slq_probes": 3, "per_layer": True})
    np.testing.assert_array_equal(full.eigenvalues, plain.eigenvalues)  # probe 0 is the same Lanczos run
    assert full.trace == plain.trace and full.trace_se == plain.trace_se
    assert full.slq_nodes.shape == (3, 40) and full.layers == ("1", "3")
    assert full.layer_trace.sum() == pytest.approx(full.trace, rel=1e-9)
    assert (full.layer_lambda_max <= full.lambda_max * (1 + 1e-3)).all()
    assert full.slq_nodes[0].max() == pytest.approx(full.lambda_max, rel=1e-3)
    assert full.n_hvp > plain.n_hvp
    store = ArtifactStore(tmp_path)
    store.save("curvature", "01" * 32, full)
    back = store.load("curvature", "01" * 32, Curvature)
    assert back.layers == full.layers
    np.testing.assert_array_equal(back.slq_weights, full.slq_weights)
    np.testing.assert_array_equal(back.layer_lambda_max, full.layer_lambda_max)


def test_top_k_larger_than_the_model_is_a_clear_error(tiny_record, digits):
    n = sum(v.size for v in tiny_record.state.values())
    with pytest.raises(ConfigError, match=rf"curvature.top_k={n + 1} exceeds the {n} parameters"):
        compute_curvature(tiny_record, digits, {**CURV, "top_k": n + 1, "lanczos_iters": n + 1})


# ----------------------------------------------------------------------------- input-layer reuse


class _Shared(nn.Module):
    """A layer applied twice: its input at the second call depends on its weights."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(6, 6)

    def forward(self, x):
        return self.lin(torch.relu(self.lin(x.flatten(1)[:, :6])))


@pytest.mark.parametrize(
    ("build", "expect"),
    [
        (lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(inplace=True), nn.Linear(8, 10)), "1"),
        (lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(inplace=True), nn.Flatten(), nn.Linear(144, 10)), "0"),
        (lambda: nn.Sequential(nn.BatchNorm2d(1), nn.Flatten(), nn.Linear(64, 10)), None),
        (lambda: _Shared(), None),
    ],
)
def test_input_layer_reuse_equals_direct_evaluation(build, expect):
    from benchmark.landscape.grid import input_layer

    torch.manual_seed(0)
    model = build().eval()
    x, y = torch.randn(40, 1, 8, 8), torch.randint(0, 6, (40,))
    objective = Objective(x, y, lambda f, i, t: nn.functional.cross_entropy(f(i), t))
    found = input_layer(model, objective)
    assert (found[0] if found else None) == expect
    params = {n: p.detach() for n, p in model.named_parameters()}
    include = perturbable_parameters(model, include_bias=True)
    g = torch.Generator().manual_seed(0)
    directions = [random_direction(params, include, g) for _ in range(3)]
    axes = grid_axes(3, 5, 1.0)
    direct = evaluate_grid(model, objective, directions, axes, reuse_input_layer=False)
    reused = evaluate_grid(model, objective, directions, axes, reuse_input_layer=True)
    np.testing.assert_allclose(reused, direct, rtol=1e-5)
    with torch.no_grad():
        assert reused[2, 2, 2] == pytest.approx(float(objective(model)), rel=1e-6)
    assert "forward" not in vars(model.get_submodule(expect)) if expect else True  # cache removed
