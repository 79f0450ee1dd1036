"""Time from *Run* to the map in the app, eager PyTorch against the compiled CPU backend (issue 22).

Starts ``streamlit run app.py`` on a loopback port with the embedded default model, once per
backend (``OCM_BACKEND=torch``, then the default ``auto``), and in a headless Chromium session
clicks *Run cloud mask* on the built-in demo scene and on a generated 2000 x 2000 x 4 scene,
``--repeats`` times each, timing the click until the class percentages are shown. The first
run of a server includes loading the model (and, for the compiled backend, reading its
conversion from the on-disk cache; a first-ever conversion is done by a warm-up run that is not
timed, before the servers start). Prints one JSON report. Loopback only; needs chromium, chromedriver and selenium::

    python3 -m bench.app_run --repeats 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.load import SessionResult, _browser, _prepare, _watch, serve, write_scene

BIG_SCENE: str = "app_2000px"
DEMO_SCENE: str = "Demo: real 5 m"


@dataclass
class BackendTimes:
    """Click-to-map seconds per scene for one backend (one server)."""

    backend: str
    seconds: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def _time_run(url: str, scene: str) -> SessionResult:
    result = SessionResult(0)
    browser = _browser()
    try:
        button = _prepare(browser, url, scene)
        start = time.perf_counter()
        button.click()
        _watch(browser, result, start)
    except Exception as err:  # reported, not raised: the other runs go on
        result.error = f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
    finally:
        browser.quit()
    return result


def run(repeats: int, work: Path) -> list[BackendTimes]:
    """Both backends, both scenes, ``repeats`` clicks each (a fresh page per click)."""
    write_scene(work / "samples" / "scenes" / "s2_cloudy_chips" / f"{BIG_SCENE}.tif", 2000)
    from ocm_engine import load_ensemble

    load_ensemble("default", device="cpu", backend="openvino")  # a first-ever conversion is not timed
    out = []
    for backend in ("torch", "auto"):
        times = BackendTimes(backend)
        settings: dict[str, str | None] = {"OCM_APP_MODEL": None, "OMP_NUM_THREADS": None,
                                           "OCM_DEMO_DIR": None, "OCM_BACKEND": backend}
        with serve(work, limit=1, memory_mb=12000.0, settings=settings) as (url, _proc):
            for scene in (DEMO_SCENE, BIG_SCENE):
                for _ in range(repeats):
                    result = _time_run(url, scene)
                    if result.error:
                        times.errors.append(f"{scene}: {result.error}")
                    else:
                        times.seconds.setdefault(scene, []).append(round(result.click_to_mask_s, 2))
        out.append(times)
    return out


def main(argv: list[str] | None = None) -> int:
    """Run both backends and print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ocm_app_run_")))
        results = run(args.repeats, work)
    print(json.dumps([asdict(r) for r in results], indent=1))
    return 0 if not any(r.errors for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
