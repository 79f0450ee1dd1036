"""Load case of the app (issue 21): N browser sessions press *Run* together under a run limit.

Starts ``streamlit run app.py`` on a loopback port with a random-weight ``test_resnet`` model,
a gallery holding one generated 4-band scene (``--size-px`` squared, about 4 Mpx by default),
``OCM_MAX_CONCURRENT_RUNS`` = ``--limit`` and ``OCM_APP_MEMORY_MB`` = ``--memory-mb``. One
session runs alone first (the single-run time, and the model's warm-up), then ``--sessions``
headless-Chromium sessions start (at most :data:`PREPARE_AT_ONCE` at a time: 12 Chromiums
starting together time out on a 2-core machine), choose the scene, wait at a barrier and click
*Run cloud mask* at once. Each session polls its page until the mask is shown, noting every queue place it saw.
The server's resident memory is sampled every 0.2 s throughout.

Prints one JSON report: peak server memory (MB) against the configured bound, the single-run
time, the longest click-to-mask time under load, and per session the places seen and errors.
Loopback only; every wait is bounded. Needs chromium, chromedriver and selenium::

    python3 -m bench.load --sessions 12 --limit 2 --size-px 2048
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ocm_app import server as app_server

SCENE_NAME = "load_4mpx"
WAIT_S = 1500.0
_PLACE = re.compile(r"place (\d+) in the queue")


@dataclass
class SessionResult:
    """What one browser session saw."""

    index: int
    click_to_mask_s: float = float("nan")
    places_seen: list[int] = field(default_factory=list)
    error: str = ""


@dataclass
class LoadReport:
    """The load case's figures (taken on whatever machine ran it, under its load)."""

    sessions: int
    run_limit: int
    scene_px: str
    memory_bound_mb: float
    baseline_rss_mb: float
    peak_rss_mb: float
    single_run_s: float
    longest_click_to_mask_s: float
    sessions_with_mask: int
    sessions_that_saw_a_queue_place: int
    errors: list[str]
    results: list[SessionResult]


def rss_mb(pid: int) -> float:
    """Resident memory of a process (MB), from ``/proc``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_scene(path: Path, size_px: int) -> Path:
    """A 4-band uint16 scene (Blue, Green, Red, NIR x 10000) with bright blobs, tiled GeoTIFF."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size_px, 0:size_px].astype(np.float32) / size_px
    land = 800 + 400 * np.sin(12 * x) * np.cos(9 * y)
    cloud = np.zeros_like(land)
    for cx, cy, r in rng.uniform(0.1, 0.9, (8, 3)):
        cloud += 6000 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (0.01 * r))
    bands = np.stack([land + cloud, land * 1.1 + cloud, land * 1.2 + cloud, land * 2.5 + cloud])
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=size_px, height=size_px, count=4, dtype="uint16",
                       crs="EPSG:32633", transform=from_origin(400000, 5800000, 10, 10), tiled=True,
                       compress="deflate") as dst:
        dst.write(np.clip(bands, 1, 65535).astype(np.uint16))
    return path


def write_weights(folder: Path) -> Path:
    """Two random-weight registry ``test_resnet`` members (safetensors)."""
    import torch
    from safetensors.torch import save_file

    from ocm_engine.models.registry import build_member

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(1)
    for i in range(2):
        member = build_member("test_resnet")
        save_file({k: v.contiguous() for k, v in member.state_dict().items()},
                  str(folder / f"member{i}_test_resnet.safetensors"))
    return folder


@contextlib.contextmanager
def serve(work: Path, limit: int, memory_mb: float,
          settings: dict[str, str | None] | None = None) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The app on a loopback port with the load case's settings; yields (url, process).

    ``settings`` overrides environment variables of the server (``None`` removes one).
    """
    env: dict[str, str | None] = {
        "OCM_APP_MODEL": str(work / "weights"), "OCM_SAMPLES_DIR": str(work / "samples"),
        "OCM_APP_TMP": str(work / "apptmp"), "OCM_DEMO_DIR": str(work / "no_demo"),
        "OCM_MAX_CONCURRENT_RUNS": str(limit), "OCM_APP_MEMORY_MB": str(memory_mb), "OMP_NUM_THREADS": "1",
        "OCM_TRUSTED_LOCAL": None, **(settings or {})}
    with app_server.serve(work / "streamlit.log", env=env, extra_args=("--server.fileWatcherType", "none"),
                          start_timeout_s=90) as server:
        yield server.url, server.process


def _browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1100,1400", "--js-flags=--max-old-space-size=256", "--disable-extensions"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or ""), options=options)


def _prepare(browser: Any, url: str, scene: str = SCENE_NAME) -> Any:
    """Open the app, choose ``scene`` in the gallery; the Run button."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, WAIT_S)
    browser.get(url)
    field_ = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".st-key-scene_sample input")))
    field_.click()
    field_.send_keys(scene)
    field_.send_keys(Keys.ENTER)
    wait.until(ec.presence_of_element_located((By.XPATH, f"//*[contains(text(), '{scene}')]")))
    time.sleep(1.0)  # let the rerun after the choice settle
    return wait.until(ec.element_to_be_clickable((By.XPATH, "//button[.//p[contains(text(), 'Run cloud mask')]]")))


