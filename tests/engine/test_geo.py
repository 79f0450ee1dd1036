from __future__ import annotations

import numpy as np
import pytest

from ocm_engine.geo import grid_bounds, to_lonlat, warp_to_web_mercator
from ocm_engine.types import CRS, Affine


def test_grid_bounds_and_degrees() -> None:
    bounds = grid_bounds(Affine(10, 0, 500000, 0, -10, 5000000), (40, 50))
    assert bounds == (500000.0, 4999600.0, 500500.0, 5000000.0)
    west, south, east, north = to_lonlat(bounds, CRS.from_epsg(32633))
    assert 14.9 < west < east < 15.1 and 45 < south < north < 45.2


def test_warp_keeps_the_image_and_its_place() -> None:
    image = np.full((4, 40, 50), 200, np.uint8)
    bounds = (500000.0, 4999600.0, 500500.0, 5000000.0)
    warped, lonlat = warp_to_web_mercator(image, bounds, CRS.from_epsg(32633))
    assert warped.shape[0] == 4 and warped.dtype == np.uint8 and (warped == 200).mean() > 0.8
    assert lonlat == pytest.approx(to_lonlat(bounds, "EPSG:32633"), abs=1e-3)
