"""Open imagery as a lazy :class:`RasterSource` and read Red/Green/NIR windows from it.

A source is one multiband file (GeoTIFF, COG, JP2: anything rasterio opens), one
file per band (Sentinel-2 ``B04.jp2``, Landsat ``*_B4.TIF``...), or uploaded bytes.
Nothing is read until :meth:`RasterSource.read` asks for a window, so scenes larger
than memory are processed window by window.
"""

from __future__ import annotations

import math
import warnings
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

from ocm_engine.errors import BandMismatchError, MissingCrsWarning, SceneReadError
from ocm_engine.sensors import SensorPreset, get_sensor, match_band_file, match_band_files

MAX_PIXELS = 2_000_000_000
_EARTH_M_PER_DEG = 111_320.0


@dataclass(frozen=True, slots=True)
class BandRef:
    """One input band: dataset position in :attr:`RasterSource.datasets` and 1-based band."""

    dataset: int
    band: int


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

    def band_labels(self, names: Sequence[str] | None = None) -> list[str]:
        """What a mapping picks from, in 1-based order: the bands of one file, or the files.

        Args:
            names: File names to show instead of the opened paths (e.g. an upload's own names).

        Returns:
            ``"band 3: B03"`` per band of a single file (its description when it has one), or
            ``"file 2: name"`` per file of a one-file-per-band scene.
        """
        if len(self.datasets) > 1:
            shown = names or [Path(label).name for label in self.labels]
            return [f"file {i}: {name}" for i, name in enumerate(shown, start=1)]
        descriptions = self.datasets[0].descriptions
        return [f"band {i}" + (f": {d}" if d else "") for i, d in enumerate(descriptions, start=1)]

    def mapping(self) -> tuple[int, int, int | None, int | None]:
        """Red, Green, NIR and Blue as the ``bands`` argument numbers them (1-based; ``None``: absent).

        Band numbers of a single file, or file numbers of a one-file-per-band scene.
        """
        many = len(self.datasets) > 1
        refs = (*self.refs, self.blue)
        red, green, nir, blue = (None if r is None else (r.dataset + 1 if many else r.band) for r in refs)
        assert red is not None and green is not None
        return red, green, nir, blue

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
                f"Could not read band {ref.band} of {ds.name} ({_root_cause(err)}). The file "
                "is truncated or corrupt; re-download or re-export it."
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
                raise SceneReadError("The uploaded file is empty (0 bytes). Upload a GeoTIFF.")
            mem = MemoryFile(data)
            memfiles.append(mem)
            ds = mem.open()
        else:
            p = Path(path)
            if not p.exists():
                raise SceneReadError(f"File not found: {p}. Check the path.")
            if p.is_dir():
                raise SceneReadError(
                    f"{p} is a folder, not a raster file. Pass one file, or the list of its "
                    "single-band files (the `ocm predict` command accepts a folder of band files)."
                )
            if p.is_file() and p.stat().st_size == 0:
                raise SceneReadError(f"{p} is empty (0 bytes). Re-download or re-export it.")
            ds = rasterio.open(p)
    except SceneReadError:
        raise
    except (RasterioError, OSError) as err:
        label = "the uploaded bytes" if isinstance(path, bytes | bytearray | memoryview) else str(path)
        raise SceneReadError(
            f"Could not open {label} as a raster: {err}. Expected a GeoTIFF/COG/JP2 or another "
            "format GDAL reads; check the file is complete."
        ) from err
    if ds.count < 1 or ds.width < 1 or ds.height < 1:
        ds.close()
        raise SceneReadError(f"{ds.name} has no raster bands or pixels.")
    if ds.dtypes[0].startswith("complex"):
        ds.close()
        raise SceneReadError(
            f"{ds.name} holds complex numbers ({ds.dtypes[0]}); expected real-valued bands "
            "(DN or reflectance). Convert to amplitude first."
        )
    if ds.width * ds.height > MAX_PIXELS:
        ds.close()
        raise SceneReadError(
            f"{ds.name} declares {ds.width} x {ds.height} px, over the {MAX_PIXELS:,} px limit. "
            "Crop it or check its header is not corrupt."
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


def _one_based(bands: Sequence[int | None], count: int, name: str) -> tuple[Refs, BandRef | None]:
    if len(bands) not in (3, 4):
        raise BandMismatchError(
            f"Expected 3 band numbers (Red, Green, NIR), or 4 with Blue; got {len(bands)}: {list(bands)}."
        )
    refs: list[BandRef | None] = []
    for role, band in zip(("Red", "Green", "NIR", "Blue"), bands, strict=False):
        if band is None:
            if role in ("Red", "Green"):
                raise BandMismatchError(f"A {role} band is required.")
            refs.append(None)
            continue
        if not 1 <= int(band) <= count:
            raise BandMismatchError(
                f"{role} is mapped to band {band}, but {name} has {count} band(s) "
                f"(valid: 1..{count}). Choose a matching --sensor or pass --bands R,G,N "
                "(1-based)."
            )
        refs.append(BandRef(0, int(band)))
    red, green, nir = refs[:3]
    assert red is not None and green is not None
    return (red, green, nir), (refs[3] if len(refs) == 4 else None)


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
                f"Band pairs must all be (file, 1-based band) tuples or None; got {item!r}. "
                "Example: [('rg.tif', 1), ('rg.tif', 2), ('nir.tif', 1)]."
            )
    if len(pairs) not in (3, 4) or pairs[0] is None or pairs[1] is None:
        raise BandMismatchError(
            f"Band pairs give Red, Green, NIR (None when absent) and optionally Blue: 3 or 4 entries, "
            f"Red and Green required; got {len(pairs)}: {pairs!r}."
        )
    return pairs


