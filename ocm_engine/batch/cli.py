"""The ``ocm batch`` sub-command (registered by :func:`ocm_engine.cli.build_parser`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ocm_engine.cli_options import add_inference_options, inference_options
from ocm_engine.errors import SceneListError
from ocm_engine.stac.cli import add_batch_search_options


def _keys(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if not 1 <= len(keys) <= 3:
        raise argparse.ArgumentTypeError(f"--stac-assets takes KEY or RED,GREEN[,NIR]; got {text!r}")
    return keys


def _batch(args: argparse.Namespace) -> int:
    from ocm_engine.batch.runner import run_batch
    from ocm_engine.stac.cli import batch_scenes

    scenes, stac_failures = batch_scenes(args) if args.catalog else ([], 0)
    if not args.scenes and not scenes:
        raise SceneListError("Nothing to mask: give scenes, or a STAC search (--catalog URL --collection C --bbox).")
    result = run_batch(
        [*args.scenes, *scenes], args.output, model=args.weights or "default", sensor=args.sensor, bands=args.bands,
        nodata=args.nodata, resolution_m=args.resolution, scheduler=args.scheduler,
        n_workers=args.workers, device=args.device, dtype=args.dtype, probabilities=args.probabilities,
        png=not args.no_png, overwrite=args.overwrite, patch_px=args.patch, overlap_px=args.overlap,
        batch_size=args.batch_size, stac_assets=args.stac_assets, progress=not args.quiet,
        options=inference_options(args),
    )
    for r in result.failed:
        print(f"{r.status}: {r.scene_id}: {r.error}", file=sys.stderr)
    print(f"{len(result.done)} done, {len(result.skipped)} skipped, {len(result.failed)} failed "
          f"in {result.seconds:.1f} s; summary: {result.summary_csv}")
    return 0 if result.ok and not stac_failures else 1


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
    p.add_argument("scenes", nargs="*", help="raster files, band-file folders, globs ('tiles/*.tif'), "
                   "a CSV (href or red,green,nir columns) or STAC items JSON; local or http(s)/s3 hrefs")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder (shared by all workers)")
    p.add_argument("--stac-assets", type=_keys, help="STAC asset KEY (multiband) or RED,GREEN,NIR keys")
    p.add_argument("--scheduler", help="address of an existing Dask scheduler (default: a local cluster)")
    p.add_argument("--workers", type=int, help="local workers (default: one per GPU, else cores/4)")
    add_inference_options(p, weights_help="'default', 'official', or a weights file/folder every worker can read",
                          device_help="cpu, cuda, cuda:N (default: each worker's GPU, else CPU)")
    add_batch_search_options(p)
    p.set_defaults(func=_batch)
    return p
