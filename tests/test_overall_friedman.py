"""The Friedman test and Nemenyi post-hoc test beside the overall table, on small synthetic
leaderboard CSVs: a clear winner is found, ties are not, incomplete feature sets are left out and
named, too little data gives a note instead of a number, and the CD diagram is reproducible."""

from __future__ import annotations

import hashlib
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scikit_posthocs
from scipy import stats

from benchmark.report.overall import (
    ALPHA,
    POSTHOC_CORRECTION,
    POSTHOC_TEST,
    friedman_test,
    main,
    read_leaderboards,
    score_matrix,
    write_overall,
)


def _write_boards(folder, scores: dict[str, list[list[float]]], kinds: dict[str, str] | None = None) -> list[str]:
    """One leaderboard CSV per zoo: ``scores[zoo][t][i]`` is feature set ``f{i}``'s Spearman (and R2) on
    target ``t{t}`` with regressor ridge; NaN leaves the row out. Returns the zoo names."""
    for zoo, targets in scores.items():
        rows = []
        for t, values in enumerate(targets):
            for i, value in enumerate(values):
                if math.isnan(value):
                    continue
                name = f"f{i}"
                rows.append(
                    {
                        "zoo": zoo,
                        "target": f"t{t}",
                        "feature_set": name,
                        "kind": (kinds or {}).get(name, "topology"),
                        "regressor": "ridge",
                        "protocol": "group_kfold",
                        "spearman_value": value,
                        "r2_value": value - 1.0,
                    }
                )
        pd.DataFrame(rows).to_csv(folder / f"{zoo}.csv", index=False)
    return list(scores)


def _random_boards(rng: np.random.Generator, n_zoos: int, n_targets: int, n_entries: int) -> dict:
    return {f"z{z}": rng.uniform(-0.5, 0.5, size=(n_targets, n_entries)).tolist() for z in range(n_zoos)}


def _rows(folder, zoos, scores=("spearman", "r2")) -> pd.DataFrame:
    return read_leaderboards([folder / f"{z}.csv" for z in zoos], list(scores))[0]


def test_an_entry_best_in_every_cell_is_found_and_the_diagram_written(tmp_path):
    rng = np.random.default_rng(0)
    boards = _random_boards(rng, n_zoos=4, n_targets=3, n_entries=5)
    for targets in boards.values():
        for values in targets:
            values[2] = 0.9  # f2 beats the others (uniform in [-0.5, 0.5]) in all 12 cells
    zoos = _write_boards(tmp_path, boards)
    result = friedman_test(_rows(tmp_path, zoos), "spearman")
    assert result.tested and result.note == ""
    assert len(result.cells) == 12 and result.entries == ("f0", "f1", "f2", "f3", "f4") and result.dof == 4
    assert result.p_value < 1e-3
    assert result.mean_ranks.index[0] == "f2" and result.mean_ranks["f2"] == 1.0
    # against scipy on the same cells x entries matrix, and the library's post-hoc on it
    matrix, _ = score_matrix(_rows(tmp_path, zoos), "spearman")
    expected = stats.friedmanchisquare(*matrix.to_numpy().T)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12)
    posthoc = scikit_posthocs.posthoc_nemenyi_friedman(matrix)
    np.testing.assert_allclose(result.pairwise.to_numpy(), posthoc.loc[result.entries, result.entries].to_numpy())
    # Demšar's critical difference: 2.728 for k = 5 at α = 0.05 (his Table 5, q_0.05), over √(k(k+1)/6n)
    assert result.critical_difference == pytest.approx(2.728 * math.sqrt(5 * 6 / (6 * 12)), rel=1e-3)

    written = write_overall(tmp_path, command="landscape-bench-overall x")
    assert written.diagram.name == "overall.cd.png" and written.diagram.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = written.md.read_text()
    assert "## Friedman test and Nemenyi post-hoc test" in text and "](overall.cd.png)" in text
    assert f"| Spearman ↑ | 12 | 5 | 0 | {result.statistic:.2f} | 4 | {result.p_value:.3g} |" in text
    assert POSTHOC_CORRECTION in text and "[overall.posthoc.csv](overall.posthoc.csv)" in text
    assert "the Friedman test rejects equal expected ranks" in text
    pairs = pd.read_csv(written.posthoc)
    assert set(pairs["test"]) == {POSTHOC_TEST} and set(pairs["multiple_comparisons"]) == {POSTHOC_CORRECTION}
    spearman = pairs[pairs["score"] == "spearman"]
    assert len(spearman) == 10 and set(spearman["entry_a"]) >= {"f2"}
    for row in spearman.itertuples():
        assert row.p_value == pytest.approx(result.pairwise.loc[row.entry_a, row.entry_b], rel=1e-12)
        assert row.significant == (row.p_value < ALPHA)
    # the outputs of a run are not read back as leaderboards by the next one
    assert write_overall(tmp_path).friedman[0].statistic == pytest.approx(result.statistic)


