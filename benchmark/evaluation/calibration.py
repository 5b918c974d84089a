"""How wide the bootstrap draws of a cross-validated score are, against how much the score itself varies.

For a feature drawn afresh many times (pure noise on a committed zoo's targets, or a simulated zoo
drawn afresh with a feature of chosen strength), the ratio ``sd(score over draws) / mean(sd of a
draw's bootstrap draws)`` is 1 when the draws are calibrated, above 1 when the intervals are too
narrow. docs/protocol.md ("Widened for refitting") quotes what this prints::

    landscape-bench-calibration leaderboards/digits_cnn.models.csv test_accuracy
    landscape-bench-calibration --simulate 1.5
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from sklearn.dummy import DummyRegressor
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmark.evaluation.bootstrap import refit_inflation
from benchmark.evaluation.protocol import Protocol, evaluate_feature_set, out_of_fold_predictions

Draw = Callable[[int], tuple[np.ndarray, np.ndarray, np.ndarray]]
"""Draw d -> ``(X, y, groups)``: one feature and zoo, seeded by d."""


def ridge():
    return make_pipeline(StandardScaler(), Ridge())


def spread_ratio(
    draw: Draw, protocol: Protocol, score: str = "spearman", n_draws: int = 40
) -> tuple[float, float, float]:
    """``(sd of the score over draws, mean sd of each draw's bootstrap draws, their widening factor)``
    of ridge on ``draw``'s features under ``protocol`` (group K-fold); the draws' sd before widening is
    the second over the third."""
    values, spreads, factors = [], [], []
    for d in range(n_draws):
        X, y, groups = draw(d)
        ev = evaluate_feature_set(X, y, groups, ridge, protocol)
        values.append(ev.value[score])
        spreads.append(float(np.nanstd(ev.draws[score])))
        _, folds = out_of_fold_predictions(
            DummyRegressor, X, y, groups, protocol.n_splits, protocol.seed, protocol.n_repeats
        )
        factors.append(refit_inflation(folds, np.zeros(len(y))))
    return float(np.std(values, ddof=1)), float(np.mean(spreads)), float(np.mean(factors))


def noise_on(y: np.ndarray, groups: np.ndarray) -> Draw:
    """A fresh standard normal feature per model on fixed targets (the null)."""
    return lambda d: (np.random.default_rng(d).normal(size=(len(y), 1)), y, groups)


def simulated(slope: float, n_configs: int = 100, seeds: int = 2) -> Draw:
    """A fresh zoo per draw: configuration effects plus seed noise, and a feature ``slope · y + noise``."""

    def draw(d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng = np.random.default_rng(d)
        g = np.repeat(np.arange(n_configs), seeds)
        y = rng.normal(size=n_configs)[g] + 0.3 * rng.normal(size=len(g))
        return (slope * y + rng.normal(size=len(g)))[:, None], y, g.astype(str)

    return draw


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="landscape-bench-calibration", description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="?", help="a leaderboards/<zoo>.models.csv (with 'group' and the target)")
    parser.add_argument("target", nargs="?", help="the target column, e.g. test_accuracy")
    parser.add_argument("--simulate", type=float, metavar="SLOPE", help="a simulated zoo, feature slope·y + noise")
    parser.add_argument("--draws", type=int, default=40)
    parser.add_argument("--bootstrap", type=int, default=300)
    args = parser.parse_args(argv)
    if args.simulate is None and not (args.models and args.target):
        parser.error("give a models CSV and its target, or --simulate SLOPE")
    if args.simulate is not None:
        draw, what = simulated(args.simulate), f"simulated zoo, feature slope {args.simulate}"
    else:
        table = pd.read_csv(args.models)
        if args.target not in table:
            parser.error(f"{args.models} has no column {args.target!r}; columns: {list(table.columns)}")
        draw = noise_on(table[args.target].to_numpy(np.float64), table["group"].astype(str).to_numpy())
        what = f"noise on {args.models}:{args.target}"
    sd, spread, factor = spread_ratio(draw, Protocol(n_bootstrap=args.bootstrap), n_draws=args.draws)
    print(
        f"{what}; ridge, group K-fold, {args.draws} draws: sd of Spearman {sd:.4f}; mean sd of its bootstrap "
        f"draws {spread:.4f} widened, {spread / factor:.4f} unwidened (factor {factor:.2f}); ratio {sd / spread:.2f} "
        f"widened, {sd * factor / spread:.2f} unwidened"
    )


if __name__ == "__main__":
    main()
