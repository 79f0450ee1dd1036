"""The third scene source: search a STAC catalog, pick an item, read only the window, mask it.

The scene bar (:func:`ocm_app.scene_picker.scene_bar`) calls :func:`render` when the user picks
"STAC catalog", and :func:`ocm_app.scene_picker.current_scene` calls :func:`current_spec`. A place
(lon,lat or a west,south,east,north box), dates and a largest catalog cloud cover go to
:func:`ocm_engine.stac.search_items`; the results are listed with their thumbnails (when the
item has one and it can be fetched) and catalog cloud %; the chosen item's window is read
from its COGs by HTTP range requests (:func:`ocm_engine.stac.read_item_window`) into a
GeoTIFF in the session's folder, so every page then reads it like an upload, offline.

The widget keys and the session-state keys of this source live here, beside the widgets
that own them (one constant per key, as in :mod:`ocm_app.state`), so the source is one module.
The catalog URL defaults to ``$OCM_STAC_URL``, else Earth Search.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import os
from pathlib import Path
from typing import Final

import numpy as np
import requests
import streamlit as st

from ocm_app import config, maps, scenes, state, uploads
from ocm_engine.checked_http import checked_session, get_limited
from ocm_engine.errors import OcmError, PolicyError, WindowError, collect_warnings
from ocm_engine.io.mapping import BandMapping
from ocm_engine.io.raster import write_raster
from ocm_engine.stac import EARTH_SEARCH_URL, ItemSummary, find_preset, point_bbox, read_item_window, search_items
from ocm_engine.stac.search import BBox, parse_bbox, parse_point

_LOG = logging.getLogger(__name__)
LABEL: Final = "STAC catalog"
CATALOG_ENV: Final = "OCM_STAC_URL"
# Widget keys.
CATALOG: Final = "stac.catalog"
COLLECTION: Final = "stac.collection"
PLACE: Final = "stac.place"
WINDOW_KM: Final = "stac.window_km"
DATES: Final = "stac.dates"
MAX_CLOUD: Final = "stac.max_cloud"
SEARCH: Final = "stac.search"
ITEM: Final = "stac.item"
READ_M: Final = "stac.read_m"
LOAD: Final = "stac.load"
# Data keys.
_RESULTS: Final = "ocm.stac.results"
_SPEC: Final = "ocm.stac.spec"

COLLECTIONS: Final = ("sentinel-2-l2a", "landsat-c2-l2")
DEFAULT_PLACE: Final = "13.40,52.52"  # Berlin
THUMBNAILS_SHOWN: Final = 6
HTTP_TIMEOUT_S: Final = 15.0
THUMBNAIL_TIMEOUT_S: Final = 5.0
THUMBNAIL_MAX_BYTES: Final = 2 * 1024 * 1024
#: Largest window read into the app (pixels); bigger: a smaller place or a coarser resolution.
MAX_WINDOW_PX: Final = 4_000_000


def default_catalog() -> str:
    """The catalog the source starts with: ``$OCM_STAC_URL`` or Earth Search."""
    return os.environ.get(CATALOG_ENV) or EARTH_SEARCH_URL


def parse_place(text: str, window_km: float) -> BBox:
    """A lon/lat box from ``lon,lat`` (a square of ``window_km`` around it) or ``west,south,east,north``.

    Raises:
        WindowError: Neither form (also a ``ValueError``).
    """
    parts = [p for p in text.replace(";", ",").replace(" ", ",").split(",") if p]
    if len(parts) == 2:
        lon, lat = parse_point(text)
        return point_bbox(lon, lat, window_km * 1000)
    if len(parts) == 4:
        return parse_bbox(text)
    raise WindowError("Place", arrived=repr(text), expected=f"lon,lat (e.g. {DEFAULT_PLACE}) or west,south,east,north")


@st.cache_data(show_spinner=False, ttl=3600, max_entries=128)
def thumbnail(href: str) -> bytes | None:
    """The thumbnail's bytes when the policy allows the href and they decode as an image, else ``None``.

    Fetched through the checked HTTP layer (:func:`ocm_app.config.net_policy`): an href on a
    local file, loopback or an internal address is refused before any request, and so is a
    redirect there; bodies over :data:`THUMBNAIL_MAX_BYTES` are cut off.
    """
    from PIL import Image

    try:
        data = get_limited(checked_session(config.net_policy()), href, max_bytes=THUMBNAIL_MAX_BYTES,
                           timeout_s=THUMBNAIL_TIMEOUT_S)
        Image.open(io.BytesIO(data)).verify()
    except PolicyError as err:
        _LOG.info("thumbnail refused: %s", err)
        return None
    except (requests.RequestException, OSError, ValueError, Image.DecompressionBombError):
        return None
    return data


def results() -> tuple[BBox, list[ItemSummary]] | None:
    """The last search's window and items in this session."""
    value = st.session_state.get(_RESULTS)
    return value if isinstance(value, tuple) else None


