"""A static leaderboard site, generated from a folder of leaderboard CSVs, that opens offline.

    landscape-bench-site leaderboards                          # leaderboards/site/index.html
    landscape-bench-site path/to/sweep/boards --out my_site    # a sweep's gathered leaderboards
    landscape-bench-site leaderboards --screenshots docs/figures   # and the README's screenshots

The folder is ``leaderboards/`` or any folder a sweep gathered its leaderboard into
(``landscape-bench-gather``, ``report.dir``): every ``<name>.csv`` with the leaderboard's key columns
is one leaderboard. Pages (docs/site.md):

- ``index.html``: the overall ranking (``overall.csv``, ``overall.md``, ``overall.cd.png``), the zoos
  (their sizes from ``<name>.models.csv`` and what each is for, from the suite's
  ``suite.description``) and the descriptors;
- ``zoo-<name>.html``: one per leaderboard, its rows as a table to sort by any score and filter
  by target, protocol, regressor and descriptor kind, 95% intervals drawn as bars, rows tied with
  the best marked, baselines and the noise ceiling shaded, then its figures (``<name>.*.png``);
- ``descriptor-<feature set>.html``: one feature set across every leaderboard, with its stability
  verdict (``stability.csv``) and its definition (docs/descriptors.md, ``conf/``).

Every page names where its numbers came from: the command, commit and versions recorded in the
leaderboard's Markdown. The tables are plain ``<table>`` elements, readable without JavaScript;
list.js (vendored in ``site_assets/`` with its licence) adds sorting and filtering. Nothing is
fetched from the network: scripts, styles and figures are copied into the folder (figures as
256-colour PNGs, :func:`compact_png`). The same input files give the same bytes: no timestamps,
sorted iteration.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import functools
import hashlib
import html
import io
import math
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from benchmark import __version__
from benchmark.evaluation.protocol import CEILING, CONSTANT, EXCURSION_LIMIT
from benchmark.records import COMPARED_METRICS, SCORE_METRICS
from benchmark.report.leaderboard import RANKED, _few_rank_folds, ceiling_line, with_score_columns
from benchmark.report.overall import OUT_NAME as OVERALL
from benchmark.report.overall import SCORES as RANKING_SCORES
from benchmark.report.overall import _num
from benchmark.report.stability import STABILITY_CSV, descriptor_flags
from benchmark.scores import get_score

PROG = "landscape-bench-site"
DEFAULT_OUT = "site"
ASSETS = Path(__file__).resolve().with_name("site_assets")
ASSET_FILES: tuple[str, ...] = (
    "LICENSE.list.js.txt",
    "LICENSE.string-natural-compare.txt",
    "list.min.js",
    "list.min.js.map",
    "site.css",
    "site.js",
)
"""The files of ``site_assets/`` copied into ``<site>/assets/`` (its README describes each)."""
REQUIRED = ("zoo", "target", "feature_set", "kind", "regressor")
"""Columns that make a CSV a leaderboard (with at least one ``<score>_value``)."""
FILTERS: tuple[tuple[str, str], ...] = (
    ("board", "leaderboard"),
    ("zoo", "zoo"),
    ("settings", "settings"),
    ("target", "target"),
    ("protocol", "protocol"),
    ("regressor", "regressor"),
    ("kind", "descriptor kind"),
)
"""Filter menus of a leaderboard table, in order: (row attribute, label). ``board``, ``zoo`` and
``settings`` get a menu only where they take more than one value."""
ALWAYS_FILTERED = ("target", "protocol", "regressor", "kind")
WIDE = "wide"
"""CSS class of the columns hidden at phone width (the row's name shows its target and regressor)."""
AXIS_FLOOR: dict[str, float] = {"r2": -1.0}
"""Lowest value of a score's bar axis: intervals reaching below it are cut there."""
SHADED = {"baseline": "baseline", "reference": "reference", CEILING: "ceiling"}
"""Row kinds drawn shaded (CSS class), as the Markdown marks them *(baseline)* and *(reference)*."""
FIGURES: dict[str, str] = {
    "scores": "Each feature set's Spearman and R2 with its 95% interval (its best regressor), per target.",
    "scatter": "Each descriptor's best single feature against each target, one point per model.",
    "gallery": "A few landscapes spanning the range of the target, each over its sublevel-set H0 persistence diagram.",
    "zoo": "Each target against each hyperparameter of the zoo.",
}
"""Caption of each kind of figure next to a leaderboard (``<name>.<kind>.png``), in page order."""
BUILTIN: dict[str, str] = {
    CONSTANT: "Predicts the training-fold mean of the target: the floor every feature set should beat "
    "(rank and pair scores are undefined; regret and precision@k are at chance).",
    "noise_ceiling": "Each model predicted by the mean of its configuration's other seeds: how far seed-to-seed "
    "noise lets any feature set go (docs/protocol.md).",
}
"""Definitions of the rows that are no descriptor."""
DESCRIPTORS_DOC = Path(__file__).resolve().parents[2] / "docs" / "descriptors.md"
"""The definitions of the topological descriptors (present in a source checkout)."""
GENERATOR = f"{PROG} (landscape-bench {__version__})"


class SiteError(ValueError):
    """An input folder or output folder the site cannot be made from or into; the message names it and the fix."""


# ----------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Provenance:
    """What a leaderboard's Markdown says about where it came from."""

    source: str  # the Markdown file's name
    command: str  # the "Generated by `...`" command, "" if none
    fields: tuple[tuple[str, str], ...]  # rows of its provenance table (Markdown values)
    config: str = ""  # its resolved config (YAML), "" if none

    def get(self, key: str) -> str:
        return next((value for k, value in self.fields if k == key), "")


@dataclass(frozen=True, eq=False)
class Board:
    """One leaderboard CSV and what lies next to it."""

    name: str  # the CSV's stem: the page zoo-<slug>.html
    frame: pd.DataFrame  # its rows, every score column present (NaN where absent)
    sha256: str
    provenance: Provenance | None  # from <name>.md
    figures: tuple[Path, ...]  # <name>.<kind>.png, in FIGURES order, then by name
    models: int | None  # from <name>.models.csv, else the largest n_models
    configurations: int | None  # groups of <name>.models.csv
    summary: str = ""  # the facts list of <name>.zoo.md (Markdown)

    @property
    def zoos(self) -> list[str]:
        return sorted(self.frame["zoo"].unique())

    @property
    def targets(self) -> list[str]:
        return sorted(self.frame["target"].unique())


@dataclass(frozen=True, eq=False)
class Overall:
    """The overall ranking of the folder (``landscape-bench-overall``), where there is one."""

    frame: pd.DataFrame | None  # overall.csv
    provenance: Provenance | None  # overall.md
    tests: str = ""  # overall.md from its Friedman section on (Markdown, links and images removed)
    sources: str = ""  # overall.md's table of the CSVs it ranked (Markdown)
    diagram: Path | None = None  # overall.cd.png


@dataclass(frozen=True, eq=False)
class Stability:
    """The descriptor stability study of the folder (``stability.csv``)."""

    table: pd.DataFrame  # one row per (descriptor, feature)
    flags: Mapping[str, str]  # descriptor -> stable / unstable
    experiment: str


@dataclass(frozen=True, eq=False)
class Inputs:
    """Everything the site is made of, read from one folder."""

    folder: Path
    boards: tuple[Board, ...]
    overall: Overall
    stability: Stability | None


@dataclass(frozen=True)
class Definition:
    """What a feature set is: a one-line summary, the long definition, its parts."""

    summary: str = ""  # Markdown, one line
    body: str = ""  # Markdown: its section of docs/descriptors.md
    members: tuple[str, ...] = ()  # the descriptors of a combination
    source: str = ""  # where the definition was read


@dataclass(frozen=True)
class Context:
    """What the site knows besides the folder: the suite and the definitions (from conf/ and docs/)."""

    descriptions: Mapping[str, str] = field(default_factory=dict)  # experiment -> suite.description (or its comment)
    order: tuple[str, ...] = ()  # the suite's experiments, in suite order
    definitions: Mapping[str, Definition] = field(default_factory=dict)


@dataclass(frozen=True)
class Written:
    """The site written by :func:`build_site`."""

    out: Path
    files: tuple[str, ...]  # paths relative to out, sorted
    size: int  # bytes, all files together
    boards: tuple[str, ...] = ()  # the leaderboards, in page order

    @property
    def index(self) -> Path:
        return self.out / "index.html"


@dataclass(frozen=True)
class Column:
    """One column of an interactive table; ``key`` is the rows' data attribute it sorts by."""

    key: str
    header: str  # HTML
    numeric: bool = False
    first: str = "asc"  # the order of the first click: the better direction of a score
    sortable: bool = True
    css: str = ""  # class of its header and cells ("wide": hidden at phone width)


@dataclass(frozen=True)
class Row:
    """One table row: its cells (HTML of whole <td>/<th> elements), data attributes and CSS class."""

    cells: tuple[str, ...]
    data: tuple[tuple[str, str], ...]
    css: str = ""


# ----------------------------------------------------------------------------- reading the folder


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def text_column(values: pd.Series) -> pd.Series:
    """A column as text, "" where empty (a CSV column of empty cells reads as NaN floats)."""
    return values.map(lambda v: "" if pd.isna(v) else str(v)).astype(object)


def csv_columns(path: Path) -> list[str]:
    """The header row of a CSV ([] for an empty file)."""
    with path.open(newline="", encoding="utf-8") as f:
        return next(csv.reader(f), [])


def is_leaderboard(columns: Sequence[str]) -> bool:
    """Whether a CSV with these columns is a leaderboard: :data:`REQUIRED` and a ``<score>_value``."""
    return all(c in columns for c in REQUIRED) and any(f"{m}_value" in columns for m in SCORE_METRICS)


def leaderboard_paths(folder: Path) -> list[Path]:
    """Every leaderboard CSV directly in ``folder`` (``<name>.csv``, no dot in the name), sorted by name."""
    if not folder.is_dir():
        raise SiteError(
            f"{folder} is not a folder; give the folder that holds the leaderboard CSVs (leaderboards/, "
            "or the report.dir a sweep gathered its leaderboard into)."
        )
    paths = [p for p in sorted(folder.glob("*.csv")) if "." not in p.stem and is_leaderboard(csv_columns(p))]
    if not paths:
        raise SiteError(
            f"no leaderboard CSV in {folder} (a <name>.csv with columns {', '.join(REQUIRED)} and <score>_value); "
            "run `landscape-bench` or gather a sweep with `landscape-bench-gather SWEEP_DIR` first, or give the "
            "folder that holds them."
        )
    return paths


def read_provenance(md: Path) -> Provenance | None:
    """The command, the provenance table and the resolved config of a generated Markdown page
    (a leaderboard's or overall.md); None when the file does not exist."""
    if not md.is_file():
        return None
    text = md.read_text(encoding="utf-8")
    command = re.search(r"^Generated by `([^`]*)`", text, flags=re.M)
    fields: list[tuple[str, str]] = []
    lines = text.splitlines()
    if "| provenance | |" in lines:
        for line in lines[lines.index("| provenance | |") + 2 :]:
            if not line.startswith("| "):
                break
            key, _, value = line[2:].rstrip(" |").partition(" | ")
            fields.append((key.strip(), value.strip()))
    config = re.search(r"<summary>resolved config</summary>\s*```yaml\n(.*?)```", text, flags=re.S)
    return Provenance(md.name, command.group(1) if command else "", tuple(fields), config.group(1) if config else "")


def _markdown_block(text: str, first_line: str) -> str:
    """The lines of ``text`` from the one starting with ``first_line`` to the next blank line."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(first_line)), None)
    if start is None:
        return ""
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return "\n".join(lines[start:end])


def figure_order(name: str, path: Path) -> tuple[int, str]:
    kind = path.name[len(name) + 1 : -len(".png")]
    return (list(FIGURES).index(kind) if kind in FIGURES else len(FIGURES), path.name)


def zoo_size(folder: Path, name: str, frame: pd.DataFrame) -> tuple[int | None, int | None]:
    """(models, configurations) of a leaderboard's zoo: from ``<name>.models.csv`` (its rows and
    groups), else the largest ``n_models`` of the leaderboard and no configurations."""
    models = folder / f"{name}.models.csv"
    if models.is_file():
        table = pd.read_csv(models, usecols=lambda c: c in ("model_id", "group"))
        return len(table), (int(table["group"].nunique()) if "group" in table else None)
    counts = pd.to_numeric(frame.get("n_models", pd.Series(dtype=float)), errors="coerce").dropna()
    return (int(counts.max()) if len(counts) else None), None


def read_board(path: Path) -> Board:
    """One leaderboard CSV with its Markdown's provenance, its figures and its zoo's size."""
    folder, name = path.parent, path.stem
    frame = pd.read_csv(path)
    for column in (*REQUIRED, "protocol", "settings"):
        frame[column] = text_column(frame[column]) if column in frame else ""
    frame = with_score_columns(frame)
    figures = sorted(folder.glob(f"{name}.*.png"), key=lambda p: figure_order(name, p))
    summary = ""
    zoo_md = folder / f"{name}.zoo.md"
    if zoo_md.is_file():
        summary = _markdown_block(zoo_md.read_text(encoding="utf-8"), "- ")
    models, configurations = zoo_size(folder, name, frame)
    return Board(
        name=name,
        frame=frame,
        sha256=_sha256(path),
        provenance=read_provenance(folder / f"{name}.md"),
        figures=tuple(figures),
        models=models,
        configurations=configurations,
        summary=summary,
    )


def read_overall(folder: Path) -> Overall:
    """``overall.csv``, ``overall.md`` and ``overall.cd.png`` of ``folder``, those that exist."""
    csv_path, md = folder / f"{OVERALL}.csv", folder / f"{OVERALL}.md"
    frame = None
    if csv_path.is_file():
        frame = pd.read_csv(csv_path)
        frame["settings"] = text_column(frame["settings"]) if "settings" in frame else ""
    tests = sources = ""
    if md.is_file():
        text = md.read_text(encoding="utf-8")
        sources = _markdown_block(text, "| leaderboard CSV |")
        start = text.find("\n## Friedman test")
        tests = _plain_markdown(text[start:]) if start >= 0 else ""
    diagram = folder / f"{OVERALL}.cd.png"
    return Overall(frame, read_provenance(md), tests, sources, diagram if diagram.is_file() else None)


def read_stability(folder: Path) -> Stability | None:
    """``stability.csv`` of ``folder`` with each descriptor's flag; None when absent."""
    path = folder / STABILITY_CSV
    if not path.is_file():
        return None
    table = pd.read_csv(path)
    flags = descriptor_flags(table)
    experiment = str(table["experiment"].iloc[0]) if "experiment" in table and len(table) else ""
    return Stability(table, dict(zip(flags["descriptor"], flags["flag"], strict=True)), experiment)


