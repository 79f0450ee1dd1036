"""The one band-mapping resolver (ocm_engine.io.mapping) and what readers, the CLI and JSON make of it."""

from __future__ import annotations

import json
import pickle
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
from rasterio.enums import ColorInterp

from ocm_engine import SENSORS, BandSource, read_scene
from ocm_engine.errors import BandMismatchError, OcmWarning
from ocm_engine.io.mapping import (
    BandGuessWarning,
    BandMapping,
    BandMappingError,
    FileBands,
    presets_for,
    resolve_mapping,
)
from ocm_engine.io.scene import SceneReader, read_layout

S2_CHIP = ("B02", "B03", "B04", "B08")


def _describe(path: Path, descriptions: Sequence[str] = (), colorinterp: Sequence[ColorInterp] = ()) -> Path:
    with rasterio.open(path, "r+") as ds:
        for i, text in enumerate(descriptions, start=1):
            ds.set_band_description(i, text)
        if colorinterp:
            ds.colorinterp = list(colorinterp)
    return path


def _chip(make_geotiff: Any, name: str = "chip.tif", descriptions: Sequence[str] = ()) -> Path:
    """A 4-band chip whose bands differ (Blue, Green, Red, NIR levels), like s2_cloudy_chips."""
    data = np.stack([np.full((64, 64), v, np.uint16) for v in (100, 200, 300, 400)])
    data[:, 10:20, 10:20] += 50  # some texture
    return _describe(make_geotiff(name, data=data), descriptions)


# ----------------------------------------------------------------------------- the value
def test_band_mapping_is_a_one_based_value() -> None:
    mapping = BandMapping.of([3, 2, 4, 1], origin="guess")
    assert mapping.numbers == (3, 2, 4, 1) and mapping.guessed
    assert mapping.describe() == "R=band 3, G=band 2, NIR=band 4, B=band 1 (guessed)"
    assert BandMapping(1, 2, unit="file").describe() == "R=file 1, G=file 2, NIR=none (zeros) (as given)"
    with pytest.raises(BandMismatchError) as info:
        BandMapping(0, 1)
    assert (info.value.subject, info.value.arrived) == ("Red band number", 0)
    assert "1-based" in str(info.value.expected)
    with pytest.raises(BandMismatchError) as info:
        BandMapping.of([1, 2])
    assert (info.value.subject, info.value.arrived) == ("Band numbers", [1, 2])
    with pytest.raises(BandMismatchError) as info:
        BandMapping.of([1, None, 3])
    assert (info.value.reason, info.value.role) == ("required", "Green")


def test_band_mapping_error_pickles_by_fields() -> None:
    err = BandMappingError("Band count of a.tif", arrived=2, expected="at least 3", presets=("sentinel2_4band",),
                           suggestion=(3, 2, 4, None))
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is BandMappingError and isinstance(back, BandMismatchError)
    assert (back.subject, back.arrived, back.expected) == ("Band count of a.tif", 2, "at least 3")
    assert (back.presets, back.suggestion) == (("sentinel2_4band",), (3, 2, 4, None))
    assert str(back) == str(err) and back.hint("cli") == err.hint("cli")
    assert "--bands 3,2,4" in back.hint("cli") and "bands=(3, 2, 4)" in back.hint("python")


# ----------------------------------------------------------------------------- the resolver
def test_resolver_uses_band_descriptions_first() -> None:
    chip = FileBands("chip.tif", 4, S2_CHIP, ("gray", "undefined", "undefined", "undefined"))
    resolved = resolve_mapping([chip])
    assert resolved.mapping == BandMapping(3, 2, 4, 1, origin="descriptions")
    assert resolved.names == ("B04", "B03", "B08", "B02") and not resolved.warnings
    generic = FileBands("x.tif", 4, ("nir", "Red", "green", "blue"))
    assert resolve_mapping([generic]).mapping == BandMapping(2, 3, 1, 4, origin="descriptions")


