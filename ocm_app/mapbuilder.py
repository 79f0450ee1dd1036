"""The map builder (leafmap, folium backend), Streamlit-free: the app and notebooks share it.

``ocm_app.maps`` is the Streamlit glue (cached warps, ``show_map``); notebooks call
:func:`show` on a prediction Dataset (or a :class:`~ocm_engine.Prediction`) and get a map that
renders in JupyterLab.

Leaflet's JavaScript and CSS come from the app itself: they are installed from npm
(``npm ci``: ``node_modules/leaflet/dist``) and inlined into each map's HTML, with the
CSS images turned into data URLs, so the map needs no CDN and no static route (it works
under any ``server.baseUrlPath`` and in an air-gapped network). Raster layers are the
app's own RGBA renderings, warped to Web Mercator and added as image overlays, so no
tile server is needed; a basemap is optional (it is the only thing fetched online).

The split (swipe) view, the legend, the remembered view and the scale bar are small Leaflet
controls written here; their JavaScript (Jinja templates) and CSS are files in ``ocm_app/static/``.
"""

from __future__ import annotations

import base64
import functools
import html as html_lib
import json
import math
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import folium
import leafmap.foliumap as leafmap
import numpy as np
from branca.element import Element, MacroElement
from jinja2 import Template

from ocm_app import config
from ocm_app.render import RGBA, class_css_colours, css_gradient, data_url
from ocm_engine import CLASS_LABELS, Scene
from ocm_engine.display import composite_rgba, subsample_step
from ocm_engine.errors import Hints, InvalidImageError
from ocm_engine.geo import WEB_MERCATOR, grid_bounds, to_lonlat, warp_to_web_mercator
from ocm_engine.types import CRS, Affine

LEAFLET_DIST = config.NODE_MODULES / "leaflet" / "dist"
#: The map's own JavaScript (Jinja templates of Leaflet controls) and CSS, shipped with the package.
STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Placement of scenes without a CRS: a local metric grid at 0 deg N, 0 deg E (not real).
_NO_CRS_ORIGIN = (0.0, 0.0)
#: The swipe bar's bottom edge, in CSS pixels from the map's top (the fitted view starts below it).
SWIPE_BAR_PX = 46


@dataclass(frozen=True, slots=True)
class Georef:
    """Where a scene lies: bounds ``(left, bottom, right, top)`` in ``crs`` (``None``: unknown).

    Attributes:
        bounds: The grid's bounds in ``crs`` (in pixels or unknown units without a CRS).
        crs: The grid's CRS, or ``None`` when the file has none.
        pixel_size_m: Ground size of one pixel of the drawn grid in metres, used only without a
            CRS (a CRS gives the real size): the local grid is then laid out at this size and the
            scale bar is metric. ``None`` without a CRS: the grid is drawn 1 unit per pixel and the
            scale bar counts pixels, since no metric length would be true.
    """

    bounds: tuple[float, float, float, float]
    crs: CRS | str | None
    pixel_size_m: float | None = None

    @property
    def scale_unit(self) -> str:
        """``"m"`` when the drawn grid has true ground distances, ``"px"`` when only pixels are known."""
        return "m" if self.crs is not None or self.pixel_size_m is not None else "px"


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
    """The local grid of a scene without a CRS, in Web Mercator metres (or degrees).

    Without a CRS the transform's units are the file's pixels (GDAL's identity transform) or
    unknown; one unit is drawn as ``georef.pixel_size_m`` metres, or as 1 "metre" when that is
    unknown (the scale bar then counts pixels). ``shape`` is the fallback when the bounds are
    not usable. Web Mercator at the equator is true to scale (to 0.1 %, the sphere Leaflet
    measures on), so the scale bar reads ground metres.
    """
    left, bottom, right, top = georef.bounds
    width, height = right - left, abs(top - bottom)
    if not (math.isfinite(width) and width > 0 and math.isfinite(height) and height > 0):
        width, height = float(shape[1]), float(shape[0])
    size = georef.pixel_size_m if georef.pixel_size_m is not None else 1.0
    x0, y0 = _NO_CRS_ORIGIN
    merc = (x0, y0, x0 + width * size, y0 + height * size)
    return to_lonlat(merc, WEB_MERCATOR) if degrees else merc


