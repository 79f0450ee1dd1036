"""Compare / uncertainty: member A vs member B vs the ensemble, disagreement and entropy maps."""

import streamlit as st

from ocm_app import compare, config, map_layers, maps, render, resources, run_controls, scene_picker, state

st.title("Compare / uncertainty")

st.markdown(
    "The default model is an ensemble: each member predicts, their raw outputs are averaged. Where the "
    "members **disagree**, or where the ensemble's class probabilities are **spread out** (high entropy), "
    "the mask deserves a second look.")

spec, info = scene_picker.require_scene()
resolution = run_controls.resolution_slider(info, key="cmp.resolution")

if st.button("Compare members", type="primary", key="cmp.button", icon=":material/play_arrow:"):
    ensemble = run_controls.ensemble_or_error()
    if ensemble is not None:
        opts = state.options().with_resolution(resolution)
        # One pass: the ensemble's logits are the mean of the members', so every member's map comes with it.
        full = run_controls.run_with_progress(spec, opts, ensemble, "Ensemble and members:", return_members=True)
        if full is not None:
            state.set_compare_run(compare.CompareRun(
                full, compare.compare_members(full.prediction, compare.member_labels(ensemble))))

stored = state.compare_run()
if stored is None:
    st.info("Press **Compare members** to run the ensemble and see each member's mask.")
    st.stop()
full, result = stored.run, stored.comparison
if len(result.names) < 2:
    st.warning("This model has a single member: there is nothing to disagree with. The entropy map still "
               "shows where the model is unsure.")

summary = result.summary()
threshold = compare.UNCERTAIN_ENTROPY
cols = st.columns(3)
cols[0].metric("Members disagree", f"{summary.disagree_percent:.1f} %",
               help="Share of the scene's valid pixels where the members' classes differ.")
cols[1].metric(f"Uncertain pixels (entropy > {threshold:g})", f"{summary.uncertain_percent:.1f} %",
               help="Share of the scene's valid pixels whose ensemble probabilities have a normalised entropy "
                    f"above {threshold:g} (= {threshold * compare.MAX_ENTROPY_BITS:g} bit: about as unsure as a "
                    "coin toss between two classes).")
cols[2].metric("Mean entropy", f"{summary.mean_entropy:.2f} of 1 "
               f"({summary.mean_entropy * compare.MAX_ENTROPY_BITS:.2f} bits)",
               help="Normalised Shannon entropy: 0 = one class certain, 1 = all four classes equally likely "
                    f"(log2 4 = {compare.MAX_ENTROPY_BITS:g} bits).")
st.caption(
    f"How to read these: entropy is measured on the ensemble's averaged class probabilities, per pixel, on a 0-1 "
    f"scale (x {compare.MAX_ENTROPY_BITS:g} = bits). 'Uncertain' means above {threshold:g}, as a share of the "
    f"scene's valid pixels; {summary.very_uncertain_percent:.1f} % are above {compare.VERY_UNCERTAIN_ENTROPY:g} "
    "(close to a three-way tie). A well-trained model is uncertain mainly at cloud edges, thin cloud and shadow "
    "borders; high shares over the whole scene mean the model itself is weak here (see its card), not that the "
    "scene is hard.")

valid = result.ensemble.valid
st.markdown(render.class_legend_markdown(), unsafe_allow_html=True)
cols = st.columns(len(result.members) + 2)
display = resources.display_read(full.spec, config.DISPLAY_MAX_PX)
cols[0].image(render.true_colour(display), width="stretch", caption=f"{full.spec.label}: true colour")
for col, name, member_classes, agrees in zip(cols[1:], result.names, result.members, summary.member_agreement,
                                             strict=False):
    col.image(render.class_rgba(member_classes, valid), width="stretch",
              caption=f"Member {name}: agrees with the ensemble on {agrees:.1f} %")
cols[-1].image(render.class_rgba(result.ensemble.classes, valid), width="stretch", caption="Ensemble")
c1, c2 = st.columns(2)
c1.image(render.disagreement_rgba(result.disagreement, valid), width="stretch",
         caption="Disagreement: vermillion where the members' classes differ, grey where they agree")
c2.image(render.ramp_rgba(result.entropy, valid, render.ENTROPY_CMAP), width="stretch",
         caption="Entropy of the ensemble's probabilities, 0 (black, certain) to 1 (pale yellow, 2 bits)")

st.subheader("Where to look")
hotspots = result.hotspots()
drawn = map_layers.compare_layers(display, result, hotspots)
maps.show_map(maps.scene_map(list(drawn.layers), maps.georef_of(full.transform, full.shape, full.crs),
                             legend=drawn.legend, basemap=state.basemap(), state_key=f"compare:{full.spec.key}",
                             boxes=drawn.boxes))
st.dataframe([{"#": i, "cell (row, col)": f"{spot.cell[0]}, {spot.cell[1]}", "rows": f"{spot.rows[0]}-{spot.rows[1]}",
               "cols": f"{spot.cols[0]}-{spot.cols[1]}", "mean entropy": spot.mean_entropy,
               "members disagree %": spot.disagree_percent} for i, spot in enumerate(hotspots, start=1)],
             hide_index=True, key="cmp.hotspots", on_select="ignore")
st.caption("The cells (of an 8 x 8 split of the scene) with the highest mean entropy, outlined and numbered on "
           "the map: start the QA there.")
