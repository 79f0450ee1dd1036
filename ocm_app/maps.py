"""Interactive maps (leafmap, folium backend) that work offline.

Leaflet's JavaScript and CSS come from the app itself: they are installed from npm
(``npm ci``: ``node_modules/leaflet/dist``) and inlined into each map's HTML, with the
CSS images turned into data URLs, so the map needs no CDN and no static route (it works
under any ``server.baseUrlPath`` and in an air-gapped network). Raster layers are the
app's own RGBA renderings, warped to Web Mercator and added as image overlays, so no
tile server is needed; a basemap is optional (it is the only thing fetched online).

The split (swipe) view and the legend are small Leaflet controls written here.
"""

from __future__ import annotations

import base64
import functools
import html as html_lib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import folium
import leafmap.foliumap as leafmap
import numpy as np
import streamlit as st
from branca.element import Element, MacroElement
from jinja2 import Template

from ocm_app import config
from ocm_app.render import RGBA, class_css_colours, css_gradient, data_url
from ocm_engine import CLASS_LABELS
from ocm_engine.geo import WEB_MERCATOR, grid_bounds, to_lonlat, warp_to_web_mercator
from ocm_engine.types import CRS, Affine

LEAFLET_DIST = config.NODE_MODULES / "leaflet" / "dist"
#: Placement of scenes without a CRS: a local metric grid at 0 deg N, 0 deg E (not real).
_NO_CRS_ORIGIN = (0.0, 0.0)


@dataclass(frozen=True, slots=True)
class Georef:
    """Where a scene lies: bounds ``(left, bottom, right, top)`` in ``crs`` (``None``: unknown)."""

    bounds: tuple[float, float, float, float]
    crs: CRS | str | None


@dataclass(frozen=True, slots=True)
class Layer:
    """One raster overlay: an RGBA image ``(h, w, 4)`` covering the scene's bounds."""

    name: str
    rgba: RGBA
    show: bool = True
    opacity: float = 1.0
    smooth: bool = False
    adjustable: bool = False


@dataclass(frozen=True, slots=True)
class Box:
    """An outlined rectangle on the map: rows and columns as fractions (0-1) of the scene."""

    label: str
    rows: tuple[float, float]
    cols: tuple[float, float]
    colour: str = "#000000"


@dataclass(frozen=True, slots=True)
class Colorbar:
    """A colour bar in the legend."""

    title: str
    cmap: str
    low: str = "0"
    high: str = "1"


@dataclass(frozen=True, slots=True)
class Legend:
    """Legend contents: class swatches, extra swatches and colour bars."""

    classes: bool = True
    items: tuple[tuple[str, str], ...] = ()
    colorbars: tuple[Colorbar, ...] = ()
    title: str = "Legend"


@dataclass(slots=True)
class MapHtml:
    """A rendered map: the HTML document and whether Leaflet was inlined from local files."""

    html: str
    offline: bool
    layer_names: list[str] = field(default_factory=list)


@functools.lru_cache(maxsize=1)
def leaflet_assets() -> tuple[str, str] | None:
    """Leaflet's JS and CSS (images inlined) from ``node_modules``, or ``None`` when not installed."""
    js_path, css_path = LEAFLET_DIST / "leaflet.js", LEAFLET_DIST / "leaflet.css"
    if not (js_path.is_file() and css_path.is_file()):
        return None
    css = css_path.read_text(encoding="utf-8")

    def inline(match: re.Match[str]) -> str:
        image = LEAFLET_DIST / match.group(1)
        if not image.is_file() or not image.resolve().is_relative_to(LEAFLET_DIST.resolve()):
            return match.group(0)
        encoded = base64.b64encode(image.read_bytes()).decode("ascii")
        return f"url(data:image/png;base64,{encoded})"

    css = re.sub(r"url\((images/[A-Za-z0-9_\-.]+\.png)\)", inline, css)
    return js_path.read_text(encoding="utf-8"), css


