"""Map details a user reads off the map: the scale bar, the swipe bar, expert-label layers and legends."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from ocm_app import maps, samples, truth
from ocm_app.scenes import SceneSpec
from ocm_engine.types import Affine

#: What Leaflet's scale control measures on (``L.CRS.Earth.R``) and its bar's maximum width here.
_LEAFLET_R = 6371000.0
_MAX_BAR_PX = 120


def _haversine_m(lat: float, lon0: float, lon1: float) -> float:
    """Distance along a parallel as Leaflet's ``map.distance`` computes it."""
    phi, dlon = math.radians(lat), math.radians(lon1 - lon0)
    a = math.cos(phi) ** 2 * math.sin(dlon / 2) ** 2
    return 2 * _LEAFLET_R * math.asin(math.sqrt(a))


def _leaflet_bar(max_m: float) -> tuple[float, float]:
    """Leaflet's rounding (``_getRoundNum``): the bar's value and its fraction of the maximum width."""
    pow10 = 10 ** (len(str(math.floor(max_m))) - 1)
    d = max_m / pow10
    d = 10 if d >= 10 else 5 if d >= 5 else 3 if d >= 3 else 2 if d >= 2 else 1
    return pow10 * d, pow10 * d / max_m


def _bar_on_fitted_map(georef: maps.Georef, shape: tuple[int, int], map_px: int = 800) -> tuple[float, float]:
    """The scale bar's value (in the map's metres) and length (px) when the scene fills ``map_px``."""
    west, south, east, north = maps.lonlat_bounds(georef, shape)
    ground = _haversine_m((south + north) / 2, west, east)
    max_m = ground * _MAX_BAR_PX / map_px
    value, fraction = _leaflet_bar(max_m)
    return value, _MAX_BAR_PX * fraction


def _ukis_like() -> SceneSpec:
    return SceneSpec("sample:x", "x", ("/nowhere.tif",), ("nowhere.tif",), dataset="ukis_landsat7")


def test_scale_bar_uses_the_known_pixel_size_of_a_scene_without_crs() -> None:
    """A 512 px scene at 30 m is 15.4 km wide: the bar on an 800 px map says 2 km over ~104 px
    (it said "50 m" when every pixel was drawn as 1 m)."""
    size = samples.nominal_pixel_size_m(_ukis_like())
    assert size == 30.0
    georef = maps.georef_of(Affine.identity(), (512, 512), None, size)
    value, length_px = _bar_on_fitted_map(georef, (512, 512))
    # Leaflet's sphere is 0.1 % smaller than Web Mercator's: the bar reads 2 km at 104 px.
    assert value == 2000 and length_px == pytest.approx(2000 / (512 * 30 / 800), abs=0.5)
    html = maps.scene_map([maps.Layer("a", np.zeros((512, 512, 4), np.uint8))], georef).html
    assert "L.control.scale(options)" in html and "ocm-scale-" in html and "' px'" not in html
    assert "30 m per pixel" in maps.scale_note(georef)


def test_scale_bar_counts_pixels_when_the_pixel_size_is_unknown() -> None:
    """No CRS, no known size: no metric bar (it would be invented); a bar in the scene's pixels."""
    upload = SceneSpec("upload:x", "x", ("/nowhere.tif",), ("nowhere.tif",), kind="upload")
    georef = maps.georef_of(Affine.identity(), (384, 384), None, samples.nominal_pixel_size_m(upload))
    assert georef.scale_unit == "px"
    html = maps.swipe_map(maps.Layer("a", np.zeros((384, 384, 4), np.uint8)),
                          maps.Layer("b", np.zeros((384, 384, 4), np.uint8)), georef).html
    assert "_updateMetric" in html and "' px'" in html and "6378137 / 6371000" in html
    # the drawn grid is 1 Web Mercator unit per pixel: the bar's pixels are the scene's pixels
    west, south, east, north = maps.lonlat_bounds(georef, (384, 384))
    units = _haversine_m((south + north) / 2, west, east) * 6378137 / 6371000
    assert units == pytest.approx(384, rel=1e-3)
    assert "pixels" in maps.scale_note(georef)


