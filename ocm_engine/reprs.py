"""Short text and HTML summaries of :class:`~ocm_engine.io.scene.Scene` and :class:`~ocm_engine.inference.Prediction`.

A notebook or a REPL shows these instead of raw arrays (like xarray's own HTML repr): size,
CRS, resolution, bands and their mapping, class percentages and the model. Plain functions
on duck-typed objects, so :mod:`ocm_engine.io.scene` and :mod:`ocm_engine.inference` only call
them (no import cycle); no Streamlit, no third-party HTML.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any, Protocol

from ocm_engine.constants import CLASS_COLOURS, CLASS_NAMES


class _HasBands(Protocol):
    role: str
    file: str
    band: int
    name: str


def crs_text(crs: Any) -> str:
    """``"EPSG:32633"``, a short WKT name, or ``"no CRS"``."""
    if crs is None:
        return "no CRS"
    to_epsg = getattr(crs, "to_epsg", None)
    epsg = to_epsg() if callable(to_epsg) else None
    if epsg:
        return f"EPSG:{epsg}"
    text = str(crs)
    return text if len(text) <= 40 else text[:37] + "..."


def resolution_text(resolution_m: float, source_m: float = math.nan) -> str:
    """``"20 m"``, ``"20 m (source 10 m)"`` or ``"unknown resolution"``."""
    if not math.isfinite(resolution_m):
        return "unknown resolution"
    if math.isfinite(source_m) and abs(source_m - resolution_m) > 1e-6:
        return f"{resolution_m:g} m (source {source_m:g} m)"
    return f"{resolution_m:g} m"


def bands_text(bands: Sequence[_HasBands]) -> str:
    """``"Red=B04 (band 3), Green=..."``: each role, its product name and 1-based band or file."""
    parts = []
    for b in bands:
        role = "NIR" if b.role == "nir" else b.role.title()
        where = f"band {b.band}" if b.band else ""
        file = b.file.rsplit("/", 1)[-1] if b.file else ""
        detail = ", ".join(x for x in (where, file) if x)
        parts.append(f"{role}={b.name or '?'}" + (f" ({detail})" if detail else ""))
    return "; ".join(parts) or "bands unknown"


def _percent_text(percentages: dict[str, float]) -> str:
    return ", ".join(f"{name.replace('_', ' ')} {percentages.get(name, 0.0):.1f} %" for name in CLASS_NAMES)


def scene_repr(scene: Any) -> str:
    """One line per fact of a :class:`Scene` (no pixel values)."""
    height, width = scene.shape
    valid = int(scene.valid.sum())
    total = max(height * width, 1)
    lines = [f"<Scene {scene.name or '(unnamed)'}: {width} x {height} px, {crs_text(scene.crs)}, "
             f"{resolution_text(scene.resolution_m, scene.source_resolution_m)}>",
             f"  sensor: {scene.sensor or 'none (mapped by hand or guessed)'}",
             f"  bands: {bands_text(scene.bands)}",
             f"  valid: {100.0 * valid / total:.1f} % of pixels, nodata={scene.nodata!r}, "
             f"data {scene.data.dtype} {tuple(scene.data.shape)} (Red, Green, NIR)"]
    if scene.warnings:
        lines.append(f"  warnings: {len(scene.warnings)} ({'; '.join(type(w).__name__ for w in scene.warnings)})")
    return "\n".join(lines)


def prediction_repr(pred: Any) -> str:
    """One line per fact of a :class:`Prediction` (no pixel values)."""
    height, width = pred.shape
    prov = pred.provenance
    res = resolution_text(prov.resolution_m, prov.source_resolution_m) if prov is not None else "bare array"
    lines = [f"<Prediction: {width} x {height} px, {crs_text(pred.crs)}, {res}>",
             f"  classes: {_percent_text(pred.class_percentages)} (of valid pixels); "
             f"cloud {pred.cloud_percent:.1f} %, nodata {pred.nodata_percent:.1f} %",
             f"  model: {pred.model or 'unknown'}"]
    if prov is not None and prov.bands:
        lines.append(f"  bands: {bands_text(prov.bands)}")
    if pred.probabilities is not None:
        lines.append(f"  probabilities: {tuple(pred.probabilities.shape)} float32")
    if pred.warnings:
        lines.append(f"  warnings: {len(pred.warnings)} ({'; '.join(type(w).__name__ for w in pred.warnings)})")
    return "\n".join(lines)


_STYLE = ("font: 12px/1.4 system-ui, sans-serif; border-collapse: collapse; margin: 2px 0; "
          "text-align: left;")


def _table(title: str, rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th style='padding:1px 10px 1px 0;font-weight:600'>{html.escape(k)}</th>"
                   f"<td style='padding:1px 0'>{v}</td></tr>" for k, v in rows)
    return (f"<div class='ocm-repr'><table style='{_STYLE}'><caption style='text-align:left;"
            f"font-weight:700;padding-bottom:2px'>{html.escape(title)}</caption>{body}</table></div>")


def _class_bar(percentages: dict[str, float]) -> str:
    """A stacked bar of class shares in the class colours, with a text legend."""
    cells, legend = [], []
    for name, colour in zip(CLASS_NAMES, CLASS_COLOURS, strict=True):
        share = percentages.get(name, 0.0)
        css = f"rgb({colour[0]},{colour[1]},{colour[2]})"
        if share > 0:
            cells.append(f"<span title='{name} {share:.1f} %' style='display:inline-block;height:10px;"
                         f"width:{share * 2:.1f}px;background:{css}'></span>")
        legend.append(f"<span style='display:inline-block;width:9px;height:9px;background:{css};"
                      f"border:1px solid #777;margin:0 3px 0 8px'></span>{html.escape(name.replace('_', ' '))} "
                      f"{share:.1f} %")
    return (f"<div style='width:200px;border:1px solid #777;line-height:0'>{''.join(cells)}</div>"
            f"<div>{''.join(legend)}</div>")


def scene_html(scene: Any) -> str:
    """The :func:`scene_repr` facts as a small HTML table (for notebooks)."""
    height, width = scene.shape
    valid = int(scene.valid.sum())
    rows = [("size", f"{width} x {height} px"), ("CRS", html.escape(crs_text(scene.crs))),
            ("resolution", html.escape(resolution_text(scene.resolution_m, scene.source_resolution_m))),
            ("sensor", html.escape(scene.sensor or "none (mapped by hand or guessed)")),
            ("bands", html.escape(bands_text(scene.bands))),
            ("valid", f"{100.0 * valid / max(height * width, 1):.1f} % (nodata={html.escape(repr(scene.nodata))})"),
            ("data", f"{scene.data.dtype} {tuple(scene.data.shape)} Red, Green, NIR")]
    if scene.warnings:
        rows.append(("warnings", "<br>".join(html.escape(str(w)) for w in scene.warnings)))
    return _table(f"Scene {scene.name or '(unnamed)'}", rows)


def prediction_html(pred: Any) -> str:
    """The :func:`prediction_repr` facts as a small HTML table with a class bar (for notebooks)."""
    height, width = pred.shape
    prov = pred.provenance
    rows = [("size", f"{width} x {height} px"), ("CRS", html.escape(crs_text(pred.crs))),
            ("resolution", html.escape(resolution_text(prov.resolution_m, prov.source_resolution_m))
             if prov is not None else "bare array"),
            ("classes", _class_bar(pred.class_percentages)),
            ("cloud", f"{pred.cloud_percent:.1f} % of valid pixels; nodata {pred.nodata_percent:.1f} %"),
            ("model", html.escape(pred.model or "unknown"))]
    if prov is not None and prov.bands:
        rows.append(("bands", html.escape(bands_text(prov.bands))))
    if pred.warnings:
        rows.append(("warnings", "<br>".join(html.escape(str(w)) for w in pred.warnings)))
    return _table("Prediction", rows)
