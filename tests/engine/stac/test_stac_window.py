"""ocm_engine.stac.window: windowed reads of COGs over HTTP range requests from the loopback server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import from_bounds

from ocm_engine.errors import AssetReadError, NotCogWarning, ResolutionError, StacBandError, WindowError
from ocm_engine.stac import fetch_item, plan_window, read_item_window
from ocm_engine.stac.catalogs import CatalogPreset
from tests.helpers.stac_corpus import (
    ORIGIN,
    Site,
    add_item,
    band_asset,
    inner_lonlat_bbox,
    lonlat_bbox,
    make_item,
    scene_band,
    write_raster,
)
from tests.helpers.stac_server import StacServer

pytest_plugins = ("tests.helpers.stac_fixtures",)

BIG_PX = 4096
WINDOW_PX = 256


def test_window_matches_a_local_read(stac_site: Site, tmp_path: Path) -> None:
    item = fetch_item(stac_site.item_url("S2A_GOOD"))
    image, window = read_item_window(item, bbox=tuple(stac_site.window(0.5)), resolution_m=10)
    assert image.shape == (4, window.height, window.width) and window.has_blue
    assert 70 <= window.width <= 100 and window.resolution_m == 10
    with rasterio.open(tmp_path / "cogs" / "red.tif") as ds:
        win = from_bounds(*window.bounds, transform=ds.transform)
        local = ds.read(1, window=win, boundless=True).astype(np.float32)
    np.testing.assert_array_equal(image[0], local)


def test_coarser_resolution_is_averaged(stac_site: Site) -> None:
    item = fetch_item(stac_site.item_url("S2A_GOOD"))
    fine, _ = read_item_window(item, bbox=tuple(stac_site.window(0.5)), resolution_m=10)
    coarse, _ = read_item_window(item, bbox=tuple(stac_site.window(0.5)), resolution_m=20)
    assert coarse.shape[1] == pytest.approx(fine.shape[1] / 2, abs=1)
    assert abs(float(coarse[0].mean()) - float(fine[0].mean())) < 0.02 * float(fine[0].mean())
    with pytest.raises(ResolutionError) as finer:
        plan_window(item, bbox=tuple(stac_site.window(0.5)), resolution_m=5)
    assert (finer.value.reason, finer.value.asked_m, finer.value.source_m) == ("upsample", 5.0, 10.0)


def test_bbox_outside_the_item(stac_site: Site) -> None:
    item = fetch_item(stac_site.item_url("S2A_GOOD"))
    _, _, e, n = stac_site.bbox
    with pytest.raises(WindowError) as info:
        plan_window(item, bbox=(e + 1, n + 1, e + 2, n + 2))
    assert (info.value.subject, info.value.arrived) == (
        "Bbox on item 'S2A_GOOD'", tuple(round(v, 5) for v in (e + 1, n + 1, e + 2, n + 2)))


def test_missing_band_raises_before_any_raster_read(stac_site: Site) -> None:
    stac_site.server.reset_counts()
    with pytest.raises(StacBandError) as info:
        plan_window(fetch_item(stac_site.item_url("S2A_NO_NIR")))
    assert (info.value.item_id, info.value.missing) == ("S2A_NO_NIR", ("nir",))
    assert "--stac-assets" in info.value.hint("cli") and "--" not in info.value.describe("app")
    assert not any(p.endswith(".tif") for _, p, _ in stac_site.server.requests)


def test_404_asset_is_a_clear_error_within_seconds(stac_site: Site) -> None:
    item = fetch_item(stac_site.item_url("S2A_MISSING"))
    start = time.perf_counter()
    with pytest.raises(AssetReadError) as info:
        plan_window(item, timeout_s=2)
    assert (info.value.status, info.value.kind) == (404, "status") and info.value.url.endswith("/data/gone/nir.tif")
    assert isinstance(info.value, OSError) and info.value.subject == f"Asset {info.value.url}"
    assert info.value.arrived == "HTTP 404 Not Found"
    assert time.perf_counter() - start < 5


def test_403_says_the_signature_expired(stac_site: Site) -> None:
    stac_site.server.add_status("/data/expired/red.tif", 403)
    item = fetch_item(stac_site.item_url("S2A_GOOD"))
    item["assets"]["red"]["href"] = stac_site.server.url("/data/expired/red.tif") + "?se=2020-01-01&sig=abc"
    with pytest.raises(AssetReadError) as info:
        plan_window(item, timeout_s=2)
    assert (info.value.status, info.value.kind) == (403, "status") and "sig=abc" not in info.value.url
    assert "signature" in info.value.hint("app")  # the likely cause of a 403 on a signed href
    assert "sig=abc" not in str(info.value)  # secrets stay out of messages


@pytest.mark.slow  # moved out of the default set (its 60 s budget); CI runs the slow set too
def test_asset_that_times_out(stac_site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ocm_engine.stac.http.DEFAULT_MAX_RETRY", 0)
    item = fetch_item(stac_site.item_url("S2A_SLOW"))
    start = time.perf_counter()
    with pytest.raises(AssetReadError) as info:
        plan_window(item, timeout_s=1)
    assert info.value.kind == "timeout" and info.value.status is None
    assert time.perf_counter() - start < 5


def test_non_cog_asset_works_but_warns(stac_site: Site) -> None:
    item = fetch_item(stac_site.item_url("S2A_PLAIN"))
    with pytest.warns(NotCogWarning, match="red, green, nir, blue of item .S2A_PLAIN. are not cloud-optimised"):
        image, _ = read_item_window(item, bbox=tuple(stac_site.window(0.5)))
    assert image.shape[0] == 4 and float(image[0].max()) > 0


def test_signing_failure_is_a_clear_error(stac_site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    planetary_computer = pytest.importorskip("planetary_computer")

    def sign(href: str) -> str:
        raise ConnectionError("token service unreachable")

    monkeypatch.setattr(planetary_computer, "sign", sign)
    preset = CatalogPreset("pc_test", "signed test", stac_site.api_url, "sentinel-2-l2a", "red", "green", "nir",
                           signer="planetary_computer")
    with pytest.raises(AssetReadError) as info:
        plan_window(fetch_item(stac_site.item_url("S2A_GOOD")), preset=preset)
    assert info.value.subject.startswith("Signature for http") and info.value.kind == "other"
    assert "token service unreachable" in str(info.value.arrived) and isinstance(info.value.__cause__, ConnectionError)


def test_signed_catalog_signs_hrefs_lazily(stac_site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    planetary_computer = pytest.importorskip("planetary_computer")
    signed: list[str] = []

    def sign(href: str) -> str:
        signed.append(href)
        return href + "?sv=2024&sig=token"

    monkeypatch.setattr(planetary_computer, "sign", sign)
    preset = CatalogPreset("pc_test", "signed test", stac_site.api_url, "sentinel-2-l2a", "red", "green", "nir",
                           "blue", signer="planetary_computer")
    window = plan_window(fetch_item(stac_site.item_url("S2A_GOOD")), preset=preset)
    assert len(signed) == 4 and all(s.path.endswith("?sv=2024&sig=token") for s in window.sources)


@pytest.fixture(scope="module")
def big_cog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4096 x 4096, 3-band uint16 COG (256 px tiles, zstd, overviews), textured like imagery."""
    folder = tmp_path_factory.mktemp("big")
    return write_raster(folder / "big.tif", [scene_band(BIG_PX, i, noise=64) for i in range(3)], blocksize=256,
                        compress="zstd")


