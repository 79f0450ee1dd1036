"""Read only a window of an item's COGs, at the chosen resolution, over HTTP range requests.

:func:`plan_window` opens each band asset's header (a few KB: GDAL's ``/vsicurl/`` reads
the TIFF header and tile index by range requests), turns the lon/lat bbox into a window of
the Red asset's grid and fixes the output grid at the chosen resolution. The plan is a
GDAL VRT (:meth:`ItemWindow.vrt_xml`): every band is a source window of its own COG
resampled onto that grid. Reading the VRT at its size makes GDAL decimate the source
window, so it takes the COG's overview that matches the resolution and fetches only the
tiles under the window. Why a VRT and not an array: it is a path, so
:func:`ocm_engine.pipeline.predict_file`, ``ocm batch`` workers and the app open it like
any raster and read it block by block (``predict_item`` hands it to ``predict_file``, which reads
it through :func:`ocm_engine.read_scene`'s ``SceneReader``). A VRT also keeps what a list of
``(file, band)`` pairs cannot: band assets on different grids (Sentinel-2's 10 m and 20 m bands),
a source window in each asset's own pixels, per-source nodata, and signed hrefs.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.io import MemoryFile
from rasterio.transform import Affine, array_bounds
from rasterio.warp import transform_bounds
from rasterio.windows import from_bounds

from ocm_engine.checked_http import RangeOpener, checked_session
from ocm_engine.errors import (
    AssetReadError,
    BandMismatchError,
    Hints,
    NotCogWarning,
    PolicyError,
    WindowError,
    collect_warnings,
    emit,
    one_line,
)
from ocm_engine.netpolicy import NetPolicy, check
from ocm_engine.resolution import choose_resolution
from ocm_engine.stac.bands import BandAsset, asset_nodata, map_bands
from ocm_engine.stac.catalogs import CatalogPreset
from ocm_engine.stac.http import DEFAULT_TIMEOUT_S, asset_error, http_env
from ocm_engine.stac.search import BBox

#: GDAL drivers a hosted read may open an asset with: formats that cannot point at other files.
HOSTED_RASTER_DRIVERS = ("GTiff", "JP2OpenJPEG")
#: Largest window grid (pixels) planned; the pipeline reads it block by block.
MAX_WINDOW_PIXELS = 200_000_000
#: Rasters up to this size need neither tiles nor overviews to count as cloud-optimised.
_SMALL_PX = 1024
ROLES = ("red", "green", "nir", "blue")


@dataclass(frozen=True, slots=True)
class BandSource:
    """One band's remote raster, as its header describes it.

    Attributes:
        role: ``"red"``, ``"green"``, ``"nir"`` or ``"blue"``.
        asset: The item's asset for the band.
        path: The GDAL path opened (``/vsicurl/URL``, signed when the catalog needs it).
        width: Raster width in pixels.
        height: Raster height in pixels.
        transform: Affine transform of the raster.
        crs_wkt: CRS of the raster (WKT).
        nodata: Nodata value (the file's, else the asset's, else the preset's).
        cog: Whether it is cloud-optimised (tiled, with overviews when large).
    """

    role: str
    asset: BandAsset
    path: str
    width: int
    height: int
    transform: Affine
    crs_wkt: str
    nodata: float | None
    cog: bool


@dataclass(frozen=True, slots=True)
class ItemWindow:
    """The grid read from an item: a window at a resolution, and where each band comes from.

    Arrays read from it are ``(bands, height, width)`` in :data:`ROLES` order (Blue only when
    the item has it).

    Attributes:
        item_id: The item's id.
        crs_wkt: CRS of the grid (the Red asset's).
        transform: Affine transform of the grid.
        width: Grid width in pixels.
        height: Grid height in pixels.
        resolution_m: Pixel size of the grid in metres.
        source_resolution_m: Pixel size of the Red asset in metres.
        bbox: The window in lon/lat ``(west, south, east, north)`` (the requested one, clipped).
        nodata: Nodata value of the grid.
        sources: Red, Green, NIR and optionally Blue.
    """

    item_id: str
    crs_wkt: str
    transform: Affine
    width: int
    height: int
    resolution_m: float
    source_resolution_m: float
    bbox: BBox
    nodata: float
    sources: tuple[BandSource, ...]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of the grid in its CRS."""
        left, bottom, right, top = array_bounds(self.height, self.width, self.transform)
        return float(left), float(bottom), float(right), float(top)

    @property
    def has_blue(self) -> bool:
        """Whether band 4 (Blue) is present."""
        return len(self.sources) == 4

    def vrt_xml(self, paths: Mapping[str, str] | None = None) -> str:
        """The window as a GDAL VRT document (one band per source, Float32, average resampling).

        Args:
            paths: Source path -> the path written instead (the checked layer's registered files).
        """
        root = ET.Element("VRTDataset", rasterXSize=str(self.width), rasterYSize=str(self.height))
        ET.SubElement(root, "SRS", dataAxisToSRSAxisMapping="1,2").text = self.crs_wkt
        t = self.transform
        ET.SubElement(root, "GeoTransform").text = ", ".join(repr(float(v)) for v in (t.c, t.a, t.b, t.f, t.d, t.e))
        for index, src in enumerate(self.sources, start=1):
            band = ET.SubElement(root, "VRTRasterBand", dataType="Float32", band=str(index))
            ET.SubElement(band, "Description").text = f"{src.role} ({src.asset.key})"
            ET.SubElement(band, "NoDataValue").text = repr(float(self.nodata))
            source = ET.SubElement(band, "ComplexSource", resampling="average")
            ET.SubElement(source, "SourceFilename", relativeToVRT="0").text = (paths or {}).get(src.path, src.path)
            ET.SubElement(source, "SourceBand").text = str(src.asset.band)
            win = from_bounds(*self.bounds, transform=src.transform)
            ET.SubElement(source, "SrcRect", xOff=repr(float(win.col_off)), yOff=repr(float(win.row_off)),
                          xSize=repr(float(win.width)), ySize=repr(float(win.height)))
            ET.SubElement(source, "DstRect", xOff="0", yOff="0", xSize=str(self.width), ySize=str(self.height))
            if src.nodata is not None:
                ET.SubElement(source, "NODATA").text = repr(float(src.nodata))
        return ET.tostring(root, encoding="unicode")


def gdal_path(href: str) -> str:
    """The GDAL path of an href: ``/vsicurl/`` for http(s), ``/vsis3/`` for s3, local paths as they are."""
    if href.startswith(("http://", "https://")):
        return "/vsicurl/" + href
    if href.startswith("s3://"):
        return "/vsis3/" + href[len("s3://"):]
    if href.startswith("file://"):
        return href[len("file://"):]
    return href


def _sign(href: str, preset: CatalogPreset | None) -> str:
    if preset is None or preset.signer is None:
        return href
    import planetary_computer

    try:
        return str(planetary_computer.sign(href))
    except Exception as err:  # the token service: network errors, HTTP errors, bad answers
        unsigned = href.split("?", 1)[0]
        raise AssetReadError(
            f"Signature for {unsigned}", arrived=f"a failure of planetary-computer's signing "
            f"({type(err).__name__}: {one_line(err, limit=200)})", expected="a signed href",
            url=unsigned, kind="other", hints=Hints.same("Check the network, or set PC_SDK_SUBSCRIPTION_KEY."),
        ) from err


def _metres_per_unit(crs: CRS, lat: float) -> float:
    if crs.is_geographic:
        return 111_320.0 * max(math.cos(math.radians(lat)), 0.01)
    return float(crs.linear_units_factor[1])


def source_url(path: str) -> str:
    """The http(s) URL behind a ``/vsicurl/`` path (other paths as they are)."""
    return path.removeprefix("/vsicurl/")


@contextlib.contextmanager
def open_checked(path: str, policy: NetPolicy | None, timeout_s: float) -> Iterator[rasterio.DatasetReader]:
    """Open a source raster: as usual when trusted; through the checked HTTP layer under a hosted policy.

    Under a hosted policy GDAL never sees the URL: it reads a Python file object whose range
    requests go through :class:`ocm_engine.checked_http.CheckedSession` (checked, pinned,
    redirects re-checked), because GDAL's ``/vsicurl/`` resolves and redirects by itself.

    Raises:
        PolicyError: The href (or a redirect hop) is refused; nothing was fetched from it.
        RasterioError: The raster cannot be opened.
    """
    if policy is None or not policy.hosted:
        with rasterio.open(path) as ds:
            yield ds
        return
    url = source_url(path)
    check(url, policy)
    opener = RangeOpener(url, checked_session(policy), timeout_s)
    for driver in HOSTED_RASTER_DRIVERS:  # never VRT & co.: their sources would be opened by GDAL itself
        try:
            ds = rasterio.open(url, opener=opener, driver=driver)
        except (RasterioError, OSError) as err:
            opener.reraise(err)
            if driver == HOSTED_RASTER_DRIVERS[-1]:
                raise
            continue
        try:
            with ds:
                yield ds
        except (RasterioError, OSError) as err:
            opener.reraise(err)
            raise
        return


def _open_source(role: str, asset: BandAsset, item: Mapping[str, Any], preset: CatalogPreset | None,
                 policy: NetPolicy | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> BandSource:
    if policy is not None and policy.hosted:
        check(asset.href, policy)  # the unsigned href: before the signer's request, too
    href = _sign(asset.href, preset)
    path = gdal_path(href)
    try:
        with open_checked(path, policy, timeout_s) as ds:
            if ds.crs is None:
                raise BandMismatchError(
                    f"CRS of asset {asset.key!r} of item {item.get('id')!r} ({asset.href})", arrived=None,
                    expected="a CRS, to place a lon/lat window on it", file_names=(asset.key,),
                    hints=Hints.same("Use a georeferenced collection."),
                )
            if not 1 <= asset.band <= ds.count:
                raise BandMismatchError(
                    f"{role.capitalize()} band number of asset {asset.key!r}", arrived=asset.band,
                    expected=f"a band of the asset's {ds.count} (1..{ds.count})",
                    role=role, asked=asset.band, available=ds.count, base=1, file_names=(asset.key,),
                )
            block_h, block_w = ds.block_shapes[0]
            striped = block_w >= ds.width and block_h < ds.height
            overviews = bool(ds.overviews(asset.band)) or max(ds.width, ds.height) <= _SMALL_PX
            layout = ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT", "")
            cog = layout.upper() == "COG" or (ds.driver == "GTiff" and not striped and overviews)
            declared = asset_nodata(item["assets"].get(asset.key, {}))
            nodata = ds.nodata if ds.nodata is not None else declared
            return BandSource(role, asset, path, ds.width, ds.height, ds.transform, ds.crs.to_wkt(),
                              None if nodata is None else float(nodata), cog)
    except PolicyError:
        raise
    except (RasterioError, OSError) as err:
        raise asset_error(err, href) from err


def plan_window(
    item: Mapping[str, Any],
    *,
    bbox: BBox | None = None,
    resolution_m: float | None = None,
    preset: CatalogPreset | None = None,
    assets: Sequence[str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    policy: NetPolicy | None = None,
    max_pixels: int = MAX_WINDOW_PIXELS,
) -> ItemWindow:
    """Open an item's band assets (headers only) and plan the window grid.

    Args:
        item: The item's JSON (absolute asset hrefs; see :func:`ocm_engine.stac.fetch_item`).
        bbox: Lon/lat ``(west, south, east, north)`` to read; ``None``: the whole Red asset.
        resolution_m: Grid resolution (default: the source's, at least 10 m; never finer).
        preset: The collection's preset (asset keys, signing, nodata).
        assets: Explicit Red, Green, NIR[, Blue] asset keys.
        timeout_s: Seconds per HTTP request.
        policy: Network and file policy (default: trust the caller). Under a hosted policy every
            href is checked before it is opened and read through the checked HTTP layer.
        max_pixels: Largest window grid; checked from the headers, before any pixel is fetched.

    Returns:
        The plan; read it with :func:`read_window` or open :meth:`ItemWindow.vrt_xml`.

    Raises:
        StacBandError: The item lacks Red, Green or NIR.
        AssetReadError: An asset cannot be opened (404, 403, timeout, not a raster).
        WindowError: The bbox misses the item, or the window is too large.
        ResolutionError: An impossible resolution.
        BandMismatchError: Bands in different CRSs, or without one.
        PolicyError: An href refused by ``policy`` (nothing was fetched from it).
    """
    bands = map_bands(item, preset, assets)
    if policy is not None and policy.hosted:
        for asset in bands.ordered:  # every href before the first request
            check(asset.href, policy)
    with http_env(timeout_s):
        sources = tuple(_open_source(role, asset, item, preset, policy, timeout_s)
                        for role, asset in zip(ROLES, bands.ordered, strict=False))
    slow = list(dict.fromkeys(src.asset.key for src in sources if not src.cog))
    if slow:
        emit(
            f"Asset(s) {', '.join(slow)} of item {item.get('id')!r} are not cloud-optimised GeoTIFFs (striped, or "
            "large without overviews): the window is read, but GDAL fetches much more of each file and it is slow.",
            NotCogWarning, stacklevel=2,
        )
    red = sources[0]
    crs = CRS.from_wkt(red.crs_wkt)
    for src in sources[1:]:
        if CRS.from_wkt(src.crs_wkt) != crs:
            raise BandMismatchError(
                f"CRS of {src.role} asset {src.asset.key!r} of item {item.get('id')!r}",
                arrived=CRS.from_wkt(src.crs_wkt).to_string(),
                expected=f"Red's ({red.asset.key}) CRS {crs.to_string()} (windows across CRSs are not supported)",
                file_names=(red.asset.key, src.asset.key),
            )
    full = array_bounds(red.height, red.width, red.transform)
    if bbox is None:
        left, bottom, right, top = full
        lonlat = transform_bounds(crs, "EPSG:4326", *full, densify_pts=21)
    else:
        left, bottom, right, top = transform_bounds("EPSG:4326", crs, *bbox, densify_pts=21)
        left, bottom, right, top = max(left, full[0]), max(bottom, full[1]), min(right, full[2]), min(top, full[3])
        if left >= right or bottom >= top:
            raise WindowError(
                f"Bbox on item {item.get('id')!r}", arrived=tuple(round(v, 5) for v in bbox),
                expected=f"a bbox that overlaps the item's footprint {item.get('bbox')}",
                hints=Hints.same("Search with this bbox, or pick an item that covers it."),
            )
        lonlat = transform_bounds(crs, "EPSG:4326", left, bottom, right, top, densify_pts=21)
    px = abs(red.transform.a)
    lat = (lonlat[1] + lonlat[3]) / 2
    source_m = px * _metres_per_unit(crs, lat)
    chosen_m = choose_resolution(source_m, resolution_m)
    step = chosen_m / _metres_per_unit(crs, lat)
    # snap the window outwards to the Red asset's pixel grid
    ox, oy = red.transform.c, red.transform.f
    left = ox + math.floor((left - ox) / px + 1e-9) * px
    top = oy - math.floor((oy - top) / px + 1e-9) * px
    width = max(1, math.ceil((right - left) / step - 1e-6))
    height = max(1, math.ceil((top - bottom) / step - 1e-6))
    if width * height > max_pixels:
        raise WindowError(
            f"Window of item {item.get('id')!r} at {chosen_m:g} m", arrived=f"{width} x {height} px",
            expected=f"at most {max_pixels:,} px",
            hints=Hints(python="Use a smaller bbox or a coarser resolution (resolution_m=).",
                        cli="Use a smaller --bbox (or --window-m) or a coarser --resolution.",
                        app="Choose a smaller area, or a coarser resolution."),
        )
    nodata = red.nodata if red.nodata is not None else (preset.nodata if preset else 0.0)
    return ItemWindow(
        item_id=str(item.get("id", "item")), crs_wkt=red.crs_wkt, transform=Affine(step, 0, left, 0, -step, top),
        width=width, height=height, resolution_m=chosen_m, source_resolution_m=source_m,
        bbox=(float(lonlat[0]), float(lonlat[1]), float(lonlat[2]), float(lonlat[3])),
        nodata=float(nodata), sources=sources,
    )


def write_vrt(window: ItemWindow, path: str | Path) -> Path:
    """Write the window's VRT to ``path`` (a small XML file; its sources stay remote)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(window.vrt_xml(), encoding="utf-8")
    return out


def _failed_url(err: BaseException, window: ItemWindow) -> str:
    text = str(err)
    for src in window.sources:
        url = src.path.removeprefix("/vsicurl/")
        if url in text or src.asset.href in text:
            return url
    found = re.search(r"https?://\S+", text)
    return found.group(0).rstrip(".,:;'\")") if found else f"an asset of item {window.item_id}"


def read_window(window: ItemWindow, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                policy: NetPolicy | None = None) -> npt.NDArray[np.float32]:
    """Read the window's bands into memory.

    Args:
        window: The plan from :func:`plan_window`.
        timeout_s: Seconds per HTTP request.
        policy: Network and file policy (default: trust the caller); hosted: read through the
            checked HTTP layer (see :func:`open_checked`).

    Returns:
        float32 ``(bands, height, width)``: Red, Green, NIR (and Blue when the item has it);
        nodata pixels hold ``window.nodata``.

    Raises:
        AssetReadError: A range request failed (timeout, 403, 404, network).
        PolicyError: A source (or a redirect hop) refused by ``policy``.
    """
    with contextlib.ExitStack() as stack:
        paths: dict[str, str] = {}
        if policy is not None and policy.hosted:
            # GDAL_NUM_THREADS=1: the VRT reads its sources in this thread, where the files are registered
            stack.enter_context(rasterio.Env(GDAL_NUM_THREADS="1", VRT_NUM_THREADS="1"))
            for src in window.sources:
                if src.path not in paths:
                    try:
                        paths[src.path] = stack.enter_context(open_checked(src.path, policy, timeout_s)).name
                    except (RasterioError, OSError) as err:
                        if isinstance(err, PolicyError):
                            raise
                        raise asset_error(err, source_url(src.path)) from err
        stack.enter_context(http_env(timeout_s))
        mem = stack.enter_context(MemoryFile(window.vrt_xml(paths).encode(), ext=".vrt"))
        try:
            with mem.open() as ds:
                image: npt.NDArray[np.float32] = ds.read().astype(np.float32, copy=False)
                return image
        except (RasterioError, OSError) as err:
            raise asset_error(err, _failed_url(err, window)) from err


def read_item_window(
    item: Mapping[str, Any],
    *,
    bbox: BBox | None = None,
    resolution_m: float | None = None,
    preset: CatalogPreset | None = None,
    assets: Sequence[str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    policy: NetPolicy | None = None,
    max_pixels: int = MAX_WINDOW_PIXELS,
) -> tuple[npt.NDArray[np.float32], ItemWindow]:
    """Plan and read a window of an item (see :func:`plan_window` and :func:`read_window`).

    The window's size is checked against ``max_pixels`` from the headers, before its pixels are fetched.

    Returns:
        The float32 ``(bands, height, width)`` array and its plan (grid, CRS, nodata).

    Raises:
        OcmError: See :func:`plan_window` and :func:`read_window`.
    """
    with collect_warnings() as caught:
        window = plan_window(item, bbox=bbox, resolution_m=resolution_m, preset=preset, assets=assets,
                             timeout_s=timeout_s, policy=policy, max_pixels=max_pixels)
    for found in caught:  # re-emitted so they point at our caller
        emit(found, stacklevel=2)
    return read_window(window, timeout_s=timeout_s, policy=policy), window


__all__ = ["AssetReadError", "BandSource", "ItemWindow", "plan_window", "read_item_window", "read_window",
           "write_vrt"]
