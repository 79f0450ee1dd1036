"""Augmentations for training chips. Images are ``(bands, height, width)``, labels ``(height, width)``.

Geometric transforms move image and labels together; radiometric ones touch the
image only. The last step is always the per-chip dynamic z-score with the same
semantics as inference (:func:`ocm_engine.normalize.zscore_patch`), with nodata
pixels labelled :data:`~ocm_engine.training.IGNORE`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

from ocm_engine.errors import InvalidImageError
from ocm_engine.normalize import valid_mask, zscore_patch
from ocm_engine.training import IGNORE
from ocm_engine.types import FloatArray, UInt8Array

#: Most a chip is ever upsampled (coarse imagery is never upsampled further).
MAX_UPSAMPLE = 1.11


def sample_target_resolution(source_m: float, chip_px: int, source_px: int, rng: np.random.Generator) -> float:
    """Draw a simulated resolution: 9-50 m mostly, sometimes 5 m when the source allows.

    Args:
        source_m: Source pixel size in metres.
        chip_px: Output chip size in pixels.
        source_px: Smallest side of the source image in pixels.
        rng: Random generator.

    Returns:
        Target pixel size in metres, between ``source_m / 1.11`` and the coarsest
        resolution the source still fills a chip at.
    """
    finest = source_m / MAX_UPSAMPLE
    coarsest = max(source_m * source_px / chip_px, finest)
    if source_m <= 5.0 and rng.random() < 0.25:
        return float(np.clip(5.0, finest, coarsest))
    low, high = max(9.0, finest), min(50.0, coarsest)
    if low >= high:
        return float(np.clip(high, finest, coarsest))
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def rescale_crop(
    image: FloatArray,
    label: UInt8Array,
    source_m: float,
    target_m: float,
    chip_px: int,
    rng: np.random.Generator,
    *,
    centre: tuple[int, int] | None = None,
) -> tuple[FloatArray, UInt8Array]:
    """Cut a random window and resample it to ``chip_px`` at ``target_m`` metres per pixel.

    With ``centre`` (row, col) the window is placed around that pixel (jittered by up
    to a quarter window, clipped to the image) instead of anywhere.

    The image is resampled with anti-aliased bilinear interpolation, the labels with
    nearest neighbour. A window larger than the image is clipped to it.

    Returns:
        Image ``(bands, chip_px, chip_px)`` float32 and labels ``(chip_px, chip_px)`` uint8.
    """
    if image.ndim != 3 or image.shape[1:] != label.shape:
        raise InvalidImageError("Image and labels", arrived=f"image {image.shape}, labels {label.shape}",
                                expected="image (bands, h, w) and labels (h, w) of the same size")
    _, height, width = image.shape
    window = round(chip_px * target_m / source_m)
    win_h, win_w = min(window, height), min(window, width)
    if centre is None:
        top = int(rng.integers(0, height - win_h + 1))
        left = int(rng.integers(0, width - win_w + 1))
    else:
        jitter = max(1, window // 4)
        top = int(np.clip(centre[0] - win_h // 2 + rng.integers(-jitter, jitter + 1), 0, height - win_h))
        left = int(np.clip(centre[1] - win_w // 2 + rng.integers(-jitter, jitter + 1), 0, width - win_w))
    img = torch.from_numpy(np.ascontiguousarray(image[:, top : top + win_h, left : left + win_w]))
    lab = torch.from_numpy(np.ascontiguousarray(label[top : top + win_h, left : left + win_w]))
    if (win_h, win_w) != (chip_px, chip_px):
        img = F.interpolate(
            img[None].float(), size=(chip_px, chip_px), mode="bilinear", antialias=True, align_corners=False
        )[0]
        lab = F.interpolate(lab[None, None].float(), size=(chip_px, chip_px), mode="nearest")[0, 0].to(torch.uint8)
    return img.numpy().astype(np.float32), lab.numpy().astype(np.uint8)


def flip_rotate(image: np.ndarray, label: UInt8Array, rng: np.random.Generator) -> tuple[np.ndarray, UInt8Array]:
    """Random 90-degree rotation and horizontal flip, applied to image and labels alike."""
    turns = int(rng.integers(0, 4))
    image = np.rot90(image, turns, axes=(1, 2))
    label = np.rot90(label, turns, axes=(0, 1))
    if rng.random() < 0.5:
        image = image[:, :, ::-1]
        label = label[:, ::-1]
    return np.ascontiguousarray(image), np.ascontiguousarray(label)


def add_nodata_edge(image: np.ndarray, label: UInt8Array, rng: np.random.Generator) -> tuple[np.ndarray, UInt8Array]:
    """Blank everything beyond a random straight line (a swath or tile edge) to 0 / IGNORE."""
    _, height, width = image.shape
    rows, cols = np.mgrid[0:height, 0:width]
    angle = rng.uniform(0, 2 * np.pi)
    distance = (rows - height / 2) * np.cos(angle) + (cols - width / 2) * np.sin(angle)
    cut = distance > rng.uniform(0.1, 0.45) * min(height, width)
    image = image.copy()
    label = label.copy()
    image[:, cut] = 0
    label[cut] = IGNORE
    return image, label


def corrupt_channel(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fill a random rectangle of one channel with one random value (a sensor artefact)."""
    bands, height, width = image.shape
    out = image.copy()
    band = int(rng.integers(0, bands))
    rect_h = int(rng.integers(max(height // 16, 1), max(height // 3, 2)))
    rect_w = int(rng.integers(max(width // 16, 1), max(width // 3, 2)))
    top = int(rng.integers(0, height - rect_h + 1))
    left = int(rng.integers(0, width - rect_w + 1))
    low, high = float(image[band].min()), float(image[band].max())
    out[band, top : top + rect_h, left : left + rect_w] = rng.uniform(low, high + 1e-6)
    return out


def clip_saturation(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Clip every band at a high percentile of the chip, as saturated products do."""
    level = float(np.percentile(image, rng.uniform(85.0, 99.5)))
    if level <= 0:
        return image
    clipped: np.ndarray = np.minimum(image, np.asarray(level, dtype=image.dtype))
    return clipped


def blur_or_sharpen(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur (sigma 0.5-1.5 px) or unsharp masking, per band; dtype kept."""
    work = image.astype(np.float32)
    blurred = ndimage.gaussian_filter(work, sigma=(0, *([rng.uniform(0.5, 1.5)] * 2)))
    out = blurred if rng.random() < 0.5 else work + rng.uniform(0.3, 1.0) * (work - blurred)
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        out = np.clip(np.round(out), 1, info.max)
        out[(image == 0).all(axis=0)[None].repeat(image.shape[0], 0)] = 0
    result: np.ndarray = out.astype(image.dtype)
    return result


def augment_chip(
    image: np.ndarray,
    label: UInt8Array,
    rng: np.random.Generator,
    *,
    p_nodata: float = 0.15,
    p_corrupt: float = 0.1,
    p_saturate: float = 0.15,
    p_blur: float = 0.2,
    p_no_nir: float = 0.03,
) -> tuple[FloatArray, UInt8Array]:
    """Apply the random augmentations, then normalise.

    Args:
        image: ``(3, h, w)`` Red, Green, NIR in any product range (nodata 0).
        label: ``(h, w)`` training codes.
        rng: Random generator.
        p_nodata: Chance of a nodata edge.
        p_corrupt: Chance of a single-channel corrupted rectangle.
        p_saturate: Chance of percentile saturation clipping.
        p_blur: Chance of blur or sharpening.
        p_no_nir: Chance the NIR band is zeroed (users without NIR pass zeros).

    Returns:
        The z-scored float32 image and the labels, same spatial shape.
    """
    image, label = flip_rotate(image, label, rng)
    if rng.random() < p_blur:
        image = blur_or_sharpen(image, rng)
    if rng.random() < p_saturate:
        image = clip_saturation(image, rng)
    if rng.random() < p_corrupt:
        image = corrupt_channel(image, rng)
    if rng.random() < p_nodata:
        image, label = add_nodata_edge(image, label, rng)
    valid = valid_mask(image, 0)
    if rng.random() < p_no_nir:
        image = image.copy()
        image[2] = 0
    out = zscore_patch(image, nodata=0, valid=valid)
    label = label.copy()
    label[~valid] = IGNORE
    return out, label
