"""Patch layout and blending weights for tiled inference (pure numpy/torch).

Patches of ``patch_px`` step by ``patch_px - overlap_px``; the last row and column
are pulled back so they end on the image edge. Each patch's logits are weighted
by a separable linear ramp that rises over the overlap at every edge, so seams
blend smoothly.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from ocm_engine.constants import MIN_PATCH_PX, WARN_PATCH_PX
from ocm_engine.errors import ImageTooSmallError, InvalidImageError, SmallPatchWarning


@dataclass(frozen=True, slots=True)
class Window:
    """A patch position in pixels: rows ``top:bottom``, columns ``left:right``."""

    top: int
    left: int
    size_px: int

    @property
    def bottom(self) -> int:
        """Row after the last row of the patch."""
        return self.top + self.size_px

    @property
    def right(self) -> int:
        """Column after the last column of the patch."""
        return self.left + self.size_px

    @property
    def slices(self) -> tuple[slice, slice]:
        """Row and column slices selecting the patch."""
        return slice(self.top, self.bottom), slice(self.left, self.right)


def fit_patch(height: int, width: int, patch_px: int, overlap_px: int) -> tuple[int, int]:
    """Shrink patch and overlap to fit an image, and check them.

    Args:
        height: Image height in pixels.
        width: Image width in pixels.
        patch_px: Requested patch side.
        overlap_px: Requested overlap between neighbouring patches.

    Returns:
        The patch side and overlap to use.

    Raises:
        ImageTooSmallError: If the image is under 32 px on a side.
        InvalidImageError: If patch or overlap are out of range.
    """
    if min(height, width) < MIN_PATCH_PX:
        raise ImageTooSmallError(
            f"The image is {height} x {width} px; the models need at least {MIN_PATCH_PX} px "
            f"on each side (about 96 px for good accuracy). Use a larger extent, a finer "
            f"inference resolution, or pad the image with nodata to {MIN_PATCH_PX} px."
        )
    if patch_px < MIN_PATCH_PX:
        raise InvalidImageError(
            f"patch_px={patch_px} is too small; use at least {MIN_PATCH_PX} (1000 is the default)."
        )
    if overlap_px < 0:
        raise InvalidImageError(f"overlap_px={overlap_px} must be >= 0 (300 is the default).")
    patch = min(patch_px, height, width)
    overlap = min(overlap_px, patch // 2)
    if patch < WARN_PATCH_PX:
        warnings.warn(
            f"Patches of {patch} px give the models little context; accuracy needs about 96 px.",
            SmallPatchWarning,
            stacklevel=3,
        )
    return patch, overlap


def _starts(length: int, patch_px: int, stride: int) -> list[int]:
    last = length - patch_px
    starts = sorted({min(start, last) for start in range(0, length, stride)})
    return starts


def patch_windows(height: int, width: int, patch_px: int, overlap_px: int) -> list[Window]:
    """Return the patch windows covering an image, row by row.

    Args:
        height: Image height in pixels (>= ``patch_px``).
        width: Image width in pixels (>= ``patch_px``).
        patch_px: Patch side.
        overlap_px: Overlap between neighbours (< ``patch_px``).

    Returns:
        Windows in row-major order, without duplicates.
    """
    stride = patch_px - overlap_px
    rows = _starts(height, patch_px, stride)
    cols = _starts(width, patch_px, stride)
    return [Window(top, left, patch_px) for top in rows for left in cols]


def blend_weights(
    patch_px: int,
    overlap_px: int,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Separable linear-ramp weights ``(patch_px, patch_px)``.

    Along each axis the weight rises ``1/overlap, 2/overlap, ... 1`` over the first
    ``overlap_px`` pixels, stays 1, and falls symmetrically at the end; the 2-D
    weight is the product of the two axes. Never zero, so image edges stay covered.
    """
    ramp = torch.ones(patch_px, dtype=torch.float64)
    if overlap_px > 0:
        rise = torch.arange(1, overlap_px + 1, dtype=torch.float64) / overlap_px
        ramp[:overlap_px] = rise
        ramp[-overlap_px:] = rise.flip(0)
    return (ramp[:, None] * ramp[None, :]).to(device=device, dtype=dtype)
