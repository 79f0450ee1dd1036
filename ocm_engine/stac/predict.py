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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

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


@dataclass(frozen=True, slots=True)
class StacFacts:
    """What a scene's report records about the STAC item and the window read from it (its ``stac`` section).

    Attributes:
        catalog: The catalog URL (the item's root link when none was given; ``""`` unknown).
        collection: The collection id.
        item: The item id.
        datetime: The item's acquisition time, as the catalog writes it.
        catalog_cloud_percent: The catalog's own ``eo:cloud_cover``, when it has one.
        assets: Role (``red``, ``green``, ``nir``, ``blue``) -> asset key read.
        hrefs: Role -> asset URL read.
        bbox_lonlat: The window, ``(west, south, east, north)`` in degrees.
        window_px: ``(width, height)`` of the window on the inference grid.
        resolution_m: The inference resolution.
        source_resolution_m: The assets' own pixel size.
    """

    catalog: str
    collection: str
    item: str
    datetime: str
    catalog_cloud_percent: float | None
    assets: Mapping[str, str]
    hrefs: Mapping[str, str]
    bbox_lonlat: tuple[float, float, float, float]
    window_px: tuple[int, int]
    resolution_m: float
    source_resolution_m: float
    name: ClassVar[str] = "stac"  # the report key

    def as_dict(self) -> dict[str, Any]:
        """The report's ``stac`` section (JSON values)."""
        return {"catalog": self.catalog, "collection": self.collection, "item": self.item,
                "datetime": self.datetime, "catalog_cloud_percent": self.catalog_cloud_percent,
                "assets": dict(self.assets), "hrefs": dict(self.hrefs), "bbox_lonlat": list(self.bbox_lonlat),
                "window_px": list(self.window_px), "resolution_m": self.resolution_m,
                "source_resolution_m": self.source_resolution_m}


def stac_facts(item: Mapping[str, Any], window: ItemWindow, catalog_url: str | None) -> StacFacts:
    """What the report records about the item and window."""
    props = item.get("properties") or {}
    root = next((link.get("href") for link in item.get("links") or [] if link.get("rel") == "root"), None)
    cloud = props.get("eo:cloud_cover")
    west, south, east, north = window.bbox
    return StacFacts(
        catalog=catalog_url or root or "", collection=item.get("collection") or "", item=window.item_id,
        datetime=props.get("datetime") or "", catalog_cloud_percent=None if cloud is None else float(cloud),
        assets={src.role: src.asset.key for src in window.sources},
        hrefs={src.role: src.asset.href for src in window.sources},
        bbox_lonlat=(west, south, east, north), window_px=(window.width, window.height),
        resolution_m=window.resolution_m, source_resolution_m=window.source_resolution_m)


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
        it); ``section(StacFacts)`` holds what the report records about the item and window.

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
    sections = (stac_facts(data, window, catalog_url),)
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
