"""The app's maps: the Streamlit glue around :mod:`ocm_app.mapbuilder` (which imports no Streamlit).

The builder (layers, legend, swipe, offline Leaflet) lives in :mod:`ocm_app.mapbuilder`, shared
with the notebooks; this module adds Streamlit's cache to the Web-Mercator warps and
:func:`show_map`, which draws a rendered map in a page. Pages keep importing ``maps``.
"""

from __future__ import annotations

import streamlit as st

from ocm_app import mapbuilder
from ocm_app.mapbuilder import (
    LEAFLET_DIST,
    SWIPE_BAR_PX,
    Box,
    Colorbar,
    Georef,
    Layer,
    Legend,
    MapHtml,
    box_lonlat,
    external_urls,
    georef_of,
    leaflet_assets,
    legend_html,
    lonlat_bounds,
    scale_note,
    scene_map,
    stable_html,
    swipe_map,
)
from ocm_engine.types import CRS

__all__ = [
    "LEAFLET_DIST", "SWIPE_BAR_PX", "Box", "Colorbar", "Georef", "Layer", "Legend", "MapHtml", "box_lonlat",
    "external_urls", "georef_of", "leaflet_assets", "legend_html", "lonlat_bounds", "scale_note",
    "scene_map", "show_map", "stable_html", "swipe_map", "warped_url",
]

#: The builder's warp, cached across reruns and sessions (the same scene is drawn again and again).
warped_url = st.cache_data(max_entries=96, show_spinner=False, hash_funcs={CRS: CRS.to_wkt})(mapbuilder.warped_url)
mapbuilder.use_warp(warped_url)


def show_map(rendered: MapHtml, height: int = 560) -> None:
    """Display a rendered map in the page (an iframe of the app's own HTML)."""
    if not rendered.offline:
        st.warning("Leaflet is not installed locally (run `npm ci` in the project folder), so this "
                   "map loads it from a CDN and needs internet access.", icon=":material/wifi_off:")
    st.iframe(rendered.html, height=height + 12)
