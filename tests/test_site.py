"""The leaderboard site (``landscape-bench-site``): its pages from the committed leaderboards and
from a sweep's gathered folder, as static HTML (no browser here; tests/test_site_browser.py drives
one), byte-stable, offline, and the refusals. docs/site.md's example is executed as written."""

from __future__ import annotations

import html
import math
import re
import shlex
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from benchmark.report.site import (
    ASSET_FILES,
    build_site,
    compact_png,
    descriptor_page,
    is_leaderboard,
    leaderboard_paths,
    main,
    zoo_page,
)
from benchmark.report.stability import descriptor_flags

from .site_fixtures import LEADERBOARDS, ROOT, SWEEP_NAME, SWEEP_SETTINGS, copy_leaderboards, gathered_sweep

DOC = ROOT / "docs" / "site.md"
SIZE_LIMIT = 6_000_000  # bytes: "a few MB" (docs/site.md states the size)


class Page(HTMLParser):
    """The parts of a generated page the tests read: each interactive table's rows (attributes and
    cells), its filter menus, the tables, and every src/href."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.boards: dict[str, list[dict]] = {}
        self.menus: dict[str, dict[str, list[str]]] = {}
        self.urls: list[str] = []
        self.tables = self.captions = self.col_heads = 0
        self._board = self._menu = None
        self._row: dict | None = None
        self._cell: dict | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        self.urls += [a[k] for k in ("src", "href") if a.get(k)]
        self.tables += tag == "table"
        self.captions += tag == "caption"
        self.col_heads += tag == "th" and a.get("scope") == "col"
        if tag == "div" and "board" in (a.get("class") or "").split():
            self._board = a["id"]
            self.boards[self._board], self.menus[self._board] = [], {}
        elif tag == "select" and self._board:
            self._menu = a["data-filter"]
            self.menus[self._board][self._menu] = []
        elif tag == "option" and self._menu:
            self.menus[self._board][self._menu].append(a["value"])
        elif tag == "tr" and self._board and any(k.startswith("data-") for k in a):
            self._row = {"attrs": a, "cells": []}
            self.boards[self._board].append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = {"tag": tag, "class": a.get("class") or "", "text": ""}
            self._row["cells"].append(self._cell)
        elif tag == "span" and self._cell is not None and a.get("class") in ("best", "tied"):
            self._cell["mark"] = a["class"]

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._menu = None
        elif tag == "tr":
            self._row = None
        elif tag in ("td", "th"):
            self._cell = None
        elif tag == "table" and self._board:
            self._board = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell["text"] += data


def _read(site: Path, name: str) -> Page:
    return Page((site / name).read_text(encoding="utf-8"))


def _value(x: float) -> str:
    return "" if math.isnan(x) else repr(float(x))


@pytest.fixture(scope="module")
def committed(tmp_path_factory) -> tuple[Path, Path]:
    """The site of a copy of the committed leaderboards/: (that folder, its site)."""
    folder = copy_leaderboards(tmp_path_factory.mktemp("committed") / "leaderboards")
    written = build_site(folder)
    assert written.out == folder / "site" and written.index.is_file()
    return folder, written.out


def _boards() -> dict[str, pd.DataFrame]:
    return {p.stem: pd.read_csv(p) for p in leaderboard_paths(LEADERBOARDS)}


def test_every_leaderboard_descriptor_and_figure_has_its_page_inside_the_folder(committed):
    _, site = committed
    boards = _boards()
    assert {"digits_mlp", "mnist1d", "model_diagnosis", "default"} <= set(boards)
    assert "overall" not in boards and "stability" not in boards  # not leaderboards: other columns
    assert not is_leaderboard(pd.read_csv(LEADERBOARDS / "overall.csv", nrows=0).columns)
    feature_sets = sorted({fs for frame in boards.values() for fs in frame["feature_set"]})
    pages = ["index.html", *(zoo_page(b) for b in boards), *(descriptor_page(fs) for fs in feature_sets)]
    assert sorted(p.name for p in site.glob("*.html")) == sorted(pages)
    for name in ASSET_FILES:
        assert (site / "assets" / name).read_bytes() == (
            ROOT / "benchmark" / "report" / "site_assets" / name
        ).read_bytes()
    figures = [*sorted(p.name for b in boards for p in LEADERBOARDS.glob(f"{b}.*.png")), "overall.cd.png"]
    assert sorted(p.name for p in (site / "figures").iterdir()) == sorted(figures)
    shown = set()
    for html_file in site.glob("*.html"):
        page = _read(site, html_file.name)
        assert page.tables and page.captions and page.col_heads  # semantic tables in the static HTML
        for url in page.urls:  # every script, style, figure and link is a file of the site
            assert not re.match(r"^([a-z]+:|//|/)", url), f"{html_file.name} leaves the folder: {url}"
            assert (site / url.split("#")[0]).is_file(), f"{html_file.name} links to a missing {url}"
        shown |= {u.removeprefix("figures/") for u in page.urls if u.startswith("figures/")}
    assert shown == set(figures)
    total = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
    assert total < SIZE_LIMIT, f"the site is {total / 1e6:.1f} MB"


def test_a_zoo_page_is_a_plain_table_of_its_csv_rows(committed):
    _, site = committed
    csv = pd.read_csv(LEADERBOARDS / "digits_mlp.csv")
    page = _read(site, zoo_page("digits_mlp"))
    rows = page.boards["board-digits_mlp"]
    assert len(rows) == len(csv)  # every row, in the CSV's order, without JavaScript
    assert [r["attrs"]["data-spearman"] for r in rows] == [_value(v) for v in csv["spearman_value"]]
    assert [r["attrs"]["data-feature_set"] for r in rows] == list(csv["feature_set"])
    for m in ("spearman", "r2"):  # ★ the best row, ≈ those tied with it
        marks = [next((c.get("mark", "") for c in r["cells"] if f" {m}" in f" {c['class']}"), "") for r in rows]
        tied = csv[f"{m}_tied_with_best"] == 1.0
        assert [bool(x) for x in marks] == list(tied)
        assert marks.count("best") == csv.loc[tied, f"{m}_p_vs_best"].isna().sum() == csv["target"].nunique()
    css = [r["attrs"].get("class", "") for r in rows]
    assert css.count("ceiling") == (csv["kind"] == "ceiling").sum() == 2  # the noise ceiling, one per target
    assert {c for c, k in zip(css, csv["kind"], strict=True) if k == "baseline"} == {"baseline"}
    menus = page.menus["board-digits_mlp"]
    assert list(menus) == ["target", "protocol", "regressor", "kind"]
    for key, options in menus.items():
        assert options == ["", *sorted(csv[key].astype(str).unique())]
    text = (site / zoo_page("digits_mlp")).read_text()
    assert "MLPs on sklearn digits" in text and "400 models (200 configurations)" in text  # suite, models.csv
    for png in ("digits_mlp.scores.png", "digits_mlp.scatter.png", "digits_mlp.gallery.png", "digits_mlp.zoo.png"):
        assert f'src="figures/{png}"' in text


def test_a_descriptor_page_holds_every_row_of_its_feature_set_with_stability_and_definition(committed):
    _, site = committed
    boards = _boards()
    page = _read(site, descriptor_page("smad"))
    (rows,) = page.boards.values()
    assert len(rows) == sum((frame["feature_set"] == "smad").sum() for frame in boards.values())
    assert {r["attrs"]["data-board"] for r in rows} == {b for b, f in boards.items() if "smad" in set(f["feature_set"])}
    text = (site / descriptor_page("smad")).read_text()
    flag = descriptor_flags(pd.read_csv(LEADERBOARDS / "stability.csv")).set_index("descriptor").loc["smad", "flag"]
    assert f"<b>smad</b>: <span>{flag}</span>" in text or f'<b>smad</b>: <span class="warn">{flag}</span>' in text
    assert "saddle-minimum average distance" in text.lower()  # its section of docs/descriptors.md
    combo = (site / descriptor_page("all_landscape")).read_text()
    assert 'href="descriptor-smad.html"' in combo and "A combination" in combo  # conf/config.yaml combinations


def test_the_overview_has_the_zoos_the_overall_ranking_and_its_diagram(committed):
    _, site = committed
    overall = pd.read_csv(LEADERBOARDS / "overall.csv")
    page = _read(site, "index.html")
    for score, block in overall.groupby("score"):
        assert [r["attrs"]["data-feature_set"] for r in page.boards[f"overall-{score}"]] == list(block["feature_set"])
    text = (site / "index.html").read_text()
    assert 'src="figures/overall.cd.png"' in text and "Friedman" in text
    from benchmark.suite import load_suite

    for entry in (e for e in load_suite() if (LEADERBOARDS / f"{e.name}.csv").is_file()):
        assert zoo_page(entry.name) in text
        assert html.escape(entry.description) in text
    models = pd.read_csv(LEADERBOARDS / "digits_cnn.models.csv")
    assert f"{len(models)} ({models['group'].nunique()} configurations)" in text


def test_every_page_names_its_provenance(committed):
    _, site = committed
    md = (LEADERBOARDS / "digits_mlp.md").read_text()
    commit = re.search(r"^\| git commit \| `([^`]+)` \|", md, flags=re.M).group(1)
    command = re.search(r"^Generated by `([^`]+)`", md, flags=re.M).group(1)
    zoo = (site / zoo_page("digits_mlp")).read_text()
    assert commit in zoo and command in zoo and "numpy" in zoo and "resolved config" in zoo
    assert commit in (site / descriptor_page("geometry")).read_text()
    overall_md = (LEADERBOARDS / "overall.md").read_text()
    assert re.search(r"^Generated by `([^`]+)`", overall_md, flags=re.M).group(1) in (site / "index.html").read_text()
    for html_file in site.glob("*.html"):
        text = html_file.read_text()
        assert (
            '<h2 id="provenance">Provenance</h2>' in text and "Generated by <code>landscape-bench-site</code>" in text
        )


def test_the_same_csvs_give_the_same_bytes(committed, tmp_path):
    folder, site = committed
    again = build_site(folder, tmp_path / "again").out
    files = sorted(p.relative_to(site) for p in site.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert all((site / f).read_bytes() == (again / f).read_bytes() for f in files)
    png = (LEADERBOARDS / "digits_mlp.gallery.png").read_bytes()
    assert compact_png(png) == compact_png(png) and len(compact_png(png)) < len(png)
    # a rebuild in place leaves the site as it was, and drops what is no longer part of it
    (again / "zoo-gone.html").write_text("an old page")
    (again / "figures" / "gone.png").write_bytes(b"")
    build_site(folder, again)
    assert sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file()) == files


def test_a_sweeps_gathered_folder_gets_its_site_with_the_same_command(tmp_path, capsys):
    boards = gathered_sweep(tmp_path)
    csv = pd.read_csv(boards / f"{SWEEP_NAME}.csv")
    assert sorted(csv["settings"].unique()) == list(SWEEP_SETTINGS)
    assert main([str(boards)]) == 0
    assert "wrote" in capsys.readouterr().out
    site = boards / "site"
    page = _read(site, zoo_page(SWEEP_NAME))
    (rows,) = page.boards.values()
    assert len(rows) == len(csv)
    assert page.menus[f"board-{SWEEP_NAME}"]["settings"] == ["", *SWEEP_SETTINGS]
    assert [r["attrs"]["data-settings"] for r in rows] == list(csv["settings"])
    text = (site / zoo_page(SWEEP_NAME)).read_text()
    assert "gathered by" in text and "landscape-bench -m" in text  # the gathered leaderboard's provenance
    assert (site / descriptor_page("geometry")).is_file() and (site / "index.html").is_file()
    assert "No overall ranking in this folder" in (site / "index.html").read_text()


def test_refusals_name_the_folder_and_the_fix(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.csv").write_text("a,b\n1,2\n")
    assert main([str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert f"no leaderboard CSV in {tmp_path / 'empty'}" in err and "landscape-bench-gather" in err
    assert main([str(tmp_path / "missing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    boards = copy_leaderboards(tmp_path / "boards")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep me")
    assert main([str(boards), "--out", str(tmp_path / "mine")]) == 2
    assert "not a landscape-bench site" in capsys.readouterr().err
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "keep me"


def test_make_leaderboards_regenerates_the_site_after_the_tables_it_shows():
    recipe = (ROOT / "Makefile").read_text().split("\nleaderboards: ")[1].split("\n\n")[0]
    steps = [line.strip() for line in recipe.splitlines()[1:]]
    site = next(i for i, s in enumerate(steps) if "landscape-bench-site leaderboards" in s)
    assert site > next(i for i, s in enumerate(steps) if "landscape-bench-overall leaderboards" in s)
    assert site > next(i for i, s in enumerate(steps) if "$(MAKE) transfer" in s)  # transfer.csv is a board too


def _bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_docs_site_example_runs_and_states_the_size(committed, tmp_path, capsys):
    build, _screenshots = _bash_blocks(DOC.read_text())
    copy_leaderboards(tmp_path / "leaderboards")
    for line in build.strip().splitlines():
        argv = shlex.split(line.split("#")[0])
        assert argv[0] == "landscape-bench-site"
        assert main([a if a.startswith("-") else str(tmp_path / a) for a in argv[1:]]) == 0
    assert (tmp_path / "leaderboards" / "site" / "index.html").is_file()
    stated = float(re.search(r"about ([0-9.]+) MB", DOC.read_text()).group(1))
    _, site = committed
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file()) / 1e6
    assert abs(size - stated) < 1.0, f"docs/site.md states {stated} MB, the site is {size:.1f} MB"


def test_readme_links_the_site_its_docs_and_screenshots():
    readme = (ROOT / "README.md").read_text()
    assert "](docs/site.md)" in readme and "](leaderboards/site/index.html)" in readme
    for shot in ("site_overview_desktop", "site_overview_phone", "site_zoo_desktop", "site_zoo_phone"):
        assert f"docs/figures/{shot}.png" in readme and (ROOT / "docs" / "figures" / f"{shot}.png").is_file()
