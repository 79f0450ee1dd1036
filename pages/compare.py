"""Compare / uncertainty: member A vs member B vs the ensemble, disagreement and entropy maps."""

import streamlit as st

from ocm_app import compare, config, maps, render, resources, state, widgets
from ocm_app.runs import RunOptions

st.title("Compare / uncertainty")

st.markdown(
    "The default model is an ensemble: each member predicts, their raw outputs are averaged. Where the "
    "members **disagree**, or where the ensemble's class probabilities are **spread out** (high entropy), "
    "the mask deserves a second look.")

spec, info = widgets.require_scene()
resolution = widgets.resolution_slider(info, key="cmp.resolution")

if st.button("Compare members", type="primary", key="cmp.button", icon=":material/play_arrow:"):
    ensemble = widgets.ensemble_or_error()
    if ensemble is not None:
        stored = state.options()
        opts = RunOptions(resolution, stored.patch_px, stored.overlap_px, stored.batch_size)
        members = resources.member_ensembles(ensemble)
        runs = []
        for label, model in zip(compare.member_labels(ensemble), members, strict=True):
            run = widgets.run_scene(spec, opts, model, f"Member {label}:", return_probabilities=False)
            if run is None:
                break
            runs.append(run)
        else:
            full = widgets.run_scene(spec, opts, ensemble, "Ensemble:")
            if full is not None:
                result = compare.compare_members([r.prediction for r in runs], full.prediction,
                                                 compare.member_labels(ensemble))
                state.set_result("compare", (full, result))

stored_result = state.result("compare")
if stored_result is None:
    st.info("Press **Compare members** to run each member and the ensemble.")
    st.stop()
full, result = stored_result
if len(result.names) < 2:
    st.warning("This model has a single member: there is nothing to disagree with. The entropy map still "
               "shows where the model is unsure.")

summary = result.summary()
cols = st.columns(3)
cols[0].metric("Members disagree", f"{summary['members disagree %']:.1f} %")
cols[1].metric("Uncertain pixels (entropy > 0.5)", f"{summary['uncertain (entropy > 0.5) %']:.1f} %")
cols[2].metric("Mean entropy", f"{summary['mean entropy']:.3f}")

valid = result.ensemble.valid
cols = st.columns(len(result.members) + 1)
for col, name, pred in zip(cols, result.names, result.members, strict=False):
    col.image(render.class_rgba(pred.classes, valid), width="stretch",
              caption=f"Member {name}: agrees with the ensemble on {summary[f'{name} agrees with ensemble %']:.1f} %")
cols[-1].image(render.class_rgba(result.ensemble.classes, valid), width="stretch", caption="Ensemble")
c1, c2 = st.columns(2)
c1.image(render.mask_rgba(result.disagreement, valid), width="stretch",
         caption="Disagreement: magenta where the members' classes differ")
c2.image(render.ramp_rgba(result.entropy, valid, render.ENTROPY_CMAP), width="stretch",
         caption="Entropy of the ensemble's probabilities: bright = uncertain")

st.subheader("Where to look")
display = resources.display_read(full.spec, config.DISPLAY_MAX_PX)
shape = display.shape[1:]
classes = render.resize_to(result.ensemble.classes, shape)
small_valid = render.resize_to(valid, shape)
layers = [
    maps.Layer("True colour", render.composite(display, (0, 1, 2)), smooth=True),
    maps.Layer("Ensemble mask", render.class_rgba(classes, small_valid, clear_transparent=True), opacity=0.6),
    maps.Layer("Entropy", render.ramp_rgba(render.resize_to(result.entropy, shape), small_valid,
                                           render.ENTROPY_CMAP), opacity=0.8, show=False),
    maps.Layer("Disagreement", render.mask_rgba(render.resize_to(result.disagreement, shape), small_valid)),
]
legend = maps.Legend(items=(("Members disagree", "rgb(255,0,255)"),),
                     colorbars=(maps.Colorbar("Entropy (uncertainty)", render.ENTROPY_CMAP),), title="Classes")
maps.show_map(maps.scene_map(layers, maps.georef_of(full.transform, full.shape, full.crs), legend=legend,
                             basemap=state.basemap()))
st.dataframe(result.hotspots(), hide_index=True, key="cmp.hotspots", on_select="ignore")
st.caption("Cells of an 8 x 8 split of the scene with the highest mean entropy: start the QA there.")
