"""Real-browser test: start the app, run the built-in scene in headless Chromium, check the map.

Skips when Chromium, ChromeDriver or Selenium are missing (CI installs them with
``.ci/browser-deps``). Screenshots go to ``$OCM_SCREENSHOT_DIR`` (default: the test's tmp dir).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.streamlit_server import serve_app


def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture
def app_url(tmp_path: Path, tiny_weights_dir: Path) -> Iterator[str]:
    with serve_app(tmp_path, tiny_weights_dir) as (url, _proc):
        yield url


def _driver(browser: str, driver: str) -> object:
    webdriver = pytest.importorskip("selenium.webdriver")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1600,1000"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.webdriver.chrome.service import Service

    browser = webdriver.Chrome(service=Service(driver), options=options)
    # The page itself at 1600 x 1000 (the window size includes the browser's own chrome).
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 1600, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    return browser


def _severe(logs: list[dict[str, object]]) -> list[dict[str, object]]:
    ignore = ("favicon", "Tried to use Streamlit", "_stcore/health", "_stcore/host-config", "metrics",
              "tile.openstreetmap.org")
    return [e for e in logs if e.get("level") == "SEVERE" and not any(i in str(e.get("message")) for i in ignore)]


_MAP_VIEW = """
var m = window.ocmMap, b = window.ocmSceneBounds;
if (!m) { return null; }
var s = m.getSize(), nw = m.latLngToContainerPoint(b.getNorthWest()), se = m.latLngToContainerPoint(b.getSouthEast());
var w = Math.min(se.x, s.x) - Math.max(nw.x, 0), h = Math.min(se.y, s.y) - Math.max(nw.y, 0);
var input = document.querySelector('.ocm-opacity input');
return {zoom: m.getZoom(), fill: Math.max(0, w) * Math.max(0, h) / (s.x * s.y),
        inside: m.getBounds().pad(0.01).contains(b), opacity: input ? parseFloat(input.value) : null,
        notice: !!document.querySelector('.ocm-notice'),
        legend: (document.querySelector('.ocm-legend') || {}).textContent};
"""


def _in_map(browser: Any, script: str) -> Any:
    """Run ``script`` in the first visible map; ``None`` while Streamlit is still replacing it."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By

    try:
        frame = next(f for f in browser.find_elements(By.CSS_SELECTOR, "iframe") if f.is_displayed())
        browser.switch_to.frame(frame)
        return browser.execute_script(script)
    except (StopIteration, WebDriverException):
        return None
    finally:
        browser.switch_to.default_content()


def _map_view(browser: Any) -> dict[str, Any]:
    return _in_map(browser, _MAP_VIEW) or {}


