"""Descriptor stability flags, read by the leaderboards (the study itself is
``benchmark.studies.stability``, which writes ``<report dir>/stability.csv``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

STABILITY_CSV = "stability.csv"


def descriptor_flags(table: pd.DataFrame) -> pd.DataFrame:
    """Per descriptor: number of features, how many are stable, and the flag (``unstable`` when
    fewer than half of its features are stable)."""
    grouped = table.groupby("descriptor")["stable"]
    out = pd.DataFrame({"features": grouped.size(), "stable_features": grouped.sum().astype(int)})
    out["flag"] = np.where(out["stable_features"] * 2 >= out["features"], "stable", "unstable")
    return out.reset_index()


def read_flags(directory: str | os.PathLike[str]) -> tuple[dict[str, str], str]:
    """``({descriptor: flag}, experiment)`` from ``<directory>/stability.csv``; empty when absent."""
    path = Path(directory) / STABILITY_CSV
    if not path.is_file():
        return {}, ""
    table = pd.read_csv(path)
    flags = descriptor_flags(table)
    experiment = str(table["experiment"].iloc[0]) if "experiment" in table and len(table) else ""
    return dict(zip(flags["descriptor"], flags["flag"], strict=True)), experiment
