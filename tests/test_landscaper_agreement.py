"""Our minima counts and SMAD equal Landscaper's on identical grids (slow; needs Landscaper installed)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.perf.landscaper_agreement import agreement, landscaper_missing, measure

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(landscaper_missing() is not None, reason=str(landscaper_missing())),
]


def test_hand_grids_agree_with_landscaper():
    # the two 3x3 grids of tests/test_topology_descriptors.py, whose SMAD is worked out there by hand
    for values, smad in (([[0, 3, 1], [5, 4, 2], [6, 7, 8]], 2.5), ([[5, 1, 6], [2, 0, 3], [7, 4, 8]], 2.0)):
        row = measure("hand", np.array(values, dtype=np.float64))
        assert row.ours_minima == row.theirs_minima
        assert row.ours == row.theirs and row.theirs["smad"] == smad


def test_minima_counts_and_smad_equal_landscapers_on_20_plus_landscapes():
    rows = agreement()
    assert len(rows) >= 20 and sum(r.name.startswith("loss") for r in rows) >= 4
    for r in rows:
        assert not r.ties, r.name
        assert r.ours_minima == r.theirs_minima, r.name
        assert r.unpaired[1] == 0, r.name  # the complete contour tree pairs every minimum
        for k, v in r.theirs.items():
            assert abs(r.ours[k] - v) <= 1e-12 * max(1.0, abs(v)), (r.name, k, r.ours[k], v)
    assert any(r.ours_minima > 5 for r in rows)  # not only single basins
