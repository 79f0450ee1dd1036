"""A georeferenced scene on its inference grid: :func:`read_scene` -> :class:`Scene`.

The scene carries everything a prediction, a writer or the app needs: Red/Green/NIR
``(3, height, width)`` float32 on the inference grid, the valid mask, transform and CRS
(a rasterio :class:`~rasterio.crs.CRS`), nodata, the source and inference resolutions, the
band provenance (file and 1-based band number of Red, Green, NIR and Blue), an optional
Blue band for display, and the engine's warnings as typed objects.

Large scenes are read block by block: :class:`SceneReader` keeps the files open and
:meth:`SceneReader.read` returns one window of the inference grid at a time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from types import TracebackType

import rasterio.windows
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.windows import Window

from ocm_engine.errors import BandMismatchError, MissingNirWarning, OcmWarning, collect_warnings, emit
from ocm_engine.io.mapping import BandMapping, BandRef, presets_for
from ocm_engine.io.readers import SceneSource, open_scene
from ocm_engine.normalize import valid_mask
from ocm_engine.provenance import BandRole, BandSource, Provenance
from ocm_engine.resolution import choose_resolution
from ocm_engine.sensors import SensorPreset
from ocm_engine.types import BoolArray, FloatArray


@dataclass(frozen=True, slots=True)
class Scene:
    """Red, Green and NIR of a scene (or of a window of it) on the inference grid.

    Attributes:
        data: ``(3, height, width)`` float32 Red, Green, NIR in the product's own units;
            NIR is zeros when the scene has none (see ``warnings``). Nodata stays nodata.
        valid: ``(height, width)`` True where the pixel has data.
        transform: Affine transform of this grid (of the window, when one was read).
        crs: Coordinate reference system, or ``None`` when the file has none.
        nodata: The value marking missing pixels (``None``: only NaN).
        source_resolution_m: The file's pixel size in metres (``nan`` when unknown).
        resolution_m: The inference resolution in metres (``nan`` when unknown).
        bands: Where Red, Green, NIR (absent when missing) and Blue (when known) come from
            (1-based band numbers).
        blue: ``(height, width)`` float32 Blue for true-colour display, or ``None``.
        warnings: The engine's warnings about this scene (also emitted by :func:`read_scene`).
        name: A label for messages and output names.
        sensor: The sensor preset key used, or ``None``.
    """

    data: FloatArray
    valid: BoolArray
    transform: Affine
    crs: CRS | None
    nodata: float | None
    source_resolution_m: float
    resolution_m: float
    bands: tuple[BandSource, ...]
    blue: FloatArray | None = None
    warnings: tuple[OcmWarning, ...] = ()
    name: str = ""
    sensor: str | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """``(height, width)`` of the grid."""
        return int(self.data.shape[1]), int(self.data.shape[2])

    def __repr__(self) -> str:
        """A short summary (size, CRS, resolution, bands), never the arrays."""
        from ocm_engine.reprs import scene_repr

        return scene_repr(self)

    def _repr_html_(self) -> str:
        """The summary as HTML for notebooks (see :mod:`ocm_engine.reprs`)."""
        from ocm_engine.reprs import scene_html

        return scene_html(self)

    @property
    def has_nir(self) -> bool:
        """Whether a NIR band was mapped (else ``data[2]`` is zeros)."""
        return any(b.role == "nir" for b in self.bands)

    @property
    def provenance(self) -> Provenance:
        """The bands, sensor and resolutions (models are added by the prediction)."""
        return Provenance(self.bands, self.sensor, self.source_resolution_m, self.resolution_m)


@dataclass(frozen=True, slots=True)
class SceneLayout:
    """What a scene is before any pixel is read: grid, bands to pick from, mapping and warnings.

    Read once per scene (the app caches it) from the files' headers.

    Attributes:
        width: Source grid width in pixels (of the Red band's file).
        height: Source grid height.
        transform: Source grid transform.
        crs: Coordinate reference system, or ``None``.
        resolution_m: Source pixel size in metres (``nan`` when unknown).
        dtype: Data type of the Red band.
        nodata: The nodata value used.
        band_count: Bands of the (first) file.
        file_count: Files opened.
        band_labels: What a mapping picks from, 1-based (``"band 3: B04"`` or ``"file 2: B03.tif"``).
        mapping: The mapping read (``None`` for ``(file, band)`` pairs, or when it does not fit:
            see ``mapping_error``).
        mapping_error: Why the asked mapping does not fit the files, or ``None``.
        mapping_text: The mapping in words (``"R=band 3, G=band 2, NIR=band 4 (guessed)"``).
        presets: Sensor preset keys that fit the band count (to offer by name).
        warnings: The engine's warnings (a guessed band order, no CRS, no NIR).
    """

    width: int
    height: int
    transform: Affine
    crs: CRS | None
    resolution_m: float
    dtype: str
    nodata: float | None
    band_count: int
    file_count: int
    band_labels: tuple[str, ...]
    mapping: BandMapping | None
    mapping_error: BandMismatchError | None = None
    mapping_text: str = ""
    presets: tuple[str, ...] = ()
    warnings: tuple[OcmWarning, ...] = ()

    @property
    def guessed(self) -> bool:
        """Whether the band order is a guess (see ``warnings``)."""
        return self.mapping is not None and self.mapping.guessed


class SceneReader:
    """An open scene and its inference grid; reads :class:`Scene` windows of it.

    Args:
        source: See :func:`read_scene`.
        sensor: See :func:`read_scene`.
        bands: See :func:`read_scene`.
        nodata: See :func:`read_scene`.
        resolution_m: See :func:`read_scene`.
        names: See :func:`read_scene`.

    Attributes:
        source: The open :class:`RasterSource` (source grid).
        resolution_m: The inference resolution (``nan`` when unknown: the source grid is used).
        factor: Inference pixel size over source pixel size (1 when unknown).
        height: Inference grid height.
        width: Inference grid width.
        transform: Inference grid transform.
        warnings: The scene's warnings (missing CRS, resolution outside 10-50 m, missing NIR).
    """

    def __init__(self, source: SceneSource, *, sensor: str | SensorPreset | None = None,
                 bands: BandMapping | Sequence[int | None] | None = None,
                 nodata: float | None = None, resolution_m: float | None = None,
                 names: Sequence[str] | None = None) -> None:
        with collect_warnings() as caught:  # this thread's only: sessions read scenes at once
            self.source = open_scene(source, sensor=sensor, bands=bands, nodata=nodata, names=names)
            try:
                self.resolution_m = choose_resolution(self.source.resolution_m, resolution_m)
            except Exception:
                self.source.close()
                raise
        found: list[OcmWarning] = list(caught)
        if self.source.refs[2] is None:
            found.append(MissingNirWarning(
                f"No NIR band mapped for {self.source.name}: using zeros. Expect lower accuracy, "
                "especially for cloud shadow. Map a NIR band if the product has one."
            ))
        self.warnings: tuple[OcmWarning, ...] = tuple(found)
        self.sensor = sensor.key if isinstance(sensor, SensorPreset) else sensor
        src_m = self.source.resolution_m
        known = math.isfinite(self.resolution_m) and math.isfinite(src_m)
        self.factor = self.resolution_m / src_m if known else 1.0
        self.height = max(1, round(self.source.height / self.factor))
        self.width = max(1, round(self.source.width / self.factor))
        self.transform = self.source.transform @ Affine.scale(
            self.source.width / self.width, self.source.height / self.height
        )

    @property
    def layout(self) -> SceneLayout:
        """The scene's grid, band labels, mapping and warnings (no pixels read)."""
        src = self.source
        text = src.mapping.describe() if src.mapping is not None else ", ".join(
            f"{b.role}=file {src.labels.index(b.file) + 1 if b.file in src.labels else '?'} band {b.band}"
            for b in self.band_sources())
        return SceneLayout(src.width, src.height, src.transform, src.crs, src.resolution_m, src.dtype,
                           src.nodata, src.band_count, src.file_count, tuple(src.band_labels()), src.mapping,
                           None, text, presets_for(src.band_count) if src.file_count == 1 else (),
                           self.warnings)

    def band_sources(self) -> tuple[BandSource, ...]:
        """Provenance of the mapped bands (1-based band numbers)."""
        src = self.source
        roles: tuple[BandRole, ...] = ("red", "green", "nir", "blue")
        refs: tuple[BandRef | None, ...] = (*src.refs, src.blue)
        out = []
        for role, ref, name in zip(roles, refs, src.band_names, strict=True):
            if ref is not None:
                label = src.labels[ref.dataset] if src.labels else src.name
                out.append(BandSource(role, label, ref.band, name))
        return tuple(out)

    def read_provenance(self) -> Provenance:
        """The bands, sensor and resolutions of this scene (models are added by the caller)."""
        return Provenance(self.band_sources(), self.sensor, self.source.resolution_m, self.resolution_m)

    def read(self, window: Window | None = None, *, blue: bool = True) -> Scene:
        """Read a window of the inference grid (the whole grid when ``None``) as a :class:`Scene`.

        Args:
            window: A window in inference-grid pixels (``resolution_m`` pixels).
            blue: Also read Blue (display only) when the mapping has it.

        Returns:
            The scene; its transform is the window's.

        Raises:
            SceneReadError: If the file cannot be decoded.
        """
        win = window or Window(0, 0, self.width, self.height)
        f = self.factor
        src_win = Window(win.col_off * f, win.row_off * f, win.width * f, win.height * f)
        shape = (int(win.height), int(win.width))
        resampling = Resampling.average if f > 1 else Resampling.nearest
        data = self.source.read(src_win, out_shape=shape, resampling=resampling)
        blue_band = None
        if blue and self.source.blue is not None:
            blue_band = self.source.read_band(self.source.blue, src_win, shape, resampling)
        return Scene(
            data=data,
            valid=valid_mask(data, self.source.nodata),
            transform=rasterio.windows.transform(win, self.transform),
            crs=self.source.crs,
            nodata=self.source.nodata,
            source_resolution_m=self.source.resolution_m,
            resolution_m=self.resolution_m,
            bands=self.band_sources(),
            blue=blue_band,
            warnings=self.warnings,
            name=self.source.name,
            sensor=self.sensor,
        )

    def read_overview(self, max_px: int) -> Scene:
        """Read the whole scene at display size: the longer side at most ``max_px`` pixels.

        The overview is for display (previews, thumbnails, maps): it is averaged from the
        source grid whatever the inference resolution, with Blue when the mapping has it.

        Args:
            max_px: Longest side of the overview in pixels.

        Returns:
            A :class:`Scene` whose ``resolution_m`` is the overview's pixel size (``nan`` when unknown).

        Raises:
            SceneReadError: If the file cannot be decoded.
        """
        src = self.source
        scale = max(1.0, max(src.width, src.height) / max_px)
        shape = (max(1, round(src.height / scale)), max(1, round(src.width / scale)))
        resampling = Resampling.average if scale > 1 else Resampling.nearest
        whole = Window(0, 0, src.width, src.height)
        data = src.read(whole, out_shape=shape, resampling=resampling)
        blue = src.read_band(src.blue, whole, shape, resampling) if src.blue is not None else None
        return Scene(
            data=data,
            valid=valid_mask(data, src.nodata),
            transform=src.transform @ Affine.scale(src.width / shape[1], src.height / shape[0]),
            crs=src.crs,
            nodata=src.nodata,
            source_resolution_m=src.resolution_m,
            resolution_m=src.resolution_m * src.width / shape[1],
            bands=self.band_sources(),
            blue=blue,
            warnings=self.warnings,
            name=src.name,
            sensor=self.sensor,
        )

    def emit_warnings(self, stacklevel: int = 2) -> None:
        """Emit the scene's warnings (``stacklevel`` counted from the caller of this method)."""
        for warning in self.warnings:
            emit(warning, stacklevel=stacklevel + 1)

    def close(self) -> None:
        """Close the files."""
        self.source.close()

    def __enter__(self) -> SceneReader:
        """Use as a context manager."""
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Close on exit."""
        self.close()


def read_scene(
    source: SceneSource,
    *,
    sensor: str | SensorPreset | None = None,
    bands: BandMapping | Sequence[int | None] | None = None,
    nodata: float | None = None,
    resolution_m: float | None = None,
    window: Window | None = None,
    names: Sequence[str] | None = None,
) -> Scene:
    """Read Red, Green and NIR of a scene onto its inference grid.

    Args:
        source: A file path, the bytes of a file, a list of single-band files, or
            ``(file, band)`` pairs (1-based band) for Red, Green, NIR (``None`` when absent)
            and optionally Blue, e.g. ``[("rg.tif", 1), ("rg.tif", 2), ("nir.tif", 1)]``.
        sensor: Sensor preset key (``ocm sensors``) giving band positions/names, Blue and nodata.
        bands: Explicit **1-based** Red, Green, NIR[, Blue] band numbers (file numbers for a
            list of single-band files), as a :class:`~ocm_engine.io.mapping.BandMapping` or 3-4
            numbers; NIR may be ``None``. Overrides the preset. Without ``sensor`` and ``bands``
            the files' band descriptions and colour interpretation decide; failing those the
            order is guessed with a :class:`~ocm_engine.io.mapping.BandGuessWarning`.
        nodata: Nodata value; else the file's, else the preset's, else 0.
        resolution_m: Inference resolution in metres; default the source's, at least 10 m.
        window: A window of the **inference grid** (pixels at ``resolution_m``); all when ``None``.
        names: The files' names as users know them (e.g. uploads saved under other names).

    Returns:
        The :class:`Scene`. Its warnings (guessed band order, no CRS, resolution outside the
        validated 10-50 m, no NIR) are also emitted as Python warnings.

    Raises:
        SceneReadError: Unreadable, empty or corrupt files.
        BandMismatchError: A mapping that does not fit the files.
        ResolutionError: An impossible resolution.
        UnknownSensorError: Unknown preset name.
    """
    with SceneReader(source, sensor=sensor, bands=bands, nodata=nodata, resolution_m=resolution_m,
                     names=names) as reader:
        scene = reader.read(window)
    reader.emit_warnings(stacklevel=2)
    return scene


def read_layout(
    source: SceneSource,
    *,
    sensor: str | SensorPreset | None = None,
    bands: BandMapping | Sequence[int | None] | None = None,
    nodata: float | None = None,
    names: Sequence[str] | None = None,
) -> SceneLayout:
    """The :class:`SceneLayout` of a scene (headers only), even when the mapping does not fit.

    Args:
        source: See :func:`read_scene`.
        sensor: See :func:`read_scene`.
        bands: See :func:`read_scene`.
        nodata: See :func:`read_scene`.
        names: See :func:`read_scene`.

    Returns:
        The layout; a mapping that does not fit the files comes back as ``mapping_error`` (with
        the grid and band labels, so a user can pick another mapping), not as an exception.

    Raises:
        SceneReadError: Unreadable, empty or corrupt files.
        UnknownSensorError: Unknown preset name.
        BandMismatchError: Band files that disagree on CRS or extent.
    """
    try:
        with SceneReader(source, sensor=sensor, bands=bands, nodata=nodata, names=names) as reader:
            return reader.layout
    except BandMismatchError as err:
        count = len(source) if isinstance(source, list | tuple) else 1
        fallback = BandMapping(1, 1, unit="band" if count == 1 else "file")
        with SceneReader(source, bands=fallback, nodata=nodata, names=names) as reader:
            found = reader.layout
        return replace(found, mapping=None, mapping_error=err, mapping_text="does not fit the files",
                       warnings=tuple(w for w in found.warnings if not isinstance(w, MissingNirWarning)))
