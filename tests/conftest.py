"""Shared fixtures: a tiny trained model and config composition helpers."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmark.cli import conf_dir
from benchmark.data import load_dataset
from benchmark.zoo import TASKS, expand_zoo

CONF = conf_dir()


def compose_plain(overrides: list[str], tmp_path: Path) -> dict:
    """Compose conf/ with overrides, outputs redirected under tmp_path; return the resolved dict."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=[f"paths.home={tmp_path / 'home'}", f"report.dir={tmp_path / 'boards'}", *overrides],
        )
    return OmegaConf.to_container(cfg, resolve=True)


@pytest.fixture(scope="session")
def digits():
    return load_dataset("digits", test_fraction=0.3, split_seed=0)


@pytest.fixture(scope="session")
def tiny_record(digits):
    spec = expand_zoo(
        "t",
        "mlp",
        {"depth": 1, "activation": "tanh", "lr": 1e-2, "batch_size": 128, "epochs": 2},
        {"width": [6], "label_noise": [0.1], "seed": [0]},
    )[0]
    (record,) = TASKS.get("classification").train(spec, digits, "digits", checkpoints=[])
    return record


def dense_hessian(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """The exact Hessian of ``cross_entropy(model(x), y)`` over all parameters, float64, flattened
    in ``named_parameters`` order (small models only)."""
    model64 = copy.deepcopy(model).double()
    names = [n for n, _ in model64.named_parameters()]
    shapes = [p.shape for _, p in model64.named_parameters()]

    def flat_loss(theta: torch.Tensor) -> torch.Tensor:
        chunks, i = [], 0
        for s in shapes:
            k = int(np.prod(s))
            chunks.append(theta[i : i + k].reshape(s))
            i += k
        out = torch.func.functional_call(model64, dict(zip(names, chunks, strict=True)), (x.double(),))
        return torch.nn.functional.cross_entropy(out, y)

    theta0 = torch.cat([p.detach().reshape(-1) for p in model64.parameters()])
    return torch.autograd.functional.hessian(flat_loss, theta0).numpy()