def test_scale_bar_of_a_crs_scene_ignores_a_nominal_size() -> None:
    georef = maps.georef_of(Affine.translation(500000, 5200000) * Affine.scale(20, -20), (100, 100),
                            "EPSG:32633", 30.0)
    assert georef.pixel_size_m is None and georef.scale_unit == "m"
    west, south, east, north = maps.lonlat_bounds(georef, (100, 100))
    assert _haversine_m((south + north) / 2, west, east) == pytest.approx(2000, rel=0.01)


def test_swipe_map_opens_below_its_bar() -> None:
    """The fitted view's top padding clears the swipe bar that sits over the map's top edge."""
    rgba = np.zeros((40, 50, 4), np.uint8)
    georef = maps.Georef((500000.0, 4999600.0, 500500.0, 5000000.0), "EPSG:32633")
    html = maps.swipe_map(maps.Layer("a", rgba), maps.Layer("b", rgba), georef).html
    css = re.search(r"\.ocm-swipe \{[^}]*top: (\d+)px;[^}]*height: (\d+)px", html)
    assert css is not None
    bar_bottom = int(css.group(1)) + int(css.group(2))
    pad = re.search(r"paddingTopLeft: \[6, (\d+)\]", html)
    assert pad is not None and int(pad.group(1)) >= bar_bottom + 4
    plain = maps.scene_map([maps.Layer("a", rgba)], georef).html
    assert "paddingTopLeft: [6, 6]" in plain  # maps without a swipe bar keep the tight fit


def _accuracy(scheme: str) -> truth.Accuracy:
    n = len(truth.SCHEMES[scheme].classes)
    labels = (np.arange(32)[None, :] * n // 32).repeat(32, axis=0).astype(np.int16)  # every class
    labels[0, 0] = -1
    classes = np.zeros((32, 32), np.uint8)
    classes[8:24] = 1
    return truth.score(scheme, labels, classes, np.ones((32, 32), bool), "labels.tif")


@pytest.mark.parametrize("scheme", ["synthetic", "ukis", "oncloudn"])
def test_expert_legends_match_what_is_drawn(scheme: str) -> None:
    """Every swatch is drawn in that colour, and a class drawn transparent is listed as not drawn
    (the synthetic scheme's swipe legend showed a black Clear over transparent pixels)."""
    acc = _accuracy(scheme)
    drawn = acc.label_rgba()
    model = acc.model_rgba()
    experts = dict(acc.legend_items())
    both = dict(acc.swipe_legend_items())
    for index, name in enumerate(acc.scheme.classes):
        on_map = drawn[acc.labels == index]
        swatch = experts[next(k for k in experts if k.startswith(f"Experts: {name} "))]
        if on_map.size and on_map[..., 3].max() == 0:
            assert swatch == "transparent"
            assert both[f"Model: {name} (not drawn)"] == "transparent"
            assert (model[acc.predicted == index][..., 3] == 0).all()
        else:
            r, g, b = (int(v) for v in on_map[0, :3])
            assert f"rgb({r},{g},{b})" in swatch and "repeating-linear-gradient" in swatch
            assert both[f"Model: {name} (solid)"] == f"rgb({r},{g},{b})"
    html = maps.legend_html(maps.Legend(classes=False, items=acc.swipe_legend_items()))
    assert "rgb(0,0,0)" not in html  # no black "Clear" swatch: nothing black is drawn


def test_expert_layer_is_hatched_not_the_models_solid_fill() -> None:
    acc = _accuracy("synthetic")
    drawn = acc.label_rgba()
    cloud = drawn[acc.labels == 1]
    assert (cloud[..., 3] == 255).any() and (cloud[..., 3] < 255).any()  # stripes and a light fill
    assert (acc.model_rgba()[acc.predicted == 1][..., 3] == 255).all()  # the model: solid
    assert acc.label_rgba((64, 64)).shape == (64, 64, 4)  # hatched at the drawn size
