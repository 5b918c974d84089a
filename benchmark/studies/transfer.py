"""Leave-one-zoo-out transfer: does a regressor fitted on some zoos predict the models of another?

A run holds one zoo; this study joins several. Each experiment is run through the pipeline up to
its features (from the store when ``make leaderboards`` ran before), and every feature set that is
defined on every zoo is scored under the ``leave_one_out`` split with the zoo as the stratum: each
zoo in turn is predicted by a regressor fitted on all the others, and the scores are computed
inside the held-out zoo, then averaged over zoos (see docs/protocol.md, "Leave-one-zoo-out transfer").

    landscape-bench-transfer --experiments default digits_cnn mnist1d timm_arch

writes ``leaderboards/transfer.md`` and ``.csv``. Without ``--experiments`` it joins the experiments
of the embedded suite marked ``transfer: true`` (``landscape-bench-suite --transfer``; see
:mod:`benchmark.suite`).

Only feature columns every zoo has are used (a per-layer Hessian share of a 3-layer MLP has no
counterpart in a ResNet). Features are standardised within each zoo by default (``--scaling
zoo``): a zoo's mean and spread of, say, the loss at the centre depend on its dataset, and
centring them per zoo uses that zoo's features only, never its targets. ``--scaling none`` keeps
raw values. Targets stay on their own scale, so R2 and MAE also pay for a shift in level between
zoos (a regressor cannot know the held-out dataset's accuracy level); the rank scores (Spearman,
Kendall, regret, precision@k) read whether it orders the new zoo's models.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import yaml
from hydra.errors import HydraException
from threadpoolctl import threadpool_limits

from benchmark import pipeline
from benchmark.cli import conf_dir, malformed_overrides, unknown_group_options
from benchmark.descriptors import build_descriptor
from benchmark.evaluation import build_regressor, compare_rows
from benchmark.evaluation.design import feature_sets
from benchmark.evaluation.protocol import CONSTANT, Protocol, evaluate_or_unscored
from benchmark.records import ScoreRow
from benchmark.report import provenance, write_leaderboard
from benchmark.studies.stability import compose_config
from benchmark.suite import load_suite, transfer_entries
from benchmark.zoo import TASKS
from benchmark.zoo.manifest import ManifestError

log = logging.getLogger("benchmark.transfer")

PROG = "landscape-bench-transfer"
PROTOCOL = "leave_one_zoo_out"
SCALINGS = ("zoo", "none")


@dataclass(frozen=True)
class ZooTable:
    """One zoo's features, targets and groups, as the transfer study joins them."""

    zoo: str
    features: pd.DataFrame  # one row per model, columns "<descriptor>__<feature>"
    targets: pd.DataFrame  # one row per model, one column per target
    groups: np.ndarray  # training configuration of each model, prefixed by the zoo
    greater_is_better: Mapping[str, bool]


def standardise_within(frame: pd.DataFrame, zoos: np.ndarray) -> pd.DataFrame:
    """Each column z-scored within each zoo (rows where ``zoos`` is equal), over its finite values;
    a column constant within a zoo becomes 0 there. NaN stays NaN."""
    values = frame.to_numpy(dtype=np.float64, copy=True)
    zoos = np.asarray(zoos)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN column of a zoo stays NaN
        for z in np.unique(zoos):
            block = values[zoos == z]
            centred = block - np.nanmean(block, axis=0)
            std = np.nanstd(block, axis=0)
            values[zoos == z] = np.divide(centred, std, out=centred.copy(), where=std > 0)
    return pd.DataFrame(values, index=frame.index, columns=frame.columns)


def common_columns(frames: Sequence[pd.DataFrame], members: Sequence[str]) -> list[str]:
    """The columns of descriptors ``members`` present in every frame, in name order."""
    shared = set.intersection(*(set(f.columns) for f in frames)) if frames else set()
    return sorted(c for c in shared if c.split("__", 1)[0] in members)


def zoo_table(cfg: Mapping[str, Any]) -> ZooTable:
    """Run one experiment up to its features (stages come from the store when present) and keep
    what transfer needs; the experiment's own leaderboard is not scored."""
    result = pipeline.run(cfg, score=False)
    zoo = str(cfg["zoo"]["name"])
    targets = list(cfg["evaluation"]["targets"])
    ids = [m.model_id for m in result.models]
    task = TASKS.get(cfg["zoo"]["task"])
    return ZooTable(
        zoo=zoo,
        features=result.features.loc[ids].reset_index(drop=True),
        targets=pd.DataFrame([{t: m.metrics[t] for t in targets} for m in result.models]),
        groups=np.array([f"{zoo}:{m.group}" for m in result.models]),
        greater_is_better={t: task.greater_is_better[t] for t in targets},
    )


def check_zoos(names: Sequence[str]) -> None:
    """Raise a ``ValueError`` unless ``names`` holds two or more zoos, each once."""
    if len(names) < 2:
        raise ValueError(f"leave-one-zoo-out needs two or more zoos, got {list(names)}.")
    if len(set(names)) < len(names):
        raise ValueError(
            f"zoos {list(names)} repeat a zoo; give each zoo once (two experiments on one zoo, such as default "
            "and dynamics, share its models)."
        )


