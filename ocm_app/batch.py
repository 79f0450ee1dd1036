"""Batch QA rows: one scene -> cloud and shadow statistics, a thumbnail and any error.

:func:`qa_row` returns a typed :class:`QaRow`; :func:`table` and :func:`to_csv` render rows
for ``st.dataframe`` and the CSV download (the column names live only there).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from ocm_app import config, render, run_queue, scenes, uploads
from ocm_app.runs import RunOptions, run_prediction
from ocm_engine import Ensemble
from ocm_engine.display import thumbnail
from ocm_engine.errors import OcmError
from ocm_engine.io.scene import SceneLayout

COLUMNS: dict[str, Any] = {
    # sized to the names (never cut off) and pinned, so the scene stays in view when scrolling sideways
    "scene": st.column_config.TextColumn(width=None, pinned=True),
    "training": st.column_config.TextColumn(
        "trained on?", width="small",
        help="Whether the default model was trained on this scene: its masks there are a best case, not a test."),
    "bands": st.column_config.TextColumn("bands used", width="medium",
                                         help="The Red, Green, NIR (and Blue) the engine read; '(guessed)' when "
                                              "the file did not say. Correct a guess on the Run page."),
    "thumbnail": st.column_config.ImageColumn("image | mask", width="small"),
    "cloud %": st.column_config.NumberColumn(format="%.1f", width="small"),
    "thick %": st.column_config.NumberColumn(format="%.1f", width="small"),
    "thin %": st.column_config.NumberColumn(format="%.1f", width="small"),
    "shadow %": st.column_config.NumberColumn(format="%.1f", width="small"),
    "clear %": st.column_config.NumberColumn(format="%.1f", width="small"),
    "nodata %": st.column_config.NumberColumn(format="%.1f", width="small"),
    "resolution m": st.column_config.NumberColumn("m", format="%.3g", width="small"),
    "size px": st.column_config.TextColumn(width="small"),
    "seconds": st.column_config.NumberColumn("s", format="%.1f", width="small"),
}
#: Columns of the table of scenes that ran (failed scenes are listed apart, with their error).
ORDER = ("scene", "training", "thumbnail", "cloud %", "shadow %", "thick %", "thin %", "clear %", "nodata %",
         "bands", "resolution m", "size px", "seconds")

CSV_FIELDS = ("scene", "training", "sensor", "bands", "resolution m", "width", "height", "cloud %", "thick %", "thin %",
              "shadow %", "clear %", "nodata %", "seconds", "error")


@dataclass(frozen=True, slots=True)
class QaRow:
    """One scene of the batch: its statistics, or why it failed (percent of valid pixels).

    Attributes:
        scene: The scene's name.
        sensor: The sensor preset, or ``"guessed"``.
        trained: Whether the default model was trained on the scene.
        bands: The band mapping the engine read, in words (``"(guessed)"`` when a guess).
        error: Why the scene failed, in the app's words (``""`` when it ran).
        thumbnail: A PNG data URL of the image and its mask side by side (``None`` when it failed).
        resolution_m: Inference resolution (``None``: unknown, or the scene failed).
        size_px: ``(width, height)`` of the inference grid (``None`` when it failed).
        cloud: Thick plus thin cloud.
        thick: Thick cloud.
        thin: Thin cloud.
        shadow: Cloud shadow.
        clear: Clear.
        nodata: Nodata share of the whole grid.
        seconds: Wall time of the model run.
    """

    scene: str
    sensor: str
    trained: bool
    bands: str
    error: str = ""
    thumbnail: str | None = None
    resolution_m: float | None = None
    size_px: tuple[int, int] | None = None
    cloud: float | None = None
    thick: float | None = None
    thin: float | None = None
    shadow: float | None = None
    clear: float | None = None
    nodata: float | None = None
    seconds: float | None = None


def upload_specs(files: list[Any], folder: Path, sensor: str | None) -> tuple[list[scenes.SceneSpec], list[QaRow]]:
    """One spec per uploaded file, saved under the session's folder by digest (never by user name).

    A file the upload checks refuse (over the limit, not a raster) does not stop the others: it
    comes back as a failed row, listed with the scenes that fail to run. Files are saved by
    :func:`ocm_app.uploads.save_uploads`, as the scene picker's are.

    Returns:
        The specs of the accepted files and the rows of the refused ones.
    """
    found = uploads.save_uploads(files, folder, prefix="batch")
    specs = [scenes.upload_spec(f"upload:{path.stem.removeprefix('batch_')}", [(name, path)], sensor)
             for name, path in found.saved]
    refused = [QaRow(name, sensor or "guessed", False, "", error=scenes.describe_error(err))
               for name, err in found.refused]
    return specs, refused


def qa_row(spec: scenes.SceneSpec, options: RunOptions, ensemble: Ensemble,
           trained: Callable[[str], bool] | None = None) -> QaRow:
    """Mask one scene; its row (errors are reported in the row, never raised).

    Args:
        spec: The scene.
        options: Inference settings.
        ensemble: The model.
        trained: Tells from ``spec.dataset`` whether the model was trained on the scene; every
            scene counts as unseen when ``None``.
    """
    row = QaRow(spec.label, spec.sensor or "guessed", trained is not None and trained(spec.dataset), "")
    try:  # one opening of the files: the layout, the scene (with Blue) and the thumbnail all come from it
        layout, scene = scenes.read_with_layout(spec, options.resolution_m, blue=True)
        row = dataclasses.replace(row, bands=mapping_text(layout))
        with run_queue.gate().slot():  # one slot of the server's run limit per scene
            result = run_prediction(spec, options, ensemble, scene, None,
                                    options.inference(return_probabilities=False))
    except OcmError as err:
        return dataclasses.replace(row, bands=row.bands or _failed_mapping_text(spec),
                                   error=scenes.describe_error(err, spec))
    pred = result.prediction
    pct = pred.class_percentages
    image = render.true_colour(thumbnail(scene, config.THUMBNAIL_PX))
    mask = render.thumbnail(render.class_rgba(pred.classes, pred.valid), config.THUMBNAIL_PX)
    mask = render.resize_rgba(mask, image.shape[:2])
    return dataclasses.replace(
        row, thumbnail=render.data_url(render.side_by_side(image, mask)),
        resolution_m=round(result.resolution_m, 2) if math.isfinite(result.resolution_m) else None,
        size_px=(result.shape[1], result.shape[0]), cloud=pred.cloud_percent, thick=pct["thick_cloud"],
        thin=pct["thin_cloud"], shadow=pct["cloud_shadow"], clear=pct["clear"], nodata=pred.nodata_percent,
        seconds=round(result.seconds, 2))


def _failed_mapping_text(spec: scenes.SceneSpec) -> str:
    """The mapping column of a scene that could not be read (the headers may still say what it would be)."""
    try:
        return mapping_text(scenes.scene_layout(spec))
    except OcmError as err:
        return f"unreadable: {type(err).__name__}"


def mapping_text(layout: SceneLayout) -> str:
    """The band mapping the engine reads for a scene, in words (``"(guessed)"`` when it is a guess)."""
    text = layout.mapping_text or "unknown"
    return text if not layout.guessed or "guess" in text else f"{text} (guessed)"


def _cells(row: QaRow) -> dict[str, Any]:
    """A row under the table's column names (see :data:`COLUMNS` and :data:`CSV_FIELDS`)."""
    width, height = row.size_px if row.size_px is not None else (None, None)
    return {"scene": row.scene, "training": "yes" if row.trained else "no", "sensor": row.sensor,
            "bands": row.bands, "thumbnail": row.thumbnail, "resolution m": row.resolution_m, "width": width,
            "height": height, "size px": f"{width} x {height}" if row.size_px is not None else None,
            "cloud %": row.cloud, "thick %": row.thick, "thin %": row.thin, "shadow %": row.shadow,
            "clear %": row.clear, "nodata %": row.nodata, "seconds": row.seconds, "error": row.error}


def table(rows: Sequence[QaRow]) -> list[dict[str, Any]]:
    """The scenes that ran, as ``st.dataframe`` rows in :data:`ORDER` (failed scenes are listed apart)."""
    return [{k: cells[k] for k in ORDER} for cells in (_cells(r) for r in rows if not r.error)]


def failed(rows: Sequence[QaRow]) -> list[QaRow]:
    """The rows of scenes that could not be processed (each with its ``error``)."""
    return [r for r in rows if r.error]


def to_csv(rows: Sequence[QaRow]) -> bytes:
    """The table as CSV (without thumbnails)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_FIELDS), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in _cells(row).items()})
    return buf.getvalue().encode()
