"""Normalization lab: why the dynamic z-score makes the models sensor-agnostic."""

import streamlit as st

from ocm_app import config, figures, lab, render, resources, scenes, widgets
from ocm_engine.errors import OcmError

st.title("Normalization lab")

st.markdown(
    "Sensors deliver the same ground in different units: DN scaled to 0-10000, reflectance 0-1, "
    "8-bit images. The models never see those units: every patch is **z-scored by its own valid "
    "pixels, channel by channel** (subtract the patch's mean, divide by its standard deviation). "
    "Pick a patch and see what that does, and what a single global normalization would do instead.")

spec, info = widgets.require_scene()
try:
    resolution = scenes.inference_resolution(info, None)
    shape = scenes.inference_shape(info, resolution)
    scene, _transform, _crs, nodata = resources.inference_read(spec, shape)
except OcmError as err:
    st.error(str(err))
    st.stop()

sizes = [s for s in lab.PATCH_SIZES if s <= min(shape)] or [32]
size = st.select_slider("Patch size (px)", sizes, value=min(256, sizes[-1]) if 256 in sizes else sizes[-1],
                        key="lab.size")
overview = render.composite(resources.display_read(spec, config.PREVIEW_MAX_PX), (0, 1, 2))
centre = widgets.patch_picker(overview, shape, size, key="lab.patch")
window = lab.fit_window(shape, centre, size)

ensemble = widgets.ensemble_or_error()
if ensemble is None:
    st.stop()
result = lab.run_lab(scene, nodata, window, ensemble)

st.subheader("1. One patch, channel by channel")
product = st.radio("Product", lab.PRODUCTS, horizontal=True, key="lab.product")
st.pyplot(figures.channels_figure(result.products[product],
                                  result.normalized[(lab.NORMALIZATIONS[0], product)], result.valid, product))
st.caption("After the z-score every channel has mean 0 and standard deviation 1 over the patch's valid "
           "pixels, whatever the units were. Nodata pixels are set to 0 and ignored by the statistics.")

st.subheader("2. Three 'sensors', one representation")
st.pyplot(figures.products_figure(result))
dyn, glob = lab.NORMALIZATIONS
c1, c2 = st.columns(2)
c1.metric("Largest difference between products after the dynamic z-score", f"{result.spread(dyn):.3f}")
c2.metric("... after one global normalization", f"{result.spread(glob):.3f}")
st.caption(f"Global normalization: per-channel mean {', '.join(f'{v:.0f}' for v in result.global_stats[0])} and "
           f"std {', '.join(f'{v:.0f}' for v in result.global_stats[1])} computed once on the DN product "
           "(as a model trained on one sensor would). Reflectance and 8-bit inputs are then far from the "
           "numbers the model was trained on.")

st.subheader("3. What the model predicts")
for norm in lab.NORMALIZATIONS:
    agree = result.agreement(norm)
    cols = st.columns(len(lab.PRODUCTS))
    for col, name in zip(cols, lab.PRODUCTS, strict=True):
        col.image(render.class_rgba(result.classes[(norm, name)], result.valid), width="stretch",
                  caption=f"{norm} · {name} · agrees with DN on {agree[name]:.1f} %")
st.caption("Colours: black clear, orange thick cloud, green thin cloud, red cloud shadow. With the dynamic "
           "z-score the three products give the same mask; with a global normalization the mask depends on "
           "the units the sensor happened to use.")
