"""The dynamic z-score: nodata-aware, per-patch, per-channel standardisation.

Each patch is normalised by the mean and standard deviation of its own valid
pixels, channel by channel. Raw DN, reflectance and 8-bit products of the same
scene therefore reach the model as (nearly) the same numbers: this is what makes
the models sensor-agnostic.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from ocm_engine.types import BoolArray, FloatArray

STD_EPS = 1e-8


_MASK_ROWS = 512


def valid_mask(image: npt.NDArray[np.generic], nodata: float | None = 0.0) -> BoolArray:
    """Return where a pixel holds data.

    A pixel is nodata when **all** its bands equal ``nodata``, or when any band is NaN
    or infinite.
    Works through the rows in blocks, so temporaries stay small for whole scenes.

    Args:
        image: Array ``(bands, height, width)``.
        nodata: The nodata value, or ``None`` when only NaN marks missing data.

    Returns:
        Boolean array ``(height, width)``, ``True`` where the pixel is valid.
    """
    out = np.empty(image.shape[1:], dtype=bool)
    check_nodata = not (nodata is None or (isinstance(nodata, float) and np.isnan(nodata)))
    for top in range(0, image.shape[1], _MASK_ROWS):
        block = image[:, top : top + _MASK_ROWS]
        rows = out[top : top + _MASK_ROWS]
        if block.dtype.kind == "f":
            np.isfinite(block).all(axis=0, out=rows)
        else:
            rows.fill(True)
        if check_nodata:
            rows &= ~(block == nodata).all(axis=0)
    return out


def zscore_patch(
    patch: npt.NDArray[np.generic],
    nodata: float | None = 0.0,
    valid: BoolArray | None = None,
) -> FloatArray:
    """Standardise a patch per channel by the mean and std of its valid pixels.

    Args:
        patch: Array ``(bands, height, width)`` of any real dtype.
        nodata: The nodata value (a pixel is nodata when all bands equal it; NaN always is).
        valid: A precomputed validity mask ``(height, width)``; computed from
            ``nodata`` when ``None``.

    Returns:
        float32 array ``(bands, height, width)``: ``(x - mean) / std`` on valid pixels,
        0 on nodata pixels. A channel with zero spread becomes 0. A patch without a
        valid pixel is all zeros.
    """
    if valid is None:
        valid = valid_mask(patch, nodata)
    out = np.zeros(patch.shape, dtype=np.float32)
    count = int(valid.sum())
    if count == 0:
        return out
    for band in range(patch.shape[0]):
        values = patch[band][valid].astype(np.float64)
        mean = values.mean()
        std = values.std()
        scaled = (patch[band].astype(np.float64) - mean) / (std + STD_EPS)
        out[band] = np.where(valid, scaled, 0.0).astype(np.float32)
    return out


def zscore_batch(batch: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Batched, on-device twin of :func:`zscore_patch`.

    Args:
        batch: Tensor ``(n, bands, height, width)``, float32.
        valid: Boolean tensor ``(n, 1, height, width)``.

    Returns:
        Float32 tensor of the batch's shape: per-patch, per-channel z-scores over
        valid pixels, 0 on nodata.
    """
    weights = valid.to(batch.dtype)
    count = weights.sum(dim=(2, 3), keepdim=True).clamp(min=1.0)
    data = torch.where(valid, batch, torch.zeros((), dtype=batch.dtype, device=batch.device))
    # The z-score does not depend on scale: dividing each channel by its largest magnitude
    # first keeps the sums of squares finite for values near the float32 maximum.
    scale = data.abs().amax(dim=(2, 3), keepdim=True)
    data = data / torch.where(scale > 0, scale, torch.ones_like(scale))
    mean = data.sum(dim=(2, 3), keepdim=True) / count
    centred = (data - mean) * weights
    std = (centred.square().sum(dim=(2, 3), keepdim=True) / count).sqrt()
    return centred / (std + STD_EPS)
