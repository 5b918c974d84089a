"""Classification zoos trained one model at a time and batched, side by side.

    landscape-bench-perf-batched-training [--models 64] [--epochs 2] [--threads 1] [--zoo NAME ...]
                                          [--exact-batchnorm]

For each zoo (``digits_mlp``, ``mnist1d``, ``digits_cnn``; ``pinn_convection`` and ``timm_arch`` are
reported as not batched, with the reason) the models are those ``make leaderboards`` trains: the
zoo of the suite experiment that uses it (``conf/experiment/<name>.yaml``, e.g. 200 configurations
x 2 seeds of ``digits_mlp``; a zoo outside the suite: ``conf/zoo/<name>.yaml``), in the batches that
experiment's ``batch_models`` forms (``plan_batches``; at most 64 models each). Of each
architecture, whole batches in plan order are taken until they hold at least N models, and each
model trains for ``--epochs`` epochs on the zoo's first dataset. Each batch is trained twice in
one process at one thread count, alternating: one model at a time with ``Classification.train``
(as the pipeline does with ``batch_models: 1``) and with ``train_batched``
(``benchmark/zoo/batched.py``), so that a change in the machine's load hits both alike.

Prints a Markdown table, a row per (zoo, architecture): models per hour both ways and their ratio,
the batch sizes ``batch_key`` formed (a zoo with many compatibility classes forms small batches),
and the largest difference between the two trainings (weights, metrics). That difference is float
rounding, which training amplifies in chaotic models: deep BatchNorm convnets differ as much from
themselves trained alone with channels-last activations (``--exact-batchnorm`` keeps BatchNorm
contiguous, as one model's, at the cost of the speed).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmark.cli import conf_dir
from benchmark.data import load_dataset
from benchmark.perf.measure import timed
from benchmark.records import ModelRecord
from benchmark.suite import load_suite
from benchmark.zoo import TASKS, ModelSpec, zoo_specs
from benchmark.zoo.batched import MAX_MODELS, plan_batches, train_batched, trains_like_classification, unbatchable

ZOOS = ("digits_mlp", "mnist1d", "digits_cnn", "pinn_convection", "timm_arch")
TARGETS = {("digits_mlp", "mlp"): 5.0, ("mnist1d", "mlp"): 5.0, ("digits_cnn", "convnet"): 2.0}
"""Speed-up (batched / one at a time, models per hour) the models of a (zoo, architecture) should reach."""


@dataclass(frozen=True)
class ZooTiming:
    """The models of one architecture of a zoo, trained both ways."""

    zoo: str
    architecture: str
    dataset: str
    n_models: int
    batch_sizes: tuple[int, ...]
    alone_seconds: float
    batched_seconds: float
    max_weight_diff: float
    max_metric_diff: float

    @property
    def ratio(self) -> float:
        return self.alone_seconds / self.batched_seconds


def zoo_config(name: str, epochs: int) -> tuple[dict[str, Any], int]:
    """The zoo ``name`` as the suite trains it, resolved, with ``epochs`` set for classification
    zoos, and the largest batch: the zoo node and ``batch_models`` of the suite experiment whose
    zoo it is, else conf/zoo/<name>.yaml and :data:`~benchmark.zoo.batched.MAX_MODELS`."""
    path = conf_dir() / "zoo" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ValueError(f"--zoo {name!r}: no conf/zoo/{name}.yaml; use one of {known}.")
    node = OmegaConf.load(path)
    if node.get("source"):  # a manifest or a feature table: nothing to train (its interpolations need a run)
        return {"name": name, "source": node["source"]}, 1
    experiment = next((e.name for e in load_suite() if e.zoo == name), None)
    if experiment is None:
        zoo, size = OmegaConf.to_container(node, resolve=True), MAX_MODELS
    else:
        with initialize_config_dir(str(conf_dir()), version_base="1.3"):
            cfg = compose("config", overrides=[f"experiment={experiment}"])
        zoo, size = OmegaConf.to_container(cfg.zoo, resolve=True), int(cfg.batch_models)
    assert isinstance(zoo, dict)
    if zoo.get("task") == "classification":
        zoo.setdefault("fixed", {})["epochs"] = epochs
    return zoo, max(size, 1)


def draw_batches(specs: Sequence[ModelSpec], data: Any, n: int, max_models: int) -> list[list[ModelSpec]]:
    """Whole batches of the zoo's plan (:func:`plan_batches` over every spec), per architecture in
    plan order until they hold at least ``n`` models of it (or the architecture has no more)."""
    chosen: list[list[ModelSpec]] = []
    held: dict[str, int] = {}
    for _, members in plan_batches(specs, data, max_models):
        batch = [specs[i] for i in members]
        arch = batch[0].architecture
        if held.get(arch, 0) < n:
            chosen.append(batch)
            held[arch] = held.get(arch, 0) + len(batch)
    return chosen


def zoo_dataset(zoo: dict[str, Any]) -> tuple[str, Any]:
    """The zoo's first dataset, loaded with its conf/dataset settings."""
    name = zoo["datasets"][0]
    params = OmegaConf.to_container(OmegaConf.load(conf_dir() / "dataset" / f"{name}.yaml"), resolve=True)
    assert isinstance(params, dict)
    return name, load_dataset(name, **{k: v for k, v in params.items() if k != "name"})


def why_not_batched(zoo: dict[str, Any], data: Any, specs: Sequence[ModelSpec]) -> str | None:
    """Why none of the zoo's models would be batched, or None when some are."""
    task = TASKS.get(zoo["task"])
    if not trains_like_classification(task):
        return f"task {zoo['task']!r} is not classification (train_batched trains only Classification's runs)"
    reasons = [unbatchable(s, data) for s in specs]
    return reasons[0] if all(r is not None for r in reasons) else None


