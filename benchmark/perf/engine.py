"""Side-by-side benchmark of the grid and curvature engines against peer packages.

    landscape-bench-perf [--steps 41] [--cnn-steps 21] [--repeats 3] [--threads N] [--device auto] [--quick]

One process, one thread count, one device, the same trained models, data, directions and grid for
every method:

- grid evaluation: ours (``evaluate_grid``), a naive copy-the-weights-per-node loop,
  ``loss-landscapes``' ``random_plane`` and Landscaper's ``LossLandscape.compute``, all on
  ``--device``: points/s, ratio to ours, max |difference| of values vs ours, achieved GFLOP/s
  (forward FLOPs counted by ``FlopCounterMode``) against the measured fp32 ``torch.mm`` peak of
  that device. On an accelerator (or with ``--node-batched``) our node-batched path
  (``landscape.node_batch``) joins them, and so does the CIFAR-size case, a ResNet-20 on random
  3x32x32 images (``--models`` names the cases: mlp, cnn, resnet20);
- curvature: our Lanczos top eigenvalue and Hutchinson trace vs PyHessian's, at matched accuracy
  and probe count, with the dense Hessian as reference (on the CPU).

Models are trained on the CPU, then moved to the device.

Peers that are not installed are skipped with a note. Prints Markdown; ``--out`` also writes it.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from benchmark import device
from benchmark.data import Split
from benchmark.perf import hessian_methods as hm
from benchmark.perf.cases import CASE_DATA, Case, build_case, case_data, curvature_config, landscape_config, on_device
from benchmark.perf.grid_methods import GRID_METHODS, NODE_BATCHED, Check, GridMethod, quiet_imports
from benchmark.perf.measure import forward_flops, matmul_peak, timed

PEERS = ("loss-landscapes random_plane", "Landscaper LossLandscape.compute")
AGREE = 1e-5  # values "equal": max |Δ| at the visited nodes <= AGREE * max(1, max |value|) (float32 rounding)
TARGET_GRID_SPEEDUP = 2.0
TARGET_CNN_PEAK = 0.5
TARGET_EIG_SPEEDUP = 2.0


@dataclass
class GridRow:
    """One method's grid evaluation of one case."""

    case: Case
    method: GridMethod
    seconds: float  # best of the repeats
    check: Check
    flops_per_point: int
    values: np.ndarray

    @property
    def points(self) -> int:
        return self.case.steps**2

    @property
    def rate(self) -> float:
        return self.points / self.seconds

    @property
    def gflops(self) -> float:
        return self.flops_per_point * self.rate / 1e9


