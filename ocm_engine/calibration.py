"""Per-class calibration of the ensemble's averaged logits (stored with the weights).

A weights manifest (``ensemble.json``) may carry::

    "calibration": {"logit_bias": [b_clear, b_thick, b_thin, b_shadow]}

The bias is added to the members' **mean** logits, before patches are blended and before
the softmax and the argmax. Adding a constant per class moves the decision between
classes (e.g. a negative thin-cloud bias calls fewer pixels thin) without touching the
members' weights; the blend of overlapping patches is a weighted mean, so adding the
bias before it is the same as adding it after. The members' own logits (the Compare
page's per-member masks) stay uncalibrated.

The engine applies it in one place (:func:`calibrate_logits`, called by
``ocm_engine.inference.predict_array``); the biases are fitted by the training code
(``ocm_engine.training.first_look``) on training-side data and shown in the model card.
"""

from __future__ import annotations

import ast
import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import torch

from ocm_engine.errors import Hints, ModelLoadError

#: Key of the calibration in ``ensemble.json`` (and in ``Ensemble.metadata``).
CALIBRATION_KEY: Final = "calibration"
NUM_CLASSES: Final = 4
_FIX = Hints.same('Fix or remove "calibration" in ensemble.json.')


@dataclass(frozen=True, slots=True)
class Calibration:
    """Additive per-class logit bias of the ensemble's averaged logits.

    Attributes:
        logit_bias: One bias per class: clear, thick cloud, thin cloud, cloud shadow.
    """

    logit_bias: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)

    @property
    def is_identity(self) -> bool:
        """Whether the calibration changes nothing."""
        return all(b == 0.0 for b in self.logit_bias)

    def as_json(self) -> dict[str, list[float]]:
        """The manifest form: ``{"logit_bias": [..4..]}``."""
        return {"logit_bias": [round(float(b), 4) for b in self.logit_bias]}


def parse_calibration(value: object) -> Calibration:
    """Read a calibration from its manifest form.

    Args:
        value: A mapping ``{"logit_bias": [4 numbers]}``, or that mapping as JSON text or
            as the Python text the manifest loader turns non-string fields into.

    Raises:
        ModelLoadError: If it is not a mapping with four finite numbers under ``logit_bias``.
    """
    if isinstance(value, str):
        return _parse_text(value)
    return _parse_mapping(value)


@functools.lru_cache(maxsize=16)
def _parse_text(text: str) -> Calibration:
    try:
        data: Any = json.loads(text)
    except ValueError:
        try:
            data = ast.literal_eval(text)
        except (ValueError, SyntaxError) as err:
            raise ModelLoadError(
                "The weights' calibration", arrived=text[:80],
                expected='{"logit_bias": [clear, thick, thin, shadow]} as JSON or a literal mapping',
                hints=_FIX,
            ) from err
    return _parse_mapping(data)


def _parse_mapping(data: object) -> Calibration:
    bias = data.get("logit_bias") if isinstance(data, Mapping) else None
    numbers = list(bias) if isinstance(bias, (list, tuple)) else []
    if len(numbers) != NUM_CLASSES or not all(
        isinstance(b, (int, float)) and not isinstance(b, bool) and math.isfinite(b) for b in numbers
    ):
        raise ModelLoadError(
            "The weights' calibration", arrived=data,
            expected=f'{{"logit_bias": [clear, thick, thin, shadow]}} with {NUM_CLASSES} finite numbers',
            hints=_FIX,
        )
    b0, b1, b2, b3 = (float(b) for b in numbers)
    return Calibration((b0, b1, b2, b3))


def calibration_of(metadata: Mapping[str, str]) -> Calibration | None:
    """The calibration in an ensemble's metadata, or ``None`` when it has none.

    Raises:
        ModelLoadError: If the metadata holds a malformed calibration.
    """
    value = metadata.get(CALIBRATION_KEY)
    if value is None or value == "":
        return None
    calibration = parse_calibration(value)
    return None if calibration.is_identity else calibration


def apply_calibration(logits: torch.Tensor, calibration: Calibration | None) -> torch.Tensor:
    """Add the per-class bias to logits ``(n, 4, h, w)`` (a new tensor; the input is left as is)."""
    if calibration is None or calibration.is_identity:
        return logits
    bias = torch.tensor(calibration.logit_bias, dtype=logits.dtype, device=logits.device)
    return logits + bias.view(1, NUM_CLASSES, 1, 1)


def calibrate_logits(logits: torch.Tensor, ensemble: object) -> torch.Tensor:
    """The engine's hook: the ensemble's mean logits ``(n, 4, h, w)`` with its stored calibration applied.

    Raises:
        ModelLoadError: If the ensemble's metadata holds a malformed calibration.
    """
    metadata = getattr(ensemble, "metadata", None)
    if not isinstance(metadata, Mapping):
        return logits
    return apply_calibration(logits, calibration_of(metadata))
