"""Leakage checks, for every protocol in conf/protocol/: noise scores no better than the constant
predictor, a feature equal to the target scores perfectly, and the check catches a leaky split.

The synthetic zoo: 2 architectures x 4 widths x 3 learning rates (24 configurations = groups), 3
seeds each. The target is a random effect per configuration plus a little seed noise, so the seeds
of one configuration are near-copies: any split that lets a sibling seed into the training part
lets a regressor that recognises the configuration score well on features that carry no signal.

"No better than the constant" is checked on the bootstrap draws of every score that has them (the
constant's value, or chance, 0, for the rank correlations it does not have): noise fails when its
*whole* bootstrap distribution lies on the better side, a one-sided test at p < 1/1000. The
leaderboard's 95% interval would be the literal criterion, but this file makes 126 such checks, so
at 95% a few would fail by chance alone; at 1/1000 a failure means a signal, and leakage gives a
large one (see the last test). The pair scores (granulated Kendall, CMI, PGDL) have no constant
value and no bootstrap; docs/protocol.md says what their chance level is.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import yaml
from omegaconf import OmegaConf

from benchmark.evaluation import Protocol, build_regressor, evaluate_feature_set
from benchmark.evaluation.metrics import LOWER_IS_BETTER, RANK_METRICS
from benchmark.evaluation.protocol import BOOTSTRAP_METRICS, PAIR_METRICS, Evaluation

from .conftest import CONF

PROTOCOLS = sorted(p.stem for p in (CONF / "protocol").glob("*.yaml"))
REGRESSORS = ("ridge", "random_forest", "knn")
CHANCE = {"spearman": 0.0, "kendall": 0.0}  # where the constant has no value (it ranks nothing)


def _protocol(name: str) -> dict:
    cfg = OmegaConf.to_container(OmegaConf.load(CONF / "protocol" / f"{name}.yaml"), resolve=True)
    assert isinstance(cfg, dict)
    return cfg


def _regressor(name: str):
    cfg = yaml.safe_load((CONF / "regressor" / f"{name}.yaml").read_text())
    return lambda: build_regressor(name, cfg)


def _zoo(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray]:
    """``(hparams, target, groups, group index)`` of the synthetic zoo (72 models)."""
    rows = [
        {"architecture": a, "width": w, "lr": lr, "seed": s}
        for a in ("mlp", "convnet")
        for w in (8, 16, 32, 64)
        for lr in (0.001, 0.003, 0.01)
        for s in (0, 1, 2)
    ]
    hp = pd.DataFrame(rows)
    code = hp["architecture"] + "/" + hp["width"].astype(str) + "/" + hp["lr"].astype(str)
    index = pd.factorize(code)[0]
    rng = np.random.default_rng(seed)
    y = rng.normal(size=index.max() + 1)[index] + 0.05 * rng.normal(size=len(hp))
    return hp, y, code.to_numpy(), index


def _evaluate(X, y, groups, hp, protocol: dict, make, **kw) -> Evaluation:
    return evaluate_feature_set(
        X,
        y,
        groups,
        make,
        Protocol(
            n_splits=protocol.get("n_splits", 2),
            seed=protocol["seed"],
            n_repeats=protocol.get("n_repeats", 1),
            n_bootstrap=kw.pop("n_bootstrap", protocol["n_bootstrap"]),
            ci_level=protocol["ci_level"],
            split=protocol["split"],
            top_k=protocol["top_k"],
        ),
        strata=hp[protocol["axis"]].to_numpy() if "axis" in protocol else None,
        hparams=hp,
        axes=["architecture", "width", "lr"],
        greater_is_better=True,
        **kw,
    )


def better_than_constant(noise: Evaluation, const: Evaluation) -> list[str]:
    """The bootstrapped scores where every bootstrap draw of ``noise`` is better than the constant
    predictor's value (than chance, 0, for the rank correlations the constant does not have): the
    scores where noise would claim a signal."""
    claims = []
    for m in BOOTSTRAP_METRICS:
        ref = const.value[m] if math.isfinite(const.value[m]) else CHANCE[m]
        draws = noise.draws[m][np.isfinite(noise.draws[m])]
        worst = draws.max() if m in LOWER_IS_BETTER else draws.min()
        if (m in LOWER_IS_BETTER and worst < ref) or (m not in LOWER_IS_BETTER and worst > ref):
            claims.append(
                f"{m}: {noise.value[m]:.3f}, every draw better than the constant's {ref:.3f} "
                f"(95% interval [{noise.ci_low[m]:.3f}, {noise.ci_high[m]:.3f}])"
            )
    return claims


@pytest.mark.parametrize("name", PROTOCOLS)
def test_noise_scores_no_better_than_the_constant(name):
    protocol = _protocol(name)
    hp, y, groups, index = _zoo()
    rng = np.random.default_rng(2)
    per_model = rng.normal(size=(len(y), 3))  # noise, model by model
    per_group = rng.normal(size=(index.max() + 1, 2))[index]  # noise shared by the seeds of a configuration
    const = _evaluate(None, y, groups, hp, protocol, None)
    for reg in REGRESSORS:
        for label, X in (("per-model noise", per_model), ("per-configuration noise", per_group)):
            noise = _evaluate(X, y, groups, hp, protocol, _regressor(reg))
            assert not better_than_constant(noise, const), (name, reg, label, better_than_constant(noise, const))
    for m in (*RANK_METRICS, *PAIR_METRICS):
        assert math.isnan(const.value[m])
    assert const.n_used == len(y) and const.n_folds > 0


@pytest.mark.parametrize("name", PROTOCOLS)
def test_feature_equal_to_the_target_scores_perfectly(name):
    protocol = _protocol(name)
    hp, y, groups, _ = _zoo()
    linear = lambda: build_regressor("linear", {"_target_": "sklearn.linear_model.LinearRegression"})  # noqa: E731
    ev = _evaluate(y[:, None], y, groups, hp, protocol, linear)
    perfect = {
        "r2": 1.0,
        "mae": 0.0,
        "rmse": 0.0,
        "spearman": 1.0,
        "kendall": 1.0,
        "regret": 0.0,
        "precision_at_k": 1.0,
        "granulated_kendall": 1.0,
        "cmi": 1.0,
        "pgdl": 1.0,
    }
    for m, best in perfect.items():
        assert ev.value[m] == pytest.approx(best, abs=1e-9), (name, m, ev.value[m])
    for m in BOOTSTRAP_METRICS:  # every resample scores perfectly too
        if m == "precision_at_k":  # copies of a model in a resample tie, and ties at the k-th place are
            continue  # broken at random in each ranking: a resample can score below 1 (docs/protocol.md)
        assert ev.ci_low[m] == pytest.approx(perfect[m], abs=1e-9), (name, m)
        assert ev.ci_high[m] == pytest.approx(perfect[m], abs=1e-9), (name, m)


def test_the_check_catches_a_leaky_split():
    """The same noise under a split that ignores configurations (each model its own group, so
    sibling seeds straddle train and test) claims a signal: the checks above can fail."""
    protocol = _protocol("group_kfold")
    hp, y, _, index = _zoo()
    per_group = np.random.default_rng(2).normal(size=(index.max() + 1, 2))[index]
    leaky_groups = np.arange(len(y)).astype(str)
    const = _evaluate(None, y, leaky_groups, hp, protocol, None, n_bootstrap=300)
    for reg in ("random_forest", "knn"):
        leaky = _evaluate(per_group, y, leaky_groups, hp, protocol, _regressor(reg), n_bootstrap=300)
        claims = better_than_constant(leaky, const)
        assert claims, reg
        if reg == "random_forest":  # the strongest leak: its rank scores alone give it away
            assert any(c.startswith(("spearman", "kendall")) for c in claims), (reg, claims)
