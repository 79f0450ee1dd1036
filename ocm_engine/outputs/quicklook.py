"""The quick-look PNG: the scene's colours beside the mask, a legend and the cloud percentage.

Written atomically (:mod:`ocm_engine.outputs.atomic`); :func:`colourise` is the RGBA rendering of
a class map that the app's layers use too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ocm_engine import metrics
from ocm_engine.constants import CLASS_COLOURS, CLASS_LABELS, CLASS_NAMES, NUM_CLASSES
from ocm_engine.outputs.atomic import atomic_path
from ocm_engine.resolution import nearest_index
from ocm_engine.types import BoolArray, UInt8Array


class MaskSample:
    """The class map at quick-look size, sampled (nearest pixel) block by block as the blocks are written.

    The quick-look then needs no second read of the class file just written.

    Args:
        height: Rows of the full class map.
        width: Columns of the full class map.
        max_px: Longest side of the sample.
    """

    def __init__(self, height: int, width: int, max_px: int) -> None:
        scale = max(1.0, max(width, height) / max_px)
        shape = (max(1, round(height / scale)), max(1, round(width / scale)))
        self.rows = nearest_index(shape[0], height)
        self.cols = nearest_index(shape[1], width)
        self.classes: UInt8Array = np.zeros(shape, np.uint8)
        self.valid: BoolArray = np.zeros(shape, bool)

    def add(self, classes: UInt8Array, valid: BoolArray, row_off: int, col_off: int) -> None:
        """Take the sampled pixels of one written block (``classes``/``valid`` at ``row_off, col_off``)."""
        height, width = classes.shape
        picked_rows = np.nonzero((self.rows >= row_off) & (self.rows < row_off + height))[0]
        picked_cols = np.nonzero((self.cols >= col_off) & (self.cols < col_off + width))[0]
        if picked_rows.size == 0 or picked_cols.size == 0:
            return
        there = np.ix_(picked_rows, picked_cols)
        source = np.ix_(self.rows[picked_rows] - row_off, self.cols[picked_cols] - col_off)
        self.valid[there] = valid[source]
        self.classes[there] = np.where(valid[source], classes[source], 0)


def colourise(classes: UInt8Array, valid: BoolArray) -> npt.NDArray[np.uint8]:
    """RGBA image ``(height, width, 4)`` of a class map; nodata transparent."""
    lut = np.array(CLASS_COLOURS, dtype=np.uint8)
    rgba = lut[np.clip(classes, 0, NUM_CLASSES - 1)]
    rgba[~valid] = 0
    return rgba


def write_png(
    path: Path,
    classes: UInt8Array,
    valid: BoolArray,
    *,
    rgb: npt.NDArray[np.uint8] | None = None,
    title: str = "",
    overwrite: bool = False,
) -> Path:
    """Write a quick-look PNG a person can read alone: image and mask side by side, legend, cloud %.

    Args:
        path: Target file.
        classes: ``(height, width)`` uint8 classes 0..3.
        valid: ``(height, width)`` bool; nodata is drawn light grey.
        rgb: Optional true-colour rendering ``(h, w, 3)`` or ``(h, w, 4)`` uint8 of the same scene
            (any size: it is resized to the mask's); without it only the mask is drawn.
        title: A first line (e.g. the scene's name).
        overwrite: Replace an existing file.

    Returns:
        The path written.
    """
    with atomic_path(path, overwrite) as partial:
        quicklook_image(classes, valid, rgb=rgb, title=title).save(partial, format="PNG")
    return path


def quicklook_image(
    classes: UInt8Array, valid: BoolArray, *, rgb: npt.NDArray[np.uint8] | None = None, title: str = ""
) -> Any:
    """The quick-look of :func:`write_png` as a PIL RGB image."""
    from PIL import Image, ImageDraw, ImageFont

    height, width = classes.shape
    scale = min(1.0, 512 / max(height, width))
    if max(height, width) < 256:
        scale = 256 / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    mask = colourise(classes, valid)
    mask[~valid] = (225, 225, 225, 255)
    panels = [("Mask", Image.fromarray(mask, mode="RGBA").convert("RGB").resize(size, Image.Resampling.NEAREST))]
    if rgb is not None:
        image = Image.fromarray(np.ascontiguousarray(rgb[..., :3]), mode="RGB")
        panels.insert(0, ("Image", image.resize(size, Image.Resampling.BILINEAR)))
    font, small = ImageFont.load_default(size=14), ImageFont.load_default(size=12)
    stats = metrics.class_statistics(classes, valid)
    legend = [(f"{label} {stats.percentages[name]:.1f} %", colour[:3])
              for name, label, colour in zip(CLASS_NAMES, CLASS_LABELS, CLASS_COLOURS, strict=True)]
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    legend_px = sum(33 + int(probe.textlength(text, font=small)) for text, _ in legend)
    gap, head, foot = 8, 44, 30
    canvas = Image.new("RGB", (max(gap + len(panels) * (size[0] + gap), legend_px + gap),
                               head + size[1] + foot), "white")
    draw = ImageDraw.Draw(canvas)
    heading = title or "Cloud and shadow mask"
    while len(heading) > 4 and draw.textlength(heading, font=font) > canvas.width - 2 * gap:
        heading = heading[:-2].rstrip() + "…"
        heading = heading.replace("……", "…")
    draw.text((gap, 4), heading, fill="black", font=font)
    draw.text((gap, 23), f"Cloud {stats.cloud_percent:.1f} % of valid pixels (thick + thin) · "
              f"nodata {stats.nodata_percent:.1f} %", fill="black", font=small)
    for i, (caption, panel) in enumerate(panels):
        x = gap + i * (size[0] + gap)
        canvas.paste(panel, (x, head))
        draw.text((x + 4, head + 3), caption, fill="white", font=small, stroke_width=2, stroke_fill="black")
    x, y = gap, head + size[1] + 9
    for text, colour in legend:
        draw.rectangle((x, y, x + 14, y + 12), fill=tuple(colour), outline=(90, 90, 90))
        draw.text((x + 19, y - 1), text, fill="black", font=small)
        x += 33 + int(draw.textlength(text, font=small))
    return canvas
