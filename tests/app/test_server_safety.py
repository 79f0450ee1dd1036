"""The hostile-input corpus against the app (issue 21): URLs, uploads, quota, cleanup, run queue, leaks.

The app's policy is the default hosted one with the loopback catalog's origin allowed; a second
loopback server stands in for internal targets and counts the requests it gets.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from ocm_app import config, run_queue, stac_source, uploads
from ocm_engine.errors import PolicyError, SceneReadError
from tests.app.conftest import new_app
from tests.helpers.stac_corpus import Site, add_item, band_asset, make_item, png_bytes
from tests.helpers.stac_server import StacServer

pytest_plugins = ("tests.helpers.stac_fixtures",)
REPO = Path(__file__).resolve().parents[2]
JUNE = (dt.date(2024, 6, 1), dt.date(2024, 6, 30))


@pytest.fixture
def internal() -> Iterator[StacServer]:
    with StacServer() as server:
        server.add_json("/secret.json", {"type": "Catalog", "id": "secret", "links": []})
        server.add_bytes("/thumb.png", png_bytes(), "image/png")
        server.add_bytes("/secret.tif", b"II*\x00", "image/tiff")
        yield server


@pytest.fixture(autouse=True)
def hosted(monkeypatch: pytest.MonkeyPatch, stac_server: StacServer) -> None:
    monkeypatch.delenv("OCM_TRUSTED_LOCAL", raising=False)
    monkeypatch.setenv("OCM_ALLOWED_ORIGINS", stac_server.root)


def _session_files() -> set[Path]:
    root = config.temp_root() / "sessions"
    return {p for p in root.rglob("*") if p.is_file()} if root.is_dir() else set()


def _search(catalog: str, place: str = "13.54,52.33") -> Any:
    at = new_app().run()
    at.switch_page("app_pages/run.py").run()
    at.radio(key="scene_source").set_value(stac_source.LABEL).run()
    at.text_input(key=stac_source.CATALOG).set_value(catalog)
    at.text_input(key=stac_source.PLACE).set_value(place)
    at.date_input(key=stac_source.DATES).set_value(JUNE)
    at.slider(key=stac_source.MAX_CLOUD).set_value(100)
    at.button(key=stac_source.SEARCH).click().run()
    assert not at.exception
    return at


def _keeps_serving(at: Any) -> None:
    at.switch_page("app_pages/run.py").run()
    assert not at.exception


def test_catalog_urls_that_point_inside_are_refused(tmp_path: Path, stac_server: StacServer,
                                                     internal: StacServer) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text('{"type": "Catalog", "id": "local", "stac_version": "1.0.0", "description": "x", "links": []}')
    targets = {"path": str(catalog), "file_url": catalog.as_uri(), "internal": internal.url("/secret.json"),
               "redirect": stac_server.add_redirect("/moved", internal.url("/secret.json"))}
    before = _session_files()
    at = _search(stac_server.url("/nothing-yet"))  # one session tries every target in turn
    for kind, target in targets.items():
        at.text_input(key=stac_source.CATALOG).set_value(target)
        at.button(key=stac_source.SEARCH).click().run()
        assert not at.exception
        errors = [e.value for e in at.error]
        assert errors and errors[0].startswith(("URL ", "Path ")) and "this server" in errors[0], (kind, errors)
        assert "\n" not in errors[0] and ": got " in errors[0], (kind, errors)
    assert internal.requests == [] and not _session_files() - before
    _keeps_serving(at)


def test_thumbnails_and_assets_on_internal_addresses_are_refused(stac_site: Site, internal: StacServer) -> None:
    assets = {r: band_asset(stac_site.server.url(f"/data/good/{r}.tif"), r) for r in ("red", "green", "blue")}
    assets["nir"] = band_asset(internal.url("/secret.tif"), "nir")
    assets["thumbnail"] = {"href": internal.url("/thumb.png"), "type": "image/png", "roles": ["thumbnail"]}
    for item in list(stac_site.items):
        stac_site.server.routes.pop(f"/collections/sentinel-2-l2a/items/{item}")
    add_item(stac_site.server, make_item("S2A_EVIL", assets, stac_site.bbox, cloud=1.0, date="2024-06-10T10:00:00Z"))
    at = _search(stac_site.api_url, ",".join(f"{v:.6f}" for v in stac_site.window(0.8)))
    assert not at.error, [e.value for e in at.error]
    assert any(c.value == "no thumbnail" for c in at.caption)
    before = _session_files()
    at.button(key=stac_source.LOAD).click().run()
    assert not at.exception
    assert any(e.value.startswith(f"URL {internal.url('')}") and "got a loopback address" in e.value
               for e in at.error), [e.value for e in at.error]
    assert internal.requests == [] and not _session_files() - before
    _keeps_serving(at)


# ----------------------------------------------------------------------------- uploads
def _geotiff(path: Path, width: int, height: int, *, count: int = 1, sparse: bool = False) -> Path:
    profile = dict(driver="GTiff", width=width, height=height, count=count, dtype="uint16", crs="EPSG:32633",
                   transform=from_origin(400000, 5800000, 10, 10), tiled=True, compress="deflate")
    if sparse:
        profile["sparse_ok"] = True
    with rasterio.open(path, "w", **profile) as dst:
        if not sparse:
            dst.write(np.ones((count, height, width), np.uint16))
    return path


def test_a_small_file_declaring_a_huge_raster_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = _geotiff(tmp_path / "bomb.tif", 100_000, 100_000, count=4, sparse=True)
    data = bomb.read_bytes()
    assert len(data) < 5_000_000  # small on disk, 80 GB decoded
    folder = tmp_path / "session"
    folder.mkdir()
    with pytest.raises(PolicyError) as refused:
        uploads.save_upload("bomb.tif", data, folder)
    assert refused.value.subject == "Upload bomb.tif"
    assert str(refused.value.arrived).startswith("100000 x 100000 px x 4 band(s)")
    assert list(folder.iterdir()) == []  # nothing written


def test_the_upload_page_refuses_a_bomb_and_a_flood_and_keeps_serving(tmp_path: Path, empty_samples: Path,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       geotiff_bytes: Any) -> None:
    bomb = _geotiff(tmp_path / "bomb.tif", 100_000, 100_000, count=4, sparse=True).read_bytes()
    at = new_app().run()
    at.switch_page("app_pages/run.py").run()
    at.radio(key="scene_source").set_value("Upload").run()
    before = _session_files()
    at.file_uploader(key="scene_upload").set_value(("holiday bomb.tif", bomb, "image/tiff")).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any(e.startswith("Upload holiday bomb.tif: got 100000 x 100000 px") for e in errors), errors
    assert not _session_files() - before  # nothing written (other sessions' folders may be swept meanwhile)
    monkeypatch.setenv("OCM_SESSION_QUOTA_MB", "0.3")
    flood = [(f"scene_{i}.tif", geotiff_bytes(bands=4, height=160 + i, width=160), "image/tiff") for i in range(8)]
    at.file_uploader(key="scene_upload").set_value(flood).run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert any("per session in all" in e for e in errors), errors
    assert not any(str(config.temp_root()) in e or "upload_" in e for e in errors)
    assert sum(p.stat().st_size for p in _session_files() - before) <= config.session_quota_bytes()
    at.file_uploader(key="scene_upload").set_value(("fine.tif", geotiff_bytes(), "image/tiff")).run()
    assert not at.exception  # the app keeps serving


def test_vrts_and_non_rasters_are_refused(tmp_path: Path, internal: StacServer) -> None:
    folder = tmp_path / "session"
    folder.mkdir()
    vrt = (f'<VRTDataset rasterXSize="10" rasterYSize="10"><VRTRasterBand dataType="Byte" band="1"><SimpleSource>'
           f'<SourceFilename>/vsicurl/{internal.url("/secret.tif")}</SourceFilename><SourceBand>1</SourceBand>'
           '</SimpleSource></VRTRasterBand></VRTDataset>').encode()
    for name in ("scene.vrt", "disguised.tif"):
        with pytest.raises(SceneReadError) as refused:
            uploads.save_upload(name, vrt, folder)
        assert refused.value.subject == f"Upload {name}"
        assert refused.value.arrived == "a file that does not open as a raster"
        assert "no VRTs" in str(refused.value.expected) and str(folder) not in str(refused.value)
    with pytest.raises(SceneReadError) as text:
        uploads.save_upload("notes.tif", b"hello", folder)
    assert text.value.subject == "Upload notes.tif" and str(folder) not in str(text.value)
    assert list(folder.iterdir()) == [] and internal.requests == []


def test_a_flood_of_uploads_stops_at_the_session_quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCM_SESSION_QUOTA_MB", "0.5")
    folder = tmp_path / "session"
    folder.mkdir()
    saved, refused = 0, []
    for i in range(12):
        rng = np.random.default_rng(i)
        path = tmp_path / f"f{i}.tif"
        with rasterio.open(path, "w", driver="GTiff", width=200, height=200, count=1, dtype="uint16",
                           crs="EPSG:32633", transform=from_origin(400000, 5800000, 10, 10)) as dst:
            dst.write(rng.integers(0, 65535, (1, 200, 200), dtype=np.uint16))  # ~80 kB, incompressible
        try:
            uploads.save_upload(f"scene_{i}.tif", path.read_bytes(), folder)
            saved += 1
        except PolicyError as err:
            refused.append(err)
    assert 0 < saved < 12 and len(refused) == 12 - saved
    assert all(r.subject.startswith("Upload scene_") and "per session" in str(r.expected) for r in refused)
    assert not any(str(folder) in str(r) for r in refused)
    assert uploads.folder_bytes(folder) <= config.session_quota_bytes()


def test_expired_session_folders_are_swept_and_dropped_sessions_removed(tmp_path: Path) -> None:
    old, fresh = tmp_path / "old", tmp_path / "fresh"
    for folder in (old, fresh):
        folder.mkdir()
        (folder / "upload.tif").write_bytes(b"x")
    past = time.time() - 7200
    os.utime(old, (past, past))
    assert uploads.sweep(tmp_path, 3600) == [old]
    assert not old.exists() and fresh.exists()

    class Owner:  # stands in for the session's state object
        pass

    owner = Owner()
    uploads.remove_with_session(owner, fresh)
    del owner
    gc.collect()
    assert not fresh.exists()


# ----------------------------------------------------------------------------- run queue
def test_the_run_gate_bounds_runs_and_reports_queue_places() -> None:
    gate = run_queue.RunGate(2)
    places: dict[int, list[int]] = {}
    running = 0
    peak = 0
    lock = threading.Lock()

    def visitor(i: int) -> None:
        nonlocal running, peak
        with gate.slot(lambda s: places.setdefault(i, []).append(s.position)):
            with lock:
                running += 1
                peak = max(peak, running)
            time.sleep(0.3)
            with lock:
                running -= 1

    threads = [threading.Thread(target=visitor, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
        time.sleep(0.02)
    for t in threads:
        t.join(10)
    assert peak == 2 and gate.peak_running == 2 and gate.running == 0 and gate.waiting == 0
    assert len(places) >= 3 and all(p == sorted(p, reverse=True) for p in places.values())  # places only go down


def test_a_visitor_who_leaves_the_queue_gives_the_place_back() -> None:
    gate = run_queue.RunGate(1)

    class Left(Exception):
        pass

    def leave(_: run_queue.QueueState) -> None:
        raise Left

    with gate.slot():
        with pytest.raises(Left), gate.slot(leave):
            pass
        assert gate.waiting == 0
    with gate.slot() as waited:
        assert waited < 1


# ----------------------------------------------------------------------------- leaks
def test_error_details_are_off_and_config_is_valid() -> None:
    conf = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert conf["client"]["showErrorDetails"] == "none"
    from streamlit.config import ShowErrorDetailsConfigOptions

    assert conf["client"]["showErrorDetails"] in {o.value for o in ShowErrorDetailsConfigOptions}


def test_upload_errors_name_the_users_file_never_the_server_path(tmp_path: Path) -> None:
    folder = tmp_path / "session_secret_folder"
    folder.mkdir()
    with pytest.raises(SceneReadError) as caught:
        uploads.save_upload("my_scene.tif", b"not a tiff", folder)
    assert "my_scene.tif" in str(caught.value) and str(tmp_path) not in str(caught.value)
    assert "session_secret_folder" not in str(caught.value)


# ----------------------------------------------------------------------------- operator settings
def test_operator_settings_build_the_policy_and_the_run_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCM_ALLOWED_ORIGINS", "http://Stac.Internal:8080, https://cat.example.org")
    monkeypatch.delenv("OCM_TRUSTED_LOCAL", raising=False)
    policy = config.net_policy()
    assert policy.hosted and not policy.allow_local
    assert policy.allowed_origins == {"http://stac.internal:8080", "https://cat.example.org:443"}
    monkeypatch.setenv("OCM_TRUSTED_LOCAL", "1")
    assert config.net_policy().allow_local and config.trusted_local()
    monkeypatch.setenv("OCM_ALLOWED_ORIGINS", "stac.internal")
    with pytest.raises(ValueError, match="scheme://host:port"):
        config.net_policy()
    monkeypatch.delenv("OCM_MAX_CONCURRENT_RUNS", raising=False)
    monkeypatch.setenv("OCM_APP_MEMORY_MB", str(3 * config.MAX_INFERENCE_PIXELS * config.RUN_BYTES_PER_PX / 2**20))
    assert config.max_concurrent_runs() == 3  # the memory budget over one largest run
    monkeypatch.setenv("OCM_APP_MEMORY_MB", "1")
    assert config.max_concurrent_runs() == 1
    monkeypatch.setenv("OCM_MAX_CONCURRENT_RUNS", "5")
    assert config.max_concurrent_runs() == 5


@pytest.mark.slow  # moved out of the default set (its 60 s budget); CI runs the slow set too
def test_the_session_folder_lives_as_long_as_the_session(empty_samples: Path, geotiff_bytes: Any) -> None:
    root = config.temp_root() / "sessions"
    before = set(root.iterdir()) if root.is_dir() else set()
    at = new_app().run()
    at.radio(key="scene_source").set_value("Upload").run()
    at.file_uploader(key="scene_upload").set_value(("mine.tif", geotiff_bytes(), "image/tiff")).run()
    assert not at.exception
    (folder,) = set(root.iterdir()) - before
    for _ in range(3):  # reruns (each with a new script runner) keep it
        at.run()
        gc.collect()
    assert any(folder.iterdir())
    del at  # the session is dropped
    gc.collect()
    assert not folder.exists()
