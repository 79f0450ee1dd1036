"""Comparisons the pages show: runs at several resolutions, ensemble members, uncertainty.

Maps are ``(height, width)``; every comparison happens on one common grid (the finest run's),
class maps moved there by nearest neighbour. Results are typed (:class:`ResolutionRow`,
:class:`MemberSummary`, :class:`Hotspot`, :class:`CompareRun`); the pages render them (the
Resolution page's column names are in :func:`table_rows` only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ocm_app.render import resize_to
from ocm_app.runs import RunResult
from ocm_engine import Ensemble, Prediction
from ocm_engine.constants import MAX_RESOLUTION_M, VALIDATED_RESOLUTION_M
from ocm_engine.metrics import agreement, cloud_agreement, coarse_classes, entropy, iou
from ocm_engine.resolution import choices
from ocm_engine.types import UInt8Array

#: Normalised entropy above which a pixel counts as uncertain: 0.5 of the maximum log(4) = 1 bit,
#: i.e. about as unsure as a coin toss between two classes.
UNCERTAIN_ENTROPY = 0.5
#: Normalised entropy above which a pixel is very uncertain (close to a three-way tie).
VERY_UNCERTAIN_ENTROPY = 0.75
#: Bits of the maximum entropy of four classes (log2 4): normalised entropy x this = bits.
MAX_ENTROPY_BITS = 2.0


def resolution_candidates(source_m: float) -> list[float | None]:
    """Resolutions offered for a source: the engine's standard steps for it (:func:`ocm_engine.resolution.choices`).

    ``[None]`` (its own grid) when the resolution is unknown (no CRS) or coarser than the engine's maximum.
    """
    found = choices(source_m)
    return [None] if found.own_grid_only else list(found.steps_m)


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
    """Why only the scene's own grid can run (shown instead of doing nothing); ``""`` when there is a choice."""
    allowed = choices(source_m)
    if not allowed.own_grid_only:
        return ""
    if not math.isfinite(source_m) or source_m <= 0:
        return ("This scene has no CRS, so its pixel size is unknown and it can only be inferred on its own "
                "grid: there is nothing to compare. Pick a georeferenced scene to compare resolutions.")
    return (f"This scene is {source_m:.3g} m, coarser than {allowed.high_m:g} m: it is inferred on its "
            "own grid only "
            "(imagery is never upsampled), so there is nothing to compare.")


@dataclass(frozen=True, slots=True)
class ResolutionRow:
    """One run compared with the finest run (percent of valid pixels; rounded as the table shows them).

    Attributes:
        resolution: The run's resolution in words (``"20 m"``, ``"source"``).
        pixels: Pixels of its inference grid.
        seconds: Wall time of the model run.
        speedup: How many times faster than the finest run.
        cloud_percent: Thick plus thin cloud.
        thick_percent: Thick cloud.
        thin_percent: Thin cloud.
        shadow_percent: Cloud shadow.
        edge_change_percent: Of the pixels whose class changed, the share within one coarse pixel
            of a class edge of the finest run (``None``: no pixel changed).
        pixel_agreement: Pixels with the finest run's class.
        class_agreement: Pixels agreeing on cloud vs shadow vs clear.
        cloud_iou: IoU of cloud (thick or thin) with the finest run (``None``: no cloud in either).
        shadow_iou: IoU of shadow with the finest run (``None``: no shadow in either).
    """

    resolution: str
    pixels: int
    seconds: float
    speedup: float
    cloud_percent: float
    thick_percent: float
    thin_percent: float
    shadow_percent: float
    edge_change_percent: float | None
    pixel_agreement: float
    class_agreement: float
    cloud_iou: float | None
    shadow_iou: float | None


