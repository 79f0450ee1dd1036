"""Batch QA rows: one scene -> cloud and shadow statistics, a thumbnail and any error."""

from __future__ import annotations

import csv
import hashlib
import io
import math
from pathlib import Path
from typing import Any

import streamlit as st

from ocm_app import config, render, scenes
from ocm_app.runs import RunOptions, run_scene
from ocm_engine import Ensemble
from ocm_engine.errors import OcmError, SceneReadError

COLUMNS: dict[str, Any] = {
    "scene": st.column_config.TextColumn(width="medium"),
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
ORDER = ("scene", "thumbnail", "cloud %", "shadow %", "thick %", "thin %", "clear %", "nodata %",
         "resolution m", "size px", "seconds")

CSV_FIELDS = ("scene", "sensor", "resolution m", "width", "height", "cloud %", "thick %", "thin %",
              "shadow %", "clear %", "nodata %", "seconds", "error")


def upload_specs(files: list[Any], folder: Path, sensor: str | None) -> list[scenes.SceneSpec]:
    """One spec per uploaded file, saved under the session's folder by digest (never by user name).

    Raises:
        SceneReadError: A file over the upload limit.
    """
    specs = []
    for upload in files:
        data = upload.getvalue()
        if len(data) > config.MAX_UPLOAD_MB * 1024 * 1024:
            raise SceneReadError(f"{upload.name} is over the {config.MAX_UPLOAD_MB} MB upload limit.")
        digest = hashlib.sha256(data).hexdigest()[:20]
        path = folder / f"batch_{digest}{scenes.safe_suffix(upload.name)}"
        if not path.exists():
            path.write_bytes(data)
        specs.append(scenes.upload_spec(f"upload:{digest}", [(str(upload.name), path)], sensor))
    return specs


def qa_row(spec: scenes.SceneSpec, options: RunOptions, ensemble: Ensemble) -> dict[str, Any]:
    """Mask one scene; a table row (errors are reported in the row, never raised)."""
    row: dict[str, Any] = {"scene": spec.label, "sensor": spec.sensor or "guessed", "thumbnail": None,
                           "error": ""}
    try:
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
