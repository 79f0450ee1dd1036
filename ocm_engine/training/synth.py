"""Product ranges for training: reflectance expressed the way sensors' products store it.

The cloud synthesis itself (:class:`~ocm_engine.synthetic.SynthConfig`,
:func:`~ocm_engine.synthetic.add_clouds`, :func:`~ocm_engine.synthetic.fractal_noise`) lives in
:mod:`ocm_engine.synthetic`, shared with the app's demo scenes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ocm_engine.errors import InvalidImageError
from ocm_engine.types import FloatArray

ProductRange = Literal["reflectance", "dn10000", "dn10000_offset", "landsat_c2", "byte"]
PRODUCT_RANGES: tuple[ProductRange, ...] = (
    "reflectance",
    "dn10000",
    "dn10000_offset",
    "landsat_c2",
    "byte",
)


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
        raise InvalidImageError("Product range", arrived=product, expected=f"one of {', '.join(PRODUCT_RANGES)}")
    out[:, nodata] = 0
    return out
