"""OCM Studio: the Streamlit app's router (page config, navigation, shared sidebar).

Run with ``streamlit run app.py`` (after ``npm ci`` so Leaflet is served by the app itself).
"""

import streamlit as st

from ocm_app import render, widgets

st.set_page_config(page_title="OCM Studio", page_icon=render.app_icon(), layout="wide")

RUN = "pages/run.py"
PAGES = [
    st.Page(RUN, title="Run", icon=":material/play_arrow:", default=True),
    st.Page("pages/lab.py", title="Normalization lab", icon=":material/science:", url_path="normalization"),
    st.Page("pages/resolution.py", title="Resolution & sensors", icon=":material/grid_on:",
            url_path="resolution-sensors"),
    st.Page("pages/compare.py", title="Compare / uncertainty", icon=":material/compare:", url_path="uncertainty"),
    st.Page("pages/batch.py", title="Batch QA", icon=":material/table_view:", url_path="batch-qa"),
    # Hidden routes: the default page is served at "/" only (Streamlit ignores its url_path), so the
    # Run page's own name "/mask" is a second, hidden route to the same script; the model card is
    # linked from the model line.
    st.Page(RUN, title="Run", icon=":material/play_arrow:", url_path="mask", visibility="hidden"),
    st.Page("pages/model_card.py", title="Model card", icon=":material/description:", url_path="model-card",
            visibility="hidden"),
]

# url_path differs from the file stems on purpose: Streamlit 1.67 serves a deep link such as
# /lab straight from pages/lab.py (legacy pages/ discovery), skipping this router.
page = st.navigation(PAGES)
widgets.sidebar()
page.run()
