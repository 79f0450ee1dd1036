"""Open imagery as a lazy :class:`RasterSource` and read Red/Green/NIR windows from it.

A source is one multiband file (GeoTIFF, COG, JP2: anything rasterio opens), one
file per band (Sentinel-2 ``B04.jp2``, Landsat ``*_B4.TIF``...), or uploaded bytes.
Nothing is read until :meth:`RasterSource.read` asks for a window, so scenes larger
than memory are processed window by window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.io import DatasetReader, MemoryFile
from rasterio.transform import Affine
from rasterio.windows import Window, from_bounds

from ocm_engine.errors import BandMismatchError, Hints, MissingCrsWarning, OcmWarning, SceneReadError, emit
from ocm_engine.io.mapping import BandMapping, BandRef, FileBands, ResolvedBands, resolve_mapping
from ocm_engine.sensors import SensorPreset, get_sensor

MAX_PIXELS = 2_000_000_000
_EARTH_M_PER_DEG = 111_320.0


@dataclass(slots=True)
class RasterSource:
    """Lazy access to Red, Green and NIR of a scene on one pixel grid.

    Attributes:
        datasets: Open rasterio datasets (one, or one per band file).
        refs: Red, Green and NIR bands (NIR ``None`` when absent).
        width: Grid width in pixels (of the Red band's dataset).
        height: Grid height in pixels.
        transform: Affine transform of the grid.
        crs: Coordinate reference system, or ``None``.
        nodata: The nodata value used to find missing pixels.
        name: A label for messages and outputs.
        band_count: Bands in the (first) dataset, for information.
        blue: The Blue band (display only), or ``None``.
        labels: One label per dataset for provenance: its path, or ``"<bytes>"``.
        band_names: Product band names of Red, Green, NIR, Blue (``""`` when unknown).
        mapping: The resolved mapping (``None`` for ``(file, band)`` pairs).
        mapping_warnings: A :class:`~ocm_engine.io.mapping.BandGuessWarning` when it was guessed.
        names: The file names users know (uploads: their own names), one per dataset.
    """

    datasets: list[DatasetReader]
    refs: tuple[BandRef, BandRef, BandRef | None]
    width: int
    height: int
    transform: Affine
    crs: CRS | None
    nodata: float | None
    name: str
    band_count: int
    _memfiles: list[MemoryFile] = field(default_factory=list)
    blue: BandRef | None = None
    labels: tuple[str, ...] = ()
    band_names: tuple[str, str, str, str] = ("", "", "", "")
    mapping: BandMapping | None = None
    mapping_warnings: tuple[OcmWarning, ...] = ()
    names: tuple[str, ...] = ()

    @property
    def resolution_m(self) -> float:
        """Approximate pixel size in metres (degrees converted at the scene's latitude)."""
        xres = abs(self.transform.a)
        if self.crs is not None and self.crs.is_geographic:
            lat = self.transform.f + self.transform.e * self.height / 2
            return float(xres * _EARTH_M_PER_DEG * max(math.cos(math.radians(lat)), 0.01))
        if self.crs is None:
            return float(xres) if xres != 1.0 else float("nan")
        return float(xres * float(self.crs.linear_units_factor[1]))

    @property
    def dtype(self) -> str:
        """The data type of the Red band (e.g. ``"uint16"``)."""
        return str(self.datasets[self.refs[0].dataset].dtypes[self.refs[0].band - 1])

    @property
    def file_count(self) -> int:
        """Number of files opened."""
        return len(self.datasets)

    def band_labels(self) -> list[str]:
        """What a mapping picks from, in 1-based order: the bands of one file, or the files.

        Returns:
            ``"band 3: B03"`` per band of a single file (its description when it has one), or
            ``"file 2: name"`` per file of a one-file-per-band scene (by the names users know).
        """
        return band_labels(self.datasets, self.names)

    def read(self, window: Window | None = None, out_shape: tuple[int, int] | None = None,
             resampling: Resampling = Resampling.average) -> npt.NDArray[np.float32]:
        """Read Red, Green, NIR for a window of the grid, optionally resampled.

        Args:
            window: Window of the Red band's grid; the whole grid when ``None``.
            out_shape: ``(height, width)`` to resample to; the window's size when ``None``.
            resampling: Resampling used when ``out_shape`` differs from the window.

        Returns:
            float32 ``(3, height, width)``; NIR is zeros when absent. Nodata stays nodata.

        Raises:
            SceneReadError: If the file cannot be decoded (truncated, corrupt).
        """
        window = window or Window(0, 0, self.width, self.height)
        shape = out_shape or (int(window.height), int(window.width))
        out = np.zeros((3, *shape), dtype=np.float32)
        for i, ref in enumerate(self.refs):
            if ref is not None:
                out[i] = self.read_band(ref, window, shape, resampling)
        if self.refs[2] is None and self.nodata is not None:
            # a nodata pixel must stay nodata in all three bands
            missing = (out[0] == self.nodata) & (out[1] == self.nodata)
            out[2][missing] = self.nodata
        return out

    def read_band(self, ref: BandRef, window: Window, shape: tuple[int, int],
                  resampling: Resampling = Resampling.average) -> npt.NDArray[np.float32]:
        """Read one band for a window of the Red band's grid: float32 ``(height, width)``.

        Raises:
            SceneReadError: If the file cannot be decoded (truncated, corrupt).
        """
        bounds = rasterio.windows.bounds(window, self.transform)
        ds = self.datasets[ref.dataset]
        boundless = ref.dataset != self.refs[0].dataset
        win = window if not boundless else from_bounds(*bounds, ds.transform)
        fill = self.nodata if self.nodata is not None else 0.0
        # A fill value the band's dtype cannot hold (NaN or -9999 for uint16) makes
        # numpy raise deep inside rasterio: read masked instead and fill after casting.
        fits = _fits_dtype(fill, ds.dtypes[ref.band - 1])
        try:
            band = ds.read(ref.band, window=win, out_shape=shape, resampling=resampling,
                           boundless=boundless, fill_value=fill if boundless and fits else None,
                           masked=boundless and not fits)
        except (RasterioError, OSError, ValueError) as err:
            raise SceneReadError(
                f"Band {ref.band} of {ds.name}", arrived=f"a read error ({_root_cause(err)})",
                expected="a complete, readable file (not truncated or corrupt)",
                hints=Hints.same("Re-download or re-export it."),
            ) from err
        return np.ma.filled(np.ma.asarray(band).astype(np.float32), fill)

    def close(self) -> None:
        """Close the datasets (and in-memory files)."""
        for ds in self.datasets:
            ds.close()
        for mem in self._memfiles:
            mem.close()

    def __enter__(self) -> RasterSource:
        """Use as a context manager."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close on exit."""
        self.close()


def _open_one(path: str | Path | bytes, memfiles: list[MemoryFile]) -> DatasetReader:
    try:
        if isinstance(path, bytes | bytearray | memoryview):
            data = bytes(path)
            if not data:
                raise SceneReadError("The uploaded file", arrived="0 bytes", expected="a GeoTIFF (or another raster)",
                                     hints=Hints.same("Upload a GeoTIFF."))
            mem = MemoryFile(data)
            memfiles.append(mem)
            ds = mem.open()
        else:
            p = Path(path)
            if not p.exists():
                raise SceneReadError(f"File {p}", arrived="no such file", expected="an existing raster file",
                                     hints=Hints.same("Check the path."))
            if p.is_dir():
                raise SceneReadError(
                    f"File {p}", arrived="a folder", expected="a raster file",
                    hints=Hints(python="Pass one file, or the list of its single-band files.",
                                cli="Pass one file, or a folder that holds only the scene's single-band files.",
                                app="Choose one file, or upload its single-band files."),
                )
            if p.is_file() and p.stat().st_size == 0:
                raise SceneReadError(f"File {p}", arrived="0 bytes", expected="a raster file",
                                     hints=Hints.same("Re-download or re-export it."))
            ds = rasterio.open(p)
    except SceneReadError:
        raise
    except (RasterioError, OSError) as err:
        label = "The uploaded file" if isinstance(path, bytes | bytearray | memoryview) else f"Raster {path}"
        raise SceneReadError(
            label, arrived=f"an open error ({err})",
            expected="a GeoTIFF/COG/JP2 or another format GDAL reads",
            hints=Hints.same("Check the file is complete."),
        ) from err
    if ds.count < 1 or ds.width < 1 or ds.height < 1:
        ds.close()
        raise SceneReadError(f"Raster {ds.name}", arrived=f"{ds.count} band(s) of {ds.width} x {ds.height} px",
                             expected="at least one band and one pixel")
    if ds.dtypes[0].startswith("complex"):
        ds.close()
        raise SceneReadError(
            f"Data type of {ds.name}", arrived=ds.dtypes[0], expected="real-valued bands (DN or reflectance)",
            hints=Hints.same("Convert to amplitude first."),
        )
    if ds.width * ds.height > MAX_PIXELS:
        ds.close()
        raise SceneReadError(
            f"Size of {ds.name}", arrived=f"{ds.width} x {ds.height} px", expected=f"at most {MAX_PIXELS:,} px",
            hints=Hints.same("Crop it or check its header is not corrupt."),
        )
    return ds


def _fits_dtype(value: float, dtype: str) -> bool:
    """Whether ``value`` can be stored exactly in a band of ``dtype``."""
    kind = np.dtype(dtype).kind
    if kind in "fc":
        return True
    if not math.isfinite(value) or value != int(value):
        return False
    info = np.iinfo(np.dtype(dtype)) if kind in "iu" else None
    return info is None or info.min <= value <= info.max


def _root_cause(err: BaseException) -> str:
    """The innermost GDAL message of a rasterio error ("Read failed. See previous..." is useless)."""
    messages = [str(err)]
    cause = err.__cause__ or err.__context__
    while cause is not None and len(messages) < 10:
        messages.append(str(cause))
        cause = cause.__cause__ or cause.__context__
    useful = [m for m in messages if m and "See previous exception" not in m]
    return (useful[0] if useful else messages[0]).rstrip(".")


Refs = tuple[BandRef, BandRef, BandRef | None]
FileLike = str | Path | bytes
BandPair = tuple[FileLike, int]
"""A ``(file, 1-based band)`` pair: one band of one file."""
SceneSource = FileLike | Sequence[FileLike] | Sequence[BandPair | None]
"""A file, its bytes, one file per band, or ``(file, band)`` pairs for Red, Green, NIR[, Blue]."""


def _as_pairs(source: object) -> list[BandPair | None] | None:
    """The ``(file, band)`` pairs of a source, or ``None`` when it is not given as pairs."""
    if not isinstance(source, list | tuple) or not any(isinstance(x, tuple) for x in source):
        return None
    pairs: list[BandPair | None] = []
    for item in source:
        if item is None:
            pairs.append(None)
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], int) and not isinstance(item[1], bool):
            pairs.append((item[0], item[1]))
        else:
            raise BandMismatchError(
                "Band pair", arrived=_shown_pair(item), expected="a (file, 1-based band) tuple or None",
                hints=Hints.same("Example: [('rg.tif', 1), ('rg.tif', 2), ('nir.tif', 1)]."),
            )
    return pairs


