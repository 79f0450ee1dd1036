"""Cached resources: the models (once per process) and reads of scenes (by content key).

``get_ensemble`` wraps the engine's one model cache (:func:`ocm_engine.cached_ensemble`):
``@st.cache_resource`` only keeps the app's widget choice -> ensemble lookup, so the app, the
engine's default ensemble and batch workers share one loaded copy. The ensemble stays in eval
mode and is never mutated; inference runs under ``torch.inference_mode()`` in the engine.
Tests patch ``get_ensemble`` to a tiny random-weight ensemble.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import numpy.typing as npt
import streamlit as st
import torch

from ocm_app import config, samples, scenes, truth
from ocm_engine import Ensemble, Scene, cached_ensemble
from ocm_engine.io.scene import SceneLayout
from ocm_engine.models.official import OfficialWeights, find_official

MODEL_SOURCES: dict[str, str] = {
    "default": "Default (embedded fallback)",
    "official": "Official OmniCloudMask v4",
}


@st.cache_resource(show_spinner="Loading the models...", max_entries=4)
def get_ensemble(source: str = "default", device: str = "auto", dtype: str = "auto", digest: str = "") -> Ensemble:
    """The engine's cached ensemble for the sidebar's choice (errors are not cached).

    Args:
        source: ``"default"`` or ``"official"`` (the model that runs: see :func:`model_args`).
        device: Device name or ``"auto"``.
        dtype: Dtype name or ``"auto"``.
        digest: The official pair's SHA-256s when ``source`` is ``"official"``: part of the cache key,
            so a pair installed (or replaced) while the app runs is picked up by every session.

    Raises:
        ModelLoadError: Weights missing or unreadable (shown with ``st.error``).
    """
    del digest  # only a cache key
    override = config.model_override() if source == "default" else None
    ensemble = cached_ensemble(str(override) if override else source, device=None if device == "auto" else device,
                               dtype=None if dtype == "auto" else dtype)
    if override:  # visitors see the folder's name, never the server's path (captions, report, GeoTIFF tags)
        name = Path(override).name
        ensemble = dataclasses.replace(ensemble, source=name, metadata={**ensemble.metadata, "weights_name": name})
    return ensemble


def official_weights() -> OfficialWeights | None:
    """The verified official pair, wherever the engine's resolver finds it, or ``None``.

    Not cached by Streamlit: a download in one session is seen by all. Cheap after the first
    call: digests are remembered per process by (path, size, mtime).
    """
    return find_official()


def model_args(choice: tuple[str, str, str]) -> tuple[str, str, str, str]:
    """``get_ensemble`` arguments for a sidebar choice: the official pair only when it is verified.

    Args:
        choice: ``(source, device, dtype)`` from the sidebar.

    Returns:
        ``(source that runs, device, dtype, digest)``; ``"official"`` falls back to ``"default"``
        while the pair is not installed (the sidebar says so and offers the download).
    """
    source, device, dtype = choice
    if source == "official":
        found = official_weights()
        if found is not None:
            return "official", device, dtype, found.sha256
        source = "default"
    return source, device, dtype, ""


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
def scene_layout(spec: scenes.SceneSpec) -> SceneLayout:
    """Cached :func:`ocm_app.scenes.scene_layout`: grid, band labels, mapping, warnings (once per spec)."""
    return scenes.scene_layout(spec)


@st.cache_data(show_spinner=False, max_entries=32)
def display_read(spec: scenes.SceneSpec, max_px: int) -> Scene:
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
