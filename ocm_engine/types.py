"""Shared type aliases. Arrays are ``(bands, height, width)`` unless named otherwise.

``CRS`` and ``Affine`` are the georeferencing types every :class:`~ocm_engine.Scene` and
:class:`~ocm_engine.Prediction` carries; callers (the app) annotate with these names from
here rather than importing rasterio themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from rasterio.crs import CRS
from rasterio.transform import Affine

__all__ = ["CRS", "Affine", "BoolArray", "DeviceName", "DtypeName", "FloatArray", "GridInfo", "UInt8Array"]

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
UInt8Array = npt.NDArray[np.uint8]
DeviceName = Literal["cpu", "cuda", "mps"]
DtypeName = Literal["fp32", "fp16", "bf16"]


@dataclass(frozen=True, slots=True)
class GridInfo:
    """Georeferencing of a raster grid: size, transform and CRS (``crs`` may be ``None``).

    Shared by readers, :class:`~ocm_engine.Prediction` and the writers in :mod:`ocm_engine.outputs`.
    """

    width: int
    height: int
    transform: Affine
    crs: CRS | None
