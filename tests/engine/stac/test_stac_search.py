"""ocm_engine.stac.search against a real loopback STAC API and static catalog."""

from __future__ import annotations

import socket
import time
from typing import Any

import pytest

from ocm_engine.errors import CatalogError, WindowError
from ocm_engine.stac import fetch_item, find_preset, parse_bbox, parse_dates, parse_point, point_bbox, search_items
from ocm_engine.stac.catalogs import EARTH_SEARCH_URL, PLANETARY_COMPUTER_URL
from tests.helpers.stac_corpus import COLLECTION, Site
from tests.helpers.stac_server import StacServer

pytest_plugins = ("tests.helpers.stac_fixtures",)


def test_api_search_filters_by_place_dates_and_cloud(stac_site: Site) -> None:
    found = search_items(stac_site.api_url, COLLECTION, bbox=tuple(stac_site.window()),
                         dates="2024-06-01/2024-06-21", max_cloud_percent=50)
    assert [i.id for i in found] == ["S2A_GOOD", "S2A_NO_NIR"]  # S2B_CLOUDY: 80 %; later ones: dates
    good = found[0]
    assert (good.date, good.cloud_percent, good.platform) == ("2024-06-15", 20.0, "sentinel-2a")
    assert good.thumbnail_href and good.thumbnail_href.endswith("/thumb.png")
    assert good.self_href == stac_site.item_url("S2A_GOOD")
    # the server got a real search request with the query extension
    assert any(path == "/search" for _, path, _ in stac_site.server.requests)


def test_api_search_by_point_and_limit(stac_site: Site) -> None:
    w, s, e, n = stac_site.bbox
    found = search_items(stac_site.api_url, COLLECTION, point=((w + e) / 2, (s + n) / 2), limit=2)
    assert len(found) == 2
    outside = search_items(stac_site.api_url, COLLECTION, bbox=(w - 2, s - 2, w - 1, s - 1))
    assert outside == []


def test_server_ignoring_the_cloud_query_is_filtered_here(stac_site: Site) -> None:
    stac_site.server.search_handler = lambda params: {
        "type": "FeatureCollection", "features": stac_site.server.items(), "links": []}
    found = search_items(stac_site.api_url, COLLECTION, max_cloud_percent=50)
    assert "S2B_CLOUDY" not in {i.id for i in found}


def test_static_catalog_is_walked_and_filtered(stac_site: Site) -> None:
    found = search_items(stac_site.static_url, COLLECTION, bbox=tuple(stac_site.window()), max_cloud_percent=50)
    assert [i.id for i in found] == ["S2A_GOOD"]
    assert found[0].item["assets"]["red"]["href"].startswith(stac_site.server.root)


def test_malformed_json_catalog(stac_server: StacServer) -> None:
    url = stac_server.add_bytes("/broken", b'{"type": "Catalog", "links": [', "application/json")
    with pytest.raises(CatalogError) as info:
        search_items(url, COLLECTION)
    assert (info.value.subject, info.value.status) == (f"Catalog {url}", None)
    assert info.value.expected == "a STAC API or a static catalog's root"


def test_search_answer_not_json(stac_site: Site) -> None:
    stac_site.server.add_bytes("/search", b"<html>oops</html>", "text/html")
    with pytest.raises(CatalogError) as info:
        search_items(stac_site.api_url, COLLECTION)
    assert info.value.subject == f"Catalog {stac_site.api_url}" and info.value.status is None


def test_search_server_error(stac_site: Site) -> None:
    stac_site.server.add_status("/search", 500)
    with pytest.raises(CatalogError) as info:
        search_items(stac_site.api_url, COLLECTION)
    assert (info.value.status, info.value.kind) == (500, "status")


@pytest.mark.slow  # moved out of the default set (its 60 s budget); CI runs the slow set too
def test_catalog_that_does_not_answer_fails_within_seconds(stac_server: StacServer) -> None:
    url = stac_server.add_json("/slow", {"type": "Catalog"}, delay_s=5)
    start = time.perf_counter()
    with pytest.raises(CatalogError) as info:
        search_items(url, COLLECTION, timeout_s=0.5)
    assert info.value.kind == "timeout" and info.value.status is None
    assert time.perf_counter() - start < 4


def test_no_server_listening() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.perf_counter()
    with pytest.raises(CatalogError) as info:
        search_items(f"http://127.0.0.1:{port}/api", COLLECTION, timeout_s=1)
    assert info.value.kind in ("refused", "timeout") and str(port) in info.value.url
    assert time.perf_counter() - start < 5


