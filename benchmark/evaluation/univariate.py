"""The univariate view: each feature's own rank correlation with each target (no regressor, no
cross-validation), a stored stage of its own. :data:`VERSION` joins its store keys."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from benchmark.evaluation.measures import univariate_spearman
from benchmark.evaluation.protocol import Protocol
from benchmark.records import UnivariateTable

VERSION = "3"
"""Code version of the univariate stage."""
UNIVARIATE_COLUMNS = ["target", "feature", "spearman", "ci_low", "ci_high", "n_used", "n_dropped"]


def univariate_frame(
    features: pd.DataFrame,
    targets: Mapping[str, np.ndarray],
    groups: np.ndarray,
    n_boot: int,
    level: float,
    seed: int,
) -> pd.DataFrame:
    """Each feature's own Spearman ρ with each target, with its group-bootstrap interval
    (:func:`~benchmark.evaluation.measures.univariate_spearman`; no regressor, no cross-validation).

    ``features`` has one row per model (columns ``<descriptor>__<feature>``), aligned with every
    target array and ``groups`` (shape ``(n,)``). One row per (target, feature), in target order,
    then by ``|ρ|`` descending (undefined ρ last), then by name.
    """
    frames = []
    for target, y in targets.items():
        table = univariate_spearman(features, y, groups, n_boot, level, seed)
        table.insert(0, "target", target)
        table["order"] = -table["spearman"].abs()
        frames.append(table.sort_values(["order", "feature"], na_position="last", kind="mergesort"))
    if not frames:
        return pd.DataFrame(columns=UNIVARIATE_COLUMNS)
    return pd.concat(frames, ignore_index=True)[UNIVARIATE_COLUMNS]


def univariate_table(
    features: pd.DataFrame, targets: Mapping[str, np.ndarray], groups: np.ndarray, protocol: Protocol
) -> UnivariateTable:
    """:func:`univariate_frame` with the protocol's bootstrap, as the stage's record."""
    frame = univariate_frame(features, targets, groups, protocol.n_bootstrap, protocol.ci_level, protocol.seed)
    return UnivariateTable(
        tuple(frame["target"]),
        tuple(frame["feature"]),
        frame["spearman"].to_numpy(np.float64),
        frame["ci_low"].to_numpy(np.float64),
        frame["ci_high"].to_numpy(np.float64),
        frame["n_used"].to_numpy(np.int64),
        frame["n_dropped"].to_numpy(np.int64),
    )


def key_config(protocol: Protocol) -> dict[str, Any]:
    """The settings that change the univariate table: the protocol's bootstrap."""
    return {"n_bootstrap": protocol.n_bootstrap, "ci_level": protocol.ci_level, "seed": protocol.seed}


def digest(features: pd.DataFrame, targets: Mapping[str, np.ndarray], groups: np.ndarray) -> str:
    """Digest of the data a univariate table is computed from (its store key's input)."""
    parts = [features.to_csv(float_format="%.17g")] + [f"{t}:{y.tobytes().hex()}" for t, y in targets.items()]
    return hashlib.sha256("\0".join([*parts, *map(str, groups)]).encode()).hexdigest()


def univariate_view(table: UnivariateTable) -> pd.DataFrame:
    """The stored table as the univariate leaderboard's frame."""
    return pd.DataFrame(table.columns(), columns=UNIVARIATE_COLUMNS)
