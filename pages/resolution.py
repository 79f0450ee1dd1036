import streamlit as st

st.title("resolution")
