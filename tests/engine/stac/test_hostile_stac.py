"""The hostile-input corpus against the engine under a hosted policy, on loopback only.

The catalog server's origin is the only one allowed; a second loopback server on another port
stands in for the server's internal network and counts every request it gets: each case must
be refused with one clear line before that server (or a local file) is touched.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ocm_engine import netpolicy
from ocm_engine.checked_http import checked_session, get_limited
from ocm_engine.errors import AssetReadError, PolicyError, WindowError
from ocm_engine.netpolicy import NetPolicy
from ocm_engine.stac import fetch_item, read_item_window, search_items
from tests.helpers.stac_corpus import COLLECTION, Site, band_asset, make_item, png_bytes
from tests.helpers.stac_server import StacServer

pytest_plugins = ("tests.helpers.stac_fixtures",)


@pytest.fixture
def internal() -> Iterator[StacServer]:
    """The "internal" target: a loopback server the policy must never reach."""
    with StacServer() as server:
        server.add_json("/secret.json", {"type": "Catalog", "id": "secret", "links": []})
        server.add_bytes("/secret.tif", b"II*\x00secret", "image/tiff")
        server.add_bytes("/thumb.png", png_bytes(), "image/png")
        yield server


@pytest.fixture
def policy(stac_site: Site) -> NetPolicy:
    return NetPolicy.hosted_default([stac_site.server.root])


def _assets(site: Site, nir_href: str) -> dict[str, Any]:
    assets = {r: band_asset(site.server.url(f"/data/good/{r}.tif"), r) for r in ("red", "green", "blue")}
    assets["nir"] = band_asset(nir_href, "nir")
    return assets


def _refused(call: Any, *needles: str) -> PolicyError:
    """The refusal ``call`` raises; ``needles``: words of what arrived (the kind of target or address)."""
    with pytest.raises(PolicyError) as caught:
        call()
    err = caught.value
    assert err.subject.startswith(("URL ", "Path ")) and err.expected
    assert "\n" not in str(err)
    for needle in needles:
        assert needle in str(err.arrived)
    return err


def test_the_allowed_catalog_still_works(stac_site: Site, policy: NetPolicy) -> None:
    found = search_items(stac_site.api_url, COLLECTION, bbox=tuple(stac_site.bbox), policy=policy)  # type: ignore[arg-type]
    assert found
    image, _ = read_item_window(found[0].item, bbox=tuple(stac_site.window()), policy=policy)  # type: ignore[arg-type]
    trusted, _ = read_item_window(found[0].item, bbox=tuple(stac_site.window()))  # type: ignore[arg-type]
    assert image.shape == trusted.shape and (image == trusted).all()  # same pixels through the checked layer


@pytest.mark.parametrize("kind", ["path", "file_url"])
def test_local_catalogs_are_refused(tmp_path: Path, policy: NetPolicy, kind: str) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(json.dumps({"type": "Catalog", "id": "x", "stac_version": "1.0.0", "description": "d",
                                   "links": []}))
    target = str(catalog) if kind == "path" else catalog.as_uri()
    _refused(lambda: search_items(target, None, policy=policy), "local file")
    _refused(lambda: fetch_item(target, policy=policy), "local file")


def test_catalog_on_an_internal_server_is_refused(internal: StacServer, policy: NetPolicy) -> None:
    _refused(lambda: search_items(internal.url("/secret.json"), None, policy=policy), "loopback")
    _refused(lambda: fetch_item(internal.url("/secret.json"), policy=policy), "loopback")
    assert internal.requests == []


def test_catalog_redirecting_to_an_internal_server_is_refused(stac_site: Site, internal: StacServer,
                                                              policy: NetPolicy) -> None:
    hop = stac_site.server.add_redirect("/api-moved", internal.url("/secret.json"))
    _refused(lambda: search_items(hop, None, policy=policy), "loopback")
    _refused(lambda: fetch_item(hop, policy=policy), "loopback")
    assert internal.requests == []


def test_static_catalog_link_to_an_internal_server_is_refused(stac_site: Site, internal: StacServer,
                                                              policy: NetPolicy) -> None:
    url = stac_site.server.add_json("/evil/catalog.json", {
        "type": "Catalog", "id": "evil", "stac_version": "1.0.0", "description": "links inside",
        "links": [{"rel": "root", "href": "./catalog.json"}, {"rel": "child", "href": internal.url("/secret.json")}],
    })
    _refused(lambda: search_items(url, None, policy=policy), "loopback")
    assert internal.requests == []


def test_static_catalog_link_to_a_local_file_is_refused(stac_site: Site, tmp_path: Path, policy: NetPolicy) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text("{}")
    url = stac_site.server.add_json("/evil2/catalog.json", {
        "type": "Catalog", "id": "evil", "stac_version": "1.0.0", "description": "links a file",
        "links": [{"rel": "root", "href": "./catalog.json"}, {"rel": "child", "href": str(secret)}],
    })
    _refused(lambda: search_items(url, None, policy=policy), "local file")


@pytest.mark.parametrize("where", ["local_path", "file_url", "vsi_path", "internal", "redirect"])
def test_item_assets_pointing_inside_are_refused(stac_site: Site, internal: StacServer, policy: NetPolicy,
                                                 tmp_path: Path, where: str) -> None:
    local = tmp_path / "nir.tif"
    local.write_bytes(b"II*\x00")
    href = {
        "local_path": str(local),
        "file_url": local.as_uri(),
        "vsi_path": "/vsicurl/" + internal.url("/secret.tif"),
        "internal": internal.url("/secret.tif"),
        "redirect": stac_site.server.add_redirect("/data/moved/nir.tif", internal.url("/secret.tif")),
    }[where]
    item = make_item("EVIL", _assets(stac_site, href), stac_site.bbox, cloud=1.0)
    stac_site.server.reset_counts()
    _refused(lambda: read_item_window(item, bbox=tuple(stac_site.window()), policy=policy))  # type: ignore[arg-type]
    assert internal.requests == []
    if where != "redirect":  # every href is checked before the first request
        assert stac_site.server.requests == []


def test_a_name_resolving_to_loopback_is_refused(monkeypatch: pytest.MonkeyPatch, internal: StacServer,
                                                 policy: NetPolicy) -> None:
    port = internal.root.rsplit(":", 1)[1]
    monkeypatch.setattr(netpolicy, "system_resolver", lambda host, port: ["127.0.0.1"])
    url = f"http://catalog.example.org:{port}/secret.json"
    _refused(lambda: search_items(url, None, policy=policy), "catalog.example.org resolves to 127.0.0.1")
    _refused(lambda: get_limited(checked_session(policy), url, max_bytes=1000, timeout_s=2), "loopback")
    assert internal.requests == []


def test_connections_are_pinned_to_the_checked_address(monkeypatch: pytest.MonkeyPatch, stac_site: Site) -> None:
    """A name the system cannot resolve works once checked: the request went to the checked address."""
    port = int(stac_site.server.root.rsplit(":", 1)[1])
    asked: list[str] = []

    def resolve(host: str, _port: int) -> Sequence[str]:
        asked.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(netpolicy, "system_resolver", resolve)
    policy = NetPolicy.hosted_default([f"http://pinned.invalid:{port}"])
    body = get_limited(checked_session(policy), f"http://pinned.invalid:{port}/data/good/thumb.png",
                       max_bytes=100_000, timeout_s=5)
    assert body == png_bytes() and asked == ["pinned.invalid"]


def test_thumbnail_on_an_internal_server_is_refused(internal: StacServer, policy: NetPolicy) -> None:
    _refused(lambda: get_limited(checked_session(policy), internal.url("/thumb.png"), max_bytes=10_000,
                                 timeout_s=2), "loopback")
    assert internal.requests == []


def test_oversized_bodies_are_cut_off(stac_site: Site, policy: NetPolicy) -> None:
    url = stac_site.server.add_bytes("/big.bin", b"x" * 50_000)
    with pytest.raises(PolicyError) as caught:
        get_limited(checked_session(policy), url, max_bytes=10_000, timeout_s=5)
    assert (caught.value.subject, caught.value.expected) == (f"Response of {url}", "at most 10,000 bytes")


def test_window_size_is_checked_before_pixels_are_fetched(stac_site: Site) -> None:
    """Only the assets' headers are read before the size check (GDAL's range reads, trusted path)."""
    item = stac_site.items["S2A_GOOD"]
    stac_site.server.reset_counts()
    with pytest.raises(WindowError) as too_large:
        read_item_window(item, bbox=tuple(stac_site.window()), max_pixels=100)  # type: ignore[arg-type]
    assert too_large.value.expected == "at most 100 px" and "--bbox" in too_large.value.hint("cli")
    refused = sum(n for path, n in stac_site.server.bytes_sent.items() if path.startswith("/data/good/"))
    stac_site.server.reset_counts()
    read_item_window(item, bbox=tuple(stac_site.window()))  # type: ignore[arg-type]
    read = sum(n for path, n in stac_site.server.bytes_sent.items() if path.startswith("/data/good/"))
    assert 0 < refused < read  # the refused window fetched the headers, never the tiles


def test_a_vrt_asset_pointing_inside_is_not_opened_as_a_vrt(stac_site: Site, internal: StacServer,
                                                          policy: NetPolicy) -> None:
    vrt = (f'<VRTDataset rasterXSize="160" rasterYSize="160"><SRS>EPSG:32633</SRS><VRTRasterBand dataType="UInt16" '
           f'band="1"><SimpleSource><SourceFilename>/vsicurl/{internal.url("/secret.tif")}</SourceFilename>'
           '<SourceBand>1</SourceBand></SimpleSource></VRTRasterBand></VRTDataset>')
    href = stac_site.server.add_bytes("/data/evil/nir.vrt", vrt.encode(), "application/xml")
    item = make_item("EVIL_VRT", _assets(stac_site, href), stac_site.bbox, cloud=1.0)
    with pytest.raises(AssetReadError) as refused:  # GTiff and JPEG 2000 only: a VRT does not open
        read_item_window(item, bbox=tuple(stac_site.window()), policy=policy)  # type: ignore[arg-type]
    assert refused.value.url == href
    assert internal.requests == []


def test_a_missing_asset_read_through_the_checked_layer_says_404(stac_site: Site, policy: NetPolicy) -> None:
    """GDAL hides the range request's failure; the checked layer keeps it, so the status survives."""
    item = fetch_item(stac_site.item_url("S2A_MISSING"), policy=policy)
    with pytest.raises(AssetReadError) as missing:
        read_item_window(item, policy=policy, timeout_s=2)
    assert (missing.value.status, missing.value.kind) == (404, "status")
    assert missing.value.url.endswith("/data/gone/nir.tif")