def resolution_table(results: list[RunResult]) -> tuple[list[ResolutionRow], list[tuple[np.ndarray, np.ndarray]]]:
    """Rows comparing each run with the finest one, and each run's (classes, valid) for display.

    Returns:
        One row per run and, per run, its class map and validity on its own grid.
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
        rows.append(ResolutionRow(
            resolution=f"{res:.3g} m" if math.isfinite(res) else "source",
            pixels=result.shape[0] * result.shape[1],
            seconds=round(result.seconds, 3),
            speedup=round(finest.seconds / max(result.seconds, 1e-9), 1),
            cloud_percent=round(result.prediction.cloud_percent, 2),
            thick_percent=round(pct["thick_cloud"], 2),
            thin_percent=round(pct["thin_cloud"], 2),
            shadow_percent=round(pct["cloud_shadow"], 2),
            edge_change_percent=_round(
                100.0 * float((changed & near).sum()) / changed.sum() if changed.any() else math.nan),
            pixel_agreement=round(agreement(classes, ref, valid), 2),
            class_agreement=round(cloud_agreement(classes, ref, valid), 2),
            cloud_iou=_round(_cloud_iou(classes, ref, valid)),
            shadow_iou=_round(iou(classes, ref, valid, 3)),
        ))
    images = [(r.prediction.classes, r.prediction.valid) for r in results]
    return rows, images


def table_rows(rows: list[ResolutionRow]) -> list[dict[str, object]]:
    """The rows under the Resolution page's column names (for ``st.dataframe``)."""
    return [{"resolution": r.resolution, "pixels": r.pixels, "seconds": r.seconds, "faster than finest (x)": r.speedup,
             "cloud %": r.cloud_percent, "thick cloud %": r.thick_percent, "thin cloud %": r.thin_percent,
             "shadow %": r.shadow_percent, "changed pixels at class edges %": r.edge_change_percent,
             "pixel agreement %": r.pixel_agreement, "cloud/shadow/clear agreement %": r.class_agreement,
             "cloud IoU %": r.cloud_iou, "shadow IoU %": r.shadow_iou} for r in rows]


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


#: Classes the summary follows, as ``(ResolutionRow attribute, name in the text)``.
SUMMARY_CLASSES = (("thick_percent", "thick cloud"), ("thin_percent", "thin cloud"), ("shadow_percent", "cloud shadow"))
#: A class below this share (percent of valid pixels) at the finest run is too rare to judge.
SUMMARY_MIN_PERCENT = 1.0
#: Coarse share / finest share below which a class "largely vanishes", and "vanishes".
LARGELY_VANISHES, VANISHES = 0.5, 0.1
#: Share of changed pixels within one coarse pixel of a class edge above which losses are "at edges".
MOSTLY_EDGES_PERCENT = 70.0


def class_change_phrases(finest: ResolutionRow, coarse: ResolutionRow) -> tuple[list[str], list[str]]:
    """Per-class change from the finest row to a coarser one, in words.

    Returns:
        All phrases (one per class present at the finest run), and the names of the classes that
        largely vanish (coarse share below :data:`LARGELY_VANISHES` of the finest).
    """
    phrases, lost = [], []
    for attribute, name in SUMMARY_CLASSES:
        fine, coarse_pct = float(getattr(finest, attribute)), float(getattr(coarse, attribute))
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


