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
import reprlib
import traceback
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any, ClassVar

import pandas as pd

from benchmark.errors import ConfigError
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
        """The ``__init__`` arguments, read back from the attributes of the same names."""
        return {p: getattr(self, p) for p in init_parameters(type(self))}

    def features(self, inputs: DescriptorInputs) -> dict[str, float]:
        raise NotImplementedError

    def feature_names(self, inputs: DescriptorInputs) -> list[str] | None:
        """Names to fill with NaN when the features are undefined (None: use no columns)."""
        return None

    def compute(self, inputs: DescriptorInputs) -> FeatureRow:
        """``features`` as a :class:`FeatureRow`. A descriptor that fails (raises anything but
        :class:`UndefinedFeatureError` or a ``ConfigError``) or returns anything but
        ``{name: number}`` raises a :class:`DescriptorError` naming it and the model."""
        model_id = inputs.model.model_id
        try:
            raw = self.features(inputs)
        except UndefinedFeatureError as exc:
            names = self.feature_names(inputs) or []
            values = {k: math.nan for k in names}
            reasons = {k: str(exc) for k in names}
            return FeatureRow(model_id, self.name, values, reasons)
        except ConfigError:
            raise
        except Exception as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            raise DescriptorError(
                f"descriptor {self.name!r} failed on model {model_id!r}: {type(exc).__name__}: {exc} "
                f"(at {frame.filename}:{frame.lineno}). Fix its features() (see docs/adding_a_descriptor.md) "
                "or leave it out of descriptors=[...]; what the run computed before is kept in the store."
            ) from exc
        values = {k: float(v) for k, v in self._checked(raw, model_id).items()}
        reasons = {k: "non-finite value" for k, v in values.items() if not math.isfinite(v)}
        values = {k: (v if math.isfinite(v) else math.nan) for k, v in values.items()}
        return FeatureRow(model_id, self.name, values, reasons)

    def _checked(self, raw: Any, model_id: str) -> Mapping[str, Any]:
        """``raw`` when it is ``{feature name: number}``; else a :class:`DescriptorError`."""
        fix = "features() must return a dict {feature name: float} (see docs/adding_a_descriptor.md)"
        if not isinstance(raw, Mapping):
            shown = reprlib.repr(raw)
            raise DescriptorError(
                f"descriptor {self.name!r} returned a {type(raw).__name__} ({shown}) for model {model_id!r}; {fix}."
            )
        for k, v in raw.items():
            if not isinstance(k, str) or not k:
                raise DescriptorError(
                    f"descriptor {self.name!r} returned the feature name {k!r} for model {model_id!r}; "
                    f"names are non-empty strings: {fix}."
                )
            if not (isinstance(v, Real) or getattr(v, "ndim", None) == 0) or isinstance(v, (str, bytes)):
                raise DescriptorError(
                    f"descriptor {self.name!r} returned a {type(v).__name__} ({reprlib.repr(v)}) for feature {k!r} "
                    f"of model {model_id!r}; each value is one number: {fix}."
                )
        return raw


class UndefinedFeatureError(Exception):
    """Raised by ``features`` when the descriptor is undefined for this input; the message is the reason."""


class DescriptorError(ConfigError, TypeError):
    """A descriptor that breaks the contract (at registration, construction or on a model); the
    message names it (and the model) and the fix. A ``ConfigError``: the command line exits with 2."""


def init_parameters(cls: type) -> list[str]:
    """The names of ``cls.__init__``'s parameters but ``self`` (none without an ``__init__`` of its own)."""
    if cls.__init__ is object.__init__:
        return []
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


DESCRIPTORS: Registry[type[Descriptor]] = Registry("descriptor")


def register_descriptor(name: str):
    """Class decorator: register a :class:`Descriptor` subclass under ``name``."""

    def decorate(cls: type[Descriptor]) -> type[Descriptor]:
        problems = contract_problems(name, cls)
        if problems:
            raise DescriptorError(
                f"@register_descriptor({name!r}) on {getattr(cls, '__qualname__', cls)!r}: "
                + " ".join(problems)
                + " See docs/adding_a_descriptor.md."
            )
        cls.name = name
        DESCRIPTORS.add(name, cls)
        return cls

    return decorate


