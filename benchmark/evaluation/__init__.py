"""Predicting targets from features: regressors, grouped cross-validation, scores."""

from benchmark.evaluation.comparison import compare_rows, compare_with_baselines
from benchmark.evaluation.metrics import METRICS, all_scores
from benchmark.evaluation.protocol import (
    ALL_METRICS,
    CONSTANT,
    SPLITS,
    Evaluation,
    Protocol,
    evaluate_feature_set,
    out_of_fold_predictions,
)
from benchmark.evaluation.regressors import build_regressor

__all__ = [
    "ALL_METRICS",
    "CONSTANT",
    "METRICS",
    "SPLITS",
    "Evaluation",
    "Protocol",
    "all_scores",
    "build_regressor",
    "compare_rows",
    "compare_with_baselines",
    "evaluate_feature_set",
    "out_of_fold_predictions",
]
