"""The embedded suite: the experiments that ``make leaderboards`` and the studies run, each declared once.

An experiment joins the suite with a ``suite:`` block in its own ``conf/experiment/<name>.yaml``::

    suite:
      order: 1                       # position in the suite: make leaderboards, docs/zoos.md, overall.md
      work_rank: 5                   # 1 = the most work from an empty store; parallel runs start there
      target: test_accuracy          # the headline target (reproduction study); one of the zoo's targets
      transfer: true                 # joins the leave-one-zoo-out transfer study (leaderboards/transfer.md)
      stability_steps: [21, 41, 81]  # resolutions of the reproduction's stability answer; the middle one
                                     # is the experiment's own landscape.steps
      description: MLPs on sklearn digits ...   # its one line in docs/zoos.md

An experiment whose zoo is a feature table (``source: table`` in its zoo YAML, e.g.
``model_diagnosis``) has no landscapes: it declares ``stability_steps: []`` and ``transfer: false``,
joins ``make leaderboards`` and docs/zoos.md, and is left out of what needs landscapes or the
descriptors (the studies, ``study=compare_descriptors`` and the overall ranking:
:func:`landscape_entries`).

This module reads those blocks with ``yaml.safe_load`` (no Hydra composition, no torch), checks
every field (one :class:`SuiteError` naming each file, field, bad value and fix) and returns them
as :class:`SuiteEntry` records in suite order. Everything that lists the suite reads it here: the
Makefile through ``landscape-bench-suite``, the studies, docs/zoos.md, and the ``compare_descriptors``
study through the ``${suite:...}`` resolver (see :func:`resolve_suite`).

    landscape-bench-suite                 # the suite, one experiment per line
    landscape-bench-suite --transfer      # the transfer study's zoos
    landscape-bench-suite --landscapes    # the experiments with landscapes (no feature tables)
    landscape-bench-suite --details       # every field, as a table
    landscape-bench-suite --conf DIR      # the suite of another conf/ folder

Experiment files are ``# @package _global_``, so the block is also a top-level ``suite`` key of a
composed config; the pipeline reads nothing from it and no store key includes it (keys are built
from the zoo, dataset, landscape, curvature, descriptor and protocol nodes).
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import OmegaConf

PROG = "landscape-bench-suite"
RESOLVER = "suite"

# field -> (what it must be, example) for the error template; every field is required
FIELDS: dict[str, tuple[str, str]] = {
    "order": ("an integer >= 1, its position in the suite, unique", "order: 6"),
    "work_rank": ("an integer >= 1, unique; 1 = the most work from an empty store", "work_rank: 6"),
    "target": ("one of the zoo's targets (conf/zoo/<zoo>.yaml: targets)", "target: test_accuracy"),
    "transfer": ("true or false: whether it joins the leave-one-zoo-out transfer study", "transfer: false"),
    "stability_steps": (
        "two or more distinct odd integers >= 3 whose middle one is the experiment's own landscape.steps "
        "([] for a feature table)",
        "stability_steps: [21, 41, 81]",
    ),
    "description": ("one line of text for docs/zoos.md", "description: MLPs on digits"),
}


class SuiteError(ValueError):
    """A ``suite:`` block that is missing a field or holds a bad value; the message names each."""


@dataclass(frozen=True)
class SuiteEntry:
    """One experiment of the suite, as declared in its YAML (``zoo`` and ``path`` are derived)."""

    name: str  # the experiment: file stem of conf/experiment/<name>.yaml
    order: int
    work_rank: int
    target: str
    transfer: bool
    stability_steps: tuple[int, ...]
    description: str
    zoo: str  # the zoo the experiment selects (conf/zoo/<zoo>.yaml)
    path: Path
    table: bool = False  # its zoo is a feature table (source: table): no landscapes


def default_conf() -> Path:
    """``conf/`` of the source checkout (editable install) or the copy inside the wheel (as
    ``benchmark.cli.conf_dir``, without importing the pipeline)."""
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "conf", here / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise FileNotFoundError(f"no conf/config.yaml next to {here}; reinstall landscape-bench.")


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise SuiteError(f"{path}: not valid YAML ({exc}); fix the file.") from None
    if not isinstance(data, dict):
        raise SuiteError(f"{path}: holds {type(data).__name__}, not a mapping of settings; fix the file.")
    return data


def _default_option(defaults: Any, group: str) -> str | None:
    """The option of ``group`` a defaults list picks (``group: x`` or ``override /group: x``)."""
    for item in defaults or []:
        if isinstance(item, dict):
            for key, value in item.items():
                if str(key).removeprefix("override ").lstrip("/") == group:
                    return None if value is None else str(value)
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _field_problems(block: Mapping[str, Any], zoo: Mapping[str, Any], own_steps: Any) -> list[tuple[str, str]]:
    """``(field, problem)`` of every bad or missing field of one block."""
    problems: list[tuple[str, str]] = []
    for key in block:
        if key not in FIELDS:
            close = difflib.get_close_matches(str(key), FIELDS, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            problems.append((str(key), f"is not a suite field; {hint}the fields are {', '.join(FIELDS)}"))
    for key, (expected, example) in FIELDS.items():
        if key not in block:
            problems.append((key, f"is missing; add it ({expected}), e.g. `{example}`"))
    value = block.get("order")
    if "order" in block and not (_is_int(value) and value >= 1):
        problems.append(("order", f"={value!r} is not {FIELDS['order'][0]}"))
    value = block.get("work_rank")
    if "work_rank" in block and not (_is_int(value) and value >= 1):
        problems.append(("work_rank", f"={value!r} is not {FIELDS['work_rank'][0]}"))
    value = block.get("target")
    targets = list(zoo.get("targets") or [])
    if "target" in block and value not in targets:
        problems.append(("target", f"={value!r} is not a target of zoo {zoo.get('name')!r}; use one of {targets}"))
    value = block.get("transfer")
    if "transfer" in block and not isinstance(value, bool):
        problems.append(("transfer", f"={value!r} is not true or false"))
    value = block.get("stability_steps")
    table = zoo.get("source") == "table"
    if table:
        if "stability_steps" in block and value != []:
            problems.append(
                (
                    "stability_steps",
                    f"={value!r}, but zoo {zoo.get('name')!r} is a feature table, with no landscapes "
                    "to resample; give stability_steps: []",
                )
            )
        if block.get("transfer") is True:
            problems.append(
                (
                    "transfer",
                    f"=true, but zoo {zoo.get('name')!r} is a feature table, whose feature sets are not the "
                    "descriptors the transfer study refits; give transfer: false",
                )
            )
    elif "stability_steps" in block:
        ok = (
            isinstance(value, list)
            and len(value) >= 2
            and all(_is_int(s) and s >= 3 and s % 2 == 1 for s in value)
            and len(set(value)) == len(value)
        )
        if not ok:
            problems.append(("stability_steps", f"={value!r} is not {FIELDS['stability_steps'][0]}"))
        elif sorted(value)[len(value) // 2] != own_steps:
            middle = sorted(value)[len(value) // 2]
            problems.append(
                (
                    "stability_steps",
                    f"={value!r} has the middle resolution {middle}, but the experiment's own landscape.steps is "
                    f"{own_steps!r}; list resolutions around {own_steps!r}, with {own_steps!r} in the middle",
                )
            )
    value = block.get("description")
    if "description" in block and not (isinstance(value, str) and value.strip() and "\n" not in value.strip()):
        problems.append(("description", f"={value!r} is not {FIELDS['description'][0]}"))
    return problems


def _entry(path: Path, data: Mapping[str, Any], conf: Path, root: Mapping[str, Any]) -> SuiteEntry | list[str]:
    """The record of one experiment's block, or the messages of its problems."""
    block = data["suite"]
    where = f"{path}: suite"
    if not isinstance(block, dict):
        return [f"{where} is {block!r}, not a mapping of fields; give {', '.join(FIELDS)} (see benchmark/suite.py)."]
    defaults = data.get("defaults")
    zoo_option = _default_option(defaults, "zoo") or _default_option(root.get("defaults"), "zoo")
    zoo_path = conf / "zoo" / f"{zoo_option}.yaml"
    if zoo_option is None or not zoo_path.is_file():
        return [f"{path}: selects no zoo with a YAML in {conf / 'zoo'} (zoo={zoo_option!r}); pick an existing zoo."]
    zoo = _read(zoo_path)
    landscape_option = _default_option(defaults, "landscape") or _default_option(root.get("defaults"), "landscape")
    landscape_path = conf / "landscape" / f"{landscape_option}.yaml"
    own_steps = (_read(landscape_path) if landscape_path.is_file() else {}).get("steps")
    own_steps = (data.get("landscape") or {}).get("steps", own_steps)
    problems = _field_problems(block, zoo, own_steps)
    if problems:
        return [f"{where}.{key}{'' if problem.startswith('=') else ' '}{problem}." for key, problem in problems]
    return SuiteEntry(
        name=path.stem,
        order=block["order"],
        work_rank=block["work_rank"],
        target=block["target"],
        transfer=block["transfer"],
        stability_steps=tuple(block["stability_steps"]),
        description=block["description"].strip(),
        zoo=str(zoo.get("name", zoo_option)),
        path=path,
        table=zoo.get("source") == "table",
    )


