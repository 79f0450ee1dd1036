from __future__ import annotations

import numpy as np
import pytest

from ocm_engine.errors import SceneReadError
from ocm_engine.io.raster import raster_info, read_raster, write_raster
from ocm_engine.types import CRS, Affine


def test_write_then_read_keeps_pixels_grid_and_names(tmp_path) -> None:
    data = np.arange(2 * 6 * 5, dtype=np.uint16).reshape(2, 6, 5)
    transform = Affine(20, 0, 500000, 0, -20, 5000000)
    path = write_raster(tmp_path / "a.tif", data, transform=transform, crs="EPSG:32633", nodata=0,
                        descriptions=("red", "nir"))
    info, back = read_raster(path)
    np.testing.assert_array_equal(back, data)
    assert info.crs == CRS.from_epsg(32633) and info.transform == transform and info.resolution_m == 20
    assert (info.count, info.width, info.height, info.nodata, info.descriptions, info.dtype) == (
        2, 5, 6, 0, ("red", "nir"), "uint16")
    assert raster_info(path) == info
    assert not list(tmp_path.glob("*.partial"))


def test_no_georeferencing_and_unreadable_files(tmp_path) -> None:
    path = write_raster(tmp_path / "plain.tif", np.ones((1, 4, 4), np.float32))
    assert raster_info(path).crs is None
    (tmp_path / "bad.tif").write_bytes(b"not a tiff")
    with pytest.raises(SceneReadError) as info:
        raster_info(tmp_path / "bad.tif")
    assert info.value.subject == "Raster bad.tif" and str(info.value.arrived).startswith("an open error")
    assert isinstance(info.value, OSError)
    with pytest.raises(SceneReadError) as info:
        raster_info(tmp_path / "bad.tif", drivers=("GTiff", "PNG"))
    assert info.value.subject == "Raster bad.tif" and "GTiff, PNG" in str(info.value.expected)
