"""Synthetic scenes with exact truth (ocm_engine.synthetic): the demo recipe the app and the first look share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ocm_engine.labels import CLEAR, SHADOW, THICK, THIN
from ocm_engine.synthetic import DEMO_SEED, demo_scene, procedural_scene


def test_demo_scene_is_fixed_by_its_seed_and_keeps_the_grid(make_geotiff: Callable[..., Any]) -> None:
    path = Path(make_geotiff("rgbn.tif", bands=4, height=96, width=112, dtype="uint8"))
    scene = demo_scene(path)
    again = demo_scene(path, seed=DEMO_SEED)
    other = demo_scene(path, seed=DEMO_SEED + 1)
    assert scene.image.shape == (4, 96, 112) and scene.image.dtype == np.float32
    assert scene.truth.shape == (96, 112) and scene.truth.dtype == np.uint8
    np.testing.assert_array_equal(scene.image, again.image)
    np.testing.assert_array_equal(scene.truth, again.truth)
    assert not np.array_equal(scene.truth, other.truth)
    assert scene.resolution_m > 0 and scene.crs is not None
    # clouds whiten Blue as they whiten Green: where thick cloud is, both are far above the clear land
    thick = scene.truth == THICK
    assert thick.any() and scene.image[2][thick].mean() > 2 * scene.image[2][scene.truth == CLEAR].mean()


def test_procedural_scene_has_every_class() -> None:
    image, truth = procedural_scene(160, 20.0, 23)
    assert image.shape == (3, 160, 160) and truth.shape == (160, 160)
    assert {CLEAR, THICK, THIN, SHADOW} <= set(np.unique(truth).tolist())
    assert float(image.min()) >= 0.0005 and float(image.max()) <= 1.5