def external_urls(html: str) -> list[str]:
    """URLs of scripts and stylesheets the HTML loads from other hosts (should be empty)."""
    return re.findall(r"<(?:script|link)[^>]+(?:src|href)=\"(https?://[^\"]+)\"", html)


def lonlat_bounds(georef: Georef, shape: tuple[int, int]) -> tuple[float, float, float, float]:
    """The scene's bounds in degrees ``(west, south, east, north)``."""
    if georef.crs is None:
        return _no_crs_bounds(georef, shape, degrees=True)
    return to_lonlat(georef.bounds, georef.crs)


def _no_crs_bounds(georef: Georef, shape: tuple[int, int], degrees: bool) -> tuple[float, float, float, float]:
    left, bottom, right, top = georef.bounds
    width, height = right - left, top - bottom
    if not (math.isfinite(width) and width > 0):
        width, height = float(shape[1]), float(shape[0])
    x0, y0 = _NO_CRS_ORIGIN
    merc = (x0, y0, x0 + width, y0 + height)
    return to_lonlat(merc, WEB_MERCATOR) if degrees else merc


@st.cache_data(max_entries=96, show_spinner=False, hash_funcs={CRS: CRS.to_wkt})
def warped_url(rgba: RGBA, bounds: tuple[float, float, float, float], crs: CRS | str | None,
               smooth: bool) -> tuple[str, tuple[float, float, float, float]]:
    """Warp an RGBA image covering ``bounds`` in ``crs`` to Web Mercator.

    Returns:
        A PNG data URL and its bounds in degrees ``(west, south, east, north)``.
    """
    height, width = rgba.shape[:2]
    if crs is None:
        merc = _no_crs_bounds(Georef(bounds, None), (height, width), degrees=False)
        return data_url(rgba), to_lonlat(merc, WEB_MERCATOR)
    dst, lonlat = warp_to_web_mercator(np.moveaxis(rgba, -1, 0), bounds, crs, smooth)
    return data_url(np.moveaxis(dst, 0, -1).copy()), lonlat


_LEGEND_JS = Template("""
{% macro script(this, kwargs) %}
(function() {
    var legend = L.control({position: 'bottomright'});
    legend.onAdd = function() {
        var div = L.DomUtil.create('div', 'ocm-legend leaflet-control');
        div.innerHTML = {{ this.inner_html }};
        L.DomEvent.disableClickPropagation(div);
        return div;
    };
    legend.addTo({{ this._parent.get_name() }});
})();
{% endmacro %}
""")

_SWIPE_JS = Template("""
{% macro script(this, kwargs) %}
(function() {
    var map = {{ this._parent.get_name() }};
    var pane = map.getPane({{ this.pane|tojson }});
    var box = L.DomUtil.create('div', 'ocm-swipe leaflet-control', map.getContainer());
    var divider = L.DomUtil.create('div', 'ocm-swipe-divider', map.getContainer());
    var range = L.DomUtil.create('input', 'ocm-swipe-range', box);
    range.type = 'range'; range.min = 0; range.max = 1; range.step = 0.001; range.value = 0.5;
    range.setAttribute('aria-label', 'Swipe between ' + {{ this.left|tojson }} + ' and ' + {{ this.right|tojson }});
    var labels = L.DomUtil.create('div', 'ocm-swipe-labels', box);
    labels.innerHTML = '<span>&#9664; ' + {{ this.left|tojson }} + '</span><span>'
        + {{ this.right|tojson }} + ' &#9654;</span>';
    L.DomEvent.disableClickPropagation(box);
    L.DomEvent.on(range, 'pointerdown mousedown touchstart', function() { map.dragging.disable(); });
    L.DomEvent.on(document, 'pointerup mouseup touchend', function() { map.dragging.enable(); });
    function update() {
        var size = map.getSize();
        var x = size.x * parseFloat(range.value);
        divider.style.left = x + 'px';
        var nw = map.containerPointToLayerPoint([0, 0]);
        var se = map.containerPointToLayerPoint(size);
        pane.style.clip = 'rect(' + [nw.y, se.x, se.y, nw.x + x].join('px,') + 'px)';
    }
    L.DomEvent.on(range, 'input change', update);
    map.on('move zoom zoomend resize viewreset', update);
    update();
})();
{% endmacro %}
""")