def resolution_summary(results: list[RunResult], rows: list[ResolutionRow]) -> str:
    """The trade-off in plain words, every claim derived from the table's numbers.

    The coarsest run (fewest pixels) is compared with the finest: speed, agreement, each class's
    share (a class whose share falls below half is said to largely vanish, below a tenth to
    vanish) and where the changed pixels lie (within one coarse pixel of a class edge or not).
    """
    if len(results) < 2 or len(rows) < 2:
        return "Run at least two resolutions to compare them."
    finest = max(rows, key=lambda r: r.pixels)
    coarse = min(rows, key=lambda r: r.pixels)
    if coarse is finest:
        return "The runs share one grid: there is nothing to compare."
    phrases, lost = class_change_phrases(finest, coarse)
    parts = [f"At **{coarse.resolution}** the mask took **{coarse.seconds:.2f} s**, "
             f"{coarse.speedup:.1f}x faster than at {finest.resolution}, and agrees with it "
             f"on **{coarse.class_agreement:.1f} %** of the pixels (cloud vs shadow vs clear)."]
    fine_cloud, coarse_cloud = finest.cloud_percent, coarse.cloud_percent
    parts.append(f"Cloud cover goes from {fine_cloud:.1f} % to {coarse_cloud:.1f} %"
                 + (f" ({coarse_cloud - fine_cloud:+.1f} points)." if fine_cloud or coarse_cloud else "."))
    if phrases:
        parts.append("Per class: " + "; ".join(phrases) + ".")
    at_edges = coarse.edge_change_percent
    if lost:
        where = (f" (only {at_edges:.0f} % of the changed pixels lie within one coarse pixel of a class edge)"
                 if at_edges is not None and at_edges < MOSTLY_EDGES_PERCENT else "")
        parts.append(f"So the loss is not just at edges: whole areas of {' and '.join(lost)} are gone{where}. "
                     f"For this scene, {coarse.resolution} is too coarse for those classes; use "
                     f"{finest.resolution} or a resolution where they keep their share.")
    elif at_edges is not None and at_edges >= MOSTLY_EDGES_PERCENT:
        parts.append(f"{at_edges:.0f} % of the changed pixels lie within one coarse pixel of a class edge: what "
                     "is lost is mostly at edges (small clouds, thin shadows, borders). For screening by cloud "
                     f"cover {coarse.resolution} serves here; for masking pixels, use {finest.resolution}.")
    elif at_edges is not None:
        parts.append(f"Only {at_edges:.0f} % of the changed pixels lie within one coarse pixel of a class edge: "
                     f"the coarse run also changes class inside areas, so check the maps before using "
                     f"{coarse.resolution}.")
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

    def summary(self) -> MemberSummary:
        """Headline figures (percent of valid pixels; entropy on the 0-1 scale of :func:`entropy`)."""
        valid = self.ensemble.valid
        total = max(int(valid.sum()), 1)

        def share(mask: npt.NDArray[np.bool_]) -> float:
            return 100.0 * float((mask & valid).sum()) / total

        return MemberSummary(
            disagree_percent=share(self.disagreement),
            mean_entropy=float(self.entropy[valid].mean()) if valid.any() else 0.0,
            uncertain_percent=share(self.entropy > UNCERTAIN_ENTROPY),
            very_uncertain_percent=share(self.entropy > VERY_UNCERTAIN_ENTROPY),
            member_agreement=tuple(agreement(classes, self.ensemble.classes, valid) for classes in self.members))

    def hotspots(self, grid: int = 8, top: int = 5) -> list[Hotspot]:
        """The ``top`` cells of a ``grid x grid`` split with the highest mean entropy (where to look)."""
        h, w = self.entropy.shape
        found: list[Hotspot] = []
        for i in range(grid):
            for j in range(grid):
                r0, r1 = i * h // grid, (i + 1) * h // grid
                c0, c1 = j * w // grid, (j + 1) * w // grid
                valid = self.ensemble.valid[r0:r1, c0:c1]
                if not valid.any():
                    continue
                found.append(Hotspot(
                    cell=(i + 1, j + 1), rows=(r0, r1), cols=(c0, c1),
                    mean_entropy=round(float(self.entropy[r0:r1, c0:c1][valid].mean()), 3),
                    disagree_percent=round(100.0 * float(self.disagreement[r0:r1, c0:c1][valid].mean()), 1),
                    shape=(h, w)))
        return sorted(found, key=lambda spot: -spot.mean_entropy)[:top]


@dataclass(frozen=True, slots=True)
class MemberSummary:
    """The Compare page's headline figures (percent of the scene's valid pixels).

    Attributes:
        disagree_percent: Pixels where the members' classes differ.
        mean_entropy: Mean normalised entropy of the ensemble's probabilities (0-1).
        uncertain_percent: Pixels above :data:`UNCERTAIN_ENTROPY`.
        very_uncertain_percent: Pixels above :data:`VERY_UNCERTAIN_ENTROPY`.
        member_agreement: Per member (in :attr:`MemberComparison.names` order), pixels where it
            agrees with the ensemble.
    """

    disagree_percent: float
    mean_entropy: float
    uncertain_percent: float
    very_uncertain_percent: float
    member_agreement: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Hotspot:
    """A cell of the scene with a high mean entropy: where to start the QA.

    Attributes:
        cell: ``(row, column)`` of the cell in the split, 1-based.
        rows: First and end row of the cell (pixels of the inference grid, end excluded).
        cols: First and end column of the cell.
        mean_entropy: Mean normalised entropy over the cell's valid pixels (rounded to 3 places).
        disagree_percent: Valid pixels of the cell where the members disagree (rounded to 1 place).
        shape: ``(height, width)`` of the grid the cell lies on.
    """

    cell: tuple[int, int]
    rows: tuple[int, int]
    cols: tuple[int, int]
    mean_entropy: float
    disagree_percent: float
    shape: tuple[int, int]

    @property
    def box(self) -> tuple[float, float, float, float]:
        """The cell as fractions of the scene: ``(top, bottom, left, right)``."""
        h, w = self.shape
        return self.rows[0] / h, self.rows[1] / h, self.cols[0] / w, self.cols[1] / w


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


@dataclass(frozen=True, slots=True)
class CompareRun:
    """The Compare page's result: the ensemble's run (with its members) and the comparison made from it.

    Attributes:
        run: The ensemble's run with ``return_members`` (scene, options, prediction).
        comparison: Members, disagreement and entropy on the run's grid.
    """

    run: RunResult
    comparison: MemberComparison
