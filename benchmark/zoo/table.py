"""Feature tables: a zoo measured elsewhere, read from one CSV or Parquet file (``zoo=table``).

One row per model: its id, its group, its hyperparameters, its measured targets and any number of
feature columns. A *table YAML* (``zoo.path``) names the data file and says what the columns are::

    file: models.csv          # .csv or .parquet (Parquet needs pyarrow); relative to this YAML's folder
    id: model                 # the column naming each model, or a list of columns (joined "a=1/b=2")
    group: config             # column(s) of the configuration: a group never straddles two folds
    seed: seed                # optional: a column of integer seeds (default: 0 for every model)
    architecture: resnet18    # optional labels recorded on every model
    dataset: cifar10
    hyperparameters:          # name -> column (a list of columns: the same names)
      width: width
      batch_size: bs
    targets:                  # name -> its column (default: the name), direction, optional scale
      test_accuracy: {column: acc, greater_is_better: true, scale: 0.01}
      test_loss: {greater_is_better: false}
    features:                 # feature set -> its columns, or {columns: [...], kind: ...}
      hessian: {columns: [trace, lambda_max], kind: curvature}
      cka: [cka]

Each feature set becomes a leaderboard row like a descriptor (its columns are named
``<set>__<column>`` in the feature table), scored beside the hyperparameters reference (the
``hyperparameters`` descriptor on the hyperparameter columns) and the constant baseline. The kind
of a set (default ``table``) is its leaderboard ``kind``; ``baseline`` makes it one of the rows
every other row is compared with.

Files are read with ``pandas.read_csv`` or ``pandas.read_parquet`` only: nothing is unpickled or
evaluated. :func:`read_spec` checks the YAML (unknown keys, types, the data file, pyarrow for
Parquet); :func:`load_table` reads the data and checks it (missing columns, ids that clash once
stripped of surrounding whitespace, non-numeric or infinite cells in a target or feature column,
a target column used as a feature). Each problem is a :class:`TableError` (a ``ConfigError``:
the command line exits with 2) naming the table, the key or column, the bad value and the fix.
"""

from __future__ import annotations

import difflib
import hashlib
import importlib.util
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from omegaconf import OmegaConf

from benchmark.errors import ConfigError
from benchmark.records import ModelRecord

SOURCE = "table"
"""The ``zoo.source`` of a feature-table zoo."""
RESOLVER = "table_targets"
"""``${table_targets:<table YAML>}``: the targets a table declares (conf/zoo/table.yaml's default)."""
KEYS: dict[str, str] = {
    "file": "the data file, .csv or .parquet, relative to the YAML's folder (required)",
    "id": "the column naming each model, or a list of columns (required)",
    "group": "the column(s) of each model's configuration (required)",
    "seed": "a column of integer seeds (optional)",
    "architecture": "a label recorded on every model (optional)",
    "dataset": "a label recorded on every model (optional)",
    "hyperparameters": "name -> column, or a list of columns (optional)",
    "targets": "name -> {column, greater_is_better, scale} (required, one or more)",
    "features": "feature set -> [columns] or {columns, kind} (required, one or more)",
}
TARGET_KEYS = ("column", "greater_is_better", "scale")
SET_KEYS = ("columns", "kind")
RESERVED_SETS = ("constant", "hyperparameters")  # the baseline and the reference every table gets
DEFAULT_KIND = "table"
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
FORMATS = (".csv", ".parquet", ".pq")


class TableError(ConfigError):
    """A table YAML or its data file that cannot be scored; the message names the table, the key
    or column, the bad value and the fix."""


@dataclass(frozen=True)
class Target:
    """One target: its column, whether a larger value is better, and the factor applied to it."""

    column: str
    greater_is_better: bool
    scale: float = 1.0


@dataclass(frozen=True)
class FeatureSet:
    """One feature set: its columns and its leaderboard kind."""

    columns: tuple[str, ...]
    kind: str = DEFAULT_KIND


