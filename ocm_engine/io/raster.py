"""Plain raster files: facts, whole reads and atomic writes (label maps, sample scenes, windows).

:func:`~ocm_engine.read_scene` is the way to read imagery for masking (band mapping, nodata,
resolution rules). These helpers serve the files around it — expert label maps, generated
sample scenes, catalog windows saved for the app — so no caller outside the engine opens
rasterio itself. Arrays are ``(bands, height, width)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import rasterio
from rasterio.errors import NotGeoreferencedWarning, RasterioError

from ocm_engine.errors import SceneReadError
from ocm_engine.outputs.atomic import atomic_path
from ocm_engine.types import CRS, Affine


@dataclass(frozen=True, slots=True)
class RasterInfo:
    """Facts about a raster file.

    Attributes:
        width: Columns.
        height: Rows.
        count: Bands.
        transform: Affine transform (identity-like for files without georeferencing).
        crs: Coordinate reference system, or ``None``.
        nodata: The file's nodata value, or ``None``.
        descriptions: One description per band (``""`` when none).
        dtype: Data type of the first band.
    """

    width: int
    height: int
    count: int
    transform: Affine
    crs: CRS | None
    nodata: float | None
    descriptions: tuple[str, ...]
    dtype: str

    @property
    def resolution_m(self) -> float:
        """Pixel width in the CRS's units (metres for projected CRSs)."""
        return float(abs(self.transform.a))


def _open(path: str | Path) -> rasterio.io.DatasetReader:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(path)
    except (RasterioError, OSError) as err:
        raise SceneReadError(f"Raster {Path(path).name}", arrived=f"an open error ({err})",
                             expected="a GeoTIFF (or another raster GDAL reads)") from err


def _info(ds: rasterio.io.DatasetReader) -> RasterInfo:
    return RasterInfo(ds.width, ds.height, ds.count, ds.transform, ds.crs, ds.nodata,
                      tuple(d or "" for d in ds.descriptions), str(ds.dtypes[0]))


def raster_info(path: str | Path, *, drivers: Sequence[str] | None = None) -> RasterInfo:
    """Facts about a raster file without reading its pixels (only its header is opened).

    Args:
        path: The file.
        drivers: GDAL drivers it may be opened with, tried one at a time so GDAL never probes
            the others (a shared server passes drivers that cannot reference other files, so a
            VRT, even under a ``.tif`` name, is never opened); ``None``: any driver.

    Raises:
        SceneReadError: The file cannot be opened (with any of ``drivers``).
    """
    if drivers is None:
        with _open(path) as ds:
            return _info(ds)
    failure: Exception | None = None
    for driver in drivers:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                with rasterio.open(path, driver=driver) as ds:
                    return _info(ds)
        except (RasterioError, OSError) as err:
            failure = err
    raise SceneReadError(f"Raster {Path(path).name}", arrived=f"an open error ({failure})",
                         expected=f"a raster the {', '.join(drivers)} driver(s) read") from failure


def read_raster(path: str | Path) -> tuple[RasterInfo, npt.NDArray[np.generic]]:
    """Read every band of a raster file.

    Returns:
        Its facts and its pixels ``(bands, height, width)`` in the file's dtype.

    Raises:
        SceneReadError: The file cannot be opened or decoded.
    """
    with _open(path) as ds:
        try:
            data = ds.read()
        except (RasterioError, OSError) as err:
            raise SceneReadError(f"Raster {Path(path).name}", arrived=f"a read error ({err})",
                                 expected="a complete, readable file (not truncated or corrupt)") from err
        return _info(ds), data


def write_raster(path: Path, data: npt.NDArray[np.generic], *, transform: Affine | None = None,
                 crs: CRS | str | None = None, nodata: float | None = None,
                 descriptions: Sequence[str] = (), overwrite: bool = True, **options: object) -> Path:
    """Write ``(bands, height, width)`` as a GeoTIFF, atomically (a partial file, then a rename).

    Args:
        path: Target file.
        data: The pixels; the file takes their dtype.
        transform: Affine transform; ``None`` for a file without georeferencing.
        crs: CRS (object or any rasterio-readable text); ``None`` for none.
        nodata: Nodata value to record.
        descriptions: One description per band (band names).
        overwrite: Replace an existing file.
        **options: GDAL creation options (``tiled=True``, ``compress="deflate"``, ...).

    Returns:
        The path written.
    """
    profile: dict[str, object] = {"driver": "GTiff", "width": data.shape[2], "height": data.shape[1],
                                  "count": data.shape[0], "dtype": str(data.dtype), "nodata": nodata, **options}
    if transform is not None:
        profile["transform"] = transform
    if crs is not None:
        profile["crs"] = crs
    with atomic_path(path, overwrite) as partial, warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(partial, "w", **profile) as dst:
            dst.write(data)
            for i, text in enumerate(descriptions, start=1):
                dst.set_band_description(i, text)
    return path
