"""Diagram feature sets: vectorizers and distances learned inside the folds."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from benchmark.evaluation.diagrams import (
    VECTORIZERS,
    DiagramDistances,
    DiagramKNNRegressor,
    DiagramLookup,
    diagram_distance,
    diagram_pipeline,
    finite_pairs,
)
from benchmark.evaluation.protocol import out_of_fold_predictions


def _diagrams(n: int = 24, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Model i has i % 6 + 1 pairs of persistence 0.1 * (i % 6 + 1), plus an essential pair; the
    target grows with the number of pairs."""
    rng = np.random.default_rng(seed)
    diagrams, y = [], []
    for i in range(n):
        k = i % 6 + 1
        births = rng.random(k)
        d = np.column_stack([births, births + 0.1 * k])
        diagrams.append(np.vstack([d, [[0.0, np.inf]]]))
        y.append(float(k))
    return diagrams, np.array(y)


def test_lookup_returns_finite_pairs_of_the_indexed_models():
    diagrams, _ = _diagrams(4)
    out = DiagramLookup(diagrams).fit_transform(np.array([[2.0], [0.0]]))
    assert len(out) == 2 and np.array_equal(out[0], finite_pairs(diagrams[2])) and len(out[1]) == 1
    assert np.isfinite(np.vstack(out)).all()


def test_bottleneck_by_hand():
    a = np.array([[0.0, 1.0], [0.0, np.inf]])
    b = np.array([[0.0, 1.2]])
    assert diagram_distance(a, b) == pytest.approx(0.2)  # the matching moves (0, 1) to (0, 1.2)
    assert diagram_distance(a, np.empty((0, 2))) == pytest.approx(0.5)  # to the diagonal: (1 - 0) / 2


@pytest.mark.parametrize("name", VECTORIZERS)
def test_vectorized_diagrams_predict_out_of_fold(name):
    diagrams, y = _diagrams()
    X = np.arange(len(y), dtype=float)[:, None]
    groups = np.arange(len(y)) // 2
    preds, _ = out_of_fold_predictions(lambda: diagram_pipeline(diagrams, name, Ridge(1e-3)), X, y, groups, 4, 0)
    assert np.corrcoef(preds[0], y)[0, 1] > 0.7


def test_vectorizer_is_fitted_on_the_training_fold_only():
    diagrams, y = _diagrams()
    pipe = diagram_pipeline(diagrams, "betti_curve", Ridge()).fit(np.arange(12.0)[:, None], y[:12])
    grid = pipe.steps[1][1].grid_  # sample points learned from the 12 training diagrams only
    train = np.vstack([finite_pairs(diagrams[i]) for i in range(12)])
    everything = np.vstack([finite_pairs(d) for d in diagrams])
    assert grid.max() <= train.max() + 1e-12 < everything.max()


def test_diagram_knn_by_hand():
    diagrams = [np.array([[0.0, 1.0]]), np.array([[0.0, 1.1]]), np.array([[0.0, 3.0]]), np.array([[0.0, 2.9]])]
    distances = DiagramDistances(diagrams)
    knn = DiagramKNNRegressor(distances, n_neighbors=1).fit(np.array([[0], [2]]), np.array([10.0, 30.0]))
    np.testing.assert_array_equal(knn.predict(np.array([[1], [3]])), [10.0, 30.0])
    knn2 = DiagramKNNRegressor(distances, n_neighbors=2).fit(np.array([[0], [2]]), np.array([10.0, 30.0]))
    np.testing.assert_array_equal(knn2.predict(np.array([[1]])), [20.0])
    expected = [[diagram_distance(a, b) for b in diagrams] for a in diagrams]
    np.testing.assert_allclose(distances.matrix, expected, atol=1e-12)  # every pair, computed once
    with pytest.raises(ValueError, match="diagram distance 'l2' is unknown"):
        diagram_distance(diagrams[0], diagrams[1], "l2")
    with pytest.raises(ValueError, match="diagram distance 'l2' is unknown"):
        DiagramDistances(diagrams, "l2")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("+evaluation.diagram_sets.bad={homology: 0, vectorizer: pixels}", "vectorizer='pixels' is unknown"),
        ("+evaluation.diagram_sets.bad={homology: 0, distance: l1}", "distance='l1' is unknown"),
        ("+evaluation.diagram_sets.bad={homology: 2, distance: bottleneck}", "homology=2 must be in 0..1"),
    ],
)
def test_bad_diagram_sets_are_refused(override, message, tmp_path):
    from benchmark.pipeline import ConfigError, validate
    from tests.conftest import compose_plain

    with pytest.raises(ConfigError, match=message):
        validate(compose_plain([override], tmp_path))


def test_diagram_sets_reach_the_leaderboard(tmp_path):
    from benchmark.pipeline import run
    from tests.conftest import compose_plain

    cfg = compose_plain(
        [
            "experiment=tiny",
            "threads=1",
            "+evaluation.diagram_sets.h0_image={homology: 0, vectorizer: silhouette}",
            "evaluation.targets=[test_accuracy]",  # one target, no conditional fits: the diagram rows are the point
            "evaluation.conditional.baselines=null",
        ],
        tmp_path,
    )
    frame = run(cfg).scores_frame()
    rows = frame[frame["feature_set"].isin(["h0_image", "h0_bottleneck"])]
    assert set(rows["regressor"]) == {"ridge", "random_forest", "knn_bottleneck"}
    assert set(rows["kind"]) == {"topology"} and (rows["n_models"] == 8).all()


@pytest.mark.parametrize("name", VECTORIZERS)
def test_folds_of_empty_diagrams_predict_finite_values(name):
    # single-basin landscapes: no finite H0 pair; a fold of only those has no vectorizer range
    diagrams = [np.array([[0.0, np.inf]])] * 6 + [np.array([[0.0, 1.0], [0.0, np.inf]])] * 2
    y = np.arange(8.0)
    pipe = diagram_pipeline(diagrams, name, Ridge()).fit(np.arange(6.0)[:, None], y[:6])
    assert np.isfinite(pipe.predict(np.arange(8.0)[:, None])).all()
