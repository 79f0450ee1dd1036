"""Matplotlib figures for the teaching pages; every builder returns a ``Figure``.

Arrays are ``(bands, height, width)`` with bands Red, Green, NIR.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure

from ocm_app.lab import NORMALIZATIONS, PRODUCTS, REFLECTANCE_RANGE, Z_RANGE, ContextCase, FlatCase, LabResult
from ocm_app.render import plain_number

CHANNELS = ("Red", "Green", "NIR")
CHANNEL_COLOURS = ("#d62728", "#2ca02c", "#7f3fbf")
PRODUCT_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c")


#: The unit of each product's values (axis labels and colour bars).
PRODUCT_UNITS = {PRODUCTS[0]: "DN (reflectance x 10000)", PRODUCTS[1]: "reflectance (0-1)",
                 PRODUCTS[2]: "8-bit value (0-255)"}
Z_LABEL = "z-score (std of its own patch)"
COUNT_LABEL = "pixel count"


def _units(product: str) -> str:
    return PRODUCT_UNITS.get(product, "value")


def channels_figure(raw: np.ndarray, normalized: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_],
                    product: str) -> Figure:
    """Per channel: the raw patch and its dynamic z-score, each with a histogram (4 x 3 grid).

    Images share one stretch per row, stated on their colour bar: the raw row runs from 0 to the
    patch's 99.5th percentile over all channels (in the product's units), the z-score row from
    -3 to +3 std. So a channel that is dark in raw units stays dark, and the z-score's
    re-centring of every channel is visible (with a per-image stretch both rows looked alike).
    """
    fig = Figure(figsize=(10, 10), layout="constrained")
    axes = fig.subplots(4, 3)
    raw_top = float(np.percentile(raw[:, valid], 99.5)) if valid.any() else 1.0
    ranges = ((0.0, max(raw_top, 1e-9)), Z_RANGE)
    units = (_units(product), Z_LABEL)
    for row, (data_all, label) in enumerate(((raw, "raw"), (normalized, "z-score"))):
        vmin, vmax = ranges[row]
        image = None
        for c, name in enumerate(CHANNELS):
            data = data_all[c]
            ax_img, ax_hist = axes[2 * row, c], axes[2 * row + 1, c]
            shown = np.where(valid, data.astype(np.float32), np.nan)
            image = ax_img.imshow(shown, cmap="gray", vmin=vmin, vmax=vmax)
            ax_img.set_title(f"{name}, {label}", fontsize=9)
            ax_img.set_axis_off()
            values = data[valid].astype(np.float64)
            ax_hist.hist(values, bins=40, color=CHANNEL_COLOURS[c])
            ax_hist.tick_params(labelsize=7)
            ax_hist.set_xlabel(units[row], fontsize=7)
            ax_hist.set_ylabel(COUNT_LABEL, fontsize=7)
            if values.size:
                ax_hist.set_title(f"mean {plain_number(values.mean())}, std {plain_number(values.std())}",
                                  fontsize=8)
                if row == 0 and data.dtype == np.uint8 and (values >= 255).mean() > 0.002:
                    ax_hist.annotate("clipped at 255", xy=(255, 0), xytext=(0.55, 0.8), textcoords="axes fraction",
                                     fontsize=7, arrowprops={"arrowstyle": "->", "lw": 0.8})
        if image is not None:
            bar = fig.colorbar(image, ax=list(axes[2 * row]), shrink=0.9, pad=0.01)
            bar.set_label(f"{units[row]}\n(one stretch: {plain_number(vmin)} to {plain_number(vmax)})", fontsize=7)
            bar.ax.tick_params(labelsize=7)
    fig.suptitle(f"{product}: raw values (rows 1-2, one stretch for all channels) and after the dynamic "
                 "z-score (rows 3-4, -3 to +3 std)", fontsize=10)
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
        ax.set_xlabel(_units(product), fontsize=7)
        ax.set_ylabel(COUNT_LABEL, fontsize=7)
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
        ax.set_xlabel("normalized value (std)" if j == 0 else "normalized value (DN-trained units)", fontsize=7)
        ax.set_ylabel(COUNT_LABEL, fontsize=7)
        ax.legend(fontsize=7)
    axes[1, 2].set_axis_off()
    axes[1, 2].text(0.0, 0.5,
                    "Dynamic z-score: the three products\nland on the same numbers (curves overlap).\n\n"
                    "Global normalization: fixed statistics\nfrom DN data squash reflectance and\n"
                    "8-bit values into a narrow, wrong range.", fontsize=9, va="center")
    fig.suptitle("The same patch from three 'sensors'", fontsize=10)
    return fig


def _false_colour_image(refl: npt.NDArray[np.float32], valid: npt.NDArray[np.bool_]) -> npt.NDArray[np.float32]:
    """NIR, Red, Green on the fixed reflectance range (so two patches compare directly); nodata white."""
    low, high = REFLECTANCE_RANGE
    rgb = np.clip((np.stack([refl[2], refl[0], refl[1]], axis=-1) - low) / (high - low), 0, 1)
    rgb[~valid] = 1.0
    return rgb.astype(np.float32)


def context_figure(case: ContextCase, scene_refl: npt.NDArray[np.float32],
                   scene_valid: npt.NDArray[np.bool_]) -> Figure:
    """The same ground in two patches: the patches, its z-scores in each, their histograms.

    Row 1: both patches in false colour on one fixed reflectance stretch, the shared ground
    outlined. Row 2-3: the ground's z-scores per channel in each patch (one colour scale,
    -3 to +3 std). Row 4: per channel, histograms of the same pixels' z-scores in both patches.
    """
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(11, 12.5), layout="constrained")
    grid = fig.add_gridspec(4, 3, height_ratios=[1.25, 1, 1, 0.9])
    for i, (stats, title) in enumerate(((case.calm, "patch A: darkest neighbours"),
                                        (case.cloudy, "patch B: brightest neighbours"))):
        ax = fig.add_subplot(grid[0, i])
        rows, cols = stats.window.slices
        ax.imshow(_false_colour_image(scene_refl[:, rows, cols], scene_valid[rows, cols]))
        ax.add_patch(Rectangle((case.focus.left - stats.window.left - 0.5, case.focus.top - stats.window.top - 0.5),
                               case.focus.size, case.focus.size, fill=False, edgecolor="#00e5ff", linewidth=2))
        ax.set_title(f"{title}\ncloud-like pixels {stats.bright_percent:.1f} %\n"
                     f"mean R, G, NIR {', '.join(f'{v:.2f}' for v in stats.mean)}", fontsize=8)
        ax.set_axis_off()
    ax = fig.add_subplot(grid[0, 2])
    ax.set_axis_off()
    ax.text(0.0, 0.5, "Cyan box: the same ground,\nthe same pixel values in A and B.\n\n"
            "Images: NIR, Red, Green on one\nfixed stretch, reflectance "
            f"{plain_number(REFLECTANCE_RANGE[0])}-{plain_number(REFLECTANCE_RANGE[1])}\n(the lab's scale).",
            fontsize=9, va="center")
    image = None
    for r, (z, stats, name) in enumerate(((case.z_calm, case.calm, "in A"), (case.z_cloudy, case.cloudy, "in B"))):
        for c, channel in enumerate(CHANNELS):
            ax = fig.add_subplot(grid[1 + r, c])
            image = ax.imshow(np.where(case.valid, z[c], np.nan), cmap="RdBu_r", vmin=Z_RANGE[0], vmax=Z_RANGE[1])
            values = z[c][case.valid]
            ax.set_title(f"{channel} z {name}: mean {plain_number(values.mean()) if values.size else '-'}"
                         f" (patch std {plain_number(stats.std[c])})", fontsize=8)
            ax.set_axis_off()
    if image is not None:
        bar = fig.colorbar(image, ax=fig.axes[-6:], shrink=0.8, pad=0.01)
        bar.set_label(Z_LABEL, fontsize=8)
    for c, channel in enumerate(CHANNELS):
        ax = fig.add_subplot(grid[3, c])
        for z, name, colour in ((case.z_calm, "in A", "#1f77b4"), (case.z_cloudy, "in B", "#d62728")):
            ax.hist(z[c][case.valid].astype(np.float64), bins=40, histtype="step", linewidth=1.5, color=colour,
                    label=f"{name}")
        ax.set_xlabel(f"{channel}: {Z_LABEL}", fontsize=7)
        ax.set_ylabel(COUNT_LABEL, fontsize=7)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    fig.suptitle("The same ground, other neighbours: the z-score depends on what shares the patch", fontsize=10)
    return fig



def _flat_vs_yours(ax: Any, flat: npt.NDArray[Any], yours: npt.NDArray[Any], xlabel: str) -> None:
    """Histograms of the flattest patch and the user's patch on one axis, as % of each patch's pixels."""
    for values, colour, label in ((flat, "#d62728", "flattest patch"), (yours, "#1f77b4", "your patch")):
        data = values.astype(np.float64)
        ax.hist(data, bins=40, weights=np.full(data.shape, 100.0 / max(data.size, 1)), histtype="step",
                color=colour, label=label)
    ax.set_xlabel(xlabel, fontsize=7)
    ax.set_ylabel("% of the patch's pixels (the patches differ in size)", fontsize=7)
    ax.legend(fontsize=7)
    ax.tick_params(labelsize=7)

def flat_figure(case: FlatCase, reference_refl: npt.NDArray[np.float32],
                reference_valid: npt.NDArray[np.bool_], reference_z: npt.NDArray[np.float32]) -> Figure:
    """A patch without contrast beside the chosen one: one channel, raw (one stretch) and z-scored.

    Row 1: reflectance on the same stretch (the flat patch looks uniform). Row 2: z-scores on
    the same -3 to +3 std scale (the flat patch's noise now looks like structure). Column 3:
    histograms of the raw values and the z-scores.
    """
    c = case.channel
    name = CHANNELS[c]
    fig = Figure(figsize=(11, 7.5), layout="constrained")
    axes = fig.subplots(2, 3)
    both = np.concatenate([case.reflectance[c][case.valid], reference_refl[c][reference_valid]])
    top = float(np.percentile(both, 99.5)) if both.size else 1.0
    raw_image = z_image = None
    for col, (refl, z, valid, title) in enumerate((
            (case.reflectance, case.z, case.valid, f"flattest patch (std {plain_number(case.stats.std[c])})"),
            (reference_refl, reference_z, reference_valid,
             f"your patch (std {plain_number(case.reference.std[c])})"))):
        raw_image = axes[0, col].imshow(np.where(valid, refl[c], np.nan), cmap="gray", vmin=0, vmax=top)
        axes[0, col].set_title(f"{name} reflectance, {title}", fontsize=8)
        z_image = axes[1, col].imshow(np.where(valid, z[c], np.nan), cmap="RdBu_r", vmin=Z_RANGE[0],
                                      vmax=Z_RANGE[1])
        axes[1, col].set_title(f"{name} z-score, {title.split(' (')[0]}", fontsize=8)
        axes[0, col].set_axis_off()
        axes[1, col].set_axis_off()
    if raw_image is not None and z_image is not None:
        fig.colorbar(raw_image, ax=list(axes[0, :2]), shrink=0.85, pad=0.01).set_label(
            f"reflectance (lab scale), one stretch 0-{plain_number(top)}", fontsize=7)
        fig.colorbar(z_image, ax=list(axes[1, :2]), shrink=0.85, pad=0.01).set_label(Z_LABEL, fontsize=7)
    _flat_vs_yours(axes[0, 2], case.reflectance[c][case.valid], reference_refl[c][reference_valid],
                   f"{name} reflectance (lab scale)")
    _flat_vs_yours(axes[1, 2], case.z[c][case.valid], reference_z[c][reference_valid], f"{name}: {Z_LABEL}")
    fig.suptitle(f"No contrast left: 1 std is {plain_number(case.stats.std[c])} reflectance in the flattest "
                 f"patch, {case.amplification():.1f}x smaller than in yours, yet both become "
                 "the same spread of z-scores", fontsize=10)
    return fig
