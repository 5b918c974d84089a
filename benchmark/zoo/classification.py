"""Training classifiers deterministically and measuring their targets."""

from __future__ import annotations

import math

import torch
from torch import nn

from benchmark.data import Split
from benchmark.models import build_model, state_to_numpy
from benchmark.models.base import architecture_kwargs
from benchmark.records import ModelRecord
from benchmark.zoo.spec import ModelSpec

TRAIN_VERSION = "1"
"""Bump when training code changes its results; stored models then retrain."""

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}


def training_set(
    split: Split, label_noise: float, train_fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training data one model sees: a seeded subset, with a seeded fraction of labels
    replaced by a different class (symmetric label noise; Zhang et al. 2017)."""
    if not 0.0 <= label_noise < 1.0:
        raise ValueError(f"label_noise={label_noise} is out of range; use a value in [0, 1).")
    if not 0.0 < train_fraction <= 1.0:
        raise ValueError(f"train_fraction={train_fraction} is out of range; use a value in (0, 1].")
    g = torch.Generator().manual_seed(10_007 * seed + 17)
    n = len(split.x_train)
    keep = torch.randperm(n, generator=g)[: max(1, round(train_fraction * n))].sort().values
    x, y = split.x_train[keep], split.y_train[keep].clone()
    n_noisy = round(label_noise * len(y))
    if n_noisy:
        idx = torch.randperm(len(y), generator=g)[:n_noisy]
        shift = torch.randint(1, split.n_classes, (n_noisy,), generator=g)
        y[idx] = (y[idx] + shift) % split.n_classes
    return x, y


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) in eval mode."""
    model.eval()
    logits = model(x)
    loss = nn.functional.cross_entropy(logits, y).item()
    acc = (logits.argmax(1) == y).float().mean().item()
    return loss, acc


def train_classifier(spec: ModelSpec, split: Split, dataset_name: str) -> ModelRecord:
    """Train one model of a classification zoo; deterministic given ``spec`` and ``split``."""
    hp = spec.hparams
    arch = {
        "name": spec.architecture,
        "input_shape": list(split.input_shape),
        "n_classes": split.n_classes,
        **architecture_kwargs(spec.architecture, hp),
    }
    torch.manual_seed(spec.seed)
    model = build_model(arch)
    x, y = training_set(split, hp.get("label_noise", 0.0), hp.get("train_fraction", 1.0), spec.seed)
    opt_name = hp.get("optimizer", "adam")
    if opt_name not in OPTIMIZERS:
        raise ValueError(
            f"model {spec.model_id!r}: optimizer {opt_name!r} is unknown; use one of {sorted(OPTIMIZERS)}."
        )
    opt_kwargs = {"lr": hp["lr"], "weight_decay": hp.get("weight_decay", 0.0)}
    if opt_name == "sgd":
        opt_kwargs["momentum"] = hp.get("momentum", 0.9)
    opt = OPTIMIZERS[opt_name](model.parameters(), **opt_kwargs)
    g = torch.Generator().manual_seed(spec.seed)
    batch = int(hp["batch_size"])
    diverged = False
    for _ in range(int(hp["epochs"])):
        model.train()
        for idx in torch.randperm(len(x), generator=g).split(batch):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            if not torch.isfinite(loss):
                diverged = True
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if diverged:
            break
    train_loss, train_acc = evaluate(model, x, y)
    test_loss, test_acc = evaluate(model, split.x_test, split.y_test)
    metrics = {
        "train_loss": train_loss,
        "train_accuracy": train_acc,
        "test_loss": test_loss,
        "test_accuracy": test_acc,
        "generalization_gap": train_acc - test_acc,
        "loss_gap": test_loss - train_loss,
    }
    if diverged:
        metrics = {k: math.nan for k in metrics}
    return ModelRecord(
        model_id=spec.model_id,
        zoo=spec.zoo,
        architecture=arch,
        dataset=dataset_name,
        hparams=dict(hp),
        seed=spec.seed,
        group=spec.group,
        epoch=int(hp["epochs"]),
        metrics={**metrics, "diverged": float(diverged)},
        state=state_to_numpy(model),
    )


def objective_batch(record: ModelRecord, split: Split, n_samples: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed subset of the model's own training set (its noisy labels included): the data on
    which the training objective is evaluated for landscapes and curvature.

    The subset is drawn by ``seed`` alone, so models trained on the same data share it.
    """
    hp = record.hparams
    x, y = training_set(split, hp.get("label_noise", 0.0), hp.get("train_fraction", 1.0), record.seed)
    if n_samples < 1:
        raise ValueError(f"n_samples={n_samples} must be >= 1 (the size of the evaluation subset).")
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n_samples]
    return x[idx], y[idx]


def objective(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The training objective of classification zoos: mean cross-entropy."""
    return nn.functional.cross_entropy(logits, targets)
