"""Pseudo-labels from the ``ukis-csmask`` peer model (4-band Blue, Green, Red, NIR ONNX U-Net).

ukis-csmask is designed for ~30 m imagery in reflectance (0-1). Finer images are
block-averaged to about 30 m before it runs and its mask is brought back with
nearest-neighbour, so a 10 m chip gets the labels the peer gives at its own scale.
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from scipy import ndimage

from ocm_engine.errors import InvalidImageError, ModelLoadError
from ocm_engine.types import FloatArray, UInt8Array

TEACHER_RESOLUTION_M = 30.0
TEACHER_NODATA = 255


def run_teacher(
    image: FloatArray,
    resolution_m: float,
    product_level: Literal["l1c", "l2a"] = "l2a",
    *,
    threads: int = 2,
) -> UInt8Array:
    """Run ukis-csmask on one scene.

    Args:
        image: float32 ``(4, height, width)``: Red, Green, NIR, Blue in reflectance (0-1).
        resolution_m: The image's pixel size in metres.
        product_level: ``"l1c"`` (top of atmosphere) or ``"l2a"`` (surface reflectance).
        threads: onnxruntime intra-op threads.

    Returns:
        uint8 ``(height, width)``: 0 clear, 1 cloud, 2 shadow, 255 nodata.

    Raises:
        InvalidImageError: If ``image`` is not ``(4, h, w)``.
        ModelLoadError: If ukis-csmask / onnxruntime is not installed.
    """
    if image.ndim != 3 or image.shape[0] != 4:
        raise InvalidImageError(f"Teacher input must be (4, height, width) Red, Green, NIR, Blue; got {image.shape}.")
    try:
        from ukis_csmask.mask import CSmask
    except ImportError as err:
        raise ModelLoadError("The teacher needs `pip install ukis-csmask onnxruntime`.") from err
    height, width = image.shape[1:]
    nodata = (image == 0).all(axis=0) | ~np.isfinite(image).all(axis=0)
    factor = max(1, round(TEACHER_RESOLUTION_M / resolution_m))
    work = np.nan_to_num(image, nan=0.0)
    if factor > 1:
        work = ndimage.zoom(work, (1, 1 / factor, 1 / factor), order=1)
    hwc = np.ascontiguousarray(np.stack([work[3], work[1], work[0], work[2]], axis=-1).astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mask = CSmask(
            hwc,
            band_order=["blue", "green", "red", "nir"],
            product_level=product_level,
            intra_op_num_threads=threads,
            inter_op_num_threads=1,
            providers=["CPUExecutionProvider"],
        ).csm[..., 0]
    if factor > 1:
        rows = np.minimum((np.arange(height) * mask.shape[0]) // height, mask.shape[0] - 1)
        cols = np.minimum((np.arange(width) * mask.shape[1]) // width, mask.shape[1] - 1)
        mask = mask[rows[:, None], cols[None, :]]
    out: UInt8Array = np.asarray(mask, dtype=np.uint8)
    out[nodata] = TEACHER_NODATA
    return out
