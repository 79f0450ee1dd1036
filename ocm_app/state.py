"""Typed accessors for ``st.session_state``: one constant per key, nothing else touches the keys.

Everything here is per browser session, so two users never see each other's scenes or
results. Widget keys shared across pages (the sidebar's) are listed too.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import streamlit as st

from ocm_app import config, uploads
from ocm_app.batch import QaRow
from ocm_app.compare import CompareRun
from ocm_app.runs import RunOptions, RunResult
from ocm_engine.io.mapping import BandMapping

# Widget keys (sidebar, shared by every page).
SCENE_SOURCE: Final = "scene_source"
SAMPLE_KEY: Final = "scene_sample"
UPLOAD_FILES: Final = "scene_upload"
UPLOAD_SENSOR: Final = "upload_sensor"
BASEMAP: Final = "basemap"
MODEL_SOURCE: Final = "model_source"
DEVICE: Final = "device"
DTYPE: Final = "dtype"

# Data keys.
_SESSION_DIR: Final = "ocm.session_dir"
_SESSION_GUARD: Final = "ocm.session_dir_guard"
_MAPPINGS: Final = "ocm.mappings"
_OPTIONS: Final = "ocm.options"
_RUN: Final = "ocm.run_result"
_DOWNLOADS: Final = "ocm.run_downloads"
_COMPARE: Final = "ocm.compare"
_RESOLUTION: Final = "ocm.resolution_runs"
_BATCH: Final = "ocm.batch_rows"
_LAST_UPLOAD: Final = "ocm.last_upload"


@dataclass(frozen=True, slots=True)
class RunDownloads:
    """The download files of one Run-page result (built once per result, not on every rerun).

    Attributes:
        result: The run they were made from.
        files: File bytes by download name (``classes.tif``, ``mask.png``...), as
            :func:`ocm_app.runs.export_bytes` returns them.
    """

    result: RunResult
    files: dict[str, bytes]


def session_dir() -> Path:
    """This session's private temporary folder (uploads, exports); created on first use.

    Every call marks the folder as in use and sweeps expired sessions' folders (at most once a
    minute); the folder is also removed when Streamlit drops the session (see :mod:`ocm_app.uploads`).
    """
    root = config.temp_root() / "sessions"
    uploads.sweep_now_and_then(root)
    path = st.session_state.get(_SESSION_DIR)
    if path is None or not Path(path).is_dir():
        path = str(root / uuid.uuid4().hex)
        Path(path).mkdir(parents=True, exist_ok=True)
        st.session_state[_SESSION_DIR] = path
        # Held by this session's state only: when Streamlit drops the session, the guard goes and
        # its finalizer removes the folder (ctx.session_state is a per-run wrapper, not the session).
        guard = uploads.FolderGuard(Path(path))
        uploads.remove_with_session(guard, Path(path))
        st.session_state[_SESSION_GUARD] = guard
    uploads.touch(Path(path))
    return Path(path)


def mapping(scene_key: str) -> tuple[str | None, BandMapping | None] | None:
    """The sensor / band mapping the user chose for a scene, or ``None`` for its default."""
    found: dict[str, Any] = st.session_state.get(_MAPPINGS, {})
    return found.get(scene_key)


def set_mapping(scene_key: str, sensor: str | None, mapping: BandMapping | None) -> None:
    """Remember the sensor preset / band mapping chosen for a scene."""
    found = dict(st.session_state.get(_MAPPINGS, {}))
    found[scene_key] = (sensor, mapping)
    st.session_state[_MAPPINGS] = found


def options() -> RunOptions:
    """The inference settings last chosen on the Run page (defaults otherwise)."""
    value = st.session_state.get(_OPTIONS)
    return value if isinstance(value, RunOptions) else RunOptions()


def set_options(value: RunOptions) -> None:
    """Remember the inference settings."""
    st.session_state[_OPTIONS] = value


def run_result() -> RunResult | None:
    """The Run page's last result in this session."""
    value = st.session_state.get(_RUN)
    return value if isinstance(value, RunResult) else None


def set_run_result(value: RunResult | None) -> None:
    """Store (or clear) the Run page's result."""
    st.session_state[_RUN] = value


def run_downloads() -> RunDownloads | None:
    """The downloads built for the Run page's result (``None`` until built, or after a new run)."""
    value = st.session_state.get(_DOWNLOADS)
    return value if isinstance(value, RunDownloads) else None


def set_run_downloads(value: RunDownloads | None) -> None:
    """Store (or clear) the Run page's downloads."""
    st.session_state[_DOWNLOADS] = value


def compare_run() -> CompareRun | None:
    """The Compare page's last result in this session."""
    value = st.session_state.get(_COMPARE)
    return value if isinstance(value, CompareRun) else None


def set_compare_run(value: CompareRun) -> None:
    """Store the Compare page's result."""
    st.session_state[_COMPARE] = value


def resolution_runs() -> tuple[RunResult, ...]:
    """The Resolution page's runs (one per resolution, finest first); empty before the first."""
    value = st.session_state.get(_RESOLUTION, ())
    return tuple(r for r in value if isinstance(r, RunResult))


def set_resolution_runs(value: Sequence[RunResult]) -> None:
    """Store the Resolution page's runs."""
    st.session_state[_RESOLUTION] = tuple(value)


def batch_rows() -> tuple[QaRow, ...]:
    """The Batch QA page's rows (scenes that ran and scenes that failed); empty before the first batch."""
    value = st.session_state.get(_BATCH, ())
    return tuple(r for r in value if isinstance(r, QaRow))


def set_batch_rows(value: Sequence[QaRow]) -> None:
    """Store the Batch QA page's rows."""
    st.session_state[_BATCH] = tuple(value)


def basemap() -> bool:
    """Whether the user turned the online basemap on."""
    return bool(st.session_state.get(BASEMAP, False))


def model_choice() -> tuple[str, str, str]:
    """``(source, device, dtype)`` of the models to use."""
    return (str(st.session_state.get(MODEL_SOURCE, "default")), str(st.session_state.get(DEVICE, "auto")),
            str(st.session_state.get(DTYPE, "auto")))


def last_upload() -> list[tuple[str, Path]]:
    """The files of the last upload (``(original name, saved path)``), still on disk."""
    saved = st.session_state.get(_LAST_UPLOAD) or []
    return [(name, path) for name, path in saved if Path(path).is_file()]


def set_last_upload(saved: list[tuple[str, Path]]) -> None:
    """Remember the last upload so other pages use it too."""
    st.session_state[_LAST_UPLOAD] = list(saved)
