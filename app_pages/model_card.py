"""Model card: the shipped default model's card, rendered from ocm_engine/weights/MODEL_CARD.md."""

import streamlit as st

from ocm_app import model_info
from ocm_engine.errors import OcmError

facts = model_info.default_model()
st.caption(f"{facts.name} v{facts.version} · `ocm_engine/weights/{facts.card.name}`")
try:
    st.markdown(model_info.card_text(facts))
except OcmError as err:
    st.error(err.describe("app"))