@dataclass(frozen=True)
class TableSpec:
    """A checked table YAML (:func:`read_spec`)."""

    path: Path  # the YAML
    file: Path  # the data file, resolved
    id: tuple[str, ...]
    group: tuple[str, ...]
    seed: str | None
    architecture: str
    dataset: str
    hyperparameters: Mapping[str, str]  # name -> column
    targets: Mapping[str, Target]
    features: Mapping[str, FeatureSet]

    def columns(self) -> dict[str, list[str]]:
        """Every column the YAML names -> the keys that name it (``features.hessian``, ...)."""
        uses: dict[str, list[str]] = {}
        for key, cols in (("id", self.id), ("group", self.group), ("seed", (self.seed,) if self.seed else ())):
            for c in cols:
                uses.setdefault(c, []).append(key)
        for name, c in self.hyperparameters.items():
            uses.setdefault(c, []).append(f"hyperparameters.{name}")
        for name, t in self.targets.items():
            uses.setdefault(t.column, []).append(f"targets.{name}")
        for name, fs in self.features.items():
            for c in fs.columns:
                uses.setdefault(c, []).append(f"features.{name}")
        return uses


@dataclass(frozen=True)
class Table:
    """A loaded table: one record per row (no weights), the feature sets' columns
    (``<set>__<column>``, index ``model_id``, float64, NaN where a cell is empty) and one digest
    per model of its record."""

    spec: TableSpec
    models: list[ModelRecord]
    features: pd.DataFrame
    digests: list[str]

    @property
    def sets(self) -> dict[str, str]:
        """Feature set -> its kind, in the YAML's order."""
        return {name: fs.kind for name, fs in self.spec.features.items()}

    @cached_property
    def greater_is_better(self) -> dict[str, bool]:
        """Target -> whether a larger value is better."""
        return {name: t.greater_is_better for name, t in self.spec.targets.items()}


# ----------------------------------------------------------------------------- the YAML


def resolve_path(text: str | Path) -> Path:
    """A path as given, or ``pkg://<package>/<file>`` inside an installed package (the embedded
    tables: ``pkg://benchmark/data/model_diagnosis/table.yaml``)."""
    text = str(text)
    if not text.startswith("pkg://"):
        return Path(text)
    package, _, rest = text.removeprefix("pkg://").partition("/")
    spec = importlib.util.find_spec(package) if package.isidentifier() else None
    if spec is None or not spec.submodule_search_locations:
        raise TableError(
            f"zoo.path={text!r}: no installed package {package!r}; give a file path or pkg://<package>/<file>."
        )
    return Path(next(iter(spec.submodule_search_locations))) / rest


def _unknown(keys: Sequence[Any], valid: Sequence[str], where: str) -> list[str]:
    out = []
    for key in keys:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            out.append(f"{where + ': ' if where else ''}unknown key {key!r}{hint}; valid keys: {', '.join(valid)}")
    return out


def _columns_of(value: Any, key: str) -> tuple[tuple[str, ...], list[str]]:
    """A column name or a non-empty list of names, as a tuple; or the problem."""
    if isinstance(value, str) and value.strip():
        return (value,), []
    if isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value):
        if len(set(value)) < len(value):
            return (), [f"{key}={value!r} names a column twice; list each once"]
        return tuple(value), []
    return (), [f"{key}={value!r} is not a column name or a list of column names, e.g. {key}: model"]


def _label(value: Any, key: str) -> tuple[str | None, list[str]]:
    if value is None or (isinstance(value, str) and value.strip()):
        return value, []
    return None, [f"{key}={value!r} is not a text; give one, e.g. {key}: cifar10, or leave it out"]


def _hyperparameters(value: Any) -> tuple[dict[str, str], list[str]]:
    if value is None:
        return {}, []
    if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        value = {v: v for v in value}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in value.items()
    ):
        return {}, [
            f"hyperparameters={value!r} is not a mapping of names to columns (or a list of columns); "
            "e.g. hyperparameters: {width: width, batch_size: bs}"
        ]
    bad = [k for k in value if not NAME.match(k) or k == "seed"]
    if bad:
        return {}, [
            f"hyperparameters names {bad}: use names of letters, digits and _ (the seed has its own key, seed:)"
        ]
    if len(set(value.values())) < len(value):
        return {}, [f"hyperparameters={dict(value)!r} maps two names to one column; give each its own column"]
    return dict(value), []


