"""Procedural clouds, thin clouds and cloud shadows with exact labels.

Arrays are ``(bands, height, width)``, bands Red, Green, NIR, in reflectance (0-1).
Noise scales are in metres, so a cumulus field looks the same size at 10 m and 30 m.
The physics follows ``CLOUD_PHYSICS.md``: thick cloud is bright and white; thin cloud
is a semi-transparent layer (``surface * t + cloud * (1 - t)``); the shadow is the
thick cloud's footprint moved by ``height * tan(zenith)`` away from the sun, darkening
every band (NIR most).

Labels are exact by construction. Pixels in a narrow margin between classes (nearly
transparent cloud, penumbra) get :data:`~ocm_engine.training.IGNORE` instead of a guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ocm_engine.errors import InvalidImageError
from ocm_engine.training import ANY_CLOUD, CLEAR, IGNORE, SHADOW, THICK, THIN, clear_like
from ocm_engine.types import FloatArray, UInt8Array

ProductRange = Literal["reflectance", "dn10000", "dn10000_offset", "landsat_c2", "byte"]
PRODUCT_RANGES: tuple[ProductRange, ...] = (
    "reflectance",
    "dn10000",
    "dn10000_offset",
    "landsat_c2",
    "byte",
)


@dataclass(frozen=True, slots=True)
class SynthConfig:
    """Probabilities and ranges of the synthetic layers.

    Attributes:
        p_thick: Chance a chip gets a thick-cloud layer.
        p_thin: Chance a chip gets a thin-cloud/haze layer.
        p_shadow: Chance thick clouds cast a shadow.
        thick_min_opacity: Opacity from which a pixel is labelled thick cloud.
        thin_min_opacity: Opacity from which a thin-cloud layer is labelled thin cloud.
        rim_cloud_opacity: A thick cloud's soft edge (opacity between this and
            ``thick_min_opacity``) is cloud of unknown thickness; fainter edges are unknown.
            Labelling the whole edge thin taught a thin-cloud halo around every cloud,
            wider than experts draw cloud (38-Cloud precision).
        shadow_min: Shadow strength from which a pixel is labelled shadow.
        p_stratiform: Chance a thick layer is stratiform (large cells) rather than cumulus.
        thick_coverage: Range of the share of the canvas a thick layer covers (drawn
            uniformly; the same random draws whatever the range, so seeds stay comparable).
    """

    p_thick: float = 0.75
    p_thin: float = 0.45
    p_shadow: float = 0.85
    thick_min_opacity: float = 0.6
    thin_min_opacity: float = 0.2
    rim_cloud_opacity: float = 0.4
    shadow_min: float = 0.5
    p_stratiform: float = 0.3
    thick_coverage: tuple[float, float] = (0.05, 0.6)


def fractal_noise(
    shape: tuple[int, int],
    resolution_m: float,
    scale_m: float,
    rng: np.random.Generator,
    *,
    octaves: int = 5,
    persistence: float = 0.55,
    anisotropy: float = 1.0,
) -> FloatArray:
    """Multi-octave value noise with its largest feature size given in metres.

    Args:
        shape: ``(height, width)`` in pixels.
        resolution_m: Pixel size in metres.
        scale_m: Size of the coarsest octave's cells in metres.
        rng: Random generator.
        octaves: Number of octaves (each half the size of the previous one).
        persistence: Amplitude ratio between successive octaves.
        anisotropy: Cell width / height ratio (> 1 gives streaks, as in cirrus).

    Returns:
        float32 ``(height, width)`` with zero mean and unit standard deviation.
    """
    height, width = shape
    total = torch.zeros(1, 1, height, width)
    amplitude = 1.0
    cell_px = max(scale_m / resolution_m, 1.0)
    for _ in range(octaves):
        cell_h = max(cell_px, 1.0)
        cell_w = max(cell_px * anisotropy, 1.0)
        grid_h = max(math.ceil(height / cell_h) + 2, 2)
        grid_w = max(math.ceil(width / cell_w) + 2, 2)
        grid = torch.from_numpy(rng.standard_normal((1, 1, grid_h, grid_w)).astype(np.float32))
        up_h = round(grid_h * cell_h)
        up_w = round(grid_w * cell_w)
        if up_h > 8 * height + 64 or up_w > 8 * width + 64:
            up = F.interpolate(grid, size=(height, width), mode="bilinear", align_corners=False)
        else:
            up = F.interpolate(grid, size=(up_h, up_w), mode="bicubic", align_corners=False)
            top = int(rng.integers(0, max(up_h - height, 0) + 1))
            left = int(rng.integers(0, max(up_w - width, 0) + 1))
            up = up[..., top : top + height, left : left + width]
            if up.shape[-2:] != (height, width):
                up = F.interpolate(up, size=(height, width), mode="bilinear", align_corners=False)
        total += amplitude * up
        amplitude *= persistence
        cell_px /= 2.0
        if cell_px < 0.75:
            break
    raw: FloatArray = total[0, 0].numpy()
    out: FloatArray = ((raw - raw.mean()) / (raw.std() + 1e-6)).astype(np.float32)
    return out


def _coverage_alpha(field: FloatArray, coverage: float, softness: float) -> FloatArray:
    """Threshold a noise field at the quantile giving ``coverage``; soft ramp above it."""
    threshold = float(np.quantile(field, 1.0 - coverage))
    alpha: FloatArray = np.clip((field - threshold) / softness, 0.0, 1.0).astype(np.float32)
    return alpha


def _shadow_offset_px(resolution_m: float, rng: np.random.Generator, limit_px: int) -> tuple[int, int]:
    """Shadow displacement (rows, cols) in pixels: height * tan(zenith), away from the sun."""
    low = rng.random() < 0.75
    height_m = rng.uniform(500.0, 3000.0) if low else rng.uniform(3000.0, 12000.0)
    zenith = math.radians(rng.uniform(20.0, 70.0))
    azimuth = math.radians(rng.uniform(0.0, 360.0))  # solar azimuth, clockwise from north
    offset_px = min(height_m * math.tan(zenith) / resolution_m, float(limit_px))
    # Shadows fall opposite the sun: row grows southwards, col eastwards.
    d_row = offset_px * math.cos(azimuth)
    d_col = -offset_px * math.sin(azimuth)
    return round(d_row), round(d_col)


def add_clouds(
    background: FloatArray,
    resolution_m: float,
    rng: np.random.Generator,
    *,
    base_label: UInt8Array | None = None,
    config: SynthConfig | None = None,
) -> tuple[FloatArray, UInt8Array]:
    """Composite synthetic thick cloud, thin cloud and shadow onto a background.

    Args:
        background: float32 ``(3, height, width)``: Red, Green, NIR reflectance (0-1).
        resolution_m: Pixel size in metres.
        rng: Random generator.
        base_label: Labels of the background (training codes); all clear when ``None``.
        config: Layer probabilities and label thresholds.

    Returns:
        The new image (float32, same shape) and labels ``(height, width)`` uint8 in
        training codes (0 clear, 1 thick, 2 thin, 3 shadow, 4 a thick cloud's edge
        (cloud of unknown thickness), 255 ambiguous; background labels kept where no
        synthetic layer decides).

    Raises:
        InvalidImageError: If ``background`` is not ``(3, h, w)``.
    """
    if background.ndim != 3 or background.shape[0] != 3:
        raise InvalidImageError(f"Background must be (3, height, width) Red, Green, NIR; got {background.shape}.")
    cfg = config or SynthConfig()
    _, height, width = background.shape
    image = background.astype(np.float32).copy()
    synth = np.full((height, width), CLEAR, np.uint8)
    pad = max(height, width) // 2
    canvas = (height + 2 * pad, width + 2 * pad)

    thick_alpha = np.zeros((height, width), np.float32)
    if rng.random() < cfg.p_thick:
        stratiform = rng.random() < cfg.p_stratiform
        scale_m = rng.uniform(4000, 20000) if stratiform else math.exp(rng.uniform(math.log(400), math.log(4000)))
        field = fractal_noise(canvas, resolution_m, scale_m, rng, persistence=rng.uniform(0.45, 0.65))
        coverage = rng.uniform(*cfg.thick_coverage)
        alpha_canvas = _coverage_alpha(field, coverage, rng.uniform(0.15, 0.8))
        thick_alpha = alpha_canvas[pad : pad + height, pad : pad + width]
        if rng.random() < cfg.p_shadow:
            d_row, d_col = _shadow_offset_px(resolution_m, rng, pad)
            top, left = pad - d_row, pad - d_col
            shade = alpha_canvas[top : top + height, left : left + width]
            k_nir = rng.uniform(0.15, 0.5)
            k_vis = min(k_nir + rng.uniform(0.0, 0.25), 0.75)
            factors = np.array([k_vis, k_vis * rng.uniform(0.95, 1.08), k_nir], np.float32)
            image *= 1.0 - shade[None] * (1.0 - factors[:, None, None])
            synth[shade >= cfg.shadow_min] = SHADOW
            synth[(shade > 0.2) & (shade < cfg.shadow_min)] = IGNORE
        # Red 0.25-0.85 and NIR/Red 0.95-1.3: the measured thick-cloud range (CLOUD_PHYSICS.md).
        brightness = rng.uniform(0.25, 0.85)
        texture = fractal_noise((height, width), resolution_m, rng.uniform(200, 2000), rng)
        tint = np.array([1.0, rng.uniform(0.97, 1.04), rng.uniform(0.95, 1.3)], np.float32)
        cloud = brightness * tint[:, None, None] * (1.0 + 0.08 * texture[None]) * (0.85 + 0.15 * thick_alpha[None])
        image = image * (1.0 - thick_alpha[None]) + cloud * thick_alpha[None]

    thin_alpha = np.zeros((height, width), np.float32)
    if rng.random() < cfg.p_thin:
        cirrus = rng.random() < 0.5
        field = fractal_noise(
            (height, width),
            resolution_m,
            rng.uniform(1500, 15000),
            rng,
            anisotropy=rng.uniform(3.0, 8.0) if cirrus else 1.0,
        )
        if cirrus and rng.random() < 0.5:
            field = np.ascontiguousarray(field.T if height == width else field[::-1])
        max_opacity = rng.uniform(0.15, 0.6)
        thin_alpha = max_opacity * _coverage_alpha(field, rng.uniform(0.2, 0.9), rng.uniform(0.5, 2.0))
        level = rng.uniform(0.25, 0.6)
        tint = np.array([1.02, 1.05, rng.uniform(0.95, 1.15)], np.float32) * level
        image = image * (1.0 - thin_alpha[None]) + tint[:, None, None] * thin_alpha[None]

    opacity = np.maximum(thick_alpha, thin_alpha)
    # Faint margins are unknown, not thin cloud: labelling them thin taught wide halos.
    synth[(opacity > 0.08) & (opacity < cfg.thin_min_opacity)] = IGNORE
    synth[thin_alpha >= cfg.thin_min_opacity] = THIN
    synth[(thick_alpha > 0.08) & (thick_alpha < cfg.rim_cloud_opacity) & (synth != THIN)] = IGNORE
    synth[thick_alpha >= cfg.rim_cloud_opacity] = ANY_CLOUD
    synth[thick_alpha >= cfg.thick_min_opacity] = THICK

    if base_label is None:
        return image, synth
    label = base_label.copy()
    cloud = (synth == THICK) | (synth == THIN) | (synth == ANY_CLOUD)
    label[cloud] = synth[cloud]
    on_clear = clear_like(label) & ((synth == SHADOW) | (synth == IGNORE))
    label[on_clear] = synth[on_clear]
    return image, label


def to_product_range(reflectance: FloatArray, product: ProductRange, rng: np.random.Generator) -> np.ndarray:
    """Express reflectance the way a product stores it (with its clipping and quantisation).

    Args:
        reflectance: float32 ``(bands, height, width)`` (0-1, may exceed 1 for bright cloud).
        product: ``"reflectance"`` (float 0-1), ``"dn10000"`` (uint16 x10000),
            ``"dn10000_offset"`` (x10000 + 1000, processing baseline >= 04.00),
            ``"landsat_c2"`` (uint16, scale 0.0000275, offset -0.2) or ``"byte"``
            (8-bit visual product: gain 1.5-4 x 255, clipped at 255: saturated clouds).
        rng: Random generator (for the 8-bit gain).

    Returns:
        The array in the product's dtype; nodata stays 0.

    Raises:
        InvalidImageError: If ``product`` is unknown.
    """
    nodata = (reflectance == 0).all(axis=0)
    if product == "reflectance":
        out: np.ndarray = reflectance.astype(np.float32)
    elif product == "dn10000":
        out = np.clip(np.round(reflectance * 10000.0), 1, 65535).astype(np.uint16)
    elif product == "dn10000_offset":
        out = np.clip(np.round(reflectance * 10000.0 + 1000.0), 1, 65535).astype(np.uint16)
    elif product == "landsat_c2":
        out = np.clip(np.round((reflectance + 0.2) / 0.0000275), 1, 65535).astype(np.uint16)
    elif product == "byte":
        gain = rng.uniform(1.5, 4.0) * 255.0
        out = np.clip(np.round(reflectance * gain), 1, 255).astype(np.uint8)
    else:
        raise InvalidImageError(f"Unknown product range {product!r}; expected one of {', '.join(PRODUCT_RANGES)}.")
    out[:, nodata] = 0
    return out
