"""Batch QA rows: one scene -> cloud and shadow statistics, a thumbnail and any error."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import streamlit as st

from ocm_app import config, render, run_queue, scenes, uploads
from ocm_app.runs import RunOptions, run_scene
from ocm_engine import Ensemble
from ocm_engine.errors import OcmError

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


def upload_specs(files: list[Any], folder: Path,
                 sensor: str | None) -> tuple[list[scenes.SceneSpec], list[dict[str, Any]]]:
    """One spec per uploaded file, saved under the session's folder by digest (never by user name).

    A file the upload checks refuse (over the limit, not a raster) does not stop the others: it
    comes back as a failed table row (``scene``, ``error``), listed with the scenes that fail to run.

    Returns:
        The specs of the accepted files and the rows of the refused ones.
    """
    specs: list[scenes.SceneSpec] = []
    refused: list[dict[str, Any]] = []
    for upload in files:
        try:
            path = uploads.save_upload(str(upload.name), upload.getvalue(), folder, prefix="batch")
        except OcmError as err:
            refused.append({"scene": str(upload.name), "sensor": sensor or "guessed", "thumbnail": None,
                            "training": "no", "bands": "", "error": str(err)})
            continue
        digest = path.stem.removeprefix("batch_")
        specs.append(scenes.upload_spec(f"upload:{digest}", [(str(upload.name), path)], sensor))
    return specs, refused


def qa_row(spec: scenes.SceneSpec, options: RunOptions, ensemble: Ensemble,
           trained: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """Mask one scene; a table row (errors are reported in the row, never raised).

    Args:
        spec: The scene.
        options: Inference settings.
        ensemble: The model.
        trained: Tells from ``spec.dataset`` whether the model was trained on the scene (the
            ``training`` column); every scene counts as unseen when ``None``.
    """
    row: dict[str, Any] = {"scene": spec.label, "sensor": spec.sensor or "guessed", "thumbnail": None,
                           "error": "", "training": "yes" if trained is not None and trained(spec.dataset) else "no",
                           "bands": mapping_text(spec)}
    try:
        with run_queue.gate().slot():  # one slot of the server's run limit per scene
            result = run_scene(spec, options, ensemble, return_probabilities=False)
    except OcmError as err:
        row["error"] = scenes.describe_error(err, spec)
        return row
    pred = result.prediction
    pct = pred.class_percentages
    display = scenes.read_display(spec, config.THUMBNAIL_PX)
    image = render.composite(display, (0, 1, 2))
    mask = render.thumbnail(render.class_rgba(pred.classes, pred.valid), config.THUMBNAIL_PX)
    mask = render.resize_to(mask.transpose(2, 0, 1), image.shape[:2]).transpose(1, 2, 0).copy()
    row.update({
        "thumbnail": render.data_url(render.side_by_side(image, mask)),
        "resolution m": round(result.resolution_m, 2) if math.isfinite(result.resolution_m) else None,
        "width": result.shape[1], "height": result.shape[0], "size px": f"{result.shape[1]} x {result.shape[0]}",
        "cloud %": pred.cloud_percent, "thick %": pct["thick_cloud"], "thin %": pct["thin_cloud"],
        "shadow %": pct["cloud_shadow"], "clear %": pct["clear"], "nodata %": pred.nodata_percent,
        "seconds": round(result.seconds, 2),
    })
    return row


def mapping_text(spec: scenes.SceneSpec) -> str:
    """The band mapping the engine reads for a scene, in words (``"(guessed)"`` when it is a guess)."""
    try:
        layout = scenes.scene_layout(spec)
    except OcmError as err:
        return f"unreadable: {type(err).__name__}"
    text = layout.mapping_text or "unknown"
    return text if not layout.guessed or "guess" in text else f"{text} (guessed)"


def split_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of scenes that ran, and ``{scene, error}`` rows of those that failed."""
    done = [{k: r.get(k) for k in ORDER} for r in rows if not r["error"]]
    failed = [{"scene": r["scene"], "error": r["error"]} for r in rows if r["error"]]
    return done, failed


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    """The table as CSV (without thumbnails)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(CSV_FIELDS), extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue().encode()
