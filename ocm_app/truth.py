"""Accuracy against the experts: read a scene's labels in their own class scheme and score a run.

Each labelled sample has its own scheme, and the model's four classes are grouped into it
before scoring (:data:`SCHEMES`): On Cloud N and 38-Cloud label cloud vs everything else,
Alberta only cloud shadow, ukis-csmask clear / cloud / shadow, the synthetic demo all four
classes exactly. Labels are read on their own grid (the scene's source grid) and moved to the
prediction's grid by nearest neighbour. Scores come from :mod:`ocm_engine.metrics`. Label
maps are ``(height, width)`` int16 scheme indices, ``-1`` where unlabelled.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ocm_app.render import RGBA, hatch_css, hatch_rgba, resize_to
from ocm_engine.constants import CLASS_COLOURS
from ocm_engine.errors import SceneReadError
from ocm_engine.io.raster import read_raster
from ocm_engine.labels import LABEL_SCHEMES
from ocm_engine.metrics import Scores, confusion_matrix, scores_from_confusion

LabelMap = npt.NDArray[np.int16]
_CLEAR, _THICK, _THIN, _SHADOW = (tuple(c) for c in CLASS_COLOURS)
_NOT = (0, 0, 0, 0)
_UNLABELLED = (128, 128, 128, 160)


def _engine(key: str) -> tuple[tuple[str, ...], tuple[int, int, int, int]]:
    """Class names (for display) and the model-class grouping of the engine's scheme ``key`` (one definition)."""
    scheme = LABEL_SCHEMES[key]
    return tuple(name.replace("_", " ") for name in scheme.classes), scheme.groups


#: The app's scheme keys that the engine names otherwise.
_ENGINE_KEY = {"synthetic": "four_class"}


@dataclass(frozen=True, slots=True)
class LabelScheme:
    """A label set's classes and how the model's four classes map onto them.

    Attributes:
        key: Scheme key (the first item of ``SceneSpec.labels``).
        title: Name of the label set.
        classes: The scheme's class names, in index order.
        groups: For model classes 0-3 (clear, thick, thin, shadow), the scheme index they count as.
        colours: RGBA per scheme class for the label layer (transparent: "everything else").
        explanation: What the experts labelled and how the comparison is made.
    """

    key: str
    title: str
    classes: tuple[str, ...]
    groups: tuple[int, int, int, int]
    colours: tuple[tuple[int, ...], ...]
    explanation: str


SCHEMES: dict[str, LabelScheme] = {
    "oncloudn": LabelScheme(
        "oncloudn", "On Cloud N (Sentinel-2 challenge labels)", *_engine("oncloudn"),
        (_NOT, _THICK),
        "On Cloud N labels **cloud vs everything else**: it has **no shadow class** (shadow is part of "
        "'not cloud') and no thick/thin split. So the model's thick and thin cloud are merged into "
        "*cloud*, and its shadow counts as *not cloud*. Pixels labelled 255 are unlabelled."),
    "38cloud": LabelScheme(
        "38cloud", "38-Cloud (Landsat 8 cloud labels)", *_engine("38cloud"), (_NOT, _THICK),
        "38-Cloud labels **cloud only** (255 cloud, 0 clear): no shadow, no thin class. Thick and thin "
        "predictions are merged into *cloud*; predicted shadow counts as *not cloud*."),
    "alberta": LabelScheme(
        "alberta", "Alberta cloud-shadow baseline (hand-painted)", *_engine("alberta"),
        (_NOT, _SHADOW),
        "The Alberta set is **shadow-only**: an analyst painted cloud shadow (pure green pixels of "
        "`shadowBaseline.tif`); everything else, clouds included, is *not shadow*. Only the model's "
        "shadow class is scored; 6 of the 10 dates are painted."),
    "ukis": LabelScheme(
        "ukis", "ukis-csmask test masks", *_engine("ukis"), (_NOT, _THICK, _SHADOW),
        "The ukis-csmask masks have **clear** (land, water and snow together), **cloud** and **cloud "
        "shadow**. Thick and thin predictions are merged into *cloud*."),
    "synthetic": LabelScheme(
        "synthetic", "Exact truth of the synthetic clouds", *_engine("four_class"), (_NOT, _THICK, _THIN, _SHADOW),
        "The clouds and shadows were **added by the app** to cloud-free imagery, so every pixel's class "
        "is known exactly, thick vs thin included. Soft edges where a layer fades in are left unscored. "
        "A fair lesson, not a benchmark: synthetic clouds are easier than real ones."),
}


