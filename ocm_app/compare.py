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
from ocm_app.runs import RunResult
from ocm_engine import Ensemble, Prediction
from ocm_engine.constants import MAX_RESOLUTION_M, MIN_RESOLUTION_M, VALIDATED_RESOLUTION_M
from ocm_engine.metrics import agreement, cloud_agreement, coarse_classes, entropy, iou
from ocm_engine.types import UInt8Array

#: The rows offered on the Resolution page: the engine's 5-50 m range in steps people use.
STANDARD_RESOLUTIONS = (MIN_RESOLUTION_M, 10.0, 20.0, 30.0, 40.0, MAX_RESOLUTION_M)
#: Normalised entropy above which a pixel counts as uncertain: 0.5 of the maximum log(4) = 1 bit,
#: i.e. about as unsure as a coin toss between two classes.
UNCERTAIN_ENTROPY = 0.5
#: Bits of the maximum entropy of four classes (log2 4): normalised entropy x this = bits.
MAX_ENTROPY_BITS = 2.0


def resolution_candidates(source_m: float) -> list[float | None]:
    """Resolutions offered for a source: the standard ones not finer than it, plus the source's own.

    ``[None]`` (its own grid) when the resolution is unknown (no CRS) or coarser than the engine's maximum.
    """
    if not math.isfinite(source_m) or source_m > MAX_RESOLUTION_M:
        return [None]
    found: list[float | None] = [float(r) for r in STANDARD_RESOLUTIONS if r >= source_m - 1e-6]
    if source_m >= VALIDATED_RESOLUTION_M[0] and all(abs(source_m - r) > 0.5 for r in STANDARD_RESOLUTIONS):
        found.insert(0, float(source_m))
    return found


