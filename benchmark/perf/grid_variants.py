"""Ways to evaluate a grid faster, measured against the engine as it is.

    landscape-bench-perf-grid-variants --threads 1

On the two models of ``landscape-bench-perf`` (digits MLP, 41x41; digits CNN, 21x21), each
variant evaluates the same grid with the same directions; after one untimed warm-up run of each,
the timed runs are interleaved and the fastest of ``--repeats`` counts. Printed per variant:
points/s, the ratio to the engine, the largest difference from the engine's values, and
(torch.compile) the one-off compile time, which the grid of one model has to pay back. The
variants:

- *engine*: ``evaluate_grid`` as the pipeline calls it (the input layer's output reused).
- *engine, no input-layer reuse*: ``reuse_input_layer=False``.
- *in-place weights*: the parameters are overwritten in place at every node (``torch.add(...,
  out=)``) and the model itself is called, with no ``functional_call``: the least work between
  forwards (what ``loss-landscapes`` does).
- *in-place + torch.compile*: the same, through ``torch.compile(model)`` (default mode).
- *channels-last* (CNN): the engine on a model and batch in ``torch.channels_last`` layout.
- *vmap over nodes*: the engine's node-batched path (``evaluate_grid_batched``, what
  ``landscape.node_batch`` chooses on an accelerator): ``torch.func.vmap`` of ``functional_call``
  over ``--chunk`` nodes at once (their weights stacked), so each layer is one batched product for
  all of them.

The results and what was kept are in docs/performance.md, "What else was tried".
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from benchmark import device
from benchmark.data import load_dataset
from benchmark.landscape import evaluate_grid
from benchmark.landscape.grid import evaluate_grid_batched
from benchmark.perf.cases import Case, build_case, on_device
from benchmark.perf.measure import timed
from benchmark.zoo import Objective

Runner = Callable[[], np.ndarray]


@dataclass(frozen=True)
class VariantRow:
    model: str
    grid: str
    variant: str
    points_per_s: float
    ratio: float
    max_abs_diff: float
    setup_s: float


def _moved(case: Case) -> list[str]:
    return [n for n, _ in case.model.named_parameters() if any(bool(d[n].any()) for d in case.directions if n in d)]


def in_place(case: Case, compile_model: bool) -> tuple[Runner, float]:
    """Overwrite the moved parameters in place at every node and call the (compiled) model."""
    net = copy.deepcopy(case.model).eval()
    params = dict(net.named_parameters())
    moved = _moved(case)
    center = {n: params[n].detach().clone() for n in moved}
    d1, d2 = case.directions
    forward = torch.compile(net) if compile_model else net
    setup = 0.0
    if compile_model:
        with torch.no_grad():
            _, setup = timed(lambda: case.objective(forward))  # compiles once

    def run() -> np.ndarray:
        values = np.empty((len(case.axes[0]), len(case.axes[1])))
        with torch.no_grad():
            for i, a in enumerate(case.axes[0].tolist()):
                row = {n: torch.add(center[n], d1[n], alpha=a) for n in moved}
                for j, b in enumerate(case.axes[1].tolist()):
                    for n in moved:
                        torch.add(row[n], d2[n], alpha=b, out=params[n].data)
                    values[i, j] = float(case.objective(forward))
            for n in moved:
                params[n].data.copy_(center[n])
        return values

    return run, setup


def channels_last(case: Case) -> tuple[Runner, float]:
    """The engine on a channels-last copy of the model and batch."""
    net = copy.deepcopy(case.model).eval().to(memory_format=torch.channels_last)
    obj = case.objective
    inputs = obj.inputs.contiguous(memory_format=torch.channels_last) if obj.inputs.dim() == 4 else obj.inputs
    objective = Objective(inputs, obj.targets, obj.fn, obj.needs_input_grad)
    return (lambda: evaluate_grid(net, objective, case.directions, case.axes)), 0.0


def vmapped(case: Case, chunk: int) -> tuple[Runner, float]:
    """The engine's node-batched path (``evaluate_grid_batched``): ``chunk`` nodes per call,
    vectorised with ``torch.func.vmap``, as ``landscape.node_batch`` runs it on an accelerator."""
    return (lambda: evaluate_grid_batched(case.model, case.objective, case.directions, case.axes, chunk)), 0.0


def variants(case: Case, chunks: Sequence[int]) -> dict[str, tuple[Runner, float]]:
    out: dict[str, tuple[Runner, float]] = {
        "engine": ((lambda: evaluate_grid(case.model, case.objective, case.directions, case.axes)), 0.0),
        "engine, no input-layer reuse": (
            (lambda: evaluate_grid(case.model, case.objective, case.directions, case.axes, reuse_input_layer=False)),
            0.0,
        ),
        "in-place weights": in_place(case, compile_model=False),
        "in-place + torch.compile": in_place(case, compile_model=True),
    }
    if any(isinstance(m, torch.nn.Conv2d) for m in case.model.modules()):
        out["channels-last"] = channels_last(case)
    for k in chunks:
        out[f"vmap over {k} nodes"] = vmapped(case, k)
    return out


def measure(case: Case, chunks: Sequence[int], repeats: int) -> list[VariantRow]:
    """One untimed warm-up run of each variant, then ``repeats`` interleaved timed runs; the fastest
    of each counts."""
    runs = variants(case, chunks)
    best = dict.fromkeys(runs, float("inf"))
    values = {name: run() for name, (run, _) in runs.items()}
    for _ in range(repeats):
        for name, (run, _) in runs.items():
            values[name], seconds = timed(run)
            best[name] = min(best[name], seconds)
    nodes = values["engine"].size
    grid = "x".join(str(n) for n in values["engine"].shape)
    return [
        VariantRow(
            case.label,
            grid,
            name,
            nodes / best[name],
            best["engine"] / best[name],
            float(np.max(np.abs(values[name] - values["engine"]))),
            runs[name][1],
        )
        for name in runs
    ]


def render(rows: Sequence[VariantRow], threads: int, where: torch.device | None = None) -> str:
    lines = [
        f"torch {torch.__version__}, {threads} thread(s), device {device.describe(where or torch.device('cpu'))}",
        "",
        "| model | grid | variant | points/s | × engine | max abs Δ vs engine | compile s |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        setup = f"{r.setup_s:.1f}" if r.setup_s else ""
        lines.append(
            f"| {r.model} | {r.grid} | {r.variant} | {r.points_per_s:,.0f} | {r.ratio:.2f} | "
            f"{r.max_abs_diff:.1e} | {setup} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="landscape-bench-perf-grid-variants", description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--steps", type=int, default=41, help="nodes per axis of the MLP grid")
    parser.add_argument("--cnn-steps", type=int, default=21, help="nodes per axis of the CNN grid")
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--chunks", type=int, nargs="*", default=[8, 41])
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: each zoo's)")
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--device", default="cpu", help="where the grids run, as the device setting: cpu, cuda, ...")
    args = parser.parse_args(argv)
    problems = device.device_problems(args.device)
    if problems:
        parser.error(problems[0])
    where = device.resolve(args.device)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    data = load_dataset("digits")
    rows: list[VariantRow] = []
    t0 = time.perf_counter()
    for key in [k for k in args.models.split(",") if k]:
        case = build_case(key, data, args.steps if key == "mlp" else args.cnn_steps, args.samples, args.epochs)
        rows += measure(on_device(case, where), args.chunks, args.repeats)
    print(render(rows, torch.get_num_threads(), where))
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
