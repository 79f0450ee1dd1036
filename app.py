"""OCM Studio: the Streamlit app's router (page config, navigation, shared sidebar).

Run with ``streamlit run app.py`` (after ``npm ci`` so Leaflet is served by the app itself).
"""

import streamlit as st

from ocm_app import render, widgets

st.set_page_config(page_title="OCM Studio", page_icon=render.app_icon(), layout="wide")

PAGES = [
    st.Page("pages/run.py", title="Run", icon=":material/play_arrow:", url_path="mask", default=True),
    st.Page("pages/lab.py", title="Normalization lab", icon=":material/science:", url_path="normalization"),
    st.Page("pages/resolution.py", title="Resolution & sensors", icon=":material/grid_on:",
            url_path="resolution-sensors"),
    st.Page("pages/compare.py", title="Compare / uncertainty", icon=":material/compare:", url_path="uncertainty"),
    st.Page("pages/batch.py", title="Batch QA", icon=":material/table_view:", url_path="batch-qa"),
]

# url_path differs from the file stems on purpose: Streamlit 1.67 serves a deep link such as
# /lab straight from pages/lab.py (legacy pages/ discovery), skipping this router.
page = st.navigation(PAGES)
widgets.sidebar()
page.run()
