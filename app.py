"""OCM Studio: the Streamlit app's router (page config, navigation, shared sidebar).

Run with ``streamlit run app.py`` (after ``npm ci`` so Leaflet is served by the app itself).
"""

import streamlit as st

from ocm_app import render, sidebar

st.set_page_config(page_title="OCM Studio", page_icon=render.app_icon(), layout="wide")

RUN = "app_pages/run.py"
PAGES = [
    st.Page(RUN, title="Run", icon=":material/play_arrow:", default=True),
    st.Page("app_pages/lab.py", title="Normalization lab", icon=":material/science:", url_path="normalization"),
    st.Page("app_pages/resolution.py", title="Resolution & sensors", icon=":material/grid_on:",
            url_path="resolution-sensors"),
    st.Page("app_pages/compare.py", title="Compare / uncertainty", icon=":material/compare:", url_path="uncertainty"),
    st.Page("app_pages/batch.py", title="Batch QA", icon=":material/table_view:", url_path="batch-qa"),
    # Hidden routes: the default page is served at "/" only (Streamlit ignores its url_path), so the
    # Run page's own name "/mask" is a second, hidden route to the same script; the model card is
    # linked from the model line.
    st.Page(RUN, title="Run", icon=":material/play_arrow:", url_path="mask", visibility="hidden"),
    st.Page("app_pages/model_card.py", title="Model card", icon=":material/description:", url_path="model-card",
            visibility="hidden"),
]

# The pages live in app_pages/, never pages/: a pages/ folder beside app.py makes Streamlit (1.67)
# run the first session after a start with its legacy pages/ router (PagesManager.uses_pages_directory
# is set per process when the first session opens, and only this st.navigation call clears it), so a
# deep link such as /normalization opened a "Page not found" dialog over the right page.
# tests/app/test_routing.py guards both.
page = st.navigation(PAGES)
sidebar.sidebar()
page.run()
