"""Options shared by ``ocm`` sub-commands, and the values they build.

The inference options (band mapping, resolution, model, device, outputs) serve ``ocm predict``
and ``ocm batch``; the place options (``--bbox``/``--point``/``--window-m``) serve ``ocm
predict`` (STAC items), ``ocm search`` and ``ocm batch``. :func:`scene_inputs` turns one raster
input (a file, or a folder of one scene's band files) into what
:func:`ocm_engine.predict_file` takes.

Every sub-command's parser is built from this module, so it imports no training code (scipy),
Dask or STAC client (pystac-client): those load when a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ocm_engine.constants import DEFAULT_OVERLAP_PX, DEFAULT_PATCH_PX, RASTER_SUFFIXES
from ocm_engine.errors import Hints, OcmError, WindowError
from ocm_engine.options import InferenceOptions, ReadOptions
from ocm_engine.sensors import SENSORS
from ocm_engine.stac.http import DEFAULT_TIMEOUT_S
from ocm_engine.stac.search import BBox, ItemSummary, parse_bbox, parse_point, point_bbox, search_items

#: Side of the window read around ``--point``, in metres.
DEFAULT_WINDOW_M = 5120.0


def parse_bands(text: str) -> list[int | None]:
    """Parse ``--bands R,G[,NIR]`` (1-based) into three entries, NIR ``None`` when absent.

    Raises:
        argparse.ArgumentTypeError: If the text is not 2 or 3 comma-separated integers.
    """
    parts = [p.strip() for p in text.split(",")]
    if len(parts) not in (2, 3):
        raise argparse.ArgumentTypeError(
            f"--bands takes 1-based Red,Green,NIR numbers like 4,3,8 (or 4,3 without NIR); got {text!r}"
        )
    try:
        values: list[int | None] = [int(p) for p in parts]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--bands needs integers, got {text!r}") from err
    return values + [None] * (3 - len(values))


def add_inference_options(parser: argparse.ArgumentParser, *, weights_help: str, device_help: str) -> None:
    """Add the band mapping, resolution, model, device and output options to a sub-command."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--sensor", choices=sorted(SENSORS), metavar="S", help="sensor preset (see `ocm sensors`)")
    group.add_argument("--bands", type=parse_bands, help="1-based Red,Green,NIR band numbers, e.g. 4,3,8")
    parser.add_argument("--resolution", type=float,
                        help="inference resolution in metres (5-50; default: source, >= 10)")
    parser.add_argument("--weights", help=weights_help)
    parser.add_argument("--device", help=device_help)
    parser.add_argument("--dtype", choices=["fp32", "fp16", "bf16"],
                        help="compute precision (default: bf16 on CUDA and bf16-capable CPUs, else fp32)")
    parser.add_argument("--backend", choices=["auto", "torch", "openvino"], default="auto",
                        help="what runs the models: auto (OpenVINO on the CPU when installed, else PyTorch), "
                             "torch, or openvino (converted once, cached on disk)")
    parser.add_argument("--int8", action=argparse.BooleanOptionalAction, default=None,
                        help="int8-quantize the convolutional members (OpenVINO on the CPU; quantized once, "
                             "cached); default: on for the embedded default model on CPUs with VNNI, where "
                             "its accuracy was measured (see its model card), unless --dtype is given; off otherwise")
    parser.add_argument("--probabilities", action="store_true", help="also write the 4-band probability GeoTIFF")
    parser.add_argument("--nodata", type=float,
                        help="nodata value (default: the file's, else the preset's, else 0)")
    parser.add_argument("--patch", type=int, default=DEFAULT_PATCH_PX,
                        help=f"patch size in px (default {DEFAULT_PATCH_PX})")
    parser.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP_PX,
                        help=f"patch overlap in px (default {DEFAULT_OVERLAP_PX})")
    parser.add_argument("--batch-size", type=int, help="patches per forward pass")
    parser.add_argument("--tta", action="store_true",
                        help="test-time augmentation: average over the 8 flips/rotations of each patch (8x slower)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (default: skip them)")
    parser.add_argument("--no-png", action="store_true", help="do not write the PNG preview")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


def read_options(args: argparse.Namespace) -> ReadOptions:
    """The :class:`ReadOptions` of parsed ``ocm predict`` / ``ocm batch`` arguments."""
    return ReadOptions(sensor=args.sensor, bands=None if args.bands is None else tuple(args.bands),
                       nodata=args.nodata, resolution_m=args.resolution)


