"""Resolution & sensors: the same scene at several inference resolutions, side by side."""

import math

import streamlit as st

from ocm_app import compare, render, state, widgets
from ocm_app.runs import RunOptions
from ocm_engine import SENSORS
from ocm_engine.resolution import RESOLUTION_GUIDANCE

st.title("Resolution & sensors")

st.markdown(
    "Coarser inference is faster (a 20 m grid has 4x fewer pixels than 10 m) but loses small clouds, "
    "thin shadows and crisp edges. Run the same scene at several resolutions and see what you trade.")
st.caption(RESOLUTION_GUIDANCE)

spec, info = widgets.require_scene()

source = info.resolution_m
candidates = compare.resolution_candidates(source)
chosen = st.multiselect("Resolutions to compare (m)", candidates, default=compare.default_resolutions(candidates),
                        key="res.choice", format_func=lambda r: "source grid" if r is None else f"{r:g} m")
stored = state.options()
if st.button("Run at every resolution", type="primary", key="res.button", icon=":material/play_arrow:"):
    ensemble = widgets.ensemble_or_error()
    if ensemble is not None and chosen:
        results = []
        for resolution in sorted(chosen, key=lambda r: -1 if r is None else r):
            opts = RunOptions(resolution, stored.patch_px, stored.overlap_px, stored.batch_size)
            label = "Source grid" if resolution is None else f"{resolution:g} m"
            result = widgets.run_scene(spec, opts, ensemble, f"{label}:", return_probabilities=False)
            if result is None:
                break
            results.append(result)
        else:
            state.set_result("resolution", results)

results = state.result("resolution")
if not results:
    st.info("Choose resolutions and press **Run at every resolution**.")
else:
    table, images = compare.resolution_table(results)
    cols = st.columns(len(results))
    for col, result, image in zip(cols, results, images, strict=True):
        res = f"{result.resolution_m:g} m" if math.isfinite(result.resolution_m) else "source"
        col.image(render.class_rgba(*image), width="stretch",
                  caption=f"{res}: {result.shape[1]} x {result.shape[0]} px, {result.seconds:.2f} s, "
                          f"cloud {result.prediction.cloud_percent:.1f} %")
    st.subheader("Agreement with the finest run")
    st.dataframe(table, hide_index=True, key="res.table", on_select="ignore")
    st.markdown(compare.resolution_summary(results, table))

with st.expander("Sensor presets: which bands are Red, Green and NIR"):
    st.dataframe(
        [{"preset": k, "sensor": p.label, "bands (R, G, NIR)": ", ".join(str(b) for b in p.band_names),
          "positions (1-based)": ", ".join(str(b) for b in p.band_indices),
          "native m": p.native_resolution_m, "nodata": p.nodata, "notes": p.notes} for k, p in SENSORS.items()],
        hide_index=True, key="res.sensors", on_select="ignore")