def warped_url(rgba: RGBA, bounds: tuple[float, float, float, float], crs: CRS | str | None,
               smooth: bool, pixel_size_m: float | None = None) -> tuple[str, tuple[float, float, float, float]]:
    """Warp an RGBA image covering ``bounds`` in ``crs`` to Web Mercator.

    Returns:
        A PNG data URL and its bounds in degrees ``(west, south, east, north)``.
    """
    height, width = rgba.shape[:2]
    if crs is None:
        merc = _no_crs_bounds(Georef(bounds, None, pixel_size_m), (height, width), degrees=False)
        return data_url(rgba), to_lonlat(merc, WEB_MERCATOR)
    dst, lonlat = warp_to_web_mercator(np.moveaxis(rgba, -1, 0), bounds, crs, smooth)
    return data_url(np.moveaxis(dst, 0, -1).copy()), lonlat


WarpFn = Callable[[RGBA, tuple[float, float, float, float], "CRS | str | None", bool, "float | None"],
                  tuple[str, tuple[float, float, float, float]]]
#: The warp used by overlays; the Streamlit glue (:mod:`ocm_app.maps`) installs a cached one.
_WARP: list[WarpFn] = [warped_url]


def use_warp(warp: WarpFn) -> None:
    """Use ``warp`` (e.g. a cached :func:`warped_url`) for every overlay drawn from now on."""
    _WARP[0] = warp


def _static_text(name: str) -> str:
    """A file of ``ocm_app/static/`` (read once, at import)."""
    return (STATIC_DIR / name).read_text(encoding="utf-8")


def _script_template(name: str) -> Template:
    """A static JavaScript file as the ``script`` macro folium renders for a map element."""
    template: Template = Template("{% macro script(this, kwargs) %}\n" + _static_text(name) + "{% endmacro %}\n")
    return template


_LEGEND_JS = _script_template("legend.js")
_SWIPE_JS = _script_template("swipe.js")
_VIEW_JS = _script_template("view.js")
_SCALE_JS = _script_template("scale.js")
_CSS = "<style>\n" + string.Template(_static_text("map.css")).substitute(
    swipe_height_px=SWIPE_BAR_PX - 10) + "</style>\n"