def inference_options(args: argparse.Namespace) -> InferenceOptions:
    """The :class:`InferenceOptions` of parsed ``ocm predict`` / ``ocm batch`` arguments."""
    return InferenceOptions(
        patch_px=args.patch, overlap_px=args.overlap, batch_size=args.batch_size,
        device=args.device, dtype=args.dtype, tta=bool(getattr(args, "tta", False)),
        backend=getattr(args, "backend", None) or "auto", int8=getattr(args, "int8", None),
    )


def scene_inputs(raw: str) -> str | list[str]:
    """What :func:`ocm_engine.predict_file` takes for one raster input of ``ocm predict``.

    Args:
        raw: A raster file, or a folder holding one scene's single-band files.

    Returns:
        The path itself, or the folder's raster files (sorted by name).

    Raises:
        OcmError: The folder holds no raster files.
    """
    path = Path(raw)
    if path.is_dir():
        files = sorted(str(p) for p in path.iterdir() if p.suffix.lower() in RASTER_SUFFIXES)
        if not files:
            raise OcmError(
                f"Folder {path}", arrived="no raster files",
                expected=f"one scene's single-band files ({', '.join(RASTER_SUFFIXES)})",
                hints=Hints.same("Pass a raster file, or a folder of one scene's single-band files."),
            )
        return files
    return raw


# ----------------------------------------------------------------------------- places and searches
def _bbox(text: str) -> BBox:
    try:
        return parse_bbox(text)
    except WindowError as err:  # argparse prints the message after "argument --bbox:"
        raise argparse.ArgumentTypeError(err.describe("cli")) from err


def _point(text: str) -> tuple[float, float]:
    try:
        return parse_point(text)
    except WindowError as err:
        raise argparse.ArgumentTypeError(err.describe("cli")) from err


def add_place_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, required: bool,
                      bbox_help: str, point_help: str) -> None:
    """Add the mutually exclusive ``--bbox`` / ``--point`` pair (lon/lat degrees)."""
    place = parser.add_mutually_exclusive_group(required=required)
    place.add_argument("--bbox", type=_bbox, help=bbox_help)
    place.add_argument("--point", type=_point, help=point_help)


def add_search_options(parser: argparse.ArgumentParser | argparse._ArgumentGroup, *, catalog_required: bool,
                       catalog_help: str) -> None:
    """Add ``--catalog --collection --dates --max-cloud --limit --timeout`` (``ocm search`` and ``ocm batch``)."""
    parser.add_argument("--catalog", required=catalog_required, help=catalog_help)
    parser.add_argument("--collection", help="collection id, e.g. sentinel-2-l2a or landsat-c2-l2")
    parser.add_argument("--dates", help="START/END ISO dates, e.g. 2024-06-01/2024-06-30 ('..' for open)")
    parser.add_argument("--max-cloud", type=float, help="largest catalog eo:cloud_cover, percent")
    parser.add_argument("--limit", type=int, default=20, help="most items (default 20)")
    add_timeout_option(parser)


def add_timeout_option(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """Add ``--timeout`` (seconds per HTTP request)."""
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S,
                        help=f"seconds per HTTP request (default {DEFAULT_TIMEOUT_S:g})")


def area(args: argparse.Namespace) -> BBox | None:
    """The window to read: ``--bbox``, a ``--window-m`` square around ``--point``, or ``None``."""
    if getattr(args, "bbox", None):
        west, south, east, north = args.bbox
        return float(west), float(south), float(east), float(north)
    if getattr(args, "point", None):
        return point_bbox(args.point[0], args.point[1], args.window_m)
    return None


def run_search(args: argparse.Namespace) -> list[ItemSummary]:
    """Run the search that ``ocm search`` / ``ocm batch --catalog`` describe.

    Returns:
        The items found.

    Raises:
        CatalogError: The catalog fails.
        WindowError: Malformed ``--dates``.
    """
    return search_items(args.catalog, args.collection, bbox=tuple(args.bbox) if args.bbox else None,
                        point=tuple(args.point) if args.point else None, dates=args.dates,
                        max_cloud_percent=args.max_cloud, limit=args.limit, timeout_s=args.timeout)
