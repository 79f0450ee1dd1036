"""Shared type aliases. Arrays are ``(bands, height, width)`` unless named otherwise."""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]
UInt8Array = npt.NDArray[np.uint8]
DeviceName = Literal["cpu", "cuda", "mps"]
DtypeName = Literal["fp32", "fp16", "bf16"]
BandIndices = tuple[int, int, int | None]