def _shown_pair(item: object) -> object:
    """A malformed pair as a message shows it: as given, but bytes by their size only."""
    if isinstance(item, bytes | bytearray | memoryview):
        return f"{len(item)} bytes"
    if isinstance(item, tuple | list) and any(isinstance(x, bytes | bytearray | memoryview) for x in item):
        return tuple(f"<{len(x)} bytes>" if isinstance(x, bytes | bytearray | memoryview) else x for x in item)
    return item


def _key(item: FileLike) -> object:
    return item if isinstance(item, bytes) else str(item)


def _display_name(item: FileLike) -> str:
    """A file's name for messages; in-memory files are "the uploaded file", not a /vsimem path."""
    return "The uploaded file" if isinstance(item, bytes | bytearray | memoryview) else str(item)


def _label(item: FileLike) -> str:
    return "<bytes>" if isinstance(item, bytes | bytearray | memoryview) else str(item)


def open_scene(
    source: SceneSource,
    *,
    sensor: str | SensorPreset | None = None,
    bands: BandMapping | Sequence[int | None] | None = None,
    nodata: float | None = None,
    names: Sequence[str] | None = None,
) -> RasterSource:
    """Open a scene lazily; which band is which is decided by :func:`~ocm_engine.io.mapping.resolve_mapping`.

    Args:
        source: A file path, bytes of a file, a sequence of single-band files (paths or
            bytes), or ``(file, band)`` pairs (1-based band) for Red, Green, NIR (``None``
            when absent) and optionally Blue, e.g. Red and Green from one multiband file
            and NIR from another: ``[("rg.tif", 1), ("rg.tif", 2), ("nir.tif", 1)]``.
        sensor: Preset name or object giving band positions (multiband) or band names
            (one file per band) and the product's nodata.
        bands: Explicit **1-based** Red, Green, NIR (and optionally Blue) positions, in one
            multiband file or in the sequence of files (a :class:`BandMapping`, or 3-4
            numbers); overrides the preset. NIR may be ``None``.
        nodata: Nodata value; else the file's, else the preset's, else 0.
        names: The files' names as users know them (uploads saved under other names), one
            per file: used to match band names and in labels and messages.

    Returns:
        An open :class:`RasterSource` (close it, or use it in a ``with`` block). A guessed
        mapping is announced by a :class:`~ocm_engine.io.mapping.BandGuessWarning`.

    Raises:
        SceneReadError: Unreadable, empty or corrupt files.
        BandMismatchError: The mapping does not fit the files, or band files disagree
            on CRS or extent.
        UnknownSensorError: Unknown preset name.
    """
    preset = get_sensor(sensor) if isinstance(sensor, str) else sensor
    items, pairs = _items(source)
    memfiles: list[MemoryFile] = []
    datasets: list[DatasetReader] = []
    try:
        datasets = [_open_one(item, memfiles) for item in items]
        shown = _user_names(items, names)
        resolved = resolve_mapping(file_bands(datasets, shown), sensor=preset, bands=bands, pairs=pairs)
        red_ds = datasets[resolved.refs[0].dataset]
        if len(datasets) > 1:
            _check_alignment(datasets, red_ds)
        file_nodata = red_ds.nodata
        chosen = nodata if nodata is not None else (
            file_nodata if file_nodata is not None else (preset.nodata if preset else 0.0)
        )
        if red_ds.crs is None:
            emit(
                f"{red_ds.name} has no CRS: outputs will carry no georeferencing and the "
                "resolution is unknown (pixels are assumed to be at the chosen resolution).",
                MissingCrsWarning,
                stacklevel=2,
            )
        for warning in resolved.warnings:
            emit(warning, stacklevel=2)
    except Exception:
        for ds in datasets:
            ds.close()
        for mem in memfiles:
            mem.close()
        raise
    return _source(datasets, memfiles, items, shown, resolved, chosen)