def current_spec() -> scenes.SceneSpec | None:
    """The window read from the chosen item, or ``None`` (after saying what to do)."""
    spec = st.session_state.get(_SPEC)
    if isinstance(spec, scenes.SceneSpec) and all(Path(p).is_file() for p in spec.paths):
        return spec
    st.info("Search the catalog, choose an item and press **Read window** to mask it.")
    return None


def read_window_spec(summary: ItemSummary, catalog: str, bbox: BBox, read_m: float, folder: Path) -> scenes.SceneSpec:
    """Read an item's window (Red, Green, NIR, Blue) into a GeoTIFF in ``folder``; its scene spec.

    Every href is checked by the app's policy (:func:`ocm_app.config.net_policy`) and read through
    the checked HTTP layer; the window's size is checked against :data:`MAX_WINDOW_PX` from the
    assets' headers, before any pixel is fetched; the GeoTIFF counts against the session's quota.

    Raises:
        OcmError: The item lacks bands, an asset cannot be read, the window misses the item or
            is too large for the app; a URL refused by the policy; the session's quota is full.
    """
    preset = find_preset(catalog, summary.collection or None)
    with collect_warnings() as caught:  # this session's warnings only (sessions run in threads)
        image, window = read_item_window(summary.item, bbox=bbox, resolution_m=read_m, preset=preset,
                                         timeout_s=HTTP_TIMEOUT_S, policy=config.net_policy(),
                                         max_pixels=MAX_WINDOW_PX)
    for found in caught:
        st.warning(str(found), icon=":material/warning:")
    uploads.check_quota(folder, image.nbytes, f"The window of {summary.id}")
    digest = hashlib.sha1(f"{catalog}|{summary.id}|{bbox}|{read_m}".encode(), usedforsecurity=False).hexdigest()[:12]
    path = folder / f"stac_{digest}.tif"
    if not path.exists():
        write_raster(path, image.astype(np.float32), transform=window.transform, crs=window.crs_wkt,
                     nodata=window.nodata, descriptions=[f"{src.role} ({src.asset.key})" for src in window.sources],
                     tiled=True, blockxsize=256, blockysize=256, compress="deflate")
    cloud = "?" if summary.cloud_percent is None else f"{summary.cloud_percent:.0f}"
    return scenes.SceneSpec(
        key=f"stac:{digest}", label=f"{summary.id} (window)", paths=(str(path),), names=(f"{summary.id}.tif",),
        mapping=BandMapping(1, 2, 3, 4 if window.has_blue else None), nodata=window.nodata, kind="stac",
        description=f"{summary.collection} · {summary.date} · catalog cloud {cloud} % · {window.width} x "
                    f"{window.height} px at {window.resolution_m:g} m, read from {catalog}",
    )


def _label(item: ItemSummary) -> str:
    cloud = "?" if item.cloud_percent is None else f"{item.cloud_percent:.0f}"
    return f"{item.id} · {item.date} · cloud {cloud} % · {item.platform or '-'}"


def _thumb_rgba(data: bytes | None) -> np.ndarray:
    from PIL import Image

    if data is None:
        return np.full((2, 2, 4), (200, 200, 200, 90), np.uint8)
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA").resize((256, 256)))


def footprint_map(item: ItemSummary, window: BBox) -> maps.MapHtml:
    """A map of the item (its thumbnail, or a grey footprint) with the window outlined."""
    box = item.bbox or window
    w, s, e, n = box
    rows = ((n - min(n, window[3])) / (n - s), (n - max(s, window[1])) / (n - s))
    cols = ((max(w, window[0]) - w) / (e - w), (min(e, window[2]) - w) / (e - w))
    layer = maps.Layer("Item (thumbnail)" if item.thumbnail_href else "Item footprint",
                       _thumb_rgba(thumbnail(item.thumbnail_href) if item.thumbnail_href else None), smooth=True)
    return maps.scene_map([layer], maps.Georef(box, "EPSG:4326"), basemap=state.basemap(), height=320,
                          state_key=f"stac:{item.id}", boxes=(maps.Box("window", rows, cols, "#ffd400"),))