def _watch(browser: Any, result: SessionResult, start: float, shots: Path | None = None) -> None:
    """Poll the page until the mask is shown (or an error), noting queue places (screenshots into ``shots``)."""
    from selenium.webdriver.common.by import By

    deadline = start + WAIT_S
    while time.perf_counter() < deadline:
        text = browser.find_element(By.TAG_NAME, "body").text
        for place in _PLACE.findall(text):
            if not result.places_seen or result.places_seen[-1] != int(place):
                result.places_seen.append(int(place))
                if shots is not None and len(result.places_seen) == 1:
                    for element in browser.find_elements(By.XPATH, "//*[contains(text(), 'in the queue')]")[:1]:
                        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
                    browser.save_screenshot(str(shots / f"session{result.index}_place{place}.png"))
        if "Class percentages" in text and not _PLACE.search(text):
            result.click_to_mask_s = time.perf_counter() - start
            if shots is not None and result.index in (-1, 0):
                browser.save_screenshot(str(shots / f"session{result.index}_mask.png"))
            return
        errors = browser.find_elements(By.CSS_SELECTOR,
                                       "[data-testid='stException'], [data-testid='stAlertContentError']")
        if errors:
            result.error = errors[0].text[:300]
            return
        time.sleep(1.0)
    result.error = f"no mask within {WAIT_S:.0f} s"


#: Browsers starting and loading the page at once (Chromium start-up is the heavy part on 2 cores).
PREPARE_AT_ONCE = 3
_PREPARING = threading.Semaphore(PREPARE_AT_ONCE)


def _session(url: str, index: int, barrier: threading.Barrier | None, shots: Path | None = None) -> SessionResult:
    result = SessionResult(index)
    browser = None
    try:
        with _PREPARING:  # staggered start-up; the clicks themselves happen together at the barrier
            browser = _browser()
            button = _prepare(browser, url)
        if barrier is not None:
            barrier.wait(timeout=WAIT_S)
        start = time.perf_counter()
        button.click()
        _watch(browser, result, start, shots)
    except Exception as err:  # a session's failure is reported, not raised: the others go on
        result.error = f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
        if barrier is not None:
            barrier.abort()
    finally:
        if browser is not None:
            browser.quit()
    return result


def run_load(sessions: int = 12, limit: int = 2, size_px: int = 2048, memory_mb: float = 6000.0,
             work: Path | None = None, shots: Path | None = None) -> LoadReport:
    """Run the load case; its report (screenshots of queue places and a mask into ``shots`` when given)."""
    if shots is not None:
        shots.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as stack:
        folder = work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ocm_load_")))
        write_weights(folder / "weights")
        write_scene(folder / "samples" / "scenes" / "s2_cloudy_chips" / f"{SCENE_NAME}.tif", size_px)
        url, proc = stack.enter_context(serve(folder, limit, memory_mb))
        peak = [0.0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                with contextlib.suppress(OSError, ValueError):
                    peak[0] = max(peak[0], rss_mb(proc.pid))
                time.sleep(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        baseline = rss_mb(proc.pid)
        solo = _session(url, -1, None, shots)
        barrier = threading.Barrier(sessions)
        with ThreadPoolExecutor(sessions) as pool:
            results = list(pool.map(lambda i: _session(url, i, barrier, shots), range(sessions)))
        stop.set()
        sampler.join(2)
        alive = proc.poll() is None
    errors = [f"session {r.index}: {r.error}" for r in [solo, *results] if r.error]
    if not alive:
        errors.append("the server died")
    done = [r.click_to_mask_s for r in results if not r.error]
    return LoadReport(
        sessions=sessions, run_limit=limit, scene_px=f"{size_px} x {size_px} x 4", memory_bound_mb=memory_mb,
        baseline_rss_mb=round(baseline, 1), peak_rss_mb=round(peak[0], 1),
        single_run_s=round(solo.click_to_mask_s, 2),
        longest_click_to_mask_s=round(max(done), 2) if done else float("nan"),
        sessions_with_mask=len(done), sessions_that_saw_a_queue_place=sum(1 for r in results if r.places_seen),
        errors=errors, results=results,
    )


def main(argv: list[str] | None = None) -> int:
    """Run the load case and print its JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=12)
    parser.add_argument("--limit", type=int, default=2)
    parser.add_argument("--size-px", type=int, default=2048)
    parser.add_argument("--memory-mb", type=float, default=6000.0)
    parser.add_argument("--shots", type=Path, default=None, help="folder for screenshots of the queue")
    args = parser.parse_args(argv)
    report = run_load(args.sessions, args.limit, args.size_px, args.memory_mb, shots=args.shots)
    print(json.dumps(asdict(report), indent=1))
    return 0 if not report.errors and report.peak_rss_mb < report.memory_bound_mb else 1


if __name__ == "__main__":
    sys.exit(main())
