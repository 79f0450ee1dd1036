from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from ocm_engine import CLASS_COLOURS, InferenceOptions, predict_file
from ocm_engine.errors import OutputExistsError, ResolutionError, ResolutionWarning
from ocm_engine.options import ReadOptions
from tests.conftest import synthetic_scene

FAST = InferenceOptions(patch_px=64, overlap_px=16)


def test_geotiff_outputs_are_complete_and_georeferenced(make_geotiff, tiny_ensemble, tmp_path: Path) -> None:
    data = synthetic_scene(4, 100, 140)
    data[:, :, :20] = 0
    src = make_geotiff(data=data)
    out = predict_file(src, tmp_path / "out", read=ReadOptions(bands=(1, 2, 4)), ensemble=tiny_ensemble,
                       probabilities=True, options=FAST)
    assert out.path.name == "scene_ocm.tif"
    with rasterio.open(src) as s, rasterio.open(out) as d:
        assert d.crs == s.crs and d.transform == s.transform and d.shape == s.shape
        assert d.dtypes[0] == "uint8" and d.nodata == 255 and d.compression.name.lower() == "lzw"
        assert d.colormap(1)[1] == CLASS_COLOURS[1] and d.colormap(1)[3] == CLASS_COLOURS[3]
        assert "thick cloud" in d.descriptions[0]
        tags = d.tags()
        for key in ("model", "cloud_percent", "thick_cloud_percent", "thin_cloud_percent",
                    "cloud_shadow_percent", "clear_percent", "valid_pixels", "nodata_percent"):
            assert key in tags
        classes = d.read(1)
        assert (classes[:, :20] == 255).all() and (classes[:, 20:] <= 3).all()
        assert int(tags["valid_pixels"]) == 100 * 120
        np.testing.assert_allclose(float(tags["nodata_percent"]), 100 * 20 / 140, atol=0.01)
        mask = d.dataset_mask()
        assert (mask[:, :20] == 0).all() and (mask[:, 20:] == 255).all()
    prob_path = out.path.with_name("scene_ocm_probabilities.tif")
    with rasterio.open(prob_path) as p:
        probs = p.read()
        assert p.count == 4 and p.crs is not None
        np.testing.assert_allclose(probs[:, :, 20:].sum(0), 1, atol=1e-4)
        assert np.isnan(probs[:, :, :5]).all()
    stats = json.loads(out.paths.stats.read_text())
    assert abs(stats["statistics"]["cloud_percent"] - float(tags["cloud_percent"])) < 0.01
    assert out.path.with_suffix(".png").stat().st_size > 0
    assert not list((tmp_path / "out").glob("*.partial"))


def test_existing_outputs_need_overwrite(make_geotiff, tiny_ensemble, tmp_path: Path) -> None:
    src = make_geotiff()
    predict_file(src, tmp_path, ensemble=tiny_ensemble, options=FAST)
    with pytest.raises(OutputExistsError) as info:
        predict_file(src, tmp_path, ensemble=tiny_ensemble, options=FAST)
    assert info.value.path.parent == tmp_path and not info.value.incomplete
    assert "overwrite=True" in info.value.hint("python") and "--overwrite" in info.value.hint("cli")
    predict_file(src, tmp_path, ensemble=tiny_ensemble, overwrite=True, options=FAST)


def test_coarser_resolution_maps_back_to_source_grid(make_geotiff, tiny_ensemble, tmp_path: Path) -> None:
    src = make_geotiff(height=120, width=160, res=10.0)
    out = predict_file(src, tmp_path, ensemble=tiny_ensemble, read=ReadOptions(resolution_m=20), options=FAST)
    with rasterio.open(out) as d:
        assert d.shape == (120, 160) and d.res == (10.0, 10.0)
        assert d.tags()["inference_resolution_m"] == "20"


