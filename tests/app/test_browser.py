"""Real-browser test: start the app, run the built-in scene in headless Chromium, check the map.

Skips when Chromium, ChromeDriver or Selenium are missing (CI installs them with
``.ci/browser-deps``). Screenshots go to ``$OCM_SCREENSHOT_DIR`` (default: the test's tmp dir).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.streamlit_server import serve_app


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
                "--window-size=1400,1800"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.webdriver.chrome.service import Service

    return webdriver.Chrome(service=Service(driver), options=options)


def _severe(logs: list[dict[str, object]]) -> list[dict[str, object]]:
    ignore = ("favicon", "Tried to use Streamlit", "_stcore/health", "metrics")
    return [e for e in logs if e.get("level") == "SEVERE" and not any(i in str(e.get("message")) for i in ignore)]


def test_run_page_in_chromium(app_url: str, tmp_path: Path) -> None:
    found = _chromium()
    if found is None:
        pytest.skip("chromium/chromedriver not installed (run .ci/browser-deps)")
    pytest.importorskip("selenium")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    shots = Path(os.environ.get("OCM_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    browser = _driver(*found)
    try:
        browser.get(app_url)  # type: ignore[attr-defined]
        wait = WebDriverWait(browser, 120)
        button = wait.until(ec.element_to_be_clickable(
            (By.XPATH, "//button[.//p[contains(text(), 'Run cloud mask')]]")))
        button.click()
        wait.until(ec.presence_of_element_located((By.XPATH, "//*[contains(text(), 'Class percentages')]")))
        frame = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "iframe")))
        browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", frame)  # type: ignore[attr-defined]
        time.sleep(2)
        browser.switch_to.frame(frame)  # type: ignore[attr-defined]
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".leaflet-container")))
        legend = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".ocm-legend")))
        assert "Thick cloud" in legend.text and "Cloud shadow" in legend.text
        overlays = browser.find_elements(By.CSS_SELECTOR, "img.leaflet-image-layer")  # type: ignore[attr-defined]
        assert len(overlays) >= 2, "true colour and class mask overlays"
        assert browser.execute_script("return typeof L === 'object' && !!L.version")  # type: ignore[attr-defined]
        browser.switch_to.default_content()  # type: ignore[attr-defined]
        browser.save_screenshot(str(shots / "run_page.png"))  # type: ignore[attr-defined]
        errors = _severe(browser.get_log("browser"))  # type: ignore[attr-defined]
        assert not errors, errors
    finally:
        browser.quit()  # type: ignore[attr-defined]
