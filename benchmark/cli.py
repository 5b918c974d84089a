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
from collections.abc import Mapping
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


def format_plan(name: str, rows: list[tuple[str, int, int]], estimates: Mapping[str, Any] | None = None) -> str:
    """The dry run's table (stage, needed, in store, to compute) and, with ``estimates`` (stage ->
    :class:`benchmark.stage.Estimate`), the estimated compute time after it: the total, then per
    stage with something to compute, the count times the seconds of one and where they come from."""
    lines = [f"dry run of {name!r}: nothing computed", f"{'stage':<12}{'needed':>8}{'in store':>10}{'to compute':>12}"]
    for stage, total, stored in rows:
        if stored < 0:
            lines.append(f"{stage:<12}{total:>8}{'?':>10}{'?':>12}   (keyed by feature values)")
        else:
            lines.append(f"{stage:<12}{total:>8}{stored:>10}{total - stored:>12}")
    if estimates is None:
        return "\n".join(lines)
    from benchmark.report.provenance import duration
    from benchmark.stage import ROUGH_GUESS

    todo = [e for e in estimates.values() if e.count]
    lines.append(f"estimated compute time: about {duration(sum(e.seconds for e in todo))}")
    for e in todo:
        count, each = f"{'<= ' if e.upper else ''}{e.count}", f"{e.each:.2g} s"
        lines.append(f"  {e.stage:<12}{count:>8} x {each:<10} = {duration(e.seconds):>7}   {e.basis}")
    if any(e.upper for e in todo):
        upper = ", ".join(e.stage for e in todo if e.upper)
        lines.append(f"  (<=: {upper} are keyed by feature values, some may be stored already)")
    if any(e.rough for e in todo):
        lines.append(f"  (rough guess: {ROUGH_GUESS})")
    return "\n".join(lines)


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


HYDRA_VALUE_FLAGS = (
    *("--config-dir", "-cd", "--config-path", "-cp", "--config-name", "-cn"),
    *("--cfg", "-c", "--package", "-p", "--experimental-rerun"),
)
"""Hydra's command-line flags that take a value: the next argument, or ``--flag=value``."""
HYDRA_INFO_CHOICES = ("all", "config", "defaults", "defaults-tree", "plugins", "searchpath")
"""The optional value of Hydra's ``--info`` (``-i``)."""


def split_command_line(argv: list[str]) -> tuple[list[str], list[Path]]:
    """The overrides of a command line (its arguments that are not Hydra's flags or their values)
    and the config folders its ``--config-dir`` (``-cd``) flags add to the search path."""
    overrides, config_dirs = [], []
    i = 0
    while i < len(argv):
        arg, following = argv[i], argv[i + 1] if i + 1 < len(argv) else None
        flag, eq, value = arg.partition("=")
        if flag in HYDRA_VALUE_FLAGS:
            if not eq:
                value, i = following or "", i + 1
            if flag in ("--config-dir", "-cd") and value:
                config_dirs.append(Path(value))
        elif arg in ("--info", "-i") and following in HYDRA_INFO_CHOICES:
            i += 1
        elif not arg.startswith("-"):
            overrides.append(arg)
        i += 1
    return overrides, config_dirs


def unknown_group_options(argv: list[str], conf: Path, config_dirs: list[Path] | None = None) -> list[str]:
    """Messages for ``group=option`` overrides naming options that neither conf/, nor a folder of
    ``hydra.searchpath`` (see :func:`search_path`), nor one of ``config_dirs`` (the folders of
    ``--config-dir``, see :func:`split_command_line`) has."""
    folders = [conf, *(config_dirs or []), *search_path(argv)]
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
            overrides, config_dirs = split_command_line(sys.argv[1:])
            for message in malformed_overrides(overrides) + unknown_group_options(overrides, conf_dir(), config_dirs):
                print(message, file=sys.stderr)
        raise


@hydra.main(version_base="1.3", config_path=str(conf_dir()), config_name="config")
def _hydra_main(cfg: DictConfig) -> None:
    from benchmark import device, pipeline
    from benchmark.api import write_job_tables, write_run_leaderboard
    from benchmark.landscape.stage import grid_work
    from benchmark.report.provenance import hydra_rerun_command
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
            estimates: dict[str, pipeline.Estimate] = {}
            rows = pipeline.plan(plain, keys, estimates=estimates)
            print(format_plan(plain["name"], rows, estimates))
            if any(stage == "landscape" for stage, _, _ in rows):
                print(grid_work(plain).describe())
            if hc.mode == RunMode.MULTIRUN:  # for the sweep's table (GatherLeaderboard)
                each = {stage: {"each": e.each, "rough": e.rough} for stage, e in estimates.items()}
                plan = {"rows": rows, "keys": keys, "estimates": each}
                (Path(hc.runtime.output_dir) / "plan.json").write_text(json.dumps(plan))
            return
        result = pipeline.run(plain)
        log.info(  # what the run computed with
            "torch threads: %d; device: %s", pipeline.compute_threads(plain), device.describe(device.of(plain))
        )
    except (pipeline.ConfigError, ManifestError) as exc:
        log.error("%s", exc)
        sys.exit(2)
    out_dir = Path(hc.runtime.output_dir)
    frame, pairwise = result.scores_frame(), result.pairwise_frame()
    write_job_tables(result, out_dir, frame, pairwise)
    if hc.mode == RunMode.MULTIRUN:
        log.info("job %s done: %d score rows in %s", hc.job.num, len(frame), out_dir)
        return
    overrides = list(hc.overrides.task)
    files = write_run_leaderboard(result, plain, cfg, overrides, hydra_rerun_command(hc), frame, pairwise)
    log.info("plots: %s", ", ".join(str(p) for p in files.plots))
    print(
        f"landscape-bench: {len(result.models)} models, {len(frame)} score rows -> "
        f"{files.markdown}, {files.csv}, {files.zoo}"
    )


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
