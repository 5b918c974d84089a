"""Stability study: rank agreement across variants and the descriptor flags."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.report.stability import descriptor_flags, read_flags
from benchmark.studies.stability import agreement_table, rank_agreement


def test_rank_agreement_drops_non_finite_rows_and_needs_three():
    a = pd.Series([1.0, 2.0, 3.0, 4.0, np.nan])
    b = pd.Series([10.0, 30.0, 20.0, 40.0, 5.0])
    # ranks (1,2,3,4) vs (1,3,2,4): rho = 1 - 6 * (0+1+1+0) / (4 * 15) = 0.8
    assert rank_agreement(a, b) == pytest.approx(0.8)
    assert np.isnan(rank_agreement(a[:2], b[:2]))
    assert np.isnan(rank_agreement(pd.Series([1.0, 1.0, 1.0]), pd.Series([1.0, 2.0, 3.0])))


def test_agreement_table_and_flags_by_hand():
    idx = [f"m{i}" for i in range(5)]
    ref = pd.DataFrame({"d__same": [1, 2, 3, 4, 5], "d__flip": [1, 2, 3, 4, 5], "e__x": [5, 4, 3, 2, 1]}, index=idx)
    variants = {
        ("steps", 41): ref.astype(float),
        ("steps", 21): ref.assign(**{"d__flip": [5, 4, 3, 2, 1]}).astype(float),  # reversed at one resolution
        ("seed", 1): ref.astype(float).iloc[::-1],  # row order must not matter
    }
    table = agreement_table(variants, ("steps", 41), threshold=0.5).set_index("feature")
    assert table.loc["same", "resolution_agreement"] == pytest.approx(1.0)
    assert table.loc["flip", "resolution_agreement"] == pytest.approx(-1.0)
    assert table.loc["flip", "seed_agreement"] == pytest.approx(1.0)
    assert table["stable"].to_dict() == {"same": True, "flip": False, "x": True}
    flags = descriptor_flags(table.reset_index()).set_index("descriptor")
    assert flags.loc["d", "flag"] == "stable"  # 1 of 2 stable: not fewer than half
    assert flags.loc["e", "flag"] == "stable"
    worse = agreement_table(
        {**variants, ("seed", 2): ref.assign(d__same=[5, 4, 3, 2, 1]).astype(float)}, ("steps", 41), 0.5
    )
    assert descriptor_flags(worse).set_index("descriptor").loc["d", "flag"] == "unstable"


def test_leaderboard_marks_unstable_descriptors(tmp_path):
    from benchmark.report.leaderboard import render_markdown

    pd.DataFrame(
        {
            "descriptor": ["merge_tree", "merge_tree", "geometry"],
            "feature": ["a", "b", "c"],
            "stable": [False, False, True],
            "experiment": "default",
        }
    ).to_csv(tmp_path / "stability.csv", index=False)
    flags, experiment = read_flags(tmp_path)
    assert flags == {"geometry": "stable", "merge_tree": "unstable"} and experiment == "default"
    assert read_flags(tmp_path / "nowhere") == ({}, "")
    frame = pd.DataFrame(
        {
            "zoo": "z",
            "target": "t",
            "feature_set": ["merge_tree", "geometry"],
            "kind": "topology",
            "regressor": "ridge",
            "protocol": "group_kfold",
            "n_models": 4,
            "n_dropped": 0,
            "n_folds": 2,
            "r2_value": [0.1, 0.2],
        }
    )
    prov = {
        "date": "d",
        "git_commit": "c",
        "python": "3",
        "packages": {},
        "overrides": [],
        "timings_s": {},
        "config": "",
    }
    md = render_markdown(frame, "x", prov, "cmd", flags=flags, flag_source=experiment)
    assert "| merge_tree ⚠ unstable |" in md and "| geometry |" in md
    assert "unstable" in md.split("## z")[0]  # the legend says where the flag comes from


def test_the_study_takes_the_suite_resolutions_and_records_a_command_that_reruns_it(tmp_path, monkeypatch):
    from benchmark.studies import stability

    seen = []

    def fake_study(experiment, steps, seeds, descriptors, extra):
        seen.append((experiment, list(steps), list(seeds), list(extra)))
        ref = pd.DataFrame({"d__x": [1.0, 2.0, 3.0, 4.0, 5.0]})
        return {("steps", s): ref for s in steps} | {("seed", s): ref for s in seeds[1:]}, ("steps", sorted(steps)[1])

    monkeypatch.setattr(stability, "run_study", fake_study)
    out = ["--csv", str(tmp_path / "s.csv"), "--doc", str(tmp_path / "s.md")]
    assert stability.main(["--experiment", "digits_mlp", "--seeds", "0", "1", "2", *out]) == 0
    assert seen[-1] == ("digits_mlp", [21, 41, 61], [0, 1, 2], [])  # the experiment's suite.stability_steps
    command = f"landscape-bench-stability --experiment digits_mlp --steps 21 41 61 --seeds 0 1 2 {' '.join(out)}"
    assert f"\n{command}\n" in (tmp_path / "s.md").read_text()
    assert stability.main(["threads=1", *command.split()[1:]]) == 0  # the recorded command reruns
    assert seen[-1] == ("digits_mlp", [21, 41, 61], [0, 1, 2], ["threads=1"])
    assert "landscape-bench-stability threads=1 --experiment digits_mlp" in (tmp_path / "s.md").read_text()
    with pytest.raises(SystemExit):  # tiny is no suite experiment: its resolutions must be given
        stability.main(["--experiment", "tiny", *out])