def _source(datasets: list[DatasetReader], memfiles: list[MemoryFile], items: list[FileLike],
            shown: tuple[str, ...], resolved: ResolvedBands, nodata: float | None) -> RasterSource:
    red, green, nir, blue = resolved.refs
    red_ds = datasets[red.dataset]
    first = items[0]
    name = first.name if isinstance(first, Path) else (Path(first).name if isinstance(first, str) else "upload")
    if isinstance(first, str | Path) and shown and len(items) == 1:
        name = Path(shown[0]).name
    return RasterSource(
        datasets, (red, green, nir), red_ds.width, red_ds.height, red_ds.transform, red_ds.crs,
        None if nodata is None else float(nodata), name, datasets[0].count, memfiles,
        blue, tuple(_label(i) for i in items), resolved.names, resolved.mapping, resolved.warnings, shown,
    )


def _items(source: SceneSource) -> tuple[list[FileLike], list[tuple[int, int] | None] | None]:
    """The distinct files of a source and, for ``(file, band)`` pairs, (file index, band) per role."""
    pairs = _as_pairs(source)
    items: list[FileLike] = []
    indexed: list[tuple[int, int] | None] | None = None
    if pairs is not None:
        keys: list[object] = []
        indexed = []
        for pair in pairs:
            if pair is None:
                indexed.append(None)
                continue
            if _key(pair[0]) not in keys:
                keys.append(_key(pair[0]))
                items.append(pair[0])
            indexed.append((keys.index(_key(pair[0])), pair[1]))
    else:
        items = [cast(FileLike, x) for x in source] if isinstance(source, list | tuple) else [cast(FileLike, source)]
    if not items:
        raise SceneReadError("Input files", arrived="none", expected="a multiband file or one file per band")
    return items, indexed


