"""The Resolution page's summary is derived from its table: it never contradicts the numbers."""

from __future__ import annotations

import dataclasses

import numpy as np

from ocm_app import compare
from ocm_app.runs import RunOptions, RunResult
from ocm_app.scenes import SceneSpec
from ocm_engine import Prediction
from ocm_engine.provenance import Provenance


def _row(res: str, pixels: int, seconds: float, thick: float, thin: float, shadow: float, agree: float,
         edges: float | None) -> compare.ResolutionRow:
    return compare.ResolutionRow(res, pixels, seconds, 1.0, thick + thin, thick, thin, shadow, edges, agree, agree,
                                 None, None)


def test_summary_says_when_a_class_vanishes() -> None:
    """The issue's case: at 50 m the thin-cloud class vanishes and cloud halves (48 % to 24 %)."""
    rows = [_row("10 m", 262144, 2.0, 24.0, 24.0, 6.0, 100.0, None),
            _row("20 m", 65536, 0.6, 24.0, 18.0, 5.0, 90.0, 80.0),
            _row("50 m", 10404, 0.2, 23.5, 0.5, 4.0, 74.0, 35.0)]
    rows[2] = dataclasses.replace(rows[2], speedup=10.0)
    text = compare.resolution_summary([object(), object(), object()], rows)  # type: ignore[list-item]
    assert "**thin cloud vanishes** (24.0 % → 0.5 %)" in text
    assert "48.0 % to 24.0 %" in text and "-24.0 points" in text
    assert "mostly at edges" not in text and "not just at edges" in text and "35 %" in text
    assert "thick cloud 24.0 % → 23.5 %" in text
    assert "At **50 m**" in text and "10.0x faster than at 10 m" in text


def test_summary_says_edges_only_when_the_numbers_do() -> None:
    rows = [_row("10 m", 40000, 1.0, 30.0, 10.0, 5.0, 100.0, None),
            _row("30 m", 4444, 0.2, 29.0, 9.0, 4.0, 96.0, 88.0)]
    text = compare.resolution_summary([object(), object()], rows)  # type: ignore[list-item]
    assert "88 % of the changed pixels lie within one coarse pixel of a class edge" in text
    assert "mostly at edges" in text and "vanish" not in text
    rows[1] = dataclasses.replace(rows[1], thin_percent=4.0)  # less than half of 10 %: largely vanishes
    text = compare.resolution_summary([object(), object()], rows)  # type: ignore[list-item]
    assert "**thin cloud largely vanishes** (10.0 % → 4.0 %, 60 % of it lost)" in text
    assert "mostly at edges" not in text


def _result(classes: np.ndarray, res_m: float, seconds: float) -> RunResult:
    pred = Prediction(classes.astype(np.uint8), None, np.ones(classes.shape, bool),
                      provenance=Provenance((), None, 10.0, res_m))
    return RunResult(SceneSpec("k", "k", ("/x.tif",), ("x.tif",)), RunOptions(), pred, seconds)


def test_table_measures_where_changes_lie() -> None:
    """A thin-cloud block that the coarse run misses entirely: its changes are inside the area,
    not at edges, and the summary says the class vanishes."""
    fine = np.zeros((200, 200), np.uint8)
    fine[10:190, 10:190] = 2  # a big thin-cloud area
    fine[90:110, 90:110] = 1
    coarse = np.zeros((40, 40), np.uint8)
    coarse[18:22, 18:22] = 1  # the thick core survives, the thin cloud does not
    rows, _ = compare.resolution_table([_result(fine, 10.0, 1.0), _result(coarse, 50.0, 0.1)])
    assert rows[1].thin_percent == 0.0 and rows[0].thin_percent == 80.0
    edges = rows[1].edge_change_percent
    assert edges is not None and edges < 30  # most of the 60 % lies inside the area
    text = compare.resolution_summary([_result(fine, 10.0, 1.0), _result(coarse, 50.0, 0.1)], rows)
    assert "**thin cloud vanishes**" in text and "mostly at edges" not in text
