"""What a stage of the pipeline is: its declaration (:class:`Stage`), the state a run or a dry
run carries from one stage to the next (:class:`State`), and a dry run's row (:class:`PlanRow`).

The stages themselves are declared, in order, in :data:`benchmark.pipeline.STAGES`.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from benchmark.data import load_dataset
from benchmark.descriptors import Descriptor
from benchmark.evaluation.comparison import pairwise_comparisons
from benchmark.records import Curvature, Landscape, ModelRecord, ScoreRow
from benchmark.store import ArtifactStore, ComputeTime

log = logging.getLogger("benchmark")

PROGRESS_SECONDS = 30.0
"""How often a stage logs its progress when the output is not a terminal (CI, SLURM, a redirected log)."""


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """Progress of a stage's items: a tqdm bar on a terminal; elsewhere a log line every ``every``
    seconds (done, total, elapsed, time left at the pace so far), written from a timer thread so that
    a slow item (one long training run) still shows the stage is alive. Use as a context manager and
    call :meth:`update` once per finished item; :meth:`within` reports progress inside the current
    item (the nodes of one grid), as a second bar on a terminal and in the log line elsewhere. In a
    run split over processes sharing one store, the items another process is computing count as
    passed, are named in the line, and shorten the estimate by this process's share of the work.
    Off a terminal, a stage that ends logs one more line (:meth:`summary`), so that a short stage,
    over before its first interval, still shows in the log when it ended."""

    def __init__(self, total: int, desc: str, unit: str = "model", every: float = PROGRESS_SECONDS, stream=None):
        self.total, self.desc, self.unit, self.every = total, desc, unit, every
        self.done = self.computed = 0
        self.busy = 0  # items another process is computing, not yet loaded here
        self.elsewhere = 0  # items found busy since the stage began
        self.theirs = 0  # items another process computed, loaded here once it stored them
        self._start = time.monotonic()
        self._stop = threading.Event()
        terminal = (stream or sys.stderr).isatty()
        self._bar = tqdm(total=total, desc=desc, unit=unit, leave=False, disable=not terminal, dynamic_ncols=True)
        self._timer = None if terminal or total == 0 else threading.Thread(target=self._beat, daemon=True)
        self._terminal = terminal
        self._part: list[Any] | None = None  # [done, total, unit, tqdm bar] inside the current item

    def line(self) -> str:
        """``"<desc>: 3/40 models, 1m05s elapsed, about 13m20s left"`` (the estimate from the items
        computed so far, none before the first). With other processes on the same store:
        ``"<desc>: 30/40 models (14 left to other processes), 5m10s elapsed, about 2m30s left"``, the
        estimate scaled by this process's share of the items computed so far, and at the end
        ``"..., waiting for 2 models of other processes"``."""
        elapsed = time.monotonic() - self._start
        passed = self.done + self.busy
        pace = elapsed / self.computed if self.computed else None  # items loaded from the store take no time
        share = self.computed / (self.computed + self.elsewhere) if self.computed else 1.0
        if self.busy and passed == self.total:
            left = f", waiting for {self.busy} {self.unit}s of other processes"
        else:
            left = f", about {_duration(pace * (self.total - passed) * share)} left" if pace else ""
        part = self._part
        inside = f" ({part[0]:,}/{part[1]:,} {part[2]}s of the current {self.unit})" if part else ""
        others = f" ({self.elsewhere} left to other processes)" if self.elsewhere else ""
        return f"{self.desc}: {passed}/{self.total} {self.unit}s{inside}{others}, {_duration(elapsed)} elapsed{left}"

    def summary(self) -> str:
        """``"<desc>: 40/40 models done in 5m10s (20 computed here, 18 by other processes, 2 from the
        store)"``: the line a finished stage ends with, the parts that are not zero."""
        loaded = self.done - self.computed - self.theirs
        parts = [(self.computed, "computed here"), (self.theirs, "by other processes"), (loaded, "from the store")]
        origin = ", ".join(f"{n} {where}" for n, where in parts if n)
        elapsed = _duration(time.monotonic() - self._start)
        return f"{self.desc}: {self.done}/{self.total} {self.unit}s done in {elapsed}" + (
            f" ({origin})" if origin else ""
        )

    def within(self, total: int, unit: str = "node") -> Callable[[int], None]:
        """A callback for the progress inside the item being computed: ``tick(n)`` after n of its
        ``total`` parts (e.g. grid nodes); the next :meth:`update` ends it."""
        self._close_part()
        desc = f"  current {self.unit}"
        bar = tqdm(total=total, desc=desc, unit=unit, leave=False, disable=not self._terminal, position=1)
        part = self._part = [0, total, unit, bar]

        def tick(n: int) -> None:
            part[0] += n
            bar.update(n)

        return tick

    def _close_part(self) -> None:
        if self._part is not None:
            self._part[3].close()
            self._part = None

    def _beat(self) -> None:
        while not self._stop.wait(self.every):
            log.info("%s", self.line())

    def update(self, n: int = 1, loaded: bool = False, busy: bool = False, waited: bool = False) -> None:
        """``n`` more items done; ``loaded``: read from the store, so they do not set the pace. Items
        another process is computing come first with ``busy`` (passed over for now), then, once
        loaded (or computed here after all), with ``waited``."""
        self._close_part()
        if busy:
            self.busy += n
            self.elsewhere += n
            self._bar.update(n)
            return
        if waited:
            self.busy -= n
            self.theirs += n if loaded else 0
        else:
            self._bar.update(n)
        self.done += n
        self.computed += 0 if loaded else n

    def __enter__(self) -> Progress:
        if self._timer is not None:
            self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._timer is not None:
            self._timer.join()
            if exc[0] is None and self.done == self.total:
                log.info("%s", self.summary())
        self._close_part()
        self._bar.close()


