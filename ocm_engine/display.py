"""Display renderings shared by the PNG quick-look, the app and notebook maps: stretch and composites.

Arrays are ``(bands, height, width)``; renderings ``(height, width, 3)`` uint8.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
import numpy.typing as npt
from affine import Affine

from ocm_engine.io.scene import Scene


def stretch(
    bands: npt.NDArray[np.floating], valid: npt.NDArray[np.bool_] | None = None, low: float = 2.0, high: float = 98.0
) -> npt.NDArray[np.float32]:
    """Percentile-stretch each band to 0-1 over valid, finite pixels.

    Args:
        bands: ``(n, height, width)``.
        valid: ``(height, width)`` mask of pixels to compute percentiles on.
        low: Lower percentile.
        high: Upper percentile.

    Returns:
        float32 ``(n, height, width)`` in 0-1 (0 where not finite).
    """
    out = np.zeros(bands.shape, np.float32)
    ok = np.isfinite(bands).all(axis=0) if valid is None else valid & np.isfinite(bands).all(axis=0)
    for i, band in enumerate(bands):
        values = band[ok]
        if values.size == 0:
            continue
        lo, hi = np.percentile(values, [low, high])
        out[i] = np.clip((band - lo) / max(hi - lo, 1e-12), 0, 1)
    return np.nan_to_num(out)


#: The two composites: ``"true"`` Red, Green, Blue; ``"false"`` NIR, Red, Green (vegetation red).
Composite = Literal["true", "false"]


def composite_rgba(data: npt.NDArray[np.floating], valid: npt.NDArray[np.bool_],
                   blue: npt.NDArray[np.floating] | None, kind: Composite) -> npt.NDArray[np.uint8]:
    """The one colour rule for every picture of a scene (quick-look, app, notebook maps, thumbnails).

    True colour is Red, Green, Blue; a scene without Blue shows Green in Blue's place (see
    :func:`green_for_blue`). False colour is NIR, Red, Green. Each band is stretched 2-98 %
    over the valid pixels; nodata is transparent.

    Args:
        data: ``(3, height, width)`` Red, Green, NIR (a :class:`Scene`'s ``data``).
        valid: ``(height, width)`` True where the pixel has data.
        blue: ``(height, width)`` Blue, or ``None``.
        kind: Which composite.

    Returns:
        ``(height, width, 4)`` uint8 RGBA; alpha 0 on nodata (and on non-finite pixels).
    """
    red, green, nir = data
    if kind == "true":
        bands = np.stack([red, green, blue if blue is not None else green]).astype(np.float32)
    else:
        bands = np.stack([nir, red, green]).astype(np.float32)
    shown = valid & np.isfinite(bands).all(axis=0)
    rgba = np.zeros((*shown.shape, 4), np.uint8)
    rgba[..., :3] = np.moveaxis(np.round(stretch(bands, shown) * 255), 0, -1).astype(np.uint8)
    rgba[..., :3][~shown] = 0
    rgba[..., 3] = np.where(shown, 255, 0)
    return rgba


def composite(scene: Scene, kind: Composite) -> npt.NDArray[np.uint8]:
    """:func:`composite_rgba` of a :class:`Scene` (usually an overview, ``SceneReader.read_overview``)."""
    return composite_rgba(scene.data, scene.valid, scene.blue, kind)


def green_for_blue(scene: Scene) -> bool:
    """Whether the scene's true colour shows Green in Blue's place (it has no Blue band)."""
    return scene.blue is None


def quicklook_kind(scene: Scene) -> Composite:
    """The composite of a single picture of the scene: true colour with Blue, else false colour."""
    return "false" if green_for_blue(scene) else "true"


def scene_rgb(scene: Scene) -> npt.NDArray[np.uint8]:
    """The quick-look picture (:func:`quicklook_kind`), nodata black.

    Returns:
        ``(height, width, 3)`` uint8.
    """
    return np.ascontiguousarray(composite(scene, quicklook_kind(scene))[..., :3])


def subsample_step(shape: tuple[int, int], max_px: int) -> int:
    """The smallest step (every n-th pixel) that brings the longer side of ``shape`` to at most ``max_px``."""
    return max(1, -(-max(shape) // max_px))


def thumbnail(scene: Scene, max_px: int) -> Scene:
    """The scene subsampled (every n-th pixel) so its longer side is at most ``max_px``, for display.

    A scene already read is shrunk in memory instead of being read again at display size.
    """
    step = subsample_step(scene.shape, max_px)
    if step == 1:
        return scene
    rows = cols = slice(None, None, step)
    return dataclasses.replace(
        scene, data=scene.data[:, rows, cols], valid=scene.valid[rows, cols],
        blue=None if scene.blue is None else scene.blue[rows, cols],
        transform=scene.transform * Affine.scale(step, step), resolution_m=scene.resolution_m * step)
