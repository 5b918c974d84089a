"""Persistence diagrams as regression inputs, learned inside each training fold.

A diagram is not a fixed-length vector, so a diagram feature set passes each model's *row index*
as its single feature; :class:`DiagramLookup` turns indices back into diagrams inside the
scikit-learn pipeline. Whatever is fitted on diagrams (a vectorizer's ranges, a persistence
image's weighting, the neighbours of a k-NN) is therefore fitted on the training fold only.

- :func:`diagram_pipeline`: ``DiagramLookup -> DiagramSelector(finite) -> vectorizer ->`` a regressor
  (persistence images, persistence landscapes, Betti curves or silhouettes from
  ``gudhi.representations``);
- :class:`DiagramKNNRegressor`: k nearest training diagrams by bottleneck (or, with POT installed,
  Wasserstein) distance.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gudhi
import gudhi.representations as rep
import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer

VECTORIZERS = ("persistence_image", "landscape", "betti_curve", "silhouette")
DISTANCES = ("bottleneck", "wasserstein")


def finite_pairs(diagram: np.ndarray) -> np.ndarray:
    """The finite (birth, death) pairs of a diagram, shape ``(k, 2)``; essential pairs dropped."""
    d = np.asarray(diagram, dtype=np.float64).reshape(-1, 2)
    return d[np.isfinite(d).all(axis=1)]


class DiagramLookup(TransformerMixin, BaseEstimator):
    """``X`` (one column of model row indices) -> the list of those models' diagrams."""

    def __init__(self, diagrams: Sequence[np.ndarray]) -> None:
        self.diagrams = diagrams

    def fit(self, X: np.ndarray, y: Any = None) -> DiagramLookup:
        return self

    def transform(self, X: np.ndarray) -> list[np.ndarray]:
        return [finite_pairs(self.diagrams[int(i)]) for i in np.asarray(X).reshape(len(X), -1)[:, 0]]


def vectorizer(name: str, resolution: int = 20) -> TransformerMixin:
    """A ``gudhi.representations`` vectorizer whose sample range is fitted on the training diagrams."""
    if name == "persistence_image":
        return rep.PersistenceImage(resolution=[resolution, resolution])
    if name == "landscape":
        return rep.Landscape(num_landscapes=3, resolution=resolution)
    if name == "betti_curve":
        return rep.BettiCurve(resolution=resolution)
    if name == "silhouette":
        return rep.Silhouette(resolution=resolution)
    raise ValueError(f"diagram vectorizer {name!r} is unknown; use one of {VECTORIZERS}.")


def empty_as_zero(X: np.ndarray) -> np.ndarray:
    """Vectors of diagrams with NaN entries set to 0: a vectorizer fitted on training diagrams that
    are all empty (single-basin landscapes have no finite H0 pair) has no range and returns NaN;
    an empty diagram is the zero function in every vectorization."""
    return np.nan_to_num(np.asarray(X, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)


class CommonScale(TransformerMixin, BaseEstimator):
    """Centre each column on its training-fold mean and divide every column by one scale: the root
    mean square of all centred training entries (1 when they are all 0).

    The entries of one vectorization of diagrams (the pixels of a persistence image, the samples of a
    landscape) share their units, so they are scaled together, keeping their relative sizes. A
    per-column standard scaler would instead blow up entries that hardly vary on the training fold:
    a persistence-image pixel holding only Gaussian tails (a spread of 1e-13) becomes, on a held-out
    diagram with a point nearby (2e-6 there), a z-score of 1e7, and a linear fit predicts 1e5 times
    the targets' range.
    """

    def fit(self, X: np.ndarray, y: Any = None) -> CommonScale:
        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        rms = float(np.sqrt(np.mean((X - self.mean_) ** 2))) if X.size else 0.0
        self.scale_ = rms if rms > 0 else 1.0
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return (np.asarray(X, dtype=np.float64) - self.mean_) / self.scale_


def diagram_pipeline(
    diagrams: Sequence[np.ndarray], name: str, regressor: BaseEstimator, resolution: int = 20
) -> Pipeline:
    """Index -> diagram -> finite pairs -> vector (fitted in the fold) -> ``regressor``, whose scaling
    step (``scale`` of :func:`~benchmark.evaluation.regressors.build_regressor`) becomes
    :class:`CommonScale`: one scale for every entry of the vector."""
    if isinstance(regressor, Pipeline) and "scale" in regressor.named_steps:
        regressor = regressor.set_params(scale=CommonScale())
    return make_pipeline(
        DiagramLookup(diagrams), vectorizer(name, resolution), FunctionTransformer(empty_as_zero), regressor
    )


def diagram_distance(a: np.ndarray, b: np.ndarray, metric: str = "bottleneck") -> float:
    """Bottleneck or 1-Wasserstein distance between the finite parts of two diagrams."""
    a, b = finite_pairs(a), finite_pairs(b)
    if metric == "bottleneck":
        return float(gudhi.bottleneck_distance(a, b))
    if metric == "wasserstein":
        try:
            from gudhi.wasserstein import wasserstein_distance
        except ImportError as exc:  # gudhi's Wasserstein needs the POT package
            raise ImportError(
                f"the Wasserstein distance needs POT ({exc}); `pip install pot` or use bottleneck."
            ) from None
        return float(wasserstein_distance(a, b, order=1.0, internal_p=np.inf))
    raise ValueError(f"diagram distance {metric!r} is unknown; use one of {DISTANCES}.")


class DiagramDistances:
    """The distances between every two of a zoo's diagrams, computed once, on first use, and shared
    by every fold, repeat, target and regressor that asks: a k-NN regressor needs each test diagram's
    distance to every training one, which per row and repeat would recompute almost all ``n^2 / 2``
    pairs again (``n = 800``: about 2.9 million bottleneck distances per row instead of 320,000 for
    the run)."""

    def __init__(self, diagrams: Sequence[np.ndarray], metric: str = "bottleneck") -> None:
        if metric not in DISTANCES:
            raise ValueError(f"diagram distance {metric!r} is unknown; use one of {DISTANCES}.")
        self.diagrams = diagrams
        self.metric = metric
        self._matrix: np.ndarray | None = None

    @property
    def matrix(self) -> np.ndarray:
        """Shape ``(n, n)``, symmetric, zero diagonal."""
        if self._matrix is None:
            n = len(self.diagrams)
            m = np.zeros((n, n))
            for i in range(n):
                for j in range(i):
                    m[i, j] = m[j, i] = diagram_distance(self.diagrams[i], self.diagrams[j], self.metric)
            self._matrix = m
        return self._matrix


class DiagramKNNRegressor(RegressorMixin, BaseEstimator):
    """Mean target of the ``n_neighbors`` training diagrams nearest to each test diagram
    (ties broken by training order); ``X`` holds model row indices into the diagrams of ``distances``."""

    def __init__(self, distances: DiagramDistances, n_neighbors: int = 3) -> None:
        self.distances = distances
        self.n_neighbors = n_neighbors

    def fit(self, X: np.ndarray, y: np.ndarray) -> DiagramKNNRegressor:
        self.train_ = np.asarray(X).reshape(len(X), -1)[:, 0].astype(int)
        self.y_ = np.asarray(y, dtype=np.float64)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        k = min(self.n_neighbors, len(self.train_))
        test = np.asarray(X).reshape(len(X), -1)[:, 0].astype(int)
        dist = self.distances.matrix[np.ix_(test, self.train_)]
        return self.y_[np.argsort(dist, axis=1, kind="stable")[:, :k]].mean(axis=1)