@dataclass
class RunResult:
    """Everything a run produced, in memory."""

    models: list[ModelRecord]
    features: pd.DataFrame  # index model_id; columns "<descriptor>__<feature>"
    scores: list[ScoreRow]
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds this run spent in it
    store_summary: str = ""
    store_counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # stage -> (loaded, computed)
    landscape_masked: tuple[int, int] = (0, 0)  # (masked nodes, total nodes) over the zoo
    train_seconds: float = math.nan  # wall time of training the zoo, as measured when it was computed
    landscapes: list[Landscape] = field(default_factory=list)  # per model, when a descriptor needed them
    curvatures: list[Curvature] = field(default_factory=list)  # per model, when a descriptor needed them
    univariate: pd.DataFrame | None = None  # each feature's own rank correlation per target (when scored)
    # stage (as in timings) -> {artifact key: its compute seconds as first measured, None: not recorded}
    compute_seconds: dict[str, dict[str, float | None]] = field(default_factory=dict)

    @property
    def compute_times(self) -> dict[str, ComputeTime]:
        """Per stage (as in :attr:`timings`), the compute time of the artifacts the run used, as first
        measured (the same on a rerun that loads them all), and how many have no recorded time.
        :attr:`timings` holds what this run spent in each stage, loading and computing."""
        return {stage: ComputeTime.of(seconds) for stage, seconds in self.compute_seconds.items()}

    def scores_frame(self) -> pd.DataFrame:
        return pd.DataFrame([s.flat() for s in self.scores])

    def pairwise_frame(self) -> pd.DataFrame:
        """Every two rows of each table compared on their bootstrap draws (``<name>.pairwise.csv``)."""
        return pairwise_comparisons(self.scores)


