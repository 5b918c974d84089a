"""Command line: ``landscape-bench [overrides]`` (a Hydra app; ``--help``, ``--cfg job``, ``-m``).

Single runs write the leaderboard at the end; in a multirun every job writes its scores into its
own output folder and :class:`GatherLeaderboard` (a Hydra callback) merges all jobs into one
leaderboard when the sweep ends, whatever the launcher.

The pipeline and the report (torch, scikit-learn, gudhi, matplotlib) are imported by the job, not
with this module, so ``--help``, ``--cfg`` and a refused override answer at once.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from benchmark.registry import Registry

log = logging.getLogger("benchmark")


def conf_dir() -> Path:
    """``conf/`` of the source checkout (editable install) or the copy inside the wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "conf", here / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"no conf/config.yaml next to {here}; reinstall landscape-bench.")


def _plain(cfg: DictConfig) -> dict[str, Any]:
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)  # type: ignore[return-value]


def format_plan(name: str, rows: list[tuple[str, int, int]]) -> str:
    lines = [f"dry run of {name!r}: nothing computed", f"{'stage':<12}{'needed':>8}{'in store':>10}{'to compute':>12}"]
    for stage, total, stored in rows:
        if stored < 0:
            lines.append(f"{stage:<12}{total:>8}{'?':>10}{'?':>12}   (keyed by feature values)")
        else:
            lines.append(f"{stage:<12}{total:>8}{stored:>10}{total - stored:>12}")
    return "\n".join(lines)


def _command(overrides: list[str], multirun: bool) -> str:
    return " ".join(["landscape-bench", *(["-m"] if multirun else []), *overrides])


