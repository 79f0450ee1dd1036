"""xarray in/out: coordinates, CRS and attrs round-trip, time, bands, nodata, lazy Dask == in-memory."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path
from typing import Any

import dask
import dask.array as dsa
import numpy as np
import pytest
import rasterio
import rioxarray
import xarray as xr

from ocm_engine import InferenceOptions, predict_scene, read_scene
from ocm_engine.constants import CLASS_NAMES, OUTPUT_NODATA
from ocm_engine.errors import (
    BandMismatchError,
    InvalidImageError,
    MissingCrsWarning,
    OcmWarning,
    OutputExistsError,
    ResolutionError,
)
from ocm_engine.io.mapping import BandGuessWarning, BandMappingError
from ocm_engine.xarray_io import predict_dataarray, resolve_bands, to_raster
from ocm_engine.xarray_lazy import plan_blocks
from tests.conftest import synthetic_scene

OPTS = InferenceOptions(patch_px=64, overlap_px=16)


def _da(bands: list[str] | None = None, height: int = 100, width: int = 90, seed: int = 0,
        crs: str | None = "EPSG:32633", res: float = 10.0) -> xr.DataArray:
    names = bands or ["red", "green", "blue", "nir"]
    data = synthetic_scene(len(names), height, width, seed=seed)
    da = xr.DataArray(
        data, dims=("band", "y", "x"), name="scene",
        coords={"band": names, "y": 4_000_000 - res / 2 - res * np.arange(height),
                "x": 500_000 + res / 2 + res * np.arange(width)},
    )
    da = da.rio.write_nodata(0)
    return da.rio.write_crs(crs) if crs else da


def _no_compute(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the graph was computed during predict_dataarray")


def test_round_trip_coords_crs_attrs(tiny_ensemble: Any) -> None:
    da = _da()
    ds = da.ocm.predict(ensemble=tiny_ensemble, options=OPTS, probabilities=True)
    assert ds.classes.dtype == np.uint8 and ds.classes.dims == ("y", "x")
    np.testing.assert_array_equal(ds.y.values, da.y.values)
    np.testing.assert_array_equal(ds.x.values, da.x.values)
    assert ds.rio.crs == da.rio.crs
    assert ds.rio.transform() == da.rio.transform()
    assert ds.classes.rio.nodata == OUTPUT_NODATA
    assert ds.classes.attrs["class_names"] == list(CLASS_NAMES)
    assert len(ds.classes.attrs["class_colours"]) == 4
    assert ds.probabilities.dims == ("class", "y", "x")
    assert list(ds["class"].values) == list(CLASS_NAMES)
    assert ds.attrs["ocm_model"].startswith("custom")
    assert '"patch_px": 64' in ds.attrs["ocm_options"]
    assert ds.attrs["ocm_band_nir"].endswith("(nir)")
    valid = ds.classes.values != OUTPUT_NODATA
    np.testing.assert_allclose(ds.probabilities.values[:, valid].sum(axis=0), 1.0, atol=1e-5)


def test_same_as_engine_on_the_geotiff(tiny_ensemble: Any, make_geotiff: Any) -> None:
    """The DataArray path and read_scene + predict_scene on the same file give the same mask."""
    path = make_geotiff("s.tif", height=120, width=100)
    da = rioxarray.open_rasterio(path)
    ds = predict_dataarray(da, ensemble=tiny_ensemble, options=OPTS, bands=[0, 1, 3])
    pred = predict_scene(read_scene(path, bands=[1, 2, 4]), tiny_ensemble, OPTS)
    expected = np.where(pred.valid, pred.classes, OUTPUT_NODATA)
    np.testing.assert_array_equal(ds.classes.values, expected)


def test_to_raster_writes_the_ocm_predict_geotiff(tiny_ensemble: Any, tmp_path: Path) -> None:
    ds = _da().ocm.predict(ensemble=tiny_ensemble, options=OPTS, probabilities=True)
    out = ds.ocm.to_raster(tmp_path / "m.tif", probabilities_path=tmp_path / "p.tif")
    with rasterio.open(out) as src:
        assert src.crs == ds.rio.crs and src.transform == ds.rio.transform()
        assert src.nodata == OUTPUT_NODATA
        assert src.colormap(1)[1][:3] == (240, 228, 66)
        tags = src.tags()
        assert tags["model"].startswith("custom") and "cloud_percent" in tags and tags["patch_px"] == "64"
        np.testing.assert_array_equal(src.read(1), ds.classes.values)
    with rasterio.open(tmp_path / "p.tif") as src:
        assert src.count == 4
    with pytest.raises(OutputExistsError) as exists:
        to_raster(ds, out)  # exists, no overwrite
    assert exists.value.path == out
    with pytest.raises(InvalidImageError) as no_probs:
        to_raster(ds.drop_vars("probabilities"), tmp_path / "m2.tif", probabilities_path=tmp_path / "p2.tif")
    assert no_probs.value.subject == "Prediction Dataset" and "probabilities" in str(no_probs.value.expected)
    with pytest.raises(InvalidImageError) as not_prediction:
        to_raster(_da().to_dataset(), tmp_path / "m3.tif")
    assert not_prediction.value.arrived == "Dataset with ['scene']"


def test_time_dimension_and_dataset_input(tiny_ensemble: Any) -> None:
    frames = [_da(seed=s, height=64, width=72) for s in (0, 1)]
    cube = xr.concat(frames, dim="time").assign_coords(time=np.array(["2024-01-01", "2024-02-01"], "datetime64[ns]"))
    ds = predict_dataarray(cube, ensemble=tiny_ensemble, options=OPTS)
    assert ds.classes.dims == ("time", "y", "x") and ds.sizes["time"] == 2
    single = predict_dataarray(frames[1], ensemble=tiny_ensemble, options=OPTS)
    np.testing.assert_array_equal(ds.classes.isel(time=1).values, single.classes.values)
    # odc-stac shape: one (time, y, x) variable per band
    odc = cube.to_dataset(dim="band")
    from_ds = odc.ocm.predict(ensemble=tiny_ensemble, options=OPTS)
    np.testing.assert_array_equal(from_ds.classes.values, ds.classes.values)
    with pytest.raises(InvalidImageError) as info:
        to_raster(ds, "/nonexistent/x.tif")
    assert info.value.subject == "Class map dimensions" and info.value.arrived == "(time: 2, y: 64, x: 72)"
    assert "ds.isel(time=0)" in info.value.hint("python") and info.value.hint("cli") == ""


def test_band_selection_by_name_preset_and_position(tiny_ensemble: Any) -> None:
    s2 = _da(["B02", "B03", "B04", "B08"])
    by_default = s2.ocm.predict(ensemble=tiny_ensemble, options=OPTS)  # Sentinel-2 style tokens
    by_preset = s2.ocm.predict(ensemble=tiny_ensemble, options=OPTS, sensor="sentinel2_l2a_b08")
    np.testing.assert_array_equal(by_preset.classes.values, by_default.classes.values)
    assert by_preset.attrs["ocm_sensor"] == "sentinel2_l2a_b08"
    assert resolve_bands(["B02", "B03", "B04", "B08"], bands=("B04", "B03", "B08")) == (2, 1, 3, None)
    assert resolve_bands(["B02", "B03", "B04", "B08"], bands=(2, 1, 3, 0)) == (2, 1, 3, 0)
    assert resolve_bands(["B02", "B03", "B04", "B08"]) == (2, 1, 3, 0)
    assert resolve_bands(["coastal", "blue", "green", "red", "nir08"], sensor=None) == (3, 2, 4, 1)
    assert resolve_bands(["B02", "B03", "B04", "B08", "B8A"], sensor=_preset("sentinel2_l2a")) == (2, 1, 4, 0)
    assert resolve_bands(["blue", "green", "red", "nir", "nir08"], sensor=_preset("sentinel2_l2a")) == (2, 1, 4, 0)
    assert resolve_bands([1, 2, 3, 4, 5, 6, 7], sensor=_preset("landsat8_9_oli")) == (3, 2, 4, 1)
    with pytest.warns(BandGuessWarning) as guessed:
        assert resolve_bands([1, 2, 3, 4], sensor=None) == (0, 1, 3, 2)
    assert [w.message.mapping.guessed for w in guessed.list] == [True]  # type: ignore[union-attr]


def test_unnamed_bands_are_guessed_loudly_named_ones_silently() -> None:
    """The resolver files use decides for DataArrays too: a guess warns, names need no warning."""
    numbered = _da().assign_coords(band=[1, 2, 3, 4])  # as rioxarray numbers its bands
    with pytest.warns(BandGuessWarning) as guessed:
        assert resolve_bands(list(numbered.band.values)) == (0, 1, 3, 2)
    (warning,) = [w.message for w in guessed.list]
    assert isinstance(warning, BandGuessWarning) and warning.mapping.guessed
    assert warning.mapping.numbers == (1, 2, 4, 3) and "sentinel2_4band" in warning.presets
    assert warning.source == "the input"
    with warnings.catch_warnings():
        warnings.simplefilter("error", OcmWarning)
        assert resolve_bands(["B02", "B03", "B04", "B08"]) == (2, 1, 3, 0)
        assert resolve_bands(["blue", "green", "red", "nir"]) == (2, 1, 3, 0)
        # stackstac: asset keys as labels, STAC common names beside them (HLS L30: NIR is B05)
        assert resolve_bands(["B02", "B03", "B04", "B05"], extra=[["blue", "green", "red", "nir08"]]) == (2, 1, 3, 0)
        assert resolve_bands(["B02", "B03", "B04", "B05"], bands=("B04", "green", "nir08"),
                             extra=[["blue", "green", "red", "nir08"]]) == (2, 1, 3, None)


def test_unnamed_dataarray_warns_when_predicted(tiny_ensemble: Any) -> None:
    da = _da(["red", "green", "blue", "nir"]).assign_coords(band=[1, 2, 3, 4])
    with pytest.warns(BandGuessWarning) as guessed:
        ds = predict_dataarray(da, ensemble=tiny_ensemble, options=OPTS)
    (warning,) = [w.message for w in guessed.list if isinstance(w.message, BandGuessWarning)]
    assert warning.source == "the input 'scene'" and warning.mapping.numbers == (1, 2, 4, 3)  # type: ignore[union-attr]
    assert ds.attrs["ocm_band_nir"] == "scene:4 (4)"  # 1-based in provenance, as for files


def test_preset_that_does_not_fit_is_worded_for_xarray() -> None:
    with pytest.raises(BandMismatchError) as info:
        resolve_bands([1, 2, 3, 4], sensor=_preset("sentinel2_l2a"))
    cause = info.value.__cause__
    assert isinstance(cause, BandMappingError) and type(info.value) is BandMismatchError
    assert (info.value.subject, info.value.arrived, info.value.expected) == (cause.subject, cause.arrived,
                                                                             cause.expected)
    hint = info.value.hint("python")
    assert "sensor='sentinel2_4band'" in hint and "bands=(2, 1, 3, 0)" in hint and "0-based" in hint


def _preset(key: str) -> Any:
    from ocm_engine.sensors import get_sensor

    return get_sensor(key)


def test_nodata_from_rio_and_argument(tiny_ensemble: Any) -> None:
    da = _da()
    data = da.values.copy()
    data[:, :30, :40] = 7
    da = da.copy(data=data).rio.write_nodata(7)
    ds = da.ocm.predict(ensemble=tiny_ensemble, options=OPTS)
    assert (ds.classes.values[:30, :40] == OUTPUT_NODATA).all()
    assert (ds.classes.values[30:, :] != OUTPUT_NODATA).all()
    other = da.rio.write_nodata(None).ocm.predict(ensemble=tiny_ensemble, options=OPTS, nodata=7)
    np.testing.assert_array_equal(other.classes.values, ds.classes.values)


@pytest.mark.slow  # moved out of the default set (its 60 s budget); CI runs the slow set too
@pytest.mark.parametrize("resolution_m", [None, 25.0])
def test_dask_is_lazy_and_equals_in_memory(tiny_ensemble: Any, resolution_m: float | None) -> None:
    da = _da(height=180, width=150)
    data = da.values.copy()
    data[:, 60:110, 40:100] = 0  # nodata across chunk seams
    da = da.copy(data=data)
    kwargs: dict[str, Any] = dict(ensemble=tiny_ensemble, options=OPTS, probabilities=True, resolution_m=resolution_m)
    eager = predict_dataarray(da, **kwargs)
    with dask.config.set(scheduler=_no_compute):
        lazy = predict_dataarray(da.chunk({"y": 70, "x": 60}), block_px=60, **kwargs)
    assert isinstance(lazy.classes.data, dsa.Array) and isinstance(lazy.probabilities.data, dsa.Array)
    assert lazy.classes.data.numblocks[0] > 1 or resolution_m
    done = lazy.compute(scheduler="threads")
    np.testing.assert_array_equal(done.classes.values, eager.classes.values)
    np.testing.assert_allclose(done.probabilities.values, eager.probabilities.values, atol=1e-6)
    assert done.rio.crs == eager.rio.crs


def test_lazy_blocks_cover_with_global_patches() -> None:
    plans, patch, overlap = plan_blocks(1000, 700, InferenceOptions(patch_px=200, overlap_px=50), 400)
    rows = [p[0].rows for p in plans]
    assert rows[0][0] == 0 and rows[-1][1] == 1000
    assert all(a[1] == b[0] for a, b in itertools.pairwise(rows))
    stride = patch - overlap
    for row in plans:
        for block in row:
            assert block.region_rows[0] % stride == 0 or block.region_rows[0] == 1000 - patch
            assert block.region_rows[0] <= block.rows[0] and block.region_rows[1] >= block.rows[1]


@pytest.mark.slow  # moved out of the default set (its 60 s budget); CI runs the slow set too
def test_time_cube_lazy(tiny_ensemble: Any) -> None:
    frames = [_da(seed=s, height=64, width=72) for s in (0, 1)]
    cube = xr.concat(frames, dim="time").chunk({"time": 1, "y": 40, "x": 40})
    lazy = predict_dataarray(cube, ensemble=tiny_ensemble, options=OPTS, block_px=48)
    assert lazy.classes.dims == ("time", "y", "x") and isinstance(lazy.classes.data, dsa.Array)
    eager = predict_dataarray(cube.compute(), ensemble=tiny_ensemble, options=OPTS)
    np.testing.assert_array_equal(lazy.classes.values, eager.classes.values)


def test_bad_inputs_are_ocm_errors(tiny_ensemble: Any) -> None:
    with pytest.raises(InvalidImageError) as info:
        predict_dataarray(_da().isel(band=0), ensemble=tiny_ensemble)
    assert (info.value.subject, info.value.arrived) == ("Input dimensions", "(y: 100, x: 90)")
    assert "'band'" in str(info.value.expected)
    with pytest.raises(InvalidImageError) as info:
        predict_dataarray(np.zeros((3, 64, 64)), ensemble=tiny_ensemble)  # type: ignore[arg-type]
    assert (info.value.subject, info.value.arrived) == ("Input", "ndarray")
    with pytest.raises(InvalidImageError) as info:
        predict_dataarray(_da().expand_dims(time=2, member=2), ensemble=tiny_ensemble)
    assert info.value.arrived == "(time: 2, member: 2, band: 4, y: 100, x: 90)"
    assert "extra dimensions" in info.value.hint("python")
    with pytest.raises(BandMismatchError) as info:
        predict_dataarray(_da(), ensemble=tiny_ensemble, bands=("red", "green", "nir_band_x"))
    assert (info.value.subject, info.value.arrived) == ("NIR band", "nir_band_x")
    with pytest.warns(BandGuessWarning) as guessed:  # names that say nothing: guessed, as for a file
        assert resolve_bands(["coastal", "swir16", "swir22"]) == (0, 1, 2, None)
    assert guessed.list[0].message.mapping.numbers == (1, 2, 3, None)  # type: ignore[union-attr]
    with pytest.raises(BandMismatchError) as info:
        predict_dataarray(_da(["a", "b"]), ensemble=tiny_ensemble)
    assert (info.value.subject, info.value.arrived) == ("Band count of the input 'scene'", 2)
    assert isinstance(info.value.__cause__, BandMappingError)
    assert "0-based" in info.value.hint("python") and "bands=" in info.value.hint("python")
    assert info.value.hint("cli") == info.value.hint("app") == ""
    with pytest.raises(BandMismatchError) as info:
        predict_dataarray(_da(["a", "b"]), ensemble=tiny_ensemble, bands=(0, 1))
    assert (info.value.subject, info.value.arrived) == ("bands=", [0, 1])
    with pytest.raises(BandMismatchError) as beyond:
        predict_dataarray(_da(), ensemble=tiny_ensemble, bands=(0, 1, 9))
    assert (beyond.value.reason, beyond.value.role, beyond.value.asked, beyond.value.base) == (
        "out_of_range", "NIR", 9, 0)
    assert beyond.value.available == len(_da().band)
    with pytest.raises(BandMismatchError) as below:
        predict_dataarray(_da(), ensemble=tiny_ensemble, bands=(0, -1, 2))
    assert (below.value.reason, below.value.role, below.value.asked, below.value.base) == (
        "out_of_range", "Green", -1, 0)
    with pytest.raises(BandMismatchError) as no_red:
        predict_dataarray(_da(), ensemble=tiny_ensemble, bands=(None, 1, 2))
    assert (no_red.value.reason, no_red.value.role) == ("required", "Red")
    with pytest.raises(ResolutionError) as no_crs:
        predict_dataarray(_da(crs=None), ensemble=tiny_ensemble, resolution_m=20)
    assert (no_crs.value.reason, no_crs.value.asked_m) == ("no_crs", 20)
    with pytest.raises(InvalidImageError) as info:
        predict_dataarray(_da().rename(y="row", x="col"), ensemble=tiny_ensemble)
    assert info.value.subject == "Spatial dimensions" and "y and x" in str(info.value.expected)
    assert "da.rename(" in info.value.hint("python") and info.value.hint("cli") == info.value.hint("app") == ""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = predict_dataarray(_da(crs=None), ensemble=tiny_ensemble, options=OPTS)
    assert any(issubclass(w.category, MissingCrsWarning) for w in caught)
    assert ds.rio.crs is None


@pytest.mark.slow
def test_lazy_on_a_local_cluster_equals_in_memory(make_weights: Any) -> None:
    """The lazy graph runs on a distributed LocalCluster; workers load the model themselves."""
    from ocm_engine.xarray_io import compute

    weights = str(make_weights(2, seed=1))
    da = _da(height=160, width=140)
    opts = InferenceOptions(patch_px=64, overlap_px=16, device="cpu", dtype="fp32")
    eager = predict_dataarray(da, model=weights, options=opts)
    lazy = predict_dataarray(da.chunk({"y": 64, "x": 64}), model=weights, options=opts, block_px=60)
    done = compute(lazy, n_workers=2)
    np.testing.assert_array_equal(done.classes.values, eager.classes.values)
