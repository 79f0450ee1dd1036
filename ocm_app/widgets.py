"""Widget groups shared by the pages: the sidebar, scene selection, options, progress, errors.

Pages call these and stay free of numerics. Errors from the engine (``OcmError``) are shown
with ``st.error`` and the engine's message; anything else surfaces.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from ocm_app import (
    config,
    model_info,
    resources,
    run_queue,
    samples,
    scenes,
    stac_source,
    state,
    truth,
    uploads,
    weights_panel,
)
from ocm_app.runs import RunOptions, RunResult, run_prediction
from ocm_engine import SENSORS, Ensemble
from ocm_engine.constants import MAX_RESOLUTION_M, MIN_RESOLUTION_M, VALIDATED_RESOLUTION_M
from ocm_engine.errors import OcmError
from ocm_engine.io.scene import SceneLayout
from ocm_engine.resolution import RESOLUTION_GUIDANCE

SOURCES = ("Sample gallery", "Upload", stac_source.LABEL)


# ----------------------------------------------------------------------------- sidebar
SHARED_KEYS = (state.SCENE_SOURCE, state.SAMPLE_KEY, state.UPLOAD_SENSOR)


def scene_bar() -> None:
    """The scene picker every scene page shows first; its choice follows the user across pages.

    It is rendered by the pages (not by ``app.py``): AppTest drops the entrypoint's elements on
    reruns of ``st.navigation`` apps, so widgets drawn there could not be driven by tests.
    Re-assigning the keys keeps their values when a page that does not draw them runs.
    """
    for key in SHARED_KEYS:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]
    with st.container(border=True):
        c1, c2, c3 = st.columns([1.2, 3, 2])
        source = c1.radio("Scene from", SOURCES, key=state.SCENE_SOURCE)
        if source == SOURCES[0]:
            trained = model_info.was_trained_on
            gallery = samples.gallery_order(resources.sample_list(str(config.samples_dir())), trained)
            labels = {s.key: samples.gallery_label(s, trained) for s in gallery}
            key = c2.selectbox("Sample scene", list(labels), format_func=labels.__getitem__,
                               key=state.SAMPLE_KEY)
            chosen = next((s for s in gallery if s.key == key), gallery[0])
            c3.caption(chosen.description)
            if trained(chosen.dataset):
                c3.caption(":orange[**Training scene**]: the default model was trained on it, so scores here "
                           "are a best case. Scenes it has not seen are listed first.")
            if len(gallery) == 1 and config.trusted_local():  # a server's paths are not shown to strangers
                c3.caption(f"No samples found in `{config.samples_dir()}` (set `{config.SAMPLES_ENV}`).")
        elif source == SOURCES[1]:
            c2.file_uploader(
                "GeoTIFF: one multiband file, or one file per band",
                type=[s.lstrip(".") for s in config.UPLOAD_SUFFIXES], accept_multiple_files=True,
                key=state.UPLOAD_FILES,
                help=f"Up to {config.MAX_UPLOAD_MB} MB per file. Files stay in this session only.",
            )
            keys = ["auto", *SENSORS]
            c3.selectbox("Sensor of the upload", keys, key=state.UPLOAD_SENSOR,
                         format_func=lambda k: "Guess (or map bands on the Run page)" if k == "auto"
                         else SENSORS[k].label)
        else:
            c2.caption("Find a scene by place, dates and cloud cover; only the window is read from its COGs.")
            stac_source.render()


def sidebar() -> None:
    """The shared sidebar: model, device, precision, basemap (rendered by ``app.py``)."""
    with st.sidebar:
        st.subheader("Model")
        weights_panel.render()  # picker, model line, official-weights download (issue 18)
        col1, col2 = st.columns(2)
        col1.selectbox("Device", resources.devices(), key=state.DEVICE)
        col2.selectbox("Precision", ["auto", "fp32", "bf16", "fp16"], key=state.DTYPE)
        st.subheader("Map")
        st.toggle("Basemap (needs internet)", key=state.BASEMAP,
                  help="Maps work offline without it: every layer is the app's own rendering.")
        st.caption("OCM Studio: sensor-agnostic cloud and cloud-shadow masking. Classes: clear, thick "
                   "cloud, thin cloud, cloud shadow.")


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


def _saved_uploads() -> list[tuple[str, Path]]:
    files = st.session_state.get(state.UPLOAD_FILES) or []
    folder = state.session_dir()
    saved: list[tuple[str, Path]] = []
    for upload in files:
        # Checked (size, quota, declared raster size from the header) and saved by digest, never by user name.
        saved.append((str(upload.name), uploads.save_upload(str(upload.name), upload.getvalue(), folder)))
    return saved


def current_scene() -> scenes.SceneSpec | None:
    """The scene chosen in the sidebar with the mapping chosen on the Run page.

    Draws the scene bar first. Shows ``st.error`` for bad uploads and returns ``None`` when
    there is no usable scene. The last upload stays the scene until replaced, on every page.
    """
    scene_bar()
    if st.session_state.get(state.SCENE_SOURCE) == SOURCES[2]:
        spec = stac_source.current_spec()
        if spec is None:
            return None
    elif st.session_state.get(state.SCENE_SOURCE, SOURCES[0]) == SOURCES[1]:
        try:
            saved = _saved_uploads()
            if not saved:
                saved = state.last_upload()
                if saved:
                    st.caption(f"Using your last upload: {', '.join(n for n, _ in saved)}.")
            if not saved:
                st.info("Upload a GeoTIFF above (or switch to the sample gallery).")
                return None
            state.set_last_upload(saved)
            sensor = st.session_state.get(state.UPLOAD_SENSOR, "auto")
            key = "upload:" + "+".join(p.stem for _, p in saved)
            # No guess here: the engine's resolver maps the upload (by its own names) and says when it guessed.
            spec = scenes.upload_spec(key, saved, None if sensor == "auto" else sensor)
        except OcmError as err:
            st.error(scenes.describe_error(err))
            return None
    else:
        gallery = resources.sample_list(str(config.samples_dir()))
        sample_key = st.session_state.get(state.SAMPLE_KEY)
        spec = next((s for s in gallery if s.key == sample_key), gallery[0])
    chosen = state.mapping(spec.key)
    if chosen is not None:
        spec = spec.with_mapping(*chosen)
    return spec


def scene_header(spec: scenes.SceneSpec, allow_mapping_error: bool = False) -> SceneLayout | None:
    """A one-line summary of the scene; ``None`` (after ``st.error``) when it cannot be used.

    Args:
        spec: The scene.
        allow_mapping_error: Return the layout even when its mapping does not fit the files (the
            Run page, where the mapping is chosen); other pages stop with the error.
    """
    try:
        layout = resources.scene_layout(spec)
        if layout.mapping_error is not None and not allow_mapping_error:
            raise layout.mapping_error
    except OcmError as err:
        st.error(scenes.describe_error(err, spec))
        return None
    res = f"{layout.resolution_m:.3g} m" if math.isfinite(layout.resolution_m) else "unknown resolution"
    st.caption(f"**{spec.label}** · {layout.width} x {layout.height} px · {res} · "
               f"{layout.crs or 'no CRS'} · {layout.dtype} · mapping: {mapping_text(spec, layout)}")
    return layout


def mapping_text(spec: scenes.SceneSpec, layout: SceneLayout) -> str:
    """The mapping in words: the preset's name when it placed the bands, else the numbers."""
    if layout.mapping is not None and layout.mapping.origin == "preset" and spec.sensor in SENSORS:
        return f"{SENSORS[spec.sensor].label}: {layout.mapping_text}"
    return layout.mapping_text


