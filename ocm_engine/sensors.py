"""Sensor presets: which bands are Red, Green and NIR, at what resolution and scale.

Presets are data, not code: :data:`SENSORS` maps a snake_case key to a frozen
:class:`SensorPreset`. Band positions are **1-based**, as GDAL and rasterio number
the bands of a multiband file. A single-band-per-file product is matched by the
band names (``"B04"``) found in the file names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ocm_engine.errors import UnknownSensorError


@dataclass(frozen=True, slots=True)
class SensorPreset:
    """How one sensor's product maps to the models' Red, Green, NIR input.

    Attributes:
        key: Registry key, snake_case.
        label: Human-readable name.
        band_names: Product band names for Red, Green and NIR (NIR may be ``None``).
        band_indices: 1-based positions of Red, Green, NIR in the usual stacked file.
        native_resolution_m: Ground sampling distance of the mapped bands.
        scale: Multiplier from stored DN to reflectance (information only: the
            dynamic z-score makes inference independent of it).
        offset: Additive offset after scaling (information only).
        nodata: Value that marks missing pixels in the product.
        notes: Short guidance shown to users.
    """

    key: str
    label: str
    band_names: tuple[str, str, str | None]
    band_indices: tuple[int, int, int | None]
    native_resolution_m: float
    scale: float = 1.0
    offset: float = 0.0
    nodata: float | None = 0.0
    notes: str = ""

    @property
    def has_nir(self) -> bool:
        """Whether the preset maps a NIR band."""
        return self.band_indices[2] is not None


def _preset(*args: object, **kwargs: object) -> tuple[str, SensorPreset]:
    preset = SensorPreset(*args, **kwargs)  # type: ignore[arg-type]
    return preset.key, preset


SENSORS: dict[str, SensorPreset] = dict(
    [
        _preset(
            "sentinel2_l1c", "Sentinel-2 L1C (B04, B03, B8A)", ("B04", "B03", "B8A"), (4, 3, 9),
            20.0, 1e-4, 0.0, 0.0,
            "13-band stack B01..B12 with B8A after B08. B8A (20 m) is the default NIR: "
            "as accurate and faster; use sentinel2_l1c_b08 for 10 m NIR.",
        ),
        _preset(
            "sentinel2_l1c_b08", "Sentinel-2 L1C (B04, B03, B08)", ("B04", "B03", "B08"), (4, 3, 8),
            10.0, 1e-4, 0.0, 0.0, "13-band stack; 10 m NIR (B08).",
        ),
        _preset(
            "sentinel2_l2a", "Sentinel-2 L2A (B04, B03, B8A)", ("B04", "B03", "B8A"), (4, 3, 9),
            20.0, 1e-4, 0.0, 0.0,
            "12-band stack B01..B12 without B10. Since baseline 04.00 DNs carry a +1000 "
            "offset; the dynamic z-score makes that irrelevant.",
        ),
        _preset(
            "sentinel2_l2a_b08", "Sentinel-2 L2A (B04, B03, B08)", ("B04", "B03", "B08"), (4, 3, 8),
            10.0, 1e-4, 0.0, 0.0, "12-band stack; 10 m NIR (B08).",
        ),
        _preset(
            "landsat8_9_oli", "Landsat 8-9 OLI (B4, B3, B5)", ("B4", "B3", "B5"), (4, 3, 5),
            30.0, 2.75e-5, -0.2, 0.0, "Collection 2 stack B1..B7.",
        ),
        _preset(
            "landsat7_etm", "Landsat 7 ETM+ (B3, B2, B4)", ("B3", "B2", "B4"), (3, 2, 4),
            30.0, 2.75e-5, -0.2, 0.0, "Stack B1..B5, B7.",
        ),
        _preset(
            "landsat4_5_tm", "Landsat 4-5 TM (B3, B2, B4)", ("B3", "B2", "B4"), (3, 2, 4),
            30.0, 2.75e-5, -0.2, 0.0, "Stack B1..B5, B7.",
        ),
        _preset(
            "hls_l30", "HLS L30 (B04, B03, B05)", ("B04", "B03", "B05"), (4, 3, 5),
            30.0, 1e-4, 0.0, -9999.0, "Harmonized Landsat; nodata -9999.",
        ),
        _preset(
            "hls_s30", "HLS S30 (B04, B03, B8A)", ("B04", "B03", "B8A"), (4, 3, 9),
            30.0, 1e-4, 0.0, -9999.0, "Harmonized Sentinel-2; nodata -9999.",
        ),
        _preset(
            "planetscope_4band", "PlanetScope 4-band (B, G, R, NIR)", ("red", "green", "nir"),
            (3, 2, 4), 3.0, 1e-4, 0.0, 0.0, "3 m imagery is resampled to at least 5 m.",
        ),
        _preset(
            "planetscope_8band", "PlanetScope SuperDove 8-band", ("red", "green", "nir"),
            (6, 4, 8), 3.0, 1e-4, 0.0, 0.0, "3 m imagery is resampled to at least 5 m.",
        ),
        _preset(
            "maxar_4band", "Maxar 4-band", ("red", "green", "nir"), (1, 2, 4), 2.0, 1.0, 0.0, 0.0,
            "Sub-metre to 2 m imagery is resampled to at least 5 m.",
        ),
        _preset(
            "maxar_8band", "Maxar 8-band", ("red", "green", "nir2"), (5, 3, 8), 2.0, 1.0, 0.0, 0.0,
            "Sub-metre to 2 m imagery is resampled to at least 5 m.",
        ),
        _preset(
            "generic_rgbn", "Generic RGBN (R, G, B, NIR)", ("red", "green", "nir"), (1, 2, 4),
            10.0, 1.0, 0.0, 0.0, "Any 4-band file ordered Red, Green, Blue, NIR.",
        ),
        _preset(
            "generic_rgn", "Generic R, G, NIR", ("red", "green", "nir"), (1, 2, 3),
            10.0, 1.0, 0.0, 0.0, "Any 3-band file ordered Red, Green, NIR.",
        ),
        _preset(
            "generic_rgb", "Generic RGB (no NIR)", ("red", "green", None), (1, 2, None),
            10.0, 1.0, 0.0, 0.0, "No NIR: zeros are used; expect lower accuracy.",
        ),
    ]
)


def get_sensor(name: str) -> SensorPreset:
    """Return the preset registered under ``name``.

    Args:
        name: A key of :data:`SENSORS` (case and ``-`` vs ``_`` are ignored).

    Returns:
        The preset.

    Raises:
        UnknownSensorError: If no preset has that name; the message lists them all.
    """
    key = name.strip().lower().replace("-", "_")
    try:
        return SENSORS[key]
    except KeyError as err:
        raise UnknownSensorError(
            f"Unknown sensor {name!r}. Expected one of: {', '.join(sorted(SENSORS))}. "
            "Run `ocm sensors` to see them, or map bands explicitly with --bands R,G,N."
        ) from err


def _band_token(name: str) -> str:
    """Normalise a band name: ``B4`` and ``B04`` compare equal, case-insensitive."""
    match = re.fullmatch(r"b0*(\d+a?)", name.strip().lower())
    return f"b{match.group(1)}" if match else name.strip().lower()


def match_band_files(paths: Sequence[str], preset: SensorPreset) -> tuple[int, int, int | None]:
    """Find Red, Green and NIR among single-band files by band names in their file names.

    Args:
        paths: File names, one band each.
        preset: The sensor preset whose ``band_names`` are looked for.

    Returns:
        0-based positions in ``paths`` of Red, Green and NIR (``None`` if NIR is absent).

    Raises:
        UnknownSensorError: Never; see :class:`BandMismatchError` from the caller.
        LookupError: If Red or Green cannot be found; the caller turns it into a
            band mismatch error.
    """
    tokens: list[set[str]] = []
    for path in paths:
        stem = re.split(r"[\\/]", path)[-1].rsplit(".", 1)[0]
        tokens.append({_band_token(t) for t in re.split(r"[^A-Za-z0-9]+", stem) if t})
    found: list[int | None] = []
    for band in preset.band_names:
        if band is None:
            found.append(None)
            continue
        want = _band_token(band)
        hits = [i for i, toks in enumerate(tokens) if want in toks]
        found.append(hits[0] if len(hits) == 1 else None)
    red, green, nir = found
    if red is None or green is None:
        raise LookupError(
            f"could not find bands {preset.band_names[:2]} in file names {list(paths)}"
        )
    return red, green, nir
