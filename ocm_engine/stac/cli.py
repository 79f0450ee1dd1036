"""Command-line glue for STAC: ``ocm search``, STAC items in ``ocm predict``, a search in ``ocm batch``.

:func:`ocm_engine.cli.build_parser` registers ``search`` and calls
:func:`add_predict_options`; ``ocm batch`` calls :func:`add_batch_search_options`. Errors are
:class:`~ocm_engine.errors.OcmError` (the ``ocm`` command prints them on one line).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ocm_engine.errors import CatalogError, OcmError, OutputExistsError, one_line
from ocm_engine.stac.catalogs import EARTH_SEARCH_URL
from ocm_engine.stac.http import DEFAULT_TIMEOUT_S
from ocm_engine.stac.search import BBox, ItemSummary, parse_bbox, parse_point, point_bbox

RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt", ".img", ".nc")
DEFAULT_WINDOW_M = 5120.0
WINDOWS_FOLDER = "stac_windows"


def _bbox(text: str) -> BBox:
    try:
        return parse_bbox(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _point(text: str) -> tuple[float, float]:
    try:
        return parse_point(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _keys(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not 3 <= len(keys) <= 4:
        raise argparse.ArgumentTypeError(f"--stac-assets takes RED,GREEN,NIR[,BLUE] asset keys; got {text!r}")
    return keys


def _add_place(parser: argparse.ArgumentParser, required: bool) -> None:
    place = parser.add_mutually_exclusive_group(required=required)
    place.add_argument("--bbox", type=_bbox, help="west,south,east,north in degrees (lon/lat)")
    place.add_argument("--point", type=_point, help="lon,lat in degrees")


def _add_search(parser: argparse.ArgumentParser, catalog_required: bool) -> None:
    parser.add_argument("--catalog", required=catalog_required,
                        help=f"STAC API root or static catalog.json URL (Earth Search: {EARTH_SEARCH_URL})")
    parser.add_argument("--collection", help="collection id, e.g. sentinel-2-l2a or landsat-c2-l2")
    parser.add_argument("--dates", help="START/END ISO dates, e.g. 2024-06-01/2024-06-30 ('..' for open)")
    parser.add_argument("--max-cloud", type=float, help="largest catalog eo:cloud_cover, percent")
    parser.add_argument("--limit", type=int, default=20, help="most items (default 20)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help=f"seconds per HTTP request (default {DEFAULT_TIMEOUT_S:g})")


def _area(args: argparse.Namespace) -> BBox | None:
    if getattr(args, "bbox", None):
        west, south, east, north = args.bbox
        return float(west), float(south), float(east), float(north)
    if getattr(args, "point", None):
        return point_bbox(args.point[0], args.point[1], args.window_m)
    return None


def _run_search(args: argparse.Namespace) -> list[ItemSummary]:
    from ocm_engine.stac.search import search_items

    try:
        return search_items(args.catalog, args.collection, bbox=tuple(args.bbox) if args.bbox else None,
                            point=tuple(args.point) if args.point else None, dates=args.dates,
                            max_cloud_percent=args.max_cloud, limit=args.limit, timeout_s=args.timeout)
    except ValueError as err:
        if isinstance(err, OcmError):
            raise
        raise CatalogError(f"Bad search: {err}") from err


def format_table(items: Sequence[ItemSummary]) -> str:
    """Items as a text table: id, date, cloud %, platform."""
    width = max([len("id"), *(len(i.id) for i in items)])
    lines = [f"{'id':<{width}}  {'date':<10}  {'cloud %':>7}  platform"]
    for i in items:
        cloud = "-" if i.cloud_percent is None else f"{i.cloud_percent:.1f}"
        lines.append(f"{i.id:<{width}}  {i.date:<10}  {cloud:>7}  {i.platform}")
    return "\n".join(lines)


def _search(args: argparse.Namespace) -> int:
    items = _run_search(args)
    if not items:
        print("no items match (widen the dates, the place or --max-cloud)", file=sys.stderr)
        return 1
    print(format_table(items))
    return 0


def add_search_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``ocm search`` to the ``ocm`` command's sub-parsers.

    Returns:
        The ``search`` sub-parser.
    """
    p: argparse.ArgumentParser = subparsers.add_parser(
        "search", help="find scenes in a STAC catalog by place, dates and cloud cover",
        description="Search a STAC API (or a static catalog) and print id, date, catalog cloud % and platform.",
    )
    _add_search(p, catalog_required=True)
    _add_place(p, required=True)
    p.set_defaults(func=_search)
    return p


# ----------------------------------------------------------------------------- ocm predict
def add_predict_options(parser: argparse.ArgumentParser) -> None:
    """Add the STAC item options to ``ocm predict`` (item URL/file inputs, or ``--item ID``)."""
    group = parser.add_argument_group("STAC items (inputs that are item URLs or item JSON files, or --item)")
    group.add_argument("--item", action="append", default=[], metavar="ID",
                       help="item id in --catalog/--collection (repeatable)")
    group.add_argument("--catalog", help="STAC API root URL (for --item)")
    group.add_argument("--collection", help="collection id (for --item; also picks the band preset)")
    group.add_argument("--stac-assets", type=_keys, help="RED,GREEN,NIR[,BLUE] asset keys (default: from eo:bands)")
    group.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                       help=f"seconds per HTTP request (default {DEFAULT_TIMEOUT_S:g})")
    place = group.add_mutually_exclusive_group()
    place.add_argument("--bbox", type=_bbox, help="window to read: west,south,east,north in degrees")
    place.add_argument("--point", type=_point, help="window centre lon,lat (see --window-m)")
    group.add_argument("--window-m", type=float, default=DEFAULT_WINDOW_M,
                       help=f"window side around --point in metres (default {DEFAULT_WINDOW_M:g})")


