"""Comparisons the pages show: runs at several resolutions, ensemble members, uncertainty.

Maps are ``(height, width)``; every comparison happens on one common grid (the finest run's),
class maps moved there by nearest neighbour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from ocm_app.render import resize_to
from ocm_app.runs import RunResult, agreement, cloud_agreement, entropy, iou
from ocm_engine import Ensemble, Prediction

STANDARD_RESOLUTIONS = (5.0, 10.0, 20.0, 30.0, 40.0, 50.0)


def resolution_candidates(source_m: float) -> list[float | None]:
    """Resolutions offered for a source: the standard ones not finer than it (or the source grid)."""
    if not math.isfinite(source_m) or source_m > 50:
        return [None]
    return [r for r in STANDARD_RESOLUTIONS if r >= source_m - 1e-6]


def default_resolutions(candidates: list[float | None]) -> list[float | None]:
    """Up to three spread-out defaults (e.g. 10, 20, 50 m)."""
    if len(candidates) <= 3:
        return list(candidates)
    picks = [c for c in candidates if c in (10.0, 20.0, 50.0)]
    return picks if len(picks) >= 2 else [candidates[0], candidates[len(candidates) // 2], candidates[-1]]


def resolution_table(results: list[RunResult]) -> tuple[list[dict[str, Any]], list[tuple[np.ndarray, np.ndarray]]]:
    """Rows comparing each run with the finest one, and each run's (classes, valid) for display.

    Returns:
        Table rows and, per run, its class map and validity on its own grid.
    """
    finest = max(results, key=lambda r: r.shape[0] * r.shape[1])
    ref, valid = finest.prediction.classes, finest.prediction.valid
    rows = []
    for result in results:
        classes = resize_to(result.prediction.classes, ref.shape)
        res = result.resolution_m
        rows.append({
            "resolution": f"{res:g} m" if math.isfinite(res) else "source",
            "pixels": result.shape[0] * result.shape[1],
            "seconds": round(result.seconds, 3),
            "faster than finest (x)": round(finest.seconds / max(result.seconds, 1e-9), 1),
            "cloud %": round(result.prediction.cloud_percent, 2),
            "shadow %": round(result.prediction.class_percentages["cloud_shadow"], 2),
            "pixel agreement %": round(agreement(classes, ref, valid), 2),
            "cloud/shadow/clear agreement %": round(cloud_agreement(classes, ref, valid), 2),
            "cloud IoU %": _round(_cloud_iou(classes, ref, valid)),
            "shadow IoU %": _round(iou(classes, ref, valid, 3)),
        })
    images = [(r.prediction.classes, r.prediction.valid) for r in results]
    return rows, images


def _cloud_iou(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> float:
    group = np.array([0, 1, 1, 0], np.uint8)
    return iou(group[a], group[b], valid, 1)


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 2)


def resolution_summary(results: list[RunResult], rows: list[dict[str, Any]]) -> str:
    """The trade-off in plain words."""
    if len(results) < 2:
        return "Run at least two resolutions to compare them."
    finest, coarsest = rows[0], rows[-1]
    return (f"At **{coarsest['resolution']}** the mask took **{coarsest['seconds']:.2f} s**, "
            f"{coarsest['faster than finest (x)']:.1f}x faster than at {finest['resolution']}, and agrees with it on "
            f"**{coarsest['cloud/shadow/clear agreement %']:.1f} %** of the pixels (cloud vs shadow vs clear). "
            "What is lost at coarse resolution is mostly at edges: small cumulus, thin shadows and cloud "
            "borders. For screening scenes by cloud cover, 20-30 m is usually enough; for masking pixels "
            "before analysis, use 10 m.")


@dataclass(frozen=True, slots=True)
class MemberComparison:
    """Members and ensemble on one grid, with the maps QA looks at.

    Attributes:
        names: Member names (A, B...).
        members: Each member's prediction.
        ensemble: The ensemble's prediction.
        disagreement: ``(h, w)`` True where the members' classes differ.
        entropy: ``(h, w)`` normalised entropy of the ensemble's probabilities (0-1).
    """

    names: tuple[str, ...]
    members: tuple[Prediction, ...]
    ensemble: Prediction
    disagreement: npt.NDArray[np.bool_]
    entropy: npt.NDArray[np.float32]

    def summary(self) -> dict[str, float]:
        """Headline figures (percent of valid pixels, mean entropy)."""
        valid = self.ensemble.valid
        total = max(int(valid.sum()), 1)
        out = {"members disagree %": 100.0 * float((self.disagreement & valid).sum()) / total,
               "mean entropy": float(self.entropy[valid].mean()) if valid.any() else 0.0,
               "uncertain (entropy > 0.5) %": 100.0 * float(((self.entropy > 0.5) & valid).sum()) / total}
        for name, pred in zip(self.names, self.members, strict=True):
            out[f"{name} agrees with ensemble %"] = agreement(pred.classes, self.ensemble.classes, valid)
        return out

    def hotspots(self, grid: int = 8, top: int = 5) -> list[dict[str, Any]]:
        """The ``top`` cells of a ``grid x grid`` split with the highest mean entropy (where to look)."""
        h, w = self.entropy.shape
        rows = []
        for i in range(grid):
            for j in range(grid):
                r0, r1 = i * h // grid, (i + 1) * h // grid
                c0, c1 = j * w // grid, (j + 1) * w // grid
                valid = self.ensemble.valid[r0:r1, c0:c1]
                if not valid.any():
                    continue
                rows.append({"cell (row, col)": f"{i + 1}, {j + 1}", "rows": f"{r0}-{r1}", "cols": f"{c0}-{c1}",
                             "mean entropy": round(float(self.entropy[r0:r1, c0:c1][valid].mean()), 3),
                             "members disagree %": round(100.0 * float(
                                 self.disagreement[r0:r1, c0:c1][valid].mean()), 1)})
        return sorted(rows, key=lambda r: -r["mean entropy"])[:top]


def compare_members(member_preds: list[Prediction], ensemble_pred: Prediction,
                    names: tuple[str, ...]) -> MemberComparison:
    """Build the comparison of members and ensemble (all predicted on the same array)."""
    valid = ensemble_pred.valid
    disagree = np.zeros(valid.shape, bool)
    first = member_preds[0].classes
    for pred in member_preds[1:]:
        disagree |= pred.classes != first
    probs = ensemble_pred.probabilities
    ent = entropy(probs, valid) if probs is not None else np.zeros(valid.shape, np.float32)
    return MemberComparison(names, tuple(member_preds), ensemble_pred, disagree & valid, ent)


def member_labels(ensemble: Ensemble) -> tuple[str, ...]:
    """Labels 'A (name)', 'B (name)' for the members."""
    return tuple(f"{chr(65 + i)} ({name})" for i, name in enumerate(ensemble.names))
