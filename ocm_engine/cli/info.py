"""``ocm sensors`` (the sensor presets) and ``ocm info`` (what a raster file holds)."""

from __future__ import annotations

import argparse
from typing import Any

from ocm_engine.sensors import SENSORS


def run_sensors(_args: argparse.Namespace) -> int:
    """Print the sensor presets: key, Red/Green/NIR band numbers, resolution, nodata, name."""
    width = max(len(k) for k in SENSORS)
    print(f"{'key':<{width}}  bands(R,G,NIR)  res_m  nodata  name")
    for key, p in SENSORS.items():
        bands = ",".join("-" if b is None else str(b) for b in p.band_indices)
        print(f"{key:<{width}}  {bands:<14}  {p.native_resolution_m:>5g}  {p.nodata!s:>6}  {p.label}")
    return 0


def run_info(args: argparse.Namespace) -> int:
    """Print a raster file's size, bands, CRS, resolution and nodata."""
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


def add_sensors_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``ocm sensors``.

    Returns:
        The ``sensors`` sub-parser.
    """
    p: argparse.ArgumentParser = subparsers.add_parser("sensors", help="list sensor presets")
    p.set_defaults(func=run_sensors)
    return p


def add_info_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``ocm info FILE``.

    Returns:
        The ``info`` sub-parser.
    """
    p: argparse.ArgumentParser = subparsers.add_parser("info", help="describe a raster file")
    p.add_argument("file")
    p.set_defaults(func=run_info)
    return p
