"""The app under load: N >= 8 concurrent browser sessions run inference on their own uploads.

Starts ``streamlit run app.py`` on a loopback port (tiny random-weight model, private temp
root, 2 MB upload limit), then drives two waves of 8 headless-Chromium sessions in threads.
Each session uploads its own scene under a unique file name, runs the cloud mask and must see
its own scene only. The server's resident memory after the second wave must not exceed the
first wave's (no per-session leak), and an oversize upload is refused with a message.
Everything is bounded: per-session waits, a test deadline, and the server is killed at the end.
Skips when Chromium, ChromeDriver or Selenium are missing (``.ci/browser-deps``).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.streamlit_server import serve_app

from .conftest import REPO
from .corpus import scene, write_tif

SESSIONS = 8
WAIT_S = 300
pytestmark = pytest.mark.slow


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@pytest.fixture
def app(tmp_path: Path, tiny_weights_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        pytest.skip("chromium/chromedriver not installed (run .ci/browser-deps)")
    pytest.importorskip("selenium")
    if not (REPO / "app.py").is_file():
        pytest.skip("app.py is not there")
    with serve_app(tmp_path, tiny_weights_dir, start_timeout_s=90,
                   extra_args=("--server.maxUploadSize", "2", "--server.fileWatcherType", "none")) as served:
        yield served


def _browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1200,1600", "--js-flags=--max-old-space-size=256"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or ""), options=options)


def _upload(browser: Any, url: str, path: Path) -> Any:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT_S)
    browser.get(url)
    radio = wait.until(ec.element_to_be_clickable((By.XPATH, "//label[.//p[text()='Upload']]")))
    radio.click()
    field = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "input[type='file']")))
    field.send_keys(str(path))
    return wait


def _session(url: str, path: Path, tokens: list[str]) -> dict[str, Any]:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    browser = _browser()
    try:
        start = time.perf_counter()
        wait = _upload(browser, url, path)
        mine = path.stem
        wait.until(ec.presence_of_element_located((By.XPATH, f"//*[contains(text(), '{mine}')]")))
        button = wait.until(ec.element_to_be_clickable(
            (By.XPATH, "//button[.//p[contains(text(), 'Run cloud mask')]]")))
        button.click()
        wait.until(ec.presence_of_element_located((By.XPATH, "//*[contains(text(), 'Class percentages')]")))
        text = browser.find_element(By.TAG_NAME, "body").text
        return {"name": mine, "seconds": time.perf_counter() - start,
                "others_seen": [t for t in tokens if t != mine and t in text],
                "exception": "Traceback" in text or "Error" in text.split("Class percentages")[0][-2000:]}
    finally:
        browser.quit()


def _wave(url: str, folder: Path, wave: int) -> list[dict[str, Any]]:
    folder.mkdir()
    paths = [write_tif(folder / f"sess{wave}x{i}_{secrets.token_hex(3)}.tif",
                       scene(height=128, width=128, seed=10 * wave + i)) for i in range(SESSIONS)]
    tokens = [p.stem for p in paths]
    with ThreadPoolExecutor(SESSIONS) as pool:
        return list(pool.map(lambda p: _session(url, p, tokens), paths))


def test_concurrent_sessions(app: tuple[str, subprocess.Popen[bytes]], tmp_path: Path) -> None:
    url, proc = app
    baseline = _rss_mb(proc.pid)
    first = _wave(url, tmp_path / "wave1", 1)
    time.sleep(5)
    after_first = _rss_mb(proc.pid)
    second = _wave(url, tmp_path / "wave2", 2)
    time.sleep(5)
    after_second = _rss_mb(proc.pid)
    results = first + second
    print(f"\nsessions={len(results)} baseline={baseline:.0f}MB after_wave1={after_first:.0f}MB "
          f"after_wave2={after_second:.0f}MB slowest={max(r['seconds'] for r in results):.0f}s")
    assert len(results) == 2 * SESSIONS
    assert not [r for r in results if r["others_seen"]], results
    assert not [r for r in results if r["exception"]], results
    assert after_second <= after_first * 1.10 + 64, (baseline, after_first, after_second)
    assert proc.poll() is None, "the server died under load"


def test_oversize_upload_refused(app: tuple[str, subprocess.Popen[bytes]], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    url, _proc = app
    big = write_tif(tmp_path / "big.tif", scene(4, 600, 600))  # ~2.9 MB > the 2 MB limit
    assert big.stat().st_size > 2 * 1024 * 1024
    browser = _browser()
    try:
        wait = _upload(browser, url, big)
        message = wait.until(ec.presence_of_element_located(
            (By.XPATH, "//*[(contains(., 'or smaller') or contains(., 'over the'))"
                       " and not(*[contains(., 'or smaller') or contains(., 'over the')])]")))
        assert "MB" in message.text
    finally:
        browser.quit()
    assert not list((tmp_path / "apptmp").rglob("upload_*")), "an oversize upload was saved"
