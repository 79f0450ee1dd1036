"""Command-line options shared by ``ocm predict`` and ``ocm batch``, and the :class:`InferenceOptions` they build."""

from __future__ import annotations

import argparse

from ocm_engine.constants import DEFAULT_OVERLAP_PX, DEFAULT_PATCH_PX
from ocm_engine.options import InferenceOptions
from ocm_engine.sensors import SENSORS


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


def inference_options(args: argparse.Namespace) -> InferenceOptions:
    """The :class:`InferenceOptions` of parsed ``ocm predict`` / ``ocm batch`` arguments."""
    return InferenceOptions(
        patch_px=args.patch, overlap_px=args.overlap, batch_size=args.batch_size,
        device=args.device, dtype=args.dtype, tta=bool(getattr(args, "tta", False)),
    )
