"""``ocm predict``: mask raster files, band-file folders and STAC items, one input after another.

Files and STAC items go through one loop (:func:`_run_inputs`): each input is one job; an
existing output is skipped, an :class:`~ocm_engine.errors.OcmError` is printed on one line
and counted, and the next input runs. The model is loaded once, after the inputs are checked.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocm_engine.cli.options import (
    DEFAULT_WINDOW_M,
    add_inference_options,
    add_place_options,
    add_timeout_option,
    area,
    inference_options,
    read_options,
    scene_inputs,
)
from ocm_engine.cli.weights import add_download_flag, prepare_weights
from ocm_engine.constants import RASTER_SUFFIXES
from ocm_engine.errors import CatalogError, Hints, OcmError, OutputExistsError, one_line

if TYPE_CHECKING:
    from ocm_engine.outputs.report import SceneOutputs


def _asset_keys(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not 3 <= len(keys) <= 4:
        raise argparse.ArgumentTypeError(f"--stac-assets takes RED,GREEN,NIR[,BLUE] asset keys; got {text!r}")
    return keys


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``ocm predict`` to the ``ocm`` command's sub-parsers.

    Returns:
        The ``predict`` sub-parser (its ``func`` runs the command).
    """
    p: argparse.ArgumentParser = subparsers.add_parser("predict", help="mask clouds and shadows in scenes")
    p.add_argument("inputs", nargs="*", help="raster files, folders of single-band files (one scene each), "
                   "or STAC item URLs / item JSON files (a --bbox window of each is read)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    add_inference_options(p, weights_help="'default', 'official' (OCM v4 pair), or a weights file/folder",
                          device_help="cpu, cuda, mps (default: best available)")
    add_download_flag(p)  # --download: fetch the official pair first (engineer D, issue 18)
    group = p.add_argument_group("STAC items (inputs that are item URLs or item JSON files, or --item)")
    group.add_argument("--item", action="append", default=[], metavar="ID",
                       help="item id in --catalog/--collection (repeatable)")
    group.add_argument("--catalog", help="STAC API root URL (for --item)")
    group.add_argument("--collection", help="collection id (for --item; also picks the band preset)")
    group.add_argument("--stac-assets", type=_asset_keys,
                       help="RED,GREEN,NIR[,BLUE] asset keys (default: from eo:bands)")
    add_timeout_option(group)
    add_place_options(group, required=False, bbox_help="window to read: west,south,east,north in degrees",
                      point_help="window centre lon,lat (see --window-m)")
    group.add_argument("--window-m", type=float, default=DEFAULT_WINDOW_M,
                       help=f"window side around --point in metres (default {DEFAULT_WINDOW_M:g})")
    p.set_defaults(func=run)
    return p


def is_item_input(raw: str) -> bool:
    """Whether an ``ocm predict`` input is a STAC item (URL or JSON file), not a raster."""
    path = re.sub(r"[?#].*$", "", raw).lower()
    if path.endswith((".json", ".geojson")):
        return True
    return bool(re.match(r"^https?://", raw)) and not path.endswith(RASTER_SUFFIXES)