def _user_names(items: list[FileLike], names: Sequence[str] | None) -> tuple[str, ...]:
    if names is not None:
        if len(names) != len(items):
            raise BandMismatchError("File names", arrived=f"{len(names)} names for {len(items)} files",
                                    expected="one name per file")
        return tuple(str(n) for n in names)
    return tuple(_display_name(i) for i in items)


def file_bands(datasets: Sequence[DatasetReader], names: Sequence[str]) -> list[FileBands]:
    """What each open file says about its bands, for :func:`~ocm_engine.io.mapping.resolve_mapping`."""
    return [
        FileBands(name, ds.count, tuple(d or "" for d in ds.descriptions),
                  tuple(c.name.lower() for c in ds.colorinterp))
        for ds, name in zip(datasets, names, strict=True)
    ]


def band_labels(datasets: Sequence[DatasetReader], names: Sequence[str]) -> list[str]:
    """What a mapping picks from, 1-based: ``"band 3: B03"`` per band of one file, or ``"file 2: name"``."""
    if len(datasets) > 1:
        return [f"file {i}: {Path(name).name}" for i, name in enumerate(names, start=1)]
    descriptions = datasets[0].descriptions
    return [f"band {i}" + (f": {d}" if d else "") for i, d in enumerate(descriptions, start=1)]


def _check_alignment(datasets: list[DatasetReader], ref: DatasetReader) -> None:
    for ds in datasets:
        if (ds.crs is None) != (ref.crs is None) or (ds.crs and ds.crs != ref.crs):
            raise BandMismatchError(
                f"CRS of band file {ds.name}", arrived=str(ds.crs or "no CRS"),
                expected=f"{ref.crs or 'no CRS'} (as {ref.name})",
                file_names=(ref.name, ds.name), hints=Hints.same("Reproject them to one CRS first (gdalwarp)."),
            )
        tol = max(abs(ds.transform.a), abs(ref.transform.a)) * 1.01
        if any(abs(a - b) > tol for a, b in zip(ds.bounds, ref.bounds, strict=True)):
            raise BandMismatchError(
                f"Extent of band file {ds.name}", arrived=tuple(ds.bounds),
                expected=f"{tuple(ref.bounds)} (as {ref.name})", file_names=(ref.name, ds.name),
                hints=Hints.same("Use bands of one scene, or crop them to one extent."),
            )
