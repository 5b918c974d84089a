"""Tabular classification sets: scikit-learn's bundled wine, breast cancer and iris tables (they
ship inside scikit-learn: no network), and a user's CSV file of features and labels (``csv``).

All of them are split and scaled the same way (:func:`tabular_split`): a seeded split stratified
by class, so that every class is in both parts, then features standardised with the mean and
standard deviation of the training part only (the test part never informs the scaling). Inputs
have shape (n, n_features).

A CSV is read with pandas as text, never unpickled. What a ``csv`` config gets wrong (no
``path``, a file that is not there or not CSV, a label column it lacks, a feature column that is
not numeric or has empty or infinite cells, fewer than two classes, a class with too few rows) is
found during validation, before any work, by :func:`csv_problems`, each message naming the
setting, the value and the fix.
"""

from __future__ import annotations

import difflib
import hashlib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn import datasets as sk_datasets

from benchmark.data.base import CONFIG_CHECKS, DATASETS, Split
from benchmark.data.identity import CONTENT_DIGESTS
from benchmark.errors import ConfigError

BUNDLED: dict[str, Callable[..., Any]] = {
    "wine": sk_datasets.load_wine,  # 178 wines x 13 chemical measurements, 3 cultivars
    "breast_cancer": sk_datasets.load_breast_cancer,  # 569 tumours x 30 cell-nucleus features, 2 classes
    "iris": sk_datasets.load_iris,  # 150 flowers x 4 measurements, 3 species
}
"""scikit-learn's bundled tabular sets, by dataset name: the function that loads each."""
MIN_ROWS_PER_CLASS = 2
"""Rows a class needs: one for the training part and one for the test part."""


def split_problems(params: Mapping[str, Any]) -> list[str]:
    """What a tabular set's split settings get wrong: ``test_fraction`` outside (0, 1), a
    ``split_seed`` that is not a non-negative integer."""
    name, problems = params.get("name"), []
    fraction = params.get("test_fraction", 0.3)
    if not isinstance(fraction, Real) or isinstance(fraction, bool) or not 0.0 < fraction < 1.0:
        problems.append(
            f"dataset.test_fraction={fraction!r} is out of range (dataset {name!r}); use a number in (0, 1), "
            "the held-out share, such as 0.3."
        )
    seed = params.get("split_seed", 0)
    if not isinstance(seed, Integral) or isinstance(seed, bool) or seed < 0:
        problems.append(f"dataset.split_seed={seed!r} is not an integer >= 0 (dataset {name!r}); give one, e.g. 0.")
    return problems


