"""The ``ocm`` command: predict, sensors, info (and train/evaluate from the training package)."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from ocm_engine.cli_options import add_inference_options, inference_options
from ocm_engine.errors import OcmError, OcmWarning, OutputExistsError, one_line
from ocm_engine.sensors import SENSORS
from ocm_engine.stac.cli import add_predict_options

RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".vrt", ".img", ".nc")


def _scene_inputs(raw: str) -> str | list[str]:
    path = Path(raw)
    if path.is_dir():
        files = sorted(str(p) for p in path.iterdir() if p.suffix.lower() in RASTER_SUFFIXES)
        if not files:
            raise OcmError(
                f"Folder {path} holds no raster files ({', '.join(RASTER_SUFFIXES)}). Pass a raster "
                "file, or a folder of one scene's single-band files."
            )
        return files
    return raw


def _predict(args: argparse.Namespace) -> int:
    from ocm_engine.models.ensemble import load_ensemble
    from ocm_engine.pipeline import predict_file, scene_stem
    from ocm_engine.stac.cli import predict_items, split_item_inputs

    items, args.inputs = split_item_inputs(args)
    by_stem: dict[str, str] = {}
    for raw in args.inputs:
        try:
            source_files = _scene_inputs(raw)
        except OcmError:
            continue  # reported when the scene's turn comes
        other = by_stem.setdefault(scene_stem(source_files), raw)
        if other != raw:
            raise OcmError(
                f"Inputs {other} and {raw} would both write {scene_stem(source_files)}_ocm.* in "
                f"{args.output}, and one would replace (or skip) the other. Rename one, or run "
                "them into different output folders."
            )
    source = args.weights or "default"
    ensemble = load_ensemble(source, device=args.device, dtype=args.dtype)
    failures = predict_items(items, args, ensemble, options=inference_options(args),
                             probabilities=args.probabilities, png=not args.no_png,
                             overwrite=args.overwrite, progress=not args.quiet) if items else 0
    for raw in args.inputs:
        try:
            out = predict_file(
                _scene_inputs(raw), args.output, sensor=args.sensor, bands=args.bands,
                nodata=args.nodata, resolution_m=args.resolution, ensemble=ensemble,
                options=inference_options(args),
                probabilities=args.probabilities, png=not args.no_png, overwrite=args.overwrite,
                progress=not args.quiet,
            )
        except OutputExistsError as err:
            print(f"skipped {raw}: {one_line(err)}", file=sys.stderr)
            continue
        except OcmError as err:
            failures += 1
            print(f"error: {raw}: {one_line(err)}", file=sys.stderr)
            continue
        except Exception as err:  # a bug must not stop a long batch: report it, go on
            if os.environ.get("OCM_DEBUG"):
                raise
            failures += 1
            print(f"error: {raw}: unexpected {type(err).__name__}: {one_line(err)} (a bug in ocm_engine: "
                  "please report it with this file; OCM_DEBUG=1 shows the traceback)", file=sys.stderr)
            continue
        stats = json.loads(out.with_suffix(".json").read_text())["statistics"]
        print(f"{out}  cloud {stats['cloud_percent']:.1f}%  shadow "
              f"{stats['cloud_shadow_percent']:.1f}%  nodata {stats['nodata_percent']:.1f}%")
    return 1 if failures else 0


def _sensors(_args: argparse.Namespace) -> int:
    width = max(len(k) for k in SENSORS)
    print(f"{'key':<{width}}  bands(R,G,NIR)  res_m  nodata  name")
    for key, p in SENSORS.items():
        bands = ",".join("-" if b is None else str(b) for b in p.band_indices)
        print(f"{key:<{width}}  {bands:<14}  {p.native_resolution_m:>5g}  {p.nodata!s:>6}  {p.label}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from ocm_engine.io.readers import open_scene

    with open_scene(args.file, bands=(1, 1, None)) as src:
        ds = src.datasets[0]
        print(f"file        {args.file}")
        print(f"size        {ds.width} x {ds.height} px, {ds.count} band(s), {ds.dtypes[0]}")
        print(f"crs         {ds.crs or 'none (outputs will not be georeferenced)'}")
        print(f"resolution  {src.resolution_m:.4g} m")
        print(f"nodata      {ds.nodata}")
        for i, desc in enumerate(ds.descriptions, start=1):
            print(f"band {i:<3}    {desc or ''}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``ocm`` command."""
    parser = argparse.ArgumentParser(prog="ocm", description="Sensor-agnostic cloud and cloud-shadow masking.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="mask clouds and shadows in scenes")
    p.add_argument("inputs", nargs="*", help="raster files, folders of single-band files (one scene each), "
                   "or STAC item URLs / item JSON files (a --bbox window of each is read)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    add_inference_options(p, weights_help="'default', 'official' (OCM v4 pair), or a weights file/folder",
                          device_help="cpu, cuda, mps (default: best available)")
    add_predict_options(p)
    p.set_defaults(func=_predict)
    s = sub.add_parser("sensors", help="list sensor presets")
    s.set_defaults(func=_sensors)
    i = sub.add_parser("info", help="describe a raster file")
    i.add_argument("file")
    i.set_defaults(func=_info)
    for module, adders in (("ocm_engine.training.cli", ("add_train_parser", "add_evaluate_parser")),
                           ("ocm_engine.batch", ("add_batch_parser",)),
                           ("ocm_engine.stac.cli", ("add_search_parser",))):
        try:
            mod = importlib.import_module(module)
        except ImportError:
            continue
        for name in adders:
            if hasattr(mod, name):
                getattr(mod, name)(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``ocm`` command; returns the exit status."""
    args = build_parser().parse_args(argv)
    warnings.simplefilter("always", OcmWarning)
    warnings.formatwarning = lambda msg, cat, *_a, **_k: f"warning: {msg}\n"
    try:
        return int(args.func(args))
    except OcmError as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