def _targets(value: Any) -> tuple[dict[str, Target], list[str]]:
    example = "e.g. targets: {test_accuracy: {column: acc, greater_is_better: true}}"
    if not isinstance(value, Mapping) or not value:
        return {}, [f"targets={value!r} is not a mapping of one or more targets; {example}"]
    out, problems = {}, []
    for name, spec in value.items():
        where = f"targets.{name}"
        if not isinstance(name, str) or not NAME.match(name):
            problems.append(f"target name {name!r} is not a name of letters, digits and _")
            continue
        if not isinstance(spec, Mapping):
            problems.append(f"{where}={spec!r} is not a mapping; {example}")
            continue
        unknown = _unknown(list(spec), TARGET_KEYS, where)
        if unknown:
            problems += unknown
            continue
        column = spec.get("column", name)
        direction = spec.get("greater_is_better")
        scale = spec.get("scale", 1.0)
        if not isinstance(column, str) or not column.strip():
            problems.append(f"{where}.column={column!r} is not a column name")
        if not isinstance(direction, bool):
            problems.append(
                f"{where}.greater_is_better={direction!r}: every target needs its direction, true or false "
                "(true for accuracies, false for errors, losses and generalization gaps)"
            )
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale == 0:
            problems.append(f"{where}.scale={scale!r} is not a finite non-zero number (e.g. 0.01 for percentages)")
        if not problems:
            out[name] = Target(column, direction, float(scale))
    return out, problems


def _feature_sets(value: Any) -> tuple[dict[str, FeatureSet], list[str]]:
    example = "e.g. features: {hessian: [trace, lambda_max], cka: {columns: [cka], kind: similarity}}"
    if not isinstance(value, Mapping) or not value:
        return {}, [f"features={value!r} is not a mapping of one or more feature sets; {example}"]
    out, problems = {}, []
    for name, spec in value.items():
        where = f"features.{name}"
        if not isinstance(name, str) or not NAME.match(name) or "__" in name:
            problems.append(f"feature set name {name!r} is not a name of letters, digits and single _")
            continue
        if name in RESERVED_SETS:
            problems.append(
                f"feature set name {name!r} is reserved (every table is scored with the constant baseline and the "
                "hyperparameters reference); rename the set"
            )
            continue
        kind: Any = DEFAULT_KIND
        if isinstance(spec, Mapping):
            unknown = _unknown(list(spec), SET_KEYS, where)
            if unknown:
                problems += unknown
                continue
            kind, spec = spec.get("kind", DEFAULT_KIND), spec.get("columns")
        columns, wrong = _columns_of(spec, f"{where}.columns")
        if not isinstance(kind, str) or not NAME.match(kind):
            wrong.append(f"{where}.kind={kind!r} is not a name such as curvature, geometry or baseline")
        problems += wrong
        if not wrong:
            out[name] = FeatureSet(columns, kind)
    return out, problems


