"""Normalization lab: why the dynamic z-score makes the models sensor-agnostic."""

import streamlit as st

from ocm_app import (
    config,
    figures,
    lab,
    lab_picker,
    map_layers,
    maps,
    render,
    resources,
    run_controls,
    samples,
    scene_picker,
    scenes,
    state,
)
from ocm_engine.errors import OcmError

st.title("Normalization lab")

st.markdown(
    "Sensors deliver the same ground in different units: DN scaled to 0-10000, reflectance 0-1, "
    "8-bit images. The models never see those units: every patch is **z-scored by its own valid "
    "pixels, channel by channel**, and only then goes into the network:")
st.latex(r"z_{c}(x) \;=\; \frac{v_{c}(x) - \mu_{c}}{\sigma_{c}}, \qquad "
         r"\mu_{c},\ \sigma_{c} = \text{mean and standard deviation of channel } c "
         r"\text{ over the patch's valid pixels}")
st.markdown("Multiply a product by any gain and add any offset: μ and σ change the same way, so z does not. "
            "Pick a patch and see what that does, and what one global normalization would do instead.")

spec, info = scene_picker.require_scene()
try:
    scene = resources.inference_read(spec, None)
except OcmError as err:
    st.error(scenes.describe_error(err, spec))
    st.stop()
shape = scene.shape

sizes, default_size = lab.patch_sizes(shape)
size = st.select_slider("Patch size (px)", sizes, value=default_size, key="lab.size")
overview = render.true_colour(resources.display_read(spec, config.PREVIEW_MAX_PX))
centre = lab_picker.patch_picker(overview, shape, size, key="lab.patch")
window = lab.fit_window(shape, centre, size)

ensemble = run_controls.ensemble_or_error()
if ensemble is None:
    st.stop()
result = lab.run_lab(scene.data, scene.nodata, window, ensemble)
patch_rgb = lab.patch_false_colour(result.products[lab.PRODUCTS[0]], result.valid)

st.subheader("1. One patch, channel by channel")
product = st.radio("Product", lab.PRODUCTS, horizontal=True, key="lab.product")
st.pyplot(figures.channels_figure(result.products[product],
                                  result.normalized[(lab.NORMALIZATIONS[0], product)], result.valid, product))
st.caption("After the z-score every channel has mean 0 and standard deviation 1 over the patch's valid "
           "pixels, whatever the units were. Nodata pixels are set to 0 and ignored by the statistics.")
if product == lab.PRODUCTS[2]:
    st.info(f"**The spike at 255** in the 8-bit histograms: this product stores reflectance x "
            f"{lab.BYTE_GAIN:g} x 255 and cuts everything brighter at 255, so bright cloud piles up in the "
            f"last bin ({render.plain_number(result.clipped_percent())} % of this patch's pixels). Those "
            "values are lost before any normalization; the z-score cannot bring them back, it only "
            "rescales what is left.", icon=":material/info:")

st.subheader("2. Three 'sensors', one representation")
st.pyplot(figures.products_figure(result))
dyn, glob = lab.NORMALIZATIONS
tol = render.plain_number(lab.MATCH_TOLERANCE)
lossless = lab.PRODUCTS[:2]
c1, c2, c3, c4 = st.columns(4)
c1.metric("Dynamic z-score: DN = reflectance", f"{render.plain_number(result.matching_percent(dyn, lossless))} %",
          help="Share of pixel values (all channels) where the two lossless products give the same "
               f"normalized value (within {tol} standard deviations).")
c2.metric("Dynamic z-score: all three", f"{render.plain_number(result.matching_percent(dyn))} %",
          help="The same with the 8-bit product included.")
c3.metric("8-bit pixels clipped at 255", f"{render.plain_number(result.clipped_percent())} %")
c4.metric("Global normalization: all three", f"{render.plain_number(result.matching_percent(glob))} %")
st.caption(f"'Match' = the normalized values differ by less than {tol} standard deviations, so the model "
           "receives the same numbers. With the dynamic z-score a lossless change of units (DN vs reflectance) "
           "matches everywhere; the 8-bit product matches except where it clipped bright cloud at 255 (and its "
           "statistics shift a little with them). That loss happened when the product was made, not in the "
           "normalization. Global normalization: per-channel mean "
           f"{', '.join(render.plain_number(v) for v in result.global_stats[0])} and std "
           f"{', '.join(render.plain_number(v) for v in result.global_stats[1])} computed once on the DN "
           "product (as a model trained on one sensor would); reflectance and 8-bit inputs then land far "
           "from the numbers the model was trained on, and nothing matches.")