def read_inputs(folder: str | os.PathLike[str], order: Sequence[str] = ()) -> Inputs:
    """Every leaderboard of ``folder`` (suite experiments first, in ``order``, then by name), its
    overall ranking and its stability study."""
    folder = Path(folder)
    paths = leaderboard_paths(folder)
    rank = {name: i for i, name in enumerate(order)}
    paths.sort(key=lambda p: (rank.get(p.stem, len(rank)), p.stem))
    return Inputs(folder, tuple(read_board(p) for p in paths), read_overall(folder), read_stability(folder))


# ----------------------------------------------------------------------------- definitions (conf/, docs/)


def descriptor_sections(text: str) -> dict[str, tuple[str, str]]:
    """``{name: (tagline, body)}`` of every ``## `name`: tagline`` section of docs/descriptors.md."""
    out: dict[str, tuple[str, str]] = {}
    for part in re.split(r"^(?=## )", text, flags=re.M):
        head = re.match(r"## `([^`]+)`:?\s*([^\n]*)\n", part)
        if head:
            out[head.group(1)] = (head.group(2).strip(), part[head.end() :].strip())
    return out


def yaml_summary(path: Path) -> str:
    """The comment lines at the top of a descriptor's YAML (after ``# @package``), joined."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        if not line.startswith("# @package"):
            lines.append(line.lstrip("# ").strip())
    return " ".join(lines)


def _diagram_summary(spec: Mapping[str, Any]) -> str:
    settings = ", ".join(f"{k} {v}" for k, v in spec.items())
    return f"The landscapes' persistence diagrams as features, learned inside each fold ({settings})."


def load_definitions(conf: Path, doc: Path | None = DESCRIPTORS_DOC) -> dict[str, Definition]:
    """Every feature set's definition: its section of ``doc`` (docs/descriptors.md), the comment of
    ``conf/descriptors/<name>.yaml``, the combinations and diagram sets of ``conf/config.yaml``
    (``evaluation:``), and :data:`BUILTIN`."""
    sections = descriptor_sections(doc.read_text(encoding="utf-8")) if doc is not None and doc.is_file() else {}
    summaries = {p.stem: yaml_summary(p) for p in sorted((conf / "descriptors").glob("*.yaml"))}
    root = yaml.safe_load((conf / "config.yaml").read_text(encoding="utf-8")) or {}
    evaluation = root.get("evaluation") or {}
    combinations = {str(k): tuple(map(str, v)) for k, v in (evaluation.get("combinations") or {}).items()}
    diagram_sets = {str(k): v for k, v in (evaluation.get("diagram_sets") or {}).items()}
    names = sorted({*sections, *summaries, *combinations, *diagram_sets, *BUILTIN})
    return {n: _definition(n, sections, summaries, combinations, diagram_sets) for n in names}


def _definition(
    name: str,
    sections: Mapping[str, tuple[str, str]],
    summaries: Mapping[str, str],
    combinations: Mapping[str, tuple[str, ...]],
    diagram_sets: Mapping[str, Mapping[str, Any]],
) -> Definition:
    """One feature set's definition, from the first source that has it; the docs section as its body."""
    tagline, body = sections.get(name, ("", ""))
    summary, members, source = tagline, (), "docs/descriptors.md"
    if name in summaries:
        summary, source = summaries[name] or tagline, f"conf/descriptors/{name}.yaml"
    elif name in combinations:
        members = combinations[name]
        summary = "A combination: the features of " + ", ".join(f"`{m}`" for m in members) + ", fitted together."
        source = "conf/config.yaml, evaluation.combinations"
    elif name in diagram_sets:
        summary, source = _diagram_summary(diagram_sets[name]), "conf/config.yaml, evaluation.diagram_sets"
    elif name in BUILTIN:
        summary, source = BUILTIN[name], "the protocol (docs/protocol.md)"
    if body and not source.startswith("docs/"):
        source += "; docs/descriptors.md"
    return Definition(summary, body, members, source)


