"""Stability of each landscape descriptor across grid resolutions and direction seeds.

For one experiment, the landscape stage is rerun at several resolutions (``landscape.steps``) and
with several direction seeds (``landscape.seed``); every landscape descriptor is recomputed on each
variant. A feature is *stable* when the ranking of the zoo's models by it agrees with the
reference variant (Spearman rho over models, NaN rows dropped) at least ``threshold`` for every
other resolution and every other seed. A descriptor is flagged *unstable* when fewer than half
of its features are stable; leaderboards then mark it.

    landscape-bench-stability --experiment default --steps 21 41 81 --seeds 0 1 2

writes ``leaderboards/stability.csv`` (one row per feature) and ``docs/stability.md``. Without
``--steps``, an experiment of the embedded suite uses its ``suite.stability_steps`` (see
:mod:`benchmark.suite`); the page records the command with every option spelled out.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from scipy.stats import spearmanr

from benchmark import pipeline
from benchmark.cli import conf_dir
from benchmark.descriptors import DESCRIPTORS
from benchmark.report.stability import STABILITY_CSV, descriptor_flags
from benchmark.suite import load_suite

log = logging.getLogger("benchmark.stability")

PROG = "landscape-bench-stability"


def compose_config(overrides: Sequence[str]) -> dict:
    """The resolved config of ``overrides``, as the CLI would compose it."""
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides))
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def rank_agreement(a: pd.Series, b: pd.Series) -> float:
    """Spearman rho of two feature columns over the models where both are finite (NaN if < 3)."""
    ok = np.isfinite(a.to_numpy(dtype=float)) & np.isfinite(b.to_numpy(dtype=float))
    if ok.sum() < 3 or a[ok].nunique() < 2 or b[ok].nunique() < 2:
        return float("nan")
    return float(spearmanr(a[ok], b[ok]).statistic)


def agreement_table(
    variants: dict[tuple[str, int], pd.DataFrame], reference: tuple[str, int], threshold: float
) -> pd.DataFrame:
    """One row per feature: the minimum rank agreement with the reference over the other
    resolutions and over the other seeds, and whether the feature is stable."""
    ref = variants[reference]
    rows = []
    for column in ref.columns:
        by_kind: dict[str, list[float]] = {"steps": [], "seed": []}
        for (kind, value), frame in variants.items():
            if (kind, value) == reference or column not in frame:
                continue
            by_kind[kind].append(rank_agreement(ref[column], frame.loc[ref.index, column]))
        resolution = min(by_kind["steps"], default=float("nan"))
        seed = min(by_kind["seed"], default=float("nan"))
        descriptor, feature = column.split("__", 1)
        rows.append(
            {
                "descriptor": descriptor,
                "feature": feature,
                "resolution_agreement": resolution,
                "seed_agreement": seed,
                "stable": bool(
                    np.nan_to_num(resolution, nan=-1) >= threshold and np.nan_to_num(seed, nan=-1) >= threshold
                ),
            }
        )
    return pd.DataFrame(rows)


def reference_steps(steps: Sequence[int]) -> int:
    """The resolution the other variants are compared with: the middle one."""
    return sorted(steps)[len(steps) // 2]


def variant_overrides(
    experiment: str,
    steps: Sequence[int],
    seeds: Sequence[int],
    descriptors: Sequence[str],
    extra: Sequence[str] = (),
) -> list[tuple[str, int, list[str]]]:
    """``(kind, value, overrides)`` of every variant: each resolution of ``steps`` with the first
    direction seed, then each other seed at the reference resolution."""
    base = [f"experiment={experiment}", f"descriptors=[{','.join(descriptors)}]", "regressor=[ridge]", *extra]
    plans = [("steps", s, [*base, f"landscape.steps={s}", f"landscape.seed={seeds[0]}"]) for s in steps]
    plans += [
        ("seed", s, [*base, f"landscape.steps={reference_steps(steps)}", f"landscape.seed={s}"]) for s in seeds[1:]
    ]
    return plans


def run_study(
    experiment: str, steps: Sequence[int], seeds: Sequence[int], descriptors: Sequence[str], extra: Sequence[str]
) -> tuple[dict[tuple[str, int], pd.DataFrame], tuple[str, int]]:
    """Features of ``descriptors`` for every variant; the reference is (middle resolution, first seed)."""
    variants: dict[tuple[str, int], pd.DataFrame] = {}
    for kind, value, overrides in variant_overrides(experiment, steps, seeds, descriptors, extra):
        log.info("stability: %s=%s", kind, value)
        variants[(kind, value)] = pipeline.run(compose_config(overrides), score=False).features
    return variants, ("steps", reference_steps(steps))


def markdown(table: pd.DataFrame, flags: pd.DataFrame, command: str, experiment: str, threshold: float) -> str:
    lines = [
        "# Descriptor stability across resolutions and direction seeds",
        "",
        f"Experiment `{experiment}`. A feature is stable when the ranking of the zoo's models by it agrees",
        f"with the reference variant (Spearman rho >= {threshold}) at every other resolution and every other",
        "direction seed; a descriptor is flagged unstable when fewer than half of its features are stable.",
        "Leaderboards written after this study mark the rows of unstable descriptors (⚠ unstable).",
        "",
        "Produced by:",
        "",
        "```",
        command,
        "```",
        "",
        f"on {dt.date.today().isoformat()}.",
        "",
        "## Descriptors",
        "",
        "| descriptor | features | stable features | flag |",
        "|---|---:|---:|---|",
    ]
    for row in flags.itertuples():
        lines.append(f"| {row.descriptor} | {row.features} | {row.stable_features} | {row.flag} |")
    lines += [
        "",
        "## Features",
        "",
        "| descriptor | feature | min rho across resolutions | min rho across seeds | stable |",
        "|---|---|---:|---:|---|",
    ]
    for row in table.itertuples():
        lines.append(
            f"| {row.descriptor} | {row.feature} | {row.resolution_agreement:.3f} | {row.seed_agreement:.3f} | "
            f"{'yes' if row.stable else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def study_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> str:
    """The command that reruns the study: overrides first (after a list option they would read as
    its values), then the experiment, resolutions and seeds, then the options not left at default."""
    parts = [PROG, *args.overrides, "--experiment", args.experiment]
    parts += ["--steps", *map(str, args.steps), "--seeds", *map(str, args.seeds)]
    if args.descriptors is not None:
        parts += ["--descriptors", *args.descriptors]
    for option in ("threshold", "csv", "doc"):
        value = getattr(args, option)
        if value != parser.get_default(option):
            parts += [f"--{option}", f"{value:g}" if isinstance(value, float) else str(value)]
    return " ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiment", default="digits_mlp")
    parser.add_argument(
        "--steps",
        type=int,
        nargs="+",
        default=None,
        help="resolutions (default: the experiment's suite.stability_steps)",
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--descriptors", nargs="*", default=None, help="default: every landscape descriptor")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--csv", type=Path, default=Path("leaderboards") / STABILITY_CSV)
    parser.add_argument("--doc", type=Path, default=Path("docs") / "stability.md")
    parser.add_argument("overrides", nargs="*", help="extra config overrides, e.g. threads=2")
    args = parser.parse_args(argv)
    if args.steps is None:
        suite = load_suite()
        if args.experiment in {e.name for e in suite if e.table}:
            parser.error(f"--experiment {args.experiment} scores a feature table: it has no landscapes to resample.")
        steps = {e.name: list(e.stability_steps) for e in suite}
        if args.experiment not in steps:
            parser.error(
                f"--experiment {args.experiment} is not in the embedded suite, so it has no suite.stability_steps; "
                "give --steps (odd resolutions, the experiment's own landscape.steps in the middle)."
            )
        args.steps = steps[args.experiment]
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    names = args.descriptors or [n for n in DESCRIPTORS.names() if "landscape" in DESCRIPTORS.get(n).requires]
    variants, reference = run_study(args.experiment, args.steps, args.seeds, names, args.overrides)
    table = agreement_table(variants, reference, args.threshold)
    flags = descriptor_flags(table)
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    table.assign(experiment=args.experiment).to_csv(args.csv, index=False)
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(markdown(table, flags, study_command(args, parser), args.experiment, args.threshold))
    print(flags.to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
