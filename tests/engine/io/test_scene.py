"""read_scene -> Scene and predict_scene -> Prediction: grid, bands, provenance, warnings."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
import rasterio
from rasterio.crs import CRS
from rasterio.transform import Affine
from rasterio.windows import Window

from ocm_engine import InferenceOptions, predict_file, predict_scene, read_scene
from ocm_engine.errors import BandMismatchError, MissingNirWarning, OcmWarning, ResolutionWarning
from ocm_engine.io.scene import SceneReader
from ocm_engine.options import ReadOptions

FAST = InferenceOptions(patch_px=64, overlap_px=16, dtype="fp32")


def test_multiband_scene_with_preset(make_geotiff):
    path = make_geotiff("s2.tif", bands=12, height=80, width=100, res=20.0)
    scene = read_scene(path, sensor="sentinel2_l2a")
    with rasterio.open(path) as ds:
        expected = ds.read([4, 3, 9]).astype(np.float32)
        assert scene.transform == ds.transform and scene.crs == ds.crs
    assert isinstance(scene.crs, CRS)
    np.testing.assert_array_equal(scene.data, expected)
    assert scene.data.shape == (3, 80, 100) and scene.valid.all()
    assert scene.source_resolution_m == 20.0 and scene.resolution_m == 20.0
    assert [(b.role, b.band, b.name) for b in scene.bands] == [
        ("red", 4, "B04"), ("green", 3, "B03"), ("nir", 9, "B8A"), ("blue", 2, "B02")]
    assert all(b.file == str(path) for b in scene.bands)
    assert scene.blue is not None and scene.blue.shape == (80, 100)
    assert scene.warnings == ()


def test_resampled_grid(make_geotiff):
    path = make_geotiff(height=120, width=120, res=10.0)
    scene = read_scene(path, bands=[1, 2, 4], resolution_m=10.0, nodata=0)
    assert scene.shape == (120, 120)
    coarse = read_scene(path, bands=[1, 2, 4], resolution_m=30.0)
    assert coarse.shape == (40, 40) and coarse.transform.a == 30.0 and coarse.resolution_m == 30.0


def test_resolution_outside_validated_range_is_carried_typed(make_geotiff):
    path = make_geotiff(height=120, width=120, res=5.0)
    with pytest.warns(ResolutionWarning) as caught:
        scene = read_scene(path, bands=[1, 2, 4], resolution_m=5.0)

    assert len([w for w in caught if w.category is ResolutionWarning]) == 1
    assert [type(w) for w in scene.warnings] == [ResolutionWarning]


def test_window_read_equals_a_slice_of_the_whole(make_geotiff):
    path = make_geotiff(height=96, width=128)
    whole = read_scene(path)
    part = read_scene(path, window=Window(10, 20, 50, 40))
    np.testing.assert_array_equal(part.data, whole.data[:, 20:60, 10:60])
    assert part.transform == whole.transform @ Affine.translation(10, 20)


def test_band_pairs_from_two_files_and_bytes(make_geotiff):
    rg = make_geotiff("rg.tif", bands=2, seed=1)
    nir = make_geotiff("nir.tif", bands=1, seed=2)
    scene = read_scene([(rg, 1), (rg, 2), (nir, 1)])
    with rasterio.open(rg) as a, rasterio.open(nir) as b:
        np.testing.assert_array_equal(scene.data, np.stack([a.read(1), a.read(2), b.read(1)]).astype(np.float32))
    assert [(b.role, b.file, b.band) for b in scene.bands] == [
        ("red", str(rg), 1), ("green", str(rg), 2), ("nir", str(nir), 1)]
    upload = make_geotiff(as_bytes=True)
    from_bytes = read_scene(upload, bands=[1, 2, 4])
    assert from_bytes.bands[0].file == "<bytes>" and from_bytes.shape == (96, 128)
    with pytest.raises(BandMismatchError) as info:
        read_scene([(rg, 1), (rg, 3), (nir, 1)])
    assert (info.value.subject, info.value.arrived) == (f"Green band number of {rg}", 3)
    assert str(info.value.expected).startswith("1..2")
    with pytest.raises(BandMismatchError) as info:
        read_scene([(rg, 1), (rg, "2"), (nir, 1)])
    assert (info.value.subject, info.value.arrived) == ("Band pair", (rg, "2"))
    with pytest.raises(BandMismatchError) as info:
        read_scene([(upload, 1), (upload, 2), (nir, 1)], names=["a.tif"])
    assert info.value.subject == "File names" and info.value.arrived == "1 names for 2 files"


def test_missing_nir_warns_from_files_too(make_geotiff, tiny_ensemble, tmp_path):
    rgb = make_geotiff("rgb.tif", bands=3)
    with pytest.warns(MissingNirWarning):
        scene = read_scene(rgb, sensor="generic_rgb")
    assert not scene.has_nir and [type(w) for w in scene.warnings] == [MissingNirWarning]
    assert not scene.data[2].any()
    with pytest.warns(MissingNirWarning):
        predict_file(rgb, tmp_path / "out", read=ReadOptions(sensor="generic_rgb"), ensemble=tiny_ensemble,
                     options=FAST)


def test_predict_scene_keeps_grid_and_provenance(make_geotiff, tiny_ensemble):
    path = make_geotiff(height=96, width=128)
    scene = read_scene(path, sensor="generic_rgbn")
    pred = predict_scene(scene, tiny_ensemble, FAST)
    assert pred.transform == scene.transform and pred.crs == scene.crs and pred.shape == scene.shape
    assert pred.grid.width == 128 and pred.grid.crs == scene.crs
    assert pred.provenance is not None and pred.provenance.bands == scene.bands
    assert pred.provenance.engine_version and "custom" in pred.provenance.model
    stats = pred.statistics
    assert sum(stats.counts) == stats.valid_pixels == int(scene.valid.sum())


def test_outputs_record_provenance_with_numbers(make_geotiff, tiny_ensemble, tmp_path):
    rg = make_geotiff("rg.tif", bands=2, seed=1)
    nir = make_geotiff("nir.tif", bands=1, seed=2)
    out = predict_file([(rg, 1), (rg, 2), (nir, 1)], tmp_path / "out", ensemble=tiny_ensemble, options=FAST)
    doc = json.loads(out.paths.stats.read_text())
    bands = {b["role"]: (b["file"], b["band"]) for b in doc["provenance"]["bands"]}
    assert bands == {"red": (str(rg), 1), "green": (str(rg), 2), "nir": (str(nir), 1)}
    assert doc["provenance"]["engine_version"] and isinstance(doc["provenance"]["source_resolution_m"], float)
    assert isinstance(doc["statistics"]["valid_pixels"], int)
    assert isinstance(doc["statistics"]["cloud_percent"], float) and isinstance(doc["run"]["seconds"], float)
    assert doc["run"]["options"]["patch_px"] == 64
    with rasterio.open(out) as ds:
        tags = ds.tags()
    assert tags["band_nir"] == f"{nir}:1" and tags["engine_version"] == doc["provenance"]["engine_version"]


def test_block_reader_matches_one_read(make_geotiff):
    path = make_geotiff(height=100, width=100, res=10.0)
    with SceneReader(path, resolution_m=20.0) as reader:
        assert (reader.height, reader.width) == (50, 50)
        top = reader.read(Window(0, 0, 50, 25))
        whole = reader.read()
    np.testing.assert_array_equal(top.data, whole.data[:, :25])
    assert not math.isnan(whole.resolution_m)


def test_no_warnings_for_a_clean_scene(make_geotiff):
    with warnings.catch_warnings():
        warnings.simplefilter("error", OcmWarning)
        read_scene(make_geotiff(), sensor="generic_rgbn")


def test_overview_mapping_and_labels_of_a_scene(make_geotiff):
    path = make_geotiff("s2.tif", bands=12, height=80, width=100, res=20.0)
    with SceneReader(path, sensor="sentinel2_l2a") as reader:
        overview = reader.read_overview(50)
        assert reader.source.mapping is not None and reader.source.mapping.numbers == (4, 3, 9, 2)
        assert reader.source.dtype == "uint16" and reader.source.file_count == 1
        assert reader.source.band_labels()[:2] == ["band 1", "band 2"]
    assert overview.shape == (40, 50) and overview.blue is not None and overview.blue.shape == (40, 50)
    assert overview.resolution_m == 40.0 and overview.transform.a == 40.0
    with rasterio.open(path) as ds:
        expected = ds.read(4, out_shape=(40, 50), resampling=rasterio.enums.Resampling.average)
    np.testing.assert_allclose(overview.data[0], expected, atol=0.5)


def test_mapping_of_band_files_counts_files(make_geotiff):
    files = [str(make_geotiff(f"T_{b}.tif", bands=1)) for b in ("B02", "B03", "B04", "B08")]
    with SceneReader(files, sensor="sentinel2_l2a_b08") as reader:
        assert reader.source.mapping is not None and reader.source.mapping.numbers == (3, 2, 4, 1)
        assert reader.source.mapping.unit == "file"
    with SceneReader(files, bands=(3, 2, 4, 1), names=["a", "b", "c", "d"]) as reader:
        assert reader.source.band_labels()[0] == "file 1: a"