def _pair_refs(pairs: list[BandPair | None], datasets: list[DatasetReader],
               keys: list[object]) -> tuple[Refs, BandRef | None]:
    refs: list[BandRef | None] = []
    for role, pair in zip(("Red", "Green", "NIR", "Blue"), pairs, strict=False):
        if pair is None:
            refs.append(None)
            continue
        index = keys.index(_key(pair[0]))
        count = datasets[index].count
        if not 1 <= pair[1] <= count:
            raise BandMismatchError(
                f"{role} is mapped to band {pair[1]} of {datasets[index].name}, which has {count} band(s) "
                f"(valid: 1..{count}). Band numbers are 1-based."
            )
        refs.append(BandRef(index, pair[1]))
    red, green, nir = refs[:3]
    assert red is not None and green is not None
    return (red, green, nir), (refs[3] if len(refs) == 4 else None)


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
    bands: Sequence[int | None] | None = None,
    nodata: float | None = None,
) -> RasterSource:
    """Open a scene lazily.

    Args:
        source: A file path, bytes of a file, a sequence of single-band files (paths or
            bytes), or ``(file, band)`` pairs (1-based band) for Red, Green, NIR (``None``
            when absent) and optionally Blue, e.g. Red and Green from one multiband file
            and NIR from another: ``[("rg.tif", 1), ("rg.tif", 2), ("nir.tif", 1)]``.
        sensor: Preset name or object giving band positions (multiband) or band names
            (one file per band) and the product's nodata.
        bands: Explicit **1-based** Red, Green, NIR (and optionally Blue) positions, in one
            multiband file or in the sequence of files; overrides the preset. NIR may be ``None``.
        nodata: Nodata value; else the file's, else the preset's, else 0.

    Returns:
        An open :class:`RasterSource` (close it, or use it in a ``with`` block).

    Raises:
        SceneReadError: Unreadable, empty or corrupt files.
        BandMismatchError: The mapping does not fit the files, or band files disagree
            on CRS or extent.
        UnknownSensorError: Unknown preset name.
    """
    preset = get_sensor(sensor) if isinstance(sensor, str) else sensor
    memfiles: list[MemoryFile] = []
    pairs = _as_pairs(source)
    items: list[FileLike]
    if pairs is not None:
        keys: list[object] = []
        items = []
        for pair in pairs:
            if pair is not None and _key(pair[0]) not in keys:
                keys.append(_key(pair[0]))
                items.append(pair[0])
    else:
        items = [cast(FileLike, x) for x in source] if isinstance(source, list | tuple) else [cast(FileLike, source)]
    if not items:
        raise SceneReadError("No input files given. Pass a multiband file or one file per band.")
    datasets: list[DatasetReader] = []
    names = ("", "", "", "")
    try:
        datasets = [_open_one(item, memfiles) for item in items]
        if pairs is not None:
            refs, blue = _pair_refs(pairs, datasets, keys)
        elif len(datasets) == 1:
            ds = datasets[0]
            if bands is None and preset is not None:
                bands = [*preset.band_indices, preset.blue_band if (preset.blue_band or 0) <= ds.count else None]
                names = (preset.red, preset.green, preset.nir or "", preset.blue or "")
            elif bands is None:
                bands = _guess_bands(ds.count, _display_name(items[0]))
            refs, blue = _one_based(bands, ds.count, _display_name(items[0]))
        else:
            refs, blue = _band_file_refs(datasets, items, preset, bands)
            if preset is not None and bands is None:
                names = (preset.red, preset.green, preset.nir or "", preset.blue or "")
        red_ds = datasets[refs[0].dataset]
        if len(datasets) > 1:
            _check_alignment(datasets, red_ds)
        file_nodata = red_ds.nodata
        chosen = nodata if nodata is not None else (
            file_nodata if file_nodata is not None else (preset.nodata if preset else 0.0)
        )
        if red_ds.crs is None:
            warnings.warn(
                f"{red_ds.name} has no CRS: outputs will carry no georeferencing and the "
                "resolution is unknown (pixels are assumed to be at the chosen resolution).",
                MissingCrsWarning,
                stacklevel=2,
            )
    except Exception:
        for ds in datasets:
            ds.close()
        for mem in memfiles:
            mem.close()
        raise
    first = items[0]
    name = first.name if isinstance(first, Path) else (Path(first).name if isinstance(first, str) else "upload")
    return RasterSource(
        datasets, refs, red_ds.width, red_ds.height, red_ds.transform, red_ds.crs,
        None if chosen is None else float(chosen), name, datasets[0].count, memfiles,
        blue, tuple(_label(i) for i in items), names,
    )


