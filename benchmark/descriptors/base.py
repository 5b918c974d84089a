"""The descriptor contract and registry.

A descriptor turns what a model's evaluation produced (its record, landscape, curvature) into a
flat dict of named floats. It follows the scikit-learn estimator convention: ``__init__`` only
stores its keyword arguments (the YAML's keys), so ``get_params`` round-trips and the parameters
enter the artifact key.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

from benchmark.records import Curvature, FeatureRow, Landscape, ModelRecord
from benchmark.registry import Registry

log = logging.getLogger(__name__)

INPUTS = ("model", "landscape", "curvature")
KINDS = ("topology", "curvature", "geometry", "baseline", "reference")


@dataclass(frozen=True)
class DescriptorInputs:
    """What a descriptor may read. Fields it did not declare in ``requires`` are None."""

    model: ModelRecord
    landscape: Landscape | None = None
    curvature: Curvature | None = None


class Descriptor:
    """Base class. Subclasses set ``kind``, ``requires`` and ``version`` and implement ``features``.

    ``features`` returns ``{feature: value}`` (finite floats) or raises :class:`UndefinedFeatureError` with a
    reason; NaN values must come with a reason through ``undefined`` too.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ("model",)
    version: ClassVar[str] = "1"

    def get_params(self) -> dict[str, Any]:
        sig = inspect.signature(type(self).__init__)
        return {p: getattr(self, p) for p in sig.parameters if p != "self"}

    def features(self, inputs: DescriptorInputs) -> dict[str, float]:
        raise NotImplementedError

    def feature_names(self, inputs: DescriptorInputs) -> list[str] | None:
        """Names to fill with NaN when the features are undefined (None: use no columns)."""
        return None

    def compute(self, inputs: DescriptorInputs) -> FeatureRow:
        model_id = inputs.model.model_id
        try:
            values = {k: float(v) for k, v in self.features(inputs).items()}
            reasons = {k: "non-finite value" for k, v in values.items() if not math.isfinite(v)}
            values = {k: (v if math.isfinite(v) else math.nan) for k, v in values.items()}
        except UndefinedFeatureError as exc:
            names = self.feature_names(inputs) or []
            values = {k: math.nan for k in names}
            reasons = {k: str(exc) for k in names}
        return FeatureRow(model_id, self.name, values, reasons)


class UndefinedFeatureError(Exception):
    """Raised by ``features`` when the descriptor is undefined for this input; the message is the reason."""


DESCRIPTORS: Registry[type[Descriptor]] = Registry("descriptor")


def register_descriptor(name: str):
    """Class decorator: register a :class:`Descriptor` subclass under ``name``."""

    def decorate(cls: type[Descriptor]) -> type[Descriptor]:
        if not (isinstance(cls, type) and issubclass(cls, Descriptor)):
            raise TypeError(f"@register_descriptor({name!r}) must decorate a Descriptor subclass, got {cls!r}.")
        if cls.kind not in KINDS:
            raise ValueError(f"descriptor {name!r} has kind {cls.kind!r}; use one of {KINDS}.")
        bad = [r for r in cls.requires if r not in INPUTS]
        if bad:
            raise ValueError(f"descriptor {name!r} requires unknown inputs {bad}; valid inputs: {INPUTS}.")
        cls.name = name
        DESCRIPTORS.add(name, cls)
        return cls

    return decorate


def build_descriptor(name: str, params: dict[str, Any] | None = None) -> Descriptor:
    """Instantiate registered descriptor ``name`` with its YAML parameters."""
    cls = DESCRIPTORS.get(name)
    try:
        return cls(**(params or {}))
    except TypeError as exc:
        valid = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
        raise TypeError(
            f"descriptor {name!r}: bad parameters {sorted(params or {})} ({exc}); valid parameters: {valid}."
        ) from None


def descriptor_problems(selected: Mapping[str, Any]) -> list[str]:
    """What the selection of descriptors gets wrong (unknown names, none selected), one message each."""
    problems = [DESCRIPTORS.unknown_message(name) for name in selected if name not in DESCRIPTORS]
    if not selected:
        problems.append("no descriptors selected; choose some, e.g. descriptors=[merge_tree,hessian].")
    return problems


def feature_table(models: Sequence[ModelRecord], rows: Mapping[str, Sequence[FeatureRow]]) -> pd.DataFrame:
    """The feature table: one row per model (index ``model_id``), columns ``<descriptor>__<feature>``
    (NaN where undefined), from each descriptor's rows aligned with ``models``. A descriptor
    undefined for some models is logged with their count (evaluation drops those rows)."""
    columns: dict[str, dict[str, float]] = {m.model_id: {} for m in models}
    for name, descriptor_rows in rows.items():
        undefined = 0
        for row in descriptor_rows:
            columns[row.model_id].update(sorted(row.columns().items()))  # stable column order
            undefined += bool(row.reasons)
        if undefined:
            log.warning(
                "descriptor %s is undefined (NaN) for %d model(s); those rows are dropped in evaluation",
                name,
                undefined,
            )
    return pd.DataFrame.from_dict(columns, orient="index")
