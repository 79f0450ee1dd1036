"""A loopback STAC world for tests: COGs, items, a STAC API and a static catalog, good and bad.

Built in ``tmp_path`` by the tests and served by :class:`tests.helpers.stac_server.StacServer`; nothing
is committed. The API looks like Earth Search's ``sentinel-2-l2a``: one single-band COG per
band (``red``, ``green``, ``nir``, ``blue`` with ``eo:bands`` common names), a ``thumbnail``
asset, ``eo:cloud_cover`` and ``platform``; items at ``/collections/C/items/ID``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds

from tests.helpers.stac_server import StacServer

COLLECTION = "sentinel-2-l2a"
CRS = "EPSG:32633"
ORIGIN = (399960.0, 5800020.0)  # UTM 33N, near 52.3 N 13.5 E
COG_MEDIA = "image/tiff; application=geotiff; profile=cloud-optimized"
BAND_NAMES = {"red": "B04", "green": "B03", "nir": "B08", "blue": "B02", "nir08": "B8A"}


def scene_band(size: int, band: int, seed: int = 0, noise: int = 0) -> np.ndarray:
    """A smooth uint16 band with a bright blob (a cloud); large sizes tile a 512 px pattern (cheap)."""
    if size > 512:  # texture like real imagery (tiles compress like real ones) at the cost of a 512 px band
        reps = -(-size // 512)
        return np.tile(scene_band(512, band, seed, noise), (reps, reps))[:size, :size]
    x = np.linspace(0, 8 * np.pi, size, dtype=np.float32)
    base = 1200 + 300 * np.outer(np.cos(x / 3 + band), np.sin(x / 2))
    g = np.exp(-((np.linspace(-1.5, 1.5, size, dtype=np.float32) + 0.3 * band / 4) ** 2) * 4)
    img = base + 6000 * np.outer(g, g[::-1])
    if noise:
        img += np.random.default_rng(seed + band).integers(0, noise, size=(size, size)).astype(np.float32)
    return np.clip(img, 1, 65535).astype(np.uint16)


def write_raster(path: Path, bands: Sequence[np.ndarray], *, cog: bool = True, res: float = 10.0,
                 origin: tuple[float, float] = ORIGIN, crs: str = CRS, nodata: float | None = 0,
                 blocksize: int = 256, compress: str = "deflate") -> Path:
    """Write bands as a COG (COG driver: tiled, overviews) or a striped plain GeoTIFF."""
    stack = np.stack(list(bands))
    profile: dict[str, Any] = dict(width=stack.shape[2], height=stack.shape[1], count=stack.shape[0],
                                   dtype=str(stack.dtype), crs=crs, transform=from_origin(*origin, res, res),
                                   nodata=nodata)
    if cog:
        profile.update(driver="COG", blocksize=blocksize, compress=compress, overview_resampling="average")
    else:
        profile.update(driver="GTiff", tiled=False)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(stack)
    return path


def inner_lonlat_bbox(left: float, bottom: float, right: float, top: float, crs: str = CRS) -> list[float]:
    """The largest lon/lat box inside a projected box (so reading it back stays inside that box)."""
    from rasterio.warp import transform

    lons, lats = transform(crs, "EPSG:4326", [left, left, right, right], [bottom, top, bottom, top])
    return [max(lons[0], lons[1]), max(lats[0], lats[2]), min(lons[2], lons[3]), min(lats[1], lats[3])]


def lonlat_bbox(size_px: int, res: float = 10.0, origin: tuple[float, float] = ORIGIN) -> list[float]:
    """The lon/lat bounds of a raster of ``size_px`` pixels at ``origin``."""
    left, top = origin
    return list(transform_bounds(CRS, "EPSG:4326", left, top - size_px * res, left + size_px * res, top))


def band_asset(href: str, name: str, *, multi: Sequence[str] | None = None) -> dict[str, Any]:
    """An asset dict with ``eo:bands`` (one band, or ``multi`` common names)."""
    names = list(multi) if multi else [name]
    return {"href": href, "type": COG_MEDIA, "roles": ["data"],
            "eo:bands": [{"name": BAND_NAMES.get(n, n), "common_name": n} for n in names],
            "raster:bands": [{"nodata": 0, "data_type": "uint16"} for _ in names]}


def make_item(item_id: str, assets: dict[str, dict[str, Any]], bbox: Sequence[float], *,
              collection: str = COLLECTION, date: str = "2024-06-15T10:20:30Z", cloud: float = 20.0,
              platform: str = "sentinel-2a", self_href: str | None = None) -> dict[str, Any]:
    """A STAC Item dict."""
    w, s, e, n = bbox
    links = [{"rel": "self", "href": self_href}] if self_href else []
    return {
        "type": "Feature", "stac_version": "1.0.0", "id": item_id, "collection": collection,
        "stac_extensions": ["https://stac-extensions.github.io/eo/v1.1.0/schema.json"],
        "bbox": [w, s, e, n],
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]},
        "properties": {"datetime": date, "eo:cloud_cover": cloud, "platform": platform},
        "assets": assets, "links": links,
    }


def png_bytes(size: int = 32) -> bytes:
    """A small PNG thumbnail."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((size, size, 3), 180, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