@dataclass(frozen=True, slots=True)
class Accuracy:
    """A run scored against a scene's labels, on the prediction's grid.

    Attributes:
        scheme: The label scheme.
        labels: ``(h, w)`` scheme indices, ``-1`` unlabelled.
        predicted: ``(h, w)`` the model's classes grouped into the scheme.
        scores: Confusion matrix and per-class scores (:mod:`ocm_engine.metrics`).
        source: The label file's name.
    """

    scheme: LabelScheme
    labels: LabelMap
    predicted: npt.NDArray[np.int16]
    scores: Scores
    source: str

    def confusion_rows(self) -> list[dict[str, object]]:
        """The confusion matrix as table rows: one per expert class, columns = the model's."""
        rows: list[dict[str, object]] = []
        totals = self.scores.confusion.sum(axis=1)
        for i, name in enumerate(self.scheme.classes):
            row: dict[str, object] = {"experts say": name}
            for j, other in enumerate(self.scheme.classes):
                count = int(self.scores.confusion[i, j])
                share = 100.0 * count / totals[i] if totals[i] else 0.0
                row[f"model: {other}"] = f"{count:,} px ({share:.0f} %)"
            rows.append(row)
        return rows

    def score_rows(self) -> list[dict[str, object]]:
        """Per-class precision, recall, F1 and IoU (fractions 0-1, ``None`` where undefined)."""
        def num(value: float) -> float | None:
            return None if np.isnan(value) else round(float(value), 3)

        return [{"class": s.name, "F1": num(s.f1), "precision": num(s.precision), "recall": num(s.recall),
                 "IoU": num(s.iou), "labelled pixels": s.support} for s in self.scores.scores]

    def label_rgba(self, shape: tuple[int, int] | None = None) -> RGBA:
        """The experts' layer: scheme colours **hatched and outlined** (the model's layers are solid).

        The same hues as the model keep the two comparable; the hatching says "experts" at a
        glance on the map. Classes drawn transparent stay transparent; unlabelled pixels are grey.

        Args:
            shape: ``(h, w)`` to draw at (nearest neighbour first, so the hatching keeps its
                on-screen period); the labels' own grid when ``None``.
        """
        labels = self.labels if shape is None or shape == self.labels.shape else resize_to(self.labels, shape)
        lut = np.array([*self.scheme.colours, _UNLABELLED], np.uint8)
        index = np.where(labels < 0, len(self.scheme.colours), labels)
        return hatch_rgba(index, lut, hatched=np.arange(len(lut)) < len(self.scheme.colours))

    def model_rgba(self) -> RGBA:
        """The model's classes grouped into the scheme, solid, in the label layer's colours."""
        lut = np.array(self.scheme.colours, np.uint8)
        rgba: RGBA = lut[self.predicted]
        return rgba

    def legend_items(self) -> tuple[tuple[str, str], ...]:
        """``(label, css background)`` of the experts' layer as drawn: hatched swatches per class.

        Classes the layer leaves transparent are listed as not drawn (an empty swatch), so the
        legend shows exactly what the map shows.
        """
        items = []
        for name, colour in zip(self.scheme.classes, self.scheme.colours, strict=True):
            if colour[3]:
                items.append((f"Experts: {name} (hatched)", hatch_css(colour)))
            else:
                items.append((f"Experts: {name} (not drawn)", "transparent"))
        return (*items, ("Experts: unlabelled", hatch_css(_UNLABELLED)))

    def swipe_legend_items(self) -> tuple[tuple[str, str], ...]:
        """The experts | model swipe's legend: hatched experts, solid model, undrawn classes said so."""
        items = list(self.legend_items())
        for name, colour in zip(self.scheme.classes, self.scheme.colours, strict=True):
            if colour[3]:
                items.append((f"Model: {name} (solid)", f"rgb({colour[0]},{colour[1]},{colour[2]})"))
            else:
                items.append((f"Model: {name} (not drawn)", "transparent"))
        return tuple(items)


def read_labels(scheme_key: str, path: str) -> LabelMap:
    """Read a label file into scheme indices on its own grid.

    Raises:
        SceneReadError: The label file cannot be read (its name is in the message).
        KeyError: Unknown scheme.
    """
    scheme = SCHEMES[scheme_key]
    name = path.rsplit("/", 1)[-1]
    try:
        if scheme.key == "ukis":
            with np.load(path) as data:
                return LABEL_SCHEMES["ukis"].encode(data["msk"][..., 0])
        _info, data = read_raster(path)
    except (OSError, KeyError, ValueError) as err:  # SceneReadError is an OSError too
        raise SceneReadError(f"Labels {name}", arrived=f"a read error ({err})",
                             expected="a readable label file (a raster, or the ukis .npz)") from err
    band = data[0]
    if scheme.key == "alberta":  # painted shadow = pure green pixels of an RGB picture -> 0/1
        r, g, b = data[0].astype(int), data[1].astype(int), data[2].astype(int)
        band = ((g > 200) & (r < 80) & (b < 80)).astype(np.uint8)
    # synthetic: training codes 0-3 (the model's), 255 ambiguous edge (unlabelled)
    return LABEL_SCHEMES[_ENGINE_KEY.get(scheme.key, scheme.key)].encode(band)


def score(scheme_key: str, labels: LabelMap, classes: npt.NDArray[np.uint8], valid: npt.NDArray[np.bool_],
          source: str) -> Accuracy:
    """Score the model's classes (on the prediction grid) against labels on their own grid."""
    scheme = SCHEMES[scheme_key]
    on_grid = resize_to(labels, classes.shape) if labels.shape != classes.shape else labels
    on_grid = np.where(valid, on_grid, -1).astype(np.int16)
    grouped = LABEL_SCHEMES[_ENGINE_KEY.get(scheme.key, scheme.key)].group(classes)
    confusion = confusion_matrix(on_grid, grouped, len(scheme.classes))
    return Accuracy(scheme, on_grid, grouped, scores_from_confusion(confusion, scheme.classes), source)
