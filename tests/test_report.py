"""Leaderboard and zoo-summary rendering: deterministic text from the same numbers."""

from __future__ import annotations

import dataclasses

from benchmark.report.zoo_summary import plot_zoo, summary_markdown


def test_zoo_summary_is_independent_of_hparam_insertion_order(tiny_record, tmp_path):
    a = dataclasses.replace(tiny_record, hparams={"width": 6, "lr": 0.01, "seed": 0}, model_id="a", group="g1")
    b = dataclasses.replace(tiny_record, hparams={"lr": 0.02, "width": 8, "seed": 0}, model_id="b", group="g2")
    one = summary_markdown("z", [a, b], ["test_accuracy"], 1.0, "cmd", order=["width", "lr"])
    two = summary_markdown("z", [b, a], ["test_accuracy"], 1.0, "cmd", order=["width", "lr"])
    assert one == two
    assert "- axes: width ∈ {6, 8}; lr ∈ {0.01, 0.02}" in one
    assert "| width | lr | test_accuracy | n |" in one
    assert plot_zoo([a, b], ["test_accuracy"], tmp_path / "z.png", "z", order=["width", "lr"]).is_file()
