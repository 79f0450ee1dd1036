"""Class names, colours and engine-wide defaults."""

from __future__ import annotations

from typing import Final

NUM_CLASSES: Final = 4
CLASS_NAMES: Final[tuple[str, ...]] = ("clear", "thick_cloud", "thin_cloud", "cloud_shadow")
CLASS_LABELS: Final[tuple[str, ...]] = ("Clear", "Thick cloud", "Thin cloud", "Cloud shadow")
CLASS_COLOURS: Final[tuple[tuple[int, int, int, int], ...]] = (
    (0, 0, 0, 255),
    (255, 128, 13, 255),
    (44, 160, 44, 255),
    (214, 39, 40, 255),
)
CHANNELS: Final[tuple[str, ...]] = ("red", "green", "nir")

DEFAULT_PATCH_PX: Final = 1000
DEFAULT_OVERLAP_PX: Final = 300
MIN_PATCH_PX: Final = 32
WARN_PATCH_PX: Final = 50
MIN_RESOLUTION_M: Final = 5.0
MAX_RESOLUTION_M: Final = 50.0
VALIDATED_RESOLUTION_M: Final = (10.0, 50.0)
OUTPUT_NODATA: Final = 255
