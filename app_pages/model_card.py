"""Model card: the shipped default model's card, rendered from ocm_engine/weights/MODEL_CARD.md."""

import streamlit as st

from ocm_app import model_info

facts = model_info.default_model()
st.caption(f"{facts.name} v{facts.version} · `ocm_engine/weights/{facts.card.name}`")
try:
    st.markdown(facts.card.read_text(encoding="utf-8"))
except OSError:
    st.error(f"The model card `{facts.card.name}` is missing from this installation.")
