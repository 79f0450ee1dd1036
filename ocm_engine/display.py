"""Display renderings shared by the PNG quick-look and the app: percentile stretch, true colour.

Arrays are ``(bands, height, width)``; renderings ``(height, width, 3)`` uint8.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

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


def scene_rgb(scene: Scene) -> npt.NDArray[np.uint8]:
    """True colour (Red, Green, Blue) where the scene has Blue, else false colour (NIR, Red, Green).

    Returns:
        ``(height, width, 3)`` uint8, stretched 2-98 % over valid pixels; nodata black.
    """
    red, green, nir = scene.data.astype(np.float32)
    if scene.blue is not None:
        bands = np.stack([red, green, scene.blue.astype(np.float32)])
    else:
        bands = np.stack([nir, red, green])
    rgb = np.round(stretch(bands, scene.valid) * 255).astype(np.uint8)
    rgb[:, ~scene.valid] = 0
    return np.ascontiguousarray(np.moveaxis(rgb, 0, -1))