def test_upsampling_refused_and_odd_resolution_warns(make_geotiff, tiny_ensemble, tmp_path: Path) -> None:
    src = make_geotiff(res=30.0)
    out_dir = tmp_path / "out"
    with pytest.raises(ResolutionError) as finer:
        predict_file(src, out_dir, ensemble=tiny_ensemble, read=ReadOptions(resolution_m=10), options=FAST)
    assert (finer.value.reason, finer.value.asked_m, finer.value.source_m) == ("upsample", 10.0, 30.0)
    assert "Choose 30 m or coarser" in finer.value.hint("cli")
    with pytest.raises(ResolutionError) as negative:
        predict_file(src, out_dir, ensemble=tiny_ensemble, read=ReadOptions(resolution_m=-5), options=FAST)
    assert (negative.value.reason, negative.value.asked_m) == ("not_positive", -5)
    assert not out_dir.exists() or not list(out_dir.iterdir())
    fine = make_geotiff("fine.tif", res=5.0, height=200, width=200)
    with pytest.warns(ResolutionWarning, match="validated"):
        predict_file(fine, tmp_path, ensemble=tiny_ensemble, read=ReadOptions(resolution_m=5), options=FAST)


def test_band_files_of_different_resolution(tmp_path: Path, make_geotiff, tiny_ensemble) -> None:
    scene = synthetic_scene(3, 128, 128)
    red = make_geotiff("S2_T33_B04.tif", data=scene[0:1], res=10.0)
    green = make_geotiff("S2_T33_B03.tif", data=scene[1:2], res=10.0)
    nir20 = make_geotiff("S2_T33_B8A.tif", data=scene[2:3, ::2, ::2].copy(), res=20.0)
    out = predict_file([str(red), str(green), str(nir20)], tmp_path / "o", read=ReadOptions(sensor="sentinel2_l2a"),
                       ensemble=tiny_ensemble, options=FAST)
    assert out.path.name == "S2_T33_ocm.tif"
    with rasterio.open(out) as d:
        assert d.shape == (128, 128)


def test_blocks_match_single_pass(make_geotiff, tmp_path: Path) -> None:
    """Block stitching is exact when every patch sees the same statistics.

    A periodic scene (period 16 px) gives every 64 px patch the same mean and std, and a
    per-pixel (1x1 conv) model makes each pixel's class depend on its own value only: a
    blocked run must then equal the single pass pixel for pixel.
    """
    import torch

    from ocm_engine import load_ensemble

    yy, xx = np.mgrid[0:200, 0:230]
    pattern = 1000 + 500 * np.sin(2 * np.pi * xx / 16) + 300 * np.cos(2 * np.pi * yy / 16)
    data = np.stack([pattern, 3000 - pattern, 2000 + pattern / 2]).astype(np.uint16)
    src = make_geotiff(data=data)
    torch.manual_seed(0)
    pixelwise = torch.nn.Conv2d(3, 4, 1).eval()
    ens = load_ensemble([pixelwise], device="cpu", dtype="fp32")
    one = predict_file(src, tmp_path / "a", ensemble=ens, options=FAST)
    many = predict_file(src, tmp_path / "b", ensemble=ens, block_px=90, options=FAST)
    with rasterio.open(one) as a, rasterio.open(many) as b:
        assert a.transform == b.transform
        first, second = a.read(1), b.read(1)
    assert len(np.unique(first)) > 1
    np.testing.assert_array_equal(first, second)


def test_uploaded_bytes(geotiff_bytes, tiny_ensemble, tmp_path: Path) -> None:
    out = predict_file(geotiff_bytes(), tmp_path, read=ReadOptions(bands=(1, 2, 4)), ensemble=tiny_ensemble,
                       options=FAST)
    assert out.path.name == "upload_ocm.tif" and out.path.exists()


@pytest.mark.slow
def test_real_landsat_band_folder(shared_data: Path, tiny_ensemble, tmp_path: Path) -> None:
    folder = shared_data / "scenes" / "landsat8_long_island"
    files = sorted(str(p) for p in folder.glob("*.tif"))
    with pytest.warns(ResolutionWarning):
        out = predict_file(files, tmp_path, read=ReadOptions(sensor="landsat8_9_oli"), ensemble=tiny_ensemble,
                           options=FAST)
    with rasterio.open(out) as d, rasterio.open(files[0]) as s:
        assert d.crs == s.crs and d.transform == s.transform
        assert d.tags()["source_resolution_m"] == "120"


