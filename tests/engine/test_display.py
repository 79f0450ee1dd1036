"""True-colour rendering for quick-looks, and the CLI quick-look showing the scene beside its mask."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from affine import Affine
from PIL import Image

from ocm_engine import CLASS_COLOURS, InferenceOptions, predict_file
from ocm_engine.display import scene_rgb, stretch
from ocm_engine.io.scene import Scene
from ocm_engine.options import ReadOptions


def _scene(blue: bool) -> Scene:
    data = np.stack([np.full((4, 5), v, np.float32) for v in (100.0, 200.0, 300.0)])
    data[:, 0, :] = np.arange(5) * 10
    valid = np.ones((4, 5), bool)
    valid[3, 4] = False
    return Scene(data=data, valid=valid, transform=Affine.identity(), crs=None, nodata=0,
                 source_resolution_m=10.0, resolution_m=10.0, bands=(),
                 blue=np.full((4, 5), 50.0, np.float32) if blue else None)


def test_stretch_maps_percentiles_to_unit_range() -> None:
    bands = np.arange(100, dtype=np.float32).reshape(1, 10, 10)
    out = stretch(bands, low=0, high=100)
    assert out.min() == 0.0 and out.max() == 1.0 and out.dtype == np.float32


def test_scene_rgb_true_colour_with_blue_false_colour_without() -> None:
    with_blue, without = scene_rgb(_scene(True)), scene_rgb(_scene(False))
    assert with_blue.shape == without.shape == (4, 5, 3) and with_blue.dtype == np.uint8
    assert (with_blue[3, 4] == 0).all()  # nodata is black
    # Row 0 varies in every band; false colour puts NIR (row 0: 0..40) first, true colour Red.
    assert not np.array_equal(with_blue, without)


def test_cli_quicklook_shows_the_scene_beside_the_mask(
    tmp_path: Path, make_geotiff: Any, tiny_ensemble: Any
) -> None:
    src = make_geotiff("in/scene.tif", bands=4, dtype="uint16")
    out = predict_file(src, tmp_path / "out", read=ReadOptions(bands=(3, 2, 4)), ensemble=tiny_ensemble,
                       options=InferenceOptions(dtype="fp32"))
    assert out.paths.png is not None
    png = np.asarray(Image.open(out.paths.png).convert("RGB")).reshape(-1, 3)
    palette = {tuple(c[:3]) for c in CLASS_COLOURS}
    # Beyond the class colours, legend and background, the picture has the scene's own colours.
    # (a mask-only quick-look has about 175 such colours, from anti-aliased legend text)
    assert len({tuple(p) for p in png[::7]} - palette) > 1000