# ----------------------------------------------------------------------------- models
def ensemble_or_error() -> Ensemble | None:
    """The chosen ensemble, or ``None`` after an ``st.error`` explaining why it cannot load."""
    try:
        return resources.get_ensemble(*resources.model_args(state.model_choice()))
    except OcmError as err:
        st.error(f"The model could not be loaded: {err}", icon=":material/error:")
        return None


# ----------------------------------------------------------------------------- options
def resolution_slider(info: SceneLayout, key: str, label: str = "Inference resolution (m)") -> float | None:
    """Resolution choice (the engine's 5-50 m, never finer than the source) with the guidance text.

    Returns:
        The resolution, or ``None`` to use the source's own (coarser than the engine's maximum, or unknown).
    """
    source = info.resolution_m
    if not math.isfinite(source):
        st.info("The scene has no usable CRS, so its resolution is unknown: it is inferred on its own grid.")
        return None
    if source > MAX_RESOLUTION_M:
        st.warning(f"This scene is {source:.3g} m, coarser than the {MAX_RESOLUTION_M:g} m the models were "
                   "validated for; "
                   "it is inferred at its own resolution (imagery is never upsampled).")
        return None
    low = max(int(MIN_RESOLUTION_M), math.ceil(source - 1e-6))
    default = max(low, min(int(MAX_RESOLUTION_M), math.ceil(max(source, VALIDATED_RESOLUTION_M[0]))))
    value = st.slider(label, min_value=low, max_value=int(MAX_RESOLUTION_M), value=default, step=1, key=key,
                      help=RESOLUTION_GUIDANCE)
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


