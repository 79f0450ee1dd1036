"""Arrays to display images: stretched composites, class colours, probability ramps, PNG bytes.

Inputs are ``(bands, height, width)`` or ``(height, width)``; outputs are RGBA
``(height, width, 4)`` uint8 with nodata transparent.
"""

from __future__ import annotations

import base64
import io
from typing import TypeVar

import numpy as np
import numpy.typing as npt
from matplotlib import colormaps
from PIL import Image

from ocm_engine import CLASS_COLOURS, CLASS_LABELS, Scene
from ocm_engine.display import composite, green_for_blue
from ocm_engine.outputs.quicklook import colourise

RGBA = npt.NDArray[np.uint8]
_T = TypeVar("_T", bound=np.generic)
PROBABILITY_CMAP = "viridis"
ENTROPY_CMAP = "magma"
#: Okabe-Ito vermillion: distinct from every class colour, visible on white pages and on imagery.
DISAGREEMENT_COLOUR = (213, 94, 0, 255)
AGREEMENT_GREY = (215, 215, 215, 255)


def plain_number(value: float) -> str:
    """A number as people write it: ``0`` for tiny values (no ``8.98e-11``), grouped thousands."""
    value = float(value)
    if not np.isfinite(value):
        return str(value)
    if abs(value) < 0.0005:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3f}".rstrip("0").rstrip(".")


def true_colour(scene: Scene) -> RGBA:
    """The true-colour composite (Red, Green, Blue; Green in Blue's place without Blue): the engine's rule."""
    return composite(scene, "true")


def true_colour_caption(scene: Scene) -> str:
    """The true-colour picture's caption, saying when Green stands in for a missing Blue band."""
    return "True colour (no Blue band: Green shown as blue)" if green_for_blue(scene) else "True colour"


def false_colour(scene: Scene) -> RGBA:
    """The false-colour composite (NIR, Red, Green: vegetation red, clouds white): the engine's rule."""
    return composite(scene, "false")


def class_rgba(classes: npt.NDArray[np.uint8], valid: npt.NDArray[np.bool_],
               clear_transparent: bool = False) -> RGBA:
    """Class colours (the engine's table); nodata (and optionally clear) transparent."""
    rgba = colourise(classes, valid)
    if clear_transparent:
        rgba[(classes == 0) & valid] = 0
    return rgba


def clear_rgba(classes: npt.NDArray[np.uint8], valid: npt.NDArray[np.bool_]) -> RGBA:
    """Clear pixels in the class colour (black); everything else transparent."""
    rgba = np.zeros((*classes.shape, 4), np.uint8)
    rgba[(classes == 0) & valid] = CLASS_COLOURS[0]
    return rgba


#: Hatching of expert-label layers: a stripe of ``HATCH_STRIPE_PX`` every ``HATCH_PERIOD_PX`` pixels.
HATCH_PERIOD_PX = 8
HATCH_STRIPE_PX = 3
#: Alpha (0-255) of a hatched class between its stripes.
HATCH_FILL_ALPHA = 70


def hatch_rgba(index: npt.NDArray[np.integer], lut: npt.NDArray[np.uint8],
               hatched: npt.NDArray[np.bool_]) -> RGBA:
    """Draw an index map ``(h, w)`` with colours ``lut`` ``(n, 4)``, the ``hatched`` entries hatched.

    A hatched class is drawn as diagonal stripes at full alpha, a light fill between them and a
    1-pixel outline where it meets another class, so it cannot be mistaken for a solid layer of
    the same colours. Entries with alpha 0 stay transparent.
    """
    rgba: RGBA = lut[index].copy()
    rows, cols = np.indices(index.shape)
    stripe = (rows + cols) % HATCH_PERIOD_PX < HATCH_STRIPE_PX
    edge = np.zeros(index.shape, bool)
    edge[1:, :] |= index[1:, :] != index[:-1, :]
    edge[:-1, :] |= index[:-1, :] != index[1:, :]
    edge[:, 1:] |= index[:, 1:] != index[:, :-1]
    edge[:, :-1] |= index[:, :-1] != index[:, 1:]
    soft = hatched[index] & ~stripe & ~edge
    alpha = rgba[..., 3]
    alpha[soft] = np.minimum(alpha[soft], HATCH_FILL_ALPHA)
    return rgba


def hatch_css(colour: tuple[int, ...]) -> str:
    """A CSS background drawing a legend swatch the way :func:`hatch_rgba` draws the class."""
    r, g, b = colour[:3]
    fill = HATCH_FILL_ALPHA / 255 * (colour[3] / 255 if len(colour) > 3 else 1)
    return (f"repeating-linear-gradient(135deg, rgb({r},{g},{b}) 0 2px, rgba({r},{g},{b},{fill:.2f}) 2px 5px)")


def resize_rgba(rgba: RGBA, shape: tuple[int, int]) -> RGBA:
    """Nearest-neighbour resize of an RGBA image ``(h, w, 4)`` to ``shape`` (``(h, w)``)."""
    if rgba.shape[:2] == shape:
        return rgba
    return np.ascontiguousarray(resize_to(rgba.transpose(2, 0, 1), shape).transpose(1, 2, 0))