def differences(a: list[list[ModelRecord]], b: list[list[ModelRecord]]) -> tuple[float, float]:
    """Largest |difference| of any weight and of any metric between two trainings of the same runs."""
    dw, dm = 0.0, 0.0
    for run_a, run_b in zip(a, b, strict=True):
        for ra, rb in zip(run_a, run_b, strict=True):
            for k, v in ra.state.items():
                if v.size:
                    dw = max(dw, float(np.max(np.abs(v.astype(np.float64) - rb.state[k]))))
            for k, v in ra.metrics.items():
                if not (math.isnan(v) and math.isnan(rb.metrics[k])):
                    dm = max(dm, abs(v - rb.metrics[k]))
    return dw, dm


def time_zoo(name: str, n: int, epochs: int, exact_batchnorm: bool = False) -> list[ZooTiming] | str:
    """Train ``n`` models of zoo ``name`` both ways, one row per architecture; a string says why
    the zoo is not batched. Batch by batch, the batch's models are trained one at a time, then
    batched, so that a change in the machine's load during the run hits both ways alike."""
    zoo, max_models = zoo_config(name, epochs)
    if zoo.get("source"):
        return f"nothing is trained (source: {zoo['source']})"
    specs = zoo_specs(zoo)
    dataset, data = zoo_dataset(zoo)
    reason = why_not_batched(zoo, data, specs)
    if reason is not None:
        return reason
    task = TASKS.get(zoo["task"])
    checkpoints = sorted(int(c) for c in (zoo.get("checkpoints") or []))
    batches = draw_batches(specs, data, n, max_models)
    train_batched(task, batches[0][:1], data, dataset, checkpoints, exact_batchnorm=exact_batchnorm)  # warm-up
    task.train(batches[0][0], data, dataset, checkpoints)
    rows = []
    for arch in dict.fromkeys(b[0].architecture for b in batches):
        alone: list[list[ModelRecord]] = []
        batched: list[list[ModelRecord]] = []
        t_alone = t_batched = 0.0
        sizes = []
        for chosen in (b for b in batches if b[0].architecture == arch):
            a, ta = timed(lambda chosen=chosen: [task.train(s, data, dataset, checkpoints) for s in chosen])
            b, tb = timed(
                lambda chosen=chosen: train_batched(
                    task, chosen, data, dataset, checkpoints, exact_batchnorm=exact_batchnorm
                )
            )
            alone += a
            batched += b
            t_alone += ta
            t_batched += tb
            sizes.append(len(chosen))
        dw, dm = differences(alone, batched)
        rows.append(ZooTiming(name, arch, dataset, len(alone), tuple(sizes), t_alone, t_batched, dw, dm))
    return rows


def render(rows: list[ZooTiming | tuple[str, str]], threads: int, epochs: int, exact_batchnorm: bool = False) -> str:
    """The Markdown table of every zoo (a row per architecture), then the zoos that were not batched."""
    batchnorm = "contiguous (exact_batchnorm)" if exact_batchnorm else "channels-last"
    lines = [
        f"### Batched training: {threads} thread(s), {epochs} epoch(s), {os.cpu_count()} CPU cores, "
        f"image BatchNorm {batchnorm}",
        "",
        "| zoo | architecture | dataset | models | batches (sizes) | one at a time, models/h | batched, models/h | "
        "batched / one at a time | target | max abs Δ weight | max abs Δ metric |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    skipped = []
    for row in rows:
        if isinstance(row, tuple):
            skipped.append(row)
            continue
        target = TARGETS.get((row.zoo, row.architecture))
        verdict = "" if target is None else f">= {target:g} ({'met' if row.ratio >= target else 'MISSED'})"
        lines.append(
            f"| {row.zoo} | {row.architecture} | {row.dataset} | {row.n_models} | {len(row.batch_sizes)} "
            f"({', '.join(map(str, row.batch_sizes))}) | {3600 * row.n_models / row.alone_seconds:,.0f} | "
            f"{3600 * row.n_models / row.batched_seconds:,.0f} | {row.ratio:.2f} | {verdict} | "
            f"{row.max_weight_diff:.1e} | {row.max_metric_diff:.1e} |"
        )
    for zoo, reason in skipped:
        lines.append(f"\n{zoo}: not batched: {reason}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="landscape-bench-perf-batched-training", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=64, help="models per architecture, in whole batches (default 64)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs every model trains (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, both ways (default 1)")
    parser.add_argument("--zoo", nargs="+", default=list(ZOOS), help=f"zoo configs (default: {' '.join(ZOOS)})")
    parser.add_argument(
        "--exact-batchnorm",
        action="store_true",
        help="batched image BatchNorm on contiguous activations (train_batched(exact_batchnorm=True))",
    )
    args = parser.parse_args(argv)
    if args.models < 1 or args.epochs < 1 or args.threads < 1:
        parser.error(f"--models {args.models} --epochs {args.epochs} --threads {args.threads}: each must be >= 1.")
    torch.set_num_threads(args.threads)
    rows: list[ZooTiming | tuple[str, str]] = []
    for name in args.zoo:
        try:
            result = time_zoo(name, args.models, args.epochs, args.exact_batchnorm)
        except ValueError as e:
            parser.error(str(e))
        rows += [(name, result)] if isinstance(result, str) else result
        print(f"zoo {name} done", file=sys.stderr, flush=True)
    print(render(rows, args.threads, args.epochs, args.exact_batchnorm), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
