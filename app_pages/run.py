"""Run: pick a scene, check the band mapping, choose a resolution, run, explore the result."""

import streamlit as st

from ocm_app import bands, config, maps, render, resources, samples, scenes, state, weights_panel, widgets
from ocm_app.runs import download_name, export_bytes
from ocm_engine import CLASS_LABELS, CLASS_NAMES
from ocm_engine.errors import OcmError

st.title("Cloud and shadow mask")

st.caption("Sensor-agnostic: any product's Red, Green and NIR bands, z-scored patch by patch.")

spec, info = widgets.require_scene(allow_mapping_error=True)

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
    true_note = "" if layout.mapping is None or layout.mapping.blue else " (no Blue band: Green shown as blue)"
    c1.image(render.composite(preview, (0, 1, 2)), caption=f"True colour{true_note}", width="stretch")
    c2.image(render.composite(preview, (3, 0, 1)), caption="False colour (NIR, Red, Green)", width="stretch")
    st.caption("Vegetation is red in false colour when NIR is mapped right; clouds are white in both.")
    bands.mapping_notice(spec, layout)

# --- resolution and options --------------------------------------------------------------------
st.subheader("2. Resolution")
resolution = widgets.resolution_slider(info, key="run.resolution")
with st.expander("Advanced: patch, overlap, batch, test-time augmentation"):
    opts = widgets.advanced_options("run", state.options())
opts = opts.with_resolution(resolution)
state.set_options(opts)

st.subheader("3. Run")
st.caption(widgets.model_caption())
widgets.training_flag(spec)
if st.button("Run cloud mask", type="primary", key="run.button", icon=":material/play_arrow:"):
    ensemble = widgets.ensemble_or_error()
    if ensemble is not None:
        result = widgets.run_scene(spec, opts, ensemble, "Masking...")
        if result is not None:
            state.set_run_result(result)
            state.set_result("run.exports", None)

result = state.run_result()
if result is None:
    st.info("Press **Run cloud mask** to see the result on the map.")
    st.stop()
if result.spec.key != spec.key:
    st.info(f"Showing the last result ({result.spec.label}); run again for the scene selected now.")

# --- result ----------------------------------------------------------------------------------------
pred = result.prediction
widgets.show_warnings(result)
pct = pred.class_percentages
cols = st.columns(6)
cols[0].metric("Cloud", f"{pred.cloud_percent:.1f} %")
for col, name, label in zip(cols[1:5], CLASS_NAMES[1:] + CLASS_NAMES[:1], CLASS_LABELS[1:] + CLASS_LABELS[:1],
                            strict=True):
    col.metric(label, f"{pct[name]:.1f} %")
cols[5].metric("Time", f"{result.seconds:.1f} s")
res_text = f"{result.resolution_m:g} m" if result.resolution_m == result.resolution_m else "source grid"
st.caption(f"{result.shape[1]} x {result.shape[0]} px at {res_text} · nodata {pred.nodata_percent:.1f} % · "
           f"{pred.model} · patch {pred.extra.get('patch_px')} px, overlap {pred.extra.get('overlap_px')} px · "
           f"{pred.extra.get('device')} {pred.extra.get('dtype')}"
           + (f" · test-time augmentation over {pred.extra['tta']} flips/rotations"
              if pred.extra.get("tta", "off") != "off" else ""))
weights_panel.default_run_note(pred.model)

display = resources.display_read(result.spec, config.DISPLAY_MAX_PX)
shape = display.shape[1:]
classes = render.resize_to(pred.classes, shape) if max(pred.classes.shape) > config.DISPLAY_MAX_PX else pred.classes
valid = render.resize_to(pred.valid, classes.shape)
georef = maps.georef_of(result.transform, result.shape, result.crs, samples.nominal_pixel_size_m(result.spec))
accuracy = widgets.accuracy_of(result)
true_colour = maps.Layer("True colour", render.composite(display, (0, 1, 2)), smooth=True)
layers = [true_colour, maps.Layer("False colour", render.composite(display, (3, 0, 1)), show=False, smooth=True),
          maps.Layer("Clear pixels (black)", render.clear_rgba(classes, valid), show=False, opacity=0.6),
          maps.Layer("Class mask", render.class_rgba(classes, valid, clear_transparent=True), opacity=0.6,
                     adjustable=True)]
legend_items: tuple[tuple[str, str], ...] = ()
if accuracy is not None:
    labels_small = accuracy.label_rgba(classes.shape)
    layers.append(maps.Layer("Experts' labels", labels_small, show=False, opacity=0.8))
    legend_items = accuracy.legend_items()
if pred.probabilities is not None:
    probs = render.resize_to(pred.probabilities, classes.shape)
    for i, label in enumerate(CLASS_LABELS):
        layers.append(maps.Layer(f"P({label.lower()})", render.ramp_rgba(probs[i], valid), show=False,
                                 opacity=0.85))
legend = maps.Legend(items=legend_items, title="Classes",
                     colorbars=(maps.Colorbar("Probability layers P(...)", render.PROBABILITY_CMAP),))
if result.crs is None:
    st.caption("The scene has no CRS: it is drawn on a local grid, not at its real place on Earth.")
st.caption("Layers, mask opacity, zoom and position are set on the map itself and kept while you use the page.")
tab_names = ["Map", "Swipe: image | mask"] + (["Swipe: experts | model"] if accuracy is not None else [])
tabs = st.tabs(tab_names)
scene_key = result.spec.key
with tabs[0]:
    maps.show_map(maps.scene_map(layers, georef, legend=legend, basemap=state.basemap(),
                                 state_key=f"run:{scene_key}"))
with tabs[1]:
    opaque_mask = maps.Layer("Class mask", render.class_rgba(classes, valid), opacity=1.0)
    maps.show_map(maps.swipe_map(true_colour, opaque_mask, georef, legend=maps.Legend(title="Classes"),
                                 basemap=state.basemap(), state_key=f"swipe:{scene_key}"))
if accuracy is not None:
    with tabs[2]:
        experts = maps.Layer("Experts' labels", labels_small, opacity=1.0)
        model = maps.Layer("Model (in the experts' classes)",
                           render.resize_rgba(accuracy.model_rgba(), classes.shape), opacity=1.0)
        maps.show_map(maps.swipe_map(experts, model, georef, basemap=state.basemap(),
                                     legend=maps.Legend(classes=False, items=accuracy.swipe_legend_items(),
                                                       title="Experts (left) | model (right)"),
                                     state_key=f"experts:{scene_key}"))
    widgets.accuracy_section(accuracy)

st.subheader("Class percentages")
table = {"class": list(CLASS_LABELS), "percent of valid pixels": [round(pct[n], 2) for n in CLASS_NAMES]}
st.dataframe(table, hide_index=True, key="run.percentages", on_select="ignore")

st.subheader("Downloads")
stored = state.result("run.exports")
if stored is None or stored[0] is not result:
    stored = (result, export_bytes(result, state.session_dir(), rgb=true_colour.rgba))
    state.set_result("run.exports", stored)
files = stored[1]
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