def default_resolutions(candidates: list[float | None]) -> list[float | None]:
    """Two or three spread-out defaults that follow the scene.

    10, 20 and 50 m where the source allows, otherwise its finest, a middle and the coarsest choice.
    """
    if len(candidates) <= 3:
        return list(candidates)
    picks: list[float | None] = [c for c in candidates if c in (VALIDATED_RESOLUTION_M[0], 20.0, MAX_RESOLUTION_M)]
    return picks if len(picks) >= 3 else [candidates[0], candidates[len(candidates) // 2], candidates[-1]]


def resolution_label(resolution: float | None, source_m: float) -> str:
    """``"10 m"``, ``"29 m (source)"`` or ``"source grid"``."""
    if resolution is None:
        return "source grid"
    own = " (source)" if math.isfinite(source_m) and abs(resolution - source_m) < 1e-6 else ""
    return f"{resolution:.3g} m{own}"


def no_choice_reason(candidates: list[float | None], source_m: float) -> str:
    """Why only the scene's own grid can run (shown instead of doing nothing)."""
    if not math.isfinite(source_m):
        return ("This scene has no CRS, so its pixel size is unknown and it can only be inferred on its own "
                "grid: there is nothing to compare. Pick a georeferenced scene to compare resolutions.")
    if source_m > MAX_RESOLUTION_M:
        return (f"This scene is {source_m:.3g} m, coarser than {MAX_RESOLUTION_M:g} m: it is inferred on its "
                "own grid only "
                "(imagery is never upsampled), so there is nothing to compare.")
    return ""


def resolution_table(results: list[RunResult]) -> tuple[list[dict[str, Any]], list[tuple[np.ndarray, np.ndarray]]]:
    """Rows comparing each run with the finest one, and each run's (classes, valid) for display.

    Returns:
        Table rows and, per run, its class map and validity on its own grid.
    """
    finest = max(results, key=lambda r: r.shape[0] * r.shape[1])
    ref, valid = finest.prediction.classes, finest.prediction.valid
    edges = _class_edges(ref)
    rows = []
    for result in results:
        classes = np.asarray(resize_to(result.prediction.classes, ref.shape), np.uint8)
        res = result.resolution_m
        pct = result.prediction.class_percentages
        # a coarse pixel spans `factor` finest pixels: changes that close to an edge are edge effects
        factor = max(1, math.ceil(ref.shape[1] / max(result.shape[1], 1)))
        changed = (classes != ref) & valid
        near = _dilate(edges, factor)
        rows.append({
            "resolution": f"{res:.3g} m" if math.isfinite(res) else "source",
            "pixels": result.shape[0] * result.shape[1],
            "seconds": round(result.seconds, 3),
            "faster than finest (x)": round(finest.seconds / max(result.seconds, 1e-9), 1),
            "cloud %": round(result.prediction.cloud_percent, 2),
            "thick cloud %": round(pct["thick_cloud"], 2),
            "thin cloud %": round(pct["thin_cloud"], 2),
            "shadow %": round(pct["cloud_shadow"], 2),
            "changed pixels at class edges %": _round(
                100.0 * float((changed & near).sum()) / changed.sum() if changed.any() else math.nan),
            "pixel agreement %": round(agreement(classes, ref, valid), 2),
            "cloud/shadow/clear agreement %": round(cloud_agreement(classes, ref, valid), 2),
            "cloud IoU %": _round(_cloud_iou(classes, ref, valid)),
            "shadow IoU %": _round(iou(classes, ref, valid, 3)),
        })
    images = [(r.prediction.classes, r.prediction.valid) for r in results]
    return rows, images


def _cloud_iou(a: UInt8Array, b: UInt8Array, valid: npt.NDArray[np.bool_]) -> float:
    """IoU of cloud (thick or thin) with the engine's class groups (group 1 is cloud)."""
    return iou(coarse_classes(a), coarse_classes(b), valid, 1)


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 2)


def _class_edges(classes: UInt8Array) -> npt.NDArray[np.bool_]:
    """``(h, w)`` True where a pixel's class differs from a 4-neighbour's."""
    edge = np.zeros(classes.shape, bool)
    edge[1:] |= classes[1:] != classes[:-1]
    edge[:-1] |= classes[:-1] != classes[1:]
    edge[:, 1:] |= classes[:, 1:] != classes[:, :-1]
    edge[:, :-1] |= classes[:, :-1] != classes[:, 1:]
    return edge


def _dilate(mask: npt.NDArray[np.bool_], radius: int) -> npt.NDArray[np.bool_]:
    """Grow ``mask`` by ``radius`` pixels (square neighbourhood), numpy only."""
    out = mask.copy()
    for _ in range(radius):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= grown[:, :-1].copy()
        grown[:, :-1] |= grown[:, 1:].copy()
        out = grown
    return out


#: Classes the summary follows, as ``(table column, name in the text)``.
SUMMARY_CLASSES = (("thick cloud %", "thick cloud"), ("thin cloud %", "thin cloud"), ("shadow %", "cloud shadow"))
#: A class below this share (percent of valid pixels) at the finest run is too rare to judge.
SUMMARY_MIN_PERCENT = 1.0
#: Coarse share / finest share below which a class "largely vanishes", and "vanishes".
LARGELY_VANISHES, VANISHES = 0.5, 0.1
#: Share of changed pixels within one coarse pixel of a class edge above which losses are "at edges".
MOSTLY_EDGES_PERCENT = 70.0


def class_change_phrases(finest: dict[str, Any], coarse: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Per-class change from the finest row to a coarser one, in words.

    Returns:
        All phrases (one per class present at the finest run), and the names of the classes that
        largely vanish (coarse share below :data:`LARGELY_VANISHES` of the finest).
    """
    phrases, lost = [], []
    for column, name in SUMMARY_CLASSES:
        fine, coarse_pct = float(finest.get(column) or 0.0), float(coarse.get(column) or 0.0)
        if fine < SUMMARY_MIN_PERCENT:
            if coarse_pct >= SUMMARY_MIN_PERCENT:
                phrases.append(f"{name} appears ({fine:.1f} % → {coarse_pct:.1f} %)")
            continue
        ratio = coarse_pct / fine
        if ratio < VANISHES:
            phrases.append(f"**{name} vanishes** ({fine:.1f} % → {coarse_pct:.1f} %)")
            lost.append(name)
        elif ratio < LARGELY_VANISHES:
            phrases.append(f"**{name} largely vanishes** ({fine:.1f} % → {coarse_pct:.1f} %, "
                           f"{100 * (1 - ratio):.0f} % of it lost)")
            lost.append(name)
        else:
            phrases.append(f"{name} {fine:.1f} % → {coarse_pct:.1f} % ({coarse_pct - fine:+.1f} points)")
    return phrases, lost


def resolution_summary(results: list[RunResult], rows: list[dict[str, Any]]) -> str:
    """The trade-off in plain words, every claim derived from the table's numbers.

    The coarsest run (fewest pixels) is compared with the finest: speed, agreement, each class's
    share (a class whose share falls below half is said to largely vanish, below a tenth to
    vanish) and where the changed pixels lie (within one coarse pixel of a class edge or not).
    """
    if len(results) < 2 or len(rows) < 2:
        return "Run at least two resolutions to compare them."
    finest = max(rows, key=lambda r: int(r["pixels"]))
    coarse = min(rows, key=lambda r: int(r["pixels"]))
    if coarse is finest:
        return "The runs share one grid: there is nothing to compare."
    phrases, lost = class_change_phrases(finest, coarse)
    parts = [f"At **{coarse['resolution']}** the mask took **{coarse['seconds']:.2f} s**, "
             f"{coarse['faster than finest (x)']:.1f}x faster than at {finest['resolution']}, and agrees with it "
             f"on **{coarse['cloud/shadow/clear agreement %']:.1f} %** of the pixels (cloud vs shadow vs clear)."]
    fine_cloud, coarse_cloud = float(finest["cloud %"]), float(coarse["cloud %"])
    parts.append(f"Cloud cover goes from {fine_cloud:.1f} % to {coarse_cloud:.1f} %"
                 + (f" ({coarse_cloud - fine_cloud:+.1f} points)." if fine_cloud or coarse_cloud else "."))
    if phrases:
        parts.append("Per class: " + "; ".join(phrases) + ".")
    at_edges = coarse.get("changed pixels at class edges %")
    if lost:
        where = (f" (only {at_edges:.0f} % of the changed pixels lie within one coarse pixel of a class edge)"
                 if isinstance(at_edges, int | float) and at_edges < MOSTLY_EDGES_PERCENT else "")
        parts.append(f"So the loss is not just at edges: whole areas of {' and '.join(lost)} are gone{where}. "
                     f"For this scene, {coarse['resolution']} is too coarse for those classes; use "
                     f"{finest['resolution']} or a resolution where they keep their share.")
    elif isinstance(at_edges, int | float) and at_edges >= MOSTLY_EDGES_PERCENT:
        parts.append(f"{at_edges:.0f} % of the changed pixels lie within one coarse pixel of a class edge: what "
                     "is lost is mostly at edges (small clouds, thin shadows, borders). For screening by cloud "
                     f"cover {coarse['resolution']} serves here; for masking pixels, use {finest['resolution']}.")
    elif isinstance(at_edges, int | float):
        parts.append(f"Only {at_edges:.0f} % of the changed pixels lie within one coarse pixel of a class edge: "
                     f"the coarse run also changes class inside areas, so check the maps before using "
                     f"{coarse['resolution']}.")
    return " ".join(parts)


@dataclass(frozen=True, slots=True)
class MemberComparison:
    """Members and ensemble on one grid, with the maps QA looks at.

    Attributes:
        names: Member names (A, B...).
        members: Each member's ``(h, w)`` class map (from the ensemble's own pass).
        ensemble: The ensemble's prediction.
        disagreement: ``(h, w)`` True where the members' classes differ.
        entropy: ``(h, w)`` normalised entropy of the ensemble's probabilities (0-1).
    """

    names: tuple[str, ...]
    members: tuple[UInt8Array, ...]
    ensemble: Prediction
    disagreement: npt.NDArray[np.bool_]
    entropy: npt.NDArray[np.float32]

    def summary(self) -> dict[str, float]:
        """Headline figures (percent of valid pixels; entropy on the 0-1 scale of :func:`entropy`)."""
        valid = self.ensemble.valid
        total = max(int(valid.sum()), 1)
        out = {"members disagree %": 100.0 * float((self.disagreement & valid).sum()) / total,
               "mean entropy": float(self.entropy[valid].mean()) if valid.any() else 0.0,
               f"uncertain (entropy > {UNCERTAIN_ENTROPY}) %":
                   100.0 * float(((self.entropy > UNCERTAIN_ENTROPY) & valid).sum()) / total,
               "very uncertain (entropy > 0.75) %": 100.0 * float(((self.entropy > 0.75) & valid).sum()) / total}
        for name, classes in zip(self.names, self.members, strict=True):
            out[f"{name} agrees with ensemble %"] = agreement(classes, self.ensemble.classes, valid)
        return out

    def hotspots(self, grid: int = 8, top: int = 5) -> list[dict[str, Any]]:
        """The ``top`` cells of a ``grid x grid`` split with the highest mean entropy (where to look)."""
        h, w = self.entropy.shape
        rows: list[dict[str, Any]] = []
        for i in range(grid):
            for j in range(grid):
                r0, r1 = i * h // grid, (i + 1) * h // grid
                c0, c1 = j * w // grid, (j + 1) * w // grid
                valid = self.ensemble.valid[r0:r1, c0:c1]
                if not valid.any():
                    continue
                rows.append({"cell (row, col)": f"{i + 1}, {j + 1}", "rows": f"{r0}-{r1}", "cols": f"{c0}-{c1}",
                             "box": (r0 / h, r1 / h, c0 / w, c1 / w),
                             "mean entropy": round(float(self.entropy[r0:r1, c0:c1][valid].mean()), 3),
                             "members disagree %": round(100.0 * float(
                                 self.disagreement[r0:r1, c0:c1][valid].mean()), 1)})
        return sorted(rows, key=lambda r: -float(r["mean entropy"]))[:top]


def compare_members(ensemble_pred: Prediction, names: tuple[str, ...]) -> MemberComparison:
    """Build the comparison of members and ensemble from one prediction.

    Args:
        ensemble_pred: A prediction made with ``InferenceOptions(return_members=True)``: its
            ``member_classes`` come from the same forward pass as the ensemble's classes.
        names: One label per member.
    """
    valid = ensemble_pred.valid
    members = ensemble_pred.member_classes
    disagree = np.zeros(valid.shape, bool)
    for classes in members[1:]:
        disagree |= classes != members[0]
    probs = ensemble_pred.probabilities
    ent = entropy(probs, valid) if probs is not None else np.zeros(valid.shape, np.float32)
    return MemberComparison(names, members, ensemble_pred, disagree & valid, ent)


def member_labels(ensemble: Ensemble) -> tuple[str, ...]:
    """Labels 'A (name)', 'B (name)' for the members."""
    return tuple(f"{chr(65 + i)} ({name})" for i, name in enumerate(ensemble.names))
