"""The scores of a leaderboard, each declared once: name, label, direction and how it is computed.

:data:`SCORES` is the one list; everything else is derived from it: the CSV columns and their order
(:data:`benchmark.records.SCORE_METRICS`, ``COMPARED_METRICS``), which scores get a bootstrap
interval and paired comparisons (:mod:`benchmark.evaluation.protocol`), the directions
(:data:`benchmark.evaluation.metrics.LOWER_IS_BETTER`), the Markdown headers
(:data:`benchmark.report.leaderboard.HEADERS`) and the scores that rank feature sets across zoos
(:data:`benchmark.report.overall.SCORES`). The functions that compute them stay in
:mod:`benchmark.evaluation.metrics` and :mod:`benchmark.evaluation.measures`. Each score is defined
in docs/protocol.md ("Scores").

This module imports nothing from ``benchmark``: it is the lowest layer, beside ``records.py``.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

Family = Literal["prediction", "rank", "selection", "pair"]
FAMILIES: tuple[str, ...] = ("prediction", "rank", "selection", "pair")
"""What a score compares: ``prediction`` the values ŷ against y, ``rank`` their orders, ``selection``
the models chosen by ŷ (in the target's direction), ``pair`` pairs of models conditioned on
hyperparameters."""


@dataclass(frozen=True)
class Score:
    """One score of the leaderboard; see docs/protocol.md for its definition.

    Attributes:
        name: the CSV column prefix (``<name>_value``, ``<name>_ci_low``, ...) and the key everywhere.
        label: short display name: the Markdown header without its arrow, and the overall ranking's name.
        greater_is_better: whether a larger score is better (the header's arrow: ↑, else ↓).
        family: one of :data:`FAMILIES`; it fixes the interval, the comparison and the constant's value.
        doc: what the score is, in one line.
        overall_order: position among the scores that can rank feature sets across zoos
            (``report/overall.py``, its ``--scores`` choices in this order); ``None``: it cannot.
    """

    name: str
    label: str
    greater_is_better: bool
    family: Family
    doc: str
    overall_order: int | None = None

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"score {self.name!r} has family {self.family!r}; use one of {list(FAMILIES)}.")

    @property
    def arrow(self) -> str:
        """``↑`` when greater is better, else ``↓``."""
        return "↑" if self.greater_is_better else "↓"

    @property
    def header(self) -> str:
        """The Markdown column header: label and arrow (``"Kendall τ ↑"``)."""
        return f"{self.label} {self.arrow}"

    @property
    def interval(self) -> Literal["bootstrap", "repeats"]:
        """``bootstrap``: a group-bootstrap interval whose draws are kept; ``repeats``: the spread over
        repeats (the pair scores, too slow to bootstrap)."""
        return "repeats" if self.family == "pair" else "bootstrap"

    @property
    def compared(self) -> bool:
        """Compared with the best baseline on the same bootstrap resamples (it has draws)."""
        return self.interval == "bootstrap"

    @property
    def needs_direction(self) -> bool:
        """Computed in the target's direction (``Task.greater_is_better``): it chooses models."""
        return self.family == "selection"

    @property
    def undefined_for_constant(self) -> bool:
        """NaN for a constant predictor, which ranks nothing (selection scores take chance values)."""
        return self.family in ("rank", "pair")

    @property
    def ranks_feature_sets(self) -> bool:
        """Can rank feature sets across zoos in ``report/overall.py``."""
        return self.overall_order is not None


SCORES: tuple[Score, ...] = (
    Score("r2", "R2", True, "prediction", "coefficient of determination 1 - SS_res / SS_tot.", overall_order=1),
    Score("mae", "MAE", False, "prediction", "mean absolute error, in the target's units.", overall_order=3),
    Score("rmse", "RMSE", False, "prediction", "root mean squared error, in the target's units.", overall_order=4),
    Score("spearman", "Spearman", True, "rank", "Spearman's rho between predictions and targets.", overall_order=0),
    Score("kendall", "Kendall τ", True, "rank", "Kendall's tau-b between predictions and targets.", overall_order=2),
    Score(
        "granulated_kendall",
        "gran. Kendall Ψ",
        True,
        "pair",
        "granulated Kendall coefficient over hyperparameter axes (Jiang et al. 2020).",
    ),
    Score("cmi", "CMI", True, "pair", "conditional mutual information K given hyperparameters (Jiang et al. 2020)."),
    Score("pgdl", "PGDL", True, "pair", "the PGDL competition's score (Jiang et al. 2021)."),
    Score("regret", "regret", False, "selection", "target lost by choosing the model predicted best, in its units."),
    Score("precision_at_k", "precision@k", True, "selection", "share of the predicted top k in the true top k."),
)
"""Every score, in the order of the leaderboard CSV's columns (changing it changes the CSV)."""

_BY_NAME: dict[str, Score] = {s.name: s for s in SCORES}
if len(_BY_NAME) != len(SCORES):
    raise ValueError(f"score names {[s.name for s in SCORES]} repeat a name; each score is declared once.")


def get_score(name: str) -> Score:
    """The declared score called ``name``; a ``KeyError`` naming the close matches otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_BY_NAME), n=3)
        hint = f" Did you mean {close}?" if close else ""
        raise KeyError(f"unknown score {name!r}; declared scores are {list(_BY_NAME)}.{hint}") from None
