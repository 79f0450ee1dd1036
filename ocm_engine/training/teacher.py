"""Pseudo-labels from the ``ukis-csmask`` peer model (ONNX U-Nets, 4-band or 6-band).

ukis-csmask is designed for ~30 m imagery in reflectance (0-1). Finer images are
block-averaged to about 30 m before it runs and its output is brought back with
nearest-neighbour, so a 10 m chip gets the labels the peer gives at its own scale.
With SWIR 1.6 and 2.2 µm bands it runs its 6-band model (stronger on bright land and
snow), else the 4-band one (Blue, Green, Red, NIR).

:func:`teacher_probabilities` keeps the peer's class probabilities (soft targets for
training); :func:`run_teacher` is their arg-max (the peer's mask, as its users get it).
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from scipy import ndimage

from ocm_engine.errors import Hints, InvalidImageError, ModelLoadError
from ocm_engine.types import FloatArray, UInt8Array

TEACHER_RESOLUTION_M = 30.0
TEACHER_NODATA = 255


def _probability_mask_class() -> type:
    """A ``CSmask`` that keeps its blended class probabilities (``.probabilities``, (h, w, 3))."""
    try:
        from ukis_csmask.mask import CSmask
        from ukis_csmask.utils import tile_array, untile_array
    except ImportError as err:
        raise ModelLoadError("Teacher (ukis-csmask)", arrived=f"an import error ({err})",
                             expected="ukis-csmask and onnxruntime installed",
                             hints=Hints.same("Install them: pip install ukis-csmask onnxruntime.")) from err

    class ProbabilityMask(CSmask):  # type: ignore[misc]
        probabilities: FloatArray

        def _csm(self) -> np.ndarray:
            size_x, size_y = self.target_size
            tiles = np.moveaxis(tile_array(self.img, xsize=size_x, ysize=size_y, overlap=0.2), -1, 1)
            parts = [
                self.softmax(self.session.run(None, {self.input_names: batch})[0])
                for batch in self.batch(tiles, batch_size=self.batch_size)
            ]
            tiled = np.moveaxis(np.concatenate(parts), 1, -1)
            shape = (self.img.shape[0], self.img.shape[1], tiled.shape[3])
            self.probabilities = np.asarray(
                untile_array(tiled, shape, overlap=0.2, smooth_blending=True), dtype=np.float32
            )
            return np.expand_dims(np.argmax(self.probabilities, axis=2).astype(np.uint8), axis=-1)

    return ProbabilityMask


def teacher_probabilities(
    image: FloatArray,
    resolution_m: float,
    product_level: Literal["l1c", "l2a"] = "l2a",
    *,
    swir: FloatArray | None = None,
    threads: int = 2,
) -> FloatArray:
    """Run ukis-csmask on one scene and return its class probabilities.

    Args:
        image: float32 ``(4, height, width)``: Red, Green, NIR, Blue in reflectance (0-1).
        resolution_m: The image's pixel size in metres.
        product_level: ``"l1c"`` (top of atmosphere) or ``"l2a"`` (surface reflectance).
        swir: Optional float32 ``(2, height, width)`` SWIR 1.6 and 2.2 µm reflectance:
            runs the 6-band model.
        threads: onnxruntime intra-op threads.

    Returns:
        float32 ``(3, height, width)``: probabilities of clear, cloud, shadow; NaN on nodata.

    Raises:
        InvalidImageError: If ``image`` is not ``(4, h, w)`` or ``swir`` not ``(2, h, w)``.
        ModelLoadError: If ukis-csmask / onnxruntime is not installed.
    """
    if image.ndim != 3 or image.shape[0] != 4:
        raise InvalidImageError("Teacher input shape", arrived=image.shape,
                                expected="(4, height, width): Red, Green, NIR, Blue")
    if swir is not None and swir.shape != (2, *image.shape[1:]):
        raise InvalidImageError("SWIR shape", arrived=swir.shape, expected=(2, *image.shape[1:]))
    height, width = image.shape[1:]
    nodata = (image == 0).all(axis=0) | ~np.isfinite(image).all(axis=0)
    factor = max(1, round(TEACHER_RESOLUTION_M / resolution_m))
    stack = image if swir is None else np.concatenate([image, swir])
    work = np.nan_to_num(stack, nan=0.0)
    if factor > 1:
        work = ndimage.zoom(work, (1, 1 / factor, 1 / factor), order=1)
    order = [3, 1, 0, 2] + ([4, 5] if swir is not None else [])
    bands = ["blue", "green", "red", "nir"] + (["swir16", "swir22"] if swir is not None else [])
    hwc = np.ascontiguousarray(np.stack([work[i] for i in order], axis=-1).astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probs = (
            _probability_mask_class()(
                hwc,
                band_order=bands,
                product_level=product_level,
                intra_op_num_threads=threads,
                inter_op_num_threads=1,
                providers=["CPUExecutionProvider"],
            )
            .probabilities.transpose(2, 0, 1)
            .astype(np.float32)
        )
    if factor > 1:
        rows = np.minimum((np.arange(height) * probs.shape[1]) // height, probs.shape[1] - 1)
        cols = np.minimum((np.arange(width) * probs.shape[2]) // width, probs.shape[2] - 1)
        probs = probs[:, rows[:, None], cols[None, :]]
    out: FloatArray = np.ascontiguousarray(probs)
    out[:, nodata] = np.nan
    return out


def run_teacher(
    image: FloatArray,
    resolution_m: float,
    product_level: Literal["l1c", "l2a"] = "l2a",
    *,
    threads: int = 2,
) -> UInt8Array:
    """Run ukis-csmask (4-band) on one scene and return its mask.

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
    return mask_from_probabilities(teacher_probabilities(image, resolution_m, product_level, threads=threads))


def mask_from_probabilities(probabilities: FloatArray) -> UInt8Array:
    """Arg-max of teacher probabilities ``(3, h, w)``: 0 clear, 1 cloud, 2 shadow, 255 nodata."""
    nodata = ~np.isfinite(probabilities).all(axis=0)
    out: UInt8Array = np.argmax(np.nan_to_num(probabilities, nan=0.0), axis=0).astype(np.uint8)
    out[nodata] = TEACHER_NODATA
    return out
