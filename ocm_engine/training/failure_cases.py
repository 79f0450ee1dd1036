"""The named failure cases of the default model, measured, and a before/after picture.

Issue 10 named four ways the default model failed a new user; each is measured here on
the packed scenes so that a new version can be compared with the old one in numbers and
in one picture:

* ``alberta_core``: Alberta 2020-06-15, the big cloud's clipped core (every visible band
  at the 8-bit ceiling, NIR > 0.3): share classed *clear* (should be 0).
* ``long_island``: Landsat 8 Long Island (physics labels from bands the model never sees):
  share of clear water classed thin cloud or shadow (should be 0) and share of cirrus /
  contrail pixels classed cloud (should be 1).
* ``halo``: the held-out Sentinel-2 chip ``s2chips_102871``: thin cloud's share of all
  predicted cloud (the v0.2.0 halos made it large).
* ``ponds``: unpainted shadow far (> 3 km) from any predicted cloud, where no cloud can
  cast it, as a share of the unpainted pixels that far out, on Alberta 2020-06-15 (ponds
  and dark fields) and on the held-out painted dates.

Arrays are ``(bands, height, width)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from ocm_engine.constants import CLASS_COLOURS
from ocm_engine.errors import InvalidImageError
from ocm_engine.options import InferenceOptions
from ocm_engine.training import CLEAR, SHADOW, THIN
from ocm_engine.training.data import SHADOW_REACH_M, PackedScene, load_packed
from ocm_engine.training.validation import native_product

#: Scenes the cases read, in picture order.
CASE_SCENES: Final = (
    "alberta_2020-06-15",
    "landsat8_long_island",
    "s2chips_102871",
    "alberta_2020-07-05",
    "alberta_2020-07-22",
)
#: 8-bit Alberta ceiling (250 of 255 at the x2.5 stretch) in reflectance.
CLIPPED_REFLECTANCE: Final = 250.0 / (2.5 * 255.0)


@dataclass(frozen=True, slots=True)
class CaseRun:
    """One model's classes on the case scenes.

    Attributes:
        model: The model's name as given.
        classes: Scene name -> ``(height, width)`` uint8 classes (0-3, 255 nodata).
    """

    model: str
    classes: dict[str, npt.NDArray[np.uint8]]


def _far_from_cloud(classes: npt.NDArray[np.uint8], resolution_m: float) -> npt.NDArray[np.bool_]:
    from scipy import ndimage

    cloud = (classes == 1) | (classes == 2)
    if not cloud.any():
        return np.asarray(classes != 255)
    distance = np.asarray(ndimage.distance_transform_edt(~cloud)) * resolution_m
    return np.asarray((distance > SHADOW_REACH_M) & (classes != 255))


def _share(hit: npt.NDArray[np.bool_], among: npt.NDArray[np.bool_]) -> float:
    count = int(among.sum())
    return float((hit & among).sum() / count) if count else float("nan")


def measure(scenes: dict[str, PackedScene], classes: dict[str, npt.NDArray[np.uint8]]) -> dict[str, float]:
    """The failure-case figures of one model (shares 0-1; NaN where a scene is missing)."""
    out: dict[str, float] = {}
    core = scenes.get("alberta_2020-06-15")
    if core is not None:
        pred = classes[core.name]
        image = core.image.astype(np.float32)
        clipped = (image[[0, 1, 3]] >= CLIPPED_REFLECTANCE).all(axis=0) & (image[2] > 0.3)
        out["alberta_core_clear"] = _share(pred == CLEAR, clipped)
        far = _far_from_cloud(pred, core.resolution_m) & (core.expert != SHADOW)
        out["ponds_far_shadow_0615"] = _share(pred == SHADOW, far)
    island = scenes.get("landsat8_long_island")
    if island is not None:
        pred = classes[island.name]
        water = (island.expert == CLEAR) & (island.image[2].astype(np.float32) < 0.04)
        out["long_island_water_thin"] = _share(pred == THIN, water)
        out["long_island_water_shadow"] = _share(pred == SHADOW, water)
        out["long_island_cirrus_cloud"] = _share((pred == 1) | (pred == 2), island.expert == THIN)
    chip = scenes.get("s2chips_102871")
    if chip is not None:
        pred = classes[chip.name]
        out["halo_thin_share_of_cloud"] = _share(pred == THIN, (pred == 1) | (pred == THIN))
    held = [scenes[n] for n in ("alberta_2020-07-05", "alberta_2020-07-22") if n in scenes]
    if held:
        hits = among = 0
        for scene in held:
            pred = classes[scene.name]
            far = _far_from_cloud(pred, scene.resolution_m) & (scene.expert != SHADOW)
            hits += int(((pred == SHADOW) & far).sum())
            among += int(far.sum())
        out["ponds_far_shadow_heldout"] = hits / among if among else float("nan")
    return out


def run_models(
    models: Sequence[str | list[str]], pack_dir: Path, options: InferenceOptions | None = None
) -> tuple[dict[str, PackedScene], list[CaseRun]]:
    """Predict the case scenes with each model.

    Args:
        models: Each ``"default"``, ``"official"``, a weights folder or file, or a list of
            member weight files.
        pack_dir: Folder of packed scenes.
        options: Inference options (tiling); the engine's defaults when ``None``.

    Raises:
        InvalidImageError: If none of the case scenes is packed.
    """
    from ocm_engine import load_ensemble, predict_array

    scenes = {s.name: s for s in load_packed(pack_dir) if s.name in CASE_SCENES}
    if not scenes:
        raise InvalidImageError(f"Packed-scene folder {pack_dir}", arrived="none of the failure-case scenes",
                                expected=f"at least one of {', '.join(CASE_SCENES)}")
    runs = []
    for model in models:
        ensemble = load_ensemble(model, device="cpu")
        classes = {
            name: predict_array(native_product(scene)[1], ensemble=ensemble, options=options).classes
            for name, scene in scenes.items()
        }
        runs.append(CaseRun(model if isinstance(model, str) else "+".join(model), classes))
    return scenes, runs


def picture(scenes: dict[str, PackedScene], runs: Sequence[CaseRun], path: Path, *, tile_px: int = 320) -> Path:
    """Write a PNG: one row per case scene, the image then each model's classes.

    Returns:
        ``path``.
    """
    from PIL import Image, ImageDraw

    from ocm_engine.display import stretch

    names = [n for n in CASE_SCENES if n in scenes]
    header = 22
    sheet = Image.new("RGB", (tile_px * (1 + len(runs)), header + tile_px * len(names)), "white")
    draw = ImageDraw.Draw(sheet)
    for col, title in enumerate(["image (true colour)", *(r.model for r in runs)]):
        draw.text((col * tile_px + 4, 4), title[-48:], fill="black")
    palette = np.array([c[:3] for c in CLASS_COLOURS] + [(255, 255, 255)], np.uint8)
    for row, name in enumerate(names):
        image = scenes[name].image.astype(np.float32)
        rgb = np.moveaxis(np.round(stretch(image[[0, 1, 3]]) * 255).astype(np.uint8), 0, -1)
        tiles = [rgb] + [palette[np.minimum(r.classes[name], 4)] for r in runs]
        for col, tile in enumerate(tiles):
            thumb = Image.fromarray(np.ascontiguousarray(tile)).resize((tile_px, tile_px), Image.Resampling.NEAREST)
            sheet.paste(thumb, (col * tile_px, header + row * tile_px))
        draw.text((4, header + row * tile_px + 4), name, fill="white")
    partial = path.with_suffix(".partial.png")
    sheet.save(partial)
    partial.replace(path)
    return path


def format_cases(figures: dict[str, dict[str, float]]) -> str:
    """Markdown table: one row per figure, one column per model (percent)."""
    models = list(figures)
    keys = list(dict.fromkeys(k for f in figures.values() for k in f))
    lines = ["| case | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    for key in keys:
        cells = [f"{100 * figures[m].get(key, float('nan')):.1f} %" for m in models]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