def split_item_inputs(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """``(items, rasters)`` of ``ocm predict``'s inputs (``--item`` ids included in items).

    Raises:
        OcmError: Nothing to do, ``--item`` without ``--catalog``/``--collection``, or a
            window (``--bbox``/``--point``) asked of raster files.
    """
    items = [raw for raw in args.inputs if is_item_input(raw)] + list(getattr(args, "item", []) or [])
    rasters = [raw for raw in args.inputs if not is_item_input(raw)]
    if getattr(args, "item", None) and not (args.catalog and args.collection):
        missing = " and ".join(flag for flag, value in (("--catalog", args.catalog), ("--collection", args.collection))
                               if not value)
        raise CatalogError("--item", arrived=f"an item id without {missing}",
                           expected="--item ID --catalog URL --collection C, or the item's URL instead")
    if not items and not rasters:
        raise OcmError("Inputs", arrived="none",
                       expected="raster files, STAC item URLs, or --item ID --catalog URL --collection C")
    if (args.bbox or args.point) and rasters:
        raise OcmError("--bbox/--point", arrived=f"raster file input(s) ({', '.join(rasters)})",
                       expected="STAC item inputs only (a window is read of items)",
                       hints=Hints.same("Crop raster files first (gdal_translate -projwin)."))
    return items, rasters


def _check_stems(rasters: Sequence[str], output: Path) -> None:
    """Refuse two raster inputs that would write the same output names."""
    from ocm_engine.pipeline import scene_stem

    by_stem: dict[str, str] = {}
    for raw in rasters:
        try:
            source = scene_inputs(raw)
        except OcmError:
            continue  # reported when the input's turn comes
        other = by_stem.setdefault(scene_stem(source), raw)
        if other != raw:
            raise OcmError(
                f"Output names {scene_stem(source)}_ocm.* in {output}", arrived=f"two inputs: {other} and {raw}",
                expected="one input per output name (else one replaces, or skips, the other)",
                hints=Hints.same("Rename one, or run them into different output folders."),
            )


@dataclass(frozen=True, slots=True)
class _Job:
    """One input of ``ocm predict``: how to run it and how to describe its outputs."""

    raw: str
    run: Callable[[], SceneOutputs]
    is_item: bool


def _summary(out: SceneOutputs, is_item: bool) -> str:
    """The input's line, from the returned outputs (nothing is read back from the files)."""
    stats = out.statistics
    line = (f"{out.path}  cloud {stats.cloud_percent:.1f}%  shadow {stats.percentages['cloud_shadow']:.1f}%  "
            f"nodata {stats.nodata_percent:.1f}%")
    if not is_item:
        return line
    from ocm_engine.stac.predict import StacFacts

    stac = out.section(StacFacts)
    if stac is None:
        return line
    width, height = stac.window_px
    return (f"{line}  (window {width}x{height} px at {stac.resolution_m:g} m; catalog cloud "
            f"{stac.catalog_cloud_percent}%)")


def _run_inputs(jobs: Sequence[_Job]) -> int:
    """Run each job; print one line per input. Returns the number of failed inputs."""
    failures = 0
    for job in jobs:
        try:
            out = job.run()
        except OutputExistsError as err:
            print(f"skipped {job.raw}: {one_line(err, frontend='cli')}", file=sys.stderr)
            continue
        except OcmError as err:
            failures += 1
            print(f"error: {job.raw}: {one_line(err, frontend='cli')}", file=sys.stderr)
            continue
        except Exception as err:  # a bug must not stop a long batch: report it, go on
            if os.environ.get("OCM_DEBUG"):
                raise
            failures += 1
            print(f"error: {job.raw}: unexpected {type(err).__name__}: {one_line(err)} (a bug in ocm_engine: "
                  "please report it with this input; OCM_DEBUG=1 shows the traceback)", file=sys.stderr)
            continue
        print(_summary(out, job.is_item))
    return failures


def run(args: argparse.Namespace) -> int:
    """Run ``ocm predict``; returns the exit status (1 when any input failed)."""
    from ocm_engine.models.ensemble import load_ensemble
    from ocm_engine.pipeline import predict_file
    from ocm_engine.stac.predict import predict_item

    items, rasters = split_item_inputs(args)
    _check_stems(rasters, args.output)
    prepare_weights(args)  # --weights official --download: install the verified pair first
    ensemble = load_ensemble(args.weights or "default", device=args.device, dtype=args.dtype,
                             backend=getattr(args, "backend", None) or "auto", int8=getattr(args, "int8", None))
    shared: dict[str, Any] = {
        "ensemble": ensemble, "options": inference_options(args), "probabilities": args.probabilities,
        "png": not args.no_png, "overwrite": args.overwrite, "progress": not args.quiet,
    }

    def item_job(raw: str) -> _Job:
        return _Job(raw, lambda: predict_item(
            raw, args.output, bbox=area(args), resolution_m=args.resolution, catalog_url=args.catalog,
            collection=args.collection, assets=args.stac_assets, timeout_s=args.timeout, **shared), True)

    read = read_options(args)

    def file_job(raw: str) -> _Job:
        return _Job(raw, lambda: predict_file(scene_inputs(raw), args.output, read=read, **shared), False)

    jobs = [item_job(raw) for raw in items] + [file_job(raw) for raw in rasters]
    return 1 if _run_inputs(jobs) else 0
