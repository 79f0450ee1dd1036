"""Run controls: the model, the inference settings, running a scene with progress, the run's warnings.

Errors from the engine (``OcmError``) are shown with ``st.error`` in the app's words
(:func:`ocm_app.scenes.describe_error`); anything else surfaces.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import streamlit as st

from ocm_app import config, model_info, resources, run_queue, scenes, state, weights_panel
from ocm_app.runs import RunOptions, RunResult, run_prediction
from ocm_engine import Ensemble
from ocm_engine.errors import OcmError
from ocm_engine.io.scene import SceneLayout
from ocm_engine.resolution import RESOLUTION_GUIDANCE, choices


def model_caption() -> str:
    """One line: which model runs and how strong it is (its card, or the official pair's published figures)."""
    return weights_panel.caption()


def training_flag(spec: scenes.SceneSpec) -> None:
    """Warn when the default model was trained on this scene (its scores are then optimistic)."""
    running = resources.model_args(state.model_choice())[0]
    if running != "default" or config.model_override() or not model_info.was_trained_on(spec.dataset):
        return
    what = ("its cloud-free background image" if spec.kind == "builtin" else "this scene")
    st.warning(f"The default model was trained on {what} (`{spec.dataset}`), so it has seen these pixels: "
               "treat its accuracy here as a best case, not as a test.", icon=":material/school:")


def ensemble_or_error() -> Ensemble | None:
    """The chosen ensemble, or ``None`` after an ``st.error`` explaining why it cannot load."""
    try:
        return resources.get_ensemble(*resources.model_args(state.model_choice()))
    except OcmError as err:
        st.error(f"The model could not be loaded: {scenes.describe_error(err)}", icon=":material/error:")
        return None


def resolution_slider(info: SceneLayout, key: str, label: str = "Inference resolution (m)") -> float | None:
    """Resolution choice (the engine's :func:`~ocm_engine.resolution.choices` for the source) with the guidance text.

    Returns:
        The resolution, or ``None`` to use the source's own (coarser than the engine's maximum, or unknown).
    """
    source = info.resolution_m
    allowed = choices(source)
    if allowed.low_m is None or allowed.default_m is None:
        if not math.isfinite(source) or source <= 0:
            st.info("The scene has no usable CRS, so its resolution is unknown: it is inferred on its own grid.")
        else:
            st.warning(f"This scene is {source:.3g} m, coarser than the {allowed.high_m:g} m the models were "
                       "validated for; it is inferred at its own resolution (imagery is never upsampled).")
        return None
    value = st.slider(label, min_value=int(allowed.low_m), max_value=int(allowed.high_m), value=int(allowed.default_m),
                      step=1, key=key, help=RESOLUTION_GUIDANCE)
    st.caption(RESOLUTION_GUIDANCE)
    return float(value)


def advanced_options(prefix: str, stored: RunOptions) -> RunOptions:
    """Patch / overlap / batch size inputs (device and precision are in the sidebar)."""
    c1, c2, c3 = st.columns(3)
    patch = c1.number_input("Patch (px)", 32, 2000, stored.patch_px, step=32, key=f"{prefix}.patch")
    overlap = c2.number_input("Overlap (px)", 0, 1000, stored.overlap_px, step=10, key=f"{prefix}.overlap")
    batch = c3.number_input("Batch (0 = auto)", 0, 64, stored.batch_size or 0, key=f"{prefix}.batch")
    st.caption("Defaults match the reference: 1000 px patches, 300 px overlap. Patches shrink to fit "
               "small images; accuracy needs about 96 px of context. Device and precision: sidebar.")
    tta = st.checkbox("Test-time augmentation", value=stored.tta, key=f"{prefix}.tta",
                      help="Average the models over the 8 flips and rotations of every patch: steadier masks "
                           "at about 8x the time (the model card gives the measured gain).")
    backends = ["auto", "torch", "openvino"]
    backend = st.selectbox("Backend", backends, index=backends.index(stored.backend), key=f"{prefix}.backend",
                           help="What runs the models. auto: OpenVINO on the CPU when installed (about 2x "
                                "PyTorch; converted once, then cached on disk), PyTorch on a GPU.")
    return RunOptions(stored.resolution_m, int(patch), int(min(overlap, patch // 2)), int(batch) or None, bool(tta),
                      str(backend))


def progress_callback(label: str) -> Callable[[int, int], None]:
    """A ``callback(done, total)`` drawing an ``st.progress`` bar."""
    bar = st.progress(0.0, text=label)

    def update(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=f"{label} {done}/{total} patches")

    return update


def run_with_progress(spec: scenes.SceneSpec, options: RunOptions, ensemble: Ensemble, label: str,
                      return_probabilities: bool = True, return_members: bool = False) -> RunResult | None:
    """Read (cached) and predict a scene with a progress bar; ``None`` after ``st.error``.

    ``return_members`` also keeps every member's class map from the same pass (Compare page).
    """
    try:
        with run_queue.queued_slot():  # at most N runs at once on the server; others see their queue place
            scene = resources.inference_read(spec, options.resolution_m)
            inference = options.inference(return_probabilities=return_probabilities, return_members=return_members)
            return run_prediction(spec, options, ensemble, scene, progress_callback(label), inference)
    except OcmError as err:
        st.error(scenes.describe_error(err, spec))
        return None


def show_warnings(result: RunResult) -> None:
    """The engine's typed warnings of a run (no CRS, outside 10-50 m, no NIR), as ``st.warning``."""
    for warning in dict.fromkeys(str(w) for w in result.warnings):
        st.warning(scenes.describe_error(Exception(warning), result.spec), icon=":material/warning:")
