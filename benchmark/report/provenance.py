"""Where a number came from: package versions, code version, config, date."""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

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
    config_yaml: str, overrides: list[str], timings: dict[str, float], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "packages": {p: _version(p) for p in PACKAGES},
        "overrides": overrides,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        **(extra or {}),
        "config": config_yaml,
    }