def is_item_input(raw: str) -> bool:
    """Whether an ``ocm predict`` input is a STAC item (URL or JSON file), not a raster."""
    path = re.sub(r"[?#].*$", "", raw).lower()
    if path.endswith((".json", ".geojson")):
        return True
    return bool(re.match(r"^https?://", raw)) and not path.endswith(RASTER_SUFFIXES)


def split_item_inputs(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """``(items, rasters)`` of ``ocm predict``'s inputs (``--item`` ids included in items).

    Raises:
        OcmError: Nothing to do, or ``--item`` without ``--catalog``/``--collection``.
    """
    items = [raw for raw in args.inputs if is_item_input(raw)] + list(getattr(args, "item", []) or [])
    rasters = [raw for raw in args.inputs if not is_item_input(raw)]
    if getattr(args, "item", None) and not (args.catalog and args.collection):
        raise CatalogError("--item needs --catalog URL and --collection C (or pass the item's URL instead).")
    if not items and not rasters:
        raise OcmError("Nothing to mask: give raster files, STAC item URLs, or --item ID --catalog URL "
                       "--collection C.")
    if (args.bbox or args.point) and rasters:
        raise OcmError("--bbox/--point apply to STAC items only; crop raster files first (gdal_translate -projwin).")
    return items, rasters


def predict_items(items: Sequence[str], args: argparse.Namespace, ensemble: Any, **options: Any) -> int:
    """Mask a window of each STAC item; prints one line per item. Returns the failure count."""
    from ocm_engine.stac.predict import predict_item

    failures = 0
    for raw in items:
        try:
            out = predict_item(raw, args.output, bbox=_area(args), resolution_m=args.resolution,
                               catalog_url=args.catalog, collection=args.collection, assets=args.stac_assets,
                               timeout_s=args.timeout, ensemble=ensemble, **options)
        except OutputExistsError as err:
            print(f"skipped {raw}: {one_line(err)}", file=sys.stderr)
            continue
        except OcmError as err:
            failures += 1
            print(f"error: {raw}: {one_line(err)}", file=sys.stderr)
            continue
        doc = json.loads(out.with_suffix(".json").read_text())
        stats, stac = doc["statistics"], doc.get("stac", {})
        print(f"{out}  cloud {stats['cloud_percent']:.1f}%  shadow {stats['cloud_shadow_percent']:.1f}%  "
              f"nodata {stats['nodata_percent']:.1f}%  (window {stac.get('window_px', ['?', '?'])[0]}x"
              f"{stac.get('window_px', ['?', '?'])[1]} px at {stac.get('resolution_m', 0):g} m; catalog cloud "
              f"{stac.get('catalog_cloud_percent')}%)")
    return failures


# ----------------------------------------------------------------------------- ocm batch
def add_batch_search_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--catalog ... --bbox ...`` to ``ocm batch``: mask a window of every item a search finds."""
    group = parser.add_argument_group("STAC search (mask the --bbox window of every item found)")
    group.add_argument("--catalog", help="STAC API root or static catalog URL")
    group.add_argument("--collection", help="collection id")
    group.add_argument("--dates", help="START/END ISO dates")
    group.add_argument("--max-cloud", type=float, help="largest catalog eo:cloud_cover, percent")
    group.add_argument("--limit", type=int, default=20, help="most items (default 20)")
    group.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="seconds per HTTP request")
    place = group.add_mutually_exclusive_group()
    place.add_argument("--bbox", type=_bbox, help="west,south,east,north in degrees (search area and window)")
    place.add_argument("--point", type=_point, help="lon,lat (search point; window of --window-m around it)")
    group.add_argument("--window-m", type=float, default=DEFAULT_WINDOW_M, help="window side around --point, m")


def batch_scenes(args: argparse.Namespace) -> tuple[list[Any], int]:
    """Search, then plan each item's window as a VRT in ``<output>/stac_windows/``.

    Returns:
        ``(scenes, failures)``: :class:`~ocm_engine.batch.BatchScene` objects for the items
        whose window could be planned, and how many could not (each printed).

    Raises:
        OcmError: The search fails or finds nothing.
    """
    from ocm_engine.batch.scenes import BatchScene
    from ocm_engine.stac.catalogs import find_preset
    from ocm_engine.stac.http import set_process_defaults
    from ocm_engine.stac.predict import item_stem
    from ocm_engine.stac.window import plan_window, write_vrt

    if not (args.bbox or args.point):
        raise OcmError("A batch over a STAC search needs --bbox or --point (the search area and the window).")
    set_process_defaults(args.timeout)
    items = _run_search(args)
    if not items:
        raise CatalogError(f"The search in {args.catalog} found no items; widen the dates, place or --max-cloud.")
    folder = Path(args.output) / WINDOWS_FOLDER
    scenes, failures = [], 0
    for summary in items:
        try:
            preset = find_preset(args.catalog, args.collection or summary.collection)
            window = plan_window(summary.item, bbox=_area(args), resolution_m=args.resolution, preset=preset,
                                 assets=getattr(args, "stac_assets", None) if getattr(args, "stac_assets", None)
                                 and len(args.stac_assets) >= 3 else None, timeout_s=args.timeout)
        except OcmError as err:
            failures += 1
            print(f"error: {summary.id}: {one_line(err)}", file=sys.stderr)
            continue
        stem = item_stem(summary.id)
        vrt = write_vrt(window, folder / f"{stem}.vrt")
        scenes.append(BatchScene(stem, (str(vrt),), (1, 2, 3)))
    return scenes, failures
