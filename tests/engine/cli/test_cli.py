from __future__ import annotations

from pathlib import Path

import pytest
import rasterio

from ocm_engine.cli import main
from ocm_engine.constants import CLASS_COLOURS


def test_sensors_lists_presets(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sensors"]) == 0
    out = capsys.readouterr().out
    assert "sentinel2_l2a" in out and "planetscope_8band" in out


def test_info(make_geotiff, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(make_geotiff())]) == 0
    out = capsys.readouterr().out
    assert "128 x 96 px, 4 band(s), uint16" in out and "EPSG:32633" in out


def test_predict_writes_and_skips_existing(make_geotiff, tiny_weights_dir: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    src = make_geotiff()
    args = ["predict", str(src), "-o", str(tmp_path / "out"), "--bands", "1,2,4", "--weights",
            str(tiny_weights_dir), "--patch", "64", "--overlap", "16", "--device", "cpu", "-q", "--probabilities"]
    assert main(args) == 0
    assert "cloud" in capsys.readouterr().out
    out = tmp_path / "out" / "scene_ocm.tif"
    with rasterio.open(out) as d:
        assert d.colormap(1)[1][:3] == CLASS_COLOURS[1][:3]
    assert (tmp_path / "out" / "scene_ocm_probabilities.tif").exists()
    assert main(args) == 0
    assert "skipped" in capsys.readouterr().err


def test_predict_errors_are_one_line(make_geotiff, tiny_weights_dir: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    src = make_geotiff(bands=2)
    code = main(["predict", str(src), "-o", str(tmp_path), "--weights", str(tiny_weights_dir), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and "error:" in err and "band" in err and "Traceback" not in err
    code = main(["predict", str(src), "-o", str(tmp_path), "--weights", str(tmp_path / "none")])
    line = capsys.readouterr().err
    assert code == 2 and line.count("\n") == 1
    assert line.startswith(f"error: Model source {str(tmp_path / 'none')!r}: got no such file or folder; expected")
