"""Class statistics and map comparison: one module for every count, percentage and score.

Used by :class:`~ocm_engine.inference.Prediction`, the export tags and JSON, batch
reports, the app and training evaluation. Maps are ``(height, width)`` class arrays
(0 clear, 1 thick cloud, 2 thin cloud, 3 cloud shadow) with a ``(height, width)`` bool
``valid`` mask.

Keys: classes are always named by :data:`~ocm_engine.constants.CLASS_NAMES`
(``"clear"``, ``"thick_cloud"``, ``"thin_cloud"``, ``"cloud_shadow"``). The flat form
written to GeoTIFF tags, JSON and batch reports (``"<class>_percent"``, ``cloud_percent``,
``nodata_percent``, ``valid_pixels``) is built in one place, :meth:`ClassStatistics.as_dict`.

Percentages are in percent (0-100); scores (precision, recall, F1, IoU, accuracy) are
fractions (0-1), ``nan`` where undefined.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ocm_engine.constants import CLASS_NAMES, NUM_CLASSES
from ocm_engine.errors import InvalidImageError, LabelSchemeError, LabelSchemeWarning, UnknownClassError, emit
from ocm_engine.labels import LABEL_SCHEMES, LabelScheme, get_label_scheme
from ocm_engine.types import BoolArray

CLOUD_CLASSES: Final = ("thick_cloud", "thin_cloud")
#: Model classes grouped as clear (0), cloud (1: thick or thin) and shadow (2).
COARSE_GROUPS: Final = np.array([0, 1, 1, 2], dtype=np.uint8)

Int64Array = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class ClassStatistics:
    """Pixel counts of a class map.

    Attributes:
        counts: Valid pixels per class, in :data:`CLASS_NAMES` order.
        valid_pixels: Pixels with data.
        pixels: All pixels of the grid.
    """

    counts: tuple[int, ...]
    valid_pixels: int
    pixels: int

    @property
    def percentages(self) -> dict[str, float]:
        """Per-class share of valid pixels, in percent, keyed by class name (0 when none valid)."""
        total = self.valid_pixels
        return {name: (100.0 * c / total if total else 0.0) for name, c in zip(CLASS_NAMES, self.counts, strict=True)}

    @property
    def cloud_percent(self) -> float:
        """Thick plus thin cloud, in percent of valid pixels."""
        pct = self.percentages
        return sum(pct[name] for name in CLOUD_CLASSES)

    @property
    def nodata_percent(self) -> float:
        """Share of nodata pixels, in percent of all pixels."""
        return 100.0 * (1.0 - self.valid_pixels / self.pixels) if self.pixels else 0.0

    def __add__(self, other: ClassStatistics) -> ClassStatistics:
        """Sum the counts of two blocks of one scene."""
        return ClassStatistics(
            tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)),
            self.valid_pixels + other.valid_pixels,
            self.pixels + other.pixels,
        )

    def as_dict(self) -> dict[str, float | int]:
        """The flat form of tags, JSON and batch reports (numbers, not strings).

        Returns:
            ``{"<class>_percent": ..., "cloud_percent": ..., "nodata_percent": ...,
            "valid_pixels": int}``.
        """
        out: dict[str, float | int] = {f"{name}_percent": pct for name, pct in self.percentages.items()}
        out["cloud_percent"] = self.cloud_percent
        out["nodata_percent"] = self.nodata_percent
        out["valid_pixels"] = self.valid_pixels
        return out


def class_counts(classes: npt.NDArray[np.integer], valid: BoolArray) -> Int64Array:
    """Valid pixels per class (length 4)."""
    return np.bincount(classes[valid].ravel(), minlength=NUM_CLASSES)[:NUM_CLASSES].astype(np.int64)


def class_statistics(classes: npt.NDArray[np.integer], valid: BoolArray) -> ClassStatistics:
    """Counts and percentages of a class map ``(height, width)`` over its ``valid`` pixels."""
    return statistics_from_counts(class_counts(classes, valid), int(valid.sum()), int(valid.size))


def statistics_from_counts(counts: Sequence[int] | Int64Array, valid_pixels: int, pixels: int) -> ClassStatistics:
    """Build :class:`ClassStatistics` from per-class counts (e.g. summed over blocks)."""
    return ClassStatistics(tuple(int(c) for c in counts), int(valid_pixels), int(pixels))


# --- comparison with a reference -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClassScore:
    """Scores of one class against a reference (fractions, ``nan`` where undefined)."""

    name: str
    precision: float
    recall: float
    f1: float
    iou: float
    support: int


@dataclass(frozen=True, slots=True)
class Scores:
    """Scores over one set of pixels.

    Attributes:
        classes: Class names of the scheme, in confusion-matrix order.
        confusion: ``(n, n)`` pixel counts, rows = reference, columns = prediction.
        scores: One :class:`ClassScore` per class.
        balanced_accuracy: Mean recall over classes present in the reference.
        overall_accuracy: Fraction of scored pixels predicted right (the agreement).
    """

    classes: tuple[str, ...]
    confusion: Int64Array
    scores: tuple[ClassScore, ...]
    balanced_accuracy: float
    overall_accuracy: float

    def score(self, name: str) -> ClassScore:
        """Return the score of one class by name.

        Raises:
            UnknownClassError: If the scheme has no such class (a ``KeyError``).
        """
        for item in self.scores:
            if item.name == name:
                return item
        raise UnknownClassError(name, self.classes)

    def as_dict(self) -> dict[str, object]:
        """A JSON-serialisable view (numbers stay numbers)."""
        return {
            "classes": list(self.classes),
            "confusion": self.confusion.tolist(),
            "scores": [
                {"name": s.name, "precision": s.precision, "recall": s.recall, "f1": s.f1, "iou": s.iou,
                 "support": s.support}
                for s in self.scores
            ],
            "balanced_accuracy": self.balanced_accuracy,
            "overall_accuracy": self.overall_accuracy,
        }


def confusion_matrix(
    reference: npt.NDArray[np.integer], predicted: npt.NDArray[np.integer], n_classes: int
) -> Int64Array:
    """Pixel counts ``(n, n)``, rows = reference, columns = prediction; negative values skipped.

    Raises:
        InvalidImageError: If the arrays differ in shape.
    """
    if reference.shape != predicted.shape:
        raise InvalidImageError("Prediction shape", arrived=predicted.shape,
                                expected=f"the reference's shape {reference.shape}")
    ref = reference.astype(np.int64)
    pred = predicted.astype(np.int64)
    keep = (ref >= 0) & (pred >= 0) & (ref < n_classes) & (pred < n_classes)
    flat = ref[keep] * n_classes + pred[keep]
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes).astype(np.int64)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def scores_from_confusion(confusion: Int64Array, classes: Sequence[str] = CLASS_NAMES) -> Scores:
    """Per-class precision, recall, F1, IoU and the balanced/overall accuracy."""
    scores = []
    recalls = []
    for i, name in enumerate(classes):
        tp = float(confusion[i, i])
        fp = float(confusion[:, i].sum() - tp)
        fn = float(confusion[i, :].sum() - tp)
        precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        f1 = _ratio(2 * tp, 2 * tp + fp + fn)
        support = int(confusion[i, :].sum())
        scores.append(ClassScore(name, precision, recall, f1, _ratio(tp, tp + fp + fn), support))
        if support > 0:
            recalls.append(recall)
    return Scores(
        tuple(classes),
        confusion,
        tuple(scores),
        float(np.mean(recalls)) if recalls else float("nan"),
        _ratio(float(np.trace(confusion)), float(confusion.sum())),
    )


def compare(
    predicted: npt.NDArray[np.integer],
    reference: npt.NDArray[np.integer],
    valid: BoolArray | None = None,
    *,
    scheme: str | LabelScheme | None = None,
) -> Scores:
    """Score a model class map against a reference over ``valid`` pixels, in the reference's class scheme.

    Args:
        predicted: ``(height, width)`` model classes (0 clear, 1 thick, 2 thin, 3 shadow).
        reference: ``(height, width)`` reference labels: raw values of ``scheme``, or, without a
            scheme, the model's four class codes (negative values: unlabelled).
        valid: Pixels to score; all when ``None``.
        scheme: The reference's label scheme, a key of :data:`ocm_engine.labels.LABEL_SCHEMES`
            (``"oncloudn"``, ``"38cloud"``, ``"alberta"``, ``"ukis"``, ``"four_class"``) or a
            :class:`~ocm_engine.labels.LabelScheme`: its raw values are read as its classes and
            the model's classes are grouped into them (thick + thin = cloud where the labels have
            no thick/thin split). ``None``: the reference is another four-class map.

    Returns:
        The scores, named by the scheme's classes; ``overall_accuracy`` is the pixel agreement.

    Raises:
        LabelSchemeError: Without a scheme, the reference holds values other than 0-3.
        UnknownLabelSchemeError: ``scheme`` is not a known key.

    Warns:
        LabelSchemeWarning: Without a scheme, the reference holds only 0 and 1, as 2-class cloud
            labels (On Cloud N) do: scored as four classes, 1 would be thick cloud only.
    """
    if scheme is None:
        scored = reference if valid is None else reference[valid]
        values = [int(v) for v in np.unique(scored) if v >= 0]
        if any(v >= NUM_CLASSES for v in values):
            raise LabelSchemeError(values, tuple(LABEL_SCHEMES))
        if values == [0, 1]:
            emit(LabelSchemeWarning(
                "The reference holds only the values 0 and 1: scored as the model's four classes, 1 is thick "
                "cloud only and thin cloud and shadow count as wrong. If it is a 2-class label (On Cloud N: "
                "0 not cloud, 1 cloud) pass scheme='oncloudn'; if it is a four-class map, pass "
                f"scheme='four_class'. Known schemes: {', '.join(LABEL_SCHEMES)}."), stacklevel=2)
        scheme = "four_class"
    chosen = get_label_scheme(scheme)
    ref = chosen.encode(reference).astype(np.int64)
    if valid is not None:
        ref = np.where(valid, ref, -1)
    return scores_from_confusion(confusion_matrix(ref, chosen.group(predicted), len(chosen.classes)), chosen.classes)


def agreement(a: npt.NDArray[np.integer], b: npt.NDArray[np.integer], valid: BoolArray) -> float:
    """Share of valid pixels (in percent) where two class maps agree (``nan`` when none valid)."""
    total = int(valid.sum())
    return 100.0 * float(((a == b) & valid).sum()) / total if total else float("nan")


def coarse_classes(classes: npt.NDArray[np.integer]) -> npt.NDArray[np.uint8]:
    """Group model classes into clear (0), cloud (1: thick or thin) and shadow (2)."""
    grouped: npt.NDArray[np.uint8] = COARSE_GROUPS[np.clip(classes, 0, NUM_CLASSES - 1)]
    return grouped


def cloud_agreement(a: npt.NDArray[np.integer], b: npt.NDArray[np.integer], valid: BoolArray) -> float:
    """Agreement (in percent) on cloud vs shadow vs clear, ignoring thick/thin swaps."""
    return agreement(coarse_classes(a), coarse_classes(b), valid)


def iou(a: npt.NDArray[np.integer], b: npt.NDArray[np.integer], valid: BoolArray, cls: int) -> float:
    """Intersection over union (in percent) of one class in two maps (``nan`` when absent in both)."""
    x, y = (a == cls) & valid, (b == cls) & valid
    union = int((x | y).sum())
    return 100.0 * float((x & y).sum()) / union if union else float("nan")


def entropy(probabilities: npt.NDArray[np.floating], valid: BoolArray) -> npt.NDArray[np.float32]:
    """Normalised Shannon entropy of per-class probabilities ``(classes, height, width)``.

    Returns:
        ``(height, width)`` float32: 0 where one class is certain, 1 where every class is equally
        likely (divided by ``log(classes)``); 0 on invalid pixels.
    """
    p = np.clip(probabilities, 1e-12, 1.0)
    ent = -(p * np.log(p)).sum(axis=0) / math.log(probabilities.shape[0])
    return np.where(valid, ent, 0.0).astype(np.float32)
