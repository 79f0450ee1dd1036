"""Unit tests of the Streamlit glue that need no running app."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ocm_app import maps, render, samples, scenes


def test_safe_join_refuses_escapes(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    assert samples.safe_join(tmp_path, "a") == (tmp_path / "a").resolve()
    for bad in ("..", "../x", "a/../../x", "/etc"):
        with pytest.raises(samples.UnsafePathError):
            samples.safe_join(tmp_path, bad)
    outside = tmp_path.parent / f"{tmp_path.name}_outside"
    outside.mkdir()
    (tmp_path / "link").symlink_to(outside)
    with pytest.raises(samples.UnsafePathError):
        samples.safe_join(tmp_path, "link")


def test_gallery_always_has_the_builtin_scene(tmp_path: Path) -> None:
    gallery = samples.list_samples(tmp_path / "missing")
    assert [s.key for s in gallery] == [samples.BUILTIN_KEY]
    info = scenes.scene_info(gallery[0])
    assert (info.width, info.height, info.resolution_m) == (384, 384, 20.0)


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
    np.full((10, 10, 4), 255, np.uint8)
    west, _south, east, north = maps.lonlat_bounds(maps.Georef((0, 0, 100, 100), None), (10, 10))
    assert west == pytest.approx(0) and east > 0 and north > 0


def test_entropy_and_agreement() -> None:
    from ocm_app.runs import agreement, entropy

    probs = np.zeros((4, 2, 2), np.float32)
    probs[0] = 1.0
    probs[:, 1, 1] = 0.25
    ent = entropy(probs, np.ones((2, 2), bool))
    assert ent[0, 0] == pytest.approx(0, abs=1e-6) and ent[1, 1] == pytest.approx(1, abs=1e-5)
    a = np.array([[0, 1], [2, 3]], np.uint8)
    assert agreement(a, a, np.ones((2, 2), bool)) == 100.0


def test_lab_products_collapse_under_dynamic_zscore(tiny_ensemble: object) -> None:
    from ocm_app import lab

    scene = samples.synthetic_reflectance(128) * 10000
    result = lab.run_lab(scene, 0, lab.fit_window((128, 128), (0.5, 0.5), 64), tiny_ensemble)  # type: ignore[arg-type]
    assert result.spread("Dynamic z-score") < 0.1 < result.spread("Global normalization")
    assert result.agreement("Dynamic z-score")["Reflectance 0-1 (float32)"] > 99.0
