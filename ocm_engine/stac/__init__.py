"""STAC: find a scene in a catalog, read only the window you need from its COGs, mask it.

Example::

    from ocm_engine.stac import EARTH_SEARCH_URL, search_items, predict_item

    items = search_items(EARTH_SEARCH_URL, "sentinel-2-l2a", bbox=(13.3, 52.4, 13.5, 52.6),
                         dates="2024-06-01/2024-06-30", max_cloud_percent=60)
    predict_item(items[0].item, "out/", bbox=(13.3, 52.4, 13.5, 52.6), resolution_m=20)

``pystac-client`` / ``pystac`` are imported when a search runs, ``planetary-computer`` only
when a Planetary Computer collection is used.
"""

from ocm_engine.stac.bands import BandAsset, BandAssets, map_bands
from ocm_engine.stac.catalogs import (
    CATALOGS,
    EARTH_SEARCH_URL,
    PLANETARY_COMPUTER_URL,
    CatalogPreset,
    find_preset,
    get_catalog,
)
from ocm_engine.stac.http import gdal_http_options, http_env
from ocm_engine.stac.predict import predict_item
from ocm_engine.stac.search import (
    ItemSummary,
    fetch_item,
    parse_bbox,
    parse_dates,
    parse_point,
    point_bbox,
    search_items,
)
from ocm_engine.stac.window import ItemWindow, plan_window, read_item_window, read_window, write_vrt

__all__ = [
    "CATALOGS",
    "EARTH_SEARCH_URL",
    "PLANETARY_COMPUTER_URL",
    "BandAsset",
    "BandAssets",
    "CatalogPreset",
    "ItemSummary",
    "ItemWindow",
    "fetch_item",
    "find_preset",
    "gdal_http_options",
    "get_catalog",
    "http_env",
    "map_bands",
    "parse_bbox",
    "parse_dates",
    "parse_point",
    "plan_window",
    "point_bbox",
    "predict_item",
    "read_item_window",
    "read_window",
    "search_items",
    "write_vrt",
]