_VIEW_JS = Template("""
{% macro script(this, kwargs) %}
(function() {
    // Fit to the scene once the map has a size (a map in a hidden tab has none), restore the
    // view, visible layers and opacity the user left on this scene (sessionStorage, per tab),
    // drive the opacity slider and report basemap tiles that fail to load.
    var map = {{ this._parent.get_name() }};
    var bounds = L.latLngBounds({{ this.bounds|tojson }});
    var key = 'ocm-map:' + {{ this.state_key|tojson }};
    var layers = {
        {%- for name, var in this.layers %}
        {{ name|tojson }}: {{ var }},
        {%- endfor %}
    };
    var adjustable = {{ this.adjustable|tojson }};
    var store = null;
    try { store = window.sessionStorage; store.getItem('x'); } catch (e) { store = null; }
    function load() {
        if (!store) { return null; }
        try { return JSON.parse(store.getItem(key) || 'null'); } catch (e) { return null; }
    }
    var saved = load() || {};
    var ready = false;
    function save() {
        if (!ready || !store) { return; }
        var c = map.getCenter();
        var shown = Object.keys(layers).filter(function(n) { return map.hasLayer(layers[n]); });
        saved = {center: [c.lat, c.lng], zoom: map.getZoom(), shown: shown, opacity: saved.opacity};
        try { store.setItem(key, JSON.stringify(saved)); } catch (e) { /* storage full: keep going */ }
    }
    function setOpacity(value) {
        adjustable.forEach(function(n) { if (layers[n]) { layers[n].setOpacity(value); } });
    }
    if (saved.shown) {
        Object.keys(layers).forEach(function(n) {
            var want = saved.shown.indexOf(n) >= 0;
            if (want && !map.hasLayer(layers[n])) { layers[n].addTo(map); }
            if (!want && map.hasLayer(layers[n])) { map.removeLayer(layers[n]); }
        });
    }
    if (adjustable.length) {
        var start = typeof saved.opacity === 'number' ? saved.opacity : {{ this.opacity }};
        setOpacity(start);
        var box = L.control({position: 'topright'});
        box.onAdd = function() {
            var div = L.DomUtil.create('div', 'ocm-opacity leaflet-control');
            div.innerHTML = '<label>Mask opacity <input type="range" min="0" max="1" step="0.05"></label>';
            var input = div.querySelector('input');
            input.value = start;
            input.setAttribute('aria-label', 'Mask opacity');
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.on(input, 'input change', function() {
                setOpacity(parseFloat(input.value));
                saved.opacity = parseFloat(input.value);
                save();
            });
            return div;
        };
        box.addTo(map);
    }
    function place() {
        var size = map.getSize();
        if (!size.x || !size.y) { return false; }
        map.invalidateSize({animate: false});
        if (saved.center && typeof saved.zoom === 'number') {
            map.setView(saved.center, saved.zoom, {animate: false});
        } else {
            map.fitBounds(bounds, {padding: [6, 6], animate: false});
        }
        ready = true;
        return true;
    }
    if (!place()) {
        var watch = function() { if (!ready && place()) { window.removeEventListener('resize', watch); } };
        window.addEventListener('resize', watch);
        if (window.ResizeObserver) {
            var observer = new ResizeObserver(function() { if (!ready && place()) { observer.disconnect(); } });
            observer.observe(map.getContainer());
        }
    }
    map.on('moveend zoomend overlayadd overlayremove', save);
    var notice = null;
    map.eachLayer(function(layer) {
        if (!(layer instanceof L.TileLayer)) { return; }
        layer.on('tileerror', function() {
            if (notice) { return; }
            notice = L.control({position: 'bottomleft'});
            notice.onAdd = function() {
                var div = L.DomUtil.create('div', 'ocm-notice leaflet-control');
                div.textContent = 'Basemap tiles could not be loaded (no internet connection?). '
                    + 'The scene layers are drawn by the app and still work.';
                return div;
            };
            notice.addTo(map);
        });
    });
    window.ocmMap = map;
    window.ocmSceneBounds = bounds;
})();
{% endmacro %}
""")