@pytest.fixture
def big_site(stac_server: StacServer, big_cog: Path) -> Iterator[tuple[StacServer, dict[str, object]]]:
    href = stac_server.add_file("/data/big.tif", big_cog)
    item = make_item("BIG", {"data": band_asset(href, "", multi=["red", "green", "nir"])}, lonlat_bbox(BIG_PX))
    add_item(stac_server, item)
    yield stac_server, item


@pytest.mark.slow  # moved out of the default set (its 60 s budget); CI runs the slow set too
def test_small_window_reads_a_small_part_of_a_large_cog(big_site: tuple[StacServer, dict[str, object]],
                                                         big_cog: Path) -> None:
    server, item = big_site
    left, top = ORIGIN
    centre_x, centre_y = left + BIG_PX * 10 / 2, top - BIG_PX * 10 / 2
    half = WINDOW_PX * 10 / 2
    bbox = inner_lonlat_bbox(centre_x - half, centre_y - half, centre_x + half, centre_y + half)
    server.reset_counts()
    image, window = read_item_window(fetch_item(server.url("/collections/sentinel-2-l2a/items/BIG")),
                                     bbox=tuple(bbox), resolution_m=10)
    served = server.served("/data/big.tif")
    size = big_cog.stat().st_size
    ranges = sum(1 for _, p, r in server.requests if p == "/data/big.tif" and r)
    print(f"\nwindow {window.width}x{window.height} px of a {BIG_PX}x{BIG_PX} 3-band uint16 COG: "
          f"{served:,} bytes served in {ranges} range requests of a {size:,}-byte file "
          f"({100 * served / size:.2f} %)")
    assert image.shape == (3, window.height, window.width) and window.width <= WINDOW_PX + 2
    assert float(image.min()) > 0
    assert served < 0.03 * size
    # a coarse read of the whole scene comes from an overview, not from the full-resolution tiles
    server.reset_counts()
    overview, _ = read_item_window(item, resolution_m=40)  # type: ignore[arg-type]
    coarse = server.served("/data/big.tif")
    print(f"whole scene at 40 m ({BIG_PX // 4} px, from the 1:4 overview): {coarse:,} bytes "
          f"({100 * coarse / size:.2f} %)")
    assert overview.shape == (3, BIG_PX // 4, BIG_PX // 4)
    assert coarse < 0.15 * size