def _guess_bands(count: int, name: str) -> tuple[int, int, int | None, int | None]:
    if count >= 4:
        return (1, 2, 4, 3)
    if count == 3:
        return (1, 2, 3, None)
    raise BandMismatchError(
        f"{name} has {count} band(s); Red, Green and NIR need at least 3 (or pass --bands R,G "
        "with one file per band). Choose a --sensor preset or --bands R,G,N."
    )


def _band_file_refs(
    datasets: list[DatasetReader],
    items: list[FileLike],
    preset: SensorPreset | None,
    bands: Sequence[int | None] | None,
) -> tuple[Refs, BandRef | None]:
    if bands is not None:
        positions = list(bands)
        if len(positions) not in (3, 4):
            raise BandMismatchError(f"Expected 3 file numbers (Red, Green, NIR), or 4 with Blue; got {positions}.")
        refs: list[BandRef | None] = []
        for role, pos in zip(("Red", "Green", "NIR", "Blue"), positions, strict=False):
            if pos is None:
                refs.append(None)
            elif 1 <= int(pos) <= len(datasets):
                refs.append(BandRef(int(pos) - 1, 1))
            else:
                raise BandMismatchError(
                    f"{role} is mapped to file {pos} but {len(datasets)} files were given "
                    f"(valid 1..{len(datasets)})."
                )
        red, green, nir = refs[:3]
        if red is None or green is None:
            raise BandMismatchError("Red and Green files are required.")
        return (red, green, nir), (refs[3] if len(refs) == 4 else None)
    if len(datasets) == 3 and preset is None:
        return (BandRef(0, 1), BandRef(1, 1), BandRef(2, 1)), None
    names = [str(i) if not isinstance(i, bytes) else f"file{n}" for n, i in enumerate(items)]
    # --bands counts files in the order they were given (a folder's files are sorted by name, so
    # B10 and B11 come before B2): number them here rather than say "file order".
    numbered = ", ".join(f"{k}={Path(x).name}" for k, x in enumerate(names, start=1))
    if preset is None:
        raise BandMismatchError(
            f"Got {len(datasets)} single-band files but no sensor preset or band mapping. Pass "
            "--sensor (band names are matched in file names) or --bands R,G,N with positions in this "
            f"list: {numbered}."
        )
    try:
        r, g, n = match_band_files(names, preset)
    except LookupError as err:
        raise BandMismatchError(
            f"Could not find {preset.band_names} in the file names {[Path(x).name for x in names]} "
            f"for sensor {preset.key}. Rename the files or pass --bands R,G,N with positions in this list: "
            f"{numbered}."
        ) from err
    b = match_band_file(names, preset.blue)
    return (BandRef(r, 1), BandRef(g, 1), None if n is None else BandRef(n, 1)), (None if b is None else BandRef(b, 1))


def _check_alignment(datasets: list[DatasetReader], ref: DatasetReader) -> None:
    for ds in datasets:
        if (ds.crs is None) != (ref.crs is None) or (ds.crs and ds.crs != ref.crs):
            raise BandMismatchError(
                f"Band files disagree on CRS: {ref.name} is {ref.crs}, {ds.name} is {ds.crs}. "
                "Reproject them to one CRS first (gdalwarp)."
            )
        tol = max(abs(ds.transform.a), abs(ref.transform.a)) * 1.01
        if any(abs(a - b) > tol for a, b in zip(ds.bounds, ref.bounds, strict=True)):
            raise BandMismatchError(
                f"Band files cover different extents: {ref.name} {tuple(ref.bounds)} vs "
                f"{ds.name} {tuple(ds.bounds)}. Use bands of one scene, or crop them to one extent."
            )