def search_path(argv: list[str]) -> list[Path]:
    """The config folders that ``hydra.searchpath=[...]`` overrides in ``argv`` add (``file://``
    paths, relative to the working directory, and ``pkg://`` packages that can be found)."""
    folders = []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key.lstrip("+~") != "hydra.searchpath":
            continue
        for entry in value.strip().strip("[]").split(","):
            entry = entry.strip().strip("'\"")
            if entry.startswith("pkg://"):
                spec = importlib.util.find_spec(entry.removeprefix("pkg://").replace("/", ".").strip("."))
                folders += [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []
            elif entry:
                folders.append(Path(entry.removeprefix("file://")))
    return folders


def unknown_group_options(argv: list[str], conf: Path) -> list[str]:
    """Messages for ``group=option`` overrides naming options that neither conf/ nor a folder of
    ``hydra.searchpath`` (see :func:`search_path`) has."""
    folders = [conf, *search_path(argv)]
    messages = []
    for arg in argv:
        if "=" not in arg or arg.startswith("-"):
            continue
        key, value = arg.split("=", 1)
        group = key.lstrip("+~")
        groups = [f / group for f in folders if (f / group).is_dir()]
        if "/" in group or "." in group or not groups:
            continue
        names = [v.strip() for v in value.strip("[]").split(",") if v.strip()]
        stems = sorted({p.stem for g in groups for p in g.glob("*.yaml")})
        valid = Registry(group)  # for its message: "did you mean", the valid names
        for stem in stems:
            with contextlib.suppress(ValueError):  # a user's file name outside the registry's spelling
                valid.add(stem, stem)
        messages += [valid.unknown_message(n) for n in names if n not in stems]
    return messages


def launcher_threads(launcher: Any) -> int | None:
    """The CPUs a cluster launcher reserves per job (submitit's ``cpus_per_task``), used as torch
    threads when ``threads`` is null; None for launchers that reserve none (basic, joblib: joblib
    itself limits each worker to cores / n_jobs threads)."""
    cpus = launcher.get("cpus_per_task") if launcher is not None else None
    return int(cpus) if cpus else None


def malformed_overrides(argv: list[str]) -> list[str]:
    """Messages for command-line overrides that Hydra's grammar cannot parse, each naming the override."""
    parser = OverridesParser.create()
    messages = []
    for arg in argv:
        if arg.startswith("-"):
            continue
        try:
            parser.parse_overrides([arg])
        except HydraException as exc:
            lines = [ln.strip() for ln in str(exc).splitlines()]
            reasons = [ln for ln in lines if ln and not ln.startswith(("Error parsing override", "See https"))]
            reason = reasons[0] if reasons else "not in Hydra's override grammar"
            messages.append(
                f"override {arg!r} is malformed ({reason}); write key=value, quote the whole override in the "
                "shell, and close every bracket: e.g. 'landscape.steps=21' or 'zoo.axes.width=[16,64]'."
            )
    return messages


def main() -> None:
    """Entry point: the Hydra app, plus a clear message when an override is malformed or names
    an option that does not exist."""
    try:
        _hydra_main()
    except SystemExit as exc:
        if exc.code not in (0, None):
            argv = sys.argv[1:]
            for message in malformed_overrides(argv) + unknown_group_options(argv, conf_dir()):
                print(message, file=sys.stderr)
        raise


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
    from benchmark import pipeline
    from benchmark.evaluation.design import model_table
    from benchmark.landscape.stage import grid_work
    from benchmark.report import provenance, write_leaderboard
    from benchmark.report.leaderboard import write_pairwise, write_univariate
    from benchmark.report.plots import write_run_plots
    from benchmark.report.provenance import config_yaml
    from benchmark.report.zoo_summary import plot_zoo, summary_markdown
    from benchmark.zoo.manifest import ManifestError

    plain = _plain(cfg)
    hc = HydraConfig.get()
    study = hc.runtime.choices.get("study")
    if study and hc.mode != RunMode.MULTIRUN:
        log.error("study=%s is a sweep; run it with -m: landscape-bench -m study=%s", study, study)
        sys.exit(2)
    if plain.get("threads") is None:
        plain["threads"] = launcher_threads(hc.launcher)
    try:
        if plain.get("dry_run"):
            keys: dict[str, dict[str, bool]] = {}
            rows = pipeline.plan(plain, keys)
            print(format_plan(plain["name"], rows))
            if any(stage == "landscape" for stage, _, _ in rows):
                print(grid_work(plain).describe())
            if hc.mode == RunMode.MULTIRUN:  # for the sweep's table (GatherLeaderboard)
                (Path(hc.runtime.output_dir) / "plan.json").write_text(json.dumps({"rows": rows, "keys": keys}))
            return
        result = pipeline.run(plain)
        log.info("torch threads: %d", pipeline.compute_threads(plain))  # what the run computed with
    except (pipeline.ConfigError, ManifestError) as exc:
        log.error("%s", exc)
        sys.exit(2)
    out_dir = Path(hc.runtime.output_dir)
    frame = result.scores_frame()
    frame.to_csv(out_dir / "scores.csv", index=False, float_format="%.17g")
    pairwise = result.pairwise_frame()
    pairwise.to_csv(out_dir / "pairwise.csv", index=False, float_format="%.17g")
    if result.univariate is not None:
        result.univariate.to_csv(out_dir / "univariate.csv", index=False, float_format="%.17g")
    result.features.to_csv(out_dir / "features.csv", index_label="model_id", float_format="%.17g")
    (out_dir / "timings.json").write_text(json.dumps(result.timings))
    if hc.mode == RunMode.MULTIRUN:
        log.info("job %s done: %d score rows in %s", hc.job.num, len(frame), out_dir)
        return
    overrides = list(hc.overrides.task)
    prov = provenance(
        config_yaml(cfg),
        overrides,
        result.timings,
        {"landscape nodes masked": f"{result.landscape_masked[0]} of {result.landscape_masked[1]}"},
    )
    report = plain["report"]
    command = _command(overrides, False)
    md, csv_path = write_leaderboard(frame, report["dir"], report["name"], prov, command)
    write_univariate(result.univariate, report["dir"], report["name"], prov, command)
    write_pairwise(pairwise, report["dir"], report["name"])
    models_csv = Path(report["dir"]) / f"{report['name']}.models.csv"
    model_table(result.models, plain["evaluation"]["targets"]).to_csv(
        models_csv, index=False, float_format="%.17g", lineterminator="\n"
    )
    zoo_md = Path(report["dir"]) / f"{report['name']}.zoo.md"
    targets = plain["evaluation"]["targets"]
    order = list(plain["zoo"].get("axes") or {})
    zoo_md.write_text(
        summary_markdown(plain["zoo"]["name"], result.models, targets, result.train_seconds, command, order)
    )
    plot_zoo(result.models, targets, zoo_md.with_suffix(".png"), f"zoo {plain['zoo']['name']}", order)
    plots = write_run_plots(
        frame, result.features, result.models, targets, result.landscapes, report["dir"], report["name"]
    )
    log.info("plots: %s", ", ".join(str(p) for p in plots))
    print(f"landscape-bench: {len(result.models)} models, {len(frame)} score rows -> {md}, {csv_path}, {zoo_md}")


class GatherLeaderboard(Callback):
    """On the end of a multirun, merge every job's scores into one leaderboard (a dry run: print
    every job's plan as one table). ``landscape-bench-gather`` does the same afterwards."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from benchmark.report.gather import gather_leaderboard, sweep_plan

        sweep_dir = Path(config.hydra.sweep.dir)
        if config.get("dry_run"):
            print(sweep_plan(sweep_dir))
            return
        try:
            out = gather_leaderboard(sweep_dir, config)
        except FileNotFoundError as exc:
            log.error("no leaderboard written: %s", exc)
            return
        print(f"landscape-bench: sweep of {out.n_jobs} jobs, {out.n_rows} score rows -> {out.markdown} and {out.csv}")


if __name__ == "__main__":
    main()
