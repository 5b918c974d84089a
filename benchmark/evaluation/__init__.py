"""Predicting targets from features: regressors, grouped cross-validation, scores."""

from benchmark.evaluation.metrics import METRICS, all_scores
from benchmark.evaluation.protocol import CONSTANT, Evaluation, evaluate_feature_set, out_of_fold_predictions
from benchmark.evaluation.regressors import build_regressor

__all__ = [
    "CONSTANT",
    "METRICS",
    "Evaluation",
    "all_scores",
    "build_regressor",
    "evaluate_feature_set",
    "out_of_fold_predictions",
]
