"""Where a number came from: package versions, code version, config, date."""

from __future__ import annotations

import datetime as dt
import platform
import shlex
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmark.store import ComputeTime

PACKAGES = ("landscape-bench", "torch", "numpy", "scikit-learn", "gudhi", "hydra-core", "pandas", "scipy")


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "not installed"


def git_commit(path: Path | None = None) -> str:
    """``<sha>`` of the checkout holding this package, ``+dirty`` if it has uncommitted changes."""
    cwd = path or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return sha + ("+dirty" if dirty else "")


MACHINE_KEYS = ("hydra", "paths")
"""Config nodes left out of a leaderboard's config: where this machine keeps its files, and Hydra's
own settings. Neither changes a result, and a committed table should not name a machine's folders."""


def config_yaml(cfg: Any) -> str:
    """The resolved config of a run (an OmegaConf node) as YAML, without :data:`MACHINE_KEYS`."""
    from omegaconf import OmegaConf

    kept = OmegaConf.masked_copy(cfg, [k for k in cfg if k not in MACHINE_KEYS])
    return OmegaConf.to_yaml(kept, resolve=True)


def provenance(
    config_yaml: str,
    overrides: list[str],
    timings: dict[str, float],
    extra: dict[str, Any] | None = None,
    compute: Mapping[str, Mapping[str, float | None]] | None = None,
) -> dict[str, Any]:
    """The provenance block of a leaderboard: ``timings`` are the seconds spent in each stage by
    this run (or summed over a sweep's jobs), ``compute`` each stage's artifacts with their compute
    seconds as first measured (:attr:`benchmark.stage.RunResult.compute_seconds`; None where not
    recorded), kept as ``compute_s`` (:func:`compute_summary`) when given."""
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "packages": {p: _version(p) for p in PACKAGES},
        "overrides": overrides,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        **({"compute_s": compute_summary(compute)} if compute is not None else {}),
        **(extra or {}),
        "config": config_yaml,
    }


def compute_summary(compute: Mapping[str, Mapping[str, float | None]]) -> dict[str, dict[str, float | int]]:
    """Per stage, ``{"seconds": compute seconds as first measured (rounded to 0.01), "artifacts":
    how many, "unrecorded": how many without a recorded time}``."""
    out: dict[str, dict[str, float | int]] = {}
    for stage, seconds in compute.items():
        t = ComputeTime.of(seconds)
        out[stage] = {"seconds": round(t.seconds, 2), "artifacts": t.artifacts, "unrecorded": t.unrecorded}
    return out


def duration(seconds: float) -> str:
    """A time for people: ``"0.4s"`` (under 10 s), ``"12s"``, ``"3m05s"``, ``"1h02m"``."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def merge_compute(per_job: list[Mapping[str, Mapping[str, float | None]]]) -> dict[str, dict[str, float | None]]:
    """The artifacts of several runs (a sweep's jobs), each counted once however many jobs used it
    (its recorded time kept when any job found one)."""
    merged: dict[str, dict[str, float | None]] = {}
    for job in per_job:
        for stage, seconds in job.items():
            into = merged.setdefault(stage, {})
            for key, value in seconds.items():
                if into.get(key) is None:
                    into[key] = value
    return merged


PATH_KEYS = (
    "zoo.manifest",
    "zoo.path",
    "zoo.root",
    "dataset.root",
    "dataset.path",
    "export_zoo",
    "paths.home",
    "report.dir",
)
"""Overrides whose value is a path: printed absolute, so that a printed command reruns from any folder."""


def _absolute(value: str, cwd: Path) -> str:
    if value in ("", "null") or "://" in value or Path(value).expanduser().is_absolute():
        return value
    return str((cwd / value).resolve())


def _list_items(value: str) -> list[str]:
    return [v.strip().strip("'\"") for v in value.strip().strip("[]").split(",") if v.strip()]


def _shell_word(word: str) -> str:
    """``word`` quoted for a POSIX shell only when it must be (brackets, commas, spaces, quotes)."""
    return word if all(c.isalnum() or c in "-_=./:+~@%" for c in word) else shlex.quote(word)


def rerun_command(
    overrides: list[str],
    hydra_overrides: list[str],
    config_dirs: list[str],
    cwd: Path,
    multirun: bool = False,
    program: str = "landscape-bench",
) -> str:
    """The command line that reruns a run from any folder: its task ``overrides``, with every
    :data:`PATH_KEYS` value, ``.py`` plugin and ``file://`` search-path entry made absolute against
    ``cwd`` (the folder it was run from); its ``hydra.searchpath`` override (of ``hydra_overrides``);
    and a ``--config-dir`` for each of ``config_dirs`` (absolute already, as Hydra records them)."""
    words = [program, *(["-m"] if multirun else [])]
    words += [w for d in config_dirs for w in ("--config-dir", d)]
    for override in [*(o for o in hydra_overrides if o.split("=", 1)[0] == "hydra.searchpath"), *overrides]:
        key, eq, value = override.partition("=")
        bare = key.lstrip("+~")
        if eq and bare in PATH_KEYS:
            value = _absolute(value, cwd)
        elif eq and bare == "plugins":
            items = [_absolute(v, cwd) if v.endswith(".py") or "/" in v else v for v in _list_items(value)]
            value = f"[{','.join(items)}]"
        elif eq and bare == "hydra.searchpath":
            entries = [e for e in _list_items(value)]
            value = (
                "["
                + ",".join(
                    "file://" + _absolute(e.removeprefix("file://"), cwd) if e.startswith("file://") else e
                    for e in entries
                )
                + "]"
            )
        words.append(_shell_word(f"{key}{eq}{value}"))
    return " ".join(words)


def hydra_rerun_command(hydra: Any, multirun: bool = False) -> str:
    """:func:`rerun_command` of the run whose Hydra config node is ``hydra`` (``HydraConfig.get()``,
    or the ``hydra`` node of a sweep's ``multirun.yaml``): its overrides, its folder and the config
    folders ``--config-dir`` added (config sources from the command line)."""

    def get(key: str, default: Any) -> Any:
        from omegaconf import OmegaConf

        try:
            value = OmegaConf.select(hydra, key, default=None) if OmegaConf.is_config(hydra) else None
        except Exception:  # an unset (???) value of a config composed outside a Hydra run
            value = None
        return default if value is None else value

    sources = get("runtime.config_sources", [])
    dirs = [str(s["path"]).removeprefix("file://") for s in sources if s.get("provider") == "command-line"]
    cwd = Path(str(get("runtime.cwd", Path.cwd())))
    task, extra = [str(o) for o in get("overrides.task", [])], [str(o) for o in get("overrides.hydra", [])]
    return rerun_command(task, extra, dirs, cwd, multirun)