def read_spec(path: str | Path) -> TableSpec:
    """The table YAML at ``path`` (or ``pkg://...``: :func:`resolve_path`), checked; a
    :class:`TableError` naming every problem at once."""
    yaml_path = resolve_path(path)
    if not yaml_path.is_file():
        raise TableError(
            f"zoo.path={str(path)!r}: no such file; give the path of a table YAML (see docs/adding_a_zoo.md, "
            "'Scoring a precomputed feature table')."
        )
    try:
        data = yaml.safe_load(yaml_path.read_text())
    except yaml.YAMLError as exc:
        raise TableError(f"table {yaml_path}: not valid YAML ({exc}); fix the file.") from None
    if not isinstance(data, Mapping):
        raise TableError(f"table {yaml_path}: holds {type(data).__name__}, not a mapping of keys; see {KEYS}.")
    problems = _unknown(list(data), list(KEYS), "")
    missing = [k for k in ("file", "id", "group", "targets", "features") if data.get(k) is None]
    problems += [f"{k} is missing; add it ({KEYS[k]})" for k in missing]
    id_cols, wrong = _columns_of(data.get("id"), "id") if "id" not in missing else ((), [])
    problems += wrong
    group_cols, wrong = _columns_of(data.get("group"), "group") if "group" not in missing else ((), [])
    problems += wrong
    seed, wrong = _label(data.get("seed"), "seed")
    problems += wrong
    architecture, wrong = _label(data.get("architecture"), "architecture")
    problems += wrong
    dataset, wrong = _label(data.get("dataset"), "dataset")
    problems += wrong
    hparams, wrong = _hyperparameters(data.get("hyperparameters"))
    problems += wrong
    targets, wrong = _targets(data.get("targets")) if "targets" not in missing else ({}, [])
    problems += wrong
    sets, wrong = _feature_sets(data.get("features")) if "features" not in missing else ({}, [])
    problems += wrong
    file = data.get("file")
    data_path = None
    if "file" not in missing:
        if not isinstance(file, str) or not file.strip():
            problems.append(f"file={file!r} is not a path; give the data file, e.g. file: models.csv")
        else:
            data_path = yaml_path.parent / file
            if data_path.suffix.lower() not in FORMATS:
                problems.append(f"file={file!r} is neither .csv nor .parquet; save the table in one of these formats")
            elif not data_path.is_file():
                problems.append(f"file={file!r} not found (looked for {data_path.resolve()}); fix the path")
            elif data_path.suffix.lower() != ".csv" and importlib.util.find_spec("pyarrow") is None:
                problems.append(
                    f"file={file!r} is Parquet, which needs pyarrow, not installed here; install it "
                    "(.venv/bin/pip install pyarrow) or save it as CSV"
                )
    for name, t in targets.items():
        others = [k for k in (*id_cols, *group_cols, *hparams.values()) if k == t.column]
        in_sets = [s for s, fs in sets.items() if t.column in fs.columns]
        if others or in_sets:
            where = ", ".join([*(f"features.{s}" for s in in_sets), *(["id/group/hyperparameters"] if others else [])])
            problems.append(
                f"targets.{name} reads column {t.column!r}, which {where} also reads: a target among the "
                "features predicts itself; keep target columns out of the features and hyperparameters"
            )
    if problems:
        raise TableError(f"table {yaml_path}:\n  - " + "\n  - ".join(problems))
    assert data_path is not None
    return TableSpec(
        path=yaml_path,
        file=data_path,
        id=id_cols,
        group=group_cols,
        seed=seed,
        architecture=architecture or SOURCE,
        dataset=dataset or "",
        hyperparameters=hparams,
        targets=targets,
        features=sets,
    )


def declared_targets(path: Any) -> list[str]:
    """The target names the table YAML at ``path`` declares, in order; empty when it cannot be
    read (the checks before work then say why). The ``${table_targets:...}`` resolver."""
    try:
        data = yaml.safe_load(resolve_path(path).read_text())
    except (OSError, yaml.YAMLError, TableError, TypeError, ValueError):
        return []
    targets = data.get("targets") if isinstance(data, Mapping) else None
    return [str(t) for t in targets] if isinstance(targets, Mapping) else []


if not OmegaConf.has_resolver(RESOLVER):
    OmegaConf.register_new_resolver(RESOLVER, declared_targets)


def spec_problems(zoo: Mapping[str, Any]) -> list[str]:
    """What the ``zoo`` node of a table zoo gets wrong (its table YAML, see :func:`read_spec`), one
    message; empty when the YAML is fine."""
    try:
        read_spec(zoo.get("path"))
    except TableError as exc:
        return [str(exc)]
    return []


# ----------------------------------------------------------------------------- the data