class _Legend(MacroElement):
    _template = _LEGEND_JS

    def __init__(self, inner_html: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "OcmLegend"
        self.inner_html = json.dumps(inner_html)


class _View(MacroElement):
    _template = _VIEW_JS

    def __init__(self, bounds: list[list[float]], state_key: str, layers: list[tuple[str, str]],
                 adjustable: list[str], opacity: float, top_px: int = 6) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "OcmView"
        self.bounds, self.state_key, self.layers = bounds, state_key, layers
        self.adjustable, self.opacity, self.top_px = adjustable, opacity, top_px


class _Scale(MacroElement):
    _template = _SCALE_JS

    def __init__(self, unit: str, note: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._name = "OcmScale"
        self.unit, self.note = unit, note


def scale_note(georef: Georef) -> str:
    """What the map's scale bar measures (its tooltip), from the scene's georeferencing."""
    if georef.crs is not None:
        return "Scale from the scene's CRS."
    if georef.pixel_size_m is not None:
        return (f"No CRS: drawn on a local grid at {georef.pixel_size_m:g} m per pixel (the scene's "
                "known pixel size), so distances are true but the place on Earth is not.")
    return ("No CRS and no known pixel size: the scale bar counts the scene's pixels, since any "
            "length in metres would be invented.")


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
                    latlon_control=False, scale_control=False, layers_control=True,
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
    _Scale(georef.scale_unit, scale_note(georef)).add_to(m)
    if basemap:
        m.add_basemap("OpenStreetMap")
    return m, assets is not None, [[south, west], [north, east]]


def _overlay(layer: Layer, georef: Georef, pane: str | None = None) -> folium.raster_layers.ImageOverlay:
    url, (w, s, e, n) = _WARP[0](layer.rgba, georef.bounds, georef.crs, layer.smooth, georef.pixel_size_m)
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
    # The scene opens below the swipe bar (which sits over the map's top edge), not under it.
    _View(bounds, state_key, [], [], 1.0, top_px=SWIPE_BAR_PX + 8).add_to(m)
    return MapHtml(stable_html(m.get_root().render()), offline, [left.name, right.name])


def georef_of(transform: Affine, shape: tuple[int, int], crs: CRS | None,
              pixel_size_m: float | None = None) -> Georef:
    """Georef of a grid from its affine transform and ``(height, width)`` (the engine's CRS kept as is).

    Args:
        transform: The grid's affine transform.
        shape: ``(height, width)`` of the grid.
        crs: The grid's CRS, or ``None``.
        pixel_size_m: Without a CRS, the ground size of one transform unit (one pixel of the
            identity transform) when known from metadata (see :class:`Georef`); ignored with a
            CRS, and dropped when not a positive finite number.
    """
    size = pixel_size_m if crs is None and pixel_size_m is not None and math.isfinite(pixel_size_m) \
        and pixel_size_m > 0 else None
    return Georef(grid_bounds(transform, shape), crs, size)


# ---------------------------------------------------------------------------------------------
# Notebooks: one call on a prediction
# ---------------------------------------------------------------------------------------------

#: Longest side of the images a notebook map draws (pixels); bigger grids are subsampled.
NOTEBOOK_MAX_PX = 1024
CDN_NOTICE = ("Leaflet is not installed locally (run `npm ci` in the project folder), so this map "
              "loads it from a CDN and needs internet access.")


@dataclass(slots=True)
class NotebookMap:
    """Maps for a notebook cell: renders in JupyterLab (``_repr_html_``), saves as HTML.

    Attributes:
        maps: The layered map, then (when asked) the swipe map.
        height: Height of each map in CSS pixels.
    """

    maps: list[MapHtml]
    height: int = 480

    @property
    def offline(self) -> bool:
        """Whether Leaflet was inlined from ``node_modules`` (else it comes from a CDN)."""
        return all(m.offline for m in self.maps)

    def _repr_html_(self) -> str:
        parts = []
        if not self.offline:
            parts.append(f'<div style="background:#fff4ce;border:1px solid #d8b600;padding:6px 10px;'
                         f'margin:4px 0;font:13px system-ui">{html_lib.escape(CDN_NOTICE)}</div>')
        for rendered in self.maps:
            parts.append(f'<iframe srcdoc="{html_lib.escape(rendered.html, quote=True)}" '
                         f'style="width:100%;height:{self.height + 12}px;border:none;margin-bottom:6px"></iframe>')
        return "".join(parts)

    def save(self, path: str | Any) -> Any:
        """Write one standalone HTML page with every map (e.g. to share or screenshot)."""
        from pathlib import Path

        target = Path(path)
        body = self._repr_html_()
        target.write_text(f"<!doctype html><html><head><meta charset='utf-8'></head><body>{body}</body></html>",
                          encoding="utf-8")
        return target


_Picture = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]


def _picture_from_scene(scene: Scene, rows: slice, cols: slice) -> _Picture:
    """Red, Green, NIR, the valid mask and Blue (or ``None``) of a :class:`~ocm_engine.Scene`, subsampled."""
    blue = None if scene.blue is None else scene.blue[rows, cols]
    return scene.data[:, rows, cols], scene.valid[rows, cols], blue


def _picture_from_xarray(image: Any, shape: tuple[int, int], rows: slice, cols: slice,
                         sensor: str | None, bands: Any) -> _Picture:
    """Red, Green, NIR (Red again when absent), the valid mask and Blue (or ``None``) of a DataArray/Dataset."""
    from ocm_engine.sensors import get_sensor
    from ocm_engine.xarray_io import _nodata, _spatial_dims, _stack, resolve_bands

    stack, labels = _stack(image, "band")
    y_dim, x_dim = _spatial_dims(stack)
    if (stack.sizes[y_dim], stack.sizes[x_dim]) != shape:
        raise InvalidImageError("Image size (rows, columns)", arrived=(stack.sizes[y_dim], stack.sizes[x_dim]),
                                expected=f"the prediction's {shape}",
                                hints=Hints.same("Pass the image the prediction was made from."))
    others = [d for d in stack.dims if d not in ("band", y_dim, x_dim)]
    if others:
        stack = stack.isel({others[0]: 0})
    preset = get_sensor(sensor) if sensor else None
    red, green, nir, blue = resolve_bands(labels, sensor=preset, bands=bands)
    order = [red, green, nir if nir is not None else red, blue if blue is not None else green]
    picked = stack.isel({"band": order, y_dim: rows, x_dim: cols}).transpose("band", y_dim, x_dim)
    data = np.asarray(picked.values, dtype=np.float32)
    nodata = _nodata(stack, None, preset)
    valid = np.asarray(np.isfinite(data).all(axis=0), dtype=bool)
    if nodata is not None:
        valid &= ~(data == nodata).all(axis=0)
    return data[:3], valid, data[3] if blue is not None else None


def show(result: Any, image: Any = None, *, probabilities: bool = True, swipe: bool = True,
         height: int = 480, basemap: bool = False, sensor: str | None = None, bands: Any = None,
         max_px: int = NOTEBOOK_MAX_PX) -> NotebookMap:
    """The app's map of a prediction, for a notebook: true colour, classes, probabilities, swipe.

    One layered map (true colour, the class mask with an opacity slider, one layer per class
    probability, a legend and a scale bar) and, with ``swipe``, a split view of the image and
    the mask. Leaflet comes from ``node_modules`` (``npm ci``) when installed; otherwise the map
    loads it from a CDN and says so above the map.

    Args:
        result: The Dataset :func:`ocm_engine.xarray_io.predict_dataarray` returned (one time
            step), or a :class:`~ocm_engine.Prediction`.
        image: The input the prediction was made from (DataArray/Dataset, or a
            :class:`~ocm_engine.Scene` for a ``Prediction``), for the true-colour layer.
        probabilities: Add the per-class probability layers (when the result has them).
        swipe: Add the split view below the layered map.
        height: Map height in CSS pixels.
        basemap: Add an OpenStreetMap basemap (needs internet).
        sensor: Sensor preset used to find the image's bands (as for the prediction).
        bands: Red, Green, NIR[, Blue] of the image (as for the prediction).
        max_px: Longest side of the drawn images.

    Returns:
        A :class:`NotebookMap` (shows itself when it is a cell's last value).
    """
    from ocm_app.render import PROBABILITY_CMAP, class_rgba, ramp_rgba

    classes, valid, probs, transform, crs = _prediction_arrays(result)
    shape = (int(classes.shape[0]), int(classes.shape[1]))
    rows = cols = slice(None, None, subsample_step(shape, max_px))
    small_classes, small_valid = classes[rows, cols], valid[rows, cols]
    picture = None
    if image is not None:
        picture = (_picture_from_scene(image, rows, cols) if isinstance(image, Scene)
                   else _picture_from_xarray(image, shape, rows, cols, sensor, bands))
    georef = georef_of(transform, shape, crs)
    layers: list[Layer] = []
    true_colour = Layer("True colour", composite_rgba(*picture, "true"), smooth=True) if picture is not None else None
    if true_colour is not None and picture is not None:
        layers.append(true_colour)
        layers.append(Layer("False colour (NIR, Red, Green)", composite_rgba(*picture, "false"), show=False,
                            smooth=True))
    layers.append(Layer("Class mask", class_rgba(small_classes, small_valid, clear_transparent=true_colour is not None),
                        opacity=0.6 if true_colour is not None else 1.0, adjustable=True))
    if probabilities and probs is not None:
        for i, label in enumerate(CLASS_LABELS):
            layers.append(Layer(f"P({label.lower()})", ramp_rgba(probs[i][rows, cols], small_valid), show=False,
                                opacity=0.8))
    legend = Legend(title="Classes", colorbars=(Colorbar("Probability layers P(...)", PROBABILITY_CMAP),)
                    if probabilities and probs is not None else ())
    maps = [scene_map(layers, georef, legend=legend, basemap=basemap, height=height)]
    if swipe and true_colour is not None:
        opaque = Layer("Class mask", class_rgba(small_classes, small_valid), opacity=1.0)
        maps.append(swipe_map(true_colour, opaque, georef, legend=Legend(title="Classes"), basemap=basemap,
                              height=height))
    return NotebookMap(maps, height)


def _prediction_arrays(result: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, Affine, CRS | None]:
    """Classes, valid mask, probabilities (or None), transform and CRS of a Dataset or Prediction."""
    if hasattr(result, "data_vars"):
        if "classes" not in result.data_vars:
            raise InvalidImageError("Prediction", arrived=f"a Dataset with {list(result.data_vars)}",
                                    expected="the Dataset predict_dataarray returns (a 'classes' variable)")
        if result["classes"].ndim != 2:
            raise InvalidImageError("Prediction dimensions", arrived=tuple(result["classes"].dims),
                                    expected="(y, x)",
                                    hints=Hints.same("Select one step first, e.g. "
                                                     "show(ds.isel(time=0), image.isel(time=0))."))
        raw = np.asarray(result["classes"].values)
        valid = raw != 255
        probs = None
        if "probabilities" in result.data_vars:
            dims = result["classes"].dims
            probs = np.asarray(result["probabilities"].transpose("class", *dims).values, dtype=np.float32)
        return np.where(valid, raw, 0).astype(np.uint8), valid, probs, result.rio.transform(recalc=True), \
            result.rio.crs
    return result.classes, result.valid, result.probabilities, result.transform, result.crs
