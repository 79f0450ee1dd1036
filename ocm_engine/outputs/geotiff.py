"""GeoTIFF writers: the class map (colour table, band description, statistics tags) and probabilities.

Profiles are shared with the block writer of :func:`ocm_engine.predict_file`, which fills the
same files block by block. Every file is written atomically (:mod:`ocm_engine.outputs.atomic`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.io import DatasetWriter

from ocm_engine import metrics
from ocm_engine.constants import CLASS_COLOURS, CLASS_NAMES, NUM_CLASSES, OUTPUT_NODATA
from ocm_engine.outputs.atomic import atomic_path
from ocm_engine.types import BoolArray, GridInfo, UInt8Array

CLASS_BAND_DESCRIPTION = "cloud_mask: 0 clear, 1 thick cloud, 2 thin cloud, 3 cloud shadow"


def class_profile(grid: GridInfo) -> dict[str, Any]:
    """Rasterio profile of the class GeoTIFF (uint8, LZW, tiled, nodata 255)."""
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": grid.width,
        "height": grid.height,
        "count": 1,
        "dtype": "uint8",
        "nodata": OUTPUT_NODATA,
        "compress": "lzw",
        "transform": grid.transform,
        "crs": grid.crs,
    }
    if grid.width >= 256 and grid.height >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    return profile


def probability_profile(grid: GridInfo) -> dict[str, Any]:
    """Rasterio profile of the 4-band float32 probability GeoTIFF (nodata NaN)."""
    profile = class_profile(grid)
    profile.update(count=NUM_CLASSES, dtype="float32", nodata=float("nan"), predictor=3)
    return profile


def describe_probability_bands(dst: DatasetWriter) -> None:
    """Name the probability GeoTIFF's bands ``probability_<class>``."""
    for i, name in enumerate(CLASS_NAMES, start=1):
        dst.set_band_description(i, f"probability_{name}")


def finish_class_dataset(dst: DatasetWriter, tags: Mapping[str, str]) -> None:
    """Add the colour table, band description and tags to an open class dataset."""
    colours = {i: tuple(c) for i, c in enumerate(CLASS_COLOURS)}
    colours[OUTPUT_NODATA] = (0, 0, 0, 0)
    dst.write_colormap(1, colours)
    dst.set_band_description(1, CLASS_BAND_DESCRIPTION)
    dst.update_tags(**{k: str(v) for k, v in tags.items()})
    dst.update_tags(1, **{f"class_{i}": name for i, name in enumerate(CLASS_NAMES)})


def stats_tags(stats: metrics.ClassStatistics, extra: Mapping[str, object]) -> dict[str, str]:
    """Tags for the class GeoTIFF: statistics (2 decimals) plus run facts (GeoTIFF tags are text)."""
    tags = {k: (f"{v:d}" if isinstance(v, int) else f"{v:.2f}") for k, v in stats.as_dict().items()}
    tags["classes"] = ",".join(f"{i}={n}" for i, n in enumerate(CLASS_NAMES))
    tags.update({k: str(v) for k, v in extra.items()})
    return tags


def write_class_geotiff(
    path: Path,
    classes: UInt8Array,
    valid: BoolArray,
    grid: GridInfo,
    extra_tags: Mapping[str, object] | None = None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write the class map as a GeoTIFF QGIS shows in colour.

    Args:
        path: Target file.
        classes: ``(height, width)`` uint8 classes 0..3.
        valid: ``(height, width)`` bool; False pixels are written as nodata (255).
        grid: Georeferencing.
        extra_tags: Extra metadata tags (model, resolution...).
        overwrite: Replace an existing file.

    Returns:
        The path written.
    """
    data = np.where(valid, classes, OUTPUT_NODATA).astype(np.uint8)
    tags = stats_tags(metrics.class_statistics(classes, valid), extra_tags or {})
    with atomic_path(path, overwrite) as partial:
        with rasterio.open(partial, "w", **class_profile(grid)) as dst:
            dst.write(data, 1)
            finish_class_dataset(dst, tags)
    return path


def write_probability_geotiff(
    path: Path,
    probabilities: npt.NDArray[np.float32],
    valid: BoolArray,
    grid: GridInfo,
    *,
    overwrite: bool = False,
) -> Path:
    """Write per-class probabilities ``(4, height, width)`` as a 4-band float32 GeoTIFF.

    Args:
        path: Target file.
        probabilities: ``(4, height, width)`` float32.
        valid: ``(height, width)`` bool; False pixels are written as NaN.
        grid: Georeferencing.
        overwrite: Replace an existing file.

    Returns:
        The path written.
    """
    data = np.where(valid[None], probabilities, np.float32(np.nan)).astype(np.float32)
    with atomic_path(path, overwrite) as partial:
        with rasterio.open(partial, "w", **probability_profile(grid)) as dst:
            dst.write(data)
            describe_probability_bands(dst)
    return path
