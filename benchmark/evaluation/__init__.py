"""Predicting targets from features: regressors, grouped cross-validation, scores."""

from benchmark.evaluation.metrics import fold_scores
from benchmark.evaluation.protocol import CONSTANT, cross_validate_grouped, evaluate_feature_set
from benchmark.evaluation.regressors import build_regressor

__all__ = ["CONSTANT", "build_regressor", "cross_validate_grouped", "evaluate_feature_set", "fold_scores"]