def test_resolver_guesses_loudly_and_offers_presets_that_fit() -> None:
    resolved = resolve_mapping([FileBands("chip.tif", 4)])
    assert resolved.mapping is not None and resolved.mapping.numbers == (1, 2, 4, 3) and resolved.mapping.guessed
    (warning,) = resolved.warnings
    assert isinstance(warning, BandGuessWarning) and isinstance(warning, OcmWarning)
    assert "sentinel2_4band" in warning.presets and "planetscope_4band" in warning.presets
    assert "guessed" in str(warning) and "--" not in str(warning)
    assert presets_for(4)[:1] == ("sentinel2_4band",) and "sentinel2_l2a" not in presets_for(4)


def test_resolver_reads_colour_interpretation() -> None:
    rgb_nir = FileBands("rgbn.tif", 4, (), ("red", "green", "blue", "undefined"))
    resolved = resolve_mapping([rgb_nir])
    assert resolved.mapping == BandMapping(1, 2, 4, 3, origin="colorinterp") and not resolved.warnings


def test_resolver_preset_positions_names_and_pairs() -> None:
    stack = FileBands("s2.tif", 12)
    assert resolve_mapping([stack], sensor=SENSORS["sentinel2_l2a"]).mapping == BandMapping(4, 3, 9, 2,
                                                                                            origin="preset")
    files = [FileBands(n, 1) for n in ("x/T33_B02.jp2", "x/T33_B03.jp2", "x/T33_B04.jp2", "x/T33_B08.jp2",
                                       "x/T33_B8A.jp2")]
    assert resolve_mapping(files, sensor=SENSORS["sentinel2_l2a"]).mapping == BandMapping(
        3, 2, 5, 1, unit="file", origin="preset")
    assert resolve_mapping(files, sensor=SENSORS["sentinel2_l2a_b08"]).mapping.numbers == (3, 2, 4, 1)  # type: ignore[union-attr]
    with pytest.raises(BandMappingError) as info:
        resolve_mapping([FileBands("a.tif", 1), FileBands("b.tif", 1)], sensor=SENSORS["landsat8_9_oli"])
    assert "landsat8_9_oli" in info.value.subject and info.value.arrived == "files 1=a.tif, 2=b.tif"
    pairs = resolve_mapping([FileBands("rg.tif", 2), FileBands("nir.tif", 1)], pairs=[(0, 1), (0, 2), (1, 1)])
    assert pairs.mapping is None and [(r.dataset, r.band) for r in pairs.refs[:3] if r] == [(0, 1), (0, 2), (1, 1)]
    with pytest.raises(BandMappingError) as info:
        resolve_mapping([FileBands("rg.tif", 2)], pairs=[(0, 1), (0, 3), None])
    assert (info.value.subject, info.value.arrived) == ("Green band number of rg.tif", 3)
    assert str(info.value.expected).startswith("1..2")


def test_band_files_by_name_then_order() -> None:
    named = resolve_mapping([FileBands(n, 1) for n in ("x_B02.tif", "x_B03.tif", "x_B04.tif", "x_B08.tif")])
    assert named.mapping == BandMapping(3, 2, 4, 1, unit="file", origin="file_names") and not named.warnings
    by_order = resolve_mapping([FileBands(n, 1) for n in ("nir.tif", "a.tif", "b.tif")])
    assert by_order.mapping == BandMapping(2, 3, 1, unit="file", origin="guess") and by_order.warnings
    with pytest.raises(BandMappingError) as info:
        resolve_mapping([FileBands("a.tif", 1), FileBands("b.tif", 1)])
    assert info.value.arrived == "2 files (1=a.tif, 2=b.tif)" and "3 or 4 files" in str(info.value.expected)
    with pytest.raises(BandMappingError) as info:
        resolve_mapping([FileBands("a.tif", 2)])
    assert (info.value.subject, info.value.arrived) == ("Band count of a.tif", 2)
    with pytest.raises(BandMappingError) as info:
        resolve_mapping([FileBands("a.tif", 4)], bands=(1, 2, 5))
    assert (info.value.subject, info.value.arrived) == ("NIR band number", 5)
    assert info.value.presets == presets_for(4) and "a.tif" in str(info.value.expected)