def _read(spec: TableSpec) -> pd.DataFrame:
    """The data file as a frame: a CSV as text (empty and NA cells missing), Parquet as typed."""
    try:
        if spec.file.suffix.lower() == ".csv":
            return pd.read_csv(spec.file, dtype=str)
        return pd.read_parquet(spec.file, engine="pyarrow")
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise TableError(f"table {spec.path}: cannot read {spec.file.name} ({type(exc).__name__}: {exc}).") from None
    except Exception as exc:  # pyarrow's own errors for a damaged Parquet file
        raise TableError(f"table {spec.path}: cannot read {spec.file.name} ({type(exc).__name__}: {exc}).") from None


def _text(column: pd.Series) -> list[str]:
    """Each cell as text without surrounding whitespace; ``""`` for a missing cell."""
    return ["" if pd.isna(v) else str(v).strip() for v in column.tolist()]


def _numbers(column: pd.Series) -> tuple[np.ndarray, int | None]:
    """The column as float64 (NaN where missing) and the position of its first cell that is not
    a finite number (None: all are)."""
    if pd.api.types.is_bool_dtype(column) or pd.api.types.is_numeric_dtype(column):
        values = column.astype(np.float64).to_numpy()
        bad = np.flatnonzero(np.isinf(values))
    else:
        text = column.astype(object).where(column.notna(), None)
        parsed = pd.to_numeric(text, errors="coerce").astype(np.float64).to_numpy()
        bad = np.flatnonzero((text.notna().to_numpy() & np.isnan(parsed)) | np.isinf(parsed))
        values = parsed
    return values, (int(bad[0]) if len(bad) else None)


def _hyperparameter_values(column: pd.Series) -> list[Any]:
    """A hyperparameter column as Python values: integers, floats or booleans when every filled
    cell is one, else text; None where a cell is empty."""
    if pd.api.types.is_bool_dtype(column):
        return [None if pd.isna(v) else bool(v) for v in column.tolist()]
    text = _text(column)
    filled = [t for t in text if t]
    if filled and all(t.lower() in ("true", "false") for t in filled):
        return [None if not t else t.lower() == "true" for t in text]
    parsed = pd.to_numeric(pd.Series([t or None for t in text], dtype=object), errors="coerce")
    if filled and parsed.notna().sum() == len(filled) and np.isfinite(parsed.dropna().to_numpy(np.float64)).all():
        integral = pd.api.types.is_integer_dtype(column) or all(re.fullmatch(r"[+-]?\d+", t) for t in filled)
        return [None if pd.isna(v) else (int(v) if integral else float(v)) for v in parsed.tolist()]
    return [t or None for t in text]


def _ids(frame: pd.DataFrame, columns: Sequence[str]) -> tuple[list[str], list[str]]:
    """Each row's id from ``columns`` (each cell stripped; several columns joined ``a=1/b=2``), and
    the rows (numbered from 1) that have an empty cell there."""
    parts = [_text(frame[c]) for c in columns]
    ids, empty = [], []
    for i, cells in enumerate(zip(*parts, strict=True), start=1):
        if not all(cells):
            empty.append(i)
        ids.append(cells[0] if len(columns) == 1 else "/".join(f"{c}={v}" for c, v in zip(columns, cells, strict=True)))
    return ids, empty


def _clashes(ids: Sequence[str], raw: Sequence[str]) -> list[str]:
    """Pairs of rows (from 1) whose ids are equal once stripped of surrounding whitespace."""
    first: dict[str, int] = {}
    out = []
    for i, mid in enumerate(ids, start=1):
        if mid in first:
            j = first[mid]
            note = "" if raw[j - 1] == raw[i - 1] else f" (both {mid!r} once stripped of surrounding whitespace)"
            out.append(f"rows {j} and {i} have id {raw[j - 1]!r} and {raw[i - 1]!r}{note}")
        else:
            first[mid] = i
    return out