def load_suite(conf: str | Path | None = None) -> list[SuiteEntry]:
    """Every experiment of ``conf/experiment/`` with a ``suite:`` block, in suite order (``order``).

    Raises :class:`SuiteError` listing every problem of every block at once: a missing or unknown
    field, a bad value, two experiments with one ``order`` or one ``work_rank``."""
    conf = Path(conf) if conf is not None else default_conf()
    if not (conf / "config.yaml").is_file():
        raise SuiteError(f"{conf} has no config.yaml; give the conf/ folder (--conf DIR).")
    root = _read(conf / "config.yaml")
    entries, problems = [], []
    for path in sorted((conf / "experiment").glob("*.yaml")):
        data = _read(path)
        if "suite" not in data:
            continue
        result = _entry(path, data, conf, root)
        if isinstance(result, list):
            problems += result
        else:
            entries.append(result)
    for field in ("order", "work_rank"):
        seen: dict[int, SuiteEntry] = {}
        for e in entries:
            value = getattr(e, field)
            if value in seen:
                problems.append(
                    f"{e.path}: suite.{field}={value} is also the {field} of {seen[value].name} "
                    f"({seen[value].path}); give each experiment its own {field}."
                )
            seen.setdefault(value, e)
    if problems:
        raise SuiteError("the suite declared in conf/experiment/ has problems:\n  - " + "\n  - ".join(problems))
    if not entries:
        raise SuiteError(
            f"no experiment in {conf / 'experiment'} has a suite: block; add one (see benchmark/suite.py)."
        )
    return sorted(entries, key=lambda e: e.order)