@dataclass
class Site:
    """A served STAC world."""

    server: StacServer
    api_url: str
    static_url: str
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    bbox: list[float] = field(default_factory=list)
    size_px: int = 0

    def item_url(self, item_id: str, collection: str = COLLECTION) -> str:
        """The URL of an item served by the API."""
        return self.server.url(f"/collections/{collection}/items/{item_id}")

    def window(self, fraction: float = 0.5) -> list[float]:
        """A lon/lat bbox of the central ``fraction`` of the scene."""
        w, s, e, n = self.bbox
        dx, dy = (e - w) * (1 - fraction) / 2, (n - s) * (1 - fraction) / 2
        return [w + dx, s + dy, e - dx, n - dy]


def add_item(server: StacServer, item: dict[str, Any], collection: str = COLLECTION) -> str:
    """Serve an item at ``/collections/C/items/ID`` with a self link; returns its URL."""
    path = f"/collections/{collection}/items/{item['id']}"
    item["links"] = [{"rel": "self", "href": server.url(path)},
                     {"rel": "collection", "href": server.url(f"/collections/{collection}")}]
    return server.add_json(path, item)


def build_site(server: StacServer, folder: Path, *, size_px: int = 160) -> Site:
    """The standard loopback world: a STAC API and a static catalog over the same COGs.

    Items (collection ``sentinel-2-l2a``): ``S2A_GOOD`` (clean, 20 % cloud, thumbnail),
    ``S2B_CLOUDY`` (80 % cloud), ``S2A_NO_NIR`` (no NIR asset), ``S2A_MISSING`` (NIR asset
    404s), ``S2A_PLAIN`` (striped, non-COG GeoTIFFs), and ``S2A_SLOW`` (NIR asset answers late).
    """
    folder.mkdir(parents=True, exist_ok=True)
    bbox = lonlat_bbox(size_px)
    hrefs: dict[str, str] = {}
    for i, role in enumerate(("red", "green", "nir", "blue")):
        path = write_raster(folder / f"{role}.tif", [scene_band(size_px, i)], blocksize=128)
        hrefs[role] = server.add_file(f"/data/good/{role}.tif", path)
        plain = write_raster(folder / f"{role}_plain.tif", [scene_band(size_px, i)], cog=False)
        server.add_file(f"/data/plain/{role}.tif", plain)
        server.add_file(f"/data/slow/{role}.tif", path, delay_s=3.0 if role == "nir" else 0.0)
    thumb = server.add_bytes("/data/good/thumb.png", png_bytes(), "image/png")

    def assets(prefix: str, roles: Sequence[str] = ("red", "green", "nir", "blue")) -> dict[str, Any]:
        found = {r: band_asset(server.url(f"/data/{prefix}/{r}.tif"), r) for r in roles}
        return found

    good = assets("good")
    good["thumbnail"] = {"href": thumb, "type": "image/png", "roles": ["thumbnail"]}
    items = {
        "S2A_GOOD": make_item("S2A_GOOD", good, bbox, cloud=20.0, date="2024-06-15T10:20:30Z"),
        "S2B_CLOUDY": make_item("S2B_CLOUDY", assets("good"), bbox, cloud=80.0, platform="sentinel-2b",
                                date="2024-06-18T10:20:30Z"),
        "S2A_NO_NIR": make_item("S2A_NO_NIR", assets("good", ("red", "green", "blue")), bbox, cloud=5.0,
                                date="2024-06-20T10:20:30Z"),
        "S2A_MISSING": make_item("S2A_MISSING", {**assets("good"), "nir": band_asset(
            server.url("/data/gone/nir.tif"), "nir")}, bbox, cloud=10.0, date="2024-06-22T10:20:30Z"),
        "S2A_PLAIN": make_item("S2A_PLAIN", assets("plain"), bbox, cloud=15.0, date="2024-06-24T10:20:30Z"),
        "S2A_SLOW": make_item("S2A_SLOW", assets("slow"), bbox, cloud=12.0, date="2024-06-26T10:20:30Z"),
    }
    for item in items.values():
        add_item(server, item)
    root = server.url("/api")
    server.add_json("/api", {
        "type": "Catalog", "id": "loopback", "stac_version": "1.0.0", "description": "Loopback STAC API",
        "conformsTo": ["https://api.stacspec.org/v1.0.0/core", "https://api.stacspec.org/v1.0.0/item-search",
                       "https://api.stacspec.org/v1.0.0/item-search#query"],
        "links": [{"rel": "self", "href": root, "type": "application/json"},
                  {"rel": "root", "href": root, "type": "application/json"},
                  {"rel": "search", "href": server.url("/search"), "type": "application/geo+json",
                   "method": "GET"},
                  {"rel": "search", "href": server.url("/search"), "type": "application/geo+json",
                   "method": "POST"}],
    })
    static = _static_catalog(server, {k: items[k] for k in ("S2A_GOOD", "S2B_CLOUDY")})
    return Site(server, root, static, items, bbox, size_px)


