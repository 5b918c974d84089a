"""Regressors from config: a scikit-learn estimator behind a standard scaler."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hydra.utils import instantiate
from sklearn.base import RegressorMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def build_regressor(name: str, cfg: Mapping[str, Any]) -> Pipeline:
    """``StandardScaler -> estimator``; ``cfg`` is conf/regressor/<name>.yaml (with ``_target_``).

    Everything is fitted inside each training fold.
    """
    if "_target_" not in cfg:
        raise ValueError(f"regressor {name!r} config has no '_target_'; name a scikit-learn estimator class.")
    estimator = instantiate(dict(cfg), _convert_="all")
    if not isinstance(estimator, RegressorMixin):
        raise TypeError(f"regressor {name!r}: {cfg['_target_']} is not a scikit-learn regressor.")
    return Pipeline([("scale", StandardScaler()), ("model", estimator)])


def regressor_problems(selected: Mapping[str, Any]) -> list[str]:
    """What the selection of regressors gets wrong (none selected), one message each."""
    return [] if selected else ["no regressor selected; choose some, e.g. regressor=[ridge,random_forest]."]
