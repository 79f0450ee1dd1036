"""Batch QA: many scenes at once, a sortable table of cloud and shadow cover with thumbnails."""

import streamlit as st

from ocm_app import batch, config, model_info, run_controls, samples, scenes, state
from ocm_engine import SENSORS
from ocm_engine.constants import VALIDATED_RESOLUTION_M
from ocm_engine.errors import OcmError
from ocm_engine.resolution import choices

st.title("Batch QA")

st.markdown("Mask every scene of a folder (or several uploads) and sort them by cloud or shadow cover.")

source = st.radio("Scenes from", ["Samples folder", "Uploads"], horizontal=True, key="batch.source")
root = config.samples_dir()
specs: list[scenes.SceneSpec] = []
refused: list[batch.QaRow] = []  # uploads the upload checks refused: reported as failed rows
if source == "Samples folder":
    folder = st.selectbox("Folder (inside the samples folder)", samples.sub_folders(root), key="batch.folder",
                          format_func=lambda f: f or "(all samples)")
    try:
        specs = samples.folder_scenes(root, folder) if root.is_dir() else [samples.builtin_scene()]
    except OcmError as err:  # a folder outside the samples folder (UnsafePathError), an unreadable scene
        st.error(scenes.describe_error(err))
        st.stop()
else:
    files = st.file_uploader("GeoTIFFs (one scene per file)", type=[s.lstrip(".") for s in config.UPLOAD_SUFFIXES],
                             accept_multiple_files=True, key="batch.uploads")
    sensor = st.selectbox("Sensor of the uploads", ["auto", *SENSORS], key="batch.sensor",
                          format_func=lambda k: "Guess from the band count" if k == "auto" else SENSORS[k].label)
    specs, refused = batch.upload_specs(files or [], state.session_dir(), None if sensor == "auto" else sensor)
    if refused:
        st.warning(f"{len(refused)} upload(s) refused and listed with the results: "
                   + ", ".join(r.scene for r in refused), icon=":material/warning:")
st.caption(f"{len(specs)} scene(s).")
fixed = st.toggle("Same resolution for every scene", value=False, key="batch.fixed")
# One resolution for scenes of any source: the engine's choices for a source at the validated 10 m.
allowed = choices(VALIDATED_RESOLUTION_M[0])
low_m, high_m = int(allowed.low_m or VALIDATED_RESOLUTION_M[0]), int(allowed.high_m)
resolution = float(st.slider("Resolution (m)", low_m, high_m, 30, 10, key="batch.resolution")) if fixed else None
st.caption(f"Without a fixed resolution each scene is inferred at its own resolution (at least {low_m} m).")

if st.button("Run batch", type="primary", key="batch.button", disabled=not specs, icon=":material/play_arrow:"):
    ensemble = run_controls.ensemble_or_error()
    if ensemble is not None:
        stored = state.options()
        opts = stored.with_resolution(resolution)
        # the training flag is about the default model (another model's training set is unknown here)
        default_model = state.model_choice()[0] == "default" and not config.model_override()
        trained = model_info.was_trained_on if default_model else None
        bar = st.progress(0.0, text="Batch...")
        rows = []
        for i, spec in enumerate(specs):
            bar.progress(i / len(specs), text=f"{i + 1}/{len(specs)}: {spec.label}")
            rows.append(batch.qa_row(spec, opts, ensemble, trained))
        bar.progress(1.0, text=f"Done: {len(specs)} scene(s).")
        state.set_batch_rows(rows + refused)

rows = state.batch_rows()
if not rows:
    st.info("Press **Run batch**.")
    st.stop()
done, failed = batch.table(rows), batch.failed(rows)
if done:
    st.dataframe(done, hide_index=True, key="batch.table", on_select="ignore", column_config=batch.COLUMNS,
                 column_order=batch.ORDER, row_height=60, width="stretch", height=min(38 + 60 * len(done), 640))
if failed:
    lines = "\n".join(f"- **{row.scene}**: {row.error}" for row in failed)
    st.error(f"{len(failed)} scene(s) could not be processed:\n\n{lines}", icon=":material/error:")
st.caption("Click a column header to sort (e.g. by cloud % to find the clearest scenes). 'trained on?' = yes: "
           "the default model was trained on that scene, so its mask there is a best case. 'bands used' is the "
           "mapping the engine read; a guess says so (correct it on the Run page).")
st.download_button("Download CSV", batch.to_csv(rows), "ocm_batch_qa.csv", "text/csv", key="batch.csv",
                   icon=":material/download:")
