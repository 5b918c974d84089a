"""The Python API: score descriptors from a script or a notebook, as the command line does.

    import benchmark

    result = benchmark.evaluate(["experiment=tiny"], descriptors=[my_descriptor], write_leaderboard=True)
    result.scores     # the leaderboard's rows: a DataFrame with the columns of leaderboards/tiny.csv
    swept = benchmark.sweep({"landscape.span": [0.5, 1.0]}, ["experiment=tiny"])
    swept.scores      # every job's rows with their ``settings``, as a multirun gathers them

:func:`evaluate` composes conf/ with the overrides as ``landscape-bench`` does (the same defaults,
the same messages for a malformed override or an unknown option, the same validation before any
work), runs :func:`benchmark.pipeline.run` and, when asked, writes the leaderboard through
:func:`write_run_leaderboard`, which the command line calls too: the same overrides give the same
``<name>.csv``, byte for byte. :func:`sweep` runs the cartesian product of its axes one job after
another, in the order of Hydra's basic sweeper, and gathers the jobs' scores as a multirun's
``GatherLeaderboard`` does. Descriptors defined in the calling script join the selection for the
call (see :func:`evaluate`; :func:`as_descriptor` turns a function into one). See docs/python_api.md.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import inspect
import itertools
import json
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pandas as pd
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf, open_dict, read_write
from omegaconf.errors import OmegaConfBaseException

import benchmark.suite  # noqa: F401  (registers the ${suite:...} resolver that studies' sweep axes read)
from benchmark import device, pipeline
from benchmark.cli import conf_dir, launcher_threads, malformed_overrides, unknown_group_options
from benchmark.descriptors import DESCRIPTORS, Descriptor, DescriptorInputs, build_descriptor, register_descriptor
from benchmark.descriptors.base import INPUTS, DescriptorError, contract_problems
from benchmark.errors import ConfigError
from benchmark.evaluation.design import model_table
from benchmark.plugins import load_plugins
from benchmark.registry import Registry
from benchmark.report import provenance, write_leaderboard
from benchmark.report.gather import Gathered, gather_leaderboard
from benchmark.report.leaderboard import gather_sweep, sort_rows, write_pairwise, write_univariate
from benchmark.report.plots import write_run_plots
from benchmark.report.provenance import config_yaml
from benchmark.report.zoo_summary import plot_zoo, summary_markdown
from benchmark.stage import RunResult

__all__ = [
    "EvaluationResult",
    "LeaderboardFiles",
    "SweepResult",
    "as_descriptor",
    "evaluate",
    "sweep",
    "write_job_tables",
    "write_run_leaderboard",
]

DescriptorLike = type[Descriptor] | Descriptor | Callable[..., Mapping[str, float]]
"""What ``descriptors=[...]`` takes: a :class:`~benchmark.descriptors.Descriptor` subclass (built
with its defaults), an instance (built again from its ``get_params()``), or a function of the
inputs (see :func:`as_descriptor`)."""


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True)
class LeaderboardFiles:
    """The files one run writes into ``report.dir``, named ``<report.name>.*``."""

    markdown: Path  # the leaderboard page
    csv: Path  # its rows at full precision (EvaluationResult.scores)
    univariate_markdown: Path  # each feature's own rank correlation with each target
    univariate_csv: Path
    pairwise: Path  # every two rows of each table compared on their bootstrap draws
    models: Path  # one row per model: id, group, hyperparameters, targets
    zoo: Path  # the zoo's summary page
    zoo_plot: Path | None  # each target against each varying hyperparameter (None: nothing varies)
    plots: tuple[Path, ...]  # scores, scatter and (with landscapes) the landscape gallery


@dataclass
class EvaluationResult:
    """What :func:`evaluate` computed.

    ``scores`` holds the leaderboard's rows in its order, with the columns of ``<name>.csv``
    (``zoo``, ``target``, ``feature_set``, ``kind``, ``regressor``, ``protocol``, then each score's
    ``<score>_value``, ``_ci_low``, ``_ci_high`` and the comparisons; docs/protocol.md). ``features``
    has one row per model (index ``model_id``) and columns ``<descriptor>__<feature>``; ``models``
    one row per model (``<name>.models.csv``: id, group, ``hp:`` hyperparameters, targets).
    ``univariate`` is each feature's own Spearman correlation with each target. ``config`` is the
    resolved config the run used, ``overrides`` the overrides it was composed with, ``run`` the
    pipeline's :class:`~benchmark.stage.RunResult` (model records, landscapes, curvatures,
    seconds per stage), ``leaderboard`` the files written (None unless ``write_leaderboard``).
    """

    scores: pd.DataFrame
    features: pd.DataFrame
    models: pd.DataFrame
    univariate: pd.DataFrame | None
    config: dict[str, Any]
    overrides: tuple[str, ...]
    run: RunResult
    leaderboard: LeaderboardFiles | None = None
    _pairwise: pd.DataFrame | None = field(default=None, init=False, repr=False)

    def pairwise(self) -> pd.DataFrame:
        """Every two rows of each table compared on their bootstrap draws (``<name>.pairwise.csv``;
        :func:`benchmark.evaluation.comparison.pairwise_comparisons`), computed on the first call."""
        if self._pairwise is None:
            self._pairwise = self.run.pairwise_frame()
        return self._pairwise


@dataclass
class SweepResult:
    """What :func:`sweep` computed.

    ``scores`` holds every job's rows as the sweep's leaderboard (``<name>.csv``) has them: the
    columns of :attr:`EvaluationResult.scores` behind ``settings``, the overrides that distinguish
    the row's job from the others (the regressor, output folders and overrides every job shares
    left out; no ``settings`` column when nothing distinguishes the jobs). ``univariate`` is
    gathered the same way. ``jobs`` lists each job's overrides in the order they ran, ``runs`` each
    job's :class:`EvaluationResult` (without leaderboard files). With ``write_leaderboard``,
    ``folder`` is the sweep's folder (``hydra.sweep.dir``: one folder of tables per job and
    ``multirun.yaml``, which ``landscape-bench-gather`` reads) and ``leaderboard`` says where the
    leaderboard went; both are None otherwise.
    """

    scores: pd.DataFrame
    univariate: pd.DataFrame | None
    jobs: list[tuple[str, ...]]
    runs: list[EvaluationResult]
    folder: Path | None = None
    leaderboard: Gathered | None = None


# ----------------------------------------------------------------------------- descriptors passed in


def as_descriptor(
    function: Callable[..., Mapping[str, float]] | None = None,
    /,
    *,
    name: str | None = None,
    kind: str = "geometry",
    version: str = "1",
    feature_names: Sequence[str] | None = None,
) -> Any:
    """A :class:`~benchmark.descriptors.Descriptor` subclass computing ``function``; use it plain,
    ``as_descriptor(f)``, or as a decorator, ``@as_descriptor`` or ``@as_descriptor(kind="topology")``.

    ``function``'s parameters named ``model``, ``landscape`` or ``curvature`` receive that input
    (:class:`~benchmark.records.ModelRecord`, :class:`~benchmark.records.Landscape`,
    :class:`~benchmark.records.Curvature`) and declare it in ``requires``; every other parameter
    needs a default and becomes a descriptor parameter (an ``__init__`` argument of the class: it
    enters the config and the store keys; ``my_descriptor(tolerance=0.05)`` is an instance with
    another value). ``function`` returns
    ``{feature: float}`` (the leaderboard's columns ``<name>__<feature>``) or raises
    :class:`~benchmark.descriptors.base.UndefinedFeatureError`; then ``feature_names`` are filled
    with NaN. ``name`` (default: the function's name) is the registry key and the leaderboard's
    ``feature_set``; ``kind`` one of :data:`~benchmark.descriptors.base.KINDS`.

    As for every descriptor, stored feature rows are keyed by name, ``version`` and parameters,
    not by the code: raise ``version`` when you change what the function computes, or the store
    serves the rows computed before. The class is not registered; :func:`evaluate` and
    :func:`sweep` register it for their call.
    """

    def make(fn: Callable[..., Mapping[str, float]]) -> type[Descriptor]:
        return _function_descriptor(fn, name, kind, version, feature_names)

    return make if function is None else make(function)


def _function_descriptor(
    fn: Callable[..., Mapping[str, float]],
    name: str | None,
    kind: str,
    version: str,
    feature_names: Sequence[str] | None,
) -> type[Descriptor]:
    label = getattr(fn, "__qualname__", repr(fn))
    key = name or getattr(fn, "__name__", "")
    try:
        Registry("descriptor").add(key, fn)  # the registry's spelling rule, checked now
    except ValueError as exc:
        raise DescriptorError(f"as_descriptor({label}): {exc} Give one with as_descriptor(name=...).") from None
    inputs, params = [], []
    for p in inspect.signature(fn).parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise DescriptorError(
                f"as_descriptor({label}): *{p.name} cannot be a descriptor parameter; name every parameter, "
                f"each input ({', '.join(INPUTS)}) and each setting with its default."
            )
        if p.name in INPUTS:
            inputs.append(p.name)
        elif p.default is p.empty:
            raise DescriptorError(
                f"as_descriptor({label}): parameter {p.name!r} is neither an input ({', '.join(INPUTS)}) nor has a "
                f"default; give it one (def {getattr(fn, '__name__', key)}(..., {p.name}=...)): settings are "
                "descriptor parameters."
            )
        else:
            params.append(p)
    if not inputs:
        raise DescriptorError(
            f"as_descriptor({label}) takes none of the inputs; name a parameter model, landscape or curvature, "
            "e.g. def my_descriptor(landscape): ..."
        )
    names = list(feature_names) if feature_names is not None else None

    def features(self: Descriptor, given: DescriptorInputs) -> dict[str, float]:
        return fn(**{i: getattr(given, i) for i in inputs}, **self.get_params())  # type: ignore[return-value]

    def undefined_names(self: Descriptor, given: DescriptorInputs) -> list[str] | None:
        return names

    fields = [(p.name, Any, _default(p.default)) for p in params]
    namespace = {
        "name": key,
        "kind": kind,
        "requires": tuple(i for i in INPUTS if i in inputs),
        "version": version,
        "features": features,
        "feature_names": undefined_names,
        "__doc__": fn.__doc__,
        "__module__": getattr(fn, "__module__", __name__),
    }
    cls = dataclasses.make_dataclass(
        getattr(fn, "__name__", key), fields, bases=(Descriptor,), namespace=namespace, eq=False
    )
    cls.__qualname__ = label
    problems = contract_problems(key, cls)
    if problems:
        raise DescriptorError(f"as_descriptor({label}): " + " ".join(problems) + " See docs/python_api.md.")
    return cls


def _default(value: Any) -> Any:
    """A dataclass field defaulting to ``value`` (a copy of it per instance when it is mutable)."""
    if isinstance(value, (list, dict, set)):
        return field(default_factory=lambda: copy.deepcopy(value))
    return field(default=value)


@dataclass(frozen=True)
class _Passed:
    """A descriptor passed in: its registry name, its class, and the parameters it was given
    (None for a class: the selection's YAML parameters, else the class's defaults)."""

    name: str
    cls: type[Descriptor]
    params: dict[str, Any] | None

    def provenance(self) -> str:
        return f"`{self.name}` ({self.cls.__module__}.{self.cls.__qualname__}, version {self.cls.version})"


def _passed(descriptors: Sequence[DescriptorLike]) -> list[_Passed]:
    if isinstance(descriptors, (str, bytes, Descriptor, type)) or not isinstance(descriptors, Iterable):
        raise DescriptorError(
            f"descriptors= takes a list of descriptors, e.g. descriptors=[my_descriptor]; got {descriptors!r}."
        )
    out: list[_Passed] = []
    for obj in descriptors:
        if isinstance(obj, Descriptor):
            cls, params = type(obj), obj.get_params()
        elif isinstance(obj, type) and issubclass(obj, Descriptor):
            cls, params = obj, None
        elif callable(obj) and not isinstance(obj, type):
            cls, params = _function_descriptor(obj, None, "geometry", "1", None), None
        else:
            raise DescriptorError(
                f"descriptors=[...] takes Descriptor subclasses, Descriptor instances or functions of the inputs "
                f"({', '.join(INPUTS)}); got {obj!r}. See docs/python_api.md."
            )
        if not cls.name:
            raise DescriptorError(
                f"descriptor class {cls.__qualname__} has no name; set name = '...' in its body (lower_snake_case: "
                "the registry key and the leaderboard's feature_set), or register it with @register_descriptor."
            )
        if any(p.name == cls.name for p in out):
            raise DescriptorError(f"descriptor {cls.name!r} is passed twice in descriptors=[...]; pass it once.")
        out.append(_Passed(cls.name, cls, params))
    return out


@contextlib.contextmanager
def _registered(passed: Sequence[_Passed]) -> Iterator[None]:
    """The passed descriptors registered inside the block (with the contract checks of
    ``@register_descriptor``), and unregistered after it; those registered before stay."""
    added: list[str] = []
    try:
        for p in passed:
            if p.name in DESCRIPTORS and DESCRIPTORS.get(p.name) is p.cls:
                continue
            register_descriptor(p.name)(p.cls)
            added.append(p.name)
        yield
    finally:
        for name in added:
            DESCRIPTORS.remove(name)


# ----------------------------------------------------------------------------- composing


@dataclass(frozen=True)
class _Composed:
    """A config composed as the command line composes it."""

    full: DictConfig  # with its hydra node (a sweep's multirun.yaml)
    cfg: DictConfig  # the job's config (no hydra node), the passed descriptors added
    plain: dict[str, Any]  # cfg resolved, ``threads`` filled in as the command line does
    task: list[str]  # the task overrides (hydra.overrides.task)
    hydra: list[str]  # the hydra.* overrides (hydra.overrides.hydra)
    study: str | None
    sweep_params: dict[str, str]  # a study's axes (hydra.sweeper.params)
    sweep_dir: str


def _config_dir(config_dir: str | os.PathLike[str] | None) -> Path:
    if config_dir is None:
        return conf_dir()
    path = Path(config_dir).resolve()
    if not (path / "config.yaml").is_file():
        raise ConfigError(
            f"config_dir {os.fspath(config_dir)!r} has no config.yaml; give a folder laid out like conf/ "
            f"({conf_dir()}), or leave config_dir out."
        )
    return path


def _quoted(value: str) -> str:
    """``value`` as a Hydra override value (quoted unless it is a plain path or word)."""
    if re.fullmatch(r"[\w./+-]+", value):
        return value
    return "'" + value.replace("'", "\\'") + "'"


def _locations(home: str | os.PathLike[str] | None, write: bool | str | os.PathLike[str]) -> list[str]:
    """The overrides that ``home`` and a ``write_leaderboard`` folder stand for."""
    out = [] if home is None else [f"paths.home={_quoted(os.fspath(home))}"]
    if not isinstance(write, bool):
        out.append(f"report.dir={_quoted(os.fspath(write))}")
    return out


@contextlib.contextmanager
def _hydra_initialized(conf: Path) -> Iterator[None]:
    """Hydra initialized on ``conf`` inside the block, also within a running Hydra app (a notebook's
    or script's own ``@hydra.main``), whose global state is put back afterwards."""
    running = GlobalHydra.instance().hydra
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            yield
    finally:
        GlobalHydra.instance().hydra = running


def _compose(overrides: Sequence[str], conf: Path, passed: Sequence[_Passed]) -> _Composed:
    """``conf`` composed with ``overrides`` (a :class:`ConfigError` with the command line's messages
    when Hydra refuses them), the passed descriptors added to the selection."""
    argv = list(overrides)
    try:
        with _hydra_initialized(conf):
            full = compose(config_name="config", overrides=argv, return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as exc:
        messages = malformed_overrides(argv) + unknown_group_options(argv, conf)
        raise ConfigError("\n".join([str(exc).strip(), *messages])) from None
    with read_write(full), open_dict(full):
        if passed and full.get("descriptors") is None:  # `descriptors=[]`: Hydra drops the node
            full.descriptors = {}
        for p in passed:
            if p.params is None and p.name in full.descriptors:
                continue  # selected in the overrides too: its YAML's parameters
            params = build_descriptor(p.name).get_params() if p.params is None else p.params
            try:
                full.descriptors[p.name] = params
            except OmegaConfBaseException as exc:
                raise DescriptorError(
                    f"descriptor {p.name!r}: its parameters {params!r} must be YAML values (numbers, strings, "
                    f"booleans, None, lists and dicts of them): they enter the config and the store keys ({exc})."
                ) from None
    try:
        hydra = full.hydra
        cfg = copy.deepcopy(full)
        with read_write(cfg), open_dict(cfg):
            del cfg["hydra"]
        plain = cast(dict[str, Any], OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True))
        params = {str(k): str(v) for k, v in (hydra.sweeper.params or {}).items()}
        composed = _Composed(
            full,
            cfg,
            plain,
            [str(o) for o in hydra.overrides.task],
            [str(o) for o in hydra.overrides.hydra],
            hydra.runtime.choices.get("study"),
            params,
            str(hydra.sweep.dir),
        )
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{exc}".strip()) from None
    if plain.get("threads") is None:
        plain["threads"] = launcher_threads(hydra.launcher)
    if plain.get("dry_run"):
        raise ConfigError(
            "dry_run=true computes nothing, and evaluate() and sweep() return what they computed; leave it out, "
            "or run the same overrides as landscape-bench ... dry_run=true to see what they would compute."
        )
    return composed


def _refuse_study(composed: _Composed) -> None:
    if composed.study:
        raise ConfigError(
            f"study={composed.study} is a sweep; run it with benchmark.sweep({{}}, [..., 'study={composed.study}']) "
            f"(on the command line: landscape-bench -m study={composed.study})."
        )


def _call(function: str, *args: Any, **kwargs: Any) -> str:
    """The Python call a leaderboard names as its source, e.g. ``benchmark.evaluate(['experiment=tiny'])``."""

    def shown(value: Any) -> str:
        if isinstance(value, os.PathLike):
            return repr(os.fspath(value))
        if isinstance(value, list) and value and all(isinstance(p, _Passed) for p in value):
            return "[" + ", ".join(p.name for p in value) + "]"
        return repr(value)

    parts = [shown(a) for a in args] + [f"{k}={shown(v)}" for k, v in kwargs.items() if v not in (None, False, [])]
    return f"benchmark.{function}({', '.join(parts)})"


def _result(composed: _Composed, overrides: Sequence[str], run: RunResult) -> EvaluationResult:
    return EvaluationResult(
        scores=sort_rows(run.scores_frame()),
        features=run.features,
        models=model_table(run.models, composed.plain["evaluation"]["targets"]),
        univariate=run.univariate,
        config=composed.plain,
        overrides=tuple(overrides),
        run=run,
    )


# ----------------------------------------------------------------------------- evaluate, sweep


def evaluate(
    overrides: Sequence[str] = (),
    *,
    descriptors: Sequence[DescriptorLike] = (),
    config_dir: str | os.PathLike[str] | None = None,
    home: str | os.PathLike[str] | None = None,
    write_leaderboard: bool | str | os.PathLike[str] = False,
) -> EvaluationResult:
    """Run the benchmark for ``overrides`` (``landscape-bench <overrides>``) and return its tables.

    ``overrides`` are the command line's (``["experiment=tiny", "landscape.steps=21",
    "descriptors=[merge_tree,hessian]"]``); the config is composed from ``config_dir`` (default:
    the package's conf/) as the command line composes it, and refused in the same words: a
    malformed override, an unknown option or an invalid setting raises
    :class:`~benchmark.errors.ConfigError` before any work, as does ``study=...`` (a sweep: use
    :func:`sweep`). ``home`` is the store's root (``paths.home``; default ``$LANDSCAPE_BENCH_HOME``
    or ``.landscape-bench``, as on the command line): models, landscapes, features and scores
    computed before load from it.

    ``descriptors`` adds descriptors defined in the calling code to the selection (after the
    config's ``descriptors``): :class:`~benchmark.descriptors.Descriptor` subclasses (with a
    ``name``; built with their defaults, or with their YAML's parameters when the overrides select
    them too), instances (their ``get_params()`` enter the config and the store keys), or
    functions of the inputs (:func:`as_descriptor`; a plain function is ``kind="geometry"``,
    ``version="1"``). Those not registered already are registered for the call only, with the
    checks of ``@register_descriptor``, and are gone from the registry afterwards. Their stored
    rows are keyed by name, version and parameters, as for a plugin's descriptor: raise ``version``
    when the code changes what it computes.

    ``write_leaderboard``: False (default) writes nothing but the store; True writes the
    leaderboard files into ``report.dir`` as the command line does; a folder writes them there
    (``report.dir=<folder>``). Returns an :class:`EvaluationResult`.
    """
    conf = _config_dir(config_dir)
    argv = [*overrides, *_locations(home, write_leaderboard)]
    passed = _passed(descriptors)
    with _registered(passed):
        composed = _compose(argv, conf, passed)
        _refuse_study(composed)
        run = pipeline.run(composed.plain)
    result = _result(composed, argv, run)
    if write_leaderboard is not False:
        call = _call("evaluate", list(overrides), descriptors=passed, home=home, write_leaderboard=write_leaderboard)
        extra = {"descriptors passed in": ", ".join(p.provenance() for p in passed)} if passed else {}
        frame = run.scores_frame()  # unsorted, as the command line passes it to the plots
        result.leaderboard = write_run_leaderboard(
            run, composed.plain, composed.cfg, composed.task, call, frame, result.pairwise(), extra
        )
    return result


def sweep(
    axes: Mapping[str, Iterable[Any]],
    overrides: Sequence[str] = (),
    *,
    descriptors: Sequence[DescriptorLike] = (),
    config_dir: str | os.PathLike[str] | None = None,
    home: str | os.PathLike[str] | None = None,
    write_leaderboard: bool | str | os.PathLike[str] = False,
) -> SweepResult:
    """Run one job per combination of the ``axes`` values, one after another, and gather their scores
    (``landscape-bench -m <overrides> <key>=<v1>,<v2> ...``).

    ``axes`` maps a setting to its values: Python values (numbers, strings in override syntax,
    booleans, None, lists) or ``{"zoo.axes.width": [[16], [64]]}`` for list-valued settings. A
    ``study=...`` in ``overrides`` adds the study's axes; an axis of the same name replaces the
    study's. Jobs run in the order of Hydra's basic sweeper (the last axis varies fastest), each
    composed and validated before the first starts. ``overrides``, ``descriptors``,
    ``config_dir`` and ``home`` are those of :func:`evaluate`, for every job.

    The table is gathered as a multirun's ``GatherLeaderboard`` gathers it (each job's rows, and a
    ``settings`` column naming what distinguishes its job). ``write_leaderboard`` (True or a folder,
    as for :func:`evaluate`) keeps the jobs' tables in the sweep's folder (``hydra.sweep.dir``, under
    ``paths.home/multirun/``) and writes the sweep's leaderboard from them, as
    ``landscape-bench-gather`` would. Returns a :class:`SweepResult`.
    """
    conf = _config_dir(config_dir)
    base = [*overrides, *_locations(home, write_leaderboard)]
    axis_overrides = [_axis(key, values) for key, values in axes.items()]
    passed = _passed(descriptors)
    writing = write_leaderboard is not False
    with _registered(passed):
        master = _compose(base, conf, passed)
        arguments = [*(f"{k}={v}" for k, v in master.sweep_params.items()), *master.task, *axis_overrides]
        jobs = _jobs(arguments)
        composed = [_compose([*job, *master.hydra], conf, passed) for job in jobs]
        for c in composed:  # every job's settings checked before the first job's work
            load_plugins(c.plain.get("plugins") or [])
            pipeline.validate(c.plain)
        folder = _fresh(Path(master.sweep_dir)) if writing else None
        with contextlib.ExitStack() as stack:
            tables = folder if folder is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
            runs = []
            for i, (job, c) in enumerate(zip(jobs, composed, strict=True)):
                run = pipeline.run(c.plain)
                result = _result(c, [*job, *master.hydra], run)
                runs.append(result)
                write_job_tables(run, tables / str(i), run.scores_frame(), result.pairwise() if writing else None)
                (tables / str(i) / ".hydra").mkdir()  # the job's overrides, where Hydra keeps them
                OmegaConf.save(OmegaConf.create(list(job)), tables / str(i) / ".hydra" / "overrides.yaml")
            scores = sort_rows(gather_sweep(tables))
            univariate = (
                gather_sweep(tables, "univariate.csv", ["target", "feature"])
                if runs[0].univariate is not None
                else None
            )
            gathered = None
            if folder is not None:
                call = _call(
                    "sweep",
                    dict(axes),
                    list(overrides),
                    descriptors=passed,
                    home=home,
                    write_leaderboard=write_leaderboard,
                )
                gathered = _write_sweep_leaderboard(master, folder, [*master.task, *axis_overrides], call)
    return SweepResult(scores, univariate, [tuple(j) for j in jobs], runs, folder, gathered)


def _axis(key: str, values: Iterable[Any]) -> str:
    """One axis as a sweep override, ``key=v1,v2``."""
    if isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable):
        raise ConfigError(f"sweep axis {key!r}: give a list of values, e.g. {{{key!r}: [a, b]}}; got {values!r}.")
    values = list(values)
    if not values:
        raise ConfigError(f"sweep axis {key!r} has no values; give at least one.")
    return f"{key}={','.join(_value(v) for v in values)}"


def _value(value: Any) -> str:
    """A Python value in Hydra's override syntax (a string is taken as written there)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{k}:{_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        return "[" + ",".join(_value(v) for v in value) + "]"
    raise ConfigError(f"sweep value {value!r} is not a number, string, boolean, None, list or dict.")


def _jobs(arguments: Sequence[str]) -> list[list[str]]:
    """The jobs of a sweep, as Hydra's basic sweeper expands ``arguments``: one ``key=value`` per
    key (the last value given for a key, at the key's first position), the cartesian product of
    the swept keys' values."""
    per_key: dict[str, list[str]] = {}
    try:
        parsed = OverridesParser.create().parse_overrides(list(arguments))
    except HydraException as exc:
        raise ConfigError("\n".join([str(exc).strip(), *malformed_overrides(list(arguments))])) from None
    for o in parsed:
        key = o.get_key_element()
        if not o.is_sweep_override():
            per_key[key] = [f"{key}={o.get_value_element_as_str()}"]
        elif o.is_discrete_sweep():
            per_key[key] = [f"{key}={v}" for v in o.sweep_string_iterator()]
        else:
            raise ConfigError(
                f"{o.input_line}: only lists of values (a,b,c or range()) sweep, as with Hydra's basic sweeper."
            )
    return [list(job) for job in itertools.product(*per_key.values())]


def _fresh(path: Path) -> Path:
    """``path``, or ``path_2``, ``path_3``, ... when a sweep started in the same second holds it."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.name}_{n}")
    return candidate


def _write_sweep_leaderboard(master: _Composed, folder: Path, task: list[str], call: str) -> Gathered:
    """``multirun.yaml`` in ``folder`` (the sweep's config, as Hydra saves it) and the leaderboard
    gathered from the jobs' tables there."""
    full = copy.deepcopy(master.full)
    with read_write(full), open_dict(full):
        full.hydra.overrides.task = task
        full.hydra.sweep.dir = str(folder)
    OmegaConf.save(full, folder / "multirun.yaml")
    return gather_leaderboard(folder, full, gathered_by=call)


# ----------------------------------------------------------------------------- writing (shared with the CLI)


def write_job_tables(
    result: RunResult, directory: str | os.PathLike[str], scores: pd.DataFrame, pairwise: pd.DataFrame | None
) -> None:
    """A job's tables in its folder, as each run of the command line writes them into its output
    folder and a sweep's gathering reads them: ``scores.csv`` (``scores``: the unsorted
    :meth:`~benchmark.stage.RunResult.scores_frame`), ``pairwise.csv`` (when given),
    ``univariate.csv`` (when scored), ``features.csv``, ``timings.json`` (the seconds this run spent
    per stage) and ``compute_times.json`` (per stage, each artifact's key and its compute seconds as
    first measured, null where not recorded: a sweep's gathering counts an artifact several jobs
    share once)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    scores.to_csv(out / "scores.csv", index=False, float_format="%.17g")
    if pairwise is not None:
        pairwise.to_csv(out / "pairwise.csv", index=False, float_format="%.17g")
    if result.univariate is not None:
        result.univariate.to_csv(out / "univariate.csv", index=False, float_format="%.17g")
    result.features.to_csv(out / "features.csv", index_label="model_id", float_format="%.17g")
    (out / "timings.json").write_text(json.dumps(result.timings))
    (out / "compute_times.json").write_text(json.dumps(result.compute_seconds))


def write_run_leaderboard(
    result: RunResult,
    plain: Mapping[str, Any],
    cfg: DictConfig,
    overrides: Sequence[str],
    command: str,
    scores: pd.DataFrame | None = None,
    pairwise: pd.DataFrame | None = None,
    extra: Mapping[str, str] | None = None,
) -> LeaderboardFiles:
    """Write a single run's leaderboard into ``report.dir``: ``<report.name>.md`` and ``.csv``,
    the univariate view, the pairwise comparisons, the model table, the zoo summary and the plots,
    with provenance (``cfg``: the config composed, without the machine's folders; ``overrides``;
    ``command``: what produced it; ``extra``: more provenance rows). ``scores`` and ``pairwise``
    are the run's frames when computed already."""
    frame = result.scores_frame() if scores is None else scores
    pairwise = result.pairwise_frame() if pairwise is None else pairwise
    masked = {
        "landscape nodes masked": f"{result.landscape_masked[0]} of {result.landscape_masked[1]}",
        "device": device.describe(device.of(plain)),
    }
    prov = provenance(
        config_yaml(cfg), list(overrides), result.timings, {**masked, **(extra or {})}, result.compute_seconds
    )
    directory, name = Path(plain["report"]["dir"]), plain["report"]["name"]
    md, csv_path = write_leaderboard(frame, directory, name, prov, command)
    uni_md, uni_csv = write_univariate(result.univariate, directory, name, prov, command)
    pairwise_csv = write_pairwise(pairwise, directory, name)
    targets = plain["evaluation"]["targets"]
    models_csv = directory / f"{name}.models.csv"
    model_table(result.models, targets).to_csv(models_csv, index=False, float_format="%.17g", lineterminator="\n")
    zoo_md = directory / f"{name}.zoo.md"
    order = list(plain["zoo"].get("axes") or {})
    zoo_md.write_text(
        summary_markdown(plain["zoo"]["name"], result.models, targets, result.train_seconds, command, order)
    )
    zoo_png = plot_zoo(result.models, targets, zoo_md.with_suffix(".png"), f"zoo {plain['zoo']['name']}", order)
    plots = write_run_plots(frame, result.features, result.models, targets, result.landscapes, directory, name)
    return LeaderboardFiles(md, csv_path, uni_md, uni_csv, pairwise_csv, models_csv, zoo_md, zoo_png, tuple(plots))
