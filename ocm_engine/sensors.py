"""Sensor presets: which bands are Red, Green and NIR, at what resolution and scale.

Presets are data, not code: :data:`SENSORS` maps a snake_case key to a frozen
:class:`SensorPreset` built with keyword fields (band names and positions of Red, Green,
NIR and Blue, resolution, nodata). Band positions are **1-based**, as GDAL and rasterio
number the bands of a multiband file. A single-band-per-file product is matched by the
band names (``"B04"``) found in the file names; all matching lives in :mod:`ocm_engine.io.mapping`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ocm_engine.errors import UnknownSensorError


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
        stack_bands: Bands in the usual stacked file (``None`` when the product comes as band
            files); presets whose stack matches a file's band count are offered for it by name.
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
    stack_bands: int | None = None

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
        stack_bands=13,
    ),
    SensorPreset(
        key="sentinel2_l1c_b08", label="Sentinel-2 L1C (B04, B03, B08)",
        red="B04", green="B03", nir="B08", blue="B02", red_band=4, green_band=3, nir_band=8, blue_band=2,
        native_resolution_m=10.0, notes=f"{_S2_L1C} 10 m NIR (B08).",
        stack_bands=13,
    ),
    SensorPreset(
        key="sentinel2_l2a", label="Sentinel-2 L2A (B04, B03, B8A)",
        red="B04", green="B03", nir="B8A", blue="B02", red_band=4, green_band=3, nir_band=9, blue_band=2,
        native_resolution_m=20.0,
        notes=f"{_S2_L2A} Since baseline 04.00 DNs carry a +1000 offset; the dynamic z-score makes "
        "that irrelevant.",
        stack_bands=12,
    ),
    SensorPreset(
        key="sentinel2_l2a_b08", label="Sentinel-2 L2A (B04, B03, B08)",
        red="B04", green="B03", nir="B08", blue="B02", red_band=4, green_band=3, nir_band=8, blue_band=2,
        native_resolution_m=10.0, notes=f"{_S2_L2A} 10 m NIR (B08).",
        stack_bands=12,
    ),
    SensorPreset(
        key="sentinel2_4band", label="Sentinel-2 4-band stack (B02, B03, B04, B08)",
        red="B04", green="B03", nir="B08", blue="B02", red_band=3, green_band=2, nir_band=4, blue_band=1,
        native_resolution_m=10.0, stack_bands=4,
        notes="The four 10 m bands in band-number order: Blue, Green, Red, NIR (chips and exports).",
    ),
    SensorPreset(
        key="landsat8_9_oli", label="Landsat 8-9 OLI (B4, B3, B5)",
        red="B4", green="B3", nir="B5", blue="B2", red_band=4, green_band=3, nir_band=5, blue_band=2,
        native_resolution_m=30.0, notes="Collection 2 stack B1..B7.",
        stack_bands=7,
    ),
    SensorPreset(
        key="landsat7_etm", label="Landsat 7 ETM+ (B3, B2, B4)",
        red="B3", green="B2", nir="B4", blue="B1", red_band=3, green_band=2, nir_band=4, blue_band=1,
        native_resolution_m=30.0, notes="Stack B1..B5, B7.",
        stack_bands=6,
    ),
    SensorPreset(
        key="landsat4_5_tm", label="Landsat 4-5 TM (B3, B2, B4)",
        red="B3", green="B2", nir="B4", blue="B1", red_band=3, green_band=2, nir_band=4, blue_band=1,
        native_resolution_m=30.0, notes="Stack B1..B5, B7.",
        stack_bands=6,
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
        stack_bands=4,
    ),
    SensorPreset(
        key="planetscope_8band", label="PlanetScope SuperDove 8-band",
        red="red", green="green", nir="nir", blue="blue", red_band=6, green_band=4, nir_band=8, blue_band=2,
        native_resolution_m=3.0, notes="3 m imagery is resampled to at least 5 m.",
        stack_bands=8,
    ),
    SensorPreset(
        key="maxar_4band", label="Maxar 4-band",
        red="red", green="green", nir="nir", blue="blue", red_band=1, green_band=2, nir_band=4, blue_band=3,
        native_resolution_m=2.0, notes="Sub-metre to 2 m imagery is resampled to at least 5 m.",
        stack_bands=4,
    ),
    SensorPreset(
        key="maxar_8band", label="Maxar 8-band",
        red="red", green="green", nir="nir2", blue="blue", red_band=5, green_band=3, nir_band=8, blue_band=2,
        native_resolution_m=2.0, notes="Sub-metre to 2 m imagery is resampled to at least 5 m.",
        stack_bands=8,
    ),
    SensorPreset(
        key="generic_rgbn", label="Generic RGBN (R, G, B, NIR)",
        red="red", green="green", nir="nir", blue="blue", red_band=1, green_band=2, nir_band=4, blue_band=3,
        native_resolution_m=10.0, notes="Any 4-band file ordered Red, Green, Blue, NIR.",
        stack_bands=4,
    ),
    SensorPreset(
        key="generic_rgn", label="Generic R, G, NIR",
        red="red", green="green", nir="nir", blue=None, red_band=1, green_band=2, nir_band=3, blue_band=None,
        native_resolution_m=10.0, notes="Any 3-band file ordered Red, Green, NIR.",
        stack_bands=3,
    ),
    SensorPreset(
        key="generic_rgb", label="Generic RGB (no NIR)",
        red="red", green="green", nir=None, blue="blue", red_band=1, green_band=2, nir_band=None, blue_band=3,
        native_resolution_m=10.0, notes="No NIR: zeros are used; expect lower accuracy.",
        stack_bands=3,
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
        raise UnknownSensorError(name, sorted(SENSORS)) from err
