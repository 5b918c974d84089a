"""What a classification experiment on a local image dataset costs on this machine, measured.

    landscape-bench-perf-experiment-cost [--experiment resnet20_cifar10] [--images 2048] [--threads 1]
                                         [OVERRIDE ...]

For experiments whose data is read from ``dataset.root`` (CIFAR-10, MNIST, Fashion-MNIST) and may
not be on this machine: the models are timed on random images of the dataset's shape, with the
experiment's own code paths, so neither the files nor any training to convergence are needed.
For each distinct architecture of the zoo (each distinct batch size, for training):

- training: ``Classification.train`` for one epoch on ``--images`` images, less the evaluation of
  those images it ends with, per image, times the dataset's training-set size: seconds per epoch;
- evaluation: the train and test accuracy every model is measured on at the end of its run
  (``evaluate`` over both splits of the full dataset);
- grid: ``evaluate_grid`` on a 3 x 3 grid along the experiment's ``landscape`` directions (drawn
  untimed), on ``landscape.n_samples`` images, per node;
- curvature: one Hessian-vector product on ``curvature.n_samples`` images (the mean of three),
  times the products the experiment's curvature settings take.

The zoo's total adds these over every model: epochs x seconds per epoch + evaluation + grid nodes
x seconds per node + products x seconds per product. Descriptors and the evaluation stage are
left out. Prints Markdown; OVERRIDEs are Hydra overrides of
the experiment (``zoo.axes.width=[16]``). Everything runs on the CPU at ``--threads`` threads.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from benchmark.cli import conf_dir
from benchmark.data import Split
from benchmark.device import cpu_name
from benchmark.hessian.hvp import make_hvp
from benchmark.landscape import grid_axes
from benchmark.landscape.grid import evaluate_grid
from benchmark.landscape.stage import landscape_directions
from benchmark.models import record_module
from benchmark.models.base import architecture_spec
from benchmark.perf.cases import SIZES, synthetic_split
from benchmark.perf.measure import timed
from benchmark.records import ModelRecord
from benchmark.zoo import TASKS, ModelSpec, zoo_specs
from benchmark.zoo.classification import evaluate

HVP_REPEATS = 3
GRID_STEPS = 3


@dataclass(frozen=True)
class ArchitectureCost:
    """Measured seconds of one architecture (one row of the table)."""

    label: str
    n_params: int
    epoch_seconds: dict[int, float]  # batch size -> seconds per epoch over the full training set
    eval_seconds: float  # accuracy on the full training and test sets
    node_seconds: float  # one grid node
    hvp_seconds: float  # one Hessian-vector product


@dataclass(frozen=True)
class ZooCost:
    """The zoo's total, by kind of work (seconds)."""

    n_models: int
    training: float
    evaluation: float
    grids: float
    curvature: float

    @property
    def total(self) -> float:
        return self.training + self.evaluation + self.grids + self.curvature


def experiment_config(experiment: str, overrides: Sequence[str]) -> dict[str, Any]:
    """The experiment's resolved config (``dataset.download=true`` so no files are looked for)."""
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = compose("config", overrides=[f"experiment={experiment}", "dataset.download=true", *overrides])
    plain = OmegaConf.to_container(cfg, resolve=True)
    assert isinstance(plain, dict)
    return plain


def head(data: Split, n: int) -> Split:
    """The first ``n`` training images of ``data`` (for a warm-up run)."""
    return Split(data.name, data.x_train[:n], data.y_train[:n], data.x_test, data.y_test, data.n_classes)


def architecture_key(spec: ModelSpec, data: Split) -> tuple:
    """What the cost of ``spec``'s forward and backward passes depends on: its architecture spec."""
    arch = architecture_spec(spec.architecture, data.input_shape, data.n_classes, spec.hparams)
    return tuple(sorted((k, str(v)) for k, v in arch.items()))


def one_epoch(spec: ModelSpec, batch_size: int) -> ModelSpec:
    """``spec`` trained for one epoch at ``batch_size`` on all the data it is given."""
    hparams = {**spec.hparams, "epochs": 1, "batch_size": batch_size, "train_fraction": 1.0, "label_noise": 0.0}
    return ModelSpec(spec.model_id, spec.zoo, spec.architecture, hparams, spec.group)


