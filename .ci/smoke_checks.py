"""Smoke checks run by ``.ci/smoke_install`` inside the venv that the README's app set-up built.

Standard library plus the app's own runtime dependencies only (never pytest or another test package):
every ``ocm`` command's ``--help``; ``ocm sensors``, ``ocm info``, ``ocm predict``, ``ocm evaluate``
and ``ocm batch`` on a small synthetic GeoTIFF; ``ocm train`` and ``ocm search`` as far as they go
without training data or a network (a clear one-line error, no traceback, no missing module); every
page run once through Streamlit's AppTest; then ``streamlit run app.py`` as a real server whose page
URLs (read from ``app.py``) and health endpoint must answer HTTP 200. Exits non-zero on the first
failure, naming it.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

TIMINGS: list[tuple[str, float]] = []


def fail(what: str, detail: str = "") -> None:
    """Print the failure and exit 1."""
    print(f"smoke: FAILED: {what}\n{detail[-6000:]}", file=sys.stderr)
    raise SystemExit(1)


def run(name: str, cmd: list[str], *, cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,),
        timeout: float = 600, expect: str = "") -> subprocess.CompletedProcess[str]:
    """Run a command; fail on an unexpected exit code, a traceback or a missing module."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as err:
        fail(f"{name}: no answer in {timeout:g} s", str(err.stdout or "") + str(err.stderr or ""))
    TIMINGS.append((name, time.perf_counter() - t0))
    both = proc.stdout + proc.stderr
    if proc.returncode not in ok:
        fail(f"{name}: exit {proc.returncode} (expected {ok})", both)
    for bad in ("Traceback (most recent call last)", "ModuleNotFoundError", "No module named"):
        if bad in both:
            fail(f"{name}: {bad!r} in its output", both)
    if expect and expect not in both:
        fail(f"{name}: {expect!r} not in its output", both)
    print(f"smoke: ok  {name}  ({TIMINGS[-1][1]:.1f} s)")
    return proc


def write_scene(folder: Path) -> tuple[Path, Path]:
    """A 4-band uint16 GeoTIFF (Blue, Green, Red, NIR; bright blob = cloud) and a 0/1 label for it."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(0)
    h = w = 192
    data = (rng.normal(900, 120, (4, h, w))).clip(1, None).astype(np.uint16)
    yy, xx = np.mgrid[:h, :w]
    blob = (yy - 70) ** 2 + (xx - 90) ** 2 < 40 ** 2
    data[:, blob] = 7000
    profile = {"driver": "GTiff", "width": w, "height": h, "count": 4, "dtype": "uint16", "nodata": 0,
               "crs": "EPSG:32633", "transform": from_origin(500000, 5800000, 10, 10)}
    scene = folder / "scene.tif"
    with rasterio.open(scene, "w", **profile) as dst:
        dst.write(data)
        dst.descriptions = ("B02", "B03", "B04", "B08")
    label = folder / "scene_label.tif"
    with rasterio.open(label, "w", **{**profile, "count": 1, "dtype": "uint8", "nodata": None}) as dst:
        dst.write(blob.astype(np.uint8)[None])
    return scene, label


def check_cli(repo: Path, work: Path, env: dict[str, str]) -> None:
    """Every command's help, and each command run as far as it goes offline."""
    ocm = str(Path(sys.prefix) / "bin" / "ocm")
    from ocm_engine.cli.main import COMMANDS

    top = run("ocm --help", [ocm, "--help"], cwd=work, env=env)
    for row in COMMANDS:
        if not re.search(rf"^\s+{re.escape(row.name)}\s", top.stdout, re.M):
            fail(f"ocm --help does not list {row.name!r}", top.stdout)
        run(f"ocm {row.name} --help", [ocm, row.name, "--help"], cwd=work, env=env, expect=f"usage: ocm {row.name}")
    run("python -m ocm_engine --help", [sys.executable, "-m", "ocm_engine", "--help"], cwd=work, env=env)
    scene, label = write_scene(work)
    run("ocm sensors", [ocm, "sensors"], cwd=work, env=env, expect="sentinel2_l2a")
    run("ocm info", [ocm, "info", str(scene)], cwd=work, env=env, expect="192 x 192 px")
    out = work / "out"
    run("ocm predict", [ocm, "predict", str(scene), "-o", str(out), "--bands", "3,2,4", "--device", "cpu", "-q"],
        cwd=work, env=env, expect="cloud")
    for name in ("scene_ocm.tif", "scene_ocm.json", "scene_ocm.png"):
        if not (out / name).is_file():
            fail(f"ocm predict wrote no {name}", "\n".join(p.name for p in out.iterdir()))
    run("ocm evaluate", [ocm, "evaluate", "--images", str(scene), "--labels", str(label), "--label-map",
                         "0=clear,1=cloud", "--bands", "3,2,4"], cwd=work, env=env, expect="cloud")
    run("ocm batch", [ocm, "batch", str(scene), "-o", str(work / "batch"), "--bands", "3,2,4", "--workers", "1",
                      "--device", "cpu", "-q"], cwd=work, env=env, expect="1 done", timeout=300)
    # No training data and no network here: each must end in a clear one-line error, not a missing module.
    run("ocm train (no packed data)", [ocm, "train", "--pack-dir", str(work / "nopack"), "--steps", "1",
                                       "--time-budget-s", "1"], cwd=work, env=env, ok=(2,), expect="error:")
    from ocm_app.server import free_port  # nothing listens on it once this returns

    port = free_port()
    run("ocm search (refused port)", [ocm, "search", "--catalog", f"http://127.0.0.1:{port}/",
                                      "--bbox", "13.3,52.4,13.5,52.6", "--timeout", "5"],
        cwd=work, env=env, ok=(2,), expect="error:")


