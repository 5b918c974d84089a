"""Directions and grids: exact coordinates, normalisation, the centre is the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from benchmark.landscape import evaluate_grid, grid_axes, perturbable_parameters, random_direction
from benchmark.models import build_model, load_state
from benchmark.zoo import TASKS, Objective


def test_axes_are_exact_symmetric_and_centred():
    for steps in (3, 9, 41, 81):
        (a,) = grid_axes(1, steps, 0.7)
        assert a[steps // 2] == 0.0
        np.testing.assert_array_equal(a, -a[::-1])
        assert a[0] == -0.7 and a[-1] == 0.7
        np.testing.assert_allclose(np.diff(a), 1.4 / (steps - 1), rtol=1e-12)


@pytest.mark.parametrize(
    "bad",
    [
        dict(ndim=2, steps=10, span=1.0),
        dict(ndim=2, steps=1, span=1.0),
        dict(ndim=5, steps=5, span=1.0),
        dict(ndim=2, steps=5, span=0.0),
        dict(ndim=2, steps=5, span=-1.0),
    ],
)
def test_bad_grid_settings_are_refused(bad):
    with pytest.raises(ValueError, match=r"landscape\.(steps|ndim|span)"):
        grid_axes(**bad)


def test_filter_normalisation_and_exclusions():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 3))
    params = {n: p.detach() for n, p in model.named_parameters()}
    include = perturbable_parameters(model)
    assert include == {
        "0.weight": True,
        "0.bias": False,
        "1.weight": False,
        "1.bias": False,
        "3.weight": True,
        "3.bias": False,
    }
    d = random_direction(params, include, torch.Generator().manual_seed(1), "filter")
    for name, w in params.items():
        if include[name]:
            np.testing.assert_allclose(d[name].norm(dim=1), w.norm(dim=1), rtol=1e-5)
        else:
            assert not d[name].any()
    # seeded: same seed, same direction; including biases leaves the weight directions unchanged
    d2 = random_direction(params, include, torch.Generator().manual_seed(1), "filter")
    assert all(torch.equal(d[n], d2[n]) for n in d)
    with_bias = perturbable_parameters(model, include_bias=True)
    d3 = random_direction(params, with_bias, torch.Generator().manual_seed(1), "filter")
    assert torch.equal(d["3.weight"], d3["3.weight"]) and d3["0.bias"].any()


@pytest.mark.parametrize("norm", ["layer", "model"])
def test_layer_and_model_normalisation(norm):
    model = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 2))
    params = {n: p.detach() for n, p in model.named_parameters()}
    include = perturbable_parameters(model)
    d = random_direction(params, include, torch.Generator().manual_seed(0), norm)
    if norm == "layer":
        for n in ("0.weight", "2.weight"):
            assert float(d[n].norm()) == pytest.approx(float(params[n].norm()), rel=1e-5)
    else:
        dn = torch.sqrt(sum((v**2).sum() for v in d.values()))
        wn = torch.sqrt(sum((params[n] ** 2).sum() for n in params if include[n]))
        assert float(dn) == pytest.approx(float(wn), rel=1e-5)


def test_centre_node_is_the_model_and_rows_are_not_offset(tiny_record, digits):
    model = load_state(build_model(tiny_record.architecture), tiny_record.state)
    objective = TASKS.get("classification").objective(tiny_record, digits, 64, 0)
    params = {n: p.detach() for n, p in model.named_parameters()}
    include = perturbable_parameters(model)
    g = torch.Generator().manual_seed(0)
    dirs = [random_direction(params, include, g) for _ in range(2)]
    axes = grid_axes(2, 7, 0.5)
    values = evaluate_grid(model, objective, dirs, axes)
    with torch.no_grad():
        centre = float(objective(model.eval()))
    assert values[3, 3] == centre
    # every node equals an independent evaluation at exactly its coordinates
    for i, j in [(0, 0), (0, 6), (6, 0), (2, 5), (5, 2), (1, 4)]:
        p = {n: params[n] + axes[0][i] * dirs[0][n] + axes[1][j] * dirs[1][n] for n in params}
        with torch.no_grad():
            ref = float(objective(lambda x, p=p: torch.func.functional_call(model, p, (x,))))
        assert values[i, j] == pytest.approx(ref, rel=1e-5)


def test_quadratic_along_a_line_has_closed_form():
    # f(w) = mean((x.w - t)^2) along w0 + a d: f(a) = f0 + 2a mean(r x.d) + a^2 mean((x.d)^2)
    torch.manual_seed(0)
    model = nn.Linear(3, 1, bias=False)
    x, t = torch.randn(50, 3), torch.randn(50)

    def loss(forward, inputs, target):
        return ((forward(inputs).squeeze(-1) - target) ** 2).mean()

    d = {"weight": torch.randn(1, 3)}
    axes = grid_axes(1, 11, 2.0)
    values = evaluate_grid(model, Objective(x, t, loss), [d], axes)
    w = model.weight.detach()
    r = (x @ w.T).squeeze(-1) - t
    xd = (x @ d["weight"].T).squeeze(-1)
    a = axes[0]
    expected = float((r**2).mean()) + 2 * a * float((r * xd).mean()) + a**2 * float((xd**2).mean())
    np.testing.assert_allclose(values, expected, rtol=1e-5)


def test_non_finite_values_are_returned_not_replaced():
    model = nn.Linear(2, 1)
    x, t = torch.randn(4, 2), torch.randn(4)

    def loss(forward, inputs, target):
        pred = forward(inputs)
        value = ((pred.squeeze(-1) - target) ** 2).mean()
        return value if pred.abs().max() < 5 else value * float("nan")

    d = {"weight": torch.full((1, 2), 10.0), "bias": torch.zeros(1)}
    values = evaluate_grid(model, Objective(x, t, loss), [d], grid_axes(1, 5, 1.0))
    assert np.isnan(values).any() and np.isfinite(values[2])


@pytest.mark.parametrize("ndim", [1, 3, 4])
def test_nd_landscapes_compute_store_and_reload(ndim, tiny_record, digits, tmp_path):
    from benchmark.landscape.stage import compute_landscape
    from benchmark.records import Landscape
    from benchmark.store import ArtifactStore
    from benchmark.topology import sublevel_persistence

    cfg = dict(
        ndim=ndim,
        steps=5,
        span=0.5,
        normalization="filter",
        include_bias=False,
        include_norm=False,
        seed=0,
        n_samples=32,
    )
    ls = compute_landscape(tiny_record, digits, cfg)
    assert ls.values.shape == (5,) * ndim and np.isfinite(ls.values).all()
    objective = TASKS.get("classification").objective(tiny_record, digits, 32, 0)
    model = load_state(build_model(tiny_record.architecture), tiny_record.state)
    with torch.no_grad():
        assert ls.center_value == float(objective(model.eval()))
    store = ArtifactStore(tmp_path)
    store.save("landscape", "ab" * 32, ls)
    back = store.load("landscape", "ab" * 32, Landscape)
    np.testing.assert_array_equal(back.values, ls.values)
    assert all(np.array_equal(a, b) for a, b in zip(back.axes, ls.axes, strict=True))
    diagrams = sublevel_persistence(back.values)
    assert set(diagrams) == set(range(ndim)) and len(diagrams[0]) >= 1


class KilledError(Exception):
    pass


def test_killed_grid_resumes_with_only_unfinished_rows(tiny_record, digits, tmp_path, monkeypatch):
    import benchmark.landscape.grid as grid_module
    from benchmark.landscape.stage import GridCheckpoint, compute_landscape
    from benchmark.store import ArtifactStore

    cfg = dict(
        ndim=2, steps=7, span=0.5, normalization="filter", include_bias=False, include_norm=False, seed=0, n_samples=32
    )
    reference = compute_landscape(tiny_record, digits, cfg)
    calls = []
    real_call = grid_module.functional_call
    monkeypatch.setattr(grid_module, "functional_call", lambda *a, **k: calls.append(1) or real_call(*a, **k))

    class KillAfterThreeRows(GridCheckpoint):
        def save(self, values, done):
            super().save(values, done)
            if done.sum() == 3:
                raise KilledError

    store, key = ArtifactStore(tmp_path), "cd" * 32
    with pytest.raises(KilledError):
        compute_landscape(tiny_record, digits, cfg, KillAfterThreeRows(store, key, every=0.0))
    assert len(calls) == 3 * 7
    calls.clear()
    resumed = compute_landscape(tiny_record, digits, cfg, GridCheckpoint(store, key, every=0.0))
    assert len(calls) == 4 * 7  # only the unfinished rows
    np.testing.assert_array_equal(resumed.values, reference.values)
    assert GridCheckpoint(store, key, every=0.0).load() is None  # progress removed once finished
