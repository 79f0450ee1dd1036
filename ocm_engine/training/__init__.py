"""Training of the embedded default ensemble: data, synthesis, augmentation, loop, evaluation.

Label codes used for training targets (``uint8``, ``(height, width)``):

* ``0`` clear, ``1`` thick cloud, ``2`` thin cloud, ``3`` cloud shadow (the model's classes);
* ``4`` cloud of unknown thickness (thick *or* thin: datasets without a thin class);
* ``255`` unknown (ignored by the loss).
"""

from __future__ import annotations

from typing import Final

CLEAR: Final = 0
THICK: Final = 1
THIN: Final = 2
SHADOW: Final = 3
ANY_CLOUD: Final = 4
IGNORE: Final = 255

__all__ = ["ANY_CLOUD", "CLEAR", "IGNORE", "SHADOW", "THICK", "THIN"]
