"""The layers of the pages' maps, assembled from a result (Streamlit-free, like :mod:`ocm_app.mapbuilder`).

A page reads its result, calls one function here and hands the layers to
:func:`ocm_app.mapbuilder.scene_map` / :func:`~ocm_app.mapbuilder.swipe_map`: the resizing of
class maps, validity and probabilities to the display grid, the layer names, opacities and the
legends live here, not in the pages. The scene comes as the engine's overview
:class:`~ocm_engine.Scene` (:func:`ocm_app.scenes.read_display`); maps are ``(height, width)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ocm_app import lab
from ocm_app.compare import Hotspot, MemberComparison
from ocm_app.mapbuilder import Box, Colorbar, Georef, Layer, Legend, georef_of
from ocm_app.render import (
    DISAGREEMENT_COLOUR,
    ENTROPY_CMAP,
    PROBABILITY_CMAP,
    class_rgba,
    clear_rgba,
    css_colour,
    false_colour,
    mask_rgba,
    ramp_rgba,
    resize_rgba,
    resize_to,
    true_colour,
)
from ocm_app.truth import Accuracy
from ocm_engine import CLASS_LABELS, Prediction, Scene
from ocm_engine.types import CRS, Affine


@dataclass(frozen=True, slots=True)
class ResultLayers:
    """Everything the Run page's maps draw of one result.

    Attributes:
        layers: The layered map's overlays, bottom first (true colour, false colour, clear
            pixels, class mask, experts' labels when scored, one layer per class probability).
        legend: The layered map's legend.
        true_colour: The true-colour layer (also the left side of the image | mask swipe).
        opaque_mask: The class mask at full opacity (the right side of that swipe).
        experts: The experts' labels at full opacity (left side of the experts | model swipe),
            ``None`` without labels.
        experts_model: The model's classes in the experts' scheme (its right side), or ``None``.
        experts_legend: That swipe's legend, or ``None``.
    """

    layers: tuple[Layer, ...]
    legend: Legend
    true_colour: Layer
    opaque_mask: Layer
    experts: Layer | None = None
    experts_model: Layer | None = None
    experts_legend: Legend | None = None


def result_layers(display: Scene, prediction: Prediction, accuracy: Accuracy | None,
                  max_px: int) -> ResultLayers:
    """The Run page's layers: the scene, its mask and probabilities (and the experts' labels when scored).

    Args:
        display: The scene at display size (:func:`ocm_app.scenes.read_display`).
        prediction: The run's prediction on its inference grid.
        accuracy: The run scored against the scene's labels, or ``None``.
        max_px: Longest side drawn: a larger inference grid is shrunk to the display's size
            (nearest neighbour); a smaller one is drawn as it is.
    """
    shape = display.shape
    classes = resize_to(prediction.classes, shape) if max(prediction.classes.shape) > max_px else prediction.classes
    valid = resize_to(prediction.valid, classes.shape)
    true = Layer("True colour", true_colour(display), smooth=True)
    layers = [true, Layer("False colour", false_colour(display), show=False, smooth=True),
              Layer("Clear pixels (black)", clear_rgba(classes, valid), show=False, opacity=0.6),
              Layer("Class mask", class_rgba(classes, valid, clear_transparent=True), opacity=0.6, adjustable=True)]
    legend_items: tuple[tuple[str, str], ...] = ()
    experts = experts_model = experts_legend = None
    if accuracy is not None:
        labels_small = accuracy.label_rgba(classes.shape)
        layers.append(Layer("Experts' labels", labels_small, show=False, opacity=0.8))
        legend_items = accuracy.legend_items()
        experts = Layer("Experts' labels", labels_small, opacity=1.0)
        experts_model = Layer("Model (in the experts' classes)", resize_rgba(accuracy.model_rgba(), classes.shape),
                              opacity=1.0)
        experts_legend = Legend(classes=False, items=accuracy.swipe_legend_items(),
                                title="Experts (left) | model (right)")
    if prediction.probabilities is not None:
        probs = resize_to(prediction.probabilities, classes.shape)
        for i, label in enumerate(CLASS_LABELS):
            layers.append(Layer(f"P({label.lower()})", ramp_rgba(probs[i], valid), show=False, opacity=0.85))
    legend = Legend(items=legend_items, title="Classes",
                    colorbars=(Colorbar("Probability layers P(...)", PROBABILITY_CMAP),))
    opaque_mask = Layer("Class mask", class_rgba(classes, valid), opacity=1.0)
    return ResultLayers(tuple(layers), legend, true, opaque_mask, experts, experts_model, experts_legend)


@dataclass(frozen=True, slots=True)
class CompareLayers:
    """The Compare page's map: overlays, numbered hotspot boxes and the legend.

    Attributes:
        layers: True colour, the ensemble's mask, entropy and disagreement, bottom first.
        boxes: One outlined, numbered box per hotspot (``#1`` the highest mean entropy).
        legend: The map's legend.
    """

    layers: tuple[Layer, ...]
    boxes: tuple[Box, ...]
    legend: Legend


def compare_layers(display: Scene, comparison: MemberComparison,
                   hotspots: list[Hotspot]) -> CompareLayers:
    """The Compare page's layers, every map shrunk (nearest neighbour) to the display read's grid.

    Args:
        display: The scene at display size (:func:`ocm_app.scenes.read_display`).
        comparison: Members, disagreement and entropy on the inference grid.
        hotspots: The cells to outline, in rank order.
    """
    shape = display.shape
    classes = resize_to(comparison.ensemble.classes, shape)
    valid = resize_to(comparison.ensemble.valid, shape)
    layers = (
        Layer("True colour", true_colour(display), smooth=True),
        Layer("Ensemble mask", class_rgba(classes, valid, clear_transparent=True), opacity=0.6, adjustable=True),
        Layer("Entropy", ramp_rgba(resize_to(comparison.entropy, shape), valid, ENTROPY_CMAP), opacity=0.8, show=False),
        Layer("Disagreement", mask_rgba(resize_to(comparison.disagreement, shape), valid)),
    )
    boxes = tuple(Box(f"#{i}", (spot.box[0], spot.box[1]), (spot.box[2], spot.box[3]), "#000000")
                  for i, spot in enumerate(hotspots, start=1))
    legend = Legend(items=(("Members disagree", css_colour(DISAGREEMENT_COLOUR)),
                           ("Hotspot (highest mean entropy)", "transparent")),
                    colorbars=(Colorbar("Entropy (0-1; 1 = 2 bits)", ENTROPY_CMAP),), title="Classes")
    return CompareLayers(layers, boxes, legend)


def patch_layers(result: lab.LabResult, window: lab.PatchWindow, transform: Affine, crs: CRS | None,
                 pixel_size_m: float | None = None) -> tuple[list[Layer], Georef]:
    """The normalization lab's map of its patch: raw DN, z-scored and the mask, on the patch's own grid.

    Args:
        result: The lab's result for the patch.
        window: The patch on the inference grid.
        transform: The inference grid's affine transform.
        crs: The inference grid's CRS, or ``None``.
        pixel_size_m: Without a CRS, the documented pixel size (see :class:`~ocm_app.mapbuilder.Georef`).

    Returns:
        The layers (bottom first) and where the patch lies.
    """
    dn, dynamic = lab.PRODUCTS[0], lab.NORMALIZATIONS[0]
    georef = georef_of(transform * Affine.translation(window.left, window.top), (window.size, window.size), crs,
                       pixel_size_m)
    layers = [
        Layer("Raw DN (false colour, linear 0-4000)", lab.raw_rgba(result.products[dn], result.valid)),
        Layer("Z-scored (false colour, -2 to +2 std)", lab.zscore_rgba(result.normalized[(dynamic, dn)], result.valid),
              show=False),
        Layer("Mask (dynamic z-score)", class_rgba(result.classes[(dynamic, dn)], result.valid, clear_transparent=True),
              opacity=0.6, adjustable=True, show=False),
    ]
    return layers, georef
