"""Run: pick a scene, check the band mapping, choose a resolution, run, explore the result."""

import streamlit as st

from ocm_app import (
    accuracy,
    bands,
    config,
    map_layers,
    maps,
    render,
    resources,
    run_controls,
    samples,
    scene_picker,
    scenes,
    state,
    weights_panel,
)
from ocm_app.runs import download_name, export_bytes
from ocm_engine import CLASS_LABELS, CLASS_NAMES
from ocm_engine.errors import OcmError

st.title("Cloud and shadow mask")

st.caption("Sensor-agnostic: any product's Red, Green and NIR bands, z-scored patch by patch.")

spec, info = scene_picker.require_scene(allow_mapping_error=True)

# --- band mapping with a live preview: one cached layout per mapping answers every band question ----
st.subheader("1. Bands")
left, right = st.columns([2, 3])
with left:
    spec, layout = bands.choose_mapping(spec, info)
    if layout.mapping_error is not None:
        st.error(scenes.describe_error(layout.mapping_error, spec))
        st.stop()
with right:
    try:
        preview = resources.display_read(spec, config.PREVIEW_MAX_PX)
    except OcmError as err:
        st.error(scenes.describe_error(err, spec))
        st.stop()
    c1, c2 = st.columns(2)
    c1.image(render.true_colour(preview), caption=render.true_colour_caption(preview), width="stretch")
    c2.image(render.false_colour(preview), caption="False colour (NIR, Red, Green)", width="stretch")
    st.caption("Vegetation is red in false colour when NIR is mapped right; clouds are white in both.")
    bands.mapping_notice(spec, layout)

# --- resolution and options --------------------------------------------------------------------
st.subheader("2. Resolution")
resolution = run_controls.resolution_slider(info, key="run.resolution")
with st.expander("Advanced: patch, overlap, batch, test-time augmentation"):
    opts = run_controls.advanced_options("run", state.options())
opts = opts.with_resolution(resolution)
state.set_options(opts)

st.subheader("3. Run")
st.caption(run_controls.model_caption())
run_controls.training_flag(spec)
if st.button("Run cloud mask", type="primary", key="run.button", icon=":material/play_arrow:"):
    ensemble = run_controls.ensemble_or_error()
    if ensemble is not None:
        result = run_controls.run_with_progress(spec, opts, ensemble, "Masking...")
        if result is not None:
            state.set_run_result(result)
            state.set_run_downloads(None)

result = state.run_result()
if result is None:
    st.info("Press **Run cloud mask** to see the result on the map.")
    st.stop()
if result.spec.key != spec.key:
    st.info(f"Showing the last result ({result.spec.label}); run again for the scene selected now.")

# --- result ----------------------------------------------------------------------------------------
pred = result.prediction
run_controls.show_warnings(result)
pct = pred.class_percentages
cols = st.columns(6)
cols[0].metric("Cloud", f"{pred.cloud_percent:.1f} %")
for col, name, label in zip(cols[1:5], CLASS_NAMES[1:] + CLASS_NAMES[:1], CLASS_LABELS[1:] + CLASS_LABELS[:1],
                            strict=True):
    col.metric(label, f"{pct[name]:.1f} %")
cols[5].metric("Time", f"{result.seconds:.1f} s")
res_text = f"{result.resolution_m:g} m" if result.resolution_m == result.resolution_m else "source grid"
st.caption(f"{result.shape[1]} x {result.shape[0]} px at {res_text} · nodata {pred.nodata_percent:.1f} % · "
           f"{pred.model} · patch {pred.run.patch_px} px, overlap {pred.run.overlap_px} px · "
           f"{pred.run.device} {pred.run.dtype} · backend {pred.run.backend}"
           + (f" · test-time augmentation over {pred.run.tta_transforms} flips/rotations"
              if pred.run.tta_transforms else ""))
weights_panel.default_run_note(pred.model)

display = resources.display_read(result.spec, config.DISPLAY_MAX_PX)
scored = accuracy.accuracy_of(result)
drawn = map_layers.result_layers(display, pred, scored, config.DISPLAY_MAX_PX)
georef = maps.georef_of(result.transform, result.shape, result.crs, samples.nominal_pixel_size_m(result.spec))
if result.crs is None:
    st.caption("The scene has no CRS: it is drawn on a local grid, not at its real place on Earth.")
st.caption("Layers, mask opacity, zoom and position are set on the map itself and kept while you use the page.")
tab_names = ["Map", "Swipe: image | mask"] + (["Swipe: experts | model"] if drawn.experts is not None else [])
tabs = st.tabs(tab_names)
scene_key = result.spec.key
with tabs[0]:
    maps.show_map(maps.scene_map(list(drawn.layers), georef, legend=drawn.legend, basemap=state.basemap(),
                                 state_key=f"run:{scene_key}"))
with tabs[1]:
    maps.show_map(maps.swipe_map(drawn.true_colour, drawn.opaque_mask, georef, legend=maps.Legend(title="Classes"),
                                 basemap=state.basemap(), state_key=f"swipe:{scene_key}"))
if scored is not None and drawn.experts is not None and drawn.experts_model is not None:
    with tabs[2]:
        maps.show_map(maps.swipe_map(drawn.experts, drawn.experts_model, georef, basemap=state.basemap(),
                                     legend=drawn.experts_legend, state_key=f"experts:{scene_key}"))
    accuracy.accuracy_section(scored)

st.subheader("Class percentages")
table = {"class": list(CLASS_LABELS), "percent of valid pixels": [round(pct[n], 2) for n in CLASS_NAMES]}
st.dataframe(table, hide_index=True, key="run.percentages", on_select="ignore")

st.subheader("Downloads")
stored = state.run_downloads()
if stored is None or stored.result is not result:
    stored = state.RunDownloads(result, export_bytes(result, state.session_dir(), rgb=drawn.true_colour.rgba))
    state.set_run_downloads(stored)
files = stored.files
d1, d2, d3, d4 = st.columns(4)
d1.download_button("Class GeoTIFF", files["classes.tif"], download_name(result.spec, "classes.tif"),
                   "image/tiff", key="dl.classes", icon=":material/download:")
if "probabilities.tif" in files:
    d2.download_button("Probabilities GeoTIFF", files["probabilities.tif"],
                       download_name(result.spec, "probabilities.tif"), "image/tiff", key="dl.probabilities",
                       icon=":material/download:")
d3.download_button("PNG preview", files["mask.png"], download_name(result.spec, "mask.png"), "image/png",
                   key="dl.png", icon=":material/download:")
d4.download_button("JSON statistics", files["stats.json"], download_name(result.spec, "stats.json"),
                   "application/json", key="dl.json", icon=":material/download:")
st.caption("Outputs are on the inference grid (georeferenced). For full-resolution outputs of large "
           "scenes use `ocm predict`.")
