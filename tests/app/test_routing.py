"""Deep links on a freshly started server open their page, with no "Page not found" dialog.

A folder named ``pages/`` beside ``app.py`` made Streamlit run the first session after a start
with its legacy pages/ router, which does not know the app's url paths (issue 17 item 3).
"""

from __future__ import annotations

import ast
import time
from pathlib import Path
from typing import Any

import pytest

from tests.app.test_browser import _chromium, _driver
from tests.helpers.streamlit_server import REPO, serve_app


def test_no_legacy_pages_folder_and_every_page_exists() -> None:
    assert not (REPO / "pages").exists(), "a pages/ folder switches Streamlit's first session to legacy routing"
    tree = ast.parse((REPO / "app.py").read_text())
    paths = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
             and isinstance(node.value, str) and node.value.endswith(".py")}
    assert paths and all((REPO / p).is_file() for p in paths), paths


#: Streamlit's frontend probes the page's own path as a possible base URL before the root
#: (``<page>/_stcore/health`` and ``host-config``); its server answers those with 404 on purpose
#: (``_RESERVED_STATIC_PATH_SUFFIXES``). These two are the only failures allowed.
_BASE_PROBES = ("/_stcore/health", "/_stcore/host-config")


@pytest.mark.slow
@pytest.mark.parametrize("route, heading", [("normalization", "Normalization lab"), ("batch-qa", "Batch QA")])
def test_deep_link_on_a_fresh_server(route: str, heading: str, tmp_path: Path, tiny_weights_dir: Path) -> None:
    found = _chromium()
    if found is None:
        pytest.skip("chromium/chromedriver not installed (run .ci/browser-deps)")
    pytest.importorskip("selenium")
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with serve_app(tmp_path, tiny_weights_dir) as (url, _proc):
        browser: Any = _driver(*found)
        try:
            browser.get(url + route)  # the first visitor of this server opens a deep link
            WebDriverWait(browser, 180).until(ec.presence_of_element_located(
                (By.XPATH, f"//h1[contains(., '{heading}')]")))
            time.sleep(3)  # the dialog, when it came, arrived with the first script run
            source = browser.page_source
            assert "Page not found" not in source and "does not seem to exist" not in source
            assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid=stDialog]")
            assert browser.current_url.rstrip("/").endswith(route)
            failures = [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]
            unexpected = [e for e in failures
                          if not any(f"/{route}{probe} " in str(e.get("message")) for probe in _BASE_PROBES)]
            assert not unexpected, unexpected
        finally:
            browser.quit()
    log = (tmp_path / "streamlit.log").read_text()
    assert "404" not in log and "Page not found" not in log, log[-2000:]
