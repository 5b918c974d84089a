"""landscape-bench: does the shape of a loss landscape predict how good a network is?

The Python API (:mod:`benchmark.api`, docs/python_api.md) is importable from here:
``benchmark.evaluate``, ``benchmark.sweep``, ``benchmark.as_descriptor`` and their result records.
They load on first use, so that importing a module of the package does not import the pipeline.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

API = ("EvaluationResult", "LeaderboardFiles", "SweepResult", "as_descriptor", "evaluate", "sweep")
"""The names of :mod:`benchmark.api` importable from the package."""

__all__ = [
    "EvaluationResult",
    "LeaderboardFiles",
    "SweepResult",
    "__version__",
    "as_descriptor",
    "evaluate",
    "sweep",
]

if TYPE_CHECKING:
    from benchmark.api import EvaluationResult, LeaderboardFiles, SweepResult, as_descriptor, evaluate, sweep


def __getattr__(name: str) -> Any:
    if name in API:
        return getattr(importlib.import_module("benchmark.api"), name)
    raise AttributeError(f"module 'benchmark' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *API})
