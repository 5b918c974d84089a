"""Plot functions return a Figure with the expected panels on small synthetic inputs (fast)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from benchmark.records import Landscape, ModelRecord
from benchmark.report.plots import (
    best_features,
    feature_scatter_figure,
    landscape_gallery_figure,
    score_bars_figure,
    spanning_models,
    write_run_plots,
)


def _scores() -> pd.DataFrame:
    rows = []
    for target in ("test_accuracy", "generalization_gap"):
        for feature_set, kind in (("merge_tree", "topology"), ("hessian", "curvature"), ("hparams", "reference")):
            for k, regressor in enumerate(("ridge", "random_forest")):
                v = 0.1 * k + (0.3 if kind == "reference" else 0.0)
                rows.append((target, feature_set, kind, regressor, v, v - 0.2, v + 0.2, v - 1.5, -40.0, v + 0.1))
        rows.append((target, "constant", "baseline", "mean", NAN, NAN, NAN, -0.1, -0.5, 0.0))
    columns = ["target", "feature_set", "kind", "regressor"]
    columns += ["spearman_value", "spearman_ci_low", "spearman_ci_high", "r2_value", "r2_ci_low", "r2_ci_high"]
    frame = pd.DataFrame(rows, columns=columns)
    frame.insert(0, "zoo", "z")
    return frame


NAN = math.nan


def _features(n: int = 9) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = [f"m{i}" for i in range(n)]
    x = np.arange(n, dtype=float)
    features = pd.DataFrame(
        {
            "merge_tree__n_minima": (x % 3),
            "merge_tree__persistence_max": x**2,  # monotone in the target: |rho| = 1
            "hessian__trace": np.sin(x),
            "param_count__n_params": np.full(n, 100.0),  # constant: no feature varies
        },
        index=pd.Index(ids, name="model_id"),
    )
    targets = pd.DataFrame({"test_accuracy": -x, "generalization_gap": np.cos(x)}, index=ids)
    return features, targets


def _landscape(model_id: str, ndim: int, shift: float) -> Landscape:
    axes = tuple(np.linspace(-1.0, 1.0, 7) for _ in range(ndim))
    mesh = np.meshgrid(*axes, indexing="ij")
    values = sum((m - shift) ** 2 for m in mesh) + 0.3 * np.cos(4 * mesh[0])
    values = np.asarray(values, dtype=float)
    if ndim == 2:
        values[0, 0] = np.nan  # a masked node
    return Landscape(model_id, "loss", axes, values, tuple(1.0 for _ in range(ndim)), {})


def test_score_bars_one_panel_per_metric_and_cell():
    fig = score_bars_figure(_scores())
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2 * 2
    fig = score_bars_figure(_scores(), metrics=("r2",))
    assert len(fig.axes) == 2
    # each feature set once, with its best regressor: 3 feature sets + constant in an R2 panel
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert sorted(labels) == [
        "constant (mean)",
        "hessian (random_forest)",
        "hparams (random_forest)",
        "merge_tree (random_forest)",
    ]


def test_score_bars_panel_without_defined_scores():
    frame = _scores()
    frame["spearman_value"] = NAN
    fig = score_bars_figure(frame, metrics=("spearman",))
    assert len(fig.axes) == 2
    assert "no defined scores" in [t.get_text() for t in fig.axes[0].texts]


def test_best_features_picks_largest_rank_correlation():
    features, targets = _features()
    best = best_features(features, targets["test_accuracy"])
    assert best["merge_tree"][0] == "merge_tree__persistence_max"
    assert best["merge_tree"][1] == pytest.approx(-1.0)
    assert best["param_count"][0] == "" and math.isnan(best["param_count"][1])


def test_feature_scatter_one_panel_per_target_and_descriptor():
    features, targets = _features()
    fig = feature_scatter_figure(features, targets)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2 * 3
    assert "no feature varies" in [t.get_text() for t in fig.axes[2].texts]


def test_spanning_models_covers_the_range():
    assert spanning_models([5.0, NAN, 1.0, 3.0, 2.0, 4.0], 3) == [2, 3, 0]
    assert spanning_models([2.0, 1.0], 4) == [1, 0]
    assert spanning_models([NAN], 4) == []


def test_landscape_gallery_two_panels_per_model_any_grid_dimension():
    landscapes = [_landscape(f"m{i}", ndim, 0.1 * i) for i, ndim in enumerate((2, 1, 3, 2, 2))]
    fig = landscape_gallery_figure(landscapes, [0.1, 0.5, 0.9, 0.3, 0.7], "test_accuracy", n=3)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2 * 3
    fig = landscape_gallery_figure(landscapes[:2], [0.1, 0.5], "test_accuracy", n=4)
    assert len(fig.axes) == 2 * 2
    with pytest.raises(ValueError, match="one value per landscape"):
        landscape_gallery_figure(landscapes, [0.1], "test_accuracy")


def test_write_run_plots_writes_three_pngs(tmp_path):
    features, targets = _features(5)
    models = [
        ModelRecord(mid, "z", "classification", {"name": "mlp"}, "digits", {}, 0, mid, 1, dict(targets.loc[mid]), {})
        for mid in features.index
    ]
    landscapes = [_landscape(mid, 2, 0.1 * i) for i, mid in enumerate(features.index)]
    paths = write_run_plots(_scores(), features, models, list(targets.columns), landscapes, tmp_path, "run")
    assert [p.name for p in paths] == ["run.scores.png", "run.scatter.png", "run.gallery.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)