def ramp_rgba(values: npt.NDArray[np.floating], valid: npt.NDArray[np.bool_],
              cmap: str = PROBABILITY_CMAP, vmin: float = 0.0, vmax: float = 1.0) -> RGBA:
    """A continuous field through a matplotlib colormap; nodata transparent."""
    scaled = np.clip((np.nan_to_num(values) - vmin) / max(vmax - vmin, 1e-12), 0, 1)
    rgba: RGBA = (colormaps[cmap](scaled) * 255).round().astype(np.uint8)
    rgba[~valid] = 0
    return rgba


def mask_rgba(mask: npt.NDArray[np.bool_], valid: npt.NDArray[np.bool_],
              colour: tuple[int, int, int, int] = DISAGREEMENT_COLOUR) -> RGBA:
    """Highlight ``mask`` pixels in one colour; everything else transparent."""
    rgba = np.zeros((*mask.shape, 4), np.uint8)
    rgba[mask & valid] = colour
    return rgba


def disagreement_rgba(mask: npt.NDArray[np.bool_], valid: npt.NDArray[np.bool_]) -> RGBA:
    """Disagreement for a page (not a map): vermillion where maps differ, light grey where they agree."""
    rgba = np.zeros((*mask.shape, 4), np.uint8)
    rgba[valid] = AGREEMENT_GREY
    rgba[mask & valid] = DISAGREEMENT_COLOUR
    return rgba


def css_colour(rgba: tuple[int, int, int, int]) -> str:
    """``rgb(r,g,b)`` of an RGBA tuple."""
    return f"rgb({rgba[0]},{rgba[1]},{rgba[2]})"


def css_gradient(cmap: str = PROBABILITY_CMAP, steps: int = 8) -> str:
    """A CSS ``linear-gradient`` of a matplotlib colormap (for colour bars)."""
    stops = []
    for i in range(steps + 1):
        r, g, b, _ = (np.array(colormaps[cmap](i / steps)) * 255).round().astype(int)
        stops.append(f"rgb({r},{g},{b}) {100 * i / steps:.0f}%")
    return f"linear-gradient(to right, {', '.join(stops)})"


def class_css_colours() -> list[str]:
    """CSS colours of the classes, in class order."""
    return [f"rgb({r},{g},{b})" for r, g, b, _ in CLASS_COLOURS]


def png_bytes(rgba: RGBA) -> bytes:
    """PNG-encode an RGBA image."""
    buf = io.BytesIO()
    Image.fromarray(rgba, mode="RGBA").save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def data_url(rgba: RGBA) -> str:
    """A ``data:image/png;base64,...`` URL of an RGBA image."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(rgba)).decode("ascii")


def thumbnail(rgba: RGBA, max_px: int) -> RGBA:
    """Shrink an RGBA image so its longest side is ``max_px`` (nearest neighbour)."""
    h, w = rgba.shape[:2]
    scale = max(h, w) / max_px
    if scale <= 1:
        return rgba
    size = (max(1, round(w / scale)), max(1, round(h / scale)))
    return np.asarray(Image.fromarray(rgba, mode="RGBA").resize(size, Image.Resampling.NEAREST))


def side_by_side(left: RGBA, right: RGBA, gap_px: int = 2) -> RGBA:
    """Two equally sized RGBA images next to each other."""
    h = max(left.shape[0], right.shape[0])
    out = np.zeros((h, left.shape[1] + gap_px + right.shape[1], 4), np.uint8)
    out[: left.shape[0], : left.shape[1]] = left
    out[: right.shape[0], left.shape[1] + gap_px :] = right
    return out


def app_icon() -> Image.Image:
    """The app's favicon, drawn here so no icon is fetched from the internet (64 x 64 RGBA)."""
    from PIL import ImageDraw

    icon = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    draw = ImageDraw.Draw(icon)
    draw.rounded_rectangle((2, 2, 62, 62), 12, fill=(32, 96, 160, 255))
    for box in ((10, 28, 38, 52), (22, 16, 50, 44), (32, 26, 56, 52)):
        draw.ellipse(box, fill=(255, 255, 255, 255))
    draw.rectangle((18, 40, 48, 52), fill=(255, 255, 255, 255))
    draw.rectangle((10, 52, 56, 56), fill=(60, 60, 60, 200))
    return icon


def resize_to(array: npt.NDArray[_T], shape: tuple[int, int]) -> npt.NDArray[_T]:
    """Nearest-neighbour resize of ``(h, w)`` or ``(c, h, w)`` to ``shape`` (``(h, w)``)."""
    from ocm_engine.resolution import nearest_index

    rows = nearest_index(shape[0], array.shape[-2])
    cols = nearest_index(shape[1], array.shape[-1])
    return array[..., rows[:, None], cols[None, :]]


def class_legend_markdown() -> str:
    """The class colours as a one-line HTML legend (for images outside maps)."""
    items = [f'<span style="display:inline-block;width:12px;height:12px;background:rgb({r},{g},{b});'
             f'border:1px solid #777;vertical-align:-1px;margin:0 4px 0 10px"></span>{label}'
             for label, (r, g, b, _) in zip(CLASS_LABELS, CLASS_COLOURS, strict=True)]
    return "<div style='font-size:0.85rem'>" + "".join(items) + "</div>"