@dataclass
class Results:
    """Everything one run measured."""

    threads: int
    peak_gflops: float
    peak_size: int
    n_samples: int
    device: torch.device
    cases: list[Case] = field(default_factory=list)
    grid: list[GridRow] = field(default_factory=list)
    references: dict[str, hm.Reference] = field(default_factory=dict)
    curvature: dict[str, list[hm.Estimate]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="landscape-bench-perf", description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=None, help="nodes per axis of the MLP grid (odd; default 41)")
    p.add_argument("--cnn-steps", type=int, default=None, help="nodes per axis of the CNN grid (odd; default 21)")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per method; the best counts (default 3)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's default)")
    p.add_argument("--samples", type=int, default=None, help="evaluation batch (default: n_samples of random_2d)")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (default: each zoo's own)")
    p.add_argument("--eig-tol", type=float, default=1e-4, help="relative accuracy both eigen-solvers must reach")
    p.add_argument("--probes", type=int, default=None, help="Hutchinson probes (default: trace_samples of lanczos)")
    p.add_argument("--resnet-steps", type=int, default=None, help="nodes per axis of the ResNet-20 grid (default 21)")
    p.add_argument(
        "--models", default=None, help="comma-separated: mlp, cnn, resnet20 (default mlp,cnn; on an accelerator all)"
    )
    p.add_argument("--device", default="auto", help="where the grids run, as the device setting: auto, cpu, cuda, ...")
    p.add_argument(
        "--node-batched",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also time our node-batched path (default: on an accelerator)",
    )
    p.add_argument("--hessian-models", default="mlp", help="models for the curvature comparison ('' for none)")
    p.add_argument("--no-peers", action="store_true", help="ours and the naive loop only")
    p.add_argument("--quick", action="store_true", help="tiny sizes (5x5 grids, 1 epoch, small batch): a smoke test")
    p.add_argument("--out", type=Path, default=None, help="also write the Markdown here")
    args = p.parse_args(argv)
    problems = device.device_problems(args.device)
    if problems:
        p.error(problems[0])
    accelerator = device.resolve(args.device).type != "cpu"
    if args.models is None:
        args.models = ",".join(CASE_DATA) if accelerator else "mlp,cnn"
    unknown = sorted(set(filter(None, args.models.split(","))) - set(CASE_DATA))
    if unknown:
        p.error(f"--models {args.models}: {unknown} are not cases; the cases are {', '.join(CASE_DATA)}")
    if args.node_batched is None:
        args.node_batched = accelerator
    quick = {"steps": 5, "cnn_steps": 5, "resnet_steps": 3, "repeats": 1, "samples": 64, "epochs": 1, "probes": 8}
    full = {
        "steps": 41, "cnn_steps": 21, "resnet_steps": 21, "repeats": 3, "samples": None, "epochs": None, "probes": None,
    }  # fmt: skip
    for k, v in (quick if args.quick else full).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    if args.samples is None:
        args.samples = int(landscape_config()["n_samples"])
    if args.probes is None:
        args.probes = int(curvature_config()["trace_samples"])
    return args


def measure_grids(cases: Sequence[Case], methods: Sequence[GridMethod], repeats: int) -> list[GridRow]:
    """Time every method on every case, the repeats interleaved across methods; check values."""
    rows = []
    for case in cases:
        best = {m.name: math.inf for m in methods}
        values: dict[str, np.ndarray] = {}
        for _ in range(repeats):
            for m in methods:
                run = m.prepare(case)
                out, seconds = timed(run)
                best[m.name] = min(best[m.name], seconds)
                values[m.name] = out
        ours = values[methods[0].name]
        flops = forward_flops(case.model, case.objective)
        for m in methods:
            rows.append(GridRow(case, m, best[m.name], m.check(case, values[m.name], ours), flops, values[m.name]))
    return rows


def measure_curvature(
    case: Case, rel_tol: float, probes: int, repeats: int, pyhessian: bool
) -> tuple[hm.Reference, list[hm.Estimate]]:
    """Dense reference; ours at the fewest Lanczos steps reaching ``rel_tol`` and as configured;
    PyHessian at the loosest ``tol`` reaching it; both traces with ``probes`` probes. Every timed
    estimate is the best of ``repeats`` runs."""
    curv = curvature_config()
    seed = int(curv["seed"])
    ref = hm.dense_reference(case)

    def best(fn: Callable[..., hm.Estimate], *args: object) -> hm.Estimate:
        runs = [fn(*args) for _ in range(repeats)]
        return min(runs, key=lambda e: e.seconds)

    steps, reached = hm.lanczos_steps_for(case, rel_tol, ref.lambda_max, seed)
    est = [
        best(hm.ours_lambda_max, case, steps, seed, f"{steps} steps (fewest reaching {rel_tol:g})", reached),
        best(hm.ours_lambda_max, case, int(curv["lanczos_iters"]), seed, f"{curv['lanczos_iters']} steps (pipeline)"),
    ]
    if pyhessian:
        first, tol = hm.pyhessian_lambda_max_to(case, rel_tol, ref.lambda_max, seed)
        again = [hm.pyhessian_lambda_max(case, tol, seed) for _ in range(repeats - 1)]
        chosen = min([first, *again], key=lambda e: e.seconds)
        chosen.reached = first.reached
        est.append(chosen)
    est.append(best(hm.ours_trace, case, probes, seed))
    if pyhessian:
        est.append(best(hm.pyhessian_trace, case, probes, seed))
    return ref, est


def run(args: argparse.Namespace) -> Results:
    """Measure everything ``args`` asks for."""
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    where = device.resolve(args.device)
    peak_size = 1024 if args.quick else 2048
    res = Results(torch.get_num_threads(), matmul_peak(peak_size, where=where), peak_size, args.samples, where)
    methods = [m for m in GRID_METHODS if not (args.no_peers and m.package)]
    if args.node_batched:
        methods.insert(1, NODE_BATCHED)
    available = []
    for m in methods:
        why = m.missing()
        if why:
            res.skipped.append(f"{m.name}: {why}")
        else:
            available.append(m)
            if m.package:
                res.versions[m.package] = m.version()
    pyhessian = not args.no_peers and hm.pyhessian_missing() is None
    if not args.no_peers and not pyhessian:
        res.skipped.append(f"PyHessian: {hm.pyhessian_missing()}")
    elif pyhessian:
        res.versions["pyhessian"] = metadata.version("pyhessian")
    quiet_imports()
    data: dict[str, Split] = {}
    keys = [k for k in args.models.split(",") if k]
    hessian_keys = {k for k in args.hessian_models.split(",") if k}
    steps = {"mlp": args.steps, "cnn": args.cnn_steps, "resnet20": args.resnet_steps}
    for key in keys:
        if CASE_DATA[key] not in data:  # cases on one dataset share it
            data[CASE_DATA[key]] = case_data(key, args.quick)
        case = build_case(key, data[CASE_DATA[key]], steps[key], args.samples, args.epochs, args.quick)
        if case.key in hessian_keys:  # on the CPU, before the case moves
            ref, est = measure_curvature(case, args.eig_tol, args.probes, args.repeats, pyhessian)
            res.references[case.key], res.curvature[case.key] = ref, est
        res.cases.append(on_device(case, where))
    res.grid = measure_grids(res.cases, available, args.repeats)
    return res


# ----------------------------------------------------------------------------- Markdown


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    right = [
        "---:" if h.startswith(("points", "×", "max", "GFLOP", "%", "value", "rel", "HVP", "sec", "Py")) else "---"
        for h in header
    ]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(right) + " |"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _g(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def _e(x: float) -> str:
    return "n/a" if not math.isfinite(x) else ("0" if x == 0 else f"{x:.1e}")


def render(res: Results) -> str:
    """The results as Markdown: setup, grid table and notes, curvature table, targets."""
    lines = ["### Setup", ""]
    host = "" if res.device.type == "cpu" else f" on {device.cpu_name()}"  # the CPU's name is in its describe
    lines.append(
        f"- torch {torch.__version__}, {res.threads} thread(s){host}; device {device.describe(res.device)}; "
        f"fp32 matmul peak there (torch.mm {res.peak_size}x{res.peak_size}, best of 5): {res.peak_gflops:.1f} GFLOP/s"
    )
    ls = landscape_config()
    names = {CASE_DATA[c.key] for c in res.cases}
    described = ["sklearn digits" if n == "digits" else f"random images of {n}'s shape" for n in sorted(names)]
    lines.append(
        f"- data: {' and '.join(described)}, loss on {res.n_samples} training samples; directions as "
        f"conf/landscape/{ls['name']}.yaml ({ls['normalization']}-normalised, seed {ls['seed']}, "
        f"biases {'moved' if ls['include_bias'] else 'fixed'}), grid span ±{ls['span']:g}"
    )
    for case in res.cases:
        m = case.record.metrics
        flops = next(r.flops_per_point for r in res.grid if r.case is case)
        lines.append(
            f"- {case.label}: {case.n_params:,} parameters, {flops / 1e6:.2f} MFLOP per evaluation "
            f"(FlopCounterMode), trained {case.record.epoch} epochs (train accuracy {m['train_accuracy']:.3f})"
        )
    if res.versions:
        lines.append("- peers: " + ", ".join(f"{k} {v}" for k, v in sorted(res.versions.items())))
    for s in res.skipped:
        lines.append(f"- skipped: {s}")

    lines += ["", "### Grid evaluation", ""]
    header = [
        "model", "grid", "method", "directions", "points/s", "× ours",
        "max abs Δ (as returned)", "max abs Δ (same nodes)", "GFLOP/s", "% of peak",
    ]  # fmt: skip
    rows, notes = [], []
    for case in res.cases:
        case_rows = [r for r in res.grid if r.case is case]
        ours = next(r for r in case_rows if r.method.name == "ours")
        for r in case_rows:
            rows.append(
                [
                    case.label,
                    f"{case.steps}x{case.steps}",
                    r.method.name,
                    r.method.directions,
                    f"{r.rate:,.0f}",
                    f"{r.rate / ours.rate:.2f}",
                    "—" if r is ours else _e(r.check.max_abs_diff),
                    "—" if r is ours else _e(r.check.agreement),
                    f"{r.gflops:.2f}",
                    f"{100 * r.gflops / res.peak_gflops:.1f}",
                ]
            )
            notes += [f"{r.method.name}, {case.label}: {n}" for n in r.check.notes]
    lines += _table(header, rows)
    if notes:
        lines += ["", *(f"- {n}" for n in notes)]

    if res.curvature:
        lines += ["", "### Curvature", ""]
        if res.device.type != "cpu":
            lines += ["On the CPU (the models before they moved to the device).", ""]
        header = ["model", "quantity", "method", "setting", "value", "rel. error", "HVPs", "seconds", "PyHessian/ours"]
        rows = []
        for key, est in res.curvature.items():
            ref = res.references[key]
            label = next(c.label for c in res.cases if c.key == key)
            for q, exact in (("lambda_max", ref.lambda_max), ("trace", ref.trace)):
                rows.append(
                    [
                        label,
                        q,
                        "dense Hessian",
                        f"{ref.n} HVPs, exact",
                        f"{exact:.6g}",
                        "0",
                        str(ref.n),
                        f"{ref.seconds:.2f}",
                        "",
                    ]
                )
                group = [e for e in est if e.quantity == q]
                py = next((e for e in group if e.method.startswith("PyHessian")), None)
                for e in group:
                    value = f"{e.value:.6g}" + (f" ± {e.stderr:.2g}" if math.isfinite(e.stderr) else "")
                    err = abs(e.value - exact) / abs(exact)
                    ratio = "" if py is None or e is py else f"{py.seconds / e.seconds:.2f}"
                    mark = "" if e.reached else " (not reached)"
                    rows.append(
                        [label, q, e.method, e.setting + mark, value, _e(err), str(e.hvps), f"{e.seconds:.3f}", ratio]
                    )
        lines += _table(header, rows)
        lines += [
            "",
            "- dense Hessian asymmetry max|H-Hᵀ|/max|H|: "
            + ", ".join(f"{k} {_e(r.asymmetry)}" for k, r in res.references.items()),
        ]

    lines += ["", "### Targets", "", *targets(res)]
    return "\n".join(lines) + "\n"


def targets(res: Results) -> list[str]:
    """Each stated target with the measured number and whether it is met."""
    out = []
    for case in res.cases:
        rows = {r.method.name: r for r in res.grid if r.case is case}
        ours = rows["ours"]
        peers = [rows[n] for n in PEERS if n in rows]
        if peers:
            fastest = max(peers, key=lambda r: r.rate)
            speedup = ours.rate / fastest.rate
            scale = max(1.0, float(np.nanmax(np.abs(ours.values))))
            equal = fastest.check.agreement <= AGREE * scale
            met = speedup >= TARGET_GRID_SPEEDUP and equal
            out.append(
                f"- grid evaluation ≥ {TARGET_GRID_SPEEDUP:g}x the fastest peer at equal values, {case.label}: "
                f"{speedup:.2f}x {fastest.method.name} (values at the nodes it visits agree to "
                f"{_e(fastest.check.agreement)}, largest |loss| {scale:.3g}): **{'met' if met else 'not met'}**"
            )
        else:
            out.append(f"- grid evaluation vs peers, {case.label}: no peer installed, not measured")
        if case.key == "cnn":
            share = ours.gflops / res.peak_gflops
            out.append(
                f"- ≥ {100 * TARGET_CNN_PEAK:.0f}% of matmul peak on the {case.label}: {100 * share:.1f}% "
                f"({ours.gflops:.2f} of {res.peak_gflops:.1f} GFLOP/s): "
                f"**{'met' if share >= TARGET_CNN_PEAK else 'not met'}**"
            )
    for key, est in res.curvature.items():
        label = next(c.label for c in res.cases if c.key == key)
        ours = next(e for e in est if e.quantity == "lambda_max" and e.method.startswith("ours"))
        py = next((e for e in est if e.quantity == "lambda_max" and e.method.startswith("PyHessian")), None)
        if py is None:
            out.append(f"- top eigenvalue vs PyHessian, {label}: PyHessian not installed, not measured")
            continue
        speedup = py.seconds / ours.seconds
        both = ours.reached and py.reached
        met = both and speedup >= TARGET_EIG_SPEEDUP
        out.append(
            f"- top eigenvalue ≥ {TARGET_EIG_SPEEDUP:g}x PyHessian at equal accuracy, {label}: {speedup:.2f}x "
            f"({ours.hvps} vs {py.hvps} HVPs{'' if both else '; accuracy not reached by both'}): "
            f"**{'met' if met else 'not met'}**"
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    text = render(run(args))
    print(text, end="")
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