def test_the_diagram_is_the_same_bytes_whatever_the_hash_seed(tmp_path):
    zoos = _write_boards(tmp_path, _random_boards(np.random.default_rng(1), n_zoos=3, n_targets=2, n_entries=8))
    digests = set()
    for seed in ("0", "1"):  # set and dict order of strings follows the seed; the PNG must not
        env = {**os.environ, "PYTHONHASHSEED": seed}
        command = [str(Path(sys.executable).parent / "landscape-bench-overall"), str(tmp_path), *zoos]
        subprocess.run(command, check=True, capture_output=True, env=env)
        digests.add(hashlib.sha256((tmp_path / "overall.cd.png").read_bytes()).hexdigest())
    assert len(digests) == 1


def test_identical_scores_tie_and_are_not_separated(tmp_path):
    rng = np.random.default_rng(2)
    boards = _random_boards(rng, n_zoos=3, n_targets=2, n_entries=4)
    for targets in boards.values():
        for values in targets:
            values[1] = values[0]  # f0 and f1 share every score
    zoos = _write_boards(tmp_path, boards)
    rows = _rows(tmp_path, zoos)
    result = friedman_test(rows, "spearman")
    assert result.tested
    assert result.ranks["f0"].equals(result.ranks["f1"])
    assert (result.ranks[["f0", "f1"]].to_numpy() % 1 == 0.5).all()  # average ranks of a tie
    assert result.pairwise.loc["f0", "f1"] == pytest.approx(1.0)
    matrix, _ = score_matrix(rows, "spearman")
    expected = stats.friedmanchisquare(*matrix.to_numpy().T)  # with scipy's tie correction
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12)

    # all feature sets equal in every cell: no ranking to test, a note and no number
    equal = {z: [[0.3] * 4 for _ in range(2)] for z in ("z0", "z1", "z2")}
    zoos = _write_boards(tmp_path, equal)
    result = friedman_test(_rows(tmp_path, zoos), "spearman")
    assert not result.tested and "tie in every one of the 6 cells" in result.note
    assert math.isnan(result.statistic) and math.isnan(result.p_value)
    written = write_overall(tmp_path, zoos, scores=["spearman"])
    text = written.md.read_text()
    assert "| Spearman ↑ | 6 | 4 | 0 | no test | — | — | — |" in text
    assert "nan" not in text.split("## Friedman test")[1].lower()
    assert pd.read_csv(written.posthoc).empty and written.diagram.is_file()


def test_feature_sets_missing_from_a_cell_are_left_out_and_named(tmp_path):
    rng = np.random.default_rng(3)
    boards = _random_boards(rng, n_zoos=3, n_targets=2, n_entries=5)
    boards["z1"][0][4] = math.nan  # f4 not scored on z1/t0
    zoos = _write_boards(tmp_path, boards)
    result = friedman_test(_rows(tmp_path, zoos), "spearman")
    assert result.tested and result.entries == ("f0", "f1", "f2", "f3") and result.dropped == ("f4",)
    matrix, _ = score_matrix(_rows(tmp_path, zoos), "spearman")
    assert result.statistic == pytest.approx(stats.friedmanchisquare(*matrix.drop(columns="f4").to_numpy().T)[0])
    text = write_overall(tmp_path, zoos).md.read_text()
    assert "Left out (not ranked in every cell): f4." in text


@pytest.mark.parametrize(
    ("shape", "why"),
    [((1, 1, 5), "1 cell and 5 feature sets"), ((2, 2, 2), "4 cells and 2 feature sets")],
)
def test_too_few_cells_or_feature_sets_give_a_note_and_no_test(tmp_path, capsys, shape, why):
    zoos = _write_boards(tmp_path, _random_boards(np.random.default_rng(4), *shape))
    result = friedman_test(_rows(tmp_path, zoos), "spearman")
    assert not result.tested and why in result.note and "needs at least 2 cells and 3 feature sets" in result.note
    assert math.isnan(result.statistic) and math.isnan(result.p_value) and math.isnan(result.critical_difference)
    main([str(tmp_path), *zoos])
    out = capsys.readouterr().out
    assert f"Spearman: {result.note}" in out and "chi2" not in out
    text = (tmp_path / "overall.md").read_text()
    assert f"- **Spearman ↑**: {result.note}" in text and "no test | — | — | — |" in text
    assert pd.read_csv(tmp_path / "overall.posthoc.csv").empty
    assert (tmp_path / "overall.cd.png").is_file()
