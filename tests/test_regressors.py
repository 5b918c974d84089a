"""Every regressor in conf/regressor composes, builds behind the scaler, learns, and is deterministic."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.metrics import r2_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from benchmark.evaluation import build_regressor

from .conftest import CONF, compose_plain

REGRESSORS = sorted(p.stem for p in (CONF / "regressor").glob("*.yaml"))


def test_the_registry_holds_the_documented_regressors():
    expected = {"ridge", "random_forest", "lasso", "knn", "hist_gradient_boosting", "svr", "gaussian_process"}
    assert expected <= set(REGRESSORS)
    for name in REGRESSORS:  # the package line names the file, so `regressor=[name]` selects it under that key
        assert (CONF / "regressor" / f"{name}.yaml").read_text().startswith(f"# @package regressor.{name}\n")


def _data(n: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3)) * [1.0, 10.0, 0.01]  # unequal scales: the pipeline standardises them
    y = 0.02 * X[:, 0] - 0.001 * X[:, 1] + 0.5 + 0.002 * rng.normal(size=n)  # an accuracy-like target in [0, 1]
    return X, y


@pytest.mark.parametrize("name", REGRESSORS)
def test_every_regressor_config_builds_fits_and_predicts_deterministically(name, tmp_path):
    cfg = compose_plain([f"regressor=[{name}]"], tmp_path)["regressor"][name]
    X, y = _data()
    train, test = slice(0, 60), slice(60, None)
    preds = []
    for est in (build_regressor(name, cfg), clone(build_regressor(name, cfg))):
        assert isinstance(est, Pipeline) and isinstance(est.steps[0][1], StandardScaler)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a regressor that cannot fit this easy problem cleanly fails here
            est.fit(X[train], y[train])
            preds.append(est.predict(X[test]))
    assert preds[0].shape == (20,) and np.isfinite(preds[0]).all()
    np.testing.assert_array_equal(preds[0], preds[1])  # same config, same numbers
    assert r2_score(y[test], preds[0]) > 0.4  # it learns a mostly linear signal from 60 models
