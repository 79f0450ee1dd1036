"""Choosing the inference resolution and mapping between the source and inference grids."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from ocm_engine.constants import MAX_RESOLUTION_M, MIN_RESOLUTION_M, VALIDATED_RESOLUTION_M
from ocm_engine.errors import ResolutionError, ResolutionWarning, emit

RESOLUTION_GUIDANCE = (
    "The models were designed for 10-50 m. 10 m is the most accurate (balanced accuracy "
    "0.83 in the reference's study), 20-30 m is nearly as good (0.81) and 4-9x faster, "
    "40-50 m is fastest but coarser (0.78-0.76). 5 m is accepted and gives crisper edges, "
    "not better accuracy. Imagery is never upsampled beyond its own resolution."
)


def choose_resolution(source_m: float, requested_m: float | None) -> float:
    """Return the inference resolution in metres, checking it against the source.

    Args:
        source_m: The source's pixel size in metres (NaN when unknown, e.g. no CRS).
        requested_m: The resolution asked for, or ``None`` for the default: the
            source's own, but at least 10 m (finer imagery is resampled to 10 m).

    Returns:
        The resolution to infer at.

    Raises:
        ResolutionError: Non-positive or non-finite values, finer than 5 m, coarser than
            50 m (unless that is the source's own), or finer than the source (upsampling).
    """
    known = math.isfinite(source_m) and source_m > 0
    if requested_m is None:
        if not known:
            return float("nan")
        chosen = max(source_m, VALIDATED_RESOLUTION_M[0])
    else:
        chosen = float(requested_m)
        if not math.isfinite(chosen) or chosen <= 0:
            raise ResolutionError(
                f"Resolution {requested_m!r} m is not a finite positive number. Choose 5-50 m "
                "(10-50 m validated), e.g. --resolution 20."
            )
        if chosen > MAX_RESOLUTION_M and not (known and chosen <= source_m * (1 + 1e-6)):
            raise ResolutionError(
                f"Resolution {chosen:g} m is coarser than the {MAX_RESOLUTION_M:g} m the models "
                f"accept{f' (the source is {source_m:.4g} m)' if known else ''}. Choose "
                f"{MIN_RESOLUTION_M:g}-{MAX_RESOLUTION_M:g} m, e.g. --resolution 20, or leave it "
                "out to use the source's own."
            )
        if chosen < MIN_RESOLUTION_M:
            raise ResolutionError(
                f"Resolution {chosen:g} m is finer than the {MIN_RESOLUTION_M:g} m the models "
                f"accept. Choose {MIN_RESOLUTION_M:g}-{MAX_RESOLUTION_M:g} m."
            )
        if known and chosen < source_m * (1 - 1e-6):
            raise ResolutionError(
                f"Resolution {chosen:g} m is finer than the source's {source_m:.4g} m: that would "
                f"upsample the imagery and invent detail. Choose {max(source_m, 5):.4g} m or coarser."
            )
    low, high = VALIDATED_RESOLUTION_M
    if chosen < low or chosen > high:
        emit(
            f"Inferring at {chosen:.4g} m, outside the validated {low:g}-{high:g} m range; "
            "expect lower accuracy.",
            ResolutionWarning,
            stacklevel=3,
        )
    return chosen


def nearest_index(source_len: int, target_len: int) -> npt.NDArray[np.intp]:
    """For each of ``source_len`` pixels, the index of the covering pixel on a ``target_len`` grid."""
    centres = (np.arange(source_len) + 0.5) * (target_len / source_len)
    return np.minimum(centres.astype(np.intp), target_len - 1)
