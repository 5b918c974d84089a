"""A pure-noise feature scores like noise under every protocol (docs/protocol.md, "Rank scores within
test folds").

A fresh random number per model, cross-validated with ridge, must have a mean Spearman and Kendall τ
within two standard errors of zero over 20 noise draws, and a 95% interval that covers zero in at
least 17 of them (an undefined interval claims nothing and counts as covering). Pooled across test
folds the rank scores fail this: the training-fold mean drops when a high-target group is held out,
so the pooled predictions anti-correlate with the targets. The fast test uses a synthetic zoo with
strong configuration effects (where that bias is largest). The slow one uses every committed zoo
(``leaderboards/<zoo>.models.csv``: the models' groups, hyperparameters and targets) under every
protocol of ``conf/protocol`` that applies to it: group K-fold (with the experiment's folds), and
within and leave-one-architecture-out where the architecture varies. There the checks number in the
dozens and noise itself fails a few of them, so it prints every failing cell and allows as many as
chance does (binomial, p < 0.001).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import binom
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmark.evaluation import Protocol, evaluate_feature_set
from benchmark.suite import load_suite

ROOT = Path(__file__).resolve().parents[1]
DRAWS = 20
RANKS = ("spearman", "kendall")


def ridge():
    return make_pipeline(StandardScaler(), Ridge())


def null_draws(y: np.ndarray, groups: np.ndarray, protocol: Protocol, strata=None) -> dict[str, np.ndarray]:
    """``(value, ci_low, ci_high)`` of each rank score for each of :data:`DRAWS` noise features."""
    out = {m: [] for m in RANKS}
    for draw in range(DRAWS):
        noise = np.random.default_rng(draw).normal(size=(len(y), 1))
        ev = evaluate_feature_set(noise, y, groups, ridge, protocol, strata=strata)
        for m in RANKS:
            out[m].append((ev.value[m], ev.ci_low[m], ev.ci_high[m]))
    return {m: np.array(v) for m, v in out.items()}


def violations(draws: dict[str, np.ndarray], where: str) -> list[str]:
    """What a noise feature's draws get wrong: an undefined score, a mean beyond two standard errors of
    zero, an interval covering zero in fewer than 17 of the 20 draws; one message each."""
    out = []
    for m, v in draws.items():
        value, low, high = v[:, 0], v[:, 1], v[:, 2]
        if not np.isfinite(value).all():
            out.append(f"{where}: {m} undefined for a noise feature")
            continue
        se = value.std(ddof=1) / np.sqrt(len(value))
        if abs(value.mean()) > 2 * se:
            out.append(f"{where}: mean {m} {value.mean():.3f} is not within 2 SE ({se:.3f}) of 0")
        covers = int((~(low > 0) & ~(high < 0)).sum())  # an undefined interval (NaN) claims nothing
        if covers < 17:
            out.append(f"{where}: {m}'s 95% interval covers 0 in only {covers} of {DRAWS} noise draws")
    return out


def assert_like_noise(draws: dict[str, np.ndarray], where: str) -> None:
    problems = violations(draws, where)
    assert not problems, "; ".join(problems)


def synthetic_zoo(n_configs: int = 16, seeds: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Targets dominated by the configuration (a large group effect, small seed noise), two strata."""
    rng = np.random.default_rng(123)
    effect = rng.normal(size=n_configs)
    groups = np.repeat(np.arange(n_configs), seeds)
    y = effect[groups] + 0.1 * rng.normal(size=len(groups))
    strata = np.where(groups % 2 == 0, "a", "b")
    return y, groups.astype(str), strata


@pytest.mark.parametrize(
    "protocol",
    [
        Protocol(n_bootstrap=300),
        Protocol(name="within_s", split="within", axis="s", n_splits=2, n_bootstrap=300),
        Protocol(name="leave_one_s_out", split="leave_one_out", axis="s", n_bootstrap=300),
    ],
    ids=lambda p: p.name,
)
def test_noise_scores_like_noise_on_a_synthetic_zoo(protocol: Protocol) -> None:
    y, groups, strata = synthetic_zoo()
    assert_like_noise(null_draws(y, groups, protocol, strata), f"synthetic zoo, {protocol.name}")


def committed_zoos() -> list[tuple[str, pd.DataFrame, dict]]:
    """Each suite experiment's committed models, with the protocol settings its YAML changes."""
    zoos = []
    for entry in load_suite(ROOT / "conf"):
        path = ROOT / "leaderboards" / f"{entry.name}.models.csv"
        if path.is_file():
            own = yaml.safe_load(entry.path.read_text()).get("protocol") or {}
            zoos.append((entry.name, pd.read_csv(path), {k: own[k] for k in ("n_splits", "n_repeats") if k in own}))
    return zoos


def stratum_axis(table: pd.DataFrame) -> str | None:
    """The architecture column when it varies (the axis of conf/protocol/within_architecture.yaml and
    leave_one_architecture_out.yaml), else None: those protocols do not apply to the zoo."""
    column = "hp:architecture"
    return column if column in table and table[column].nunique() > 1 else None


@pytest.mark.slow
def test_noise_scores_like_noise_on_every_committed_zoo_and_protocol() -> None:
    zoos = committed_zoos()
    assert zoos, "no leaderboards/<experiment>.models.csv committed; run make leaderboards"
    cells: list[str] = []
    problems: list[str] = []
    for name, table, own in zoos:
        targets = [c for c in table.columns if c not in ("model_id", "group") and not c.startswith("hp:")]
        groups = table["group"].astype(str).to_numpy()
        axis = stratum_axis(table)
        own = {"n_bootstrap": 500, **own}  # 1,690 models (model_diagnosis) x 20 draws x 3 protocols
        protocols = [(Protocol(**own), None)]
        if axis is not None:
            strata = table[axis].astype(str).to_numpy()
            per_stratum = pd.Series(groups).groupby(strata).nunique().min()
            if per_stratum >= 2:
                within = {"n_splits": 2, **own} if per_stratum >= own.get("n_splits", 2) else {**own, "n_splits": 2}
                protocols.append((Protocol(name="within", split="within", axis=axis, **within), strata))
            protocols.append((Protocol(name="leave_one_out", split="leave_one_out", axis=axis), strata))
        for target in targets:
            y = table[target].to_numpy(dtype=np.float64)
            for protocol, strata in protocols:
                where = f"{name}/{target}/{protocol.name}"
                cells.append(where)
                problems += violations(null_draws(y, groups, protocol, strata), where)
    print(f"{len(cells)} (zoo, target, protocol) cells, two rank scores each; violations: {problems or 'none'}")
    # Each check fails for pure noise with a known probability: the mean beyond 2 SE in 4.6% of cells,
    # coverage below 17 of 20 in 1.6% (binomial, at exact 95% coverage). Over this many checks a few
    # such failures are what noise does; more than chance allows (p < 0.001) means a biased protocol.
    checks = len(RANKS) * len(cells)
    kinds = {"undefined": 0.0, "not within 2 SE": 0.0455, "covers 0 in only": binom.cdf(16, DRAWS, 0.95)}
    for kind, rate in kinds.items():
        found = [p for p in problems if kind in p]
        allowed = int(binom.ppf(0.999, checks, rate)) if rate else 0
        assert len(found) <= allowed, f"{len(found)} of {checks} checks fail ({kind}; chance allows {allowed}): {found}"
