"""Headless Chromium for the leaderboard site: finding it, starting it, and the README's screenshots.

Used by ``landscape-bench-site --screenshots DIR`` and by the browser test
(``tests/test_site_browser.py``). It drives the system's Chromium (Debian: ``apt-get install -y
chromium chromium-driver``) through Selenium (the ``dev`` extra), pointed at both executables, so
nothing is downloaded; ``LANDSCAPE_BENCH_CHROMIUM`` and ``LANDSCAPE_BENCH_CHROMEDRIVER`` name other
ones.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_BROWSER = "LANDSCAPE_BENCH_CHROMIUM"
ENV_DRIVER = "LANDSCAPE_BENCH_CHROMEDRIVER"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
DRIVERS = ("chromedriver",)
INSTALL = "apt-get install -y chromium chromium-driver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--force-color-profile=srgb",
    "--lang=en-US",
)


class BrowserMissingError(RuntimeError):
    """Chromium, chromedriver or Selenium is not installed; the message says how to install it."""


@dataclass(frozen=True)
class Chromium:
    """The two executables Selenium drives."""

    browser: str
    driver: str


@dataclass(frozen=True)
class Viewport:
    """A screen to render a page on: CSS pixels, device pixel ratio, and whether it is a phone."""

    width: int
    height: int
    scale: float = 1.0
    mobile: bool = False


DESKTOP = Viewport(1280, 860)
PHONE = Viewport(390, 844, 2.0, True)


@dataclass(frozen=True)
class Shot:
    """One screenshot: its file name, the page of the site and the viewport."""

    name: str
    page: str
    viewport: Viewport


def _which(env: str, names: Sequence[str]) -> str | None:
    if os.environ.get(env):
        return os.environ[env] if Path(os.environ[env]).is_file() else None
    return next((found for n in names if (found := shutil.which(n))), None)


def find_chromium() -> Chromium:
    """The system's Chromium and chromedriver; :class:`BrowserMissingError` naming what is absent."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        raise BrowserMissingError(
            "selenium is not installed; install the dev extra: pip install -e '.[dev]'."
        ) from None
    browser, driver = _which(ENV_BROWSER, BROWSERS), _which(ENV_DRIVER, DRIVERS)
    missing = [n for n, found in (("chromium", browser), ("chromedriver", driver)) if not found]
    if missing or browser is None or driver is None:
        raise BrowserMissingError(
            f"{' and '.join(missing)} not found (looked for {', '.join(BROWSERS)} and chromedriver on PATH, or "
            f"${ENV_BROWSER} / ${ENV_DRIVER}); install them: {INSTALL}."
        )
    return Chromium(browser, driver)


def start_chromium(chromium: Chromium | None = None, viewport: Viewport = DESKTOP) -> Any:
    """A headless Chromium WebDriver (Selenium) with the browser's console and network logged
    (``driver.get_log("browser")``, ``driver.get_log("performance")``)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = chromium or find_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium.browser
    for flag in (*FLAGS, f"--window-size={viewport.width},{viewport.height}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromium.driver), options=options)
    set_viewport(driver, viewport)
    return driver


def set_viewport(driver: Any, viewport: Viewport) -> None:
    """Render at ``viewport`` (Chrome DevTools device-metrics override: a phone gets its viewport meta)."""
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {
            "width": viewport.width,
            "height": viewport.height,
            "deviceScaleFactor": viewport.scale,
            "mobile": viewport.mobile,
        },
    )


def screenshot_plan(zoo_page: str) -> tuple[Shot, ...]:
    """The README's four screenshots: the overview and one zoo page, at desktop and phone width."""
    return (
        Shot("site_overview_desktop.png", "index.html", DESKTOP),
        Shot("site_overview_phone.png", "index.html", PHONE),
        Shot("site_zoo_desktop.png", zoo_page, DESKTOP),
        Shot("site_zoo_phone.png", zoo_page, PHONE),
    )


def take_screenshots(site: Path, zoo_page: str, out: Path, chromium: Chromium | None = None) -> list[Path]:
    """Save :func:`screenshot_plan` of the site in ``site`` as PNGs in ``out``; returns their paths."""
    driver = start_chromium(chromium)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    try:
        for shot in screenshot_plan(zoo_page):
            set_viewport(driver, shot.viewport)
            driver.get((site / shot.page).resolve().as_uri())
            driver.execute_script("return document.fonts ? document.fonts.ready : null")
            path = out / shot.name
            path.write_bytes(driver.get_screenshot_as_png())
            written.append(path)
    finally:
        driver.quit()
    return written