def load_context(conf: Path | None = None, doc: Path | None = DESCRIPTORS_DOC) -> Context:
    """The suite (descriptions and order) and the definitions, from ``conf`` (default: the
    installed conf/) and ``doc``. An experiment outside the suite is described by the comment at
    the top of its YAML. Raises :class:`benchmark.suite.SuiteError` for a broken suite."""
    from benchmark.suite import default_conf, load_suite

    conf = Path(conf) if conf is not None else default_conf()
    suite = load_suite(conf)
    others = {p.stem: yaml_summary(p) for p in sorted((conf / "experiment").glob("*.yaml"))}
    return Context(
        descriptions={**others, **{e.name: e.description for e in suite}},
        order=tuple(e.name for e in suite),
        definitions=load_definitions(conf, doc),
    )


# ----------------------------------------------------------------------------- small pure helpers


def slug(name: str) -> str:
    """A file-name-safe form of ``name``: itself when safe, else the safe characters and a short hash."""
    if re.fullmatch(r"[A-Za-z0-9_.-]+", name) and not name.startswith("."):
        return name
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "x"
    return f"{safe}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def zoo_page(board: str) -> str:
    return f"zoo-{slug(board)}.html"


def descriptor_page(feature_set: str) -> str:
    return f"descriptor-{slug(feature_set)}.html"


def _nan(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def number(x: Any) -> float:
    """``x`` as a float; NaN for anything that is not a number."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def data_value(x: Any) -> str:
    """A row attribute: a finite number at full precision (``repr``), "" for NaN, text as is."""
    if isinstance(x, (bool, int, float)) and not isinstance(x, str):
        v = float(x)
        return repr(v) if math.isfinite(v) else ""
    return "" if x is None else str(x)


def esc(text: Any) -> str:
    return html.escape(str(text), quote=True)


def inline(text: str) -> str:
    """A Markdown table value as HTML: escaped, with `code` spans kept."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", esc(text).replace("&#x27;", "'"))


def _plain_markdown(text: str) -> str:
    """Markdown with images removed and links reduced to their text: the site holds no other page."""
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)
    return re.sub(r"(?<!!)\[([^\]]+)\]\([^)]*\)", r"\1", text)


def markdown_html(text: str) -> str:
    """Markdown (docs, generated pages) as HTML: tables and fenced code; links reduced to text."""
    import markdown

    return markdown.markdown(_plain_markdown(text), extensions=["tables", "fenced_code"], output_format="html")