def hvp_seconds(record: ModelRecord, data: Split, c_cfg: Mapping[str, Any]) -> float:
    """Mean seconds of one Hessian-vector product of ``record``'s objective on ``curvature.n_samples`` images."""
    objective = TASKS.get(record.task).objective(record, data, c_cfg["n_samples"], c_cfg["seed"])
    hvp, n = make_hvp(record_module(record), objective)
    v = torch.randn(n, generator=torch.Generator().manual_seed(0))
    hvp(v)  # warm-up
    return sum(timed(lambda: hvp(v))[1] for _ in range(HVP_REPEATS)) / HVP_REPEATS


def measure_architecture(
    specs: Sequence[ModelSpec], data: Split, cfg: Mapping[str, Any], n_full: tuple[int, int]
) -> ArchitectureCost:
    """Time the architecture shared by ``specs`` (one run per batch size among them)."""
    task = TASKS.get(cfg["zoo"]["task"])
    n = len(data.x_train)
    epoch_seconds: dict[int, float] = {}
    for batch_size in sorted({int(s.hparams["batch_size"]) for s in specs}):
        task.train(one_epoch(specs[0], batch_size), head(data, 2 * batch_size), data.name, [])  # warm-up, untimed
        (record,), seconds = timed(lambda b=batch_size: task.train(one_epoch(specs[0], b), data, data.name, []))
        _, eval_n = timed(lambda r=record: evaluate(record_module(r), data.x_train, data.y_train))
        epoch_seconds[batch_size] = max(seconds - eval_n, 0.0) / n * n_full[0]  # less its final evaluation
    return ArchitectureCost(
        label=label(record.architecture),
        n_params=sum(p.numel() for p in record_module(record).parameters()),
        epoch_seconds=epoch_seconds,
        eval_seconds=eval_n / n * sum(n_full),
        node_seconds=node_seconds(record, data, cfg["landscape"]),
        hvp_seconds=hvp_seconds(record, data, cfg["curvature"]),
    )


def label(arch: Mapping[str, Any]) -> str:
    """``cifar_resnet depth=20 width=16 ...``: an architecture spec without its data shape."""
    settings = [f"{k}={v}" for k, v in arch.items() if k not in ("name", "input_shape", "n_outputs")]
    return " ".join([arch["name"], *settings])


def node_seconds(record: ModelRecord, data: Split, ls_cfg: Mapping[str, Any]) -> float:
    """Seconds per node of ``evaluate_grid`` on a 3 x 3 grid with the landscape's settings and
    directions (drawn untimed, as ``compute_landscape`` draws them), node by node as on the CPU;
    it includes the one extra forward pass the grid makes to find the model's input layer."""
    model = record_module(record)
    objective = TASKS.get(record.task).objective(record, data, ls_cfg["n_samples"], ls_cfg["seed"])
    directions, _ = landscape_directions(model, objective, ls_cfg)
    axes = grid_axes(int(ls_cfg["ndim"]), GRID_STEPS, float(ls_cfg["span"]))
    _, seconds = timed(lambda: evaluate_grid(model, objective, directions, axes))
    return seconds / GRID_STEPS ** int(ls_cfg["ndim"])


def hvps_per_model(cfg: Mapping[str, Any], n_params: int) -> int:
    """Hessian-vector products the curvature stage (and Hessian grid directions) take per model."""
    cv, ls = cfg["curvature"], cfg["landscape"]
    iters = min(int(cv["lanczos_iters"]), n_params)
    count = iters + int(cv["trace_samples"]) + int(cv.get("slq_probes", 0)) * iters
    if ls.get("directions") == "hessian":
        count += min(int(ls.get("lanczos_iters", 30)), n_params)
    return count


def zoo_cost(
    specs: Sequence[ModelSpec], costs: Mapping[tuple, ArchitectureCost], data: Split, cfg: Mapping[str, Any]
) -> ZooCost:
    """Every model's measured seconds added up."""
    nodes = int(cfg["landscape"]["steps"]) ** int(cfg["landscape"]["ndim"])
    training = evaluation = grids = curvature = 0.0
    for spec in specs:
        c = costs[architecture_key(spec, data)]
        fraction = float(spec.hparams.get("train_fraction", 1.0))
        training += int(spec.hparams["epochs"]) * fraction * c.epoch_seconds[int(spec.hparams["batch_size"])]
        evaluation += c.eval_seconds
        grids += nodes * c.node_seconds
        curvature += hvps_per_model(cfg, c.n_params) * c.hvp_seconds
    return ZooCost(len(specs), training, evaluation, grids, curvature)