@dataclass
class State:
    """What a run (or its plan) knows so far: the config, the store, the descriptors, and per
    stage its keys and (when computed) its outputs, aligned with the models."""

    cfg: Mapping[str, Any]
    store: ArtifactStore
    descriptors: dict[str, Descriptor]
    keys: dict[str, list[str]] = field(default_factory=dict)  # "model" and each per-model stage
    outputs: dict[str, list[Any]] = field(default_factory=dict)
    models: list[ModelRecord] = field(default_factory=list)
    train_seconds: float = math.nan
    features: pd.DataFrame | None = None
    scores: list[ScoreRow] = field(default_factory=list)
    univariate: pd.DataFrame | None = None
    design: Any = None  # the evaluation design, once the models are known
    table: Any = None  # a feature-table zoo's Table (benchmark.zoo.table), once read
    _data: Any = None

    @property
    def data(self) -> Any:
        """The dataset, loaded on first use."""
        if self._data is None:
            ds = self.cfg["dataset"]
            self._data = load_dataset(ds["name"], **{k: v for k, v in ds.items() if k != "name"})
        return self._data

    @property
    def needed(self) -> set[str]:
        """The inputs the selected descriptors declare."""
        return {r for d in self.descriptors.values() for r in d.requires}

    def result(self, timings: dict[str, float], names: Mapping[str, str]) -> RunResult:
        """What the run produced, with the seconds each stage took in this run (``timings``) and
        the compute seconds of its artifacts as first measured, per stage named as in ``timings``
        (``names``: store stage -> that name, where they differ)."""
        assert self.features is not None
        landscapes = list(self.outputs.get("landscape", []))
        compute_seconds: dict[str, dict[str, float | None]] = {}
        for stage, st in self.store.stats.items():
            compute_seconds.setdefault(names.get(stage, stage), {}).update(st.seconds)
        return RunResult(
            self.models,
            self.features,
            self.scores,
            timings,
            self.store.summary(),
            {stage: (st.loaded, st.computed) for stage, st in self.store.stats.items()},
            (sum(ls.n_masked for ls in landscapes), sum(ls.values.size for ls in landscapes)),
            self.train_seconds,
            landscapes=landscapes,
            curvatures=list(self.outputs.get("curvature", [])),
            univariate=self.univariate,
            compute_seconds=compute_seconds,
        )

    def bar(self, total: int, desc: str, unit: str = "model") -> Progress:
        """The progress of ``total`` items of one stage, named ``"<zoo>: <desc>"`` (runs side by side
        share a log)."""
        return Progress(total, f"{self.cfg['zoo']['name']}: {desc}", unit)


@dataclass(frozen=True)
class PlanRow:
    """One stage of a dry run: artifacts needed, how many are stored (-1: unknown, the keys
    depend on values computed upstream), and each key with whether it is stored (None: unknown)."""

    stage: str
    needed: int
    stored: int
    keys: dict[str, bool] | None = None

    @classmethod
    def of(cls, store: ArtifactStore, stage: str, keys: Sequence[str]) -> PlanRow:
        stored = {k: store.exists(stage, k) for k in keys}
        return cls(stage, len(keys), sum(stored.values()), stored)


ROUGH_GUESS = "no time recorded in this store; guessed from experiment=tiny on 2 CPU cores, larger models take longer"
"""What a dry run says of an :class:`Estimate` from :attr:`Stage.rough_seconds`."""


@dataclass(frozen=True)
class Estimate:
    """A dry run's estimate of one stage's compute time: ``count`` artifacts to compute (at most
    that many when ``upper``: the scores' keys are not known before the features exist), ``each``
    the seconds of one, and ``basis``, where ``each`` comes from (``rough``: a guess, not a
    measurement of this store)."""

    stage: str
    count: int
    each: float
    basis: str
    upper: bool = False
    rough: bool = False

    @property
    def seconds(self) -> float:
        return self.count * self.each


@dataclass(frozen=True)
class Stage:
    """One stage: its store folder, the code version in its keys (``per task``/``per descriptor``
    where each task or descriptor declares its own), its record, when it runs (``needs``: an input a
    selected descriptor declares; ``scored``: only when the run scores), and its two steps.

    For a dry run's estimate when the store has recorded no time of the stage: ``rough_seconds``, a
    rough guess of one artifact's compute seconds (per unit of ``size`` when that is given; measured
    on the tiny experiment on 2 CPU cores), and ``size``, what one planned artifact's time scales
    with, in the units the store records (:attr:`benchmark.store.ComputeRecord.size`: a landscape's
    grid nodes)."""

    name: str
    version: str
    record: type
    plan: Callable[[State], list[PlanRow]]
    compute: Callable[[State], None]
    needs: str | None = None
    scored: bool = False
    rough_seconds: float = math.nan
    size: Callable[[State], int] | None = None

    def wanted(self, s: State, score: bool) -> bool:
        return (self.needs is None or self.needs in s.needed) and (score or not self.scored)
