"""The normalization lab's patch picker (Streamlit + plotly): click the overview or use two sliders.

Kept apart from :mod:`ocm_app.lab`, the lab's Streamlit-free numerics.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st


def patch_picker(overview_rgba: object, shape: tuple[int, int], size_px: int, key: str) -> tuple[float, float]:
    """Choose a patch centre: click the overview (plotly) or use the two sliders.

    A click is read from the chart's state *before* the figure is drawn, so the rectangle moves
    in the same run; every handled click gives the chart a new key, so no stale selection is
    left to swallow the next click (clicking the same spot twice works too).

    Args:
        overview_rgba: RGBA overview image ``(h, w, 4)`` of the scene.
        shape: ``(height, width)`` of the inference grid.
        size_px: Patch side on the inference grid (for the rectangle drawn).
        key: Widget key prefix.

    Returns:
        The centre as fractions ``(down, across)`` of the scene.
    """
    down_key, across_key, count_key = f"{key}.down", f"{key}.across", f"{key}.clicks"
    rgba = np.asarray(overview_rgba)
    h, w = rgba.shape[:2]
    st.session_state.setdefault(down_key, 50)
    st.session_state.setdefault(across_key, 50)
    clicks = int(st.session_state.get(count_key, 0))
    event = st.session_state.get(f"{key}.overview.{clicks}")
    points = event.get("selection", {}).get("points", []) if isinstance(event, dict) else []
    if points:
        x, y = float(points[0].get("x", 0)), float(points[0].get("y", 0))
        st.session_state[across_key] = int(np.clip(round(100 * x / w), 0, 100))
        st.session_state[down_key] = int(np.clip(round(100 * y / h), 0, 100))
        clicks += 1
        st.session_state[count_key] = clicks
    down = float(st.session_state[down_key]) / 100
    across = float(st.session_state[across_key]) / 100
    half_h, half_w = 0.5 * size_px / shape[0] * h, 0.5 * size_px / shape[1] * w
    fig = go.Figure(go.Image(z=rgba[..., :3], hoverinfo="skip"))
    steps = 32
    ys, xs = np.meshgrid((np.arange(steps) + 0.5) * h / steps, (np.arange(steps) + 0.5) * w / steps, indexing="ij")
    fig.add_trace(go.Scatter(x=xs.ravel(), y=ys.ravel(), mode="markers", hoverinfo="none",
                             marker={"size": max(6, 400 // steps), "opacity": 0.01, "color": "white"}))
    cx = min(max(across * w, half_w), w - half_w)
    cy = min(max(down * h, half_h), h - half_h)
    fig.add_shape(type="rect", x0=cx - half_w, x1=cx + half_w, y0=cy - half_h, y1=cy + half_h,
                  line={"color": "yellow", "width": 3})
    fig.update_layout(height=320, margin={"l": 0, "r": 0, "t": 0, "b": 0}, showlegend=False,
                      dragmode=False, clickmode="event+select")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    st.plotly_chart(fig, on_select="rerun", selection_mode="points", key=f"{key}.overview.{clicks}",
                    config={"displayModeBar": False})
    c1, c2 = st.columns(2)
    across_pct = c1.slider("Patch centre, across (%)", 0, 100, key=across_key)
    down_pct = c2.slider("Patch centre, down (%)", 0, 100, key=down_key)
    st.caption(f"Click the image to move the patch (yellow), or use the sliders (grid {shape[1]} x {shape[0]} px).")
    return down_pct / 100, across_pct / 100
