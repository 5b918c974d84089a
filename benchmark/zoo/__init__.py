"""Zoos: populations of trained models with their hyperparameters and measured targets."""

from benchmark.zoo.classification import TRAIN_VERSION, objective, objective_batch, train_classifier, training_set
from benchmark.zoo.spec import ModelSpec, expand_zoo

__all__ = [
    "TRAIN_VERSION",
    "ModelSpec",
    "expand_zoo",
    "objective",
    "objective_batch",
    "train_classifier",
    "training_set",
]
