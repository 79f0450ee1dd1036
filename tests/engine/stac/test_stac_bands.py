"""ocm_engine.stac.bands: Red/Green/NIR(/Blue) from eo:bands common names, presets and explicit keys."""

from __future__ import annotations

import pytest

from ocm_engine.errors import BandMismatchError, StacBandError
from ocm_engine.stac import get_catalog, map_bands
from tests.helpers.stac_corpus import band_asset, make_item

BBOX = [13.0, 52.0, 13.1, 52.1]


def test_common_names_with_nir08_fallback_and_cog_preferred() -> None:
    assets = {r: band_asset(f"http://x/{r}.tif", r) for r in ("red", "green", "nir08", "blue")}
    assets["red-jp2"] = dict(band_asset("http://x/red.jp2", "red"), type="image/jp2")
    assets["thumbnail"] = {"href": "http://x/t.png", "type": "image/png", "roles": ["thumbnail"]}
    bands = map_bands(make_item("L", assets, BBOX))
    assert bands.keys == ("red", "green", "nir08", "blue")
    assert bands.red.href == "http://x/red.tif"


def test_stac_1_1_bands_field() -> None:
    def asset(name: str) -> dict[str, object]:
        return {"href": f"http://x/{name}.tif", "type": "image/tiff", "bands": [{"name": name, "eo:common_name": name}]}

    item = make_item("S", {"b4": asset("red"), "b3": asset("green"), "b8": asset("nir")}, BBOX)
    assert map_bands(item).keys == ("b4", "b3", "b8")


def test_preset_keys_first_then_explicit_keys() -> None:
    # Planetary Computer style keys with common names: the preset picks B08 over B8A
    assets = {k: band_asset(f"http://x/{k}.tif", n) for k, n in
              (("B04", "red"), ("B03", "green"), ("B08", "nir"), ("B8A", "nir08"), ("B02", "blue"))}
    item = make_item("P", assets, BBOX)
    assert map_bands(item, get_catalog("planetary_computer_sentinel2_l2a")).keys == ("B04", "B03", "B08", "B02")
    assert map_bands(item, assets=("B04", "B03", "B8A")).keys == ("B04", "B03", "B8A")


def test_multiband_asset() -> None:
    item = make_item("M", {"data": band_asset("http://x/all.tif", "", multi=["red", "green", "nir"])}, BBOX)
    bands = map_bands(item)
    assert [(b.key, b.band) for b in bands.ordered] == [("data", 1), ("data", 2), ("data", 3)]


def test_missing_band_says_which_and_what_was_found() -> None:
    assets = {r: band_asset(f"http://x/{r}.tif", r) for r in ("red", "green", "blue")}
    assets["swir16"] = band_asset("http://x/swir.tif", "swir16")
    with pytest.raises(StacBandError) as info:
        map_bands(make_item("NO_NIR", assets, BBOX))
    err = info.value
    assert isinstance(err, BandMismatchError) and isinstance(err, ValueError)
    assert err.missing == ("nir",) and "swir16" in err.found
    text = str(err)  # the Python wording: names the argument, not the CLI flag
    assert "'NO_NIR'" in text and "nir" in text and "swir16 (swir16)" in text and "assets=(" in text
    assert "--stac-assets" in err.describe("cli") and "--stac-assets" not in text


def test_explicit_key_that_is_absent() -> None:
    assets = {r: band_asset(f"http://x/{r}.tif", r) for r in ("red", "green", "nir")}
    with pytest.raises(StacBandError, match="asset 'B08'"):
        map_bands(make_item("X", assets, BBOX), assets=("red", "green", "B08"))