def contract_problems(name: str, cls: Any) -> list[str]:
    """What a class registered as descriptor ``name`` gets wrong of the contract that can be seen
    without a model, one message each: not a :class:`Descriptor` subclass, no ``features``, a
    ``kind``, ``requires`` or ``version`` outside the allowed values, an ``__init__`` taking
    ``*args``/``**kwargs`` or (built with its defaults) not storing each argument as the attribute
    of the same name, which ``get_params`` and the store keys read."""
    if not (isinstance(cls, type) and issubclass(cls, Descriptor)):
        return [f"it must decorate a Descriptor subclass, got {cls!r}."]
    problems = []
    if cls.features is Descriptor.features:
        problems.append("it defines no features(self, inputs) method returning {feature name: float}.")
    if cls.kind not in KINDS:
        problems.append(f"kind={cls.kind!r} is unknown; set kind to one of {KINDS}.")
    requires = cls.requires
    if isinstance(requires, str) or not isinstance(requires, (tuple, list)):
        problems.append(f"requires={requires!r} must be a tuple of inputs, e.g. ('landscape',); valid: {INPUTS}.")
    else:
        bad = [r for r in requires if r not in INPUTS]
        if bad:
            problems.append(f"requires names unknown inputs {bad}; valid inputs: {INPUTS}.")
    if not isinstance(cls.version, str) or not cls.version:
        problems.append(f"version={cls.version!r} must be a non-empty string such as '1'.")
    if cls.__init__ is object.__init__:
        return problems
    sig = inspect.signature(cls.__init__)
    variadic = [p.name for p in sig.parameters.values() if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if variadic:
        return [
            *problems,
            f"__init__ takes *{'/**'.join(variadic)}; name every parameter (scikit-learn style), so that "
            "get_params() can list them.",
        ]
    required = [p.name for p in sig.parameters.values() if p.name != "self" and p.default is p.empty]
    if not required:
        try:
            instance = cls()
        except Exception as exc:
            return [*problems, f"__init__() with its default arguments raised {type(exc).__name__}: {exc}."]
        problems += _unstored(instance)
    return problems


def _unstored(instance: Descriptor) -> list[str]:
    """A message when ``instance`` lacks an attribute for an ``__init__`` argument."""
    missing = [p for p in init_parameters(type(instance)) if not hasattr(instance, p)]
    if not missing:
        return []
    return [
        f"__init__ does not store its arguments {missing} as attributes of the same names "
        f"(e.g. self.{missing[0]} = {missing[0]}); get_params() reads them for the store keys."
    ]


def build_descriptor(name: str, params: dict[str, Any] | None = None) -> Descriptor:
    """Instantiate registered descriptor ``name`` with its YAML parameters; a
    :class:`DescriptorError` (also a ``TypeError``) for parameters it does not take or does not store."""
    cls = DESCRIPTORS.get(name)
    try:
        descriptor = cls(**(params or {}))
    except TypeError as exc:
        raise DescriptorError(
            f"descriptor {name!r}: bad parameters {sorted(params or {})} ({exc}); "
            f"valid parameters: {init_parameters(cls)}."
        ) from None
    problems = _unstored(descriptor)
    if problems:
        raise DescriptorError(f"descriptor {name!r}: {problems[0]} See docs/adding_a_descriptor.md.")
    return descriptor


def descriptor_problems(selected: Mapping[str, Any]) -> list[str]:
    """What the selection of descriptors gets wrong (unknown names, none selected), one message each."""
    problems = [DESCRIPTORS.unknown_message(name) for name in selected if name not in DESCRIPTORS]
    if not selected:
        problems.append("no descriptors selected; choose some, e.g. descriptors=[merge_tree,hessian].")
    return problems


def feature_table(models: Sequence[ModelRecord], rows: Mapping[str, Sequence[FeatureRow]]) -> pd.DataFrame:
    """The feature table: one row per model (index ``model_id``), columns ``<descriptor>__<feature>``
    (NaN where undefined), from each descriptor's rows aligned with ``models``. Logged as warnings:
    a descriptor undefined for some models (their count; for every model, with the reason: its rows
    stay unscored), and one whose feature names differ between models (the features missing for
    some, NaN-filled there). Evaluation drops the rows with a NaN feature."""
    columns: dict[str, dict[str, float]] = {m.model_id: {} for m in models}
    for name, descriptor_rows in rows.items():
        undefined = []
        for row in descriptor_rows:
            columns[row.model_id].update(sorted(row.columns().items()))  # stable column order
            if row.reasons:
                undefined.append(row)
        if undefined and len(undefined) == len(descriptor_rows):
            reasons = Counter(next(iter(row.reasons.values())) for row in undefined)
            (reason, n), others = reasons.most_common(1)[0], len(reasons) - 1
            log.warning(
                "descriptor %s is undefined (NaN) for every one of the %d models, so its leaderboard rows stay "
                "unscored: %s (%d models%s)",
                name,
                len(descriptor_rows),
                reason,
                n,
                f"; {others} other reason(s)" if others else "",
            )
        elif undefined:
            log.warning(
                "descriptor %s is undefined (NaN) for %d model(s) (e.g. %s: %s); those rows are dropped in evaluation",
                name,
                len(undefined),
                undefined[0].model_id,
                next(iter(undefined[0].reasons.values())),
            )
        _warn_missing_features(name, descriptor_rows)
    return pd.DataFrame.from_dict(columns, orient="index")


def _warn_missing_features(name: str, rows: Sequence[FeatureRow]) -> None:
    """Warn when descriptor ``name`` gave some models features it did not give others."""
    names = sorted(set().union(*(row.values for row in rows))) if rows else []
    lacking = [row for row in rows if len(row.values) < len(names)]
    if not lacking:
        return
    missing = sorted({n for row in lacking for n in names if n not in row.values})
    log.warning(
        "descriptor %s gives %d of %d models not all of its features: %s missing (e.g. for %s), NaN-filled "
        "there, so evaluation drops those models from its feature sets. A descriptor's features should not "
        "depend on the model (list them in feature_names when undefined; see docs/adding_a_descriptor.md)",
        name,
        len(lacking),
        len(rows),
        ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8 else ""),
        lacking[0].model_id,
    )
