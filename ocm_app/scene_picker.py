"""The scene picker: where a page's scene comes from (gallery, upload, STAC) and its one-line summary.

Every scene page starts with :func:`require_scene`. Uploads are checked and saved once per file
by :func:`ocm_app.uploads.save_uploads` (the Batch QA page saves its uploads the same way).
"""

from __future__ import annotations

import math

import streamlit as st

from ocm_app import config, model_info, resources, samples, scenes, stac_source, state, uploads
from ocm_engine import SENSORS
from ocm_engine.errors import OcmError
from ocm_engine.io.scene import SceneLayout

#: Where a scene comes from (the scene bar's radio).
SOURCES = ("Sample gallery", "Upload", stac_source.LABEL)
#: Widget keys the scene bar shares across pages.
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
        # Checked (size, quota, declared raster size) and saved by digest, never by user name.
        found = uploads.save_uploads(st.session_state.get(state.UPLOAD_FILES) or [], state.session_dir())
        if found.refused:
            st.error(scenes.describe_error(found.refused[0][1]))
            return None
        try:
            saved = list(found.saved)
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