st.subheader("3. What the model predicts")
st.markdown(render.class_legend_markdown(), unsafe_allow_html=True)
for norm in lab.NORMALIZATIONS:
    agree = result.agreement(norm)
    cols = st.columns(len(lab.PRODUCTS) + 1)
    cols[0].image(patch_rgb, width="stretch", caption="The patch (false colour: NIR, Red, Green)")
    for col, name in zip(cols[1:], lab.PRODUCTS, strict=True):
        col.image(render.class_rgba(result.classes[(norm, name)], result.valid), width="stretch",
                  caption=f"{norm} · {name} · agrees with DN on {render.plain_number(agree[name])} %")
st.caption("With the dynamic z-score the three products give the same mask; with a global normalization the "
           "mask depends on the units the sensor happened to use.")

st.subheader("4. The patch on the map: raw and z-scored")
layers, georef = map_layers.patch_layers(result, window, scene.transform, scene.crs,
                                         samples.nominal_pixel_size_m(spec))
maps.show_map(maps.scene_map(layers, georef, legend=maps.Legend(title="Classes"), basemap=state.basemap(),
                             height=460, state_key=f"lab:{spec.key}:{window.top}:{window.left}:{window.size}"),
              height=460)
st.caption("Switch the layers on the map: the raw patch keeps the product's units (dark where values are "
           "small), the z-scored patch spreads every channel around its own mean, which is all the model sees.")


st.subheader("5. What per-patch statistics cost")
st.markdown(
    "The z-score buys sensor independence with a price: **μ and σ come from whatever shares the patch**. "
    "Everything below is the normalized values themselves, the numbers the model receives, so it holds "
    "whatever model runs on them.")
lesson = lab.cost_lesson(scene.data, scene.nodata, window)
st.markdown("**a. The same ground, other neighbours.** The ground in the cyan box keeps its pixel values, but "
            "its z-scores change when bright cloud enters the patch around it: the cloud raises μ and σ, so "
            "the same ground becomes darker and flatter in z.")
if lesson.context is None:
    st.info("The patch covers the whole scene, so there is no other patch holding the same ground: choose a "
            "smaller patch size.", icon=":material/info:")
else:
    ctx = lesson.context
    st.pyplot(figures.context_figure(ctx, lesson.refl, lesson.valid))
    shift = ctx.mean_shift()
    k1, k2, k3 = st.columns(3)
    for col, name, value in zip((k1, k2, k3), figures.CHANNELS, shift, strict=True):
        col.metric(f"{name}: mean z of the same pixels, B minus A", f"{value:+.2f} std")
    st.caption(f"Patch A ({render.plain_number(ctx.calm.bright_percent)} % cloud-like pixels) and patch B "
               f"({render.plain_number(ctx.cloudy.bright_percent)} %) both hold the box; 'cloud-like' = "
               f"Red, Green and NIR all at least {lab.BRIGHT_REFLECTANCE:g} on the lab's reflectance scale "
               "(the scene scaled so its 99.5th percentile is 0.5). A model that learned 'clear ground sits "
               "near z = 0' sees this ground lower when clouds share its patch: bright land next to cloud can "
               "then pass for thin cloud, or lose it.")
flat = lesson.flat
st.markdown("**b. No contrast left.** A patch that is all cloud, all water or all one field has a tiny σ. "
            "The z-score divides by it anyway, so sensor noise and faint texture are stretched to the same "
            "±1-2 std as real structure in a normal patch.")
st.pyplot(figures.flat_figure(flat, lesson.reference_refl, lesson.reference_valid, lesson.reference_z))
m1, m2, m3 = st.columns(3)
channel = figures.CHANNELS[flat.channel]
m1.metric(f"{channel} std, flattest patch", render.plain_number(flat.stats.std[flat.channel]),
          help="Reflectance on the lab's scale.")
m2.metric(f"{channel} std, your patch", render.plain_number(flat.reference.std[flat.channel]))
m3.metric("Amplification", f"{render.plain_number(flat.amplification())}x",
          help="How much more a reflectance step counts in z in the flattest patch than in yours.")
top, left = flat.stats.window.top, flat.stats.window.left
st.caption(f"The flattest {flat.stats.window.size} px patch of this scene starts at row {top}, column {left} "
           f"(searched on a half-patch grid; cloud-like pixels {render.plain_number(flat.stats.bright_percent)} %). "
           "Larger patches make both costs smaller: more ground dilutes a cloud's weight in μ and σ, and "
           "a flat patch is rarer.")
