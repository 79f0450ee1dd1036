"""Class names, colours and engine-wide defaults."""

from __future__ import annotations

from typing import Final

NUM_CLASSES: Final = 4
CLASS_NAMES: Final[tuple[str, ...]] = ("clear", "thick_cloud", "thin_cloud", "cloud_shadow")
CLASS_LABELS: Final[tuple[str, ...]] = ("Clear", "Thick cloud", "Thin cloud", "Cloud shadow")
#: One colour-blind-safe palette for maps, PNG previews, the GeoTIFF colour table and legends.
#: Thick cloud Okabe-Ito yellow ``#F0E442``, thin cloud Okabe-Ito sky blue ``#56B4E9``, cloud
#: shadow Tol purple ``#AA3377``; clear black (drawn transparent over imagery). Why: none of the
#: three reads as a land cover (green vegetation) or as an alarm (red); their lightness falls
#: 89 > 70 > 40 (CIELAB L*), so they stay apart in greyscale and under protanopia,
#: deuteranopia and tritanopia; yellow and sky blue stand out on dark land, purple on bright.
CLASS_COLOURS: Final[tuple[tuple[int, int, int, int], ...]] = (
    (0, 0, 0, 255),
    (240, 228, 66, 255),
    (86, 180, 233, 255),
    (170, 51, 119, 255),
)
CHANNELS: Final[tuple[str, ...]] = ("red", "green", "nir")
#: File suffixes taken as rasters in folders, globs and inputs (the CLI, batch scene lists, STAC inputs).
RASTER_SUFFIXES: Final[tuple[str, ...]] = (".tif", ".tiff", ".jp2", ".vrt", ".img", ".nc")

DEFAULT_PATCH_PX: Final = 1000
DEFAULT_OVERLAP_PX: Final = 300
MIN_PATCH_PX: Final = 32
WARN_PATCH_PX: Final = 50
MIN_RESOLUTION_M: Final = 5.0
MAX_RESOLUTION_M: Final = 50.0
VALIDATED_RESOLUTION_M: Final = (10.0, 50.0)
OUTPUT_NODATA: Final = 255
