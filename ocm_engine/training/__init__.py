"""Training of the embedded default ensemble: data, synthesis, augmentation, loop, evaluation.

Label codes used for training targets (``uint8``, ``(height, width)``):

* ``0`` clear, ``1`` thick cloud, ``2`` thin cloud, ``3`` cloud shadow (the model's classes);
* ``4`` cloud of unknown thickness (thick *or* thin: datasets without a thin class);
* ``100``-``200`` a soft teacher target: clear or cloud (of unknown thickness) with cloud
  probability ``(code - 100) / 100`` (the ukis-csmask teacher's own probabilities);
* ``255`` unknown (ignored by the loss).

Codes travel through every geometric transform (nearest-neighbour resampling, flips),
so a soft target stays on its pixel like a hard one. They are defined in
:mod:`ocm_engine.labels` (the app's synthetic demo scenes use them too) and re-exported here.
"""

from __future__ import annotations

from ocm_engine.labels import (
    ANY_CLOUD,
    CLEAR,
    IGNORE,
    SHADOW,
    SOFT_BASE,
    SOFT_LEVELS,
    THICK,
    THIN,
    clear_like,
    is_soft,
    soft_code,
)

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