_CSS = """
<style>
.folium-map, .leaflet-container { background: #d9d9d9; }
.ocm-legend { background: rgba(255,255,255,0.92); padding: 6px 9px; border-radius: 5px;
  font: 12px/1.35 system-ui, sans-serif; box-shadow: 0 1px 4px rgba(0,0,0,0.35); max-width: 220px; }
.ocm-legend b { display: block; margin-bottom: 3px; }
.ocm-legend .sw { display: inline-block; width: 14px; height: 12px; margin-right: 6px;
  vertical-align: -2px; border: 1px solid #777; }
.ocm-legend .bar { height: 10px; border: 1px solid #777; margin-top: 2px; }
.ocm-legend .ends { display: flex; justify-content: space-between; font-size: 11px; }
.ocm-legend .cb { margin-top: 6px; }
.ocm-swipe { position: absolute; left: 56px; right: 56px; top: 10px; z-index: 1000;
  background: rgba(255,255,255,0.85); border-radius: 5px; padding: 2px 8px; }
.ocm-swipe-range { width: 100%; margin: 0; cursor: ew-resize; }
.ocm-swipe-labels { display: flex; justify-content: space-between; font: 11px system-ui, sans-serif; }
.ocm-swipe-divider { position: absolute; top: 0; bottom: 0; width: 3px; margin-left: -1px;
  background: #fff; box-shadow: 0 0 3px rgba(0,0,0,0.7); z-index: 999; pointer-events: none; }
.ocm-opacity { background: rgba(255,255,255,0.92); padding: 4px 8px; border-radius: 5px;
  font: 12px system-ui, sans-serif; box-shadow: 0 1px 4px rgba(0,0,0,0.35); }
.ocm-opacity input { vertical-align: middle; width: 110px; }
.ocm-box-label { font: bold 11px system-ui, sans-serif; color: #000; background: rgba(255,255,255,0.85);
  padding: 0 3px; border-radius: 3px; white-space: nowrap; display: inline-block; }
.ocm-notice { background: #fff4ce; color: #5c4400; border: 1px solid #d8b600; padding: 5px 8px;
  border-radius: 5px; font: 12px/1.35 system-ui, sans-serif; max-width: 320px; }
</style>
"""