def _search_form() -> None:
    c1, c2, c3 = st.columns([3, 2, 2])
    c1.text_input("Catalog (STAC API or catalog.json URL)", value=default_catalog(), key=CATALOG)
    c2.selectbox("Collection", COLLECTIONS, key=COLLECTION, accept_new_options=True,
                 help="Earth Search and Planetary Computer collection ids; type another id if you need it.")
    c3.slider("Largest catalog cloud cover (%)", 0, 100, 30, key=MAX_CLOUD)
    c4, c5, c6 = st.columns([3, 1, 2])
    c4.text_input("Place: lon,lat or west,south,east,north (degrees)", value=DEFAULT_PLACE, key=PLACE)
    c5.number_input("Window (km)", 0.5, 100.0, 5.0, 0.5, key=WINDOW_KM, help="Side of the square around a lon,lat.")
    today = dt.date.today()
    c6.date_input("Dates", value=(today - dt.timedelta(days=30), today), key=DATES)
    if st.button("Search", key=SEARCH, icon=":material/search:"):
        _search()


def _search() -> None:
    dates = st.session_state.get(DATES) or ()
    if not isinstance(dates, tuple | list) or len(dates) != 2:
        st.error("Pick a start and an end date.")
        return
    try:
        bbox = parse_place(str(st.session_state.get(PLACE, "")), float(st.session_state.get(WINDOW_KM, 5.0)))
        with st.spinner("Searching the catalog..."):
            found = search_items(str(st.session_state[CATALOG]).strip(), st.session_state.get(COLLECTION) or None,
                                 bbox=bbox, dates=f"{dates[0].isoformat()}/{dates[1].isoformat()}",
                                 max_cloud_percent=float(st.session_state.get(MAX_CLOUD, 100)), limit=30,
                                 timeout_s=HTTP_TIMEOUT_S, policy=config.net_policy())
    except OcmError as err:
        st.error(scenes.describe_error(err))
        return
    st.session_state[_RESULTS] = (bbox, found)


def _results() -> None:
    stored = results()
    if stored is None:
        return
    bbox, found = stored
    if not found:
        st.warning("No items match: widen the dates, the place or the cloud cover.")
        return
    by_id = {item.id: item for item in found}
    shown = found[:THUMBNAILS_SHOWN]
    for col, item in zip(st.columns(len(shown)), shown, strict=True):
        data = thumbnail(item.thumbnail_href) if item.thumbnail_href else None
        if data is not None:
            col.image(data, width="stretch")
        else:
            col.caption("no thumbnail")
        cloud = "?" if item.cloud_percent is None else f"{item.cloud_percent:.0f}"
        col.caption(f"{item.id}  \n{item.date} · cloud {cloud} %")
    c1, c2, c3 = st.columns([4, 1.2, 1.4], vertical_alignment="bottom")
    chosen = c1.radio("Item", list(by_id), format_func=lambda i: _label(by_id[i]), key=ITEM)
    read_m = c2.number_input("Read at (m)", 10, 60, 10, 10, key=READ_M,
                             help="Resolution the window is read at (the COGs' overviews serve coarse reads).")
    item = by_id.get(chosen or "", found[0])
    if c3.button("Read window", key=LOAD, type="primary", icon=":material/download:",
                 help="Read only this window of the item's COGs (HTTP range requests) and use it as the scene."):
        try:
            with st.spinner("Reading the window from the COGs..."):
                st.session_state[_SPEC] = read_window_spec(item, str(st.session_state[CATALOG]).strip(), bbox,
                                                           float(read_m), state.session_dir())
        except OcmError as err:
            st.error(scenes.describe_error(err))
    with st.expander("Where the window lies on the item", expanded=False):
        maps.show_map(footprint_map(item, bbox), height=320)


def render() -> None:
    """Draw the search form, the results and the item choice (inside the scene bar)."""
    _search_form()
    _results()
