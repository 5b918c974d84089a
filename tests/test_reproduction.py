"""The reproduction study's plan of pipeline runs and its parallel prefetch into the store."""

from __future__ import annotations

import pytest

from benchmark import pipeline
from benchmark.studies import reproduction
from benchmark.studies.stability import compose_config


def test_the_plan_covers_every_run_of_the_study():
    runs = reproduction.planned_runs(reproduction.STABILITY_STEPS)
    experiments = [r[0] for r in runs]
    assert len({tuple(r) for r in runs}) == len(runs)  # nothing computed twice
    for experiment in [*reproduction.ZOOS, "dynamics"]:
        assert reproduction.study_overrides(experiment) in runs
    for experiment, steps in reproduction.STABILITY_STEPS.items():
        variants = reproduction.stability_overrides(experiment, steps)
        assert [(k, v) for k, v, _ in variants] == [*(("steps", s) for s in steps), ("seed", 1)]
        assert all(o in runs for _, _, o in variants)
    assert experiments[0] == "experiment=timm_arch"  # the longest zoo starts first


@pytest.mark.slow  # a full pipeline run in a subprocess or several; the slow suite holds it
def test_prefetch_on_two_processes_stores_what_a_run_then_loads(tmp_path):
    home = f"paths.home={tmp_path / 'home'}"
    runs = [["experiment=tiny", home], ["experiment=tiny", home, "landscape.seed=1"]]
    broken = ["experiment=tiny", home, "protocol.split=bogus"]  # refused by the pipeline; the others still finish
    with pytest.raises(RuntimeError, match=r"1 of 3 prefetch runs failed[\s\S]*protocol.split=bogus"):
        reproduction.prefetch([*runs, broken], workers=2)
    for overrides in runs:
        result = pipeline.run(compose_config(overrides))
        assert all(computed == 0 for _, computed in result.store_counts.values()), result.store_summary


def test_permutation_p_is_exact_on_few_splits_and_sampled_on_many():
    import numpy as np

    from benchmark.studies.reproduction import PERMUTATIONS, _permutation_p

    assert _permutation_p(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1 / 6  # 1 of the C(4, 2) splits
    rng = np.random.default_rng(0)
    far = _permutation_p(rng.normal(size=40) + 3, rng.normal(size=40))  # C(80, 40) splits: sampled
    assert far == 1 / (PERMUTATIONS + 1)