class _Legend(MacroElement):
    _template = _LEGEND_JS

    def __init__(self, inner_html: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "OcmLegend"
        self.inner_html = json.dumps(inner_html)


class _View(MacroElement):
    _template = _VIEW_JS

    def __init__(self, bounds: list[list[float]], state_key: str, layers: list[tuple[str, str]],
                 adjustable: list[str], opacity: float) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "OcmView"
        self.bounds, self.state_key, self.layers = bounds, state_key, layers
        self.adjustable, self.opacity = adjustable, opacity


class _Swipe(MacroElement):
    _template = _SWIPE_JS

    def __init__(self, pane: str, left: str, right: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "OcmSwipe"
        self.pane, self.left, self.right = pane, left, right


def legend_html(legend: Legend) -> str:
    """The legend's inner HTML (also used by tests)."""
    parts = [f"<b>{html_lib.escape(legend.title)}</b>"]
    if legend.classes:
        for label, colour in zip(CLASS_LABELS, class_css_colours(), strict=True):
            parts.append(f'<div><span class="sw" style="background:{colour}"></span>{label}</div>')
    for label, colour in legend.items:
        parts.append(f'<div><span class="sw" style="background:{colour}"></span>'
                     f"{html_lib.escape(label)}</div>")
    for bar in legend.colorbars:
        parts.append(
            f'<div class="cb">{html_lib.escape(bar.title)}<div class="bar" style="background:'
            f'{css_gradient(bar.cmap)}"></div><div class="ends"><span>{html_lib.escape(bar.low)}</span>'
            f"<span>{html_lib.escape(bar.high)}</span></div></div>")
    return "".join(parts)


def _base_map(georef: Georef, shape: tuple[int, int], height: int, basemap: bool) -> tuple[
        leafmap.Map, bool, list[list[float]]]:
    west, south, east, north = lonlat_bounds(georef, shape)
    m = leafmap.Map(center=[(south + north) / 2, (west + east) / 2], zoom=10, height=height,
                    tiles=None, draw_control=False, measure_control=False, fullscreen_control=False,
                    locate_control=False, search_control=False, minimap_control=False,
                    latlon_control=False, scale_control=True, layers_control=True,
                    zoom_snap=0.1, zoom_delta=0.5)
    assets = leaflet_assets()
    if assets is not None:
        js, css = assets
        m.default_js, m.default_css = [], []
        header = m.get_root().header
        header.add_child(Element(f"<script>{js}</script>"), name="leaflet_js_inline", index=0)
        header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css_inline", index=1)
    else:
        m.default_js = [item for item in folium.Map.default_js if item[0] == "leaflet"]
        m.default_css = [item for item in folium.Map.default_css if item[0] == "leaflet_css"]
    m.get_root().header.add_child(Element(_CSS), name="ocm_css")
    if basemap:
        m.add_basemap("OpenStreetMap")
    return m, assets is not None, [[south, west], [north, east]]


def _overlay(layer: Layer, georef: Georef, pane: str | None = None) -> folium.raster_layers.ImageOverlay:
    url, (w, s, e, n) = warped_url(layer.rgba, georef.bounds, georef.crs, layer.smooth)
    extra: dict[str, Any] = {"pane": pane} if pane else {}
    return folium.raster_layers.ImageOverlay(url, bounds=[[s, w], [n, e]], name=layer.name,
                                             opacity=layer.opacity, show=layer.show,
                                             pixelated=not layer.smooth, interactive=False, **extra)


_FOLIUM_ID = re.compile(r"\b([a-z][a-z_]*?)_([0-9a-f]{32})(?![0-9a-f])")


def stable_html(html: str) -> str:
    """Replace folium's random element ids by sequential ones.

    The same map then renders to the same HTML on every Streamlit rerun, so the browser keeps
    the iframe (and its zoom, position and layers) instead of reloading it.
    """
    ids: dict[str, str] = {}

    def sub(match: re.Match[str]) -> str:
        return ids.setdefault(match.group(0), f"{match.group(1)}_ocm{len(ids)}")

    return _FOLIUM_ID.sub(sub, html)


def box_lonlat(georef: Georef, shape: tuple[int, int], box: Box) -> list[list[float]]:
    """A box's corners in degrees ``[[south, west], [north, east]]``."""
    if georef.crs is None:
        left, bottom, right, top = _no_crs_bounds(georef, shape, degrees=False)
        crs = WEB_MERCATOR
    else:
        left, bottom, right, top = georef.bounds
        crs = georef.crs
    x0, x1 = left + box.cols[0] * (right - left), left + box.cols[1] * (right - left)
    y0, y1 = top - box.rows[1] * (top - bottom), top - box.rows[0] * (top - bottom)
    west, south, east, north = to_lonlat((x0, y0, x1, y1), crs)
    return [[south, west], [north, east]]


def scene_map(layers: list[Layer], georef: Georef, *, legend: Legend | None = None,
              basemap: bool = False, height: int = 560, state_key: str = "",
              boxes: tuple[Box, ...] = ()) -> MapHtml:
    """A map of image overlays with a layer control and a legend, opened fitted to the scene.

    Opacity of the ``adjustable`` layers is a slider inside the map, and the view, the visible
    layers and the opacity are kept per ``state_key`` in the browser tab: a Streamlit rerun that
    rebuilds the map reopens it where the user left it, and changing them needs no rerun.

    Args:
        layers: Overlays, bottom first; all cover the scene's bounds.
        georef: The scene's bounds and CRS.
        legend: What the legend shows; none when ``None``.
        basemap: Add an OpenStreetMap basemap (needs internet; failures are shown on the map).
        height: Map height in CSS pixels.
        state_key: Identifies the map and scene whose view is remembered (e.g. ``run:<scene>``).
        boxes: Outlined rectangles drawn above the overlays (e.g. hotspots), with tooltips.
    """
    shape = layers[0].rgba.shape[:2] if layers else (1, 1)
    m, offline, bounds = _base_map(georef, shape, height, basemap)
    named = []
    for layer in layers:
        overlay = _overlay(layer, georef)
        overlay.add_to(m)
        named.append((layer.name, overlay.get_name()))
    if boxes:
        group = folium.FeatureGroup(name="Hotspots", show=True)
        for box in boxes:
            folium.Rectangle(box_lonlat(georef, shape, box), color=box.colour, weight=2, fill=False,
                             tooltip=box.label).add_to(group)
            folium.Marker(box_lonlat(georef, shape, box)[1], icon=folium.DivIcon(
                html=f'<div class="ocm-box-label">{html_lib.escape(box.label)}</div>')).add_to(group)
        group.add_to(m)
        named.append(("Hotspots", group.get_name()))
    if legend is not None:
        _Legend(legend_html(legend)).add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    adjustable = [layer.name for layer in layers if layer.adjustable]
    opacity = next((layer.opacity for layer in layers if layer.adjustable), 1.0)
    _View(bounds, state_key, named, adjustable, opacity).add_to(m)
    return MapHtml(stable_html(m.get_root().render()), offline, [layer.name for layer in layers])


def swipe_map(left: Layer, right: Layer, georef: Georef, *, legend: Legend | None = None,
              basemap: bool = False, height: int = 560, state_key: str = "") -> MapHtml:
    """A split view opened fitted to the scene: drag the slider to reveal ``right`` over ``left``."""
    m, offline, bounds = _base_map(georef, left.rgba.shape[:2], height, basemap)
    folium.map.CustomPane("ocmSwipeLeft", z_index=410).add_to(m)
    folium.map.CustomPane("ocmSwipeRight", z_index=420).add_to(m)
    _overlay(left, georef, "ocmSwipeLeft").add_to(m)
    _overlay(right, georef, "ocmSwipeRight").add_to(m)
    _Swipe("ocmSwipeRight", left.name, right.name).add_to(m)
    if legend is not None:
        _Legend(legend_html(legend)).add_to(m)
    _View(bounds, state_key, [], [], 1.0).add_to(m)
    return MapHtml(stable_html(m.get_root().render()), offline, [left.name, right.name])


def show_map(rendered: MapHtml, height: int = 560) -> None:
    """Display a rendered map in the page (an iframe of the app's own HTML)."""
    if not rendered.offline:
        st.warning("Leaflet is not installed locally (run `npm ci` in the project folder), so this "
                   "map loads it from a CDN and needs internet access.", icon=":material/wifi_off:")
    st.iframe(rendered.html, height=height + 12)


def georef_of(transform: Affine, shape: tuple[int, int], crs: CRS | None) -> Georef:
    """Georef of a grid from its affine transform and ``(height, width)`` (the engine's CRS kept as is)."""
    return Georef(grid_bounds(transform, shape), crs)
