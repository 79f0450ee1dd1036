"""The Run page's band mapping: preset or hand mapping, and the notice beside the preview.

Every question about bands is answered by one cached :func:`ocm_app.resources.scene_layout`
per spec (the engine's resolver, run once on the files' headers). A guessed band order is
never silent: :func:`mapping_notice` shows the mapping used and offers the band orders of
the presets that fit the band count, each one click away.
"""

from __future__ import annotations

import streamlit as st

from ocm_app import resources, scenes, state
from ocm_engine import SENSORS
from ocm_engine.io.mapping import ROLES, BandMapping
from ocm_engine.io.scene import SceneLayout

MANUAL = "manual"
NOTICE_KEY = "run.band_notice"


def preset_key(spec: scenes.SceneSpec) -> str:
    """The session key of the Run page's preset selectbox for a scene."""
    return f"run.sensor.{spec.key}"


def choose_mapping(spec: scenes.SceneSpec, layout: SceneLayout) -> tuple[scenes.SceneSpec, SceneLayout]:
    """The preset selectbox (presets that fit the band count first) and, by hand, one selectbox per role.

    Args:
        spec: The scene as chosen (with the mapping remembered for it).
        layout: Its cached layout.

    Returns:
        The spec with the chosen mapping, and its layout (``mapping_error`` when it does not fit).
    """
    fitting = [k for k in layout.presets if k in SENSORS]
    presets = [MANUAL, *fitting, *(k for k in SENSORS if k not in fitting)]
    key = preset_key(spec)
    if st.session_state.get(key) not in presets:
        st.session_state[key] = spec.sensor if spec.sensor in SENSORS and spec.mapping is None else MANUAL
    count = layout.file_count if layout.file_count > 1 else layout.band_count
    unit = "files" if layout.file_count > 1 else "bands"
    preset = st.selectbox(
        "Sensor preset", presets, key=key,
        format_func=lambda k: ("Map bands by hand (starts from the file's own mapping)" if k == MANUAL
                               else SENSORS[k].label + (f" · fits {count} {unit}" if k in fitting else "")))
    if preset != MANUAL:
        chosen = spec.with_mapping(preset, None)
        st.caption(SENSORS[preset].notes)
    else:
        chosen = _by_hand(spec.with_mapping(None, spec.mapping))
    state.set_mapping(spec.key, chosen.sensor, chosen.mapping)
    return chosen, resources.scene_layout(chosen)


def _by_hand(base: scenes.SceneSpec) -> scenes.SceneSpec:
    """One selectbox per role, starting from the mapping the engine resolves without a preset."""
    layout = resources.scene_layout(base)
    labels = layout.band_labels
    start = layout.mapping.numbers if layout.mapping is not None else (1, min(2, len(labels)), None, None)
    options = list(range(1, len(labels) + 1))
    picks: list[int | None] = []
    for role, default in zip(ROLES, start, strict=True):
        opts: list[int | None] = list(options) if role in ("Red", "Green") else [*options, None]
        name = "Blue (display only)" if role == "Blue" else role
        picks.append(st.selectbox(name, opts, index=opts.index(default) if default in opts else 0,
                                  key=f"run.{name}.{base.key}",
                                  format_func=lambda v: "none" if v is None else labels[v - 1]))
    if layout.mapping is not None and tuple(picks) == layout.mapping.numbers:
        return base  # unchanged: the engine's own mapping (a guess stays flagged as one)
    mapping = BandMapping(int(picks[0] or 1), int(picks[1] or 1), picks[2], picks[3],
                          "file" if base.multi_file else "band")
    return base.with_mapping(None, mapping)


def _order(mapping: BandMapping, count: int) -> str:
    """The band order a mapping implies, e.g. ``"Blue, Green, Red, NIR"`` (``"-"`` for unused bands)."""
    by_number = {n: role for role, n in zip(ROLES, mapping.numbers, strict=True) if n is not None}
    return ", ".join(by_number.get(i, "other") for i in range(1, count + 1))


def mapping_notice(spec: scenes.SceneSpec, layout: SceneLayout) -> None:
    """Beside the preview: the mapping used; when guessed, a warning and one-click corrections."""
    mapping = layout.mapping
    with st.container(key=NOTICE_KEY):
        if mapping is None:
            st.caption(f"Bands used: {layout.mapping_text}")
            return
        if not mapping.guessed:
            st.caption(f"Bands used: {mapping.describe()}.")
            return
        what = "files" if mapping.unit == "file" else "bands"
        st.warning(f"**Band order guessed:** {mapping.describe(origin=False)}. Nothing in the {what} says "
                   "which is which (no band descriptions or colour interpretation). Check the true-colour "
                   "preview: vegetation green, water dark, clouds white.", icon=":material/help:")
        if mapping.unit != "band":
            st.caption("Map the files by hand on the left, or choose the sensor preset whose band names "
                       "the file names carry.")
            return
        count = layout.band_count
        offered: dict[tuple[int, int, int | None, int | None], list[str]] = {}
        for key in layout.presets:
            preset = SENSORS[key]
            if preset.stack_bands != count:
                continue
            numbers = (preset.red_band, preset.green_band, preset.nir_band, preset.blue_band)
            offered.setdefault(numbers, []).append(key)
        for numbers, found in offered.items():
            keys = sorted(found, key=lambda k: not k.startswith("generic"))  # a generic name for a plain order
            order = _order(BandMapping.of(numbers), count)
            labels = ", ".join(SENSORS[k].label for k in keys)
            same = numbers == mapping.numbers
            text = (f"Keep the {order} order ({SENSORS[keys[0]].label})" if same
                    else f"Use {order} order ({SENSORS[keys[0]].label})")
            st.button(text, key=f"run.bands.use.{keys[0]}", help=f"Fits: {labels}.",
                      on_click=_use_preset, args=(spec, keys[0]), type="secondary" if same else "primary",
                      icon=":material/check:" if same else ":material/swap_horiz:")


def _use_preset(spec: scenes.SceneSpec, key: str) -> None:
    """Button callback: choose a preset for the scene (before the rerun draws the selectbox)."""
    st.session_state[preset_key(spec)] = key
    state.set_mapping(spec.key, key, None)
