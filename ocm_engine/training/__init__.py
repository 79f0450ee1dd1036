"""Training of the embedded default ensemble: data, synthesis, augmentation, loop, evaluation.

Label codes used for training targets (``uint8``, ``(height, width)``):

* ``0`` clear, ``1`` thick cloud, ``2`` thin cloud, ``3`` cloud shadow (the model's classes);
* ``4`` cloud of unknown thickness (thick *or* thin: datasets without a thin class);
* ``100``-``200`` a soft teacher target: clear or cloud (of unknown thickness) with cloud
  probability ``(code - 100) / 100`` (the ukis-csmask teacher's own probabilities);
* ``255`` unknown (ignored by the loss).

Codes travel through every geometric transform (nearest-neighbour resampling, flips),
so a soft target stays on its pixel like a hard one.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

CLEAR: Final = 0
THICK: Final = 1
THIN: Final = 2
SHADOW: Final = 3
ANY_CLOUD: Final = 4
SOFT_BASE: Final = 100
SOFT_LEVELS: Final = 100
IGNORE: Final = 255


def soft_code(cloud_probability: npt.NDArray[np.floating]) -> npt.NDArray[np.uint8]:
    """Encode cloud probabilities (0-1) as soft-target label codes (100-200)."""
    clipped = np.clip(np.nan_to_num(cloud_probability, nan=0.0), 0.0, 1.0)
    codes: npt.NDArray[np.uint8] = (SOFT_BASE + np.round(clipped * SOFT_LEVELS)).astype(np.uint8)
    return codes


def is_soft(label: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Where ``label`` holds a soft teacher target."""
    out: npt.NDArray[np.bool_] = (label >= SOFT_BASE) & (label <= SOFT_BASE + SOFT_LEVELS)
    return out


def clear_like(label: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Clear pixels: hard ``CLEAR`` or a soft target that is more likely clear than cloud."""
    out: npt.NDArray[np.bool_] = (label == CLEAR) | (is_soft(label) & (label < SOFT_BASE + SOFT_LEVELS // 2))
    return out


__all__ = [
    "ANY_CLOUD",
    "CLEAR",
    "IGNORE",
    "SHADOW",
    "SOFT_BASE",
    "SOFT_LEVELS",
    "THICK",
    "THIN",
    "clear_like",
    "is_soft",
    "soft_code",
]
