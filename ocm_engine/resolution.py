"""Choosing the inference resolution and mapping between the source and inference grids."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

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
            raise ResolutionError("not_positive", requested_m, source_m, low_m=MIN_RESOLUTION_M,
                                  high_m=MAX_RESOLUTION_M)
        if chosen > MAX_RESOLUTION_M and not (known and chosen <= source_m * (1 + 1e-6)):
            raise ResolutionError("too_coarse", chosen, source_m, low_m=MIN_RESOLUTION_M, high_m=MAX_RESOLUTION_M)
        if chosen < MIN_RESOLUTION_M:
            raise ResolutionError("too_fine", chosen, source_m, low_m=MIN_RESOLUTION_M, high_m=MAX_RESOLUTION_M)
        if known and chosen < source_m * (1 - 1e-6):
            raise ResolutionError("upsample", chosen, source_m, low_m=MIN_RESOLUTION_M, high_m=MAX_RESOLUTION_M)
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


#: The resolutions people compare at: the engine's 5-50 m range in common steps.
STANDARD_RESOLUTIONS_M: Final = (MIN_RESOLUTION_M, 10.0, 20.0, 30.0, 40.0, MAX_RESOLUTION_M)


@dataclass(frozen=True, slots=True)
class ResolutionChoices:
    """The inference resolutions a source allows (what a UI may offer; :func:`choose_resolution` checks).

    Attributes:
        source_m: The source's pixel size in metres (NaN when unknown).
        low_m: The finest resolution allowed (whole metres: the engine's 5 m, never finer than
            the source), or ``None`` when the source can only be inferred on its own grid.
        high_m: The coarsest resolution allowed (the engine's 50 m).
        default_m: The suggested resolution: the source's own, but at least 10 m (whole metres).
        steps_m: The standard resolutions not finer than the source, finest first, led by the
            source's own when it is at least 10 m and off the steps (e.g. Alberta's ~29 m).
    """

    source_m: float
    low_m: float | None
    high_m: float
    default_m: float | None
    steps_m: tuple[float, ...]

    @property
    def own_grid_only(self) -> bool:
        """Whether the source offers no choice: unknown resolution, or coarser than the engine's maximum."""
        return self.low_m is None


def choices(source_m: float) -> ResolutionChoices:
    """The resolutions a source of ``source_m`` metres can be inferred at (imagery is never upsampled).

    Args:
        source_m: The source's pixel size in metres (NaN when unknown, e.g. no CRS).

    Returns:
        The range, the default and the standard steps; ``own_grid_only`` when the resolution is
        unknown or coarser than the engine's maximum (the source is then inferred on its own grid).
    """
    if not math.isfinite(source_m) or source_m <= 0 or source_m > MAX_RESOLUTION_M:
        return ResolutionChoices(source_m, None, MAX_RESOLUTION_M, None, ())
    low = float(max(int(MIN_RESOLUTION_M), math.ceil(source_m - 1e-6)))
    default = float(max(low, min(int(MAX_RESOLUTION_M), math.ceil(max(source_m, VALIDATED_RESOLUTION_M[0])))))
    steps = [float(r) for r in STANDARD_RESOLUTIONS_M if r >= source_m - 1e-6]
    # the source's own unless an offered step is within 0.5 m of it (a 30.2 m source, whose 30 m
    # step would upsample, is offered at its own 30.2 m)
    if source_m >= VALIDATED_RESOLUTION_M[0] and all(abs(source_m - r) > 0.5 for r in steps):
        steps.insert(0, float(source_m))
    return ResolutionChoices(float(source_m), low, MAX_RESOLUTION_M, default, tuple(steps))