def stratified_split(y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers (sorted) of the training and the test part of labels ``y`` (shape (n,)).

    Each class is shuffled by one generator seeded with ``seed`` (classes in increasing order)
    and gives ``round(test_fraction * n_c)`` of its ``n_c`` rows to the test part, at least one
    and at most ``n_c - 1``, so that every class with :data:`MIN_ROWS_PER_CLASS` rows or more is
    in both parts.
    """
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        k = min(max(round(test_fraction * len(rows)), 1), len(rows) - 1)
        test.append(rows[:k])
        train.append(rows[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def standardise(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both parts (shape (n, d)) centred and scaled by the training part's per-feature mean and
    standard deviation (a constant feature is only centred)."""
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std[std == 0] = 1.0
    return (x_train - mean) / std, (x_test - mean) / std


def tabular_split(
    name: str, x: np.ndarray, y: np.ndarray, n_classes: int, test_fraction: float, split_seed: int
) -> Split:
    """Features ``x`` (shape (n, d)) and labels ``y`` (shape (n,), in [0, n_classes)) as a
    :class:`Split`: stratified (:func:`stratified_split`), standardised on the training part
    (:func:`standardise`), float32 inputs of shape (n, d)."""
    problems = split_problems({"name": name, "test_fraction": test_fraction, "split_seed": split_seed})
    if problems:
        raise ConfigError(" ".join(problems))
    train, test = stratified_split(y, test_fraction, split_seed)
    x_train, x_test = standardise(x[train].astype(np.float64), x[test].astype(np.float64))

    def inputs(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))

    def labels(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(a.astype(np.int64))

    return Split(name, inputs(x_train), labels(y[train]), inputs(x_test), labels(y[test]), n_classes=n_classes)


def _register_bundled(name: str) -> None:
    def loader(test_fraction: float = 0.3, split_seed: int = 0) -> Split:
        """scikit-learn's table, standardised on the training part of a seeded stratified split."""
        bunch = BUNDLED[name]()
        return tabular_split(name, bunch.data, bunch.target, len(bunch.target_names), test_fraction, split_seed)

    loader.__name__ = name
    DATASETS.add(name, loader)
    CONFIG_CHECKS[name] = split_problems


for _name in BUNDLED:
    _register_bundled(_name)


# ----------------------------------------------------------------------------- a user's CSV


@dataclass(frozen=True)
class CsvTable:
    """A CSV file read as features and labels: ``x`` float64 (n, d) in the order of ``features``,
    ``y`` int64 (n,) indexing ``classes`` (the label values, sorted)."""

    features: tuple[str, ...]
    classes: tuple[Any, ...]
    x: np.ndarray
    y: np.ndarray


def _close(name: str, columns: list[str]) -> str:
    close = difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _bad_cells(frame: pd.DataFrame, column: str, what: str, where: str) -> str | None:
    """A message for the empty cells of ``column`` (and, in a numeric column, the infinite ones)."""
    bad = frame[column].isna().to_numpy()
    kind = "empty"
    if pd.api.types.is_numeric_dtype(frame[column]):
        bad = bad | ~np.isfinite(frame[column].to_numpy(dtype=np.float64))
        kind = "empty or infinite"
    rows = np.flatnonzero(bad)
    if not rows.size:
        return None
    return (
        f"{what} {column!r} of {where} has {rows.size} {kind} cell(s) (the first in data row {rows[0] + 1}, "
        "counting from 1 after the header); fill them with numbers, or drop those rows."
    )


def _columns_problems(frame: pd.DataFrame, label: str, features: list[str] | None, where: str) -> list[str]:
    """What is wrong with the label and feature columns the config names (empty: they exist, the
    features are numeric and distinct, and none of them is the label)."""
    columns, problems = list(frame.columns), []
    if label not in columns:
        problems.append(
            f"dataset.label={label!r} is not a column of {where}.{_close(label, columns)} Its columns: "
            f"{', '.join(columns)}; set dataset.label to the one holding the class labels."
        )
    if features is None:
        if label in columns and not _numeric_columns(frame, label):
            problems.append(
                f"{where} has no numeric column besides the label {label!r} (columns: {', '.join(columns)}); "
                "give numeric feature columns, or name them in dataset.features."
            )
        return problems
    for f in features:
        if f not in columns:
            problems.append(
                f"dataset.features names {f!r}, which is not a column of {where}.{_close(f, columns)} Its "
                f"columns: {', '.join(columns)}; list only those in dataset.features."
            )
        elif f == label:
            problems.append(
                f"dataset.features includes the label column {label!r}; leave it out (a feature must not be "
                "the answer)."
            )
        elif not pd.api.types.is_numeric_dtype(frame[f]):
            values = frame[f].dropna()
            example = f" (e.g. {values.iloc[0]!r})" if len(values) else ""
            problems.append(
                f"feature column {f!r} of {where} is not numeric{example}; encode it as numbers, or leave it "
                "out of dataset.features."
            )
    if len(set(features)) != len(features):
        problems.append(f"dataset.features={features} names a column twice; list each column once.")
    return problems


def _numeric_columns(frame: pd.DataFrame, label: str) -> list[str]:
    """Every numeric column but ``label``, in file order: the features when none are named."""
    return [c for c in frame.columns if c != label and pd.api.types.is_numeric_dtype(frame[c])]


def _class_problems(classes: list[Any], counts: np.ndarray, label: str, where: str) -> list[str]:
    """Fewer than two classes, or a class with fewer than :data:`MIN_ROWS_PER_CLASS` rows."""
    problems = []
    if len(classes) < 2:
        problems.append(
            f"label column {label!r} of {where} holds one class only ({classes[0]!r}); a classifier needs at least "
            "two: set dataset.label to the column of class labels."
        )
    for c, n in zip(classes, counts, strict=True):
        if n < MIN_ROWS_PER_CLASS:
            problems.append(
                f"class {c!r} of label column {label!r} has {n} row(s) in {where}; every class needs at least "
                f"{MIN_ROWS_PER_CLASS} (one for the training part, one for the test part): add rows of it, or "
                "drop its rows."
            )
    return problems


def read_csv_table(params: Mapping[str, Any]) -> tuple[CsvTable | None, list[str]]:
    """The ``csv`` config node's file as a :class:`CsvTable`, or ``None`` and what is wrong with
    the node or the file (see the module docstring); the split settings are checked too."""
    problems = split_problems(params)
    path, label, features = params.get("path"), params.get("label"), params.get("features")
    if not path:
        problems.append(
            "dataset 'csv' needs dataset.path: the CSV file of features and labels (a header row of column "
            "names, then one row per example); set dataset.path=path/to/file.csv."
        )
        return None, problems
    where, file = f"dataset.path={str(path)!r}", Path(str(path)).expanduser()
    if not file.is_file():
        what = "is a folder, not a file" if file.is_dir() else "does not exist"
        problems.append(
            f"{where} {what} (dataset 'csv'; a relative path is read from the working directory {Path.cwd()}). "
            "Set dataset.path to the CSV file of features and labels."
        )
        return None, problems
    if label is None or not str(label):
        problems.append(
            f"dataset.label={label!r} is empty (dataset 'csv'); set dataset.label to the name of the column of "
            f"{where} that holds the class labels."
        )
        return None, problems
    if features is not None:
        if isinstance(features, str | bytes) or not isinstance(features, list | tuple) or not features:
            problems.append(
                f"dataset.features={features!r} is not a list of column names; give a non-empty list such as "
                "dataset.features=[a,b], or null for every numeric column but the label."
            )
            return None, problems
        features = [str(f) for f in features]
    try:
        with warnings.catch_warnings():  # a first row longer than the header: refused, not cut short
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(file, index_col=False)  # never a column taken as the index
    except (OSError, ValueError, pd.errors.ParserWarning) as exc:  # parser and decoding errors are ValueErrors
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        problems.append(
            f"{where} cannot be read as CSV ({reason}); give a comma-separated text file whose first row names "
            "the columns."
        )
        return None, problems
    frame.columns = [str(c) for c in frame.columns]
    label = str(label)
    problems += _columns_problems(frame, label, features, where)
    if problems:
        return None, problems
    chosen = _numeric_columns(frame, label) if features is None else features
    problems = [p for p in (_bad_cells(frame, c, "feature column", where) for c in chosen) if p]
    problems += [p for p in [_bad_cells(frame, label, "label column", where)] if p]
    if problems:
        return None, problems
    codes, uniques = pd.factorize(frame[label], sort=True)
    classes = list(uniques.tolist())
    problems = _class_problems(classes, np.bincount(codes, minlength=len(classes)), label, where)
    if problems:
        return None, problems
    x = frame[chosen].to_numpy(dtype=np.float64)
    return CsvTable(tuple(chosen), tuple(classes), x, codes.astype(np.int64)), []


def csv_problems(params: Mapping[str, Any]) -> list[str]:
    """What a ``csv`` config node gets wrong, before any work (empty: fine)."""
    return read_csv_table(params)[1]


def csv_digest(params: Mapping[str, Any]) -> str:
    """SHA-256 of the bytes of the ``csv`` node's file: an edited file is a new dataset to the store."""
    return hashlib.sha256(Path(str(params["path"])).expanduser().read_bytes()).hexdigest()


@DATASETS.register("csv")
def csv(
    path: str | None = None,
    label: str = "label",
    features: list[str] | None = None,
    test_fraction: float = 0.3,
    split_seed: int = 0,
) -> Split:
    """A CSV file (header row, then one row per example): ``features`` (default: every numeric
    column but ``label``) as inputs, the ``label`` column's values (numbers or text) as classes
    0..k-1 in sorted order; stratified, standardised on the training part (:func:`tabular_split`)."""
    params = {"path": path, "label": label, "features": features, "test_fraction": test_fraction}
    table, problems = read_csv_table({**params, "name": "csv", "split_seed": split_seed})
    if table is None:
        raise ConfigError(" ".join(problems))
    return tabular_split("csv", table.x, table.y, len(table.classes), test_fraction, split_seed)


CONFIG_CHECKS["csv"] = csv_problems
CONTENT_DIGESTS["csv"] = csv_digest