def heaviest_first(entries: Sequence[SuiteEntry]) -> list[SuiteEntry]:
    """``entries`` with the most work first (``work_rank`` 1 first): runs side by side then finish close together."""
    return sorted(entries, key=lambda e: e.work_rank)


def transfer_entries(entries: Sequence[SuiteEntry]) -> list[SuiteEntry]:
    """The entries that join the leave-one-zoo-out transfer study, in suite order."""
    return [e for e in entries if e.transfer]


def landscape_entries(entries: Sequence[SuiteEntry]) -> list[SuiteEntry]:
    """The entries whose zoo has models to probe (not a feature table), in the order given: what the
    studies, the descriptor comparison and the overall ranking of descriptors take."""
    return [e for e in entries if not e.table]


SELECTIONS = {
    "names": lambda entries: list(entries),
    "heaviest_first": heaviest_first,
    "transfer": transfer_entries,
    "landscapes": lambda entries: heaviest_first(landscape_entries(entries)),
}


def _hydra_conf(root: Any) -> Path | None:
    """The primary config folder of the Hydra config ``root`` (``hydra.runtime.config_sources``)."""
    sources = OmegaConf.select(root, "hydra.runtime.config_sources", default=None) if root is not None else None
    for source in sources or []:
        if source.get("provider") == "main" and source.get("schema") == "file":
            return Path(source["path"])
    return None


def resolve_suite(selection: str, *, _root_: Any = None) -> str:
    """The ``${suite:<selection>}`` resolver: the suite's experiment names joined by commas, a
    Hydra sweep value (``experiment: ${suite:heaviest_first}``). ``selection`` is ``names`` (suite
    order), ``heaviest_first``, ``transfer`` or ``landscapes`` (no feature tables, most work
    first). The suite is read from the conf/ folder Hydra composes from (its primary config
    source), else from :func:`default_conf`."""
    if selection not in SELECTIONS:
        raise SuiteError(f"${{{RESOLVER}:{selection}}} is unknown; use one of {', '.join(SELECTIONS)}.")
    entries = load_suite(_hydra_conf(_root_))
    return ",".join(e.name for e in SELECTIONS[selection](entries))


if not OmegaConf.has_resolver(RESOLVER):
    OmegaConf.register_new_resolver(RESOLVER, resolve_suite)


class SuiteResolver(Callback):
    """A Hydra callback that does nothing: naming it under ``hydra.callbacks`` makes Hydra import
    this module, which registers the ``${suite:...}`` resolver, before the sweeper reads its
    params (Hydra instantiates callbacks first)."""


def details(entries: Sequence[SuiteEntry]) -> str:
    """Every field of every entry, as a Markdown table."""
    lines = [
        "| order | experiment | zoo | target | transfer | stability steps | work rank | description |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        steps = "/".join(map(str, e.stability_steps)) or "—"
        lines.append(
            f"| {e.order} | {e.name} | {e.zoo} | {e.target} | {'yes' if e.transfer else 'no'} | {steps} | "
            f"{e.work_rank} | {e.description} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog=PROG, description="The embedded suite (conf/experiment/*.yaml with a suite: block), one name per line."
    )
    parser.add_argument("--conf", type=Path, default=None, help="the conf/ folder (default: the installed one)")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--transfer", action="store_true", help="only the transfer study's experiments")
    which.add_argument("--heaviest-first", action="store_true", help="the most work first (work_rank)")
    which.add_argument(
        "--landscapes", action="store_true", help="only the experiments with landscapes (no feature tables), in order"
    )
    parser.add_argument("--details", action="store_true", help="every field, as a Markdown table")
    args = parser.parse_args(argv)
    try:
        entries = load_suite(args.conf)
    except SuiteError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    selection = "transfer" if args.transfer else "heaviest_first" if args.heaviest_first else "names"
    chosen = landscape_entries(entries) if args.landscapes else SELECTIONS[selection](entries)
    print(details(chosen) if args.details else "\n".join(e.name for e in chosen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
