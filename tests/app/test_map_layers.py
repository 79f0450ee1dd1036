"""The pages' map layers are assembled from a result in one place (ocm_app.map_layers), sized to the display."""

from __future__ import annotations

import numpy as np
from affine import Affine

from ocm_app import compare, map_layers, truth
from ocm_engine import Prediction, Scene


def _display(seed: int, shape: tuple[int, int]) -> Scene:
    """An overview as ``read_display`` returns it (no Blue band)."""
    data = np.random.default_rng(seed).random((3, *shape)).astype(np.float32)
    return Scene(data=data, valid=np.ones(shape, bool), transform=Affine.identity(), crs=None, nodata=None,
                 source_resolution_m=10.0, resolution_m=10.0, bands=())


def _prediction(shape: tuple[int, int], probabilities: bool) -> Prediction:
    rng = np.random.default_rng(0)
    classes = rng.integers(0, 4, shape).astype(np.uint8)
    probs = rng.dirichlet(np.ones(4), shape).transpose(2, 0, 1).astype(np.float32) if probabilities else None
    return Prediction(classes, probs, np.ones(shape, bool))


def test_result_layers_shrink_a_large_grid_to_the_display_and_add_the_experts() -> None:
    display = _display(1, (30, 40))
    pred = _prediction((60, 80), probabilities=True)
    drawn = map_layers.result_layers(display, pred, None, max_px=50)
    names = [layer.name for layer in drawn.layers]
    assert names[:4] == ["True colour", "False colour", "Clear pixels (black)", "Class mask"]
    assert names[4:] == ["P(clear)", "P(thick cloud)", "P(thin cloud)", "P(cloud shadow)"]
    assert all(layer.rgba.shape == (30, 40, 4) for layer in drawn.layers)  # 80 px > max_px: shrunk to the display
    assert drawn.experts is None and drawn.experts_model is None and drawn.opaque_mask.opacity == 1.0
    assert [layer.name for layer in drawn.layers if layer.adjustable] == ["Class mask"]

    small = map_layers.result_layers(display, _prediction((20, 25), probabilities=False), None, max_px=50)
    assert small.layers[3].rgba.shape == (20, 25, 4) and len(small.layers) == 4  # drawn at its own size
    labels = np.zeros((20, 25), np.int16)
    labels[5:10] = 1
    pred = _prediction((20, 25), probabilities=False)
    scored = truth.score("synthetic", labels, pred.classes, pred.valid, "truth.tif")
    with_truth = map_layers.result_layers(display, pred, scored, max_px=50)
    assert "Experts' labels" in [layer.name for layer in with_truth.layers]
    assert with_truth.experts is not None and with_truth.experts_model is not None
    assert with_truth.experts_model.rgba.shape[:2] == (20, 25) and with_truth.experts_legend is not None


def test_compare_layers_outline_every_hotspot() -> None:
    pred = _prediction((64, 64), probabilities=True)
    members = (pred.classes, np.roll(pred.classes, 1, axis=0))
    pred = Prediction(pred.classes, pred.probabilities, pred.valid, member_classes=members)
    comparison = compare.compare_members(pred, ("A", "B"))
    spots = comparison.hotspots(grid=4, top=3)
    display = _display(2, (32, 32))
    drawn = map_layers.compare_layers(display, comparison, spots)
    assert [b.label for b in drawn.boxes] == ["#1", "#2", "#3"]
    assert drawn.boxes[0].rows == spots[0].box[:2] and drawn.boxes[0].cols == spots[0].box[2:]
    assert all(layer.rgba.shape == (32, 32, 4) for layer in drawn.layers)
    assert spots == sorted(spots, key=lambda s: -s.mean_entropy) and all(0 <= s.disagree_percent <= 100 for s in spots)