def compact_png(data: bytes) -> bytes:
    """A PNG as a 256-colour palette PNG (Pillow's fast octree, no dithering), drawn on white: the
    same figure to the eye at about a third of the bytes; ``data`` itself when that is not smaller.
    Deterministic: the same bytes in give the same bytes out."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    rgb = Image.alpha_composite(white, rgba).convert("RGB")
    palette = rgb.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    out = io.BytesIO()
    palette.save(out, format="PNG")
    return out.getvalue() if out.tell() < len(data) else data


_compact_once = functools.lru_cache(maxsize=64)(compact_png)
"""compact_png, each distinct figure once per process (a rebuild, the tests' second site)."""


def score_axes(frame: pd.DataFrame, scores: Sequence[str] = SCORE_METRICS) -> dict[str, tuple[float, float]]:
    """Each score's bar axis over ``frame``: from the lowest to the highest finite value or interval
    end (not below :data:`AXIS_FLOOR`); a score with no finite value has none."""
    axes: dict[str, tuple[float, float]] = {}
    for m in scores:
        values = pd.concat(
            [pd.to_numeric(frame[f"{m}_{s}"], errors="coerce") for s in ("value", "ci_low", "ci_high")]
        ).to_numpy(float)
        values = values[pd.notna(values) & (values != math.inf) & (values != -math.inf)]
        if not len(values):
            continue
        low, high = max(float(values.min()), AXIS_FLOOR.get(m, -math.inf)), float(values.max())
        if high <= low:
            low, high = low - 0.5, high + 0.5
        axes[m] = (low, high)
    return axes


def _percent(x: float, axis: tuple[float, float]) -> str:
    low, high = axis
    return f"{min(100.0, max(0.0, (x - low) / (high - low) * 100.0)):.1f}%"


def interval_bar(value: float, low: float, high: float, axis: tuple[float, float] | None) -> str:
    """The CSS bar of a score's 95% interval on its column's axis ("" without a value or axis)."""
    if axis is None or _nan(value) or not math.isfinite(value):
        return ""
    a = _percent(low if math.isfinite(low) else value, axis)
    b = _percent(high if math.isfinite(high) else value, axis)
    zero = _percent(0.0, axis) if axis[0] < 0.0 < axis[1] else "-5%"
    return f'<span class="ci" style="--a:{a};--b:{b};--p:{_percent(value, axis)};--z:{zero}"></span>'


def tie_mark(row: Mapping[str, Any], score: str) -> str:
    """★ for the best row of its table, ≈ for a row tied with it (``<score>_tied_with_best``)."""
    if score not in COMPARED_METRICS:
        return ""
    tied, p = number(row.get(f"{score}_tied_with_best")), number(row.get(f"{score}_p_vs_best"))
    if tied != 1.0:
        return ""
    if math.isnan(p):
        return '<span class="best" title="best row of its table (zoo, target, protocol)">★</span> '
    return (
        f'<span class="tied" title="tied with the best row: paired bootstrap p {p:.3f}, Holm-adjusted, '
        'not below 0.05">≈</span> '
    )


def score_cell(row: Mapping[str, Any], score: str, axis: tuple[float, float] | None) -> str:
    """One score of a row: tie mark, value, interval and its bar."""
    value, low, high = (number(row.get(f"{score}_{s}")) for s in ("value", "ci_low", "ci_high"))
    if math.isnan(value):
        return f'<td class="n s {score}">—</td>'
    few = "†" if score in RANKED and _few_rank_folds(row) else ""
    interval = f"<small>[{low:.3f}, {high:.3f}]</small>" if not (math.isnan(low) or math.isnan(high)) else ""
    bar = interval_bar(value, low, high, axis)
    return f'<td class="n s {score}">{tie_mark(row, score)}{value:.3f}{few}{interval}{bar}</td>'


def _flagged(excursion: Any) -> bool:
    return number(excursion) > EXCURSION_LIMIT


def distinct(values: Iterable[str]) -> list[str]:
    return sorted({str(v) for v in values})


# ----------------------------------------------------------------------------- tables


def table_html(
    table_id: str,
    caption: str,
    columns: Sequence[Column],
    rows: Sequence[Row],
    filters: Sequence[tuple[str, str, Sequence[str]]] = (),
) -> str:
    """An interactive table: a plain <table> (its rows in the order given), the filter menus
    (hidden until site.js shows them) and the row count, in one ``div.board`` list.js works on."""
    parts = [f'<div class="board" id="{esc(table_id)}">']
    if filters:
        parts.append('<div class="filters" hidden>')
        for key, label, options in filters:
            opts = "".join(f'<option value="{esc(o)}">{esc(o or "(none)")}</option>' for o in options)
            menu = f'<select data-filter="{esc(key)}"><option value="">all</option>{opts}</select>'
            parts.append(f"<label>{esc(label)} {menu}</label>")
        parts.append('<output data-count aria-live="polite"></output></div>')
    parts.append(f'<div class="scroll"><table><caption>{caption}</caption><thead><tr>')
    for c in columns:
        sort = f' data-sort="{esc(c.key)}" data-first="{c.first}"' + (" data-numeric" if c.numeric else "")
        parts.append(f'<th scope="col"{_class(c.css)}{sort if c.sortable else ""}>{c.header}</th>')
    parts.append('</tr></thead><tbody class="list">')
    for r in rows:
        data = "".join(f' data-{k}="{esc(v)}"' for k, v in r.data)
        parts.append(f"<tr{_class(r.css)}{data}>" + "".join(r.cells) + "</tr>")
    parts.append("</tbody></table></div></div>")
    return "\n".join(parts)


def score_columns() -> list[Column]:
    out = []
    for m in SCORE_METRICS:
        s = get_score(m)
        out.append(Column(m, esc(s.header), numeric=True, first="desc" if s.greater_is_better else "asc"))
    return out


def leaderboard_columns(frame: pd.DataFrame, across: bool) -> list[Column]:
    """The columns of a leaderboard table: the row's name first (its feature set; its leaderboard
    on a descriptor's page), then what tells rows apart, the scores, and the rest."""
    several_zoos = frame["zoo"].nunique() > 1
    settings = "settings" in frame and frame["settings"].astype(bool).any()
    columns = [Column("board", "leaderboard")] if across else [Column("feature_set", "feature set")]
    columns += [Column("zoo", "zoo")] if several_zoos or across else []
    columns += [Column("settings", "settings")] if settings else []
    columns += [Column("target", "target", css=WIDE), Column("regressor", "regressor", css=WIDE), *score_columns()]
    columns += [] if across else [Column("kind", "kind", css=WIDE)]
    columns += [Column("protocol", "protocol", css=WIDE), Column("n_models", "models", numeric=True)]
    return [*columns, Column("n_folds", "folds", numeric=True)]


def _count(x: Any) -> str:
    v = number(x)
    return "—" if math.isnan(v) else str(int(v)) if v == int(v) else str(v)


def leaderboard_cell(r: Mapping[str, Any], key: str, flags: Mapping[str, str], axes: Mapping[str, Any]) -> str:
    """The cell of column ``key`` of one leaderboard row (HTML of a whole <td> or <th>). The row's
    name also carries its target and regressor, shown at phone width in place of their columns."""
    if key in SCORE_METRICS:
        return score_cell(r, key, axes.get(key))
    narrow = f'<small class="narrow">{esc(r["target"])} · {esc(r["regressor"])}</small>'
    marks = ' <span class="warn">⚠ unstable</span>' if flags.get(r["feature_set"]) == "unstable" else ""
    marks += ' <span class="warn">⚠ extrapolates</span>' if _flagged(r.get("excursion")) else ""
    if key == "board":
        return f'<th scope="row"><a href="{zoo_page(r["board"])}">{esc(r["board"])}</a>{marks}{narrow}</th>'
    if key == "feature_set":
        tag = f' <span class="tag">({r["kind"]})</span>' if r["kind"] in SHADED else ""
        link = f'<a href="{descriptor_page(r["feature_set"])}">{esc(r["feature_set"])}</a>'
        return f'<th scope="row">{link}{tag}{marks}{narrow}</th>'
    if key in ("target", "regressor", "kind", "protocol"):
        return f'<td class="{WIDE}">{esc(r.get(key, ""))}</td>'
    if key == "settings":
        return f"<td><code>{esc(r['settings'])}</code></td>" if r["settings"] else "<td></td>"
    if key == "n_models":
        dropped = number(r.get("n_dropped"))
        extra = f" ({int(dropped)} dropped)" if dropped and not math.isnan(dropped) else ""
        return f'<td class="n">{_count(r.get("n_models"))}{extra}</td>'
    if key == "n_folds":
        return f'<td class="n">{_count(r.get("n_folds"))}</td>'
    return f"<td>{esc(r.get(key, ''))}</td>"


def leaderboard_table(
    table_id: str,
    caption: str,
    frame: pd.DataFrame,
    flags: Mapping[str, str],
    across: bool = False,
) -> str:
    """The rows of ``frame`` (leaderboard rows; with a ``board`` column when ``across``: one feature
    set across leaderboards) as an interactive table with filters and interval bars."""
    axes = score_axes(frame)
    columns = leaderboard_columns(frame, across)
    rows = []
    for r in frame.to_dict("records"):
        data = {c.key: data_value(r.get(f"{c.key}_value" if c.key in SCORE_METRICS else c.key)) for c in columns}
        data["kind"] = str(r["kind"])
        cells = tuple(leaderboard_cell(r, c.key, flags, axes) for c in columns)
        css = SHADED.get(r["kind"], "baseline" if r["feature_set"] == CONSTANT else "")
        rows.append(Row(cells, tuple(sorted(data.items())), css))
    menus = []
    for key, label in FILTERS:
        if key not in frame:
            continue
        options = distinct(frame[key])
        if key in ALWAYS_FILTERED or len(options) > 1:
            menus.append((key, label, options))
    return table_html(table_id, caption, columns, rows, menus)


def overall_table(frame: pd.DataFrame, score: str) -> str:
    """One score's overall ranking (rows of overall.csv) as an interactive table."""
    rows_frame = frame[frame["score"] == score]
    cells_of = [c[len("rank[") : -1] for c in frame.columns if c.startswith("rank[")]
    name, arrow = RANKING_SCORES[score][0], get_score(score).arrow
    columns = [
        Column("position", "#", numeric=True),
        Column("feature_set", "feature set"),
        Column("kind", "kind"),
        Column("n_cells", "cells ranked", numeric=True, first="desc"),
        Column("mean_rank", "mean rank ↓", numeric=True),
        Column("borda", "Borda ↑", numeric=True, first="desc"),
    ]
    columns += [Column(f"c{i}", esc(label), numeric=True) for i, label in enumerate(cells_of)]
    rows = []
    for r in rows_frame.to_dict("records"):
        fs, settings = str(r["feature_set"]), str(r.get("settings") or "")
        data = {c.key: data_value(r.get(c.key)) for c in columns[:6]}
        label = fs + (f" [{settings}]" if settings else "")
        tag = f' <span class="tag">({r["kind"]})</span>' if r["kind"] in SHADED else ""
        cells = [
            f'<td class="n">{esc(data_value(r["position"]).removesuffix(".0"))}</td>',
            f'<th scope="row"><a href="{descriptor_page(fs)}">{esc(label)}</a>{tag}</th>',
            f"<td>{esc(r['kind'])}</td>",
            f'<td class="n">{int(r["n_cells"])} of {int(r["n_cells_total"])}</td>',
            f'<td class="n">{_num(r["mean_rank"])}</td>',
            f'<td class="n">{_num(r["borda"])}</td>',
        ]
        for i, cell in enumerate(cells_of):
            rank, value, regressor = r[f"rank[{cell}]"], r[f"value[{cell}]"], r[f"regressor[{cell}]"]
            data[f"c{i}"] = data_value(number(rank))
            if _nan(number(rank)):
                cells.append('<td class="n">—</td>')
            else:
                cells.append(f'<td class="n">{_num(rank)}<small>{number(value):.3f}, {esc(regressor)}</small></td>')
        css = SHADED.get(str(r["kind"]), "")
        rows.append(Row(tuple(cells), tuple(sorted(data.items())), css))
    caption = f"By {esc(name)} {arrow}"
    filters = [("kind", "descriptor kind", distinct(rows_frame["kind"]))]
    return table_html(f"overall-{score}", caption, columns, rows, filters)


# ----------------------------------------------------------------------------- pages


@dataclass(frozen=True)
class Nav:
    """The site's navigation: the boards, in page order, and the folder's name."""

    boards: tuple[str, ...]
    folder: str


def page(title: str, body: str, nav: Nav, current: str, provenance: str) -> str:
    """A whole HTML page: header navigation, main content, provenance and the site's footer."""
    links = [("index.html", "overview"), *((zoo_page(b), b) for b in nav.boards)]
    mark = ' aria-current="page"'
    items = "".join(
        f'<li><a href="{href}"{mark if href == current else ""}>{esc(label)}</a></li>' for href, label in links
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="{esc(GENERATOR)}">
<title>{esc(title)} · landscape-bench</title>
<link rel="stylesheet" href="assets/site.css">
</head>
<body>
<header class="site"><nav aria-label="pages"><a class="brand" href="index.html">landscape-bench</a>
<ul>{items}</ul></nav></header>
<main id="main">
{body}
<section aria-labelledby="provenance"><h2 id="provenance">Provenance</h2>
{provenance}
</section>
</main>
<footer class="site"><p>Generated by <code>{PROG}</code> (landscape-bench {esc(__version__)}) from the files of
<code>{esc(nav.folder)}/</code>; do not edit by hand. Same files, same pages. Tables: sortable and filterable with
<a href="assets/LICENSE.list.js.txt">list.js 2.3.1</a> (MIT), readable without JavaScript.</p></footer>
<script src="assets/list.min.js"></script>
<script src="assets/site.js"></script>
</body>
</html>
"""


def provenance_html(prov: Provenance | None, what: str) -> str:
    """The provenance recorded in a generated Markdown page, as a facts table (and its config)."""
    if prov is None:
        return f"<p>No Markdown page next to {esc(what)}: its provenance is not known.</p>"
    parts = [f"<p>From <code>{esc(prov.source)}</code>"]
    parts[0] += f", generated by <code>{esc(prov.command)}</code>.</p>" if prov.command else ".</p>"
    if prov.fields:
        rows = "".join(f'<tr><th scope="row">{esc(k)}</th><td>{inline(v)}</td></tr>' for k, v in prov.fields)
        parts.append(f'<div class="scroll plain-table"><table class="facts">{rows}</table></div>')
    if prov.config:
        parts.append(f"<details><summary>resolved config</summary><pre>{esc(prov.config)}</pre></details>")
    return "\n".join(parts)


def legend() -> str:
    return (
        '<ul class="legend">'
        '<li><span class="swatch ci-sample" style="background:var(--bar)"></span>95% interval, '
        "the mark at the score (each column on its own axis; R2 cut at −1)</li>"
        '<li><span class="best">★</span> best row of its table (zoo, target, protocol)</li>'
        '<li><span class="tied">≈</span> tied with it (paired bootstrap, Holm, 0.05)</li>'
        '<li><span class="swatch" style="background:var(--baseline)"></span>baselines and constant</li>'
        '<li><span class="swatch" style="background:var(--reference)"></span>reference (hyperparameters)</li>'
        '<li><span class="swatch" style="background:var(--ceiling)"></span>noise ceiling</li>'
        "<li>† rank score defined in fewer than half of the folds</li>"
        f"<li>⚠ extrapolates: predictions leave the targets' range by more than {EXCURSION_LIMIT:g} ranges</li>"
        "</ul>"
    )


READING = (
    '<p class="note">Sort by any column (first click: the better direction); filter with the menus. Each score is '
    "computed on out-of-fold predictions, averaged over repeats, with its 95% interval; without sorting, the rows are "
    "in the CSV's order (by target, then R2). The leaderboard's Markdown has every column of the CSV; "
    "docs/protocol.md defines each score.</p>"
)


def figure_html(path: Path, name: str) -> str:
    kind = path.name[len(name) + 1 : -len(".png")]
    caption = FIGURES.get(kind, path.name)
    return (
        f'<figure><img src="figures/{esc(path.name)}" alt="{esc(name)}: {esc(kind)} figure" loading="lazy">'
        f"<figcaption>{esc(caption)} <code>{esc(path.name)}</code></figcaption></figure>"
    )


def _sizes(board: Board, noun: str = "") -> str:
    """``400 (200 configurations)``: the zoo's models (``noun`` after the count) and configurations."""
    models = "—" if board.models is None else f"{board.models:,}{noun}"
    return models + ("" if board.configurations is None else f" ({board.configurations:,} configurations)")


def render_board(board: Board, inputs: Inputs, context: Context, nav: Nav) -> str:
    """The page of one leaderboard: what the zoo is, its table, its figures, its provenance."""
    frame = board.frame
    flags = inputs.stability.flags if inputs.stability else {}
    body = [f"<h1>Leaderboard: {esc(board.name)}</h1>"]
    if board.name in context.descriptions:
        body.append(f'<p class="lead">{esc(context.descriptions[board.name])}</p>')
    facts = [
        f"zoo <b>{esc(', '.join(board.zoos))}</b>",
        esc(_sizes(board, " models")),
        f"targets {esc(', '.join(board.targets))}",
        f"{len(frame)} rows",
    ]
    body.append('<p class="facts-line">' + " · ".join(facts) + "</p>")
    if board.summary:
        body.append(
            f"<details><summary>the zoo ({esc(board.name)}.zoo.md)</summary>{markdown_html(board.summary)}</details>"
        )
    ceilings = []
    for (zoo, target, protocol), block in frame.groupby(["zoo", "target", "protocol"], sort=True):
        line = ceiling_line(block[block["kind"] == CEILING].reset_index(drop=True))
        ceilings.append(f"<li><b>{esc(zoo)}, {esc(target)}</b> ({esc(protocol)}): {esc(line)}</li>")
    caption = f"Every row of {esc(board.name)}.csv"
    body += ['<h2 id="table">Scores</h2>', leaderboard_table(f"board-{slug(board.name)}", caption, frame, flags)]
    body += [legend(), READING]
    body += ['<h3 id="ceiling">Noise ceiling</h3>', "<ul>" + "".join(ceilings) + "</ul>"]
    if board.figures:
        body.append('<h2 id="figures">Figures</h2>')
        body += [figure_html(p, board.name) for p in board.figures]
    inputs_line = f"<p>Leaderboard <code>{esc(board.name)}.csv</code>, sha256 <code>{board.sha256[:16]}</code>.</p>"
    return page(
        f"Leaderboard {board.name}",
        "\n".join(body),
        nav,
        zoo_page(board.name),
        inputs_line + provenance_html(board.provenance, f"{board.name}.csv"),
    )


def feature_sets(inputs: Inputs) -> list[tuple[str, tuple[str, ...]]]:
    """Every feature set of the leaderboards, sorted by name, with the kinds it has."""
    kinds: dict[str, set[str]] = {}
    for board in inputs.boards:
        for fs, kind in zip(board.frame["feature_set"], board.frame["kind"], strict=True):
            kinds.setdefault(str(fs), set()).add(str(kind))
    return [(fs, tuple(sorted(k))) for fs, k in sorted(kinds.items())]


def across_boards(inputs: Inputs) -> dict[str, pd.DataFrame]:
    """Each feature set's rows in every leaderboard, with a ``board`` column, in page order."""
    rows = pd.concat([b.frame.assign(board=b.name) for b in inputs.boards], ignore_index=True)
    return {str(fs): block.reset_index(drop=True) for fs, block in rows.groupby("feature_set", sort=True)}


def stability_html(stability: Stability | None, name: str, definition: Definition) -> str:
    """The stability verdict of a descriptor (and of a combination's descriptors), with its features."""
    if stability is None:
        return "<p>No stability study in this folder (<code>stability.csv</code>; <code>make stability</code>).</p>"
    names = [name] if name in stability.flags else [m for m in definition.members if m in stability.flags]
    if not names:
        return f"<p>Not in the stability study of experiment <code>{esc(stability.experiment)}</code>.</p>"
    parts = []
    for n in names:
        rows = stability.table[stability.table["descriptor"] == n]
        stable = int(rows["stable"].astype(bool).sum())
        verdict = stability.flags[n]
        css = ' class="warn"' if verdict == "unstable" else ""
        parts.append(
            f"<p><b>{esc(n)}</b>: <span{css}>{esc(verdict)}</span>, {stable} of {len(rows)} features keep their "
            "model ranking across grid resolutions and direction seeds (experiment "
            f"<code>{esc(stability.experiment)}</code>; "
            "a descriptor is unstable when fewer than half of its features are stable).</p>"
        )
        table = "".join(
            f'<tr><td>{esc(r["feature"])}</td><td class="n">{number(r["resolution_agreement"]):.3f}</td>'
            f'<td class="n">{number(r["seed_agreement"]):.3f}</td><td>{"yes" if bool(r["stable"]) else "no"}</td></tr>'
            for r in rows.to_dict("records")
        )
        parts.append(
            f'<details><summary>{esc(n)}: its {len(rows)} features</summary><div class="scroll plain-table"><table>'
            '<thead><tr><th scope="col">feature</th><th scope="col">resolution agreement</th>'
            '<th scope="col">seed agreement</th><th scope="col">stable</th></tr></thead>'
            f"<tbody>{table}</tbody></table></div></details>"
        )
    return "\n".join(parts)


def overall_lines(overall: Overall, feature_set: str) -> str:
    """A feature set's place in each overall ranking of the folder."""
    if overall.frame is None:
        return ""
    rows = overall.frame[overall.frame["feature_set"] == feature_set]
    items = []
    for r in rows.to_dict("records"):
        name = RANKING_SCORES.get(str(r["score"]), (str(r["score"]),))[0]
        settings = f" [{r['settings']}]" if r.get("settings") else ""
        items.append(
            f"<li>by {esc(name)}{esc(settings)}: position {esc(_num(r['position']))}, "
            f"mean rank {_num(r['mean_rank'])}, Borda {_num(r['borda'])}, "
            f"ranked in {int(r['n_cells'])} of {int(r['n_cells_total'])} cells</li>"
        )
    return '<h2 id="overall">Overall ranking</h2><ul>' + "".join(items) + "</ul>" if items else ""


def render_descriptor(
    name: str, kinds: Sequence[str], rows: pd.DataFrame, inputs: Inputs, context: Context, nav: Nav
) -> str:
    """The page of one feature set: its definition, stability, overall place and every leaderboard row."""
    definition = context.definitions.get(name, Definition())
    flags = inputs.stability.flags if inputs.stability else {}
    body = [f"<h1>Descriptor: {esc(name)}</h1>"]
    body.append(
        f'<p class="lead">kind: {esc(", ".join(kinds))}'
        + (" · ⚠ unstable" if flags.get(name) == "unstable" else "")
        + "</p>"
    )
    if definition.summary:
        body.append(markdown_html(definition.summary))
    else:
        body.append("<p>No definition recorded in docs/descriptors.md or conf/ for this feature set.</p>")
    if definition.members:
        links = ", ".join(f'<a href="{descriptor_page(m)}">{esc(m)}</a>' for m in definition.members)
        body.append(f"<p>Its descriptors: {links}.</p>")
    body += ['<h2 id="stability">Stability</h2>', stability_html(inputs.stability, name, definition)]
    body.append(overall_lines(inputs.overall, name))
    body.append('<h2 id="table">Across the leaderboards</h2>')
    body.append(
        leaderboard_table(f"descriptor-{slug(name)}", f"{esc(name)} in every leaderboard", rows, flags, across=True)
    )
    body.append(legend())
    body.append(
        '<p class="note">Every row of this feature set, one per leaderboard, target, protocol and regressor; ★ and ≈ '
        "compare it with the best row of its own table. Intervals are drawn on each column's axis over these rows.</p>"
    )
    if definition.body:
        body += [
            '<h2 id="definition">Definition</h2>',
            f'<div class="definition">{markdown_html(definition.body)}</div>',
        ]
    if definition.source:
        body.append(f'<p class="note">Definition from {esc(definition.source)}.</p>')
    used = [b for b in inputs.boards if name in set(b.frame["feature_set"])]
    prov_rows = "".join(
        f'<tr><th scope="row"><a href="{zoo_page(b.name)}">{esc(b.name)}</a></th>'
        f"<td><code>{esc(b.provenance.command if b.provenance else '')}</code></td>"
        f"<td>{inline(b.provenance.get('git commit') if b.provenance else '')}</td>"
        f"<td>{esc(b.provenance.get('date') if b.provenance else '')}</td>"
        f"<td><code>{b.sha256[:16]}</code></td></tr>"
        for b in used
    )
    provenance = (
        '<div class="scroll"><table><caption>The leaderboards this page reads</caption><thead><tr>'
        '<th scope="col">leaderboard</th><th scope="col">generated by</th><th scope="col">git commit</th>'
        f'<th scope="col">date</th><th scope="col">CSV sha256</th></tr></thead><tbody>{prov_rows}</tbody></table></div>'
    )
    return page(f"Descriptor {name}", "\n".join(body), nav, descriptor_page(name), provenance)


def _class(css: str) -> str:
    return f' class="{css}"' if css else ""


def zoos_section(inputs: Inputs, context: Context) -> str:
    """The table of leaderboards: zoo, what it is for (suite.description), models, targets, rows."""
    rows = []
    for b in inputs.boards:
        description = context.descriptions.get(b.name, "")
        if not description and b.provenance is not None and b.provenance.command:
            description = f"made by {b.provenance.command}"
        what = esc(description) or "—"
        rows.append(
            f'<tr><th scope="row"><a href="{zoo_page(b.name)}">{esc(b.name)}</a>'
            f'<small class="narrow">{what}</small></th>'
            f'<td class="{WIDE}">{esc(", ".join(b.zoos))}</td><td class="{WIDE}">{what}</td>'
            f'<td class="n">{esc(_sizes(b))}</td><td class="{WIDE}">{esc(", ".join(b.targets))}</td>'
            f'<td class="n {WIDE}">{len(b.frame)}</td></tr>'
        )
    columns = (("leaderboard", ""), ("zoo", WIDE), ("what it is for", WIDE), ("models", ""), ("targets", WIDE))
    heads = "".join(f'<th scope="col"{_class(css)}>{label}</th>' for label, css in (*columns, ("rows", WIDE)))
    return (
        '<h2 id="zoos">Zoos</h2><div class="scroll zoos"><table><caption>One leaderboard per zoo (or sweep)</caption>'
        f"<thead><tr>{heads}</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
    )


def overall_section(overall: Overall) -> str:
    """The overall ranking: one table per primary score, the CD diagram and the tests of overall.md."""
    parts = ['<h2 id="overall">Overall ranking</h2>']
    if overall.frame is None:
        parts.append(
            f"<p>No overall ranking in this folder (<code>{OVERALL}.csv</code>); "
            "<code>landscape-bench-overall FOLDER</code> writes one.</p>"
        )
    else:
        parts.append(
            '<p class="note">In each cell (zoo, target) every feature set is represented by its best regressor and '
            "ranked by the score (1 = best, ties share the mean rank); mean rank and Borda count over the cells; each "
            f"cell shows the rank, the score and the regressor (from {OVERALL}.csv and {OVERALL}.md).</p>"
        )
        scores = [s for s in dict.fromkeys(overall.frame["score"].astype(str)) if s in RANKING_SCORES]
        parts += [overall_table(overall.frame, s) for s in scores]
    if overall.diagram is not None:
        parts.append(
            f'<figure><img src="figures/{overall.diagram.name}" alt="Critical-difference diagrams of the overall '
            'ranking: mean rank per feature set, bars join those the Nemenyi test does not separate" loading="lazy">'
            "<figcaption>Critical-difference diagrams (Demšar 2006): mean rank per feature set over the cells; a bar "
            "joins feature sets the Nemenyi test does not separate at α = 0.05. "
            f"<code>{overall.diagram.name}</code></figcaption></figure>"
        )
    if overall.tests:
        parts.append(
            f"<details><summary>Friedman and Nemenyi tests, and what adds beyond the obvious ({OVERALL}.md)</summary>"
            f'<div class="definition">{markdown_html(overall.tests)}</div></details>'
        )
    return "\n".join(parts)


def descriptors_section(inputs: Inputs, context: Context) -> str:
    """One card per feature set: its kinds, stability flag and one-line definition."""
    flags = inputs.stability.flags if inputs.stability else {}
    cards = []
    for fs, kinds in feature_sets(inputs):
        summary = context.definitions.get(fs, Definition()).summary
        verdict = f" · stability: {esc(flags[fs])}" if fs in flags else ""
        cards.append(
            f'<li><h3><a href="{descriptor_page(fs)}">{esc(fs)}</a></h3>'
            f'<p class="tag">{esc(", ".join(kinds))}{verdict}</p>'
            + (markdown_html(summary) if summary else "")
            + "</li>"
        )
    return '<h2 id="descriptors">Descriptors</h2><ul class="cards">' + "".join(cards) + "</ul>"


def overview_provenance(inputs: Inputs) -> str:
    """Every leaderboard CSV of the site (rows, checksum, commit) and the overall ranking's provenance."""
    files = "".join(
        f'<tr><th scope="row"><a href="{zoo_page(b.name)}">{esc(b.name)}.csv</a></th><td class="n">{len(b.frame)}</td>'
        f"<td><code>{b.sha256[:16]}</code></td>"
        f"<td>{inline(b.provenance.get('git commit')) if b.provenance else '—'}</td></tr>"
        for b in inputs.boards
    )
    parts = [
        '<div class="scroll"><table><caption>The leaderboards of this site</caption><thead><tr><th scope="col">CSV</th>'
        '<th scope="col">rows</th><th scope="col">sha256</th><th scope="col">generated at commit</th></tr></thead>'
        f"<tbody>{files}</tbody></table></div>"
    ]
    if inputs.overall.provenance is not None:
        parts.append(f"<h3>Overall ranking</h3>{provenance_html(inputs.overall.provenance, OVERALL + '.csv')}")
        if inputs.overall.sources:
            parts.append(f'<div class="definition">{markdown_html(inputs.overall.sources)}</div>')
    return "\n".join(parts)


def render_overview(inputs: Inputs, context: Context, nav: Nav) -> str:
    """index.html: the zoos, the overall ranking, the descriptors and the folder's inputs."""
    intro = (
        "<h1>landscape-bench leaderboards</h1>"
        '<p class="lead">Does the shape of a neural network\'s loss landscape predict how good the network is? Each '
        "leaderboard scores descriptors of one zoo of models by how well regressors predict each target from them, "
        "under group-aware cross-validation, beside baselines, the hyperparameters themselves and the noise "
        f"ceiling. The files of <code>{esc(nav.folder)}/</code>, as pages.</p>"
    )
    body = [intro, zoos_section(inputs, context), overall_section(inputs.overall), descriptors_section(inputs, context)]
    return page("Overview", "\n".join(body), nav, "index.html", overview_provenance(inputs))


# ----------------------------------------------------------------------------- the site


def site_files(inputs: Inputs, context: Context) -> dict[str, bytes]:
    """Every file of the site: relative path -> bytes. Pure: the same inputs give the same bytes."""
    nav = Nav(tuple(b.name for b in inputs.boards), inputs.folder.resolve().name)
    files: dict[str, bytes] = {f"assets/{name}": (ASSETS / name).read_bytes() for name in ASSET_FILES}
    files["index.html"] = render_overview(inputs, context, nav).encode()
    for board in inputs.boards:
        files[zoo_page(board.name)] = render_board(board, inputs, context, nav).encode()
        for figure in board.figures:
            files[f"figures/{figure.name}"] = _compact_once(figure.read_bytes())
    if inputs.overall.diagram is not None:
        files[f"figures/{inputs.overall.diagram.name}"] = _compact_once(inputs.overall.diagram.read_bytes())
    rows = across_boards(inputs)
    for name, kinds in feature_sets(inputs):
        files[descriptor_page(name)] = render_descriptor(name, kinds, rows[name], inputs, context, nav).encode()
    return dict(sorted(files.items()))


def is_site(folder: Path) -> bool:
    """Whether ``folder`` holds a site this command wrote (its index.html names the generator)."""
    index = folder / "index.html"
    return index.is_file() and f'<meta name="generator" content="{PROG} ' in index.read_text(errors="replace")


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def check_out(out: Path) -> list[Path]:
    """The files already in ``out``: none, or those of a site this command wrote. Refuses a file, and
    a folder that holds anything else (nothing of it is overwritten or removed)."""
    if out.exists() and not out.is_dir():
        raise SiteError(f"{out} is a file; give a folder for the site with --out.")
    existing = sorted(p for p in out.rglob("*") if p.is_file()) if out.is_dir() else []
    if existing and not is_site(out):
        raise SiteError(
            f"{out} holds files that are not a landscape-bench site (no index.html written by {PROG}); "
            "give a new or empty folder with --out."
        )
    return existing


def write_site(files: Mapping[str, bytes], out: Path) -> Written:
    """Write ``files`` under ``out`` (each atomically, unchanged files left alone) and remove the
    files of an earlier site there that are no longer part of it. Refuses a folder that holds
    other files."""
    existing = check_out(out)
    for rel, data in files.items():
        path = out / rel
        if not (path.is_file() and path.read_bytes() == data):
            _atomic_write_bytes(path, data)
    for stale in existing:
        if stale.relative_to(out).as_posix() not in files:
            stale.unlink()
    for folder in sorted((p for p in out.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return Written(out, tuple(files), sum(len(d) for d in files.values()))


def build_site(
    folder: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, context: Context | None = None
) -> Written:
    """Make the site of the leaderboards in ``folder`` in ``out`` (default ``<folder>/site``)."""
    folder = Path(folder)
    out = Path(out) if out is not None else folder / DEFAULT_OUT
    context = load_context() if context is None else context
    inputs = read_inputs(folder, context.order)
    check_out(out)  # before the work
    written = write_site(site_files(inputs, context), out)
    return dataclasses.replace(written, boards=tuple(b.name for b in inputs.boards))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="the folder of leaderboard CSVs (leaderboards/, or a sweep's)")
    parser.add_argument("--out", type=Path, default=None, help=f"the site's folder (default: FOLDER/{DEFAULT_OUT})")
    parser.add_argument(
        "--screenshots",
        type=Path,
        default=None,
        metavar="DIR",
        help="also save screenshots of the overview and a zoo page at desktop and phone width there "
        "(needs chromium, chromedriver and selenium)",
    )
    parser.add_argument("--zoo", default=None, help="the leaderboard of the zoo-page screenshots (default: the first)")
    args = parser.parse_args(argv)
    from benchmark.suite import SuiteError

    try:
        written = build_site(args.folder, args.out)
    except (SiteError, SuiteError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(written.files)} files ({written.size / 1e6:.1f} MB) to {written.out}; open {written.index}")
    if args.screenshots is not None:
        from benchmark.report.browser import BrowserMissingError, take_screenshots

        zoo = args.zoo or written.boards[0]
        if zoo not in written.boards:
            print(
                f"{PROG}: --zoo {zoo!r} is not a leaderboard of {args.folder}; use one of {list(written.boards)}.",
                file=sys.stderr,
            )
            return 2
        try:
            shots = take_screenshots(written.out, zoo_page(zoo), args.screenshots)
        except BrowserMissingError as exc:
            print(f"{PROG}: {exc}", file=sys.stderr)
            return 2
        print("screenshots: " + ", ".join(str(p) for p in shots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
