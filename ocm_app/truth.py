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

from ocm_app.render import RGBA, resize_to
from ocm_engine.constants import CLASS_COLOURS
from ocm_engine.errors import SceneReadError
from ocm_engine.io.raster import read_raster
from ocm_engine.metrics import Scores, confusion_matrix, scores_from_confusion

LabelMap = npt.NDArray[np.int16]
_CLEAR, _THICK, _THIN, _SHADOW = (tuple(c) for c in CLASS_COLOURS)
_NOT = (0, 0, 0, 0)


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
        "oncloudn", "On Cloud N (Sentinel-2 challenge labels)", ("not cloud", "cloud"), (0, 1, 1, 0),
        (_NOT, _THICK),
        "On Cloud N labels **cloud vs everything else**: it has **no shadow class** (shadow is part of "
        "'not cloud') and no thick/thin split. So the model's thick and thin cloud are merged into "
        "*cloud*, and its shadow counts as *not cloud*. Pixels labelled 255 are unlabelled."),
    "38cloud": LabelScheme(
        "38cloud", "38-Cloud (Landsat 8 cloud labels)", ("not cloud", "cloud"), (0, 1, 1, 0), (_NOT, _THICK),
        "38-Cloud labels **cloud only** (255 cloud, 0 clear): no shadow, no thin class. Thick and thin "
        "predictions are merged into *cloud*; predicted shadow counts as *not cloud*."),
    "alberta": LabelScheme(
        "alberta", "Alberta cloud-shadow baseline (hand-painted)", ("not shadow", "shadow"), (0, 0, 0, 1),
        (_NOT, _SHADOW),
        "The Alberta set is **shadow-only**: an analyst painted cloud shadow (pure green pixels of "
        "`shadowBaseline.tif`); everything else, clouds included, is *not shadow*. Only the model's "
        "shadow class is scored; 6 of the 10 dates are painted."),
    "ukis": LabelScheme(
        "ukis", "ukis-csmask test masks", ("clear", "cloud", "shadow"), (0, 1, 1, 2), (_NOT, _THICK, _SHADOW),
        "The ukis-csmask masks have **clear** (land, water and snow together), **cloud** and **cloud "
        "shadow**. Thick and thin predictions are merged into *cloud*."),
    "synthetic": LabelScheme(
        "synthetic", "Exact truth of the synthetic clouds", ("clear", "thick cloud", "thin cloud", "cloud shadow"),
        (0, 1, 2, 3), (_NOT, _THICK, _THIN, _SHADOW),
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

    def label_rgba(self) -> RGBA:
        """The label layer: scheme colours, unlabelled pixels hatched grey."""
        lut = np.array([*self.scheme.colours, (128, 128, 128, 160)], np.uint8)
        rgba: RGBA = lut[np.where(self.labels < 0, len(self.scheme.colours), self.labels)]
        return rgba

    def model_rgba(self) -> RGBA:
        """The model's classes grouped into the scheme, in the label layer's colours."""
        lut = np.array(self.scheme.colours, np.uint8)
        rgba: RGBA = lut[self.predicted]
        return rgba

    def legend_items(self) -> tuple[tuple[str, str], ...]:
        """``(label, css colour)`` pairs of the label layer (transparent classes omitted)."""
        if self.scheme.key == "synthetic":  # the model's own classes and colours: the legend has them
            return (("Unlabelled (soft edge)", "rgb(128,128,128)"),)
        items = [(f"Experts: {name}", f"rgb({c[0]},{c[1]},{c[2]})")
                 for name, c in zip(self.scheme.classes, self.scheme.colours, strict=True) if c[3]]
        return (*items, ("Unlabelled", "rgb(128,128,128)"))


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
                raw = data["msk"][..., 0]
            out = np.full(raw.shape, -1, np.int16)
            out[(raw == 1) | (raw == 3)] = 0
            out[raw == 4] = 1
            out[raw == 0] = 2
            return out
        _info, data = read_raster(path)
    except (OSError, KeyError, ValueError) as err:  # SceneReadError is an OSError too
        raise SceneReadError(f"Could not read the labels {name}: {err}") from err
    band = data[0]
    out = np.full(band.shape, -1, np.int16)
    if scheme.key == "oncloudn":
        out[band == 0] = 0
        out[band == 1] = 1
    elif scheme.key == "38cloud":
        out[band == 0] = 0
        out[band == 255] = 1
    elif scheme.key == "alberta":
        r, g, b = data[0].astype(int), data[1].astype(int), data[2].astype(int)
        out[:] = 0
        out[(g > 200) & (r < 80) & (b < 80)] = 1
    else:  # synthetic: training codes 0-3, 255 ambiguous edge
        keep = band < 4
        out[keep] = band[keep]
    return out


def score(scheme_key: str, labels: LabelMap, classes: npt.NDArray[np.uint8], valid: npt.NDArray[np.bool_],
          source: str) -> Accuracy:
    """Score the model's classes (on the prediction grid) against labels on their own grid."""
    scheme = SCHEMES[scheme_key]
    on_grid = resize_to(labels, classes.shape) if labels.shape != classes.shape else labels
    on_grid = np.where(valid, on_grid, -1).astype(np.int16)
    grouped = np.array(scheme.groups, np.int16)[np.clip(classes, 0, 3)]
    confusion = confusion_matrix(on_grid, grouped, len(scheme.classes))
    return Accuracy(scheme, on_grid, grouped, scores_from_confusion(confusion, scheme.classes), source)
