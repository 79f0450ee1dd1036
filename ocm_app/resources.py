"""Cached resources: the models (once per process) and reads of scenes (by content key).

``get_ensemble`` wraps the engine's one model cache (:func:`ocm_engine.cached_ensemble`):
``@st.cache_resource`` only keeps the app's widget choice -> ensemble lookup, so the app, the
engine's default ensemble and batch workers share one loaded copy. The ensemble stays in eval
mode and is never mutated; inference runs under ``torch.inference_mode()`` in the engine.
Tests patch ``get_ensemble`` to a tiny random-weight ensemble.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import streamlit as st
import torch

from ocm_app import config, samples, scenes, truth
from ocm_engine import Ensemble, Scene, cached_ensemble

MODEL_SOURCES: dict[str, str] = {
    "default": "Embedded default (ocm_engine/weights)",
    "official": "Official OCM v4 files ($OCM_WEIGHTS_DIR)",
}


@st.cache_resource(show_spinner="Loading the models...", max_entries=4)
def get_ensemble(source: str = "default", device: str = "auto", dtype: str = "auto") -> Ensemble:
    """The engine's cached ensemble for the sidebar's choice (errors are not cached).

    Raises:
        ModelLoadError: Weights missing or unreadable (shown with ``st.error``).
    """
    if source == "default" and config.model_override():
        source = str(config.model_override())
    return cached_ensemble(source, device=None if device == "auto" else device,
                           dtype=None if dtype == "auto" else dtype)


def devices() -> list[str]:
    """Device choices on this machine."""
    found = ["auto", "cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return found


@st.cache_data(show_spinner=False, ttl=300)
def sample_list(root: str) -> list[scenes.SceneSpec]:
    """The sample gallery of a samples folder."""
    from pathlib import Path

    return samples.list_samples(Path(root))


@st.cache_data(show_spinner=False, max_entries=64)
def scene_info(spec: scenes.SceneSpec) -> scenes.SceneInfo:
    """Cached :func:`ocm_app.scenes.scene_info`."""
    return scenes.scene_info(spec)


@st.cache_data(show_spinner=False, max_entries=32)
def display_read(spec: scenes.SceneSpec, max_px: int) -> npt.NDArray[np.float32]:
    """Cached :func:`ocm_app.scenes.read_display`."""
    return scenes.read_display(spec, max_px)


@st.cache_data(show_spinner="Reading the scene...", max_entries=16)
def inference_read(spec: scenes.SceneSpec, resolution_m: float | None) -> Scene:
    """Cached :func:`ocm_app.scenes.read_inference` (the engine's :class:`~ocm_engine.Scene`)."""
    return scenes.read_inference(spec, resolution_m)


@st.cache_data(show_spinner=False, max_entries=16)
def expert_labels(scheme: str, path: str) -> npt.NDArray[np.int16]:
    """Cached :func:`ocm_app.truth.read_labels` (scheme indices on the labels' own grid)."""
    return truth.read_labels(scheme, path)