def test_fetch_item_by_url_id_and_file(stac_site: Site, tmp_path) -> None:  # type: ignore[no-untyped-def]
    by_url = fetch_item(stac_site.item_url("S2A_GOOD"))
    by_id = fetch_item("S2A_GOOD", catalog_url=stac_site.api_url.removesuffix("/api"), collection=COLLECTION)
    assert by_url["id"] == by_id["id"] == "S2A_GOOD"
    import json

    local = tmp_path / "item.json"
    doc = dict(by_url)
    doc["assets"] = {"red": {"href": "bands/red.tif"}}
    local.write_text(json.dumps(doc))
    assert fetch_item(str(local))["assets"]["red"]["href"] == str(tmp_path / "bands" / "red.tif")


def test_fetch_item_errors(stac_site: Site) -> None:
    with pytest.raises(CatalogError) as missing:
        fetch_item(stac_site.item_url("NOPE"))
    assert (missing.value.status, missing.value.kind) == (404, "status")
    assert missing.value.url == stac_site.item_url("NOPE")
    with pytest.raises(CatalogError) as not_item:
        fetch_item(stac_site.api_url)
    assert (not_item.value.subject, not_item.value.url) == (f"Item {stac_site.api_url}", stac_site.api_url)
    assert not_item.value.arrived == "a JSON object of type 'Catalog'"
    with pytest.raises(CatalogError) as no_assets:
        fetch_item({"type": "Feature", "id": "X"})
    assert (no_assets.value.subject, no_assets.value.arrived) == ("Item 'X'", "a Feature without an 'assets' object")
    with pytest.raises(CatalogError) as bare_id:
        fetch_item("S2A_GOOD")
    assert bare_id.value.kind is None and bare_id.value.subject == "Item 'S2A_GOOD'"
    assert "--catalog" in bare_id.value.hint("cli") and "catalog_url=" in bare_id.value.hint("python")
    assert "--" not in bare_id.value.hint("app") and "=" not in bare_id.value.hint("app")


def test_parsers() -> None:
    assert parse_bbox("13.3,52.4,13.5,52.6") == (13.3, 52.4, 13.5, 52.6)
    assert parse_point("13.4 52.5") == (13.4, 52.5)
    start, stop = parse_dates("2024-06-01/2024-06-30")
    assert start is not None and stop is not None and stop.day == 30 and stop.hour == 23
    assert parse_dates("../2024-06-30")[0] is None
    with pytest.raises(WindowError) as backwards:
        parse_dates("2024-06-30/2024-06-01")
    assert backwards.value.subject == "Dates" and backwards.value.expected == "START before END"
    w, s, e, n = point_bbox(13.4, 52.5, 5000)
    assert 0.04 < n - s < 0.05 and e - w > n - s


@pytest.mark.parametrize(("parse", "text", "subject", "arrived"), [
    (parse_bbox, "13.5,52.4,13.3,52.6", "Bbox", (13.5, 52.4, 13.3, 52.6)),
    (parse_bbox, "1,2,3", "Bbox", "1,2,3"),
    (parse_bbox, "a,b,c,d", "Bbox", "a,b,c,d"),
    (parse_point, "200,10", "Point", "200,10"),
    (parse_dates, "2024-06-01/June", "Date 'June' of '2024-06-01/June'", "June"),
    (parse_dates, "a/b/c", "Dates", "a/b/c"),
])
def test_bad_places_and_dates_name_what_arrived(parse: Any, text: str, subject: str, arrived: object) -> None:
    with pytest.raises(WindowError) as refused:
        parse(text)
    assert isinstance(refused.value, ValueError)  # callers catching ValueError still do
    assert (refused.value.subject, refused.value.arrived) == (subject, arrived)


def test_presets_by_url_and_collection() -> None:
    assert find_preset(EARTH_SEARCH_URL, "sentinel-2-l2a").nir == "nir"  # type: ignore[union-attr]
    assert find_preset(EARTH_SEARCH_URL, "landsat-c2-l2").nir == "nir08"  # type: ignore[union-attr]
    pc = find_preset(PLANETARY_COMPUTER_URL, "sentinel-2-l2a")
    assert pc is not None and pc.signer == "planetary_computer" and pc.red == "B04"
    mirror = find_preset("http://127.0.0.1:9/api", "sentinel-2-l2a")
    assert mirror is not None and mirror.signer is None  # a mirror never signs
    assert find_preset(EARTH_SEARCH_URL, "unknown") is None
