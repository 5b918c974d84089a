"""The overall table: best regressor per cell, average ranks for ties, mean rank and Borda count
over the cells where a feature set is ranked, on small hand-made leaderboard CSVs."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from benchmark.report.overall import main, overall_ranking, read_leaderboards, write_overall

NAN = math.nan


def _board(zoo: str, rows: list[tuple[str, str, str, float, float, float]]) -> pd.DataFrame:
    """A leaderboard CSV's rows: (feature_set, kind, regressor, spearman, r2, mae), plus columns the
    ranking must ignore (intervals, a score it does not rank, an unknown column)."""
    out = []
    for feature_set, kind, regressor, spearman, r2, mae in rows:
        out.append(
            {
                "zoo": zoo,
                "target": "t",
                "feature_set": feature_set,
                "kind": kind,
                "regressor": regressor,
                "protocol": "group_kfold",
                "n_models": 12,
                "spearman_value": spearman,
                "spearman_ci_low": spearman - 0.1,
                "r2_value": r2,
                "mae_value": mae,
                "pgdl_value": 0.5,
                "something_new": "x",
            }
        )
    return pd.DataFrame(out)


# Zoo a: f1's best Spearman is ridge's 0.9; f2 (random forest) and f3 tie at 0.7; constant undefined.
ZOO_A = [
    ("f1", "topology", "ridge", 0.9, 0.5, 0.30),
    ("f1", "topology", "random_forest", 0.5, 0.4, 0.20),
    ("f2", "curvature", "ridge", 0.3, 0.1, 0.10),
    ("f2", "curvature", "random_forest", 0.7, -0.5, 0.40),
    ("f3", "reference", "ridge", 0.7, -0.2, 0.25),
    ("constant", "baseline", "mean", NAN, -0.1, 0.50),
]
# Zoo b: f3 is absent.
ZOO_B = [
    ("f1", "topology", "ridge", 0.2, -0.3, 0.30),
    ("f2", "curvature", "ridge", 0.6, 0.4, 0.10),
    ("f2", "curvature", "random_forest", 0.1, 0.2, 0.20),
    ("constant", "baseline", "mean", NAN, -0.05, 0.40),
]


@pytest.fixture
def boards(tmp_path):
    _board("a", ZOO_A).to_csv(tmp_path / "a.csv", index=False)
    _board("b", ZOO_B).to_csv(tmp_path / "b.csv", index=False)
    (tmp_path / "a.md").write_text("| provenance | |\n|---|---|\n| git commit | `abc123` |\n")
    return tmp_path


def _summary(table: pd.DataFrame) -> dict[str, tuple[int, float, float, int]]:
    return {r.feature_set: (r.n_cells, r.mean_rank, r.borda, r.position) for r in table.itertuples(index=False)}


def test_spearman_ranks_average_ties_and_skip_missing_and_undefined_cells(boards):
    rows, _ = read_leaderboards([boards / "a.csv", boards / "b.csv"], ["spearman"])
    table, labels = overall_ranking(rows, "spearman")
    assert labels == ["a/t", "b/t"]
    got = _summary(table)
    # a: f1 1, f2 2.5, f3 2.5 (n=3; Borda 2, .5, .5); b: f2 1, f1 2 (n=2; Borda 1, 0); constant undefined
    assert got["f1"][:3] == (2, 1.5, 2.0)
    assert got["f2"][:3] == (2, 1.75, 1.5)
    assert got["f3"][:3] == (1, 2.5, 0.5)
    assert got["constant"][0] == 0 and math.isnan(got["constant"][1]) and got["constant"][2] == 0
    assert list(table["feature_set"]) == ["f1", "f2", "f3", "constant"]
    assert list(table["position"]) == [1, 2, 3, 4]
    by_name = table.set_index("feature_set")
    assert by_name.loc["f2", "regressor[a/t]"] == "random_forest"
    assert by_name.loc["f2", "value[a/t]"] == 0.7
    assert math.isnan(by_name.loc["f3", "rank[b/t]"]) and by_name.loc["f3", "regressor[b/t]"] == ""


def test_r2_ranks_include_the_constant_baseline(boards):
    rows, _ = read_leaderboards([boards / "a.csv", boards / "b.csv"], ["r2"])
    table, _ = overall_ranking(rows, "r2")
    got = _summary(table)
    # a: f1 .5, f2 .1, constant -.1, f3 -.2 -> 1..4 (Borda 3, 2, 1, 0); b: f2, constant, f1 (Borda 2, 1, 0)
    assert got["f1"][:3] == (2, 2.0, 3.0)
    assert got["f2"][:3] == (2, 1.5, 4.0)
    assert got["constant"][:3] == (2, 2.5, 2.0)
    assert got["f3"][:3] == (1, 4.0, 0.0)
    assert list(table["feature_set"]) == ["f2", "f1", "constant", "f3"]
    assert table.set_index("feature_set").loc["f1", "regressor[a/t]"] == "ridge"


def test_lower_is_better_scores_rank_ascending(boards):
    rows, _ = read_leaderboards([boards / "a.csv"], ["mae"])
    table, _ = overall_ranking(rows, "mae")
    ranks = table.set_index("feature_set")["rank[a/t]"].to_dict()
    # best MAE per feature set: f2 .10 (ridge), f1 .20 (random forest), f3 .25, constant .50
    assert ranks == {"f2": 1.0, "f1": 2.0, "f3": 3.0, "constant": 4.0}
    assert table.set_index("feature_set").loc["f1", "regressor[a/t]"] == "random_forest"


def test_entries_equal_in_borda_and_mean_rank_share_a_position(tmp_path):
    rows = [("f1", "topology", "ridge", 0.4, 0.1, 0.1), ("f2", "curvature", "ridge", 0.4, 0.2, 0.1)]
    _board("c", rows).to_csv(tmp_path / "c.csv", index=False)
    table, _ = overall_ranking(read_leaderboards([tmp_path / "c.csv"], ["spearman"])[0], "spearman")
    assert list(table["rank[c/t]"]) == [1.5, 1.5]
    assert list(table["borda"]) == [0.5, 0.5]
    assert list(table["position"]) == [1, 1]


def test_a_cell_scored_by_two_leaderboards_is_refused(boards):
    _board("a", ZOO_A[:2]).to_csv(boards / "a_again.csv", index=False)
    with pytest.raises(ValueError, match=r"\['a', 'a_again'\] both score zoo 'a'"):
        read_leaderboards([boards / "a.csv", boards / "a_again.csv"], ["spearman"])


def test_a_missing_column_is_named(tmp_path):
    _board("a", ZOO_A).drop(columns="r2_value").to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(ValueError, match=r"has no column \['r2_value'\]"):
        read_leaderboards([tmp_path / "a.csv"], ["spearman", "r2"])


def test_write_overall_markdown_and_csv(boards):
    written = write_overall(boards, command="landscape-bench-overall x")
    md, csv_path = written.md, written.csv
    text = md.read_text()
    assert "## By Spearman ↑" in text and "## By R2 ↑" in text
    assert "| # | feature set | kind | cells ranked | mean rank ↓ | Borda ↑ | a/t (n=3) | b/t (n=2) |" in text
    assert "| 1 | f1 | topology | 2 of 2 | 1.5 | 2 | 1 (0.900, ridge) | 2 (0.200, ridge) |" in text
    assert "| 3 | f3 *(reference)* | reference | 1 of 2 | 2.5 | 0.5 | 2.5 (0.700, ridge) | — |" in text
    assert "constant *(baseline)*" in text
    assert "| a.csv | 6 | `abc123` |" in text
    assert "| b.csv | 4 | `unknown (no provenance in b.md)` |" in text
    frame = pd.read_csv(csv_path)
    assert set(frame["score"]) == {"spearman", "r2"}
    assert len(frame) == 8
    assert frame.loc[(frame["score"] == "r2") & (frame["feature_set"] == "f2"), "borda"].item() == 4.0
    # the overall CSV in the folder is not read back as a leaderboard
    md2 = write_overall(boards, scores=["spearman"]).md
    assert "| overall.csv |" not in md2.read_text() and "| overall.posthoc.csv |" not in md2.read_text()


def test_command_line_names_leaderboards_and_scores(boards, capsys):
    main([str(boards), "b", "--scores", "r2"])
    assert "wrote" in capsys.readouterr().out
    text = (boards / "overall.md").read_text()
    assert "| b.csv |" in text and "| a.csv |" not in text
    assert "## By Spearman" not in text and "## By R2 ↑" in text
    with pytest.raises(SystemExit):
        main([str(boards), "--scores", "accuracy"])
    with pytest.raises(SystemExit, match="no leaderboard CSV"):
        main([str(boards), "missing"])