def transfer_rows(
    tables: Sequence[ZooTable],
    sets: Mapping[str, tuple[str, list[str]]],
    regressors: Mapping[str, Mapping[str, Any]],
    protocol: Mapping[str, Any],
    scaling: str = "zoo",
) -> list[ScoreRow]:
    """Score every (target shared by all zoos, feature set, regressor) with each zoo held out in
    turn, then compare each row with the best baseline on the same resamples."""
    if scaling not in SCALINGS:
        raise ValueError(f"scaling={scaling!r} is unknown; use one of {list(SCALINGS)}.")
    check_zoos([t.zoo for t in tables])
    label = "+".join(t.zoo for t in tables)
    zoos = np.concatenate([[t.zoo] * len(t.targets) for t in tables])
    groups = np.concatenate([t.groups for t in tables])
    features = pd.concat([t.features for t in tables], ignore_index=True)
    targets = [c for c in tables[0].targets.columns if all(c in t.targets for t in tables)]
    held_out = Protocol(
        name=PROTOCOL,
        split="leave_one_out",
        seed=int(protocol["seed"]),
        n_bootstrap=int(protocol["n_bootstrap"]),
        ci_level=float(protocol["ci_level"]),
        top_k=int(protocol.get("top_k", Protocol.top_k)),
    )
    rows = []
    for target in targets:
        directions = {t.greater_is_better[target] for t in tables}
        if len(directions) > 1:
            log.warning("target %s skipped: the zoos disagree on whether larger is better", target)
            continue
        better = directions.pop()
        y = pd.concat([t.targets[target] for t in tables], ignore_index=True).to_numpy(dtype=np.float64)
        for fs_name, (kind, members) in sets.items():
            cols = common_columns([t.features for t in tables], members)
            if members and not cols:
                log.info("feature set %s skipped: no feature is shared by every zoo", fs_name)
                continue
            X = None
            if members:
                frame = features[cols]
                X = (standardise_within(frame, zoos) if scaling == "zoo" else frame).to_numpy(dtype=np.float64)
            pairs = [(CONSTANT, None)] if fs_name == CONSTANT else list(regressors.items())
            for reg_name, reg_cfg in pairs:
                make = None if reg_cfg is None else (lambda n=reg_name, c=reg_cfg: build_regressor(n, dict(c)))
                ev = evaluate_or_unscored(
                    f"{target} / {fs_name} / {reg_name}",
                    X,
                    y,
                    groups,
                    make,
                    held_out,
                    strata=zoos,
                    greater_is_better=better,
                )
                rows.append(ev.row(label, target, fs_name, kind, "mean" if reg_cfg is None else reg_name, PROTOCOL))
    return compare_rows(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--experiments",
        nargs="+",
        default=None,
        help="the experiments to join (default: the suite's transfer experiments, landscape-bench-suite --transfer)",
    )
    parser.add_argument("--scaling", choices=SCALINGS, default="zoo")
    parser.add_argument("--out", default="leaderboards", help="folder of the leaderboard")
    parser.add_argument("--name", default="transfer", help="leaderboard file name")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides applied to every experiment")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    if args.experiments is None:
        args.experiments = [e.name for e in transfer_entries(load_suite())]
    t0 = time.perf_counter()
    requested = [f"experiment={e}" for e in args.experiments] + args.overrides
    problems = malformed_overrides(args.overrides) + unknown_group_options(requested, conf_dir())
    if problems:
        log.error("%s", "\n".join(problems))
        return 2
    try:  # everything that can be refused is refused before any experiment runs
        cfgs = [compose_config([f"experiment={e}", *args.overrides]) for e in args.experiments]
        check_zoos([str(c["zoo"]["name"]) for c in cfgs])
        for cfg in cfgs:
            pipeline.validate(cfg)
    except (HydraException, ValueError) as exc:
        log.error("%s", exc)
        return 2
    try:
        tables = [zoo_table(cfg) for cfg in cfgs]
    except (pipeline.ConfigError, ManifestError) as exc:
        log.error("%s", exc)
        return 2
    t_runs = time.perf_counter() - t0
    first = cfgs[0]
    descriptors = {n: build_descriptor(n, p) for n, p in first["descriptors"].items()}
    sets = feature_sets(descriptors, first["evaluation"].get("combinations") or {})
    t1 = time.perf_counter()
    with threadpool_limits(limits=pipeline.compute_threads(first)):  # as pipeline.run does
        rows = transfer_rows(tables, sets, first["regressor"], first["protocol"], args.scaling)
    frame = pd.DataFrame([r.flat() for r in rows])
    study = {
        "experiments": args.experiments,
        "scaling": args.scaling,
        "overrides": args.overrides,
        "regressor": first["regressor"],
        "protocol": {k: first["protocol"][k] for k in ("seed", "n_bootstrap", "ci_level", "top_k")},
    }
    command = " ".join(  # overrides first: after --experiments they would read as experiment names
        [PROG, *args.overrides]
        + ([f"--scaling {args.scaling}"] if args.scaling != "zoo" else [])
        + ["--experiments", *args.experiments]
    )
    prov = provenance(
        yaml.safe_dump(study, sort_keys=False),
        args.overrides,
        {"runs": t_runs, "evaluation": time.perf_counter() - t1},
        {"zoos": ", ".join(f"{t.zoo} ({len(t.targets)} models)" for t in tables), "feature scaling": args.scaling},
    )
    md, csv_path = write_leaderboard(frame, args.out, args.name, prov, command)
    print(f"transfer: {len(tables)} zoos, {len(frame)} score rows -> {md}, {csv_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
