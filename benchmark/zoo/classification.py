"""Classification zoos: deterministic training, measured targets, the cross-entropy objective."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import nn

from benchmark import device
from benchmark.data import Split
from benchmark.models import build_model
from benchmark.models.base import architecture_spec
from benchmark.records import ModelRecord
from benchmark.zoo.base import Forward, Objective, Task, descend, register_task
from benchmark.zoo.spec import ModelSpec

OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
EVAL_BATCH = 1024


def training_set(
    split: Split, label_noise: float, train_fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The training data one model sees: a seeded subset, with a seeded fraction of labels
    replaced by a different class (symmetric label noise; Zhang et al. 2017)."""
    keep, y = training_indices(split, label_noise, train_fraction, seed)
    return split.x_train[keep], y


def training_indices(
    split: Split, label_noise: float, train_fraction: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`training_set` as row numbers into ``split.x_train`` (sorted) and the labels the model
    trains on, so that many models can share one copy of the inputs (``zoo/batched.py``)."""
    if not 0.0 <= label_noise < 1.0:
        raise ValueError(f"label_noise={label_noise} is out of range; use a value in [0, 1).")
    if not 0.0 < train_fraction <= 1.0:
        raise ValueError(f"train_fraction={train_fraction} is out of range; use a value in (0, 1].")
    g = torch.Generator().manual_seed(10_007 * seed + 17)
    n = len(split.x_train)
    keep = torch.randperm(n, generator=g)[: max(1, round(train_fraction * n))].sort().values
    y = split.y_train[keep].clone()
    n_noisy = round(label_noise * len(y))
    if n_noisy:
        idx = torch.randperm(len(y), generator=g)[:n_noisy]
        shift = torch.randint(1, split.n_classes, (n_noisy,), generator=g)
        y[idx] = (y[idx] + shift) % split.n_classes
    return keep, y


def optimizer_settings(spec: ModelSpec) -> tuple[str, dict[str, Any]]:
    """The name (a key of ``OPTIMIZERS``) and keyword arguments of the optimizer ``spec`` trains
    with: ``lr``, ``weight_decay`` (default 0) and, for SGD, ``momentum`` (default 0.9)."""
    hp = spec.hparams
    opt_name = hp.get("optimizer", "adam")
    if opt_name not in OPTIMIZERS:
        raise ValueError(
            f"model {spec.model_id!r}: optimizer {opt_name!r} is unknown; use one of {sorted(OPTIMIZERS)}."
        )
    opt_kwargs: dict[str, Any] = {"lr": hp["lr"], "weight_decay": hp.get("weight_decay", 0.0)}
    if opt_name == "sgd":
        opt_kwargs["momentum"] = hp.get("momentum", 0.9)
    return opt_name, opt_kwargs


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(mean cross-entropy, accuracy) in eval mode, in chunks of EVAL_BATCH."""
    model.eval()
    where = next(model.parameters()).device
    loss_sum, correct = 0.0, 0
    for xb, yb in zip(x.split(EVAL_BATCH), y.split(EVAL_BATCH), strict=True):
        xb, yb = xb.to(where), yb.to(where)
        logits = model(xb)
        loss_sum += float(nn.functional.cross_entropy(logits, yb, reduction="sum"))
        correct += int((logits.argmax(1) == yb).sum())
    return loss_sum / len(y), correct / len(y)


def cross_entropy(forward: Forward, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The training objective of classification zoos: mean cross-entropy of ``forward(inputs)``."""
    return nn.functional.cross_entropy(forward(inputs), targets)


def accuracy(forward: Forward, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Fraction of ``inputs`` whose largest logit is the target class (ties: the first class)."""
    return (forward(inputs).argmax(-1) == targets).to(torch.float64).mean()


GRID_METRICS = {"loss": cross_entropy, "accuracy": accuracy}


@register_task("classification")
class Classification(Task):
    """Image/sequence classifiers trained with Adam or SGD on a fixed split.

    Hyperparameters: architecture arguments, ``optimizer``, ``lr``, ``weight_decay``, ``momentum``
    (SGD), ``batch_size``, ``epochs``, ``label_noise``, ``train_fraction``, ``seed``.
    Targets are measured on the labels the model was trained on (noisy ones included) and on the
    clean test split; ``generalization_gap = train_accuracy - test_accuracy``.
    """

    targets = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "generalization_gap", "loss_gap")
    greater_is_better: ClassVar[dict[str, bool]] = {
        "train_loss": False,
        "train_accuracy": True,
        "test_loss": False,
        "test_accuracy": True,
        "generalization_gap": False,
        "loss_gap": False,
    }
    version = "3"
    grid_metrics = ("loss", "accuracy")

    def train(self, spec: ModelSpec, data: Any, dataset: str, checkpoints: Sequence[int]) -> list[ModelRecord]:
        if not isinstance(data, Split):
            raise TypeError(f"zoo task 'classification' needs a classification dataset, got {type(data).__name__}.")
        hp = spec.hparams
        arch = architecture_spec(spec.architecture, data.input_shape, data.n_classes, hp)
        torch.manual_seed(spec.seed)
        on = device.current()
        model = build_model(arch).to(on)  # initialised on the CPU: the same weights on every device
        x, y = training_set(data, hp.get("label_noise", 0.0), hp.get("train_fraction", 1.0), spec.seed)
        x, y = x.to(on), y.to(on)
        opt_name, opt_kwargs = optimizer_settings(spec)
        opt = OPTIMIZERS[opt_name](model.parameters(), **opt_kwargs)
        g = torch.Generator().manual_seed(spec.seed)
        batch, epochs = int(hp["batch_size"]), int(hp["epochs"])
        keep = sorted({int(c) for c in checkpoints if 0 <= int(c) < epochs})
        records: list[ModelRecord] = []
        diverged = False

        def snapshot(epoch: int) -> None:
            records.append(self._record(spec, arch, dataset, model, data, x, y, epoch, diverged))

        if 0 in keep:
            snapshot(0)
        for epoch in range(1, epochs + 1):
            model.train()
            for idx in torch.randperm(len(x), generator=g).split(batch):
                if not descend(opt, nn.functional.cross_entropy(model(x[idx]), y[idx])):
                    diverged = True
                    break
            if diverged:
                break
            if epoch in keep:
                snapshot(epoch)
        snapshot(epochs)
        return records

    def final_epoch(self, hparams: dict[str, Any]) -> int:
        return int(hparams["epochs"])

    def _record(
        self,
        spec: ModelSpec,
        arch: dict[str, Any],
        dataset: str,
        model: nn.Module,
        data: Split,
        x: torch.Tensor,
        y: torch.Tensor,
        epoch: int,
        diverged: bool,
    ) -> ModelRecord:
        train_loss, train_acc = evaluate(model, x, y)
        test_loss, test_acc = evaluate(model, data.x_test, data.y_test)
        metrics = {
            "train_loss": train_loss,
            "train_accuracy": train_acc,
            "test_loss": test_loss,
            "test_accuracy": test_acc,
            "generalization_gap": train_acc - test_acc,
            "loss_gap": test_loss - train_loss,
        }
        return self.snapshot(spec, arch, dataset, model, epoch, metrics, diverged)

    def objective(self, record: ModelRecord, data: Any, n_samples: int, seed: int, metric: str = "loss") -> Objective:
        """Cross-entropy (or accuracy) on a fixed subset of the model's own training set (noisy labels
        included), drawn by ``seed`` alone, so models trained on the same data share it."""
        self.check_metric(metric)
        hp = record.hparams
        x, y = training_set(data, hp.get("label_noise", 0.0), hp.get("train_fraction", 1.0), record.seed)
        if n_samples < 1:
            raise ValueError(f"n_samples={n_samples} must be >= 1 (the size of the evaluation subset).")
        idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n_samples]
        return Objective(x[idx], y[idx], GRID_METRICS[metric])
