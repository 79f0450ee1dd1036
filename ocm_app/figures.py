"""Matplotlib figures for the teaching pages; every builder returns a ``Figure``.

Arrays are ``(bands, height, width)`` with bands Red, Green, NIR.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

from ocm_app.lab import NORMALIZATIONS, PRODUCTS, LabResult
from ocm_app.render import plain_number

CHANNELS = ("Red", "Green", "NIR")
CHANNEL_COLOURS = ("#d62728", "#2ca02c", "#7f3fbf")
PRODUCT_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c")


def channels_figure(raw: np.ndarray, normalized: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_],
                    product: str) -> Figure:
    """Per channel: the raw patch and its dynamic z-score, each with a histogram (4 x 3 grid)."""
    fig = Figure(figsize=(10, 9), layout="constrained")
    axes = fig.subplots(4, 3)
    for c, name in enumerate(CHANNELS):
        for row, (data, label) in enumerate(((raw[c], "raw"), (normalized[c], "z-score"))):
            ax_img, ax_hist = axes[2 * row, c], axes[2 * row + 1, c]
            shown = np.where(valid, data.astype(np.float32), np.nan)
            ax_img.imshow(shown, cmap="gray")
            ax_img.set_title(f"{name}, {label}", fontsize=9)
            ax_img.set_axis_off()
            values = data[valid].astype(np.float64)
            ax_hist.hist(values, bins=40, color=CHANNEL_COLOURS[c])
            ax_hist.tick_params(labelsize=7)
            if values.size:
                ax_hist.set_title(f"mean {plain_number(values.mean())}, std {plain_number(values.std())}",
                                  fontsize=8)
                if row == 0 and data.dtype == np.uint8 and (values >= 255).mean() > 0.002:
                    ax_hist.annotate("clipped at 255", xy=(255, 0), xytext=(0.55, 0.8), textcoords="axes fraction",
                                     fontsize=7, arrowprops={"arrowstyle": "->", "lw": 0.8})
    fig.suptitle(f"{product}: raw values (rows 1-2) and after the dynamic z-score (rows 3-4)", fontsize=10)
    return fig


def products_figure(lab: LabResult) -> Figure:
    """Histograms of the three products: raw (own axes), dynamic z-score, global normalization."""
    fig = Figure(figsize=(11, 6.5), layout="constrained")
    axes = fig.subplots(2, 3)
    valid = lab.valid
    for i, product in enumerate(PRODUCTS):
        ax = axes[0, i]
        raw = lab.products[product]
        for c, name in enumerate(CHANNELS):
            ax.hist(raw[c][valid].astype(np.float64), bins=60, histtype="step", color=CHANNEL_COLOURS[c],
                    label=name)
        ax.set_title(f"raw: {product}", fontsize=9)
        ax.tick_params(labelsize=7)
        if raw.dtype == np.uint8 and (raw[:, valid] == 255).any():
            ax.annotate("spike: bright cloud\nclipped at 255", xy=(255, 0), xytext=(0.45, 0.75),
                        textcoords="axes fraction", fontsize=7, arrowprops={"arrowstyle": "->", "lw": 0.8})
        if i == 0:
            ax.legend(fontsize=7)
    for j, norm in enumerate(NORMALIZATIONS):
        ax = axes[1, j]
        for i, product in enumerate(PRODUCTS):
            values = lab.normalized[(norm, product)][2][valid].astype(np.float64)
            ax.hist(values, bins=60, histtype="step", linewidth=1.6 - 0.4 * i, color=PRODUCT_COLOURS[i],
                    label=product)
        ax.set_title(f"NIR after {norm.lower()}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    axes[1, 2].set_axis_off()
    axes[1, 2].text(0.0, 0.5,
                    "Dynamic z-score: the three products\nland on the same numbers (curves overlap).\n\n"
                    "Global normalization: fixed statistics\nfrom DN data squash reflectance and\n"
                    "8-bit values into a narrow, wrong range.", fontsize=9, va="center")
    fig.suptitle("The same patch from three 'sensors'", fontsize=10)
    return fig
