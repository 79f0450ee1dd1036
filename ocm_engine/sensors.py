"""Sensor presets: which bands are Red, Green and NIR, at what resolution and scale.

Presets are data, not code: :data:`SENSORS` maps a snake_case key to a frozen
:class:`SensorPreset` built with keyword fields (band names and positions of Red, Green,
NIR and Blue, resolution, nodata). Band positions are **1-based**, as GDAL and rasterio
number the bands of a multiband file. A single-band-per-file product is matched by the
band names (``"B04"``) found in the file names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from ocm_engine.errors import BandMismatchError, UnknownSensorError


@dataclass(frozen=True, slots=True, kw_only=True)
class SensorPreset:
    """Every band fact of one sensor's product, by name (built with keywords only).

    Attributes:
        key: Registry key, snake_case.
        label: Human-readable name.
        red: Product band name of Red (``"B04"``); also the token matched in band file names.
        green: Band name of Green.
        nir: Band name of NIR, or ``None`` when the product has none.
        blue: Band name of Blue (display only), or ``None``.
        red_band: **1-based** position of Red in the usual stacked file (GDAL numbering).
        green_band: 1-based position of Green.
        nir_band: 1-based position of NIR, or ``None``.
        blue_band: 1-based position of Blue, or ``None``.
        native_resolution_m: Ground sampling distance of the mapped bands.
        nodata: Value that marks missing pixels in the product.
        notes: Short guidance shown to users.
    """

    key: str
    label: str
    red: str
    green: str
    nir: str | None
    blue: str | None
    red_band: int
    green_band: int
    nir_band: int | None
    blue_band: int | None
    native_resolution_m: float
    nodata: float | None = 0.0
    notes: str = ""

    @property
    def band_names(self) -> tuple[str, str, str | None]:
        """Red, Green and NIR band names."""
        return self.red, self.green, self.nir

    @property
    def band_indices(self) -> tuple[int, int, int | None]:
        """1-based positions of Red, Green and NIR in the stacked file."""
        return self.red_band, self.green_band, self.nir_band

    @property
    def has_nir(self) -> bool:
        """Whether the preset maps a NIR band."""
        return self.nir_band is not None


_S2_L1C = "13-band stack B01..B12 with B8A after B08."
_S2_L2A = "12-band stack B01..B12 without B10."
_PRESETS: tuple[SensorPreset, ...] = (
    SensorPreset(
        key="sentinel2_l1c", label="Sentinel-2 L1C (B04, B03, B8A)",
        red="B04", green="B03", nir="B8A", blue="B02", red_band=4, green_band=3, nir_band=9, blue_band=2,
        native_resolution_m=20.0,
        notes=f"{_S2_L1C} B8A (20 m) is the default NIR: as accurate and faster; use "
        "sentinel2_l1c_b08 for 10 m NIR.",
    ),
    SensorPreset(
        key="sentinel2_l1c_b08", label="Sentinel-2 L1C (B04, B03, B08)",
        red="B04", green="B03", nir="B08", blue="B02", red_band=4, green_band=3, nir_band=8, blue_band=2,
        native_resolution_m=10.0, notes=f"{_S2_L1C} 10 m NIR (B08).",
    ),
    SensorPreset(
        key="sentinel2_l2a", label="Sentinel-2 L2A (B04, B03, B8A)",
        red="B04", green="B03", nir="B8A", blue="B02", red_band=4, green_band=3, nir_band=9, blue_band=2,
        native_resolution_m=20.0,
        notes=f"{_S2_L2A} Since baseline 04.00 DNs carry a +1000 offset; the dynamic z-score makes "
        "that irrelevant.",
    ),
    SensorPreset(
        key="sentinel2_l2a_b08", label="Sentinel-2 L2A (B04, B03, B08)",
        red="B04", green="B03", nir="B08", blue="B02", red_band=4, green_band=3, nir_band=8, blue_band=2,
        native_resolution_m=10.0, notes=f"{_S2_L2A} 10 m NIR (B08).",
    ),
    SensorPreset(
        key="landsat8_9_oli", label="Landsat 8-9 OLI (B4, B3, B5)",
        red="B4", green="B3", nir="B5", blue="B2", red_band=4, green_band=3, nir_band=5, blue_band=2,
        native_resolution_m=30.0, notes="Collection 2 stack B1..B7.",
    ),
    SensorPreset(
        key="landsat7_etm", label="Landsat 7 ETM+ (B3, B2, B4)",
        red="B3", green="B2", nir="B4", blue="B1", red_band=3, green_band=2, nir_band=4, blue_band=1,
        native_resolution_m=30.0, notes="Stack B1..B5, B7.",
    ),
    SensorPreset(
        key="landsat4_5_tm", label="Landsat 4-5 TM (B3, B2, B4)",
        red="B3", green="B2", nir="B4", blue="B1", red_band=3, green_band=2, nir_band=4, blue_band=1,
        native_resolution_m=30.0, notes="Stack B1..B5, B7.",
    ),
    SensorPreset(
        key="hls_l30", label="HLS L30 (B04, B03, B05)",
        red="B04", green="B03", nir="B05", blue="B02", red_band=4, green_band=3, nir_band=5, blue_band=2,
        native_resolution_m=30.0, nodata=-9999.0, notes="Harmonized Landsat; nodata -9999.",
    ),
    SensorPreset(
        key="hls_s30", label="HLS S30 (B04, B03, B8A)",
        red="B04", green="B03", nir="B8A", blue="B02", red_band=4, green_band=3, nir_band=9, blue_band=2,
        native_resolution_m=30.0, nodata=-9999.0, notes="Harmonized Sentinel-2; nodata -9999.",
    ),
    SensorPreset(
        key="planetscope_4band", label="PlanetScope 4-band (B, G, R, NIR)",
        red="red", green="green", nir="nir", blue="blue", red_band=3, green_band=2, nir_band=4, blue_band=1,
        native_resolution_m=3.0, notes="3 m imagery is resampled to at least 5 m.",
    ),
    SensorPreset(
        key="planetscope_8band", label="PlanetScope SuperDove 8-band",
        red="red", green="green", nir="nir", blue="blue", red_band=6, green_band=4, nir_band=8, blue_band=2,
        native_resolution_m=3.0, notes="3 m imagery is resampled to at least 5 m.",
    ),
    SensorPreset(
        key="maxar_4band", label="Maxar 4-band",
        red="red", green="green", nir="nir", blue="blue", red_band=1, green_band=2, nir_band=4, blue_band=3,
        native_resolution_m=2.0, notes="Sub-metre to 2 m imagery is resampled to at least 5 m.",
    ),
    SensorPreset(
        key="maxar_8band", label="Maxar 8-band",
        red="red", green="green", nir="nir2", blue="blue", red_band=5, green_band=3, nir_band=8, blue_band=2,
        native_resolution_m=2.0, notes="Sub-metre to 2 m imagery is resampled to at least 5 m.",
    ),
    SensorPreset(
        key="generic_rgbn", label="Generic RGBN (R, G, B, NIR)",
        red="red", green="green", nir="nir", blue="blue", red_band=1, green_band=2, nir_band=4, blue_band=3,
        native_resolution_m=10.0, notes="Any 4-band file ordered Red, Green, Blue, NIR.",
    ),
    SensorPreset(
        key="generic_rgn", label="Generic R, G, NIR",
        red="red", green="green", nir="nir", blue=None, red_band=1, green_band=2, nir_band=3, blue_band=None,
        native_resolution_m=10.0, notes="Any 3-band file ordered Red, Green, NIR.",
    ),
    SensorPreset(
        key="generic_rgb", label="Generic RGB (no NIR)",
        red="red", green="green", nir=None, blue="blue", red_band=1, green_band=2, nir_band=None, blue_band=3,
        native_resolution_m=10.0, notes="No NIR: zeros are used; expect lower accuracy.",
    ),
)
SENSORS: dict[str, SensorPreset] = {preset.key: preset for preset in _PRESETS}


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


def match_band_file(paths: Sequence[str], band: str | None) -> int | None:
    """0-based position in ``paths`` of the one file named after ``band`` (``None``: none or several)."""
    if band is None:
        return None
    want = _band_token(band)
    hits = [i for i, path in enumerate(paths) if want in _file_tokens(path)]
    return hits[0] if len(hits) == 1 else None


def _file_tokens(path: str) -> set[str]:
    stem = re.split(r"[\\/]", path)[-1].rsplit(".", 1)[0]
    return {_band_token(t) for t in re.split(r"[^A-Za-z0-9]+", stem) if t}


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
    found = [match_band_file(paths, band) for band in preset.band_names]
    red, green, nir = found
    if red is None or green is None:
        raise LookupError(
            f"could not find bands {preset.band_names[:2]} in file names {list(paths)}"
        )
    return red, green, nir


#: Tokens of generic band names and of the Sentinel-2/Landsat-style names, per role.
_ROLE_TOKENS: dict[str, frozenset[str]] = {
    "red": frozenset({"red", "b4"}), "green": frozenset({"green", "b3"}),
    "nir": frozenset({"nir", "b8", "b8a"}), "blue": frozenset({"blue", "b2"}),
}


def guess_band_files(paths: Sequence[str]) -> tuple[int, int, int | None, int | None]:
    """A first guess of Red, Green, NIR and Blue among one-file-per-band names, with no preset.

    Names carrying ``red``/``green``/``nir``/``blue`` or Sentinel-2 style ``B04``/``B03``/``B08``/
    ``B02`` tokens are matched; Red, Green and NIR left over take the first unused files in the
    order given (Blue is only matched by name). Meant as a starting point a user checks.

    Args:
        paths: File names or paths, one band each.

    Returns:
        **1-based** file numbers of Red, Green, NIR (``None`` when no file is left) and Blue
        (``None`` when no name says Blue), as the ``bands`` argument of ``read_scene`` takes them.
    """
    found: dict[str, int] = {}
    for role, tokens in _ROLE_TOKENS.items():
        for pos, path in enumerate(paths, start=1):
            if _file_tokens(path) & tokens and pos not in found.values():
                found[role] = pos
                break
    free = iter(p for p in range(1, len(paths) + 1) if p not in found.values())
    red = found.get("red") or next(free, 1)
    green = found.get("green") or next(free, 1)
    nir = found.get("nir") or next(free, None)
    return red, green, nir, found.get("blue")


def preset_band_files(names: Sequence[str], preset: SensorPreset) -> tuple[int, int, int | None, int | None]:
    """Red, Green, NIR and Blue of a preset among one-file-per-band names, as ``bands`` takes them.

    Args:
        names: File names (e.g. the names files were uploaded under), one band each.
        preset: The sensor preset whose band names are looked for.

    Returns:
        **1-based** file numbers of Red, Green, NIR and Blue (``None`` when not found).

    Raises:
        BandMismatchError: If Red or Green is not found; the message lists the names.
    """
    try:
        red, green, nir = match_band_files(names, preset)
    except LookupError as err:
        raise BandMismatchError(
            f"Could not find bands {preset.band_names} of {preset.label} in the file names {list(names)}. "
            "Rename the files, or map the bands by hand."
        ) from err
    blue = match_band_file(names, preset.blue)
    return red + 1, green + 1, None if nir is None else nir + 1, None if blue is None else blue + 1
