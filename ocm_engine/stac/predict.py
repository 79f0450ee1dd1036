"""Mask a window of a STAC item with the usual outputs (class GeoTIFF, probabilities, PNG, JSON).

The window's VRT (see :mod:`ocm_engine.stac.window`) is handed to
:func:`ocm_engine.pipeline.predict_file`, so the outputs, their atomic writing and the
block loop are the pipeline's own; the JSON report gains a ``stac`` section (catalog, item,
assets, window), passed to ``predict_file`` so it is in the report's one atomic commit.
A network failure in the middle of the read raises
:class:`~ocm_engine.errors.AssetReadError` and leaves no output behind.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocm_engine.errors import AssetReadError, SceneReadError
from ocm_engine.stac.catalogs import CatalogPreset, find_preset
from ocm_engine.stac.http import DEFAULT_TIMEOUT_S, asset_error, http_env
from ocm_engine.stac.search import BBox, fetch_item
from ocm_engine.stac.window import ItemWindow, plan_window, write_vrt

if TYPE_CHECKING:
    from ocm_engine.outputs.report import SceneOutputs


def item_stem(item_id: str) -> str:
    """A safe output file-name stem for an item id."""
    return re.sub(r"[^\w.\-]+", "_", item_id).strip("._") or "item"


def stac_facts(item: Mapping[str, Any], window: ItemWindow, catalog_url: str | None) -> dict[str, Any]:
    """What the JSON records about the item and window."""
    props = item.get("properties") or {}
    root = next((link.get("href") for link in item.get("links") or [] if link.get("rel") == "root"), None)
    return {
        "catalog": catalog_url or root or "",
        "collection": item.get("collection") or "",
        "item": window.item_id,
        "datetime": props.get("datetime") or "",
        "catalog_cloud_percent": props.get("eo:cloud_cover"),
        "assets": {src.role: src.asset.key for src in window.sources},
        "hrefs": {src.role: src.asset.href for src in window.sources},
        "bbox_lonlat": list(window.bbox),
        "window_px": [window.width, window.height],
        "resolution_m": window.resolution_m,
        "source_resolution_m": window.source_resolution_m,
    }


def predict_item(
    item: str | Mapping[str, Any],
    output_dir: str | Path,
    *,
    bbox: BBox | None = None,
    resolution_m: float | None = None,
    catalog_url: str | None = None,
    collection: str | None = None,
    preset: CatalogPreset | None = None,
    assets: Sequence[str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    **options: Any,
) -> SceneOutputs:
    """Mask a window of a STAC item and write the outputs.

    Args:
        item: Item URL, item JSON file, item id (with ``catalog_url`` and ``collection``), or dict.
        output_dir: Output folder; files are named after the item id (``<id>_ocm.tif``, ...).
        bbox: Lon/lat window ``(west, south, east, north)``; ``None``: the whole item.
        resolution_m: Inference resolution (default: the source's, at least 10 m).
        catalog_url: The catalog the item comes from (preset lookup, ids, provenance).
        collection: Its collection id.
        preset: Collection preset (default: found from ``catalog_url`` and the item's collection).
        assets: Explicit Red, Green, NIR[, Blue] asset keys.
        timeout_s: Seconds per HTTP request.
        **options: Passed on to :func:`ocm_engine.pipeline.predict_file` (``ensemble``,
            ``options``, ``probabilities``, ``png``, ``overwrite``, ``progress``, ...).

    Returns:
        The scene's outputs (path-like: the class GeoTIFF; JSON, PNG and probabilities beside
        it); ``sections["stac"]`` holds what the report records about the item and window.

    Raises:
        CatalogError: The item cannot be fetched.
        StacBandError: The item lacks Red, Green or NIR.
        AssetReadError: An asset cannot be read (404, 403, timeout, network).
        WindowError: The bbox misses the item.
        OcmError: The pipeline's errors (existing outputs, no valid data, ...).
    """
    from ocm_engine.options import ReadOptions
    from ocm_engine.pipeline import predict_file

    data = fetch_item(item, catalog_url=catalog_url, collection=collection, timeout_s=timeout_s)
    found = preset or find_preset(catalog_url, collection or data.get("collection"))
    window = plan_window(data, bbox=bbox, resolution_m=resolution_m, preset=found, assets=assets,
                         timeout_s=timeout_s)
    stem = item_stem(window.item_id)
    read = ReadOptions(bands=(1, 2, 3), nodata=window.nodata, resolution_m=window.resolution_m)
    sections = {"stac": stac_facts(data, window, catalog_url)}
    with tempfile.TemporaryDirectory(prefix="ocm_stac_") as tmp:
        vrt = write_vrt(window, Path(tmp) / f"{stem}.vrt")
        try:
            with http_env(timeout_s):
                out = predict_file(str(vrt), output_dir, read=read, stem=stem, sections=sections, **options)
        except AssetReadError:
            raise
        except SceneReadError as err:  # the VRT was just written here: what failed is an asset behind it
            raise asset_error(err, f"an asset of item {window.item_id}") from err
    return out
