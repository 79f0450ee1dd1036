"""The shared sidebar (rendered by ``app.py``): model, device, precision, basemap."""

from __future__ import annotations

import streamlit as st

from ocm_app import resources, state, weights_panel


def sidebar() -> None:
    """The shared sidebar: model, device, precision, basemap (rendered by ``app.py``)."""
    with st.sidebar:
        st.subheader("Model")
        weights_panel.render()  # picker, model line, official-weights download (issue 18)
        col1, col2 = st.columns(2)
        col1.selectbox("Device", resources.devices(), key=state.DEVICE)
        col2.selectbox("Precision", ["auto", "fp32", "bf16", "fp16"], key=state.DTYPE)
        st.subheader("Map")
        st.toggle("Basemap (needs internet)", key=state.BASEMAP,
                  help="Maps work offline without it: every layer is the app's own rendering.")
        st.caption("OCM Studio: sensor-agnostic cloud and cloud-shadow masking. Classes: clear, thick "
                   "cloud, thin cloud, cloud shadow.")