def check_pages_apptest(repo: Path, env: dict[str, str]) -> None:
    """Run app.py and then every page once in Streamlit's AppTest (no page may raise)."""
    from streamlit.testing.v1 import AppTest

    os.environ.update(env)
    os.chdir(repo)
    t0 = time.perf_counter()
    at = AppTest.from_file(str(repo / "app.py"), default_timeout=300).run()
    if at.exception:
        fail("app.py raised in AppTest", "\n".join(str(e.value) for e in at.exception))
    pages = sorted(set(re.findall(r'st\.Page\(\s*(?:[A-Z_]+|"([^"]+)")', (repo / "app.py").read_text())) - {""})
    consts = dict(re.findall(r'^([A-Z_]+) = "([^"]+\.py)"$', (repo / "app.py").read_text(), re.M))
    pages = sorted({*pages, *consts.values()})
    if not pages:
        fail("found no st.Page(...) in app.py")
    for page in pages:
        at.switch_page(page).run()
        if at.exception:
            fail(f"{page} raised in AppTest", "\n".join(f"{e.message}\n{e.stack_trace}" for e in at.exception))
        print(f"smoke: ok  page {page} (AppTest)")
    TIMINGS.append(("pages in AppTest", time.perf_counter() - t0))


def _get(url: str, timeout: float = 30) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, ""


def check_server(repo: Path, work: Path, env: dict[str, str], start_timeout_s: float = 180) -> None:
    """``streamlit run app.py`` on a loopback port (``ocm_app.server``): health and every page URL answer 200."""
    from ocm_app.server import AppServerError, serve

    paths = ["/", *(f"/{p}" for p in re.findall(r'url_path="([^"]+)"', (repo / "app.py").read_text()))]
    log_path = work / "streamlit.log"
    t0 = time.perf_counter()
    try:
        with serve(log_path, env=env, start_timeout_s=start_timeout_s) as server:
            print(f"smoke: ok  GET /_stcore/health -> 200 ok ({time.perf_counter() - t0:.1f} s after start)")
            for path in paths:
                status, body = _get(server.url.rstrip("/") + path)
                if status != 200 or 'id="root"' not in body:
                    fail(f"GET {path} answered {status}", body[:2000])
                print(f"smoke: ok  GET {path} -> 200")
    except AppServerError as err:
        fail(err.problem, err.log_tail)
    text = log_path.read_text()
    if "Traceback" in text or "No module named" in text:
        fail("the server logged an error", text)
    TIMINGS.append(("streamlit server", time.perf_counter() - t0))


def main() -> int:
    """Run every check; print the timings."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo", type=Path, required=True)
    args = parser.parse_args()
    repo = args.repo.resolve()
    if Path(sys.prefix).resolve() == Path(sys.base_prefix).resolve():
        fail("not running in a virtual environment")
    with tempfile.TemporaryDirectory(prefix="ocm-smoke-") as tmp:
        work = Path(tmp)
        samples = work / "samples"
        samples.mkdir()
        env = {**os.environ, "OMP_NUM_THREADS": "2", "OCM_SAMPLES_DIR": str(samples),
               "OCM_APP_TMP": str(work / "apptmp"), "PYTHONPATH": ""}
        check_cli(repo, work, env)
        check_server(repo, work, env)
        check_pages_apptest(repo, env)
    print("smoke: timings: " + ", ".join(f"{name} {s:.1f} s" for name, s in TIMINGS))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
