"""Agreement of our merge-tree minima counts and SMAD with Landscaper's, on identical grids.

    landscape-bench-perf-landscaper-agreement [--quick] [--out FILE]

For every landscape, the same square grid goes to both: Landscaper 1.3.1's ``LossLandscape`` (loss
array and the grid's axes as its ranges; it builds a Gabriel graph over the points, which on a
regular square grid is the 4-neighbour grid graph) and our descriptors. Compared:

- minima: ``sublevel_tree.n_minima`` (gudhi H0 points) vs the leaves of Landscaper's
  ``get_sublevel_tree()`` (topopy merge tree);
- SMAD: ``smad`` (``tree=landscaper``) vs ``LossLandscape.smad()`` for the plain,
  ``normalize=True`` and ``weighted=True`` variants.

The landscapes: seeded random smooth fields (Gaussian-filtered noise, 11x11 to 21x21) and loss
grids of small digits MLPs computed by the pipeline's ``compute_landscape`` (15x15). Values are
rounded to float32 first: topopy computes in float32, so this makes both sides see the same,
tie-free numbers (a grid with tied values is reported, as the two break ties differently).
Landscaper is not a dependency of the benchmark (``make perf`` installs it); without it this prints
why and exits with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from scipy.ndimage import gaussian_filter

from benchmark.cli import conf_dir
from benchmark.data import load_dataset
from benchmark.descriptors import DescriptorInputs, build_descriptor
from benchmark.landscape.stage import compute_landscape
from benchmark.records import Landscape, ModelRecord
from benchmark.topology import descent_basins, saddle_minimum_pairs
from benchmark.zoo import TASKS, expand_zoo

FIELD_SIZES = (11, 15, 21)
FIELD_SIGMAS = (0.8, 1.2, 2.0)
FIELD_SEEDS = (0, 1)
MODEL_WIDTHS = (4, 16)
MODEL_EPOCHS = (1, 5)
LOSS_SPANS = (1.0, 4.0)
LOSS_STEPS = 15
SMAD_VARIANTS = {"smad": {}, "smad_normalized": {"normalize": True}, "smad_weighted": {"weighted": True}}


@dataclass
class Row:
    """One landscape, measured by both."""

    name: str
    shape: tuple[int, ...]
    ties: bool
    ours_minima: int
    theirs_minima: int
    ours: dict[str, float]
    theirs: dict[str, float]
    unpaired: tuple[int, int]  # minima in no SMAD pair: Landscaper's one-pass contour tree / the complete one
    seconds_ours: float
    seconds_theirs: float

    @property
    def max_smad_diff(self) -> float:
        return max(abs(self.ours[k] - self.theirs[k]) for k in SMAD_VARIANTS)


def random_fields(quick: bool = False) -> Iterator[tuple[str, np.ndarray]]:
    """Seeded smooth random fields: ``gaussian_filter(N(0, 1) noise, sigma)`` on square grids."""
    for size in FIELD_SIZES[:2] if quick else FIELD_SIZES:
        for sigma in FIELD_SIGMAS:
            for seed in FIELD_SEEDS[:1] if quick else FIELD_SEEDS:
                noise = np.random.default_rng([seed, size, int(10 * sigma)]).standard_normal((size, size))
                yield f"field {size}x{size} sigma={sigma} seed={seed}", gaussian_filter(noise, sigma, mode="reflect")


def _record(width: int, epochs: int, data: object) -> ModelRecord:
    spec = expand_zoo(
        "agreement",
        "mlp",
        {"depth": 1, "activation": "relu", "lr": 1e-2, "batch_size": 64, "epochs": epochs},
        {"width": [width], "seed": [0]},
    )[0]
    return TASKS.get("classification").train(spec, data, "digits", checkpoints=[])[-1]


def loss_grids(quick: bool = False) -> Iterator[tuple[str, np.ndarray]]:
    """Training-loss grids of digits MLPs (conf/landscape/random_2d.yaml with 15 steps, 64 samples)."""
    data = load_dataset("digits", test_fraction=0.3, split_seed=0)
    base = yaml.safe_load((conf_dir() / "landscape" / "random_2d.yaml").read_text())
    for width in MODEL_WIDTHS[:1] if quick else MODEL_WIDTHS:
        for epochs in MODEL_EPOCHS:
            record = _record(width, epochs, data)
            for span in LOSS_SPANS:
                cfg = {**base, "steps": LOSS_STEPS, "span": span, "n_samples": 64}
                ls = compute_landscape(record, data, cfg)
                yield f"loss MLP width={width} epochs={epochs} span={span}", ls.values


def _unpaired(values: np.ndarray, tree: str) -> int:
    valid = np.isfinite(values)
    labels = descent_basins(values, valid)
    paired = {m for m, _ in saddle_minimum_pairs(values, valid, tree)}  # type: ignore[arg-type]
    return len(set(labels[labels >= 0].tolist()) - paired)


def _ours(values: np.ndarray) -> tuple[int, dict[str, float], tuple[int, int]]:
    axes = tuple(np.linspace(-1.0, 1.0, n) for n in values.shape)
    model = ModelRecord("agreement", "agreement", "classification", {}, "none", {}, 0, "agreement", 0, {}, {})
    landscape = Landscape("agreement", "loss", axes, values, (1.0,) * values.ndim, {})
    inputs = DescriptorInputs(model=model, landscape=landscape)
    minima = build_descriptor("sublevel_tree").features(inputs)["n_minima"]
    smad = build_descriptor("smad", {"tree": "landscaper"}).features(inputs)
    return (
        int(minima),
        {k: smad[k] for k in SMAD_VARIANTS},
        (_unpaired(values, "landscaper"), _unpaired(values, "contour")),
    )


def _theirs(values: np.ndarray) -> tuple[int, dict[str, float]]:
    from landscaper import LossLandscape

    if values.ndim != 2 or values.shape[0] != values.shape[1]:
        raise ValueError(
            f"Landscaper pairs coordinates and values correctly only on square 2-D grids, not {values.shape}"
        )
    axis = np.linspace(-1.0, 1.0, values.shape[0])
    landscape = LossLandscape(values, [axis, axis])
    minima = len(landscape.get_sublevel_tree().leaves)
    return minima, {k: float(landscape.smad(**kw)) for k, kw in SMAD_VARIANTS.items()}


def measure(name: str, values: np.ndarray) -> Row:
    """Both sides on one grid (values rounded to float32 first)."""
    values = np.asarray(values, dtype=np.float32).astype(np.float64)
    ties = len(np.unique(values)) < values.size
    t0 = time.perf_counter()
    ours_minima, ours, unpaired = _ours(values)
    t1 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        theirs_minima, theirs = _theirs(values)
    t2 = time.perf_counter()
    return Row(name, values.shape, ties, ours_minima, theirs_minima, ours, theirs, unpaired, t1 - t0, t2 - t1)


def landscaper_missing() -> str | None:
    """Why Landscaper cannot run here, or None."""
    for module in ("landscaper", "topopy", "nglpy"):
        if importlib.util.find_spec(module) is None:
            return (
                f"{module} is not installed; install Landscaper as `make perf` does: pip install -e '.[bench]' && "
                "pip install --no-deps landscaper==1.3.1 topopy==1.0.4 nglpy==1.1.7"
            )
    return None


def agreement(quick: bool = False) -> list[Row]:
    """Measure every landscape (random fields, then loss grids)."""
    grids = [*random_fields(quick), *loss_grids(quick)]
    return [measure(name, values) for name, values in grids]


def render(rows: list[Row]) -> str:
    """Markdown: one line per landscape, then the summary."""
    lines = [
        "| landscape | grid | minima (ours / Landscaper) | SMAD plain (ours / Landscaper) | max abs SMAD diff | ties "
        "| minima without a SMAD pair (one-pass / complete contour tree) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.name} | {'x'.join(map(str, r.shape))} | {r.ours_minima} / {r.theirs_minima} | "
            f"{r.ours['smad']:.6g} / {r.theirs['smad']:.6g} | {r.max_smad_diff:.2g} | {'yes' if r.ties else 'no'} | "
            f"{r.unpaired[0]} / {r.unpaired[1]} |"
        )
    equal = sum(r.ours_minima == r.theirs_minima for r in rows)
    per_variant = {k: max(abs(r.ours[k] - r.theirs[k]) for r in rows) for k in SMAD_VARIANTS}
    lines += [
        "",
        f"{len(rows)} landscapes ({sum(r.ties for r in rows)} with tied values): minima counts equal on "
        f"{equal}/{len(rows)}; max |SMAD difference| "
        + ", ".join(f"{k} {v:.2g}" for k, v in per_variant.items())
        + f"; time ours {sum(r.seconds_ours for r in rows):.2f} s, "
        + f"Landscaper {sum(r.seconds_theirs for r in rows):.1f} s. Minima without a SMAD pair: "
        + f"{sum(r.unpaired[0] for r in rows)} of {sum(r.ours_minima for r in rows)} with Landscaper's one-pass "
        + f"contour tree, {sum(r.unpaired[1] for r in rows)} with the complete one.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="landscape-bench-perf-landscaper-agreement", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer landscapes (a smoke run)")
    parser.add_argument("--out", type=Path, help="also write the Markdown here")
    args = parser.parse_args(argv)
    missing = landscaper_missing()
    if missing:
        print(missing, file=sys.stderr)
        return 2
    text = render(agreement(args.quick))
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
