"""Label schemes: what the values of a reference label mean, and how the model's classes compare.

Reference labels come in their own class schemes: On Cloud N and 38-Cloud label cloud vs
everything else, the Alberta set only cloud shadow, the ukis-csmask masks clear / cloud /
shadow, and a map in the model's own codes all four classes. A :class:`LabelScheme` says both
halves of a fair comparison: which raw label value is which scheme class (:meth:`LabelScheme.encode`;
values it does not list are unlabelled), and which scheme class each of the model's four classes
counts as (:meth:`LabelScheme.group`; thick and thin cloud merge into *cloud* where the labels
have no thick/thin split, shadow counts as *not cloud* where they have no shadow class).

:func:`ocm_engine.metrics.compare` scores with a scheme; the app's accuracy view and ``ocm
evaluate --scheme`` use the same :data:`LABEL_SCHEMES`. Maps are ``(height, width)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from ocm_engine.constants import CLASS_NAMES, NUM_CLASSES
from ocm_engine.errors import UnknownLabelSchemeError

Int16Array = npt.NDArray[np.int16]


@dataclass(frozen=True, slots=True)
class LabelScheme:
    """A reference label set's classes, its raw values, and how the model's classes map onto it.

    Attributes:
        key: Registry key (``"oncloudn"``, ...).
        title: Name of the label set.
        classes: The scheme's class names, in index order (the names of the scores).
        groups: For model classes 0-3 (clear, thick cloud, thin cloud, cloud shadow), the scheme
            index they count as.
        values: ``(raw label value, scheme index)`` pairs; any other raw value is unlabelled.
    """

    key: str
    title: str
    classes: tuple[str, ...]
    groups: tuple[int, int, int, int]
    values: tuple[tuple[int, int], ...]

    @property
    def value_map(self) -> Mapping[int, int]:
        """Raw label value -> scheme index."""
        return dict(self.values)

    def encode(self, labels: npt.NDArray[np.generic]) -> Int16Array:
        """Raw label values ``(h, w)`` -> scheme indices, ``-1`` where unlabelled."""
        out = np.full(labels.shape, -1, np.int16)
        for raw, index in self.values:
            out[labels == raw] = index
        return out

    def group(self, classes: npt.NDArray[np.integer]) -> Int16Array:
        """The model's classes ``(h, w)`` (0-3) as scheme indices."""
        grouped: Int16Array = np.array(self.groups, np.int16)[np.clip(classes, 0, NUM_CLASSES - 1)]
        return grouped


LABEL_SCHEMES: Final[dict[str, LabelScheme]] = {
    "four_class": LabelScheme(
        "four_class", "The model's own four classes (another run, or exact synthetic truth)", CLASS_NAMES,
        (0, 1, 2, 3), ((0, 0), (1, 1), (2, 2), (3, 3))),
    "oncloudn": LabelScheme(
        "oncloudn", "On Cloud N (Sentinel-2 challenge labels: 0 not cloud, 1 cloud)", ("not_cloud", "cloud"),
        (0, 1, 1, 0), ((0, 0), (1, 1))),
    "38cloud": LabelScheme(
        "38cloud", "38-Cloud (Landsat 8 cloud labels: 0 clear, 255 cloud)", ("not_cloud", "cloud"),
        (0, 1, 1, 0), ((0, 0), (255, 1))),
    "alberta": LabelScheme(
        "alberta", "Alberta cloud-shadow baseline (shadow-only: 0 not shadow, 1 shadow)", ("not_shadow", "shadow"),
        (0, 0, 0, 1), ((0, 0), (1, 1))),
    "ukis": LabelScheme(
        "ukis", "ukis-csmask test masks (1 and 3 clear, 4 cloud, 0 shadow)", ("clear", "cloud", "shadow"),
        (0, 1, 1, 2), ((1, 0), (3, 0), (4, 1), (0, 2))),
}


def get_label_scheme(scheme: str | LabelScheme) -> LabelScheme:
    """The scheme of a key (a :class:`LabelScheme` passes through).

    Raises:
        UnknownLabelSchemeError: No such key (the message lists the known ones).
    """
    if isinstance(scheme, LabelScheme):
        return scheme
    try:
        return LABEL_SCHEMES[scheme]
    except KeyError as err:
        raise UnknownLabelSchemeError(scheme, tuple(LABEL_SCHEMES)) from err


# --- Training target codes ------------------------------------------------------------------
# The values of the label maps the models are trained on (``uint8``, ``(height, width)``), also
# the exact truth of the synthetic scenes (:mod:`ocm_engine.synthetic`):
#
# * ``0`` clear, ``1`` thick cloud, ``2`` thin cloud, ``3`` cloud shadow (the model's classes);
# * ``4`` cloud of unknown thickness (thick *or* thin: datasets without a thin class);
# * ``100``-``200`` a soft teacher target: clear or cloud (of unknown thickness) with cloud
#   probability ``(code - 100) / 100`` (the ukis-csmask teacher's own probabilities);
# * ``255`` unknown (ignored by the loss).
# ``ocm_engine.training`` re-exports them (``from ocm_engine.training import CLEAR``).

CLEAR: Final = 0
THICK: Final = 1
THIN: Final = 2
SHADOW: Final = 3
ANY_CLOUD: Final = 4
SOFT_BASE: Final = 100
SOFT_LEVELS: Final = 100
IGNORE: Final = 255


def soft_code(cloud_probability: npt.NDArray[np.floating]) -> npt.NDArray[np.uint8]:
    """Encode cloud probabilities (0-1) as soft-target label codes (100-200)."""
    clipped = np.clip(np.nan_to_num(cloud_probability, nan=0.0), 0.0, 1.0)
    codes: npt.NDArray[np.uint8] = (SOFT_BASE + np.round(clipped * SOFT_LEVELS)).astype(np.uint8)
    return codes


def is_soft(label: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Where ``label`` holds a soft teacher target."""
    out: npt.NDArray[np.bool_] = (label >= SOFT_BASE) & (label <= SOFT_BASE + SOFT_LEVELS)
    return out


def clear_like(label: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Clear pixels: hard ``CLEAR`` or a soft target that is more likely clear than cloud."""
    out: npt.NDArray[np.bool_] = (label == CLEAR) | (is_soft(label) & (label < SOFT_BASE + SOFT_LEVELS // 2))
    return out
