"""The leaderboard site in a real headless browser (Debian's chromium, driven by Selenium): pages
open from the file system, sorting and filtering agree with the CSVs, nothing is fetched from
outside the site's folder and the console stays clean. Skipped when chromium, chromedriver or
selenium is absent; .ci/run installs them. The screenshots of docs/site.md are made as written."""

from __future__ import annotations

import json
import math
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest

from benchmark.report.browser import PHONE, BrowserMissingError, find_chromium, set_viewport, start_chromium
from benchmark.report.site import build_site, leaderboard_paths, main, zoo_page

from .site_fixtures import LEADERBOARDS, ROOT, SWEEP_NAME, SWEEP_SETTINGS, copy_leaderboards, gathered_sweep

try:
    CHROMIUM, MISSING = find_chromium(), ""
except BrowserMissingError as exc:
    CHROMIUM, MISSING = None, str(exc)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=f"no headless browser for the site test: {MISSING}")


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> dict[str, Path]:
    """The sites of a copy of the committed leaderboards and of a gathered sweep."""
    tmp = tmp_path_factory.mktemp("sites")
    committed = build_site(copy_leaderboards(tmp / "leaderboards")).out
    sweep = build_site(gathered_sweep(tmp / "sweep")).out
    return {"committed": committed, "sweep": sweep}


@pytest.fixture(scope="module")
def browser():
    driver = start_chromium(CHROMIUM)
    yield driver
    driver.quit()


def _requests(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def visit(driver, page: Path) -> None:
    """Open ``page`` from the file system, load every figure, and fail on any console error or any
    request for something outside the page's folder."""
    driver.get_log("browser"), driver.get_log("performance")  # what earlier pages left
    driver.get(page.as_uri())
    assert driver.execute_script("return document.documentElement.classList.contains('js')"), "site.js did not run"
    broken = driver.execute_async_script(
        """const done = arguments[arguments.length - 1];
        const images = Array.from(document.images);
        images.forEach(i => { i.loading = 'eager'; });
        Promise.all(images.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })))
          .then(() => done(images.filter(i => !(i.naturalWidth > 0)).map(i => i.src)));"""
    )
    assert not broken, f"figures that did not load: {broken}"
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"console errors on {page.name}: {errors}"
    folder = page.parent.as_uri() + "/"
    outside = [u for u in _requests(driver) if not u.startswith(folder)]
    assert not outside, f"{page.name} requested what is not in its folder: {outside}"


def rows(driver, board: str, key: str) -> list[str]:
    """The ``data-<key>`` of the rows of table ``board`` as the page shows them now."""
    script = "return Array.from(document.querySelectorAll(arguments[0])).map(tr => tr.getAttribute(arguments[1]))"
    return driver.execute_script(script, f"#{board} tbody tr", f"data-{key}")


def sort_by(driver, board: str, key: str) -> str:
    """Click the header of column ``key``; returns its aria-sort."""
    head = driver.find_element("css selector", f'#{board} th[data-sort="{key}"]')
    head.find_element("css selector", "button").click()
    return head.get_attribute("aria-sort")


def choose(driver, board: str, key: str, value: str) -> str:
    """Pick ``value`` in the filter menu ``key``; returns the row count the page shows."""
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("css selector", f'#{board} select[data-filter="{key}"]')).select_by_value(value)
    return driver.find_element("css selector", f"#{board} [data-count]").text


def _expected(values: pd.Series, descending: bool) -> list[float]:
    finite = sorted((v for v in values if not math.isnan(v)), reverse=descending)
    return finite + [math.nan] * int(values.isna().sum())  # undefined scores last, in both directions


def _floats(texts: list[str]) -> list[float]:
    return [float(t) if t else math.nan for t in texts]


def _same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))


def test_overview_opens_offline_with_the_overall_ranking_and_its_diagram(browser, sites):
    visit(browser, sites["committed"] / "index.html")
    overall = pd.read_csv(LEADERBOARDS / "overall.csv")
    spearman = overall[overall["score"] == "spearman"]
    assert rows(browser, "overall-spearman", "feature_set") == list(spearman["feature_set"])
    assert sort_by(browser, "overall-spearman", "borda") == "descending"
    assert _same(_floats(rows(browser, "overall-spearman", "borda")), _expected(spearman["borda"], True))
    assert browser.find_element("css selector", 'img[src="figures/overall.cd.png"]').get_property("naturalWidth") > 0


def test_a_zoo_page_sorts_by_spearman_like_the_csv(browser, sites):
    visit(browser, sites["committed"] / zoo_page("digits_mlp"))
    csv = pd.read_csv(LEADERBOARDS / "digits_mlp.csv")
    board = "board-digits_mlp"
    assert sort_by(browser, board, "spearman") == "descending"  # higher is better: best first
    assert _same(_floats(rows(browser, board, "spearman")), _expected(csv["spearman_value"], True))
    assert rows(browser, board, "feature_set")[0] == csv.loc[csv["spearman_value"].idxmax(), "feature_set"]
    assert sort_by(browser, board, "spearman") == "ascending"
    assert _same(_floats(rows(browser, board, "spearman")), _expected(csv["spearman_value"], False))
    assert sort_by(browser, board, "mae") == "ascending"  # lower is better: best first
    assert _same(_floats(rows(browser, board, "mae")), _expected(csv["mae_value"], False))


