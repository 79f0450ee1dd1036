"""Georeferencing helpers for display: grid bounds, bounds in degrees, warping to Web Mercator.

The app's maps (Leaflet) draw images in Web Mercator with bounds in degrees; these helpers
keep every rasterio call of that on the engine side, so the app handles only the engine's
``CRS``/``Affine`` objects (:mod:`ocm_engine.types`). Images are ``(bands, height, width)``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from rasterio.transform import array_bounds, from_bounds
from rasterio.warp import Resampling, calculate_default_transform, reproject, transform_bounds

from ocm_engine.types import CRS, Affine

Bounds = tuple[float, float, float, float]
"""``(left, bottom, right, top)`` (or ``(west, south, east, north)`` in degrees)."""

WEB_MERCATOR = "EPSG:3857"
LONLAT = "EPSG:4326"


def grid_bounds(transform: Affine, shape: tuple[int, int]) -> Bounds:
    """Bounds ``(left, bottom, right, top)`` of a ``(height, width)`` grid with this transform."""
    west, south, east, north = array_bounds(shape[0], shape[1], transform)
    return float(west), float(south), float(east), float(north)


def to_lonlat(bounds: Bounds, crs: CRS | str) -> Bounds:
    """Bounds in ``crs`` as degrees ``(west, south, east, north)`` (edges densified)."""
    west, south, east, north = transform_bounds(crs, LONLAT, *bounds, densify_pts=21)
    return float(west), float(south), float(east), float(north)


def warp_to_web_mercator(image: npt.NDArray[np.uint8], bounds: Bounds, crs: CRS | str,
                         smooth: bool = False) -> tuple[npt.NDArray[np.uint8], Bounds]:
    """Warp an image ``(bands, height, width)`` covering ``bounds`` in ``crs`` to Web Mercator.

    Args:
        image: The image, e.g. RGBA as ``(4, height, width)`` uint8.
        bounds: Its bounds in ``crs``.
        crs: Its CRS.
        smooth: Bilinear resampling (photos) instead of nearest (class maps).

    Returns:
        The warped image ``(bands, height', width')`` (0 outside the source) and its bounds in degrees.
    """
    bands, height, width = image.shape
    src_transform = from_bounds(*bounds, width, height)
    dst_transform, dst_w, dst_h = calculate_default_transform(crs, WEB_MERCATOR, width, height, *bounds)
    dst = np.zeros((bands, dst_h, dst_w), image.dtype)
    reproject(np.ascontiguousarray(image), dst, src_transform=src_transform, src_crs=crs,
              dst_transform=dst_transform, dst_crs=WEB_MERCATOR,
              resampling=Resampling.bilinear if smooth else Resampling.nearest)
    left, top = dst_transform.c, dst_transform.f
    right, bottom = left + dst_transform.a * dst_w, top + dst_transform.e * dst_h
    return dst, to_lonlat((left, bottom, right, top), WEB_MERCATOR)
