"""Leave-one-zoo-out transfer (benchmark.studies.transfer): feature scaling, shared columns, and
scores that are perfect for a feature that orders every zoo and at chance for noise."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from benchmark.evaluation.protocol import CONSTANT
from benchmark.studies import transfer
from benchmark.studies.transfer import ZooTable, common_columns, standardise_within, transfer_rows

PROTOCOL = {"seed": 0, "n_bootstrap": 200, "ci_level": 0.95, "top_k": 3}
LINEAR = {"linear": {"_target_": "sklearn.linear_model.LinearRegression"}}


def _zoo(name: str, offset: float, scale: float, rng: np.random.Generator, extra: str | None = None) -> ZooTable:
    """12 configurations x 2 seeds; ``geometry__x`` is the accuracy on a zoo-specific affine scale,
    ``homology__x`` is noise; accuracies sit at a zoo-specific level."""
    group = np.repeat(np.arange(12), 2)
    acc = 0.5 + offset + 0.03 * rng.normal(size=12)[group] + 0.002 * rng.normal(size=24)
    features = pd.DataFrame({"geometry__x": 10 * offset + scale * acc, "homology__x": rng.normal(size=24)})
    if extra:
        features[extra] = rng.normal(size=24)
    return ZooTable(
        zoo=name,
        features=features,
        targets=pd.DataFrame({"test_accuracy": acc, **({"only_here": acc} if extra else {})}),
        groups=np.array([f"{name}:{g}" for g in group]),
        greater_is_better={"test_accuracy": True, "only_here": True},
    )


def _tables() -> list[ZooTable]:
    rng = np.random.default_rng(0)
    return [_zoo("a", 0.0, 1.0, rng, extra="hessian__layer_0"), _zoo("b", 0.3, 5.0, rng), _zoo("c", -0.2, 0.2, rng)]


SETS = {
    CONSTANT: ("baseline", []),
    "geometry": ("geometry", ["geometry"]),
    "homology": ("topology", ["homology"]),
    "hessian": ("curvature", ["hessian"]),
}


def test_standardise_within_each_zoo():
    frame = pd.DataFrame({"a": [1.0, 3.0, 10.0, 20.0, 30.0], "b": [5.0, 5.0, 1.0, np.nan, 3.0]})
    zoos = np.array(["x", "x", "y", "y", "y"])
    out = standardise_within(frame, zoos)
    assert out["a"].tolist() == pytest.approx([-1.0, 1.0, -math.sqrt(1.5), 0.0, math.sqrt(1.5)])
    assert out["b"].iloc[:2].tolist() == [0.0, 0.0]  # constant within zoo x
    assert out["b"].iloc[[2, 4]].tolist() == pytest.approx([-1.0, 1.0]) and math.isnan(out["b"].iloc[3])
    assert frame["a"].tolist() == [1.0, 3.0, 10.0, 20.0, 30.0]  # the input is not modified


def test_common_columns_keep_what_every_zoo_has():
    tables = _tables()
    assert common_columns([t.features for t in tables], ["geometry", "hessian"]) == ["geometry__x"]
    assert common_columns([t.features for t in tables[:1]], ["hessian"]) == ["hessian__layer_0"]


def test_a_feature_that_orders_every_zoo_transfers_and_noise_does_not():
    rows = transfer_rows(_tables(), SETS, LINEAR, PROTOCOL, scaling="zoo")
    by = {(r.target, r.feature_set): r for r in rows}
    assert {r.target for r in rows} == {"test_accuracy"}  # the only target every zoo has
    assert ("test_accuracy", "hessian") not in by  # its one column is in one zoo only: skipped
    good, noise, const = (by[("test_accuracy", n)] for n in ("geometry", "homology", CONSTANT))
    assert good.zoo == "a+b+c" and good.protocol == "leave_one_zoo_out" and good.n_folds == 3
    assert good.value["spearman"] == pytest.approx(1.0) and good.value["regret"] == pytest.approx(0.0)
    assert good.ci_low["spearman"] > noise.ci_high["spearman"] or noise.ci_low["spearman"] <= 0.0
    assert noise.ci_low["spearman"] <= 0.0 <= noise.ci_high["spearman"]
    assert math.isnan(const.value["spearman"])
    assert 0.0 <= good.win_rate["r2"] <= 1.0  # paired with the constant on the same resamples


def test_scaling_none_keeps_raw_values():
    """Raw features carry each zoo's level (here the offsets of ``geometry__x`` follow the zoos'
    accuracy levels), which z-scoring within zoos removes: the fits differ."""
    raw = {r.feature_set: r for r in transfer_rows(_tables(), SETS, LINEAR, PROTOCOL, scaling="none")}
    scaled = {r.feature_set: r for r in transfer_rows(_tables(), SETS, LINEAR, PROTOCOL, scaling="zoo")}
    assert raw["geometry"].value["mae"] != pytest.approx(scaled["geometry"].value["mae"], rel=1e-3)
    assert raw[CONSTANT].value == scaled[CONSTANT].value


def test_bad_requests_are_named():
    with pytest.raises(ValueError, match="two or more zoos"):
        transfer_rows(_tables()[:1], SETS, LINEAR, PROTOCOL)
    with pytest.raises(ValueError, match="repeat a zoo"):
        transfer_rows([*_tables(), _tables()[0]], SETS, LINEAR, PROTOCOL)
    with pytest.raises(ValueError, match="scaling='rank'"):
        transfer_rows(_tables(), SETS, LINEAR, PROTOCOL, scaling="rank")


def test_command_writes_the_leaderboard(tmp_path, monkeypatch):
    tables = {t.zoo: t for t in _tables()}
    names = {"default": "a", "digits_cnn": "b", "mnist1d": "c"}
    monkeypatch.setattr(transfer, "zoo_table", lambda cfg: tables[names[cfg["name"]]])
    overrides = ["regressor=[ridge]", "descriptors=[geometry,homology]"]
    code = transfer.main(["--experiments", *names, "--out", str(tmp_path), *overrides])
    assert code == 0
    frame = pd.read_csv(tmp_path / "transfer.csv")
    assert set(frame["zoo"]) == {"a+b+c"} and set(frame["regressor"]) == {"ridge", "mean"}
    assert set(frame["feature_set"]) == {CONSTANT, "geometry", "homology"}
    md = (tmp_path / "transfer.md").read_text()
    command = " ".join(["landscape-bench-transfer", *overrides, "--experiments", *names])
    assert command in md
    assert transfer.main([*command.split()[1:], "--out", str(tmp_path / "again")]) == 0  # the recorded command reruns
    pd.testing.assert_frame_equal(frame, pd.read_csv(tmp_path / "again" / "transfer.csv"))
    assert "## a+b+c: test_accuracy (leave_one_zoo_out)" in md


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--experiments", "default", "dynamics"], "repeat a zoo"),  # both are digits_mlp
        (["--experiments", "default"], "two or more zoos"),
        (["--experiments", "default", "no_such_zoo"], "no_such_zoo"),
        (["landscape.steps=[3", "--experiments", "default", "mnist1d"], "malformed"),
        (["protocol.split=bogus", "--experiments", "default", "mnist1d"], "protocol.split='bogus'"),
    ],
)
def test_bad_requests_are_refused_before_any_experiment_runs(args, message, monkeypatch, caplog, tmp_path):
    def must_not_run(cfg):
        raise AssertionError(f"experiment {cfg['name']} ran before the request was checked")

    monkeypatch.setattr(transfer, "zoo_table", must_not_run)
    assert transfer.main([*args, "--out", str(tmp_path)]) == 2
    assert message in caplog.text
    assert not (tmp_path / "transfer.csv").exists()