def test_narrow_nir_presets_take_nir08_and_common_names_count() -> None:
    """Rules that were xarray's own, now the resolver's for every input."""
    five = FileBands("x.tif", 5, ("blue", "green", "red", "nir", "nir08"))
    assert resolve_mapping([five]).mapping == BandMapping(3, 2, 4, 1, origin="descriptions")
    assert resolve_mapping([five], sensor=SENSORS["sentinel2_l2a"]).mapping == BandMapping(3, 2, 5, 1,
                                                                                           origin="descriptions")
    assert resolve_mapping([five], sensor=SENSORS["planetscope_4band"]).mapping.numbers[2] == 4  # type: ignore[union-attr]
    hls = FileBands("hls.tif", 4, ("B02", "B03", "B04", "B05"), common_names=("blue", "green", "red", "nir08"))
    resolved = resolve_mapping([hls])
    assert resolved.mapping == BandMapping(3, 2, 4, 1, origin="descriptions") and not resolved.warnings
    assert resolved.names == ("B04", "B03", "B05", "B02")
    common_only = resolve_mapping([FileBands("c.tif", 3, common_names=("nir", "red", "green"))])
    assert common_only.mapping == BandMapping(2, 3, 1, origin="descriptions") and common_only.names[:3] == (
        "red", "green", "nir")


def test_names_that_say_nothing_are_a_guess_that_says_so() -> None:
    resolved = resolve_mapping([FileBands("x.tif", 3, ("coastal", "swir16", "swir22"))])
    assert resolved.mapping is not None and resolved.mapping.guessed
    (warning,) = resolved.warnings
    assert isinstance(warning, BandGuessWarning) and "coastal, swir16, swir22" in warning.reason


def test_out_of_range_numbers_carry_role_fields() -> None:
    with pytest.raises(BandMappingError) as info:
        resolve_mapping([FileBands("a.tif", 4)], bands=(1, 2, 5))
    assert (info.value.role, info.value.asked, info.value.available, info.value.base) == ("NIR", 5, 4, 1)
    back = pickle.loads(pickle.dumps(info.value))
    assert (back.role, back.asked, back.available, back.presets) == ("NIR", 5, 4, info.value.presets)
    with pytest.raises(BandMismatchError) as below:
        BandMapping(1, 0)
    assert (below.value.role, below.value.asked, below.value.base) == ("Green", 0, 1)


# ----------------------------------------------------------------------------- files (issue 17 item 2)
def test_four_band_chip_with_descriptions_is_mapped_without_warning(make_geotiff: Any) -> None:
    path = _chip(make_geotiff, descriptions=S2_CHIP)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OcmWarning)
        scene = read_scene(path)
    assert [(b.role, b.band, b.name) for b in scene.bands] == [
        ("red", 3, "B04"), ("green", 2, "B03"), ("nir", 4, "B08"), ("blue", 1, "B02")]
    assert float(scene.data[0, 0, 0]) == 300.0 and float(scene.blue[0, 0]) == 100.0  # type: ignore[index]
    assert not scene.warnings


def test_four_band_chip_without_descriptions_warns(make_geotiff: Any) -> None:
    path = _chip(make_geotiff)
    with pytest.warns(BandGuessWarning, match=r"Band order of .*chip\.tif guessed"):
        scene = read_scene(path)
    assert any(isinstance(w, BandGuessWarning) for w in scene.warnings)
    layout = read_layout(path)
    assert layout.guessed and layout.mapping_text == "R=band 1, G=band 2, NIR=band 4, B=band 3 (guessed)"