def _static_catalog(server: StacServer, items: dict[str, dict[str, Any]]) -> str:
    """A static catalog (no API): catalog.json -> collection.json -> items/ID.json, relative links."""
    server.add_json("/static/catalog.json", {
        "type": "Catalog", "id": "static", "stac_version": "1.0.0", "description": "Static loopback catalog",
        "links": [{"rel": "root", "href": "./catalog.json"},
                  {"rel": "child", "href": "./s2/collection.json"}],
    })
    server.add_json("/static/s2/collection.json", {
        "type": "Collection", "id": COLLECTION, "stac_version": "1.0.0", "description": "S2", "license": "proprietary",
        "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}},
        "links": [{"rel": "root", "href": "../catalog.json"}, {"rel": "parent", "href": "../catalog.json"}]
        + [{"rel": "item", "href": f"./items/{i}.json"} for i in items],
    })
    for item_id, item in items.items():
        doc = dict(item, links=[{"rel": "root", "href": "../../catalog.json"},
                                {"rel": "parent", "href": "../collection.json"}])
        server.add_json(f"/static/s2/items/{item_id}.json", doc)
    return server.url("/static/catalog.json")


if __name__ == "__main__":  # serve the loopback world by hand: python -m tests.helpers.stac_corpus [--size PX]
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description="Serve the test STAC world on 127.0.0.1 until Ctrl-C.")
    parser.add_argument("--size", type=int, default=512, help="side of the band COGs in pixels")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, StacServer() as srv:
        site = build_site(srv, Path(tmp), size_px=options.size)
        print(f"API      {site.api_url}\nstatic   {site.static_url}\nbbox     {','.join(f'{v:.5f}' for v in site.bbox)}"
              f"\nwindow   {','.join(f'{v:.5f}' for v in site.window(0.5))}\nitem     {site.item_url('S2A_GOOD')}",
              flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
