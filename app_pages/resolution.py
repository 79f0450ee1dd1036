"""Resolution & sensors: the same scene at several inference resolutions, side by side."""

import math

import streamlit as st

from ocm_app import compare, config, render, resources, run_controls, scene_picker, state
from ocm_engine import SENSORS
from ocm_engine.resolution import RESOLUTION_GUIDANCE

st.title("Resolution & sensors")

st.markdown(
    "Coarser inference is faster (a 20 m grid has 4x fewer pixels than 10 m) but loses small clouds, "
    "thin shadows and crisp edges. Run the same scene at several resolutions and see what you trade.")
st.caption(RESOLUTION_GUIDANCE)

spec, info = scene_picker.require_scene()

source = info.resolution_m
candidates = compare.resolution_candidates(source)
reason = compare.no_choice_reason(candidates, source)
if reason:
    st.info(reason, icon=":material/info:")
# One choice per scene: the offered resolutions follow the scene (a 5 m scene starts at 10 m, Alberta's
# ~29 m at its own grid), and a choice made for another scene never leaks in half-filtered.
chosen = st.multiselect("Resolutions to compare (m)", candidates, default=compare.default_resolutions(candidates),
                        key=f"res.choice.{spec.key}", format_func=lambda r: compare.resolution_label(r, source),
                        disabled=len(candidates) == 1)
stored = state.options()
if st.button("Run at every resolution", type="primary", key="res.button", icon=":material/play_arrow:"):
    if not chosen:
        st.warning("Choose at least one resolution above (two or more to compare).", icon=":material/warning:")
    else:
        ensemble = run_controls.ensemble_or_error()
        if ensemble is not None:
            results = []
            for resolution in sorted(chosen, key=lambda r: -1 if r is None else r):
                opts = stored.with_resolution(resolution)
                label = compare.resolution_label(resolution, source)
                result = run_controls.run_with_progress(spec, opts, ensemble, f"{label}:", return_probabilities=False)
                if result is None:
                    break
                results.append(result)
            else:
                state.set_resolution_runs(results)

results = list(state.resolution_runs())
if not results:
    st.info("Choose resolutions and press **Run at every resolution**.")
else:
    shown = results[0].spec
    if shown.key != spec.key:
        st.info(f"The results below are for **{shown.label}**, the scene you ran before; press **Run at every "
                f"resolution** for {spec.label}.", icon=":material/history:")
    table, images = compare.resolution_table(results)
    st.markdown(render.class_legend_markdown(), unsafe_allow_html=True)
    cols = st.columns(len(results) + 1)
    display = resources.display_read(shown, config.PREVIEW_MAX_PX)
    cols[0].image(render.true_colour(display), width="stretch", caption=f"{shown.label}: true colour")
    for col, result, image in zip(cols[1:], results, images, strict=True):
        res = compare.resolution_label(result.resolution_m if math.isfinite(result.resolution_m) else None,
                                       result.source_resolution_m)
        col.image(render.class_rgba(*image), width="stretch",
                  caption=f"{res}: {result.shape[1]} x {result.shape[0]} px, {result.seconds:.2f} s, "
                          f"cloud {result.prediction.cloud_percent:.1f} %")
    if len(results) == 1:
        st.caption("One resolution was run: choose two or more to compare them.")
    st.subheader("Agreement with the finest run")
    st.dataframe(compare.table_rows(table), hide_index=True, key="res.table", on_select="ignore")
    st.markdown(compare.resolution_summary(results, table))

with st.expander("Sensor presets: which bands are Red, Green and NIR"):
    st.dataframe(
        [{"preset": k, "sensor": p.label, "bands (R, G, NIR)": ", ".join(str(b) for b in p.band_names),
          "positions (1-based)": ", ".join(str(b) for b in p.band_indices),
          "native m": p.native_resolution_m, "nodata": p.nodata, "notes": p.notes} for k, p in SENSORS.items()],
        hide_index=True, key="res.sensors", on_select="ignore")