def test_colour_interpretation_rgb_plus_undefined_is_used(make_geotiff: Any) -> None:
    path = _describe(_chip(make_geotiff), colorinterp=(ColorInterp.blue, ColorInterp.green, ColorInterp.red,
                                                       ColorInterp.undefined))
    with warnings.catch_warnings():
        warnings.simplefilter("error", OcmWarning)
        scene = read_scene(path)
    assert [(b.role, b.band) for b in scene.bands] == [("red", 3), ("green", 2), ("nir", 4), ("blue", 1)]


def test_readme_example_on_a_four_band_s2_chip(make_geotiff: Any) -> None:
    """README: ``read_scene("S2.tif", sensor="sentinel2_l2a", resolution_m=20)`` on B02, B03, B04, B08."""
    described = _chip(make_geotiff, "S2.tif", descriptions=S2_CHIP)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OcmWarning)
        scene = read_scene(described, sensor="sentinel2_l2a", resolution_m=20)
    assert [(b.role, b.band) for b in scene.bands][:3] == [("red", 3), ("green", 2), ("nir", 4)]
    bare = _chip(make_geotiff, "S2_bare.tif")
    with pytest.raises(BandMappingError) as info:
        read_scene(bare, sensor="sentinel2_l2a", resolution_m=20)
    assert info.value.subject == f"Sensor preset 'sentinel2_l2a' (Sentinel-2 L2A (B04, B03, B8A)) on {bare}"
    assert info.value.arrived == "4 band(s) and no band descriptions that name them"
    assert info.value.presets[0] == "sentinel2_4band" and info.value.suggestion == (3, 2, 4, 1)
    text = str(info.value)
    assert "--" not in text and "sensor='sentinel2_4band'" in text and "bands=(" in text, text
    assert isinstance(info.value, ValueError)
    assert "--sensor sentinel2_4band" in info.value.hint("cli") and "Run page" in info.value.hint("app")
    scene = read_scene(bare, sensor="sentinel2_4band", resolution_m=20)
    assert scene.bands[0] == BandSource("red", str(bare), 3, "B04")


def test_upload_names_are_matched_not_the_saved_names(make_geotiff: Any) -> None:
    files = [str(make_geotiff(f"upload_{i}.tif", bands=1, seed=i)) for i in range(4)]
    with SceneReader(files, sensor="sentinel2_l2a_b08", names=[f"T1_{b}.tif" for b in S2_CHIP]) as reader:
        layout = reader.layout
    assert layout.mapping == BandMapping(3, 2, 4, 1, unit="file", origin="preset")
    assert layout.band_labels[2] == "file 3: T1_B04.tif"


def test_cli_and_json_carry_the_guess(make_geotiff: Any, tiny_weights_dir: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from ocm_engine.cli import main

    def to_stderr(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    monkeypatch.setattr(warnings, "showwarning", to_stderr)  # as outside pytest's warning capture
    src = _chip(make_geotiff)
    args = ["predict", str(src), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights_dir),
            "--patch", "64", "--overlap", "16", "--device", "cpu", "-q", "--no-png"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "warning: Band order of" in err and "sentinel2_4band" in err, err
    report = json.loads((tmp_path / "out" / "chip_ocm.json").read_text())
    assert any(w.startswith("BandGuessWarning: Band order") for w in report["warnings"]), report["warnings"]
    described = _chip(make_geotiff, "described.tif", descriptions=S2_CHIP)
    assert main([*args[:1], str(described), *args[2:]]) == 0
    assert "Band order" not in capsys.readouterr().err
    clean = json.loads((tmp_path / "out" / "described_ocm.json").read_text())
    assert not any("BandGuessWarning" in w for w in clean["warnings"])
    assert clean["provenance"]["bands"][0] == {"role": "red", "file": str(described), "band": 3, "name": "B04"}
