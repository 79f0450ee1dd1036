"""The ``ocm batch`` sub-command (registered by :func:`ocm_engine.cli.build_parser`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ocm_engine.constants import DEFAULT_OVERLAP_PX, DEFAULT_PATCH_PX
from ocm_engine.sensors import SENSORS


def _bands(text: str) -> list[int | None]:
    parts = [p.strip() for p in text.split(",")]
    try:
        values: list[int | None] = [int(p) for p in parts]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"--bands needs integers like 4,3,8; got {text!r}") from err
    if len(values) not in (2, 3):
        raise argparse.ArgumentTypeError(f"--bands takes Red,Green[,NIR] 1-based numbers; got {text!r}")
    return values + [None] * (3 - len(values))


def _keys(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not 1 <= len(keys) <= 3:
        raise argparse.ArgumentTypeError(f"--stac-assets takes KEY or RED,GREEN[,NIR]; got {text!r}")
    return keys


def _batch(args: argparse.Namespace) -> int:
    from ocm_engine.batch.runner import run_batch

    result = run_batch(
        args.scenes, args.output, model=args.weights or "default", sensor=args.sensor, bands=args.bands,
        nodata=args.nodata, resolution_m=args.resolution, scheduler=args.scheduler,
        n_workers=args.workers, device=args.device, dtype=args.dtype, probabilities=args.probabilities,
        png=not args.no_png, overwrite=args.overwrite, patch_px=args.patch, overlap_px=args.overlap,
        batch_size=args.batch_size, stac_assets=args.stac_assets, progress=not args.quiet,
    )
    for r in result.failed:
        print(f"{r.status}: {r.scene_id}: {r.error}", file=sys.stderr)
    print(f"{len(result.done)} done, {len(result.skipped)} skipped, {len(result.failed)} failed "
          f"in {result.seconds:.1f} s; summary: {result.summary_csv}")
    return 0 if result.ok else 1


def add_batch_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``ocm batch`` to the ``ocm`` command's sub-parsers.

    Args:
        subparsers: The object returned by ``ArgumentParser.add_subparsers``.

    Returns:
        The ``batch`` sub-parser (its ``func`` is the handler).
    """
    p: argparse.ArgumentParser = subparsers.add_parser(
        "batch", help="mask many scenes on a Dask cluster (local by default); resumable",
        description="Mask many scenes with Dask distributed: one output set per scene, complete "
                    "scenes skipped, failures reported per scene, a summary CSV/JSON in the output folder.",
    )
    p.add_argument("scenes", nargs="+", help="raster files, band-file folders, globs ('tiles/*.tif'), "
                   "a CSV (href or red,green,nir columns) or STAC items JSON; local or http(s)/s3 hrefs")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder (shared by all workers)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--sensor", choices=sorted(SENSORS), metavar="S",
                       help="sensor preset (see `ocm sensors`)")
    group.add_argument("--bands", type=_bands, help="1-based Red,Green,NIR band numbers, e.g. 4,3,8")
    p.add_argument("--stac-assets", type=_keys, help="STAC asset KEY (multiband) or RED,GREEN,NIR keys")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler (default: a local cluster)")
    p.add_argument("--workers", type=int, help="local workers (default: one per GPU, else cores/4)")
    p.add_argument("--resolution", type=float, help="inference resolution in metres (5-50)")
    p.add_argument("--weights", help="'default', 'official', or a weights file/folder every worker can read")
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: each worker's GPU, else CPU)")
    p.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], help="compute precision")
    p.add_argument("--probabilities", action="store_true", help="also write probability GeoTIFFs")
    p.add_argument("--nodata", type=float, help="nodata value (default: the file's, else the preset's)")
    p.add_argument("--patch", type=int, default=DEFAULT_PATCH_PX, help="patch size in px")
    p.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP_PX, help="patch overlap in px")
    p.add_argument("--batch-size", type=int, help="patches per forward pass")
    p.add_argument("--overwrite", action="store_true", help="redo scenes whose outputs exist")
    p.add_argument("--no-png", action="store_true", help="do not write PNG previews")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_batch)
    return p