def _raw_ids(frame: pd.DataFrame, columns: Sequence[str]) -> list[str]:
    cells = [["" if pd.isna(v) else str(v) for v in frame[c].tolist()] for c in columns]
    if len(columns) == 1:
        return cells[0]
    return ["/".join(f"{c}={v}" for c, v in zip(columns, row, strict=True)) for row in zip(*cells, strict=True)]


def load_table(path: str | Path, zoo: str) -> Table:
    """The models and feature sets of the table YAML at ``path`` for zoo ``zoo``; a
    :class:`TableError` naming every problem of the data at once (before any work)."""
    spec = read_spec(path)
    frame = _read(spec)
    where = f"table {spec.path} ({spec.file.name})"
    uses = spec.columns()
    absent = [c for c in uses if c not in frame.columns]
    if absent:
        named = ", ".join(f"{c!r} (named by {', '.join(uses[c])})" for c in absent)
        raise TableError(
            f"{where} has no column {named}; its columns are {list(map(str, frame.columns))}. "
            "Fix the names in the YAML (they are case-sensitive)."
        )
    if frame.empty:
        raise TableError(f"{where} has no rows; add one row per model.")
    problems = []
    ids, empty = _ids(frame, spec.id)
    if empty:
        problems.append(f"rows {empty[:5]} have no id (an empty cell in {list(spec.id)}); give every model an id")
    clashes = _clashes(ids, _raw_ids(frame, spec.id))
    if clashes:
        more = f" and {len(clashes) - 5} more" if len(clashes) > 5 else ""
        problems.append(
            "duplicate ids: " + "; ".join(clashes[:5]) + more + ". Ids are compared after removing surrounding "
            "whitespace, and every model needs its own id; rename one of each pair"
        )
    groups, empty = _ids(frame, spec.group)
    if empty:
        problems.append(f"rows {empty[:5]} have no group (an empty cell in {list(spec.group)}); give every model one")
    numeric: dict[str, np.ndarray] = {}
    for column in dict.fromkeys([*(t.column for t in spec.targets.values()), *uses]):
        if not any(u.startswith(("targets.", "features.")) for u in uses[column]):
            continue
        values, bad = _numbers(frame[column])
        if bad is not None:
            cell = frame[column].iloc[bad]
            problems.append(
                f"column {column!r} ({', '.join(uses[column])}) holds {cell!r} in row {bad + 1} (model {ids[bad]!r}), "
                "not a finite number; give numbers there (an empty cell is a missing value)"
            )
        numeric[column] = values
    seeds = [0] * len(frame)
    if spec.seed:
        values, bad = _numbers(frame[spec.seed])
        wrong = np.flatnonzero(~(np.isfinite(values) & (values >= 0) & (values == np.round(values))))
        if bad is not None or len(wrong):
            row = bad if bad is not None else int(wrong[0])
            problems.append(
                f"column {spec.seed!r} (seed) holds {frame[spec.seed].iloc[row]!r} in row {row + 1}, not an integer "
                ">= 0; give every model its seed"
            )
        else:
            seeds = [int(v) for v in values]
    if problems:
        raise TableError(f"{where}:\n  - " + "\n  - ".join(problems))
    hparams = {name: _hyperparameter_values(frame[c]) for name, c in spec.hyperparameters.items()}
    models = []
    for i, mid in enumerate(ids):
        models.append(
            ModelRecord(
                model_id=mid,
                zoo=zoo,
                task=SOURCE,
                architecture={"name": spec.architecture},
                dataset=spec.dataset,
                hparams={name: values[i] for name, values in hparams.items()},
                seed=seeds[i],
                group=groups[i],
                epoch=0,
                metrics={name: float(numeric[t.column][i] * t.scale) for name, t in spec.targets.items()},
                state={},
            )
        )
    features = pd.DataFrame(
        {f"{name}__{c}": numeric[c] for name, fs in spec.features.items() for c in fs.columns}, index=ids
    )
    digests = [
        hashlib.sha256(json.dumps(m.to_payload()[0], sort_keys=True, default=str).encode()).hexdigest() for m in models
    ]
    return Table(spec, models, features, digests)
