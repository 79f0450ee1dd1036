"""The one rule for the resolutions a source allows (the app's slider, Compare and Batch pages use it)."""

from __future__ import annotations

import math

import pytest

from ocm_engine.errors import ResolutionError
from ocm_engine.resolution import choices, choose_resolution


@pytest.mark.parametrize("source_m", [math.nan, 0.0, 50.5, 120.0])
def test_unknown_or_too_coarse_sources_run_on_their_own_grid(source_m: float) -> None:
    found = choices(source_m)
    assert found.own_grid_only and found.low_m is None and found.default_m is None and found.steps_m == ()


def test_range_default_and_steps_follow_the_source() -> None:
    five = choices(5.0)
    assert (five.low_m, five.high_m, five.default_m) == (5.0, 50.0, 10.0)
    assert five.steps_m == (5.0, 10.0, 20.0, 30.0, 40.0, 50.0)
    alberta = choices(28.7)  # off the steps: its own grid leads, never anything finer
    assert (alberta.low_m, alberta.default_m) == (29.0, 29.0)
    assert alberta.steps_m == (28.7, 30.0, 40.0, 50.0)
    assert choices(29.8).steps_m == (30.0, 40.0, 50.0)  # within 0.5 m of a step: the step stands for it
    assert choices(30.2).steps_m == (30.2, 40.0, 50.0)  # the 30 m step would upsample: its own grid instead
    assert choices(7.5).steps_m == (10.0, 20.0, 30.0, 40.0, 50.0)  # finer than 10 m: not offered by itself
    assert not choices(50.0).own_grid_only and choices(50.0).steps_m == (50.0,)


@pytest.mark.parametrize("source_m", [4.0, 5.0, 7.5, 10.0, 28.7, 50.0])
def test_every_offered_resolution_is_accepted_by_the_engine(source_m: float) -> None:
    found = choices(source_m)
    assert found.low_m is not None and found.default_m is not None
    for value in (found.low_m, found.default_m, found.high_m, *found.steps_m):
        if value < 10 or value > 50:
            with pytest.warns(Warning):
                choose_resolution(source_m, value)
        else:
            choose_resolution(source_m, value)
    if source_m > 5:
        with pytest.raises(ResolutionError):
            choose_resolution(source_m, found.low_m - 1)