def test_a_zoo_page_filters_to_one_regressor_and_target(browser, sites):
    visit(browser, sites["committed"] / zoo_page("digits_mlp"))
    csv = pd.read_csv(LEADERBOARDS / "digits_mlp.csv")
    board = "board-digits_mlp"
    ridge = csv[csv["regressor"] == "ridge"]
    assert choose(browser, board, "regressor", "ridge") == f"{len(ridge)} of {len(csv)} rows"
    assert set(rows(browser, board, "regressor")) == {"ridge"} and len(rows(browser, board, "regressor")) == len(ridge)
    both = ridge[ridge["target"] == "test_accuracy"]
    assert choose(browser, board, "target", "test_accuracy") == f"{len(both)} of {len(csv)} rows"
    sort_by(browser, board, "spearman")  # sorting keeps the filter
    assert _same(_floats(rows(browser, board, "spearman")), _expected(both["spearman_value"], True))
    baselines = both[both["kind"] == "baseline"]
    assert choose(browser, board, "kind", "baseline") == f"{len(baselines)} of {len(csv)} rows"
    assert (
        choose(browser, board, "regressor", "")
        == f"{((csv['kind'] == 'baseline') & (csv['target'] == 'test_accuracy')).sum()} of {len(csv)} rows"
    )


def test_a_descriptor_page_opens_from_its_link(browser, sites):
    visit(browser, sites["committed"] / zoo_page("digits_mlp"))
    browser.find_element("css selector", 'tbody th a[href="descriptor-geometry.html"]').click()
    assert browser.current_url.endswith("/descriptor-geometry.html")
    visit(browser, sites["committed"] / "descriptor-geometry.html")
    frames = {p.stem: pd.read_csv(p) for p in leaderboard_paths(LEADERBOARDS)}
    geometry = {name: int((f["feature_set"] == "geometry").sum()) for name, f in frames.items()}
    board = "descriptor-geometry"
    assert len(rows(browser, board, "board")) == sum(geometry.values())
    total = sum(geometry.values())
    assert choose(browser, board, "board", "digits_mlp") == f"{geometry['digits_mlp']} of {total} rows"


def test_the_checks_catch_a_console_error_and_a_file_outside_the_folder(browser, tmp_path):
    (tmp_path / "site").mkdir()
    page = tmp_path / "site" / "index.html"
    page.write_text('<html class="js"><body><img src="../outside.png"></body></html>')
    (tmp_path / "outside.png").write_bytes((LEADERBOARDS / "overall.cd.png").read_bytes())
    with pytest.raises(AssertionError, match="not in its folder"):
        visit(browser, page)
    page.write_text('<html class="js"><body><script>console.error("broken")</script></body></html>')
    with pytest.raises(AssertionError, match="console errors"):
        visit(browser, page)


def test_a_sweep_site_filters_by_its_settings(browser, sites):
    visit(browser, sites["sweep"] / zoo_page(SWEEP_NAME))
    csv = pd.read_csv(sites["sweep"].parent / f"{SWEEP_NAME}.csv")
    board = f"board-{SWEEP_NAME}"
    setting = SWEEP_SETTINGS[1]
    assert choose(browser, board, "settings", setting) == f"{(csv['settings'] == setting).sum()} of {len(csv)} rows"
    assert set(rows(browser, board, "settings")) == {setting}


def test_phone_width_scrolls_the_table_not_the_page(browser, sites):
    set_viewport(browser, PHONE)
    try:
        for page in ("index.html", zoo_page("digits_mlp")):
            visit(browser, sites["committed"] / page)
            width = browser.execute_script("return [document.documentElement.scrollWidth, window.innerWidth]")
            assert width[0] <= width[1], f"{page} is wider than a phone: {width}"
    finally:
        from benchmark.report.browser import DESKTOP

        set_viewport(browser, DESKTOP)


def test_docs_screenshot_command_makes_the_four_screenshots(tmp_path, capsys):
    (_, shots) = re.findall(r"```bash\n(.*?)```", (ROOT / "docs" / "site.md").read_text(), flags=re.S)
    argv = shlex.split(shots.strip().split("#")[0])
    assert argv[:2] == ["landscape-bench-site", "leaderboards"] and argv[2] == "--screenshots"
    folder = copy_leaderboards(tmp_path / "leaderboards")
    assert main([str(folder), "--screenshots", str(tmp_path / argv[3]), *argv[4:]]) == 0
    from PIL import Image

    made = {p.name: Image.open(p).size for p in (tmp_path / argv[3]).glob("*.png")}
    assert made["site_overview_desktop.png"][0] == 1280 and made["site_zoo_phone.png"][0] == 390 * 2
    assert sorted(made) == sorted(p.name for p in (ROOT / "docs" / "figures").glob("site_*.png"))
    assert "screenshots:" in capsys.readouterr().out