# ----------------------------------------------------------------------------- running
def progress_callback(label: str) -> Callable[[int, int], None]:
    """A ``callback(done, total)`` drawing an ``st.progress`` bar."""
    bar = st.progress(0.0, text=label)

    def update(done: int, total: int) -> None:
        bar.progress(min(1.0, done / max(total, 1)), text=f"{label} {done}/{total} patches")

    return update


def run_scene(spec: scenes.SceneSpec, options: RunOptions, ensemble: Ensemble, label: str,
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


def accuracy_of(result: RunResult) -> truth.Accuracy | None:
    """The run scored against its scene's expert labels; ``None`` without labels (or unreadable ones)."""
    if result.spec.labels is None:
        return None
    scheme, path = result.spec.labels
    try:
        labels = resources.expert_labels(scheme, path)
    except OcmError as err:
        st.warning(scenes.describe_error(err), icon=":material/warning:")
        return None
    pred = result.prediction
    return truth.score(scheme, labels, pred.classes, pred.valid, Path(path).name)


def accuracy_section(accuracy: truth.Accuracy) -> None:
    """The 'accuracy against the experts' view: the scheme explained, confusion matrix, per-class F1."""
    st.subheader("Accuracy against the experts", anchor="accuracy")
    scheme = accuracy.scheme
    st.markdown(f"**{scheme.title}** (`{accuracy.source}`) · classes: {', '.join(scheme.classes)}. "
                f"{scheme.explanation}")
    scores = accuracy.scores
    cols = st.columns(len(scheme.classes) + 2)
    cols[0].metric("Pixels right", f"{100 * scores.overall_accuracy:.1f} %",
                   help="Share of labelled, valid pixels where the model's (grouped) class equals the experts'.")
    cols[1].metric("Balanced accuracy", f"{100 * scores.balanced_accuracy:.1f} %",
                   help="Mean recall over the experts' classes: a rare class counts as much as a common one.")
    for col, item in zip(cols[2:], scores.scores, strict=True):
        unlabelled = item.support == 0  # no pixel of this class to find: F1 says nothing
        col.metric(f"F1 {item.name}", "n/a" if unlabelled or item.f1 != item.f1 else f"{item.f1:.2f}",
                   help="F1 = 2 x precision x recall / (precision + recall); 1 is perfect."
                   + (" No pixel here is labelled with this class." if unlabelled else ""))
    left, right = st.columns([3, 2])
    left.markdown("**Confusion matrix** (rows: what the experts say; columns: what the model says; "
                  "% of the row)")
    left.dataframe(accuracy.confusion_rows(), hide_index=True, key="run.confusion", on_select="ignore")
    right.markdown("**Per class** (fractions, 1 is perfect)")
    right.dataframe(accuracy.score_rows(), hide_index=True, key="run.scores", on_select="ignore")
    st.caption("Scored on the inference grid, only where the experts labelled a pixel and the scene has "
               "data. The map's 'Experts' labels' layer and the 'Swipe: experts | model' tab show where "
               "they differ.")


def show_warnings(result: RunResult) -> None:
    """The engine's typed warnings of a run (no CRS, outside 10-50 m, no NIR), as ``st.warning``."""
    for warning in dict.fromkeys(str(w) for w in result.warnings):
        st.warning(scenes.describe_error(Exception(warning), result.spec), icon=":material/warning:")


def samples_root() -> Path:
    """The samples folder."""
    return config.samples_dir()


def unsafe_path_error() -> type[Exception]:
    """The error raised for paths leaving the samples folder."""
    return samples.UnsafePathError


# ----------------------------------------------------------------------------- patch picker
def patch_picker(overview_rgba: object, shape: tuple[int, int], size_px: int, key: str) -> tuple[float, float]:
    """Choose a patch centre: click the overview (plotly) or use the two sliders.

    A click is read from the chart's state *before* the figure is drawn, so the rectangle moves
    in the same run; every handled click gives the chart a new key, so no stale selection is
    left to swallow the next click (clicking the same spot twice works too).

    Args:
        overview_rgba: RGBA overview image ``(h, w, 4)`` of the scene.
        shape: ``(height, width)`` of the inference grid.
        size_px: Patch side on the inference grid (for the rectangle drawn).
        key: Widget key prefix.

    Returns:
        The centre as fractions ``(down, across)`` of the scene.
    """
    import numpy as np
    import plotly.graph_objects as go

    down_key, across_key, count_key = f"{key}.down", f"{key}.across", f"{key}.clicks"
    rgba = np.asarray(overview_rgba)
    h, w = rgba.shape[:2]
    st.session_state.setdefault(down_key, 50)
    st.session_state.setdefault(across_key, 50)
    clicks = int(st.session_state.get(count_key, 0))
    event = st.session_state.get(f"{key}.overview.{clicks}")
    points = event.get("selection", {}).get("points", []) if isinstance(event, dict) else []
    if points:
        x, y = float(points[0].get("x", 0)), float(points[0].get("y", 0))
        st.session_state[across_key] = int(np.clip(round(100 * x / w), 0, 100))
        st.session_state[down_key] = int(np.clip(round(100 * y / h), 0, 100))
        clicks += 1
        st.session_state[count_key] = clicks
    down = float(st.session_state[down_key]) / 100
    across = float(st.session_state[across_key]) / 100
    half_h, half_w = 0.5 * size_px / shape[0] * h, 0.5 * size_px / shape[1] * w
    fig = go.Figure(go.Image(z=rgba[..., :3], hoverinfo="skip"))
    steps = 32
    ys, xs = np.meshgrid((np.arange(steps) + 0.5) * h / steps, (np.arange(steps) + 0.5) * w / steps, indexing="ij")
    fig.add_trace(go.Scatter(x=xs.ravel(), y=ys.ravel(), mode="markers", hoverinfo="none",
                             marker={"size": max(6, 400 // steps), "opacity": 0.01, "color": "white"}))
    cx = min(max(across * w, half_w), w - half_w)
    cy = min(max(down * h, half_h), h - half_h)
    fig.add_shape(type="rect", x0=cx - half_w, x1=cx + half_w, y0=cy - half_h, y1=cy + half_h,
                  line={"color": "yellow", "width": 3})
    fig.update_layout(height=320, margin={"l": 0, "r": 0, "t": 0, "b": 0}, showlegend=False,
                      dragmode=False, clickmode="event+select")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    st.plotly_chart(fig, on_select="rerun", selection_mode="points", key=f"{key}.overview.{clicks}",
                    config={"displayModeBar": False})
    c1, c2 = st.columns(2)
    across_pct = c1.slider("Patch centre, across (%)", 0, 100, key=across_key)
    down_pct = c2.slider("Patch centre, down (%)", 0, 100, key=down_key)
    st.caption(f"Click the image to move the patch (yellow), or use the sliders (grid {shape[1]} x {shape[0]} px).")
    return down_pct / 100, across_pct / 100


def class_legend_markdown() -> str:
    """The class colours as a one-line HTML legend (for images outside maps)."""
    from ocm_engine import CLASS_COLOURS, CLASS_LABELS

    items = [f'<span style="display:inline-block;width:12px;height:12px;background:rgb({r},{g},{b});'
             f'border:1px solid #777;vertical-align:-1px;margin:0 4px 0 10px"></span>{label}'
             for label, (r, g, b, _) in zip(CLASS_LABELS, CLASS_COLOURS, strict=True)]
    return "<div style='font-size:0.85rem'>" + "".join(items) + "</div>"


def require_scene(allow_mapping_error: bool = False) -> tuple[scenes.SceneSpec, SceneLayout]:
    """The current scene and its layout; stops the page (after saying why) when there is none.

    Args:
        allow_mapping_error: Keep going when the mapping does not fit (``layout.mapping_error``).
    """
    spec = current_scene()
    info = scene_header(spec, allow_mapping_error) if spec else None
    if spec is None or info is None:
        st.stop()
    return spec, info
