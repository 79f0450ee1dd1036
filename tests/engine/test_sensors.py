from __future__ import annotations

import pytest

from ocm_engine import SENSORS, get_sensor
from ocm_engine.errors import UnknownSensorError
from ocm_engine.sensors import match_band_files


def test_presets_match_reference_facts() -> None:
    assert SENSORS["planetscope_4band"].band_indices == (3, 2, 4)
    assert SENSORS["planetscope_8band"].band_indices == (6, 4, 8)
    assert SENSORS["maxar_8band"].band_indices == (5, 3, 8)
    assert SENSORS["landsat8_9_oli"].band_names == ("B4", "B3", "B5")
    assert SENSORS["landsat4_5_tm"].band_names == ("B3", "B2", "B4")
    assert SENSORS["hls_l30"].nodata == -9999
    assert SENSORS["sentinel2_l2a"].band_names[2] == "B8A"
    assert SENSORS["sentinel2_l2a_b08"].band_names[2] == "B08"


def test_unknown_sensor_lists_valid_names() -> None:
    with pytest.raises(UnknownSensorError) as info:
        get_sensor("sentinel3")
    assert "sentinel2_l2a" in str(info.value) and "landsat8_9_oli" in str(info.value)
    assert isinstance(info.value, KeyError)
    assert get_sensor("Sentinel2-L2A").key == "sentinel2_l2a"


def test_band_files_matched_by_name() -> None:
    files = ["x/T33_B02.jp2", "x/T33_B03.jp2", "x/T33_B04.jp2", "x/T33_B08.jp2", "x/T33_B8A.jp2"]
    assert match_band_files(files, SENSORS["sentinel2_l2a"]) == (2, 1, 4)
    assert match_band_files(files, SENSORS["sentinel2_l2a_b08"]) == (2, 1, 3)
    ls = ["LC08_B3.TIF", "LC08_B4.TIF", "LC08_B5.TIF", "LC08_B10.TIF"]
    assert match_band_files(ls, SENSORS["landsat8_9_oli"]) == (1, 0, 2)
    with pytest.raises(LookupError):
        match_band_files(["a.tif", "b.tif"], SENSORS["landsat8_9_oli"])


def test_guess_band_files_by_name_then_order() -> None:
    from ocm_engine.sensors import guess_band_files

    assert guess_band_files(["x_B02.tif", "x_B03.tif", "x_B04.tif", "x_B08.tif"]) == (3, 2, 4, 1)
    assert guess_band_files(["nir.tif", "red.tif", "green.tif"]) == (2, 3, 1, None)
    assert guess_band_files(["a.tif", "b.tif"]) == (1, 2, None, None)


def test_preset_band_files_are_one_based_with_blue() -> None:
    from ocm_engine.errors import BandMismatchError
    from ocm_engine.sensors import preset_band_files

    names = ["x_B02.tif", "x_B03.tif", "x_B04.tif", "x_B08.tif"]
    assert preset_band_files(names, get_sensor("sentinel2_l2a_b08")) == (3, 2, 4, 1)
    with pytest.raises(BandMismatchError, match=r"a\.tif"):
        preset_band_files(["a.tif", "b.tif"], get_sensor("sentinel2_l2a_b08"))
