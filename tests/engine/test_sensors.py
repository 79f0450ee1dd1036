from __future__ import annotations

import pytest

from ocm_engine import SENSORS, get_sensor
from ocm_engine.errors import UnknownSensorError


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
    assert info.value.name == "sentinel3" and {"sentinel2_l2a", "landsat8_9_oli"} <= set(info.value.known)
    assert "--bands" in info.value.hint("cli") and "--" not in info.value.describe("app")
    assert isinstance(info.value, KeyError)
    assert get_sensor("Sentinel2-L2A").key == "sentinel2_l2a"


def test_a_four_band_stack_preset_is_reachable_by_name() -> None:
    """Sentinel-2 chips stored as B02, B03, B04, B08 have a preset of their own (issue 17 item 2)."""
    preset = get_sensor("sentinel2_4band")
    assert (preset.red_band, preset.green_band, preset.nir_band, preset.blue_band) == (3, 2, 4, 1)
    assert (preset.red, preset.nir, preset.stack_bands) == ("B04", "B08", 4)
