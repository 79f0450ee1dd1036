"""``ocm batch``: mask many scenes on a Dask cluster, from scene lists and/or a STAC search."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ocm_engine.cli.options import (
    DEFAULT_WINDOW_M,
    add_inference_options,
    add_place_options,
    add_search_options,
    area,
    inference_options,
    read_options,
    run_search,
)
from ocm_engine.errors import CatalogError, Hints, OcmError, SceneListError, one_line

#: Sub-folder of the output folder that holds the VRT of each STAC item's window.
WINDOWS_FOLDER = "stac_windows"


def _asset_keys(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not 1 <= len(keys) <= 3:
        raise argparse.ArgumentTypeError(f"--stac-assets takes KEY or RED,GREEN[,NIR]; got {text!r}")
    return keys


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
        raise OcmError("--catalog search area", arrived="neither --bbox nor --point",
                       expected="--bbox or --point (the search area and each item's window)")
    set_process_defaults(args.timeout)
    items = run_search(args)
    if not items:
        raise CatalogError(f"Search in {args.catalog}", arrived="no items", expected="at least one item",
                           url=args.catalog, hints=Hints(python="Widen the dates, the place or max_cloud_percent=.",
                                                        cli="Widen --dates, --bbox/--point or --max-cloud.",
                                                        app="Widen the dates, the place or the cloud limit."))
    folder = Path(args.output) / WINDOWS_FOLDER
    keys = args.stac_assets if args.stac_assets and len(args.stac_assets) >= 3 else None
    scenes, failures = [], 0
    for summary in items:
        try:
            preset = find_preset(args.catalog, args.collection or summary.collection)
            window = plan_window(summary.item, bbox=area(args), resolution_m=args.resolution, preset=preset,
                                 assets=keys, timeout_s=args.timeout)
        except OcmError as err:
            failures += 1
            print(f"error: {summary.id}: {one_line(err, frontend='cli')}", file=sys.stderr)
            continue
        stem = item_stem(summary.id)
        vrt = write_vrt(window, folder / f"{stem}.vrt")
        scenes.append(BatchScene(stem, (str(vrt),), (1, 2, 3)))
    return scenes, failures


def run(args: argparse.Namespace) -> int:
    """Run ``ocm batch``; returns 1 when any scene (or STAC item) failed."""
    from ocm_engine.batch.runner import run_batch

    scenes, stac_failures = batch_scenes(args) if args.catalog else ([], 0)
    if not args.scenes and not scenes:
        raise SceneListError("Scenes to mask", arrived="none",
                             expected="scene files, or a STAC search (--catalog URL --collection C --bbox)")
    result = run_batch(
        [*args.scenes, *scenes], args.output, model=args.weights or "default", read=read_options(args),
        options=inference_options(args), scheduler=args.scheduler, n_workers=args.workers,
        probabilities=args.probabilities, png=not args.no_png, overwrite=args.overwrite,
        stac_assets=args.stac_assets, progress=not args.quiet, frontend="cli",
    )
    for r in result.failed:
        print(f"{r.status}: {r.scene_id}: {one_line(r.describe('cli'))}", file=sys.stderr)
    print(f"{len(result.done)} done, {len(result.skipped)} skipped, {len(result.failed)} failed "
          f"in {result.seconds:.1f} s; summary: {result.summary_csv}")
    return 0 if result.ok and not stac_failures else 1


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``ocm batch`` to the ``ocm`` command's sub-parsers.

    Returns:
        The ``batch`` sub-parser (its ``func`` runs the command).
    """
    p: argparse.ArgumentParser = subparsers.add_parser(
        "batch", help="mask many scenes on a Dask cluster (local by default); resumable",
        description="Mask many scenes with Dask distributed: one output set per scene, complete "
                    "scenes skipped, failures reported per scene, a summary CSV/JSON in the output folder.",
    )
    p.add_argument("scenes", nargs="*", help="raster files, band-file folders, globs ('tiles/*.tif'), "
                   "a CSV (href or red,green,nir columns) or STAC items JSON; local or http(s)/s3 hrefs")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder (shared by all workers)")
    p.add_argument("--stac-assets", type=_asset_keys, help="STAC asset KEY (multiband) or RED,GREEN,NIR keys")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler (default: a local cluster)")
    p.add_argument("--workers", type=int, help="local workers (default: one per GPU, else cores/4)")
    add_inference_options(p, weights_help="'default', 'official', or a weights file/folder every worker can read",
                          device_help="cpu, cuda, cuda:N (default: each worker's GPU, else CPU)")
    group = p.add_argument_group("STAC search (mask the --bbox window of every item found)")
    add_search_options(group, catalog_required=False, catalog_help="STAC API root or static catalog URL")
    add_place_options(group, required=False, bbox_help="west,south,east,north in degrees (search area and window)",
                      point_help="lon,lat (search point; window of --window-m around it)")
    group.add_argument("--window-m", type=float, default=DEFAULT_WINDOW_M, help="window side around --point, m")
    p.set_defaults(func=run)
    return p
