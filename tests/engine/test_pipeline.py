from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio

from ocm_engine import CLASS_COLOURS, predict_file
from ocm_engine.errors import OutputExistsError, ResolutionError, ResolutionWarning
from tests.conftest import synthetic_scene

OPTS = {"patch_px": 64, "overlap_px": 16}


def test_geotiff_outputs_are_complete_and_georeferenced(make_geotiff, tiny_ensemble, tmp_path: Path) -> None:
    data = synthetic_scene(4, 100, 140)
    data[:, :, :20] = 0
    src = make_geotiff(data=data)
    out = predict_file(src, tmp_path / "out", bands=(1, 2, 4), ensemble=tiny_ensemble,
                       probabilities=True, **OPTS)
    assert out.name == "scene_ocm.tif"
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
    prob_path = out.with_name("scene_ocm_probabilities.tif")
    with rasterio.open(prob_path) as p:
        probs = p.read()
        assert p.count == 4 and p.crs is not None
        np.testing.assert_allclose(probs[:, :, 20:].sum(0), 1, atol=1e-4)
        assert np.isnan(probs[:, :, :5]).all()
    stats = json.loads(out.with_suffix(".json").read_text())
    assert abs(stats["statistics"]["cloud_percent"] - float(tags["cloud_percent"])) < 0.01
    assert out.with_suffix(".png").stat().st_size > 0
    assert not list((tmp_path / "out").glob("*.partial"))


def test_existing_outputs_need_overwrite(make_geotiff, tiny_ensemble, tmp_path: Path) -> None:
    src = make_geotiff()
    predict_file(src, tmp_path, ensemble=tiny_ensemble, **OPTS)
    with pytest.raises(OutputExistsError, match="overwrite"):
        predict_file(src, tmp_path, ensemble=tiny_ensemble, **OPTS)
    predict_file(src, tmp_path, ensemble=tiny_ensemble, overwrite=True, **OPTS)


def test_coarser_resolution_maps_back_to_source_grid(make_geotiff, tiny_ensemble, tmp_path: Path) -> None:
    src = make_geotiff(height=120, width=160, res=10.0)
    out = predict_file(src, tmp_path, ensemble=tiny_ensemble, resolution_m=20, **OPTS)
    with rasterio.open(out) as d:
        assert d.shape == (120, 160) and d.res == (10.0, 10.0)
        assert d.tags()["inference_resolution_m"] == "20"


def test_upsampling_refused_and_odd_resolution_warns(make_geotiff, tiny_ensemble, tmp_path: Path) -> None:
    src = make_geotiff(res=30.0)
    out_dir = tmp_path / "out"
    with pytest.raises(ResolutionError, match="upsample"):
        predict_file(src, out_dir, ensemble=tiny_ensemble, resolution_m=10, **OPTS)
    with pytest.raises(ResolutionError, match="positive"):
        predict_file(src, out_dir, ensemble=tiny_ensemble, resolution_m=-5, **OPTS)
    assert not out_dir.exists() or not list(out_dir.iterdir())
    fine = make_geotiff("fine.tif", res=5.0, height=200, width=200)
    with pytest.warns(ResolutionWarning, match="validated"):
        predict_file(fine, tmp_path, ensemble=tiny_ensemble, resolution_m=5, **OPTS)


def test_band_files_of_different_resolution(tmp_path: Path, make_geotiff, tiny_ensemble) -> None:
    scene = synthetic_scene(3, 128, 128)
    red = make_geotiff("S2_T33_B04.tif", data=scene[0:1], res=10.0)
    green = make_geotiff("S2_T33_B03.tif", data=scene[1:2], res=10.0)
    nir20 = make_geotiff("S2_T33_B8A.tif", data=scene[2:3, ::2, ::2].copy(), res=20.0)
    out = predict_file([str(red), str(green), str(nir20)], tmp_path / "o", sensor="sentinel2_l2a",
                       ensemble=tiny_ensemble, **OPTS)
    assert out.name == "S2_T33_ocm.tif"
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
    one = predict_file(src, tmp_path / "a", ensemble=ens, **OPTS)
    many = predict_file(src, tmp_path / "b", ensemble=ens, block_px=90, **OPTS)
    with rasterio.open(one) as a, rasterio.open(many) as b:
        assert a.transform == b.transform
        first, second = a.read(1), b.read(1)
    assert len(np.unique(first)) > 1
    np.testing.assert_array_equal(first, second)


def test_uploaded_bytes(geotiff_bytes, tiny_ensemble, tmp_path: Path) -> None:
    out = predict_file(geotiff_bytes(), tmp_path, bands=(1, 2, 4), ensemble=tiny_ensemble, **OPTS)
    assert out.name == "upload_ocm.tif" and out.exists()


@pytest.mark.slow
def test_real_landsat_band_folder(shared_data: Path, tiny_ensemble, tmp_path: Path) -> None:
    folder = shared_data / "scenes" / "landsat8_long_island"
    files = sorted(str(p) for p in folder.glob("*.tif"))
    with pytest.warns(ResolutionWarning):
        out = predict_file(files, tmp_path, sensor="landsat8_9_oli", ensemble=tiny_ensemble, **OPTS)
    with rasterio.open(out) as d, rasterio.open(files[0]) as s:
        assert d.crs == s.crs and d.transform == s.transform
        assert d.tags()["source_resolution_m"] == "120"


@pytest.mark.slow
def test_real_sentinel2_chip_at_20m(shared_data: Path, tiny_ensemble, tmp_path: Path) -> None:
    files = sorted(str(p) for p in (shared_data / "labeled" / "oncloudn" / "chip_id_1").glob("B0*.tif"))
    out = predict_file(files, tmp_path, sensor="sentinel2_l2a_b08", resolution_m=20,
                       ensemble=tiny_ensemble, probabilities=True, **OPTS)
    with rasterio.open(out) as d:
        assert d.shape == (512, 512) and d.crs is not None