@pytest.mark.slow
def test_real_sentinel2_chip_at_20m(shared_data: Path, tiny_ensemble, tmp_path: Path) -> None:
    files = sorted(str(p) for p in (shared_data / "labeled" / "oncloudn" / "chip_id_1").glob("B0*.tif"))
    out = predict_file(files, tmp_path, read=ReadOptions(sensor="sentinel2_l2a_b08", resolution_m=20),
                       ensemble=tiny_ensemble, probabilities=True, options=FAST)
    with rasterio.open(out) as d:
        assert d.shape == (512, 512) and d.crs is not None


def test_predict_file_returns_the_typed_outputs_its_report_is_written_from(
        make_geotiff, tiny_ensemble, tmp_path: Path) -> None:
    """The returned value carries what the JSON says (numbers as numbers), and the JSON is its report."""
    import os

    from ocm_engine import BandGuessWarning
    from ocm_engine.metrics import ClassStatistics
    from ocm_engine.outputs.report import SceneOutputs, to_json
    from ocm_engine.provenance import RunFacts

    data = synthetic_scene(4, 90, 100)
    data[:, :10] = 0
    src = make_geotiff(data=data)
    with pytest.warns(BandGuessWarning):  # an unlabelled 4-band file: the order is guessed, and said
        out = predict_file(src, tmp_path / "out", ensemble=tiny_ensemble, options=FAST, png=False)
    assert isinstance(out, SceneOutputs) and isinstance(out.run, RunFacts)
    assert isinstance(out.statistics, ClassStatistics) and out.statistics.valid_pixels == 80 * 100
    assert (out.run.patch_px, out.run.overlap_px, out.run.batch_size) == (64, 16, 1)
    assert out.run.device == "cpu" and out.run.tta_transforms == 0
    assert [type(w) for w in out.warnings] == [BandGuessWarning]
    assert os.fspath(out) == str(out.path) == str(tmp_path / "out" / "scene_ocm.tif")
    assert out.paths.png is None and out.paths.probabilities is None
    doc = json.loads(out.paths.stats.read_text())
    assert doc == json.loads(json.dumps(to_json(out)))  # the file is the one writer's output
    assert doc["run"]["patch_px"] == 64 and doc["run"]["batch_size"] == 1  # ints, not text
    assert doc["warnings"][0].startswith("BandGuessWarning: ")
    assert doc["outputs"] == [str(out.path), str(out.paths.stats)]
    with rasterio.open(out) as ds:  # the value opens like the path predict_file used to return
        assert ds.tags()["patch_px"] == "64" and ds.tags()["tta"] == "off"


def test_read_options_replace_the_legacy_keywords_which_warn(make_geotiff, tiny_ensemble, tmp_path: Path) -> None:
    """``read=ReadOptions(...)`` and ``options=`` run silently; the old keywords still work, with a
    DeprecationWarning naming the replacement, and give the same files."""
    import warnings

    read = ReadOptions(bands=[1, 2, 4], nodata=0)  # a list is stored as a tuple: hashable, picklable
    assert read.bands == (1, 2, 4) and hash(read) == hash(ReadOptions(bands=(1, 2, 4), nodata=0))
    assert read.replace(nodata=None, resolution_m=20) == ReadOptions(bands=(1, 2, 4), nodata=0, resolution_m=20)
    src = make_geotiff()
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        new = predict_file(src, tmp_path / "new", read=read, ensemble=tiny_ensemble, options=FAST, png=False)
    with pytest.warns(DeprecationWarning, match=r"read=ReadOptions\(bands=\(1, 2, 4\), nodata=0\)") as caught:
        old = predict_file(src, tmp_path / "old", bands=(1, 2, 4), nodata=0, ensemble=tiny_ensemble,
                           patch_px=64, overlap_px=16, png=False)
    ours = [w for w in caught if w.category is DeprecationWarning]
    assert len(ours) == 2 and "options=InferenceOptions(patch_px=64, overlap_px=16)" in str(ours[1].message)
    assert all(w.filename == __file__ for w in ours)  # pointed at the caller, not the engine
    assert old.path.read_bytes() != b"" and old.read_options == new.read_options and old.run == new.run
    with rasterio.open(old) as a, rasterio.open(new) as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))
