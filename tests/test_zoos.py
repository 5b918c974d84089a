"""Zoo tasks: deterministic training, checkpoints, the PINN objective, architecture axes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from benchmark.data import load_dataset
from benchmark.zoo import TASKS, expand_zoo
from benchmark.zoo.pinn import pinn_loss


def _same(a, b) -> bool:
    same_state = a.state.keys() == b.state.keys() and all(np.array_equal(a.state[k], b.state[k]) for k in a.state)
    same_metrics = all(
        (math.isnan(a.metrics[k]) and math.isnan(b.metrics[k])) or a.metrics[k] == b.metrics[k] for k in a.metrics
    )
    return same_state and same_metrics


def test_convnet_training_is_bit_identical_and_keeps_checkpoints(digits):
    spec = expand_zoo(
        "c",
        "convnet",
        {"width": 4, "depth": 2, "lr": 1e-3, "batch_size": 256, "epochs": 3},
        {"residual": [True], "seed": [0]},
    )[0]
    task = TASKS.get("classification")
    a = task.train(spec, digits, "digits", checkpoints=[0, 2, 7])
    b = task.train(spec, digits, "digits", checkpoints=[0, 2, 7])
    assert [m.epoch for m in a] == [0, 2, 3]  # 7 is past the end: not kept; the final model is last
    assert [m.model_id for m in a] == [f"{spec.model_id}@0", f"{spec.model_id}@2", spec.model_id]
    assert len({m.group for m in a}) == 1
    assert all(_same(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0].state["0.weight"], a[-1].state["0.weight"])


def test_architecture_can_be_an_axis():
    specs = expand_zoo("z", None, {"width": 8}, {"architecture": ["mlp", "convnet"], "seed": [0, 1]})
    assert [s.architecture for s in specs] == ["mlp", "mlp", "convnet", "convnet"]
    assert "architecture" not in specs[0].hparams
    assert specs[0].group == "z/architecture=mlp" and specs[2].group == "z/architecture=convnet"
    with pytest.raises(ValueError, match="names no architecture"):
        expand_zoo("z", None, {}, {"seed": [0]})


def test_pinn_loss_vanishes_on_the_exact_solution_and_training_is_deterministic():
    data = load_dataset("convection", n_collocation=64, n_initial=32, n_boundary=16, nx=32, nt=8)
    task = TASKS.get("pinn_convection")
    beta = 5.0
    objective = task._targets(data, beta)

    def exact(xt: torch.Tensor) -> torch.Tensor:
        return torch.sin(xt[:, 0] - beta * xt[:, 1]).unsqueeze(-1)

    assert float(pinn_loss(exact, data.collocation, objective).detach()) < 1e-10
    wrong = float(pinn_loss(lambda xt: exact(xt) * 0.5, data.collocation, objective).detach())
    assert wrong > 1e-2
    spec = expand_zoo(
        "p",
        "mlp",
        {"width": 8, "depth": 2, "activation": "tanh", "lr": 1e-3, "adam_steps": 20, "lbfgs_steps": 5},
        {"beta": [beta], "seed": [0]},
    )[0]
    a = task.train(spec, data, "convection", checkpoints=[10])
    b = task.train(spec, data, "convection", checkpoints=[10])
    assert [m.epoch for m in a] == [10, 25]
    assert all(_same(x, y) for x, y in zip(a, b, strict=True))
    assert set(a[-1].metrics) == {"rel_l2_error", "rel_linf_error", "train_loss", "diverged"}


@pytest.mark.slow
def test_pinn_failure_mode_at_large_beta():
    """Krishnapriyan et al. 2021: the vanilla PINN fits beta = 1 and fails at beta >= 30."""
    data = load_dataset("convection")
    task = TASKS.get("pinn_convection")
    fixed = {"width": 50, "depth": 4, "activation": "tanh", "lr": 1e-3, "adam_steps": 2000, "lbfgs_steps": 500}
    for spec in expand_zoo("p", "mlp", fixed, {"beta": [1, 30], "seed": [0, 1, 2]}):
        (model,) = task.train(spec, data, "convection", checkpoints=[])
        err = model.metrics["rel_l2_error"]
        if spec.hparams["beta"] == 1:
            assert err < 0.05, (spec.model_id, err)
        else:
            assert err > 0.5, (spec.model_id, err)


def test_seeded_sample_of_a_grid_keeps_every_seed():
    axes = {"width": [1, 2, 3, 4], "lr": [0.1, 0.2, 0.3], "seed": [0, 1]}
    a = expand_zoo("z", "mlp", {}, axes, sample=5, sample_seed=3)
    b = expand_zoo("z", "mlp", {}, axes, sample=5, sample_seed=3)
    assert [s.model_id for s in a] == [s.model_id for s in b] and len(a) == 10
    assert len({s.group for s in a}) == 5 and all(sum(s.group == g.group for s in a) == 2 for g in a)
    assert {s.model_id for s in expand_zoo("z", "mlp", {}, axes, sample=5, sample_seed=4)} != {s.model_id for s in a}
    with pytest.raises(ValueError, match="sample=13 must be between 1 and the 12 configurations"):
        expand_zoo("z", "mlp", {}, axes, sample=13)