@pytest.mark.slow
def test_run_page_in_chromium(app_url: str, tmp_path: Path) -> None:
    """The Run page at its own URL: maps open fitted (Swipe tab included), keep zoom and opacity
    when a rerun rebuilds them, and say when basemap tiles cannot load; the accuracy view shows."""
    found = _chromium()
    if found is None:
        if os.environ.get("OCM_REQUIRE_BROWSER"):
            pytest.fail("OCM_REQUIRE_BROWSER is set but chromium/chromedriver are missing (run .ci/browser-deps)")
        pytest.skip("chromium/chromedriver not installed (run .ci/browser-deps)")
    pytest.importorskip("selenium")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    shots = Path(os.environ.get("OCM_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    browser: Any = _driver(*found)
    wait = WebDriverWait(browser, 120)

    try:
        # The root first, as a visitor would (deep links on a fresh server: tests/app/test_routing.py).
        browser.get(app_url)
        wait.until(ec.presence_of_element_located((By.XPATH, "//button[.//p[contains(text(), 'Run cloud mask')]]")))
        browser.get(app_url + "mask")
        button = wait.until(ec.element_to_be_clickable(
            (By.XPATH, "//button[.//p[contains(text(), 'Run cloud mask')]]")))
        assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=stDialog]"), "/mask is a page"
        button.click()
        wait.until(ec.presence_of_element_located((By.XPATH, "//*[contains(text(), 'Accuracy against the experts')]")))
        wait.until(ec.presence_of_element_located((By.XPATH, "//*[contains(text(), 'Confusion matrix')]")))
        frame = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "iframe")))
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", frame)
        view = wait.until(lambda b: _map_view(b).get("fill") and _map_view(b))
        assert view["inside"] and view["fill"] > 0.3, view  # fitted: the whole scene, filling the map
        assert "Thick cloud" in view["legend"] and "Cloud shadow" in view["legend"]
        browser.save_screenshot(str(shots / "run_map.png"))

        browser.find_element(By.XPATH, "//*[@role='tab'][contains(., 'Swipe: image')]").click()
        swipe = wait.until(lambda b: _map_view(b).get("fill") and _map_view(b))
        assert swipe["inside"] and swipe["fill"] > 0.3 and swipe["zoom"] > 5, swipe  # not zoom 0 in a hidden tab
        browser.save_screenshot(str(shots / "run_swipe.png"))

        browser.find_element(By.XPATH, "//*[@role='tab'][normalize-space(.)='Map']").click()
        zoomed = wait.until(lambda b: _in_map(b, """
            var m = window.ocmMap, i = document.querySelector('.ocm-opacity input');
            if (!m || !i || !m.getSize().x) { return null; }
            m.setZoom(m.getZoom() + 1.5, {animate: false});
            i.value = 0.25; i.dispatchEvent(new Event('input'));
            return m.getZoom();"""))
        # A rerun that rebuilds the map: the basemap toggle (and no network here: tiles fail).
        browser.find_element(By.XPATH, "//label[.//p[contains(text(), 'Basemap')]]").click()
        after = wait.until(lambda b: _map_view(b).get("notice") and _map_view(b))
        assert abs(after["zoom"] - zoomed) < 0.05 and after["opacity"] == 0.25, (zoomed, after)
        browser.save_screenshot(str(shots / "run_rebuilt_offline_basemap.png"))
        errors = _severe(browser.get_log("browser"))
        assert not errors, errors
    finally:
        browser.quit()


@pytest.mark.slow
def test_lab_overview_clicks_move_the_patch(app_url: str, tmp_path: Path) -> None:
    """Every click on the lab's overview moves the patch rectangle (none is swallowed)."""
    found = _chromium()
    if found is None:
        pytest.skip("chromium/chromedriver not installed (run .ci/browser-deps)")
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser: Any = _driver(*found)
    wait = WebDriverWait(browser, 180)

    def rect() -> str | None:
        return browser.execute_script(  # type: ignore[no-any-return]
            "var r = document.querySelector('.js-plotly-plot .shapelayer path'); return r && r.getAttribute('d');")

    try:
        browser.get(app_url)
        wait.until(ec.presence_of_element_located((By.XPATH, "//button[.//p[contains(text(), 'Run cloud mask')]]")))
        browser.get(app_url + "normalization")
        wait.until(ec.presence_of_element_located((By.XPATH, "//*[contains(text(), '4. The patch on the map')]")))
        seen = [wait.until(lambda b: rect())]
        for fx, fy in ((0.2, 0.2), (0.8, 0.8), (0.8, 0.8), (0.2, 0.8), (0.8, 0.2)):
            plot = browser.find_element(By.CSS_SELECTOR, ".js-plotly-plot .nsewdrag")
            # click at fractions of the overview image (it is letterboxed inside the plot)
            offset = browser.execute_script("""
                var p = arguments[0].getBoundingClientRect();
                var i = document.querySelector('.js-plotly-plot .imagelayer image').getBoundingClientRect();
                return [i.left + arguments[1] * i.width - (p.left + p.width / 2),
                        i.top + arguments[2] * i.height - (p.top + p.height / 2)];""", plot, fx, fy)
            ActionChains(browser).move_to_element_with_offset(plot, int(offset[0]), int(offset[1])).click().perform()
            # Every handled click (a repeated one too) gives the chart a new key: the old chart
            # leaves the page. Waiting for that keeps the next click off a chart being replaced.
            wait.until(ec.staleness_of(plot))
            expected_same = seen[-1] if (fx, fy) == (0.8, 0.8) and len(seen) == 3 else None
            if expected_same is None:
                wait.until(lambda b, last=seen[-1]: rect() not in (None, last))
            seen.append(rect())
        assert len(set(seen)) == 5, seen  # start + 4 distinct places (the repeated click keeps its place)
    finally:
        browser.quit()