def _h(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def render(
    experiment: str,
    cfg: Mapping[str, Any],
    costs: Sequence[ArchitectureCost],
    zoo: ZooCost,
    images: int,
    threads: int,
    load: tuple[float, float],
) -> str:
    """The measurements and the zoo's total as Markdown (``load``: the machine's 1-minute load
    average before and after, as other work on it slows every number down)."""
    name = cfg["dataset"]["name"]
    shape, n_train, n_test = SIZES[name]
    ls, cv = cfg["landscape"], cfg["curvature"]
    lines = [
        f"### Cost of `experiment={experiment}` on {cpu_name()}, {threads} thread(s), CPU",
        "",
        f"Measured on {images:,} random images of {name}'s shape {shape}; training extrapolated linearly to its "
        f"{n_train:,} training images per epoch, evaluation to its {n_train:,} + {n_test:,} images. Grid nodes "
        f"on {ls['n_samples']} images, Hessian-vector products on {cv['n_samples']}. The machine's load average: "
        f"{load[0]:.1f} before, {load[1]:.1f} after ({os.cpu_count()} cores).",
        "",
        "| architecture | parameters | training s/epoch (batch size) | evaluation s | grid s/node | s/HVP |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for c in costs:
        epochs = ", ".join(f"{s:.0f} ({b})" for b, s in c.epoch_seconds.items())
        lines.append(
            f"| {c.label} | {c.n_params:,} | {epochs} | {c.eval_seconds:.0f} | {c.node_seconds:.2f} | "
            f"{c.hvp_seconds:.2f} |"
        )
    nodes = int(ls["steps"]) ** int(ls["ndim"])
    lines += [
        "",
        f"The zoo: {zoo.n_models} models; {nodes} grid nodes each; {hvps_per_model(cfg, 10**9)} "
        "Hessian-vector products each.",
        "",
        "| training | evaluation | grids | curvature | total |",
        "|---:|---:|---:|---:|---:|",
        f"| {_h(zoo.training)} | {_h(zoo.evaluation)} | {_h(zoo.grids)} | {_h(zoo.curvature)} | "
        f"{_h(zoo.total)} ({zoo.total / 86400:.1f} days) |",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="landscape-bench-perf-experiment-cost", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--experiment", default="resnet20_cifar10", help="conf/experiment/<name> (default resnet20_cifar10)"
    )
    parser.add_argument(
        "--images", type=int, default=2048, help="random images to train and evaluate on (default 2048)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as runs use)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of the experiment, e.g. zoo.axes.width=[16]")
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads {args.threads} must be >= 1.")
    cfg = experiment_config(args.experiment, args.overrides)
    name = cfg["dataset"]["name"]
    if name not in SIZES or cfg["zoo"].get("task") != "classification" or cfg["zoo"].get("source", "train") != "train":
        parser.error(
            f"--experiment {args.experiment}: its zoo must train classifiers on one of {sorted(SIZES)} "
            f"(it has dataset {name!r}, task {cfg['zoo'].get('task')!r})."
        )
    least = max(int(cfg["landscape"]["n_samples"]), int(cfg["curvature"]["n_samples"]))
    if args.images < least:
        parser.error(f"--images {args.images} is fewer than the {least} images a grid node or HVP evaluates on.")
    torch.set_num_threads(args.threads)
    data = synthetic_split(name, args.images)
    specs = zoo_specs(cfg["zoo"])
    groups: dict[tuple, list[ModelSpec]] = {}
    for spec in specs:
        groups.setdefault(architecture_key(spec, data), []).append(spec)
    costs: dict[tuple, ArchitectureCost] = {}
    before = os.getloadavg()[0]
    for key, members in groups.items():
        costs[key] = measure_architecture(members, data, cfg, SIZES[name][1:])
        print(f"measured {costs[key].label}", file=sys.stderr, flush=True)
    total, load = zoo_cost(specs, costs, data, cfg), (before, os.getloadavg()[0])
    print(render(args.experiment, cfg, list(costs.values()), total, args.images, args.threads, load))
    return 0


if __name__ == "__main__":
    sys.exit(main())
